"""One DataUpdateCoordinator per config entry: fetch, guard the counters, translate errors.

An entry is one meter (OBIS HTTP, Xcel) or one gateway with several meters behind it
(SDM630): the backend returns one :class:`MeterData` per device it could read, keyed by
the device's identity (its serial number). A device missing from a poll is unavailable
until it answers again; the others are unaffected.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
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
from .load_analytics import (
    AnalyticsState,
    MeterAnalytics,
    has_whole_home_power,
    whole_home_power,
)
from .meters import (
    EnergyGuard,
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterIdentityError,
    ObisCode,
)
from .meters.models import with_net_power
from .meters.obis import POWER_EXPORT, POWER_IMPORT, POWER_NET

type SmartMeterConfigEntry = ConfigEntry[SmartMeterCoordinator]

POLL_SLOTS: HassKey[asyncio.Semaphore] = HassKey(f"{DOMAIN}_poll_slots")
GUARD_STORE_VERSION = 1
# Saved at most every 10 minutes (and on unload and at shutdown): a restart that loses
# the last minutes compares against a slightly older, still valid, counter value.
GUARD_SAVE_DELAY = 600


@dataclass(frozen=True, slots=True)
class MeterState:
    """What the entities of one device read: its answer and the values fit to publish."""

    data: MeterData
    values: dict[ObisCode, float | str | None]
    timestamp: datetime
    analytics: AnalyticsState | None = None

    def number(self, code: ObisCode) -> float | None:
        """Return a publishable number, or None."""
        value = self.values.get(code)
        return value if isinstance(value, float) else None


@dataclass(frozen=True, slots=True)
class HubState:
    """The last good state of every device, and which devices answered the last poll."""

    devices: dict[str, MeterState] = field(default_factory=dict)
    online: frozenset[str] = frozenset()


class MeterBackend(Protocol):
    """The Home Assistant side of one meter protocol: holds its client, fetches."""

    async def fetch(self) -> Mapping[str, MeterData]:
        """Read every device once; a device that failed is left out.

        Raise a MeterError when nothing could be read at all (the coordinator maps it
        to the user's message), or UpdateFailed where the backend knows better.
        """

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take new options (what to read) without reconnecting."""

    async def async_close(self) -> None:
        """Release connections (the entry unloads)."""


def guard_store(hass: HomeAssistant, entry_id: str) -> Store[dict[str, Any]]:
    """Where the last accepted energy counters of an entry survive restarts."""
    return Store(hass, GUARD_STORE_VERSION, f"{DOMAIN}.{entry_id}.energy")


def is_energy_counter(code: ObisCode) -> bool:
    """Cumulative electricity registers (``1-b:c.8.e``): guarded before publishing."""
    return code.a == 1 and code.d == 8


class SmartMeterCoordinator(DataUpdateCoordinator[HubState]):
    """Polls one entry; at most ``MAX_CONCURRENT_POLLS`` entries poll at once."""

    config_entry: SmartMeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SmartMeterConfigEntry,
        backend: MeterBackend,
        update_interval: timedelta | None,
    ) -> None:
        """Set up polling through ``backend``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=f"{DOMAIN} {entry.title}",
            update_interval=update_interval,
        )
        self.backend = backend
        self.options = dict(entry.options)
        self.guard = EnergyGuard()
        self._store = guard_store(hass, entry.entry_id)
        self._slots = hass.data.setdefault(
            POLL_SLOTS, asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        )
        self._issue_id = f"wrong_meter_{entry.entry_id}"
        self.analytics: dict[str, MeterAnalytics] = {}
        self._analytics_store: Store[dict[str, Any]] = Store(
            hass, GUARD_STORE_VERSION, f"{DOMAIN}.{entry.entry_id}.analytics"
        )
        self._saved_analytics: dict[str, Any] = {}

    async def _async_setup(self) -> None:
        """Restore the counters and the analytics before the first poll."""
        self.guard.load(await self._store.async_load())
        self._saved_analytics = await self._analytics_store.async_load() or {}

    async def async_shutdown(self) -> None:
        """Stop polling; save counters and analytics now (a reload must not lose them)."""
        await super().async_shutdown()
        await self._store.async_save(self.guard.dump())
        await self._analytics_store.async_save(self._dump_analytics())

    def _dump_analytics(self) -> dict[str, Any]:
        return {
            device_id: analytics.night.dump()
            for device_id, analytics in self.analytics.items()
        }

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """New options: what to read, and the analytics' thresholds and window."""
        self.options = dict(options)
        self.backend.apply_options(options)
        for analytics in self.analytics.values():
            analytics.apply_options(options)

    def _analytics_of(self, device_id: str) -> MeterAnalytics:
        if (analytics := self.analytics.get(device_id)) is None:
            analytics = MeterAnalytics(
                dt_util.get_default_time_zone(), self.config_entry.options
            )
            analytics.night.load(self._saved_analytics.get(device_id))
            self.analytics[device_id] = analytics
        return analytics

    async def _async_update_data(self) -> HubState:
        try:
            hub = await self._async_poll()
        except Exception:
            now = dt_util.utcnow()
            for analytics in self.analytics.values():
                analytics.add(now, None)  # the gap counts as unseen
            raise
        return hub

    async def _async_poll(self) -> HubState:
        async with self._slots:
            try:
                fetched = await self.backend.fetch()
            except MeterAuthError as err:
                raise ConfigEntryAuthFailed(
                    translation_domain=DOMAIN, translation_key="invalid_auth"
                ) from err
            except MeterIdentityError as err:
                self._wrong_meter(True)
                raise UpdateFailed(
                    translation_domain=DOMAIN, translation_key="wrong_meter_answered"
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
        self._wrong_meter(False)
        now = dt_util.utcnow()
        devices = dict(self.data.devices) if self.data else {}
        for device_id, data in fetched.items():
            values = self._publishable(device_id, data, now)
            analytics = None
            if has_whole_home_power(values):
                meter_analytics = self._analytics_of(device_id)
                meter_analytics.add(now, whole_home_power(values))
                analytics = meter_analytics.state()
            devices[device_id] = MeterState(data, values, now, analytics)
        for device_id, meter_analytics in self.analytics.items():
            if device_id not in fetched:
                meter_analytics.add(now, None)
        if self.analytics:
            self._analytics_store.async_delay_save(
                self._dump_analytics, GUARD_SAVE_DELAY
            )
        return HubState(devices, frozenset(fetched))

    def _wrong_meter(self, present: bool) -> None:
        """Raise or clear the repair issue: another meter answers at the address."""
        if not present:
            ir.async_delete_issue(self.hass, DOMAIN, self._issue_id)
            return
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            self._issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key="wrong_meter",
            translation_placeholders={"title": self.config_entry.title},
        )

    def _publishable(
        self, device_id: str, data: MeterData, now: datetime
    ) -> dict[ObisCode, float | str | None]:
        """Apply the energy guard; log each rejection run once, and each recovery."""
        readings = with_net_power(data.readings, POWER_NET, POWER_IMPORT, POWER_EXPORT)
        values: dict[ObisCode, float | str | None] = {}
        guarded = False
        for code, reading in readings.items():
            value = reading.value
            if is_energy_counter(code) and isinstance(value, float):
                key = f"{device_id}:{code}"
                verdict = self.guard.check(key, value, now.timestamp())
                guarded = True
                if verdict.rejected is not None and verdict.first:
                    LOGGER.warning(
                        "%s, meter %s: not publishing %s = %s kWh (%s; last accepted %s kWh)",
                        self.config_entry.title,
                        device_id,
                        code.short,
                        value,
                        verdict.rejected,
                        self.guard.last(key),
                    )
                elif verdict.recovered:
                    LOGGER.info(
                        "%s, meter %s: %s is plausible again (%s kWh)",
                        self.config_entry.title,
                        device_id,
                        code.short,
                        value,
                    )
                value = verdict.value
            values[code] = value
        if guarded:
            self._store.async_delay_save(self.guard.dump, GUARD_SAVE_DELAY)
        return values
