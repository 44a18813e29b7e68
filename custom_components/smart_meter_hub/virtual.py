"""The virtual meter: power and energy sensors another integration already provides.

No polling: every state change of a source sensor refreshes the meter. Its whole-home
power feeds the same analytics as a real meter; optional circuit power sensors give a
share of total each, and the power no circuit measures.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter

from .const import CONF_CIRCUITS, CONF_ENERGY_ENTITY, CONF_POWER_ENTITY
from .meters import MeterConnectionError, MeterData, Reading
from .meters.obis import ENERGY_IMPORT, POWER_NET

MODEL = "Virtual meter"


def state_in(hass: HomeAssistant, entity_id: str, unit: str) -> float | None:
    """A sensor's state converted to ``unit`` (W or kWh), or None if unusable."""
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    source = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    converter = PowerConverter if unit == UnitOfPower.WATT else EnergyConverter
    if source not in converter.VALID_UNITS:
        return None
    return converter.convert(value, source, unit)


class VirtualBackend:
    """Reads the source sensors' current states (no I/O)."""

    def __init__(
        self,
        hass: HomeAssistant,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
        device_id: str,
    ) -> None:
        """Remember the sources."""
        self.hass = hass
        self.device_id = device_id
        self.power_entity: str = data[CONF_POWER_ENTITY]
        self.energy_entity: str | None = data.get(CONF_ENERGY_ENTITY)
        self.circuits: list[str] = []
        self._refresh: Callable[[], Any] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.apply_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take the circuits the user chose, and follow them from now on."""
        self.circuits = [
            circuit
            for circuit in options.get(CONF_CIRCUITS) or []
            if circuit != self.power_entity
        ]
        if self._refresh is not None:
            self.async_start(self._refresh)

    @property
    def sources(self) -> list[str]:
        """Every sensor the meter follows."""
        return [self.power_entity, *filter(None, [self.energy_entity]), *self.circuits]

    @callback
    def async_start(self, refresh: Callable[[], Any]) -> None:
        """Call ``refresh`` on every state change of a source."""

        @callback
        def changed(event: Event[EventStateChangedData]) -> None:
            refresh()

        if self._unsubscribe is not None:
            self._unsubscribe()
        self._refresh = refresh
        self._unsubscribe = async_track_state_change_event(
            self.hass, self.sources, changed
        )

    async def fetch(self) -> dict[str, MeterData]:
        """The sources' states as one reading; unavailable when the power sensor is."""
        power = state_in(self.hass, self.power_entity, UnitOfPower.WATT)
        if power is None:
            raise MeterConnectionError(f"{self.power_entity} has no usable power value")
        readings = {POWER_NET: Reading(power, UnitOfPower.WATT)}
        if self.energy_entity:
            energy = state_in(
                self.hass, self.energy_entity, UnitOfEnergy.KILO_WATT_HOUR
            )
            readings[ENERGY_IMPORT] = Reading(energy, UnitOfEnergy.KILO_WATT_HOUR)
        channels = {
            circuit: state_in(self.hass, circuit, UnitOfPower.WATT)
            for circuit in self.circuits
        }
        return {
            self.device_id: MeterData(
                readings=readings, serial=self.device_id, model=MODEL, channels=channels
            )
        }

    async def async_close(self) -> None:
        """Stop following the sources."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = self._refresh = None


def circuit_share(data: MeterData, circuit: str) -> float | None:
    """The circuit's share of whole-home power in %, clamped; None when total <= 0."""
    total, part = data.number(POWER_NET), data.channels.get(circuit)
    if total is None or part is None or total <= 0:
        return None
    return round(min(max(part / total * 100, 0.0), 100.0), 1)


def unmeasured_power(data: MeterData) -> float | None:
    """Whole-home power no circuit measures (never negative); None if a part is unknown."""
    total = data.number(POWER_NET)
    parts = list(data.channels.values())
    if total is None or any(part is None for part in parts):
        return None
    return max(total - sum(part for part in parts if part is not None), 0.0)
