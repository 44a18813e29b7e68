"""Sensors: one declarative table, keyed by OBIS code, for every meter backend."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
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
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .coordinator import MeterState, SmartMeterConfigEntry, SmartMeterCoordinator
from .entity import SmartMeterEntity, async_add_new_entities
from .meters import ObisCode, obis as codes
from .virtual import circuit_share, unmeasured_power

# Entities only read the coordinator's data: no request per entity.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class MeterSensorEntityDescription(SensorEntityDescription):
    """How one quantity becomes a sensor."""

    value_fn: Callable[[MeterState], StateType | datetime]
    has_fn: Callable[[MeterState], bool]
    attributes_fn: Callable[[MeterState], dict[str, Any]] | None = None


def _reading(key: str, code: ObisCode, **kwargs: Any) -> MeterSensorEntityDescription:
    """A sensor for one OBIS-keyed reading, created only if the meter returns it."""
    return MeterSensorEntityDescription(
        key=key,
        translation_key=key,
        value_fn=lambda state: state.number(code),
        has_fn=lambda state: code in state.values,
        **kwargs,
    )


def _energy(key: str, code: ObisCode, **kwargs: Any) -> MeterSensorEntityDescription:
    return _reading(
        key,
        code,
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=3,
        **kwargs,
    )


def _power(key: str, code: ObisCode, **kwargs: Any) -> MeterSensorEntityDescription:
    return _reading(
        key,
        code,
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        **kwargs,
    )


def _phase(key: str, code: ObisCode, **kwargs: Any) -> MeterSensorEntityDescription:
    return _reading(
        key,
        code,
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        **kwargs,
    )


def _voltage(key: str, code: ObisCode) -> MeterSensorEntityDescription:
    return _phase(
        key,
        code,
        device_class=SensorDeviceClass.VOLTAGE,
        native_unit_of_measurement=UnitOfElectricPotential.VOLT,
        suggested_display_precision=1,
    )


def _current(key: str, code: ObisCode) -> MeterSensorEntityDescription:
    return _phase(
        key,
        code,
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=2,
    )


def _tariff(key: str, code: ObisCode) -> MeterSensorEntityDescription:
    return _energy(key, code, entity_registry_enabled_default=False)


_POWER: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER,
    "native_unit_of_measurement": UnitOfPower.WATT,
    "suggested_display_precision": 0,
}
_PF: dict[str, Any] = {
    "device_class": SensorDeviceClass.POWER_FACTOR,
    "suggested_display_precision": 3,
}

SENSORS: tuple[MeterSensorEntityDescription, ...] = (
    _energy("energy_import", codes.ENERGY_IMPORT),
    _energy("energy_export", codes.ENERGY_EXPORT),
    _tariff("energy_import_tariff_1", codes.obis("1-0:1.8.1")),
    _tariff("energy_import_tariff_2", codes.obis("1-0:1.8.2")),
    _tariff("energy_export_tariff_1", codes.obis("1-0:2.8.1")),
    _tariff("energy_export_tariff_2", codes.obis("1-0:2.8.2")),
    # |A+| + |A-| counts export as consumption: never offered as grid consumption.
    _tariff("energy_absolute", codes.ENERGY_ABSOLUTE),
    _power("power_import", codes.POWER_IMPORT),
    _power("power_export", codes.POWER_EXPORT),
    _power("power_net", codes.POWER_NET),
    _power("power_l1", codes.POWER_IMPORT_L1, entity_registry_enabled_default=False),
    _power("power_l2", codes.POWER_IMPORT_L2, entity_registry_enabled_default=False),
    _power("power_l3", codes.POWER_IMPORT_L3, entity_registry_enabled_default=False),
    _voltage("voltage_l1", codes.VOLTAGE_L1),
    _voltage("voltage_l2", codes.VOLTAGE_L2),
    _voltage("voltage_l3", codes.VOLTAGE_L3),
    _current("current_l1", codes.CURRENT_L1),
    _current("current_l2", codes.CURRENT_L2),
    _current("current_l3", codes.CURRENT_L3),
    _phase("power_net_l1", codes.obis("1-0:36.7.0"), **_POWER),
    _phase("power_net_l2", codes.obis("1-0:56.7.0"), **_POWER),
    _phase("power_net_l3", codes.obis("1-0:76.7.0"), **_POWER),
    _phase("power_factor_l1", codes.obis("1-0:33.7.0"), **_PF),
    _phase("power_factor_l2", codes.obis("1-0:53.7.0"), **_PF),
    _phase("power_factor_l3", codes.obis("1-0:73.7.0"), **_PF),
    _tariff("energy_import_l1", codes.obis("1-0:21.8.0")),
    _tariff("energy_import_l2", codes.obis("1-0:41.8.0")),
    _tariff("energy_import_l3", codes.obis("1-0:61.8.0")),
    _tariff("energy_export_l1", codes.obis("1-0:22.8.0")),
    _tariff("energy_export_l2", codes.obis("1-0:42.8.0")),
    _tariff("energy_export_l3", codes.obis("1-0:62.8.0")),
    # Xcel/Itron: time-of-use tiers 3 and 4 and the maximum demand of the billing period.
    _tariff("energy_import_tariff_3", codes.obis("1-0:1.8.3")),
    _tariff("energy_import_tariff_4", codes.obis("1-0:1.8.4")),
    _tariff("energy_export_tariff_3", codes.obis("1-0:2.8.3")),
    _tariff("energy_export_tariff_4", codes.obis("1-0:2.8.4")),
    _phase("max_demand_import", codes.obis("1-0:1.6.0"), **_POWER),
    _phase("max_demand_export", codes.obis("1-0:2.6.0"), **_POWER),
    _reading(
        "apparent_power",
        codes.obis("1-0:9.7.0"),
        device_class=SensorDeviceClass.APPARENT_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfApparentPower.VOLT_AMPERE,
        suggested_display_precision=0,
    ),
    _reading(
        "reactive_power",
        codes.obis("1-0:3.7.0"),
        device_class=SensorDeviceClass.REACTIVE_POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfReactivePower.VOLT_AMPERE_REACTIVE,
        suggested_display_precision=0,
    ),
    _reading(
        "power_factor",
        codes.POWER_FACTOR,
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=3,
    ),
    _reading(
        "frequency",
        codes.FREQUENCY,
        device_class=SensorDeviceClass.FREQUENCY,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfFrequency.HERTZ,
        suggested_display_precision=2,
    ),
)

LAST_READING = MeterSensorEntityDescription(
    key="last_reading",
    translation_key="last_reading",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
    value_fn=lambda state: state.timestamp,
    has_fn=lambda state: True,
)


def _night_attributes(state: MeterState) -> dict[str, Any]:
    analytics = state.analytics
    if analytics is None:
        return {}
    night = analytics.night
    return {
        "window": analytics.window,
        "night": night.night.isoformat() if night else None,
        "coverage": night.coverage if night else None,
    }


NIGHT_BASELINE = MeterSensorEntityDescription(
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


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add a sensor per quantity each meter returns; add more when new ones appear."""
    async_add_new_entities(
        entry,
        async_add_entities,
        (*SENSORS, LAST_READING, NIGHT_BASELINE),
        lambda description, state: description.has_fn(state),
        lambda coordinator, device_id, description: (
            LastReadingSensor
            if description in (LAST_READING, NIGHT_BASELINE)
            else MeterSensor
        )(coordinator, device_id, description),
    )
    _add_circuits(entry, async_add_entities)


def _add_circuits(
    entry: SmartMeterConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Per circuit of a virtual meter its share of total, and the unmeasured rest."""
    coordinator = entry.runtime_data
    added: set[str] = set()

    @callback
    def add_new() -> None:
        new: list[SensorEntity] = []
        for device_id, state in coordinator.data.devices.items():
            if state.data.channels and UNMEASURED.key not in added:
                added.add(UNMEASURED.key)
                new.append(MeterSensor(coordinator, device_id, UNMEASURED))
            for circuit in state.data.channels:
                if circuit not in added:
                    added.add(circuit)
                    new.append(CircuitShareSensor(coordinator, device_id, circuit))
        if new:
            async_add_entities(new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))


UNMEASURED = MeterSensorEntityDescription(
    key="unmeasured_power",
    translation_key="unmeasured_power",
    device_class=SensorDeviceClass.POWER,
    state_class=SensorStateClass.MEASUREMENT,
    native_unit_of_measurement=UnitOfPower.WATT,
    suggested_display_precision=0,
    value_fn=lambda state: unmeasured_power(state.data),
    has_fn=lambda state: bool(state.data.channels),
)


class MeterSensor(SmartMeterEntity, SensorEntity):
    """A reading of a meter; unavailable when the meter or the value is."""

    entity_description: MeterSensorEntityDescription

    @property
    def native_value(self) -> StateType | datetime:
        """The current value."""
        state = self.meter_state
        return None if state is None else self.entity_description.value_fn(state)

    @property
    def available(self) -> bool:
        """A value that is absent or was rejected is not shown, not even as 0."""
        return super().available and self.native_value is not None


class LastReadingSensor(MeterSensor):
    """A value about the past (last reading, last night): readable while the meter is away.

    Unknown, not unavailable, when there is no value (a night with too little data).
    """

    @property
    def available(self) -> bool:
        """Available once the meter has answered at least once."""
        return self.meter_state is not None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """Details, where the description has any (the night and its coverage)."""
        state, attributes_fn = self.meter_state, self.entity_description.attributes_fn
        return None if state is None or attributes_fn is None else attributes_fn(state)


class CircuitShareSensor(MeterSensor):
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
            MeterSensorEntityDescription(
                key=f"share_{circuit}",
                translation_key="circuit_share",
                translation_placeholders={
                    "circuit": source.name if source else circuit
                },
                native_unit_of_measurement=PERCENTAGE,
                state_class=SensorStateClass.MEASUREMENT,
                suggested_display_precision=1,
                value_fn=lambda state: circuit_share(state.data, circuit),
                has_fn=lambda state: circuit in state.data.channels,
            ),
        )

    @property
    def available(self) -> bool:
        """Available while the meter and the circuit's sensor are; unknown when total <= 0."""
        state = self.meter_state
        return (
            self.coordinator.last_update_success
            and self.device_id in self.coordinator.data.online
            and state is not None
            and state.data.channels.get(self._circuit) is not None
        )
