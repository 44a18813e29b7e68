"""The coordinator: polls, what a failed poll tells the user, repair issues.

Each kind's own failures are tested with the kind (tests/kinds/); here what every kind
shares: unavailable while the meter is away and polled all the same, one log line per
outage, the error in the user's words, the wrong-meter repair issue, and at most ten
meters polled at once.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from datetime import timedelta
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
from hypothesis import given, strategies as st
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.coordinator import (
    MIN_POLL_GAP_S,
    wait_for_second,
)
from custom_components.smart_meter_hub.kinds import KINDS
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

from .helpers import (
    OBIS_PREFIX,
    SERIAL,
    START,
    async_poll,
    frozen_clock,
    setup_integration,
    state_of,
)

P = f"sensor.{OBIS_PREFIX}"
CONNECTIVITY = f"binary_sensor.{OBIS_PREFIX}_connectivity"
MINUTE = timedelta(minutes=1)


@pytest.mark.freeze_time(START)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_unreachable_meter_goes_unavailable_keeps_being_polled_and_comes_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    server: ObisMeterServer,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    last_reading = state_of(hass, f"{P}_last_reading")
    await server.stop()
    caplog.clear()
    for _ in range(3):  # three scheduled polls, one minute apart
        await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, f"{P}_power_import") == STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_OFF
    # The time of the last good reading stays visible.
    assert state_of(hass, f"{P}_last_reading") == last_reading
    went = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components")
    ]
    assert len(went) == 1, [r.getMessage() for r in went]

    await server.restart()
    caplog.clear()
    requests = meter.read_requests
    await async_poll(hass, freezer, MINUTE)
    assert meter.read_requests == requests + 1  # still polled while it was away
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_ON
    assert state_of(hass, f"{P}_last_reading") > last_reading
    assert [r for r in caplog.records if "recovered" in r.getMessage()]


@pytest.mark.parametrize(
    ("fault", "logged"),
    [
        ("http500", "The meter answered with an error: HTTP 500"),
        ("invalid_json", "The meter's answer was not valid: response is not JSON"),
        ("empty", "The meter's answer was not valid"),
    ],
)
@pytest.mark.freeze_time(START)
async def test_a_failed_poll_is_told_in_the_users_words(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
    fault: str,
    logged: str,
) -> None:
    meter.set_fault(fault, count=1)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert f"Error fetching {DOMAIN} OBIS meter {SERIAL} data: {logged}" in caplog.text


@pytest.mark.freeze_time(START)
async def test_a_refused_token_asks_for_a_new_one_where_the_kind_can(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.token = "rotated"
    await async_poll(hass, freezer, MINUTE)
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]


@pytest.mark.freeze_time(START)
async def test_a_refused_token_is_an_error_where_the_kind_has_no_reauth(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kind = replace(KINDS["obis_http"], reauth_step=None)
    with patch.dict(KINDS, {"obis_http": kind}):
        await setup_integration(hass, config_entry)
        meter.token = "rotated"
        await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert not hass.config_entries.flow.async_progress()
    assert "The meter refused the access token" in caplog.text


@pytest.mark.freeze_time(START)
async def test_another_meter_at_the_address_is_refused_with_a_repair_issue(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    issue_id = f"wrong_meter_{init_integration.entry_id}"
    meter.serial = "NEIGHBOUR"
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert "A different meter answers at the configured address" in caplog.text
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "wrong_meter"
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {"title": init_integration.title}

    meter.serial = SERIAL
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.freeze_time(START)
async def test_an_issue_from_before_a_restart_goes_with_the_first_answer(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    # Issues are kept in the registry over a restart; the meter that answers right
    # again must not leave one behind (most polls do not look).
    issue_id = f"wrong_meter_{init_integration.entry_id}"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="wrong_meter",
        translation_placeholders={"title": init_integration.title},
    )
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


@pytest.mark.freeze_time(START)
async def test_at_most_ten_meters_are_polled_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    meters = [
        SimulatedObisMeter(serial=f"M{n:02}", clock=frozen_clock) for n in range(14)
    ]
    server = ObisMeterServer(meters)
    await server.start()
    try:
        for meter, port in zip(meters, server.ports, strict=True):
            await setup_integration(
                hass,
                MockConfigEntry(
                    domain=DOMAIN,
                    unique_id=meter.serial,
                    title=f"OBIS meter {meter.serial}",
                    data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
                ),
            )
        for meter in meters:
            meter.delay_seconds = 0.2
        server.max_in_flight = 0
        await async_poll(hass, freezer, MINUTE)  # every meter polls in this minute
        assert server.max_in_flight == 10
        for meter in meters:
            name = f"sensor.{meter.serial.lower()}_energy_import"
            assert state_of(hass, name) != STATE_UNAVAILABLE
        for entry in hass.config_entries.async_entries(DOMAIN):
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()


@given(
    phase=st.floats(min_value=0.0, max_value=1.0, exclude_max=True),
    interval=st.sampled_from([5.0, 10.0, 60.0, 300.0, 3600.0]),
    wall_now=st.floats(min_value=1.6e9, max_value=2.2e9),
)
def test_a_poll_falls_well_inside_its_own_second(
    phase: float, interval: float, wall_now: float
) -> None:
    """Aimed at the middle of the entry's second: the millisecond the moment is
    rounded to, or the loop's clock a little ahead of the wall clock, never moves a
    poll into the second before (where the benchmark saw 7 polls in one second at 200
    meters, against 4 at most), and no poll comes sooner than the minimum gap."""
    wait = wait_for_second(phase, interval, wall_now)
    assert MIN_POLL_GAP_S <= wait < interval + MIN_POLL_GAP_S
    moment = wall_now + wait
    own = math.floor(phase * interval)
    for shifted in (round(moment, 3), moment - 0.01, moment + 0.01):
        assert math.floor(shifted) % interval == own, (shifted, own)


@pytest.mark.freeze_time(START)
async def test_polls_of_many_meters_are_spread_over_the_interval(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    """Meters set up together do not poll together: each second of the interval has
    its share of them, the same interval after interval and after a reload, and the
    meters of one second are read at once."""
    meters = [
        SimulatedObisMeter(serial=f"S{n:02}", clock=frozen_clock) for n in range(20)
    ]
    server = ObisMeterServer(meters)
    await server.start()
    interval = 10

    async def moments(seconds: int) -> dict[str, list[float]]:
        """When each meter was read, on the (frozen) clock, in ticks of 0.25 s."""
        seen: dict[str, list[float]] = {meter.serial: [] for meter in meters}
        for _tick in range(seconds * 4):
            before = [meter.read_requests for meter in meters]
            freezer.tick(timedelta(seconds=0.25))
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            for meter, count in zip(meters, before, strict=True):
                if meter.read_requests != count:
                    seen[meter.serial].append(dt_util.utcnow().timestamp())
        return seen

    try:
        for n, (meter, port) in enumerate(zip(meters, server.ports, strict=True)):
            await setup_integration(
                hass,
                MockConfigEntry(
                    domain=DOMAIN,
                    entry_id=f"01JSMHSPREAD{n:014}",
                    unique_id=meter.serial,
                    data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
                    options={"scan_interval": interval},
                ),
            )
        await moments(interval + 2)  # past the polls that setup moved
        seen = await moments(3 * interval)
        for serial, times in seen.items():
            # About once an interval (the loop's clock runs in real time under the
            # test's frozen one: a poll at the edge of the window may fall outside it).
            assert 2 <= len(times) <= 4, serial
        # Spread: no second of the interval holds more than twice its share.
        entries = hass.config_entries.async_entries(DOMAIN)
        per_second: dict[int, list[ConfigEntry]] = {}
        for entry in entries:
            second = int(entry.runtime_data.phase * interval)
            per_second.setdefault(second, []).append(entry)
        assert max(map(len, per_second.values())) <= 2 * len(meters) / interval
        assert len(per_second) == interval  # every second of the interval has polls
        # The meters of one second are read together (one wake-up of the loop). Within
        # a tick of the test's clock: under it the wall clock stands still while the
        # loop's runs, so two entries rescheduled a few ms apart may fall due a few ms
        # apart, across a tick (with both clocks running they fall due together).
        for together in per_second.values():
            reads = (seen[entry.unique_id or ""] for entry in together)
            for moments in zip(*reads, strict=True):
                assert max(moments) - min(moments) <= 0.25, moments

        # A reload (as a restart) keeps each meter's moment.
        entry = entries[0]
        phase = entry.runtime_data.phase
        assert await hass.config_entries.async_reload(entry.entry_id)
        assert entry.runtime_data.phase == phase
        for entry in hass.config_entries.async_entries(DOMAIN):
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()
