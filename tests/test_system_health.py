"""System health shows the meters' polling status: configured, online, the last hour."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    get_system_health_info,
)

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import ObisMeterServer


async def test_polling_status(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    server: ObisMeterServer,
) -> None:
    assert await async_setup_component(hass, "system_health", {})
    await hass.async_block_till_done()
    info = await get_system_health_info(hass, DOMAIN)
    assert info["meters_configured"] == 1
    assert info["meters_online"] == 1
    assert info["polls_last_hour"] >= 1
    assert info["failed_polls_last_hour"] == 0
    assert info["slowest_poll"].endswith(" s")
    assert info["longest_wait_for_a_poll_slot"].endswith(" s")

    # The meter goes away: the next poll fails, and the meter is no longer online.
    await server.stop()
    # Within two intervals, whatever the entry's phase.
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=121))
    await hass.async_block_till_done(wait_background_tasks=True)
    info = await get_system_health_info(hass, DOMAIN)
    assert info["meters_online"] == 0
    assert info["failed_polls_last_hour"] >= 1
    assert info["meters_configured"] == 1
