"""Hours the meter went unread are filled from its own 15-minute history (#15.1).

The fake meter counts along the test's frozen clock and keeps interval data consistent
with its counters; Home Assistant's recorder compiles statistics on its own schedule as
time is moved. The meter stops answering (or Home Assistant stops reading it) for three
hours; afterwards each of those hours in the recorder's hourly statistics equals the
meter's intervals for that hour, to the Wh, and the hour after the gap carries only its
own energy.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.recorder import get_instance
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.xcel.backfill import (
    MAX_TRIES,
    Gap,
    _Plan,
    _row,
)
from custom_components.smart_meter_hub.kinds.xcel.identity import identity_data
from custom_components.smart_meter_hub.meters import (
    Identity,
    MeterConnectionError,
    MeterResponseError,
    generate_identity,
)
from meter_sim.xcel import FakeXcelMeter

START = datetime(2026, 11, 21, 9, 50, tzinfo=UTC)
ENERGY_METADATA: Any = {"statistic_id": "sensor.x", "unit_of_measurement": "kWh"}
HOUR = timedelta(hours=1)
# The recorder compiles statistics as time passes (the test harness turns it off).
pytestmark = pytest.mark.parametrize("enable_statistics", [True])


@pytest.fixture
def frozen_start(freezer: FrozenDateTimeFactory) -> None:
    """Time starts at START (the recorder's timers are set from it)."""
    freezer.move_to(START)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    frozen_start: None, recorder_mock: Any, enable_custom_integrations: None
) -> None:
    """The clock is frozen, then the recorder set up, then Home Assistant."""


def at(hour: int, minute: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute)


@pytest.fixture
def identity(frozen_start: None) -> Identity:
    return generate_identity()  # valid from START on (the meter checks it)


@pytest.fixture
async def xcel(
    socket_enabled: None, identity: Identity, frozen_start: None
) -> AsyncGenerator[FakeXcelMeter]:
    meter = FakeXcelMeter()  # counts along the frozen clock
    meter.register(identity.certificate_pem)
    await meter.start()
    yield meter
    await meter.stop()


def entry_of(meter: FakeXcelMeter, identity: Identity) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        unique_id=str(meter.identity.sfdi),
        title=f"Xcel meter {meter.identity.sfdi}",
        version=1,
        minor_version=2,
        data={
            "meter_type": "xcel",
            "host": "127.0.0.1",
            "port": meter.port,
            **identity_data(identity),
            "meter_lfdi": meter.lfdi,
        },
    )


async def run_until(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, until: datetime, step: int = 60
) -> None:
    """Move time to ``until`` in ``step`` seconds: polls and the recorder follow.

    The recorder compiles each 5-minute period 10 s after it ends: a step under 290 s
    lets every compile happen within the next period, as it does in real time.
    """
    assert step < 290
    now = datetime.fromtimestamp(datetime.now(UTC).timestamp(), UTC)
    while now < until:
        now = min(now + timedelta(seconds=step), until)
        freezer.move_to(now)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        await async_wait_recording_done(hass)


async def hourly(
    hass: HomeAssistant, entity_id: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, Any]]:
    """The recorder's hourly rows of ``entity_id`` by hour, with each hour's change."""
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period,
        hass,
        start,
        end,
        {entity_id},
        "hour",
        None,
        {"state", "sum", "change"},
    )
    return {
        datetime.fromtimestamp(row["start"], UTC): dict(row)
        for row in found.get(entity_id, [])
    }


def kwh_of_hour(meter: FakeXcelMeter, hour: datetime, delivered: bool = True) -> float:
    return meter.intervals_of_hour(int(hour.timestamp()), delivered) / 1000


def ours(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What Smart Meter Hub logged."""
    return [r for r in caplog.records if r.name.startswith("custom_components.smart")]


def filled_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in ours(caplog) if " filled " in r.getMessage()]


async def _set_up(
    hass: HomeAssistant, meter: FakeXcelMeter, identity: Identity
) -> MockConfigEntry:
    entry = entry_of(meter, identity)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


async def test_three_silent_hours_are_filled_from_the_meters_intervals(
    recorder_mock: Any,
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.smart_meter_hub")
    entry = await _set_up(hass, xcel, identity)
    sfdi = xcel.identity.sfdi
    imported = f"sensor.xcel_meter_{sfdi}_energy_import"
    exported = f"sensor.xcel_meter_{sfdi}_energy_export"
    await run_until(hass, freezer, at(11, 58))
    await xcel.go_down()  # the meter stops answering for three hours; it keeps counting
    await run_until(hass, freezer, at(15), step=120)
    assert hass.states.get(imported).state == "unavailable"
    await xcel.come_back()
    await run_until(hass, freezer, at(16, 20))
    assert entry.runtime_data.last_update_success

    rows = await hourly(hass, imported, at(10), at(16))
    for hour in (at(11), at(12), at(13), at(14)):
        # The hour the gap began in (it lost its end) and the three silent hours.
        assert rows[hour]["change"] == pytest.approx(kwh_of_hour(xcel, hour), abs=1e-3)
    # The hour after the gap: its own energy, not the gap's (about 7.5 kWh). What it
    # misses against its intervals is the energy after its last poll (under a minute).
    own = rows[at(15)]["change"]
    assert own == pytest.approx(kwh_of_hour(xcel, at(15)), abs=0.05)
    # Before and after: the sums follow the counter.
    counter = rows[at(15)]["state"] - rows[at(10)]["state"]
    assert rows[at(15)]["sum"] - rows[at(10)]["sum"] == pytest.approx(counter)
    # Nothing exported in this home: the export counter's hours are there, all 0.
    rows = await hourly(hass, exported, at(10), at(16))
    assert [rows[at(h)]["change"] for h in range(11, 16)] == [0.0] * 5

    (line,) = filled_lines(caplog)
    assert "filled 4 hour(s)" in line
    assert "2026-11-21 11:00 to 2026-11-21 15:00 UTC" in line

    # Idempotent: the same gap filled again (as after a restart) changes nothing.
    before = await hourly(hass, imported, at(10), at(16))
    backend = entry.runtime_data.backend
    gap = Gap(at(11, 59).timestamp(), at(15, 1).timestamp())
    assert await backend.backfill.async_fill(
        gap, backend.meter, str(sfdi), datetime.now(UTC)
    )
    await async_wait_recording_done(hass)
    assert await hourly(hass, imported, at(10), at(16)) == before
    # And a restart finds nothing left to fill.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await run_until(hass, freezer, at(16, 40))
    assert len(filled_lines(caplog)) == 2  # the one above, made by hand
    assert await hourly(hass, imported, at(10), at(16)) == before
    # A gap inside one hour, after the last compiled one: no hour to fill.
    backend = entry.runtime_data.backend
    inside = Gap(at(16, 1).timestamp(), at(16, 30).timestamp())
    assert await backend.backfill.async_fill(
        inside, backend.meter, str(sfdi), datetime.now(UTC)
    )
    assert len(filled_lines(caplog)) == 2


async def test_hours_home_assistant_was_stopped_are_filled(
    recorder_mock: Any,
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.smart_meter_hub")
    entry = await _set_up(hass, xcel, identity)
    imported = f"sensor.xcel_meter_{xcel.identity.sfdi}_energy_import"
    await run_until(hass, freezer, at(12, 20))
    # Smart Meter Hub stops reading (as when Home Assistant stops) for 3 hours.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await run_until(hass, freezer, at(15, 30), step=120)
    assert await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.LOADED
    await run_until(hass, freezer, at(16, 20))
    rows = await hourly(hass, imported, at(10), at(16))
    for hour in (at(12), at(13), at(14)):
        assert rows[hour]["change"] == pytest.approx(kwh_of_hour(xcel, hour), abs=1e-3)
    assert rows[at(15)]["change"] == pytest.approx(kwh_of_hour(xcel, at(15)), abs=0.05)
    assert "filled 3 hour(s)" in filled_lines(caplog)[0]


async def test_a_gap_longer_than_the_meter_keeps_is_filled_as_far_as_it_remembers(
    recorder_mock: Any,
    hass: HomeAssistant,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.smart_meter_hub")
    # A meter that keeps one 12-hour ReadingSet: from 12:00 on, in this test.
    meter = FakeXcelMeter(keep_sets=1)
    meter.register(identity.certificate_pem)
    await meter.start()
    try:
        await _set_up(hass, meter, identity)
        imported = f"sensor.xcel_meter_{meter.identity.sfdi}_energy_import"
        await run_until(hass, freezer, at(10, 30))
        await meter.go_down()
        await run_until(hass, freezer, at(14, 10), step=120)
        await meter.come_back()
        await run_until(hass, freezer, at(15, 30))
        rows = await hourly(hass, imported, at(9), at(15))
    finally:
        await meter.stop()
    # 12:00 and 13:00 the meter remembers: each its own energy, and the hour after the
    # gap (14:00) its own. 10:00 (after its first half hour) and 11:00 it has forgotten:
    # their energy is in 12:00, as Home Assistant would have it in 14:00 without this.
    assert at(11) not in rows
    for hour in (at(13), at(14)):
        assert rows[hour]["change"] == pytest.approx(kwh_of_hour(meter, hour), abs=1e-3)
    rest = rows[at(12)]["change"] - kwh_of_hour(meter, at(12))
    assert rest == pytest.approx(2.4 * 1.5, rel=0.1)  # 10:30 to 12:00
    counter = rows[at(14)]["state"] - rows[at(9)]["state"]
    assert rows[at(14)]["sum"] - rows[at(9)]["sum"] == pytest.approx(counter)
    (line,) = filled_lines(caplog)
    assert "filled 2 hour(s)" in line
    assert "2 hour(s) from 2026-11-21 10:00 UTC left as recorded" in line


async def test_spoiled_interval_data_is_named_once_and_never_counted(
    recorder_mock: Any,
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="custom_components.smart_meter_hub")
    slot = int(at(12).timestamp())
    xcel.interval_faults = {
        slot + 900: "missing",  # a gap in the ReadingSet
        slot + 1800: "duplicate",  # listed twice with different values
        slot + 2700: "negative",
        slot + 3600: "absurd",  # 13:00
        slot + 4500: "empty",
    }
    xcel.future_interval = True
    await _set_up(hass, xcel, identity)
    imported = f"sensor.xcel_meter_{xcel.identity.sfdi}_energy_import"
    await run_until(hass, freezer, at(11, 58))
    await xcel.go_down()
    await run_until(hass, freezer, at(15), step=120)
    await xcel.come_back()
    await run_until(hass, freezer, at(16, 30))
    # The live sensor is unaffected: the meter's counter, now.
    live = float(hass.states.get(imported).state)
    assert live == pytest.approx(xcel.delivered_wh / 1000, abs=0.1)
    rows = await hourly(hass, imported, at(10), at(16))
    # 11:00 and 14:00 are filled; 12:00 and 13:00, spoiled, are not: their energy is
    # in 14:00 (the next hour with a row), none of it lost, none counted twice. (The
    # recorder has a row for 12:00, from the five minutes in which the sensor became
    # unavailable: it stays at 11:00's sum, never below it.)
    assert rows[at(12)]["change"] == 0
    assert at(13) not in rows
    assert all(row["change"] >= 0 for row in rows.values())
    assert rows[at(11)]["change"] == pytest.approx(kwh_of_hour(xcel, at(11)), abs=1e-3)
    assert rows[at(15)]["change"] == pytest.approx(kwh_of_hour(xcel, at(15)), abs=1e-3)
    spoiled = sum(kwh_of_hour(xcel, at(h)) for h in (12, 13, 14))
    assert rows[at(14)]["change"] == pytest.approx(spoiled, abs=0.05)
    counter = rows[at(15)]["state"] - rows[at(10)]["state"]
    assert rows[at(15)]["sum"] - rows[at(10)]["sum"] == pytest.approx(counter)
    messages = [r.getMessage() for r in ours(caplog) if r.levelno == logging.WARNING]
    for problem in (
        "an interval listed twice with other values",
        "a negative or impossible interval value",
        "an interval without a value",
        "an interval in the future",
    ):
        assert sum(problem in message for message in messages) == 1, problem
    (line,) = filled_lines(caplog)
    assert "filled 2 hour(s)" in line
    assert "2 hour(s) from 2026-11-21 12:00 UTC left as recorded" in line


@pytest.mark.parametrize("agent", ["lists_none", "older"])
async def test_an_agent_without_interval_data_leaves_the_hours_as_recorded(
    recorder_mock: Any,
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    agent: str,
) -> None:
    if agent == "older":
        xcel.older_agent = True  # lists interval readings, answers 404 for them
    else:
        xcel.intervals = False  # lists none
    await _set_up(hass, xcel, identity)
    imported = f"sensor.xcel_meter_{xcel.identity.sfdi}_energy_import"
    await run_until(hass, freezer, at(11, 58))
    await xcel.go_down()
    await run_until(hass, freezer, at(15), step=120)
    await xcel.come_back()
    await run_until(hass, freezer, at(16, 30))
    rows = await hourly(hass, imported, at(10), at(16))
    assert at(13) not in rows  # as Home Assistant has it: nothing for the gap...
    counter = rows[at(15)]["state"] - rows[at(11)]["state"]
    assert rows[at(15)]["sum"] - rows[at(11)]["sum"] == pytest.approx(counter)
    assert rows[at(15)]["change"] > 9  # ...and the gap's energy after it, once
    warnings = [r.getMessage() for r in ours(caplog) if r.levelno == logging.WARNING]
    expected = "keeps no 15-minute" if agent == "lists_none" else "HTTP 404"
    assert sum(expected in message for message in warnings) == 1
    assert not filled_lines(caplog)
    assert float(hass.states.get(imported).state) > 42249  # the live value is there


async def test_unreadable_intervals_are_tried_again_then_given_up_once(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await _set_up(hass, xcel, identity)
    backfill = entry.runtime_data.backend.backfill
    meter, sfdi = entry.runtime_data.backend.meter, str(xcel.identity.sfdi)
    now = datetime.now(UTC)
    gap = Gap(now.timestamp() - 3 * 3600, now.timestamp() - 3600)
    backfill.add_gap(gap)
    dropped = MeterConnectionError("the meter closed the connection")
    with patch.object(type(backfill), "async_fill", side_effect=dropped):
        for _ in range(MAX_TRIES - 1):  # the connection failed: kept for a later poll
            await backfill.async_fill_due([gap], meter, sfdi, now)
            assert backfill.gaps == [gap]
        await backfill.async_fill_due([gap], meter, sfdi, now)
    assert backfill.gaps == []
    refused = MeterResponseError("/upt/1/mr/12/rs?s=0&l=25: HTTP 404")
    backfill.add_gap(gap)
    with patch.object(type(backfill), "async_fill", side_effect=refused):
        await backfill.async_fill_due([gap], meter, sfdi, now)  # answered: final
    assert backfill.gaps == []
    # Anything else (the recorder not ready yet, say): tried again, then given up.
    gap = Gap(gap.start - 3600, gap.end - 3600)  # another gap: its own tries
    backfill.add_gap(gap)
    broken = RuntimeError("The database connection has not been established")
    with patch.object(type(backfill), "async_fill", side_effect=broken):
        await backfill.async_fill_due([gap], meter, sfdi, now)
        assert backfill.gaps == [gap]
        for _ in range(MAX_TRIES - 1):
            await backfill.async_fill_due([gap], meter, sfdi, now)
    assert backfill.gaps == []
    warnings = [r.getMessage() for r in ours(caplog) if r.levelno == logging.WARNING]
    assert sum("could not be read" in message for message in warnings) == 1
    assert sum("could not be filled" in message for message in warnings) == 1


async def test_nothing_is_filled_without_statistics_or_sensors(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    identity: Identity,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = await _set_up(hass, xcel, identity)
    backend = entry.runtime_data.backend
    sfdi = str(xcel.identity.sfdi)
    er.async_get(hass).async_remove(f"sensor.xcel_meter_{sfdi}_energy_export")
    gap = Gap(at(7).timestamp(), at(9, 40).timestamp())
    # No statistics compiled for the import sensor yet, the export sensor is gone.
    assert await backend.backfill.async_fill(gap, backend.meter, sfdi, at(9, 55))
    assert not filled_lines(caplog)
    assert _row({"start": 0.0, "state": None, "sum": 1.0}) is None
    assert _Plan(ENERGY_METADATA, float).forward(None, [0], {0: 1.0}) == []
