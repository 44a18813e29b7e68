"""Sensors: what the user sees for each kind of meter.

A snapshot of the platform per kind of meter (every entity enabled), then what matters
about the values: units and classes, what is created, what is disabled by default.
What the values do when a meter misbehaves is tested with each kind (tests/kinds/),
the energy counters' guard in test_counters.py.
"""

from __future__ import annotations

from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from meter_sim.obis_http import SimulatedObisMeter

from .helpers import OBIS_PREFIX, SERIAL, START, setup_integration, state_of

P = f"sensor.{OBIS_PREFIX}"


@pytest.mark.freeze_time(START)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_sensors(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    kind_entry: MockConfigEntry,
) -> None:
    with patch("custom_components.smart_meter_hub.PLATFORMS", [Platform.SENSOR]):
        await setup_integration(hass, kind_entry)
    await snapshot_platform(hass, entity_registry, snapshot, kind_entry.entry_id)


async def test_values_units_and_classes(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    energy = hass.states.get(f"{P}_energy_import")
    assert energy is not None
    assert float(energy.state) == pytest.approx(meter.import_kwh, abs=1e-3)
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["state_class"] == "total_increasing"
    power = hass.states.get(f"{P}_power_import")
    assert power is not None
    assert float(power.state) == pytest.approx(meter.net_power_w(), abs=1)
    assert power.attributes["unit_of_measurement"] == "W"
    assert power.attributes["state_class"] == "measurement"
    assert float(state_of(hass, f"{P}_net_power")) == pytest.approx(
        meter.net_power_w(), abs=1
    )
    # Export counter of a home without solar: a true 0, shown as 0.
    assert float(state_of(hass, f"{P}_energy_export")) == 0.0
    assert float(state_of(hass, f"{P}_power_factor")) == pytest.approx(0.95, abs=0.01)
    assert float(state_of(hass, f"{P}_frequency")) == pytest.approx(50, abs=0.1)
    assert state_of(hass, f"binary_sensor.{OBIS_PREFIX}_connectivity") == STATE_ON


async def test_per_phase_and_absolute_energy_disabled_by_default(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    for key in (
        "voltage_l1",
        "current_l2",
        "power_l3",
        "absolute_energy_import_export",
    ):
        entry = entity_registry.async_get(f"{P}_{key}")
        assert entry is not None, key
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
        assert hass.states.get(f"{P}_{key}") is None


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_per_phase_values_when_enabled(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert 225 < float(state_of(hass, f"{P}_voltage_l1")) < 235
    assert float(state_of(hass, f"{P}_current_l1")) > 0
    assert float(state_of(hass, f"{P}_power_l1")) > 0


async def test_only_codes_the_meter_returns_get_entities(
    hass: HomeAssistant, meter: SimulatedObisMeter, config_entry: MockConfigEntry
) -> None:
    meter.missing = {"1-0:2.8.0", "1-0:14.7.0", "1-0:16.7.0", "1-0:2.7.0"}
    await setup_integration(hass, config_entry)
    assert hass.states.get(f"{P}_energy_export") is None
    assert hass.states.get(f"{P}_frequency") is None
    # Neither a net value nor an export value to derive it from: no net power.
    assert hass.states.get(f"{P}_net_power") is None
    assert hass.states.get(f"{P}_energy_import") is not None


async def test_unique_ids_come_from_the_serial_not_the_address(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = entity_registry.async_get(f"{P}_energy_import")
    assert entry is not None
    assert entry.unique_id == f"{SERIAL}_energy_import"
