"""Reading an Xcel / Itron meter: pinning, a hung agent, glitches, the poll interval.

Every test talks to the fake Itron meter over real TLS 1.2 (CCM8, client certificates).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.meters import Identity
from meter_sim.xcel import FakeXcelMeter
from tests.helpers import (
    START,
    XCEL_PREFIX,
    async_add_xcel_meter,
    async_poll,
    setup_integration,
    state_of,
    xcel_entry,
)

P = f"sensor.{XCEL_PREFIX}"
CONNECTIVITY = f"binary_sensor.{XCEL_PREFIX}_connectivity"


async def test_another_meter_taking_over_the_address_is_refused(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    entry, identity = await async_add_xcel_meter(hass, xcel)
    stranger = FakeXcelMeter()
    stranger.register(identity.certificate_pem)
    await stranger.start()
    try:
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, "port": stranger.port}
        )
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        issue = issue_registry.async_get_issue(DOMAIN, f"wrong_meter_{entry.entry_id}")
        assert issue is not None
    finally:
        await stranger.stop()


async def test_hung_agent_backs_off_then_raises_a_repair_after_hours(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    xcel: FakeXcelMeter,
    issue_registry: ir.IssueRegistry,
) -> None:
    entry, _identity = await async_add_xcel_meter(hass, xcel)
    issue_id = f"agent_silent_{entry.entry_id}"
    xcel.fault = "hang"  # TCP accepted, nothing more, for hours
    # Idle for longer than the meter keeps a connection: each try connects anew, and
    # the agent never answers. The pause after each failed try (counted from the
    # failure, once its timeout has passed) doubles: 10 s, 20 s, 40 s...
    for interval in (
        timedelta(minutes=1),
        timedelta(seconds=11),
        timedelta(seconds=21),
    ):
        tried = xcel.connections
        await async_poll(
            hass,
            freezer,
            interval,
            unanswered=lambda: xcel.connections > tried,  # noqa: B023
        )
        assert state_of(hass, f"{P}_net_power") == STATE_UNAVAILABLE
    tried = xcel.connections
    await async_poll(hass, freezer, timedelta(seconds=10))  # inside the 40 s back-off
    assert xcel.connections == tried  # the meter is left alone
    assert state_of(hass, f"{P}_net_power") == STATE_UNAVAILABLE
    for _ in range(37):  # polls over 3 hours, each after the 5-minute back-off
        attempts = xcel.connections
        await async_poll(
            hass,
            freezer,
            timedelta(minutes=5, seconds=1),
            unanswered=lambda: xcel.connections > attempts,  # noqa: B023
        )
    assert xcel.connections - tried <= 37  # backed off: at most one try per 5 minutes
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["hours"] == "3"
    # The utility restarts the agent: data again, the repair issue goes.
    xcel.fault = None
    await async_poll(hass, freezer, timedelta(minutes=6))
    assert state_of(hass, f"{P}_net_power") != STATE_UNAVAILABLE
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_energy_glitch_never_reaches_the_statistics(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, xcel: FakeXcelMeter
) -> None:
    await async_add_xcel_meter(hass, xcel)
    before = float(state_of(hass, f"{P}_energy_import"))
    real = xcel.delivered_wh
    xcel.delivered_wh = 0.0  # the summation reads 0 for one poll
    await async_poll(hass, freezer, timedelta(seconds=10))
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    xcel.delivered_wh = real
    await async_poll(hass, freezer, timedelta(seconds=10))
    after = float(state_of(hass, f"{P}_energy_import"))
    assert before <= after < before + 1


@pytest.mark.freeze_time(START)
async def test_polled_every_ten_seconds_or_as_the_options_say(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    xcel: FakeXcelMeter,
    client_identity: Identity,
) -> None:
    xcel.register(client_identity.certificate_pem)
    entry = xcel_entry(xcel, client_identity)
    await setup_integration(hass, entry)

    async def polls_in_half_a_minute() -> int:
        polls = 0
        for _ in range(3):
            requests = xcel.requests
            await async_poll(hass, freezer, timedelta(seconds=10))
            polls += xcel.requests > requests
        return polls

    assert await polls_in_half_a_minute() == 3
    coordinator = entry.runtime_data
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "xcel"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is coordinator  # applied without a reload
    assert await polls_in_half_a_minute() == 1
    assert state_of(hass, CONNECTIVITY) == STATE_ON
    assert state_of(hass, f"{P}_net_power") != STATE_UNAVAILABLE
