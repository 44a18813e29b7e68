"""Binary sensors: whether each meter answers, and its load analytics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from homeassistant.components.binary_sensor import (  # type: ignore[attr-defined, unused-ignore]
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import MeterState, SmartMeterConfigEntry, SmartMeterCoordinator
from .entity import SmartMeterEntity, async_add_new_entities

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class MeterBinarySensorDescription(BinarySensorEntityDescription):
    """How one yes/no fact about a meter becomes a binary sensor.

    ``is_on_fn`` gets the meter's last good state and whether it answered the last
    poll. ``always_available``: the fact stays readable while the meter is away
    (connectivity itself; last night's phantom load).
    """

    is_on_fn: Callable[[MeterState, bool], bool | None]
    has_fn: Callable[[MeterState], bool] = lambda state: state.analytics is not None
    attributes_fn: Callable[[MeterState], dict[str, Any] | None] = lambda state: None
    always_available: bool = False


def _phantom_attributes(state: MeterState) -> dict[str, Any] | None:
    """The baseline it is judged on, against what, over which window; the next one."""
    analytics = state.analytics
    if analytics is None:
        return None
    return {
        "baseline": analytics.night.baseline_w if analytics.night else None,
        "threshold": analytics.phantom_threshold_w,
        "window": analytics.window,
        "next_night_at": analytics.next_night_at.isoformat(),
    }


def _high_attributes(state: MeterState) -> dict[str, Any] | None:
    """What high consumption is judged against."""
    analytics = state.analytics
    if analytics is None:
        return None
    return {
        "threshold": analytics.high_threshold_w,
        "delay": analytics.high_delay_s,
        "hysteresis": analytics.high_hysteresis_w,
    }


CONNECTIVITY = MeterBinarySensorDescription(
    key="connectivity",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
    entity_category=EntityCategory.DIAGNOSTIC,
    is_on_fn=lambda state, online: online,
    has_fn=lambda state: True,
    always_available=True,
)
BINARY_SENSORS: tuple[MeterBinarySensorDescription, ...] = (
    CONNECTIVITY,
    MeterBinarySensorDescription(
        key="phantom_load",
        translation_key="phantom_load",
        is_on_fn=lambda state, online: (
            state.analytics.phantom if state.analytics else None
        ),
        attributes_fn=_phantom_attributes,
        always_available=True,
    ),
    MeterBinarySensorDescription(
        key="high_consumption",
        translation_key="high_consumption",
        is_on_fn=lambda state, online: (
            state.analytics.high if state.analytics else None
        ),
        attributes_fn=_high_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add each meter's connectivity sensor, and its load analytics.

    A meter that is not polled (it follows other sensors) has no connection of its
    own to report: no connectivity sensor (one an older version made is removed).
    """
    descriptions = BINARY_SENSORS
    if entry.runtime_data.kind.default_interval is None:
        descriptions = tuple(d for d in BINARY_SENSORS if d is not CONNECTIVITY)
        registry = er.async_get(hass)
        for device_id in entry.runtime_data.data.devices:
            unique_id = f"{device_id}_{CONNECTIVITY.key}"
            if entity_id := registry.async_get_entity_id(
                "binary_sensor", DOMAIN, unique_id
            ):
                registry.async_remove(entity_id)
    async_add_new_entities(
        entry,
        async_add_entities,
        descriptions,
        lambda description, state: description.has_fn(state),
        MeterBinarySensor,
    )


class MeterBinarySensor(SmartMeterEntity, BinarySensorEntity):
    """A yes/no fact about one meter."""

    entity_description: MeterBinarySensorDescription

    def __init__(
        self,
        coordinator: SmartMeterCoordinator,
        device_id: str,
        description: MeterBinarySensorDescription,
    ) -> None:
        """Attach to the meter's device."""
        super().__init__(coordinator, device_id, description)

    def _update_attrs(self) -> None:
        """The fact, from the meter's last good state; readable while away if it may."""
        state = self.meter_state
        description = self.entity_description
        self._attr_available = (
            state is not None if description.always_available else self.online
        )
        self._attr_is_on = (
            None if state is None else description.is_on_fn(state, self.online)
        )
        self._attr_extra_state_attributes = (
            {} if state is None else description.attributes_fn(state) or {}
        )

    def _shown(self) -> tuple[object, ...]:
        return (*super()._shown(), self._attr_is_on)
