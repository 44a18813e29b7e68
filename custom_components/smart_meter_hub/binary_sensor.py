"""Binary sensors: whether the meter answers."""

from __future__ import annotations

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import SmartMeterConfigEntry, SmartMeterCoordinator
from .entity import SmartMeterEntity

PARALLEL_UPDATES = 0

CONNECTIVITY = BinarySensorEntityDescription(
    key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the meter's connectivity sensor."""
    async_add_entities([MeterConnectivity(entry.runtime_data)])


class MeterConnectivity(SmartMeterEntity, BinarySensorEntity):
    """On while the meter answers; always available, so 'offline' can be seen."""

    entity_description = CONNECTIVITY

    def __init__(self, coordinator: SmartMeterCoordinator) -> None:
        """Describe the sensor."""
        super().__init__(coordinator, CONNECTIVITY.key)

    @property
    def available(self) -> bool:
        """The sensor itself is always available: it reports the meter's state."""
        return True

    @property
    def is_on(self) -> bool:
        """Whether the last poll succeeded."""
        return self.coordinator.last_update_success
