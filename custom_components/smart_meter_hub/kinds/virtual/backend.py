"""Following the source sensors of a virtual meter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from homeassistant.const import UnitOfEnergy, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers.event import async_track_state_change_event

from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterBackend
from ...meters import MeterConnectionError, MeterData, Reading, obis
from .const import (
    CONF_CIRCUITS,
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    MODEL,
    state_in,
)


class VirtualBackend(MeterBackend):
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
        self._refresh: Callable[[], object] | None = None
        self._unsubscribe: CALLBACK_TYPE | None = None
        self.apply_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take the circuits the user chose, and follow them from now on."""
        self.circuits = [
            circuit
            for circuit in options.get(CONF_CIRCUITS) or []
            if circuit != self.power_entity
        ]
        if self._refresh is not None:
            self.subscribe(self._refresh)

    @property
    def sources(self) -> list[str]:
        """Every sensor the meter follows."""
        return [self.power_entity, *filter(None, [self.energy_entity]), *self.circuits]

    def subscribe(self, refresh: Callable[[], object]) -> CALLBACK_TYPE:
        """Call ``refresh`` on every state change of a source."""

        @callback
        def changed(event: Event[EventStateChangedData]) -> None:
            refresh()

        self._stop()
        self._refresh = refresh
        self._unsubscribe = async_track_state_change_event(
            self.hass, self.sources, changed
        )
        return self._stop

    @callback
    def _stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = None

    async def fetch(self) -> dict[str, MeterData]:
        """The sources' states as one reading; unavailable when the power sensor is."""
        power = state_in(self.hass, self.power_entity, UnitOfPower.WATT)
        if power is None:
            raise MeterConnectionError(f"{self.power_entity} has no usable power value")
        readings = {obis.POWER_NET: Reading(power, UnitOfPower.WATT)}
        if self.energy_entity:
            energy = state_in(
                self.hass, self.energy_entity, UnitOfEnergy.KILO_WATT_HOUR
            )
            readings[obis.ENERGY_IMPORT] = Reading(energy, UnitOfEnergy.KILO_WATT_HOUR)
        channels = {
            circuit: state_in(self.hass, circuit, UnitOfPower.WATT)
            for circuit in self.circuits
        }
        return {
            self.device_id: MeterData(readings=readings, model=MODEL, channels=channels)
        }

    async def async_close(self) -> None:
        """Stop following the sources."""
        self._stop()
        self._refresh = None


async def async_create_backend(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> MeterBackend:
    """The entry's backend; it follows the sources once subscribed."""
    return VirtualBackend(
        hass, entry.data, entry.options, entry.unique_id or entry.entry_id
    )
