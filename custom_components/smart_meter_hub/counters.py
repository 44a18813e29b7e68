"""The energy counters of one entry: what may reach the Energy Dashboard.

Each counter reading passes the guard (meters/guard.py) before it is published; the
last accepted values are saved a minute after Home Assistant starts (a new meter's
first values, the baseline), then every 15 minutes, and when it stops. So a restart, or
a crash, still compares new readings with what was accepted before. After a crash that
may be an earlier accepted value, which the meter's real counter has only passed since:
nothing it reads is wrongly rejected, and a drop to 0 or a garbled value is still caught.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from homeassistant.core import HomeAssistant

from .const import LOGGER
from .meters import EnergyGuard, MeterData, ObisCode
from .storage import SAVE_EVERY, CadencedStore

STORE_VERSION: Final = 1

type Values = dict[ObisCode, float | str | None]


def _kwh(value: float) -> str:
    """A counter reading for a log line: rounded, or as it came when it is no number."""
    return (
        f"{value:.3f} kWh"
        if 1e-3 <= abs(value) < 1e12 or value == 0
        else f"{value!r} kWh"
    )


STORE: Final = "energy"  # the shared file under .storage (see storage.py)


class EntryCounters:
    """The guard of one entry's counters, with its store."""

    def __init__(self, hass: HomeAssistant, entry_id: str, title: str) -> None:
        """Nothing is loaded yet: call :meth:`async_load` first."""
        self.guard = EnergyGuard()
        self.title = title
        self.store = CadencedStore(
            hass,
            STORE,
            entry_id,
            STORE_VERSION,
            SAVE_EVERY,
            self.guard.dump,
        )

    async def async_load(self) -> None:
        """Restore the last accepted values."""
        self.guard.load(await self.store.async_load())

    def publishable(self, device_id: str, data: MeterData, now: datetime) -> Values:
        """The device's values, each counter checked.

        One glitch makes one warning (all the counters it hit, in one line), and its end
        one line at info level; a run of rejections is not logged again.
        """
        values: Values = {}
        rejected: list[str] = []
        recovered: list[str] = []
        guarded = False
        for code, reading in data.readings.items():
            value = reading.value
            if code.is_energy_counter and isinstance(value, float):
                key = f"{device_id}:{code}"
                last = self.guard.last(key)
                verdict = self.guard.check(key, value, now.timestamp())
                guarded = True
                if verdict.rejected is not None and verdict.first:
                    was = "nothing accepted yet" if last is None else f"{last:.3f} kWh"
                    rejected.append(
                        f"{code.short} = {_kwh(value)} ({verdict.rejected}; was {was})"
                    )
                elif verdict.recovered:
                    recovered.append(f"{code.short} = {value:.3f} kWh")
                value = verdict.value
            values[code] = value
        if guarded:
            self.store.changed()
        if rejected:
            LOGGER.warning(
                "%s: not publishing %s", self._meter(device_id), ", ".join(rejected)
            )
        if recovered:
            LOGGER.info(
                "%s: plausible again: %s", self._meter(device_id), ", ".join(recovered)
            )
        return values

    def _meter(self, device_id: str) -> str:
        """The entry's title, and the meter when the title does not name it."""
        return (
            self.title
            if device_id in self.title
            else f"{self.title}, meter {device_id}"
        )

    def forget(self) -> None:
        """Start afresh: the meter's values are decoded another way from now on."""
        self.guard.forget()
        self.store.changed()

    def diagnostics(self) -> dict[str, dict[str, Any]]:
        """The last accepted values and the rejections, keyed ``device:code``."""
        return {"last_accepted": self.guard.dump(), "rejections": self.guard.rejections}
