"""One DataUpdateCoordinator per config entry: fetch, translate errors, compose.

An entry is one meter, or one gateway with several meters behind it: the backend
returns one :class:`MeterData` per device it could
read, keyed by the device's id (its serial number). A device missing from a poll is
unavailable until it answers again; the others are unaffected. What the values become
is the job of units with their own storage: the counters' guard (counters.py), the load
analytics (analytics.py) and appliance learning (appliances.py); repair issues are the
job of :class:`MeterIssues`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Final

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .analytics import AnalyticsState, EntryAnalytics, whole_home_power
from .appliances import ApplianceView, EntryAppliances
from .const import DOMAIN, LOGGER, MAX_CONCURRENT_POLLS
from .counters import EntryCounters, Values
from .kind import MeterBackend, MeterKind
from .meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterIdentityError,
    MeterPendingError,
    MeterServerError,
    ObisCode,
    obis,
)
from .polls import poll_log

type SmartMeterConfigEntry = ConfigEntry[SmartMeterCoordinator]

POLL_SLOTS: HassKey[asyncio.Semaphore] = HassKey(f"{DOMAIN}_poll_slots")
GOLDEN_RATIO: Final = (5**0.5 - 1) / 2
# Never poll again sooner than this after a poll, whatever the entry's phase.
MIN_POLL_GAP_S: Final = 1.0
WRONG_METER_ISSUE: Final = "wrong_meter"


@dataclass(frozen=True, slots=True)
class MeterState:
    """What the entities of one device read: its answer and the values fit to publish."""

    data: MeterData
    values: Values
    timestamp: datetime
    analytics: AnalyticsState | None = None
    # Per watched entity (options), what appliance learning knows of it on this meter.
    appliances: Mapping[str, ApplianceView] = field(default_factory=dict)

    def number(self, code: ObisCode) -> float | None:
        """Return a publishable number, or None."""
        value = self.values.get(code)
        return value if isinstance(value, float) else None

    def circuit_share(self, circuit: str) -> float | None:
        """A circuit's share of whole-home power in %, clamped; None when total <= 0."""
        total, part = self.number(obis.POWER_NET), self.data.channels.get(circuit)
        if total is None or part is None or total <= 0:
            return None
        return round(min(max(part / total * 100, 0.0), 100.0), 1)

    def unmeasured_power(self) -> float | None:
        """Whole-home power no circuit measures and no appliance explains.

        Never negative; None if whole-home power or a circuit is unknown. An appliance
        whose power is not known (not learned yet, unavailable) explains nothing.
        """
        total = whole_home_power(self.values)
        parts = list(self.data.channels.values())
        if total is None or any(part is None for part in parts):
            return None
        explained = sum(part for part in parts if part is not None) + sum(
            view.power_w or 0.0 for view in self.appliances.values()
        )
        return max(total - explained, 0.0)


@dataclass(frozen=True, slots=True)
class HubState:
    """The last good state of every device, and which devices answered the last poll."""

    devices: dict[str, MeterState] = field(default_factory=dict)
    online: frozenset[str] = frozenset()


def issue_ids(kind: MeterKind, entry_id: str) -> list[str]:
    """Every repair issue an entry of this kind can raise."""
    keys = [WRONG_METER_ISSUE, kind.pending_issue]
    if kind.silent_issue is not None:
        keys.append(kind.silent_issue[1])
    return [f"{key}_{entry_id}" for key in keys if key is not None]


def wait_for_second(phase: float, interval: float, wall_now: float) -> float:
    """Seconds from ``wall_now`` to the middle of the entry's second of the interval.

    The second is the one ``phase`` of the interval falls in, on the wall clock; its
    middle, so that the small differences between the wall clock and the event loop's
    (and rounding a moment to the millisecond) never put a poll into the second
    before. Never sooner than :data:`MIN_POLL_GAP_S`.
    """
    wait = (math.floor(phase * interval) + 0.5 - wall_now) % interval
    return wait + interval if wait < MIN_POLL_GAP_S else wait


def poll_phase(hass: HomeAssistant, entry_id: str) -> float:
    """Where in each interval an entry polls, as a share of the interval.

    The n-th entry (in the order they were made: entry ids sort by creation) takes the
    fractional part of n times the golden ratio: however many entries there are, their
    moments are spread evenly over the interval, and each keeps its moment across
    restarts (an entry removed shifts those made after it, once).
    """
    ids = sorted(entry.entry_id for entry in hass.config_entries.async_entries(DOMAIN))
    index = ids.index(entry_id) if entry_id in ids else len(ids)
    return (index * GOLDEN_RATIO) % 1.0


class MeterIssues:
    """The repair issues of one entry: raised while the user must act, gone after."""

    def __init__(
        self, hass: HomeAssistant, entry: SmartMeterConfigEntry, kind: MeterKind
    ) -> None:
        """No issue is raised yet."""
        self.hass = hass
        self.entry = entry
        self.kind = kind
        self.silent_since: datetime | None = None
        # Whether an issue of the entry may be in the registry: one from before a
        # restart may, so the first answer clears them all; later, only one raised
        # since the last answer.
        self._raised = True

    def _set(self, key: str | None, present: bool, **placeholders: str) -> None:
        if key is None:
            return
        issue_id = f"{key}_{self.entry.entry_id}"
        if not present:
            ir.async_delete_issue(self.hass, DOMAIN, issue_id)
            return
        self._raised = True
        ir.async_create_issue(
            self.hass,
            DOMAIN,
            issue_id,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR
            if key == WRONG_METER_ISSUE
            else ir.IssueSeverity.WARNING,
            translation_key=key,
            translation_placeholders={"title": self.entry.title, **placeholders},
        )

    def failed(self, err: MeterError, now: datetime) -> None:
        """A poll failed with ``err``."""
        if isinstance(err, MeterIdentityError):
            self._set(WRONG_METER_ISSUE, True)
        if isinstance(err, MeterPendingError):
            self._set(self.kind.pending_issue, True, **err.details)
        if isinstance(err, MeterConnectionError) and self.kind.silent_issue:
            after, key = self.kind.silent_issue
            self.silent_since = self.silent_since or now
            if (silent := now - self.silent_since) >= after:
                self._set(key, True, hours=str(int(silent / timedelta(hours=1))))

    def answered(self) -> None:
        """A poll succeeded: nothing is left for the user to do."""
        if self.silent_since is not None:
            LOGGER.info("%s answers again", self.entry.title)
        self.silent_since = None
        if not self._raised:
            return  # the usual poll: nothing to clear
        self._raised = False
        self._set(WRONG_METER_ISSUE, False)
        self._set(self.kind.pending_issue, False)
        if self.kind.silent_issue is not None:
            self._set(self.kind.silent_issue[1], False)


class SmartMeterCoordinator(DataUpdateCoordinator[HubState]):
    """Polls one entry; at most ``MAX_CONCURRENT_POLLS`` entries poll at once."""

    config_entry: SmartMeterConfigEntry

    def __init__(
        self,
        hass: HomeAssistant,
        entry: SmartMeterConfigEntry,
        kind: MeterKind,
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
        self.kind = kind
        self.backend = backend
        self.options = dict(entry.options)
        self.settings = self.settings_of(entry.data)
        self.counters = EntryCounters(hass, entry.entry_id, entry.title)
        self.analytics = EntryAnalytics(hass, entry.entry_id, entry.options)
        self.appliances = EntryAppliances(
            hass, entry.entry_id, entry.title, entry.options, update_interval
        )
        self.issues = MeterIssues(hass, entry, kind)
        self._slots = hass.data.setdefault(
            POLL_SLOTS, asyncio.Semaphore(MAX_CONCURRENT_POLLS)
        )
        self._unsub_tick: CALLBACK_TYPE | None = None
        self._polls = poll_log(hass)
        # The meter waits for an outside approval (its last error was MeterPendingError).
        self.waiting = False
        # While it waits, its device id: the entry's unique id, else the entry's id.
        self._waiting_device: str | None = None
        self.phase = poll_phase(hass, entry.entry_id)

    async def _async_setup(self) -> None:
        """Restore the counters, the analytics and the appliances before the first poll."""
        await self.counters.async_load()
        await self.analytics.async_load()
        await self.appliances.async_load()
        self.appliances.async_start(self._appliances_changed)

    async def async_shutdown(self) -> None:
        """Stop polling; save what was learned now (a reload must not lose it)."""
        await super().async_shutdown()
        self._cancel_tick()
        self.appliances.async_stop()
        await self.counters.store.async_save()
        await self.analytics.store.async_save()
        await self.appliances.async_save()

    def settings_of(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """What in ``data`` only a flow changes: not what the backend learned running."""
        return {
            key: value
            for key, value in data.items()
            if key not in self.kind.learned_data
        }

    @callback
    def _schedule_refresh(self) -> None:
        """Schedule the next poll in this entry's own second of the interval.

        Home Assistant schedules every coordinator one interval after its last
        refresh (plus a fraction of a second), so meters set up together poll together
        forever. Here the next poll falls in the second that ``phase`` of the
        interval falls in, on the wall clock (:func:`wait_for_second`): every second
        gets its share of the entries, and the entries of one second poll together,
        at one wake-up of the event loop instead of one each (`docs/benchmarks.md`).
        The base class still does the scheduling (and its retry and shutdown
        handling): only its sub-second offset is moved to that moment.
        """
        # (A retry delay asked for by an update, in newer Home Assistant, wins.)
        if self.update_interval is not None and not getattr(self, "_retry_after", None):
            interval = self.update_interval.total_seconds()
            loop_now, wall_now = self.hass.loop.time(), time.time()
            wait = wait_for_second(self.phase, interval, wall_now)
            # To the millisecond: the entries of one second, scheduled a few µs apart,
            # fall due at the same moment of the loop's clock, so in the same turn.
            due = round(loop_now + wait, 3)
            self._microsecond = due - int(loop_now) - interval
        super()._schedule_refresh()

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """New options: what to read, and the analytics' thresholds and window."""
        if decoding := [
            key
            for key, default in self.kind.decoding_options.items()
            if options.get(key, default) != self.options.get(key, default)
        ]:
            # Values decoded the old way must not judge the new ones (nor the reverse).
            LOGGER.info(
                "%s: %s changed, the energy counters start afresh",
                self.config_entry.title,
                ", ".join(decoding),
            )
            self.counters.forget()
        self.options = dict(options)
        self.backend.apply_options(options)
        self.analytics.apply_options(options)
        self.appliances.apply_options(options)

    async def _async_update_data(self) -> HubState:
        asked = time.monotonic()
        async with self._slots:
            started = time.monotonic()
            try:
                fetched = await self.backend.fetch()
            except MeterError as err:
                self.waiting = isinstance(err, MeterPendingError)
                self._polls.add(time.monotonic() - started, started - asked, ok=False)
                now = dt_util.utcnow()
                self.issues.failed(err, now)
                self.analytics.missed(now, self.analytics.meters)
                self.appliances.missed(self.appliances.meters)
                self._update_appliance_views()  # shown with the failure
                raise self._translated(err) from err
            self._polls.add(time.monotonic() - started, started - asked, ok=True)
        self.issues.answered()
        self.waiting = False
        now = dt_util.utcnow()
        devices = dict(self.data.devices) if self.data else {}
        if self._waiting_device is not None and self._waiting_device not in fetched:
            self._forget_waiting_device(devices)
        for device_id, data in fetched.items():
            values = self.counters.publishable(device_id, data, now)
            analytics = self.analytics.add(device_id, values, now)
            appliances = self.appliances.add(device_id, values)
            devices[device_id] = MeterState(data, values, now, analytics, appliances)
        self.analytics.missed(
            now, [device for device in self.analytics.meters if device not in fetched]
        )
        self.appliances.missed(
            [device for device in self.appliances.meters if device not in fetched]
        )
        self._arm_tick()
        return HubState(devices, frozenset(fetched))

    def _cancel_tick(self) -> None:
        if self._unsub_tick is not None:
            self._unsub_tick()
            self._unsub_tick = None

    def _arm_tick(self) -> None:
        """Judge high consumption when its delay ends, even if no new sample comes."""
        self._cancel_tick()
        if (due := self.analytics.next_due()) is not None:
            self._unsub_tick = async_track_point_in_utc_time(self.hass, self._tick, due)

    @callback
    def _tick(self, now: datetime) -> None:
        self._unsub_tick = None
        changed = self.analytics.tick(now)
        if changed and self.data is not None:
            devices = dict(self.data.devices)
            for device_id, analytics in changed.items():
                if (state := devices.get(device_id)) is not None:
                    devices[device_id] = replace(state, analytics=analytics)
            self.data = replace(self.data, devices=devices)
            self.async_update_listeners()
        self._arm_tick()

    def _update_appliance_views(self) -> bool:
        """Put what appliance learning knows now into each device's state."""
        data: HubState | None = self.data  # None before the first poll
        if data is None:
            return False
        devices = {
            device_id: replace(state, appliances=self.appliances.views(device_id))
            for device_id, state in data.devices.items()
        }
        self.data = replace(data, devices=devices)
        return True

    @callback
    def _appliances_changed(self) -> None:
        """An appliance switched, or was learned, between polls: show it now."""
        if self._update_appliance_views():
            self.async_update_listeners()

    @callback
    def async_wait_for_approval(self) -> None:
        """The meter waits for an outside approval: setup goes on, calmly.

        For the hours to days an approval takes, the entry is loaded, not failed: its
        device is there, offline (its connectivity sensor says so), and the repair issue
        says what to do. Once the meter answers, its own device takes over.
        """
        entry = self.config_entry
        device_id = entry.unique_id or entry.entry_id
        self._waiting_device = device_id
        waiting = MeterState(
            MeterData(readings={}, name=entry.title), {}, dt_util.utcnow()
        )
        self.data = HubState({device_id: waiting}, frozenset())

    def _forget_waiting_device(self, devices: dict[str, MeterState]) -> None:
        """The meter answered as another device than the one that waited: drop it."""
        device_id, self._waiting_device = self._waiting_device, None
        devices.pop(str(device_id), None)
        registry = dr.async_get(self.hass)
        if device := registry.async_get_device(identifiers={(DOMAIN, str(device_id))}):
            registry.async_update_device(
                device.id, remove_config_entry_id=self.config_entry.entry_id
            )

    def _translated(self, err: MeterError) -> Exception:
        """What the user is told about ``err``, in their language."""
        if isinstance(err, MeterAuthError) and self.kind.reauth_step:
            return ConfigEntryAuthFailed(
                translation_domain=DOMAIN, translation_key="invalid_auth"
            )
        key, placeholders = "invalid_response", {"error": str(err)}
        if isinstance(err, MeterPendingError):
            key, placeholders = "waiting_for_approval", {}
        elif isinstance(err, MeterAuthError):
            key, placeholders = "invalid_auth", {}
        elif isinstance(err, MeterIdentityError):
            key, placeholders = "wrong_meter_answered", {}
        elif isinstance(err, MeterConnectionError):
            key = "cannot_connect"
        elif isinstance(err, MeterServerError):
            key = "meter_error"  # it answered: not "cannot reach"
        return UpdateFailed(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
        )
