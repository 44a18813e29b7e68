"""The Energy Dashboard accepts our sensors: checked by the energy component's own validator."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from homeassistant.components.energy import data as energy_data
from homeassistant.components.energy.validate import async_validate
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .helpers import async_energy_validation

P = "sensor.smh_obis_0001"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None
) -> None:
    """The recorder must start before Home Assistant does (so, before this fixture)."""
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)


def _grid_preferences() -> dict[str, Any]:
    """Grid import, export and power, in the layout this Home Assistant version uses."""
    if "stat_energy_from" in energy_data.GridSourceType.__annotations__:
        # 2025.12+: one grid connection with import, export and (signed) power.
        grid: dict[str, Any] = {
            "type": "grid",
            "stat_energy_from": f"{P}_energy_import",
            "stat_energy_to": f"{P}_energy_export",
            "stat_cost": None,
            "entity_energy_price": None,
            "number_energy_price": None,
            "stat_compensation": None,
            "entity_energy_price_export": None,
            "number_energy_price_export": None,
            "power_config": {"stat_rate": f"{P}_net_power"},
            "cost_adjustment_day": 0.0,
        }
    else:
        grid = {
            "type": "grid",
            "flow_from": [
                {
                    "stat_energy_from": f"{P}_energy_import",
                    "stat_cost": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "flow_to": [
                {
                    "stat_energy_to": f"{P}_energy_export",
                    "stat_compensation": None,
                    "entity_energy_price": None,
                    "number_energy_price": None,
                }
            ],
            "cost_adjustment_day": 0.0,
        }
    return {"energy_sources": [grid]}


async def test_grid_sensors_pass_energy_dashboard_validation(
    recorder_mock: Any,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
) -> None:
    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update(_grid_preferences())  # type: ignore[arg-type]
    # Let the recorder compile statistics for the 5 minutes holding our states.
    result = await async_energy_validation(hass)

    assert result["energy_sources"] == [[]], result
    # The sources are ours, with values; export in a home without solar is a true 0.
    assert float(hass.states.get(f"{P}_energy_import").state) > 0
    assert hass.states.get(f"{P}_energy_export").state == "0.0"


async def test_validator_would_catch_a_broken_sensor(
    recorder_mock: Any, hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    # The same check fails for a sensor that is not an energy counter: it can fail.
    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    preferences = _grid_preferences()
    source = preferences["energy_sources"][0]
    if "flow_from" in source:
        source["flow_from"][0]["stat_energy_from"] = f"{P}_power_import"
    else:
        source["stat_energy_from"] = f"{P}_power_import"
    await manager.async_update(preferences)  # type: ignore[arg-type]
    result = (await async_validate(hass)).as_dict()
    assert result["energy_sources"] != [[]]
