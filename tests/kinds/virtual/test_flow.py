"""Adding a virtual meter: sensors already in Home Assistant, their units checked."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.smart_meter_hub.const import DOMAIN
from tests.helpers import (
    ENERGY,
    HEAT_PUMP,
    OVEN,
    TOTAL,
    async_add_virtual_meter,
    async_pick_kind,
    set_energy,
    set_power,
)


async def test_add_a_meter_in_kw_with_circuits(hass: HomeAssistant) -> None:
    set_power(hass, TOTAL, "2.5", "kW")
    set_power(hass, HEAT_PUMP, "1500")
    set_power(hass, OVEN, "0.5", "kW")
    set_energy(hass, ENERGY, "1234.5")
    entry = await async_add_virtual_meter(
        hass, energy_entity=ENERGY, circuits=[HEAT_PUMP, OVEN, TOTAL]
    )
    assert entry.title == "Virtual meter Grid power"
    assert entry.unique_id == f"virtual_{TOTAL}"
    assert entry.data == {
        "meter_type": "virtual",
        "power_entity": TOTAL,
        "energy_entity": ENERGY,
    }
    assert entry.options["circuits"] == [HEAT_PUMP, OVEN]  # the total is no circuit


async def test_flow_refuses_sensors_without_a_usable_value(hass: HomeAssistant) -> None:
    hass.states.async_set(TOTAL, "12", {"unit_of_measurement": "°C"})
    hass.states.async_set(ENERGY, "oops", {"unit_of_measurement": "kWh"})
    result = await async_pick_kind(hass, "virtual")
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
    await async_add_virtual_meter(hass)
    result = await async_pick_kind(hass, "virtual")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"power_entity": TOTAL}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
