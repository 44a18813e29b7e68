"""Binary sensors: whether each meter answers."""

from __future__ import annotations

from typing import Any

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined, unused-ignore]
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SmartMeterConfigEntry
from .entity import SmartMeterEntity, async_add_new_entities

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)
PHANTOM_LOAD = BinarySensorEntityDescription(
    key="phantom_load", translation_key="phantom_load"
)
HIGH_CONSUMPTION = BinarySensorEntityDescription(
    key="high_consumption", translation_key="high_consumption"
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each meter's connectivity sensor, and its load analytics."""
    async_add_new_entities(
        entry,
        async_add_entities,
        (CONNECTIVITY, PHANTOM_LOAD, HIGH_CONSUMPTION),
        lambda description, state: (
            description is CONNECTIVITY or state.analytics is not None
        ),
        lambda coordinator, device_id, description: {
            CONNECTIVITY.key: MeterConnectivity,
            PHANTOM_LOAD.key: PhantomLoad,
            HIGH_CONSUMPTION.key: HighConsumptionSensor,
        }[description.key](coordinator, device_id, description),
    )


class MeterConnectivity(SmartMeterEntity, BinarySensorEntity):
    """On while the meter answers; always available, so 'offline' can be seen."""

    @property
    def available(self) -> bool:
        """The sensor itself is always available: it reports the meter's state."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the meter answered the last poll."""
        return (
            self.coordinator.last_update_success
            and self.device_id in self.coordinator.data.online
        )


class PhantomLoad(SmartMeterEntity, BinarySensorEntity):
    """On when last night's baseline was above the threshold; unknown without one."""

    @property
    def available(self) -> bool:
        """About last night: readable while the meter is away."""
        return self.meter_state is not None

    @property
    def is_on(self) -> bool | None:
        """Whether the standby load is too high."""
        state = self.meter_state
        return state.analytics.phantom if state and state.analytics else None

    @property
    def extra_state_attributes(self) -> dict[str, Any] | None:
        """The baseline it is judged on, the threshold and the window."""
        state = self.meter_state
        if state is None or state.analytics is None:
            return None
        analytics = state.analytics
        return {
            "baseline": analytics.night.baseline_w if analytics.night else None,
            "threshold": analytics.phantom_threshold_w,
            "window": analytics.window,
        }


class HighConsumptionSensor(SmartMeterEntity, BinarySensorEntity):
    """On while whole-home power stays above the threshold (with delay and hysteresis)."""

    @property
    def is_on(self) -> bool | None:
        """Whether consumption is high."""
        state = self.meter_state
        return state.analytics.high if state and state.analytics else None
