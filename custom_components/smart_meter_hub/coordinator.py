"""One DataUpdateCoordinator per meter: fetch, guard the counters, translate errors."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.storage import Store
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN, LOGGER, MAX_CONCURRENT_POLLS
from .meters import (
    EnergyGuard,
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    ObisCode,
)
from .meters.models import with_net_power
from .meters.obis import POWER_EXPORT, POWER_IMPORT, POWER_NET

type SmartMeterConfigEntry = ConfigEntry[SmartMeterCoordinator]

POLL_SLOTS: HassKey[asyncio.Semaphore] = HassKey(f"{DOMAIN}_poll_slots")
GUARD_STORE_VERSION = 1
GUARD_SAVE_DELAY = 30


@dataclass(frozen=True, slots=True)
class MeterState:
    """What the entities read: the meter's answer and the values fit to publish."""

    data: MeterData
    values: dict[ObisCode, float | str | None]
    timestamp: datetime

    def number(self, code: ObisCode) -> float | None:
        """Return a publishable number, or None."""
        value = self.values.get(code)
        return value if isinstance(value, float) else None


class MeterBackend(Protocol):
    """The Home Assistant side of one meter protocol: builds its client, fetches."""

    async def fetch(self) -> MeterData:
        """Read the meter once."""

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take new options (what to read) without reconnecting."""


def guard_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the last accepted energy counters of an entry survive restarts."""
    return Store(hass, GUARD_STORE_VERSION, f"{DOMAIN}.{entry_id}.energy")


def is_energy_counter(code: ObisCode) -> bool:
    """Cumulative electricity registers (``1-b:c.8.e``): guarded before publishing."""
    return code.a == 1 and code.d == 8


class SmartMeterCoordinator(DataUpdateCoordinator[MeterState]):
    """Polls one meter; at most ``MAX_CONCURRENT_POLLS`` meters poll at once."""

    config_entry: SmartMeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SmartMeterConfigEntry,
        backend: MeterBackend,
        update_interval: timedelta,
    ) -> None:
        """Set up polling of one meter through ``fetch``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=update_interval,
        )
        self.backend = backend
        self.guard = EnergyGuard()
        self._store = guard_store(hass, entry.entry_id)
        self._slots = hass.data.setdefault(
            POLL_SLOTS, asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        )

    async def _async_setup(self) -> None:
        """Restore the last accepted energy counters before the first poll."""
        self.guard.load(await self._store.async_load())

    async def _async_update_data(self) -> MeterState:
        async with self._slots:
            try:
                data = await self.backend.fetch()
            except MeterAuthError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="invalid_auth"
                ) from err
            except MeterConnectionError as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="cannot_connect",
                    translation_placeholders={"error": str(err)},
                ) from err
            except MeterError as err:
                raise UpdateFailed(
                    translation_domain=DOMAIN,
                    translation_key="invalid_response",
                    translation_placeholders={"error": str(err)},
                ) from err
        self._check_identity(data)
        return MeterState(data, self._publishable(data), dt_util.utcnow())

    def _check_identity(self, data: MeterData) -> None:
        """Refuse data from another meter that now answers at the configured address."""
        expected = self.config_entry.unique_id
        issue_id = f"wrong_meter_{self.config_entry.entry_id}"
        if expected is None or data.serial is None or data.serial == expected:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="wrong_meter",
            translation_placeholders={"title": self.config_entry.title},
        )
        raise UpdateFailed(
            translation_domain=DOMAIN, translation_key="wrong_meter_answered"
        )

    def _publishable(self, data: MeterData) -> dict[ObisCode, float | str | None]:
        """Apply the energy guard; log each rejection run once, and each recovery."""
        readings = with_net_power(data.readings, POWER_NET, POWER_IMPORT, POWER_EXPORT)
        now = time.time()
        values: dict[ObisCode, float | str | None] = {}
        guarded = False
        for code, reading in readings.items():
            value = reading.value
            if is_energy_counter(code) and isinstance(value, float):
                verdict = self.guard.check(str(code), value, now)
                guarded = True
                if verdict.rejected is not None and verdict.first:
                    LOGGER.warning(
                        "%s: not publishing %s = %s kWh (%s; last accepted %s kWh)",
                        self.config_entry.title,
                        code.short,
                        value,
                        verdict.rejected,
                        self.guard.last(str(code)),
                    )
                elif verdict.recovered:
                    LOGGER.info(
                        "%s: %s is plausible again (%s kWh)",
                        self.config_entry.title,
                        code.short,
                        value,
                    )
                value = verdict.value
            values[code] = value
        if guarded:
            self._store.async_delay_save(self.guard.dump, GUARD_SAVE_DELAY)
        return values
