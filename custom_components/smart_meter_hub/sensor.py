"""Sensors: declarative descriptions, one per quantity, for every kind of meter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.sensor import (
    DOMAIN as SENSOR_DOMAIN,
    RestoreSensor,
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    UnitOfApparentPower,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfFrequency,
    UnitOfPower,
    UnitOfReactivePower,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .appliances import ApplianceView
from .const import DOMAIN
from .coordinator import MeterState, SmartMeterConfigEntry, SmartMeterCoordinator
from .entity import SmartMeterEntity, async_add_new_entities
from .meters import ObisCode, obis

# Entities only read the coordinator's data: no request per entity.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class ReadingSensorDescription(SensorEntityDescription):
    """A quantity the meter reads, by its OBIS code; created if the meter answers it."""

    code: ObisCode


@dataclass(frozen=True, kw_only=True)
class DerivedSensorDescription(SensorEntityDescription):
    """A value computed from the meter's current state (live, like a reading)."""

    value_fn: Callable[[MeterState], StateType]
    has_fn: Callable[[MeterState], bool]


@dataclass(frozen=True, kw_only=True)
class HistorySensorDescription(SensorEntityDescription):
    """A value about the past (the last reading, last night): shown while the meter is away."""

    value_fn: Callable[[MeterState], StateType | datetime]
    has_fn: Callable[[MeterState], bool]
    attributes_fn: Callable[[MeterState], dict[str, Any]] | None = None


READINGS: tuple[ReadingSensorDescription, ...] = (
    ReadingSensorDescription(
        key="energy_import",
        translation_key="energy_import",
        code=obis.ENERGY_IMPORT,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
    ),
    ReadingSensorDescription(
        key="energy_export",
        translation_key="energy_export",
        code=obis.ENERGY_EXPORT,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
    ),
    ReadingSensorDescription(
        key="energy_import_tariff_1",
        translation_key="energy_import_tariff_1",
        code=obis.obis("1-0:1.8.1"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_import_tariff_2",
        translation_key="energy_import_tariff_2",
        code=obis.obis("1-0:1.8.2"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_tariff_1",
        translation_key="energy_export_tariff_1",
        code=obis.obis("1-0:2.8.1"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_tariff_2",
        translation_key="energy_export_tariff_2",
        code=obis.obis("1-0:2.8.2"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    # |A+| + |A-| counts export as consumption: never offered as grid consumption.
    ReadingSensorDescription(
        key="energy_absolute",
        translation_key="energy_absolute",
        code=obis.ENERGY_ABSOLUTE,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_import",
        translation_key="power_import",
        code=obis.POWER_IMPORT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    ),
    ReadingSensorDescription(
        key="power_export",
        translation_key="power_export",
        code=obis.POWER_EXPORT,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    ),
    ReadingSensorDescription(
        key="power_net",
        translation_key="power_net",
        code=obis.POWER_NET,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
    ),
    # Per phase: disabled by default.
    ReadingSensorDescription(
        key="power_l1",
        translation_key="power_l1",
        code=obis.POWER_IMPORT_L1,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_l2",
        translation_key="power_l2",
        code=obis.POWER_IMPORT_L2,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_l3",
        translation_key="power_l3",
        code=obis.POWER_IMPORT_L3,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    # Single-phase meters: voltage and current of their one phase.
    ReadingSensorDescription(
        key="voltage",
        translation_key="voltage",
        code=obis.VOLTAGE,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
    ),
    ReadingSensorDescription(
        key="voltage_l1",
        translation_key="voltage_l1",
        code=obis.VOLTAGE_L1,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="voltage_l2",
        translation_key="voltage_l2",
        code=obis.VOLTAGE_L2,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="voltage_l3",
        translation_key="voltage_l3",
        code=obis.VOLTAGE_L3,
        device_class=SensorDeviceClass.VOLTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="current",
        translation_key="current",
        code=obis.CURRENT,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
    ),
    ReadingSensorDescription(
        key="current_l1",
        translation_key="current_l1",
        code=obis.CURRENT_L1,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="current_l2",
        translation_key="current_l2",
        code=obis.CURRENT_L2,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="current_l3",
        translation_key="current_l3",
        code=obis.CURRENT_L3,
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_net_l1",
        translation_key="power_net_l1",
        code=obis.obis("1-0:36.7.0"),
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_net_l2",
        translation_key="power_net_l2",
        code=obis.obis("1-0:56.7.0"),
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_net_l3",
        translation_key="power_net_l3",
        code=obis.obis("1-0:76.7.0"),
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_factor_l1",
        translation_key="power_factor_l1",
        code=obis.obis("1-0:33.7.0"),
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_factor_l2",
        translation_key="power_factor_l2",
        code=obis.obis("1-0:53.7.0"),
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_factor_l3",
        translation_key="power_factor_l3",
        code=obis.obis("1-0:73.7.0"),
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_import_l1",
        translation_key="energy_import_l1",
        code=obis.obis("1-0:21.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_import_l2",
        translation_key="energy_import_l2",
        code=obis.obis("1-0:41.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_import_l3",
        translation_key="energy_import_l3",
        code=obis.obis("1-0:61.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_l1",
        translation_key="energy_export_l1",
        code=obis.obis("1-0:22.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_l2",
        translation_key="energy_export_l2",
        code=obis.obis("1-0:42.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_l3",
        translation_key="energy_export_l3",
        code=obis.obis("1-0:62.8.0"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    # Time-of-use tiers 3 and 4 and the maximum demand of the billing period (Itron).
    ReadingSensorDescription(
        key="energy_import_tariff_3",
        translation_key="energy_import_tariff_3",
        code=obis.obis("1-0:1.8.3"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_import_tariff_4",
        translation_key="energy_import_tariff_4",
        code=obis.obis("1-0:1.8.4"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_tariff_3",
        translation_key="energy_export_tariff_3",
        code=obis.obis("1-0:2.8.3"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="energy_export_tariff_4",
        translation_key="energy_export_tariff_4",
        code=obis.obis("1-0:2.8.4"),
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="max_demand_import",
        translation_key="max_demand_import",
        code=obis.obis("1-0:1.6.0"),
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="max_demand_export",
        translation_key="max_demand_export",
        code=obis.obis("1-0:2.6.0"),
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="apparent_power",
        translation_key="apparent_power",
        code=obis.obis("1-0:9.7.0"),
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="reactive_power",
        translation_key="reactive_power",
        code=obis.obis("1-0:3.7.0"),
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        suggested_display_precision=0,
        entity_registry_enabled_default=False,
    ),
    ReadingSensorDescription(
        key="power_factor",
        translation_key="power_factor",
        code=obis.POWER_FACTOR,
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
    ),
    ReadingSensorDescription(
        key="frequency",
        translation_key="frequency",
        code=obis.FREQUENCY,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
    ),
)

# Changes at every poll: disabled by default, so the logbook is not flooded (the
# connectivity sensor says whether the meter answers; diagnostics, when it last did).
LAST_READING = HistorySensorDescription(
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
    value_fn=lambda state: state.timestamp,
    # Once the meter has answered (not while it waits for an approval).
    has_fn=lambda state: bool(state.data.readings),
)


def _night_attributes(state: MeterState) -> dict[str, Any]:
    """The night it is about, its window, how much of it was seen, when the next is due."""
    analytics = state.analytics
    if analytics is None:
        return {}
    night = analytics.night
    return {
        "window": analytics.window,
        "night": night.night.isoformat() if night else None,
        "coverage": round(night.coverage * 100, 1) if night else None,
        "next_night_at": analytics.next_night_at.isoformat(),
    }


NIGHT_BASELINE = HistorySensorDescription(
    key="night_baseline",
    translation_key="night_baseline",
    device_class=SensorDeviceClass.POWER,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    value_fn=lambda state: (
        state.analytics.night.baseline_w
        if state.analytics and state.analytics.night
        else None
    ),
    has_fn=lambda state: state.analytics is not None,
    attributes_fn=_night_attributes,
)

UNMEASURED = DerivedSensorDescription(
    key="unmeasured_power",
    translation_key="unmeasured_power",
    device_class=SensorDeviceClass.POWER,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    value_fn=lambda state: state.unmeasured_power(),
    # Added by the appliances' adder: appliances are chosen while the meter runs.
    has_fn=lambda state: bool(state.data.channels or state.appliances),
)

type Description = (
    ReadingSensorDescription | DerivedSensorDescription | HistorySensorDescription
)


def _has(description: Description, state: MeterState) -> bool:
    if isinstance(description, ReadingSensorDescription):
        return description.code in state.values
    return description.has_fn(state)


def _entity(
    coordinator: SmartMeterCoordinator, device_id: str, description: Description
) -> SmartMeterEntity:
    if isinstance(description, ReadingSensorDescription):
        return ReadingSensor(coordinator, device_id, description)
    if isinstance(description, HistorySensorDescription):
        return HistorySensor(coordinator, device_id, description)
    return DerivedSensor(coordinator, device_id, description)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor per quantity each meter returns; add more when new ones appear."""
    descriptions: tuple[Description, ...] = (
        *READINGS,
        LAST_READING,
        NIGHT_BASELINE,
    )
    async_add_new_entities(entry, async_add_entities, descriptions, _has, _entity)
    _add_circuits(entry, async_add_entities)
    _add_appliances(entry, async_add_entities)


def _add_circuits(
    entry: SmartMeterConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Per circuit of a meter its share of whole-home power."""
    coordinator = entry.runtime_data
    added: set[str] = set()

    @callback
    def add_new() -> None:
        new: list[SensorEntity] = []
        for device_id, state in coordinator.data.devices.items():
            for circuit in state.data.channels:
                if circuit not in added:
                    added.add(circuit)
                    new.append(CircuitShareSensor(coordinator, device_id, circuit))
        if new:
            async_add_entities(new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


class MeterSensor(SmartMeterEntity, SensorEntity):
    """A sensor of one meter; its value is computed once per update."""

    def _shown(self) -> tuple[object, ...]:
        return (*super()._shown(), self._attr_native_value)


class ReadingSensor(MeterSensor):
    """A reading of a meter; unavailable when the meter or the value is."""

    entity_description: ReadingSensorDescription

    def _update_attrs(self) -> None:
        """A value that is absent or was rejected is not shown, not even as 0."""
        state = self.meter_state
        value = None if state is None else state.number(self.entity_description.code)
        self._attr_native_value = value
        self._attr_available = self.online and value is not None


class DerivedSensor(MeterSensor):
    """A value computed from a meter's current state; unavailable without one."""

    entity_description: DerivedSensorDescription

    def _update_attrs(self) -> None:
        """Unavailable while the meter is, or while the value cannot be computed."""
        state = self.meter_state
        value = None if state is None else self.entity_description.value_fn(state)
        self._attr_native_value = value
        self._attr_available = self.online and value is not None


class HistorySensor(MeterSensor):
    """A value about the past: readable while the meter is away.

    Unknown, not unavailable, when there is no value (a night with too little data).
    """

    entity_description: HistorySensorDescription

    def _update_attrs(self) -> None:
        """Available once the meter has answered at least once; details attached."""
        state = self.meter_state
        description = self.entity_description
        self._attr_available = state is not None
        self._attr_native_value = None if state is None else description.value_fn(state)
        self._attr_extra_state_attributes = (
            {}
            if state is None or description.attributes_fn is None
            else description.attributes_fn(state)
        )


class CircuitShareSensor(DerivedSensor):
    """One circuit's share of whole-home power, in %."""

    def __init__(
        self, coordinator: SmartMeterCoordinator, device_id: str, circuit: str
    ) -> None:
        """Name the sensor after the circuit's sensor."""
        self._circuit = circuit
        source = coordinator.hass.states.get(circuit)
        super().__init__(
            coordinator,
            device_id,
            DerivedSensorDescription(
                key=f"share_{circuit}",
                translation_key="circuit_share",
                translation_placeholders={
                    "circuit": source.name if source else circuit
                },
                native_unit_of_measurement=PERCENTAGE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                value_fn=lambda state: state.circuit_share(circuit),
                has_fn=lambda state: circuit in state.data.channels,
            ),
        )

    def _update_attrs(self) -> None:
        """Available while the meter and the circuit's sensor are; unknown when total <= 0."""
        super()._update_attrs()
        state = self.meter_state
        self._attr_available = (
            self.online
            and state is not None
            and state.data.channels.get(self._circuit) is not None
        )


# Appliance learning: per watched entity (options) and meter, its learned power, its
# estimated power and energy; observations and spread as diagnostics.


@dataclass(frozen=True, kw_only=True)
class ApplianceSensorDescription(SensorEntityDescription):
    """A value about one watched entity; the key is suffixed to its entity id."""

    value_fn: Callable[[ApplianceView], StateType]


APPLIANCE_LEARNED_POWER = ApplianceSensorDescription(
    key="learned_power",
    translation_key="appliance_learned_power",
    device_class=SensorDeviceClass.POWER,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    value_fn=lambda view: view.learned_power_w,
)
# Both change with every observation: diagnostics, disabled by default.
APPLIANCE_OBSERVATIONS = ApplianceSensorDescription(
    key="observations",
    translation_key="appliance_observations",
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
    value_fn=lambda view: view.observations,
)
APPLIANCE_SPREAD = ApplianceSensorDescription(
    key="spread",
    translation_key="appliance_spread",
    device_class=SensorDeviceClass.POWER,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    entity_category=EntityCategory.DIAGNOSTIC,
    entity_registry_enabled_default=False,
    value_fn=lambda view: view.spread_w,
)
APPLIANCE_ESTIMATED_POWER = ApplianceSensorDescription(
    key="estimated_power",
    translation_key="appliance_estimated_power",
    device_class=SensorDeviceClass.POWER,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    value_fn=lambda view: view.power_w,
)
# Wh resolution: a small appliance does not write a state at every poll.
APPLIANCE_ESTIMATED_ENERGY = ApplianceSensorDescription(
    key="estimated_energy",
    translation_key="appliance_estimated_energy",
    device_class=SensorDeviceClass.ENERGY,
    state_class=SensorStateClass.TOTAL_INCREASING,
    native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
    suggested_display_precision=3,
    value_fn=lambda view: round(view.energy_kwh, 3),
)
APPLIANCE_SENSORS: tuple[ApplianceSensorDescription, ...] = (
    APPLIANCE_LEARNED_POWER,
    APPLIANCE_OBSERVATIONS,
    APPLIANCE_SPREAD,
    APPLIANCE_ESTIMATED_POWER,
    APPLIANCE_ESTIMATED_ENERGY,
)


def _add_appliances(
    entry: SmartMeterConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Per meter and watched entity its sensors, as entities are chosen or un-chosen.

    Also the meter's unmeasured power, once it has circuits or watched entities.
    """
    coordinator = entry.runtime_data
    registry = er.async_get(coordinator.hass)
    added: dict[tuple[str, str], list[str]] = {}
    unmeasured: set[str] = set()

    @callback
    def sync() -> None:
        new: list[SensorEntity] = []
        current: set[tuple[str, str]] = set()
        for device_id, state in coordinator.data.devices.items():
            if device_id not in unmeasured and UNMEASURED.has_fn(state):
                unmeasured.add(device_id)
                new.append(DerivedSensor(coordinator, device_id, UNMEASURED))
            for appliance in state.appliances:
                current.add((device_id, appliance))
                if (device_id, appliance) in added:
                    continue
                entities = [
                    _appliance_sensor(coordinator, device_id, appliance, description)
                    for description in APPLIANCE_SENSORS
                ]
                added[device_id, appliance] = [str(e.unique_id) for e in entities]
                new.extend(entities)
        for key in [key for key in added if key not in current]:
            # Un-chosen: its entities go (from the registry too, no orphan is left).
            for unique_id in added.pop(key):
                entity_id = registry.async_get_entity_id(
                    SENSOR_DOMAIN, DOMAIN, unique_id
                )
                if entity_id is not None:
                    registry.async_remove(entity_id)
        if new:
            async_add_entities(new)

    sync()
    entry.async_on_unload(coordinator.async_add_listener(sync))


def _appliance_sensor(
    coordinator: SmartMeterCoordinator,
    device_id: str,
    appliance: str,
    description: ApplianceSensorDescription,
) -> ApplianceSensor:
    if description is APPLIANCE_ESTIMATED_ENERGY:
        return ApplianceEnergySensor(coordinator, device_id, appliance, description)
    return ApplianceSensor(coordinator, device_id, appliance, description)


class ApplianceSensor(MeterSensor):
    """A value about one watched entity, on the meter's device.

    Named after the entity; the unique id is the meter's device id and the entity id.
    Readable while the meter is away (it is about the appliance, not the reading).
    """

    entity_description: ApplianceSensorDescription

    def __init__(
        self,
        coordinator: SmartMeterCoordinator,
        device_id: str,
        appliance: str,
        description: ApplianceSensorDescription,
    ) -> None:
        """Key the description to the watched entity; name it after the entity."""
        self.appliance = appliance
        source = coordinator.hass.states.get(appliance)
        super().__init__(
            coordinator,
            device_id,
            replace(
                description,
                key=f"appliance_{appliance}_{description.key}",
                translation_placeholders={
                    "appliance": source.name if source else appliance
                },
            ),
        )

    @property
    def view(self) -> ApplianceView | None:
        """What appliance learning knows of the entity on this meter."""
        state = self.meter_state
        return None if state is None else state.appliances.get(self.appliance)

    def _update_attrs(self) -> None:
        """Available once the meter has answered; unknown until learned."""
        view = self.view
        self._attr_available = view is not None
        self._attr_native_value = (
            None if view is None else self.entity_description.value_fn(view)
        )


class ApplianceEnergySensor(ApplianceSensor, RestoreSensor):
    """Estimated energy: continues from the last state if that is above what was saved.

    The learned appliances are saved every 15 minutes at most; Home Assistant's own last
    state may be newer (written on the same cadence, at other moments): the counter
    never goes back.
    """

    async def async_added_to_hass(self) -> None:
        """Take the last state before the first one is written."""
        last = await self.async_get_last_sensor_data()
        value = last.native_value if last is not None else None
        if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
            self.coordinator.appliances.restore_energy(
                self.device_id, self.appliance, float(value)
            )
        await super().async_added_to_hass()
