"""The base entity: one device per meter, identified by its serial number."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import SmartMeterCoordinator


class SmartMeterEntity(CoordinatorEntity[SmartMeterCoordinator]):
    """An entity of one meter."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: SmartMeterCoordinator, key: str) -> None:
        """Attach to the meter's device; the unique id is serial + key."""
        super().__init__(coordinator)
        entry = coordinator.config_entry
        serial = entry.unique_id or entry.entry_id
        data = coordinator.data.data if coordinator.data else None
        self._attr_unique_id = f"{serial}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, serial)},
            name=entry.title,
            manufacturer=data.manufacturer if data else None,
            model=data.model if data else None,
            serial_number=serial,
            sw_version=data.firmware if data else None,
        )
