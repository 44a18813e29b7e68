"""The virtual meter: sensors already in Home Assistant, event driven."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN

from .helpers import start_reconfigure

TOTAL = "sensor.grid_power"
ENERGY = "sensor.grid_energy"
HEAT_PUMP = "sensor.heat_pump_power"
OVEN = "sensor.oven_power"
P = "virtual_meter_grid_power"


def set_power(hass: HomeAssistant, entity_id: str, value: str, unit: str = "W") -> None:
    name = entity_id.split(".")[1].replace("_", " ").capitalize()
    hass.states.async_set(
        entity_id,
        value,
        {"unit_of_measurement": unit, "device_class": "power", "friendly_name": name},
    )


async def add_virtual_meter(hass: HomeAssistant, **extra: object) -> MockConfigEntry:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "virtual"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL, **extra}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


async def test_virtual_meter_in_kw_with_circuits(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "2.5", "kW")
    set_power(hass, HEAT_PUMP, "1500")
    set_power(hass, OVEN, "0.5", "kW")
    hass.states.async_set(
        ENERGY, "1234.5", {"unit_of_measurement": "kWh", "device_class": "energy"}
    )
    entry = await add_virtual_meter(
        hass, energy_entity=ENERGY, circuits=[HEAT_PUMP, OVEN, TOTAL]
    )
    assert entry.title == "Virtual meter Grid power"
    assert entry.options["circuits"] == [HEAT_PUMP, OVEN]  # the total is no circuit

    assert float(hass.states.get(f"sensor.{P}_net_power").state) == 2500.0
    assert float(hass.states.get(f"sensor.{P}_energy_import").state) == 1234.5
    assert float(hass.states.get(f"sensor.{P}_heat_pump_power_share").state) == 60.0
    assert float(hass.states.get(f"sensor.{P}_oven_power_share").state) == 20.0
    assert float(hass.states.get(f"sensor.{P}_unmeasured_power").state) == 500.0
    assert hass.states.get(f"binary_sensor.{P}_high_consumption").state == "off"

    # Event driven: a state change updates everything at once.
    set_power(hass, TOTAL, "1000")
    await hass.async_block_till_done()
    assert float(hass.states.get(f"sensor.{P}_net_power").state) == 1000.0
    # Circuits summing to more than the total: shares clamped, unmeasured never negative.
    assert float(hass.states.get(f"sensor.{P}_heat_pump_power_share").state) == 100.0
    assert float(hass.states.get(f"sensor.{P}_unmeasured_power").state) == 0.0

    # Exporting (total <= 0): shares are unknown, not a division by zero.
    set_power(hass, TOTAL, "-300")
    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.{P}_oven_power_share").state == STATE_UNKNOWN

    # A circuit that is unavailable makes its share and the unmeasured power
    # unavailable, never a wrong number.
    hass.states.async_set(OVEN, STATE_UNAVAILABLE)
    set_power(hass, TOTAL, "900")
    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.{P}_unmeasured_power").state == STATE_UNAVAILABLE
    assert hass.states.get(f"sensor.{P}_oven_power_share").state == STATE_UNAVAILABLE
    assert float(hass.states.get(f"sensor.{P}_heat_pump_power_share").state) > 0

    # The source goes away: the meter is unavailable, and comes back with it.
    hass.states.async_set(TOTAL, STATE_UNAVAILABLE)
    await hass.async_block_till_done()
    assert hass.states.get(f"sensor.{P}_net_power").state == STATE_UNAVAILABLE
    set_power(hass, TOTAL, "800")
    await hass.async_block_till_done()
    assert float(hass.states.get(f"sensor.{P}_net_power").state) == 800.0


async def test_flow_refuses_sensors_without_a_usable_value(hass: HomeAssistant) -> None:
    hass.states.async_set(TOTAL, "12", {"unit_of_measurement": "°C"})
    hass.states.async_set(ENERGY, "oops", {"unit_of_measurement": "kWh"})
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "virtual"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL}
    )
    assert result["errors"] == {"power_entity": "invalid_power_sensor"}
    set_power(hass, TOTAL, "100")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL, "energy_entity": ENERGY}
    )
    assert result["errors"] == {"energy_entity": "invalid_energy_sensor"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert not hass.config_entries.async_entries(DOMAIN)[0].options["circuits"]


async def test_same_sensor_twice_aborts(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "100")
    await add_virtual_meter(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "virtual"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_options_change_circuits_without_reload(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "2000")
    set_power(hass, HEAT_PUMP, "500")
    entry = await add_virtual_meter(hass)
    coordinator = entry.runtime_data
    assert hass.states.get(f"sensor.{P}_heat_pump_power_share") is None
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "virtual"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"circuits": [HEAT_PUMP], "high_threshold": 1500}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is coordinator
    set_power(hass, HEAT_PUMP, "600")  # now followed
    await hass.async_block_till_done()
    assert float(hass.states.get(f"sensor.{P}_heat_pump_power_share").state) == 30.0


async def test_reconfigure_explains_what_to_do(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "100")
    entry = await add_virtual_meter(hass)
    result = await start_reconfigure(hass, entry)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_not_supported"
    assert await hass.config_entries.async_unload(entry.entry_id)
