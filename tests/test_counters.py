"""The energy counters' guard in Home Assistant: no glitch reaches the Energy Dashboard.

The guard's rules are tested in tests/meters/test_guard.py; here what the user sees:
a glitch makes the counter unavailable (never a 0 or a spike), is logged once, and the
last accepted values survive a restart.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import SimulatedObisMeter

from .helpers import OBIS_PREFIX, SERIAL, START, async_poll, state_of

P = f"sensor.{OBIS_PREFIX}"
MINUTE = timedelta(minutes=1)


@pytest.mark.parametrize("fault", ["glitch_zero", "glitch_spike"])
@pytest.mark.freeze_time(START)
async def test_counter_glitch_never_reaches_the_energy_dashboard(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    before = float(state_of(hass, f"{P}_energy_import"))
    meter.set_fault(fault, count=2)
    caplog.clear()
    await async_poll(hass, freezer, MINUTE)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    # Power is not a counter: it is still shown.
    assert state_of(hass, f"{P}_power_import") != STATE_UNAVAILABLE
    rejected = [
        r
        for r in caplog.records
        if "not publishing" in r.getMessage() and "1-0:1.8.0 =" in r.getMessage()
    ]
    assert len(rejected) == 1  # one warning for the whole glitch
    await async_poll(hass, freezer, MINUTE)
    after = float(state_of(hass, f"{P}_energy_import"))
    assert before <= after < before + 1
    assert [r for r in caplog.records if "plausible again" in r.getMessage()]


@pytest.mark.freeze_time(START)
async def test_last_accepted_counter_survives_a_restart(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    await async_poll(hass, freezer, MINUTE)
    meter.set_fault("glitch_zero")
    # Unloading saves the accepted counters at once.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    # After the restart the first reading is a 0: it is still known to be a glitch.
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    meter.set_fault(None)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE


@pytest.mark.freeze_time(START)
async def test_counters_are_saved_when_home_assistant_stops(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    hass_storage: dict,
) -> None:
    await async_poll(hass, freezer, MINUTE)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    saved = hass_storage[f"{DOMAIN}.energy"]["data"][init_integration.entry_id]
    energy = float(state_of(hass, f"{P}_energy_import"))
    assert saved[f"{SERIAL}:1-0:1.8.0.255"]["value"] == pytest.approx(energy)
