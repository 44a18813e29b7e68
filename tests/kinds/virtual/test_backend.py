"""Following the source sensors of a virtual meter: event driven, no polling."""

from __future__ import annotations

from homeassistant.const import STATE_OFF, STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from tests.helpers import (
    ENERGY,
    HEAT_PUMP,
    OVEN,
    TOTAL,
    VIRTUAL_PREFIX,
    async_add_virtual_meter,
    set_energy,
    set_power,
    state_of,
)

P = f"sensor.{VIRTUAL_PREFIX}"


async def test_every_change_of_a_source_updates_the_meter(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "2.5", "kW")
    set_power(hass, HEAT_PUMP, "1500")
    set_power(hass, OVEN, "0.5", "kW")
    set_energy(hass, ENERGY, "1234.5")
    await async_add_virtual_meter(
        hass, energy_entity=ENERGY, circuits=[HEAT_PUMP, OVEN, TOTAL]
    )

    assert float(state_of(hass, f"{P}_net_power")) == 2500.0
    assert float(state_of(hass, f"{P}_energy_import")) == 1234.5
    assert float(state_of(hass, f"{P}_heat_pump_power_share")) == 60.0
    assert float(state_of(hass, f"{P}_oven_power_share")) == 20.0
    assert float(state_of(hass, f"{P}_unmeasured_power")) == 500.0
    assert state_of(hass, f"binary_sensor.{VIRTUAL_PREFIX}_high_consumption") == (
        STATE_OFF
    )

    # Event driven: a state change updates everything at once.
    set_power(hass, TOTAL, "1000")
    await hass.async_block_till_done()
    assert float(state_of(hass, f"{P}_net_power")) == 1000.0
    # Circuits summing to more than the total: shares clamped, unmeasured never negative.
    assert float(state_of(hass, f"{P}_heat_pump_power_share")) == 100.0
    assert float(state_of(hass, f"{P}_unmeasured_power")) == 0.0

    # Exporting (total <= 0): shares are unknown, not a division by zero.
    set_power(hass, TOTAL, "-300")
    await hass.async_block_till_done()
    assert state_of(hass, f"{P}_oven_power_share") == STATE_UNKNOWN

    # A circuit that is unavailable makes its share and the unmeasured power
    # unavailable, never a wrong number.
    hass.states.async_set(OVEN, STATE_UNAVAILABLE)
    set_power(hass, TOTAL, "900")
    await hass.async_block_till_done()
    assert state_of(hass, f"{P}_unmeasured_power") == STATE_UNAVAILABLE
    assert state_of(hass, f"{P}_oven_power_share") == STATE_UNAVAILABLE
    assert float(state_of(hass, f"{P}_heat_pump_power_share")) > 0

    # The source goes away: the meter is unavailable, and comes back with it.
    hass.states.async_set(TOTAL, STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert state_of(hass, f"{P}_net_power") == STATE_UNAVAILABLE
    set_power(hass, TOTAL, "800")
    await hass.async_block_till_done()
    assert float(state_of(hass, f"{P}_net_power")) == 800.0


async def test_options_change_circuits_without_reload(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "2000")
    set_power(hass, HEAT_PUMP, "500")
    entry = await async_add_virtual_meter(hass)
    coordinator = entry.runtime_data
    assert hass.states.get(f"{P}_heat_pump_power_share") is None
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "virtual"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"circuits": [HEAT_PUMP], "high_threshold": 1500}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is coordinator  # not reloaded
    set_power(hass, HEAT_PUMP, "600")  # now followed
    await hass.async_block_till_done()
    assert float(state_of(hass, f"{P}_heat_pump_power_share")) == 30.0


async def test_unloading_stops_following_the_sources(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "100")
    entry = await async_add_virtual_meter(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    set_power(hass, TOTAL, "200")
    await hass.async_block_till_done()
    assert state_of(hass, f"{P}_net_power") == STATE_UNAVAILABLE
