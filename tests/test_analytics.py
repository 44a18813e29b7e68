"""Load analytics on a real meter: whole nights with the simulated meter.

The night baseline and high consumption themselves are tested in
tests/analysis/test_baseline.py; here: what the entities show, through polls, outages,
restarts and new options.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

from .helpers import (
    OBIS_PREFIX as P,
    TOTAL,
    VIRTUAL_PREFIX,
    async_add_virtual_meter,
    async_poll,
    set_power,
    setup_integration,
    state_of,
)

BERLIN = ZoneInfo("Europe/Berlin")
BEFORE_THE_NIGHT = datetime(2026, 11, 21, 0, 50, tzinfo=BERLIN)
EVENING = datetime(2026, 11, 21, 18, 0, tzinfo=BERLIN)
FIVE_MINUTES = timedelta(minutes=5)
WHOLE_NIGHT = 4 * 12 + 3  # 00:55 to 05:05, a poll every 5 minutes


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    await setup_integration(hass, entry)


@pytest.mark.freeze_time(BEFORE_THE_NIGHT)
async def test_a_night_gives_a_baseline_and_phantom_load(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.base_power_w = 400
    meter.set_power(400)
    await set_up(hass, config_entry)
    assert state_of(hass, f"sensor.{P}_night_baseline") == STATE_UNKNOWN
    assert state_of(hass, f"binary_sensor.{P}_phantom_load") == STATE_UNKNOWN

    lowest = None
    for _ in range(WHOLE_NIGHT):
        await async_poll(hass, freezer, FIVE_MINUTES)
        if freezer.time_to_freeze.astimezone(BERLIN).hour in range(1, 5):
            net = float(state_of(hass, f"sensor.{P}_net_power"))
            lowest = net if lowest is None else min(lowest, net)

    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert baseline is not None
    assert float(baseline.state) == pytest.approx(lowest, abs=1)
    assert baseline.attributes["night"] == "2026-11-21"
    assert baseline.attributes["window"] == "01:00-05:00"
    phantom = hass.states.get(f"binary_sensor.{P}_phantom_load")
    assert phantom is not None
    assert phantom.state == STATE_ON  # about 400 W all night: above 200 W
    assert phantom.attributes["threshold"] == 200.0


@pytest.mark.freeze_time(BEFORE_THE_NIGHT)
async def test_night_with_the_meter_away_says_so(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    server: ObisMeterServer,
) -> None:
    await set_up(hass, config_entry)
    await server.stop()
    for _ in range(WHOLE_NIGHT):
        await async_poll(hass, freezer, FIVE_MINUTES)
    await server.restart()
    await async_poll(hass, freezer, FIVE_MINUTES)
    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert baseline is not None
    assert baseline.state == STATE_UNKNOWN
    assert baseline.attributes["night"] == "2026-11-21"
    assert baseline.attributes["coverage"] == 0.0
    assert state_of(hass, f"binary_sensor.{P}_phantom_load") == STATE_UNKNOWN


@pytest.mark.freeze_time(EVENING)
async def test_high_consumption_turns_on_after_the_delay(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    await set_up(hass, config_entry)
    high = f"binary_sensor.{P}_high_consumption"
    assert state_of(hass, high) == STATE_OFF
    meter.base_power_w = 12_000
    meter.set_power(12_000)  # the oven and the heat pump start together
    await async_poll(hass, freezer, timedelta(seconds=60))
    assert state_of(hass, high) == STATE_OFF  # above the threshold, not for long yet
    await async_poll(hass, freezer, timedelta(seconds=60))
    assert state_of(hass, high) == STATE_ON
    meter.base_power_w = 500
    meter.set_power(500)
    await async_poll(hass, freezer, timedelta(seconds=60))
    assert state_of(hass, high) == STATE_ON  # below, not for long yet
    await async_poll(hass, freezer, timedelta(seconds=60))
    assert state_of(hass, high) == STATE_OFF


@pytest.mark.freeze_time(BEFORE_THE_NIGHT)
async def test_baseline_survives_a_restart_and_options_apply(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.base_power_w = 150
    meter.set_power(150)
    await set_up(hass, config_entry)
    for _ in range(WHOLE_NIGHT):
        await async_poll(hass, freezer, FIVE_MINUTES)
    before = state_of(hass, f"sensor.{P}_night_baseline")
    assert state_of(hass, f"binary_sensor.{P}_phantom_load") == STATE_OFF

    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert state_of(hass, f"sensor.{P}_night_baseline") == before

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 60, "obis_codes": [], "phantom_threshold": 50},
    )
    await hass.async_block_till_done()
    await async_poll(hass, freezer, FIVE_MINUTES)
    assert state_of(hass, f"binary_sensor.{P}_phantom_load") == STATE_ON
    assert state_of(hass, f"sensor.{P}_night_baseline") != STATE_UNAVAILABLE


@pytest.mark.freeze_time(datetime(2026, 11, 21, 0, 55, tzinfo=BERLIN))
async def test_restart_inside_the_window_keeps_the_night(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.base_power_w = 300
    meter.set_power(300)
    await set_up(hass, config_entry)
    for _ in range(12):  # 01:00 to 01:55
        await async_poll(hass, freezer, FIVE_MINUTES)
    meter.set_power(90)  # the lowest moment of the night, before the restart
    await async_poll(hass, freezer, FIVE_MINUTES)
    meter.set_power(300)
    assert await hass.config_entries.async_reload(config_entry.entry_id)  # restart
    await hass.async_block_till_done()
    for _ in range(37):  # 02:05 to 05:05
        await async_poll(hass, freezer, FIVE_MINUTES)
    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert baseline is not None
    assert float(baseline.state) == pytest.approx(90, abs=15)
    assert baseline.attributes["coverage"] > 0.95


@pytest.mark.freeze_time(EVENING)
async def test_a_steady_sensor_turns_high_consumption_on_when_the_delay_ends(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory
) -> None:
    """A power sensor that reports 11 kW once and then holds steady (it reports only
    on change): time passing counts, not only new reports."""
    set_power(hass, TOTAL, "800")
    entry = await async_add_virtual_meter(hass)
    high = f"binary_sensor.{VIRTUAL_PREFIX}_high_consumption"
    assert state_of(hass, high) == STATE_OFF
    set_power(hass, TOTAL, "11000")  # reported once
    await hass.async_block_till_done()
    freezer.tick(timedelta(seconds=30))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state_of(hass, high) == STATE_OFF  # the delay (60 s) has not passed
    freezer.tick(timedelta(seconds=31))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert state_of(hass, high) == STATE_ON  # no new report came: the delay did
    assert await hass.config_entries.async_unload(entry.entry_id)
