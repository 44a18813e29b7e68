"""The base entity: one state write per change, not one per poll."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from tests.helpers import state_of

P = "smh_obis_0001"


async def test_an_unchanged_entity_is_not_written_again(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    written: list[str] = []

    @callback
    def record(event: Event) -> None:
        if event.data["entity_id"].startswith(("sensor.", "binary_sensor.")):
            written.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)

    @callback
    def every(event_data: object) -> bool:
        return True

    hass.bus.async_listen(EVENT_STATE_REPORTED, record, event_filter=every)
    for poll in range(1, 4):
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61 * poll))
        await hass.async_block_till_done(wait_background_tasks=True)
    # Power changes from poll to poll (the simulated meter's load wanders): written.
    assert written.count(f"sensor.{P}_power_import") >= 2
    # Nothing these show changed: never written again.
    for unchanged in (
        f"binary_sensor.{P}_connectivity",
        f"binary_sensor.{P}_phantom_load",
        f"binary_sensor.{P}_high_consumption",
        f"sensor.{P}_night_baseline",
    ):
        assert unchanged not in written, unchanged
    assert state_of(hass, f"binary_sensor.{P}_connectivity") == "on"
