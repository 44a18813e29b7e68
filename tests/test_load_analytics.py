"""Load analytics entities on a real meter: a whole night with the simulated meter."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

P = "obis_meter_smh_obis_0001"
BERLIN = ZoneInfo("Europe/Berlin")


async def poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_a_night_gives_a_baseline_and_phantom_load(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 0, 50, tzinfo=BERLIN))
    meter.base_power_w = meter._power = 400
    await set_up(hass, config_entry)
    assert hass.states.get(f"sensor.{P}_night_baseline").state == STATE_UNKNOWN
    assert hass.states.get(f"binary_sensor.{P}_phantom_load").state == STATE_UNKNOWN

    lowest = None
    for _ in range(4 * 12 + 3):  # 01:00 to 05:00, one poll every 5 minutes
        freezer.tick(timedelta(minutes=5))
        await poll(hass, config_entry)
        if freezer.time_to_freeze.astimezone(BERLIN).hour in range(1, 5):
            net = float(hass.states.get(f"sensor.{P}_net_power").state)
            lowest = net if lowest is None else min(lowest, net)

    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert float(baseline.state) == pytest.approx(lowest, abs=1)
    assert baseline.attributes["night"] == "2026-11-21"
    assert baseline.attributes["window"] == "01:00-05:00"
    phantom = hass.states.get(f"binary_sensor.{P}_phantom_load")
    assert phantom.state == STATE_ON  # about 400 W all night: above 200 W
    assert phantom.attributes["threshold"] == 200.0


async def test_night_with_the_meter_away_says_so(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    server: ObisMeterServer,
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 0, 50, tzinfo=BERLIN))
    await set_up(hass, config_entry)
    await server.stop()
    for _ in range(4 * 12 + 3):
        freezer.tick(timedelta(minutes=5))
        await poll(hass, config_entry)
    await server.restart()
    freezer.tick(timedelta(minutes=5))
    await poll(hass, config_entry)
    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert baseline.state == STATE_UNKNOWN
    assert baseline.attributes["night"] == "2026-11-21"
    assert baseline.attributes["coverage"] == 0.0
    assert hass.states.get(f"binary_sensor.{P}_phantom_load").state == STATE_UNKNOWN


async def test_high_consumption_turns_on_after_the_delay(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 18, 0, tzinfo=BERLIN))
    await set_up(hass, config_entry)
    high = f"binary_sensor.{P}_high_consumption"
    assert hass.states.get(high).state == STATE_OFF
    meter.base_power_w = 12_000
    meter._power = 12_000  # the oven and the heat pump start together
    freezer.tick(timedelta(seconds=30))
    await poll(hass, config_entry)
    assert hass.states.get(high).state == STATE_OFF
    freezer.tick(timedelta(seconds=30))
    await poll(hass, config_entry)
    freezer.tick(timedelta(seconds=35))
    await poll(hass, config_entry)
    assert hass.states.get(high).state == STATE_ON
    meter.base_power_w = meter._power = 500
    for _ in range(3):
        freezer.tick(timedelta(seconds=35))
        await poll(hass, config_entry)
    assert hass.states.get(high).state == STATE_OFF


async def test_baseline_survives_a_restart_and_options_apply(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 0, 50, tzinfo=BERLIN))
    meter.base_power_w = meter._power = 150
    await set_up(hass, config_entry)
    for _ in range(4 * 12 + 3):
        freezer.tick(timedelta(minutes=5))
        await poll(hass, config_entry)
    before = hass.states.get(f"sensor.{P}_night_baseline").state
    assert hass.states.get(f"binary_sensor.{P}_phantom_load").state == STATE_OFF

    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.{P}_night_baseline").state == before

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 60, "obis_codes": [], "phantom_threshold": 50},
    )
    await hass.async_block_till_done()
    await poll(hass, config_entry)
    assert hass.states.get(f"binary_sensor.{P}_phantom_load").state == STATE_ON
    assert hass.states.get(f"sensor.{P}_night_baseline").state != STATE_UNAVAILABLE


async def test_restart_inside_the_window_keeps_the_night(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 0, 55, tzinfo=BERLIN))
    meter.base_power_w = meter._power = 300
    await set_up(hass, config_entry)
    for _ in range(12):  # 01:00 to 01:55
        freezer.tick(timedelta(minutes=5))
        await poll(hass, config_entry)
    meter._power = 90  # the lowest moment of the night, before the restart
    freezer.tick(timedelta(minutes=5))
    await poll(hass, config_entry)
    meter._power = 300
    assert await hass.config_entries.async_reload(config_entry.entry_id)  # restart
    await hass.async_block_till_done()
    for _ in range(37):  # 02:05 to 05:05
        freezer.tick(timedelta(minutes=5))
        await poll(hass, config_entry)
    baseline = hass.states.get(f"sensor.{P}_night_baseline")
    assert float(baseline.state) == pytest.approx(90, abs=15)
    assert baseline.attributes["coverage"] > 0.95
