"""The energy counters of one entry: what may reach the Energy Dashboard.

Each counter reading passes the guard (meters/guard.py) before it is published; the
last accepted values are saved every minute at most, so a restart, or a crash, still
compares new readings with what was accepted before.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from homeassistant.core import HomeAssistant

from .const import LOGGER
from .meters import EnergyGuard, MeterData, ObisCode
from .storage import CadencedStore

STORE_VERSION: Final = 1
SAVE_EVERY: Final = 60.0

type Values = dict[ObisCode, float | str | None]


def counters_store_name(entry_id: str) -> str:
    """The file the counters of an entry are saved in (under .storage)."""
    return f"{entry_id}.energy"


class EntryCounters:
    """The guard of one entry's counters, with its store."""

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str) -> None:
        """Nothing is loaded yet: call :meth:`async_load` first."""
        self.guard = EnergyGuard()
        self.title = title
        self.store = CadencedStore(
            hass,
            counters_store_name(entry_id),
            STORE_VERSION,
            SAVE_EVERY,
            self.guard.dump,
        )

    async def async_load(self) -> None:
        """Restore the last accepted values."""
        self.guard.load(await self.store.async_load())

    def publishable(self, device_id: str, data: MeterData, now: datetime) -> Values:
        """The device's values, each counter checked; log each rejection run once."""
        values: Values = {}
        guarded = False
        for code, reading in data.readings.items():
            value = reading.value
            if code.is_energy_counter and isinstance(value, float):
                key = f"{device_id}:{code}"
                verdict = self.guard.check(key, value, now.timestamp())
                guarded = True
                if verdict.rejected is not None and verdict.first:
                    LOGGER.warning(
                        "%s, meter %s: not publishing %s = %s kWh (%s; last accepted %s kWh)",
                        self.title,
                        device_id,
                        code.short,
                        value,
                        verdict.rejected,
                        self.guard.last(key),
                    )
                elif verdict.recovered:
                    LOGGER.info(
                        "%s, meter %s: %s is plausible again (%s kWh)",
                        self.title,
                        device_id,
                        code.short,
                        value,
                    )
                value = verdict.value
            values[code] = value
        if guarded:
            self.store.changed()
        return values

    def forget(self) -> None:
        """Start afresh: the meter's values are decoded another way from now on."""
        self.guard.forget()
        self.store.changed()

    def diagnostics(self) -> dict[str, dict[str, Any]]:
        """The last accepted values and the rejections, keyed ``device:code``."""
        return {"last_accepted": self.guard.dump(), "rejections": self.guard.rejections}
