"""The base entity: one device per meter, identified by its serial number."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import MeterState, SmartMeterConfigEntry, SmartMeterCoordinator


@lru_cache(maxsize=4096)
def _device_info(
    device_id: str,
    name: str,
    manufacturer: str | None,
    model: str | None,
    serial_number: str | None,
    sw_version: str | None,
) -> DeviceInfo:
    """One device's info, one dict for all its entities (read only when they are added).

    A meter has twenty entities: twenty copies of the same dict were 15 KiB a meter.
    """
    return DeviceInfo(
        identifiers={(DOMAIN, device_id)},
        name=name,
        manufacturer=manufacturer,
        model=model,
        serial_number=serial_number,
        sw_version=sw_version,
    )


class SmartMeterEntity(CoordinatorEntity[SmartMeterCoordinator]):
    """An entity of one meter (one device) of an entry."""

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: SmartMeterCoordinator,
        device_id: str,
        description: EntityDescription,
    ) -> None:
        """Attach to the meter's device; the unique id is its serial + the key."""
        super().__init__(coordinator)
        self.entity_description = description
        self.device_id = device_id
        self._attr_unique_id = f"{device_id}_{description.key}"
        state = coordinator.data.devices.get(device_id)
        data = state.data if state else None
        self._attr_device_info = _device_info(
            device_id,
            (data.name if data else None) or coordinator.config_entry.title,
            data.manufacturer if data else None,
            data.model if data else None,
            # A meter's serial number; none for a meter made of other sensors.
            data.serial if data else None,
            data.firmware if data else None,
        )

    @property
    def meter_state(self) -> MeterState | None:
        """The device's last good state."""
        return self.coordinator.data.devices.get(self.device_id)

    @property
    def online(self) -> bool:
        """Whether the device answered the last poll."""
        return (
            self.coordinator.last_update_success
            and self.device_id in self.coordinator.data.online
        )

    @property
    def available(self) -> bool:
        """As computed at the last update (see :meth:`_update_attrs`)."""
        return self._attr_available

    def _update_attrs(self) -> None:
        """Compute what the entity shows from the coordinator's data.

        Subclasses set their value (and attributes) here, once per update; the
        default is available while the device answered the last poll.
        """
        self._attr_available = self.online

    def _shown(self) -> tuple[object, ...]:
        """What a state write would show: compared before writing."""
        return (
            self._attr_available,
            getattr(self, "_attr_extra_state_attributes", None),
        )

    async def async_added_to_hass(self) -> None:
        """Compute the first state before it is written."""
        self._update_attrs()
        self._last_shown = self._shown()
        await super().async_added_to_hass()

    @callback
    def _handle_coordinator_update(self) -> None:
        """Write the state only when something it shows changed (one write per change)."""
        self._update_attrs()
        if (shown := self._shown()) != self._last_shown:
            self._last_shown = shown
            self.async_write_ha_state()


type EntityFactory[DescriptionT: EntityDescription] = Callable[
    [SmartMeterCoordinator, str, DescriptionT], SmartMeterEntity
]


def async_add_new_entities[DescriptionT: EntityDescription](
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
    descriptions: Iterable[DescriptionT],
    has_fn: Callable[[DescriptionT, MeterState], bool],
    entity: EntityFactory[DescriptionT],
) -> None:
    """Add an entity per device and description it has, now and when new ones appear.

    A meter that starts answering a quantity (new options, a firmware update) or a new
    device on a gateway gets its entities without a reload.
    """
    coordinator = entry.runtime_data
    table = tuple(descriptions)
    added: set[tuple[str, str]] = set()
    # What each device's entities depend on, when last looked at: most polls change
    # none of it, and then no description needs asking.
    shapes: dict[str, object] = {}

    @callback
    def add_new() -> None:
        new: list[SmartMeterEntity] = []
        for device_id, state in coordinator.data.devices.items():
            shape = (
                frozenset(state.values),
                state.analytics is not None,
                frozenset(state.data.channels),
            )
            if shapes.get(device_id) == shape:
                continue
            shapes[device_id] = shape
            for description in table:
                key = (device_id, description.key)
                if key not in added and has_fn(description, state):
                    added.add(key)
                    new.append(entity(coordinator, device_id, description))
        if new:
            async_add_entities(new)

    add_new()
    entry.async_on_unload(coordinator.async_add_listener(add_new))
