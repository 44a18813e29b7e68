"""Binary sensors: whether each meter answers."""

from __future__ import annotations

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


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each meter's connectivity sensor."""
    async_add_new_entities(
        entry,
        async_add_entities,
        (CONNECTIVITY,),
        lambda description, state: True,
        MeterConnectivity,
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
