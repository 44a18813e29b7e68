"""Load analytics of each meter on the Home Assistant side: options, storage, results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .analysis.baseline import (
    DEFAULT_HIGH_DELAY_S,
    DEFAULT_HIGH_HYSTERESIS_W,
    DEFAULT_HIGH_THRESHOLD_W,
    DEFAULT_PHANTOM_THRESHOLD_W,
    DEFAULT_WINDOW_END,
    DEFAULT_WINDOW_START,
    HighConsumption,
    NightBaseline,
    NightResult,
)
from .meters import ObisCode, obis
from .storage import SAVE_EVERY, CadencedStore

CONF_WINDOW_START: Final = "night_window_start"
CONF_WINDOW_END: Final = "night_window_end"
CONF_PHANTOM_THRESHOLD: Final = "phantom_threshold"
CONF_HIGH_THRESHOLD: Final = "high_threshold"
CONF_HIGH_DELAY: Final = "high_delay"
CONF_HIGH_HYSTERESIS: Final = "high_hysteresis"

ANALYTICS_DEFAULTS: Final[dict[str, Any]] = {
    CONF_WINDOW_START: DEFAULT_WINDOW_START.strftime("%H:%M:%S"),
    CONF_WINDOW_END: DEFAULT_WINDOW_END.strftime("%H:%M:%S"),
    CONF_PHANTOM_THRESHOLD: DEFAULT_PHANTOM_THRESHOLD_W,
    CONF_HIGH_THRESHOLD: DEFAULT_HIGH_THRESHOLD_W,
    CONF_HIGH_DELAY: DEFAULT_HIGH_DELAY_S,
    CONF_HIGH_HYSTERESIS: DEFAULT_HIGH_HYSTERESIS_W,
}
STORE_VERSION: Final = 1


STORE: Final = "analytics"  # the shared file under .storage (see storage.py)


def whole_home_power(values: Mapping[ObisCode, float | str | None]) -> float | None:
    """Net grid power where the meter measures both directions, else import power."""
    for code in (obis.POWER_NET, obis.POWER_IMPORT):
        value = values.get(code)
        if isinstance(value, float):
            return value
    return None


def has_whole_home_power(values: Mapping[ObisCode, object]) -> bool:
    """Whether the meter answers a power value the analytics can use."""
    return obis.POWER_NET in values or obis.POWER_IMPORT in values


@dataclass(frozen=True, slots=True)
class AnalyticsState:
    """What the analytics entities of one meter show."""

    night: NightResult | None
    phantom: bool | None
    high: bool
    window: str
    phantom_threshold_w: float
    # When the next night's baseline is known (the end of its window).
    next_night_at: datetime
    high_threshold_w: float
    high_delay_s: float
    high_hysteresis_w: float


@lru_cache(maxsize=64)
def _window_text(start: time, end: time) -> str:
    """The window as it is shown (``01:00-05:00``): worked out once per window."""
    return f"{start:%H:%M}-{end:%H:%M}"


def _time(value: Any, default: time) -> time:
    try:
        return time.fromisoformat(str(value))
    except ValueError:
        return default


class MeterAnalytics:
    """Night baseline and high consumption of one meter."""

    def __init__(self, time_zone: tzinfo, options: Mapping[str, Any]) -> None:
        """Start with the entry's options."""
        self.night = NightBaseline(time_zone)
        self.high = HighConsumption()
        self.phantom_threshold_w = DEFAULT_PHANTOM_THRESHOLD_W
        self.last_power: float | None = None
        self.apply_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Take new thresholds and window; a night in progress keeps its samples."""
        merged = {**ANALYTICS_DEFAULTS, **options}
        self.night.start = _time(merged[CONF_WINDOW_START], DEFAULT_WINDOW_START)
        self.night.end = _time(merged[CONF_WINDOW_END], DEFAULT_WINDOW_END)
        self.phantom_threshold_w = float(merged[CONF_PHANTOM_THRESHOLD])
        self.high.threshold_w = float(merged[CONF_HIGH_THRESHOLD])
        self.high.hysteresis_w = float(merged[CONF_HIGH_HYSTERESIS])
        self.high.delay = timedelta(seconds=float(merged[CONF_HIGH_DELAY]))

    def add(self, when: datetime, power: float | None) -> None:
        """Take one sample of whole-home power (None: the meter did not answer)."""
        self.last_power = power
        self.night.add(when, power)
        self.high.add(when, power)

    def state(self, now: datetime) -> AnalyticsState:
        """The current results, and what they are judged against."""
        last = self.night.last
        baseline = last.baseline_w if last else None
        return AnalyticsState(
            night=last,
            phantom=None if baseline is None else baseline > self.phantom_threshold_w,
            high=self.high.on,
            window=_window_text(self.night.start, self.night.end),
            phantom_threshold_w=self.phantom_threshold_w,
            next_night_at=self.night.next_result_at(now),
            high_threshold_w=self.high.threshold_w,
            high_delay_s=self.high.delay.total_seconds(),
            high_hysteresis_w=self.high.hysteresis_w,
        )


class EntryAnalytics:
    """The analytics of every meter of an entry, with their store."""

    def __init__(
        self, hass: HomeAssistant, entry_id: str, options: Mapping[str, Any]
    ) -> None:
        """Nothing is loaded yet: call :meth:`async_load` first."""
        self.options = options
        self.meters: dict[str, MeterAnalytics] = {}
        self._saved: dict[str, Any] = {}
        self.store = CadencedStore(
            hass, STORE, entry_id, STORE_VERSION, SAVE_EVERY, self._dump
        )

    async def async_load(self) -> None:
        """Read what was saved; each meter takes its part when it first answers."""
        self._saved = await self.store.async_load()

    def _dump(self) -> dict[str, Any]:
        return {
            device_id: analytics.night.dump()
            for device_id, analytics in self.meters.items()
        }

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """New thresholds and window, for every meter."""
        self.options = options
        for analytics in self.meters.values():
            analytics.apply_options(options)

    def add(
        self,
        device_id: str,
        values: Mapping[ObisCode, float | str | None],
        now: datetime,
    ) -> AnalyticsState | None:
        """One poll of one meter; None for a meter without whole-home power."""
        if not has_whole_home_power(values):
            return None
        if (analytics := self.meters.get(device_id)) is None:
            analytics = MeterAnalytics(dt_util.get_default_time_zone(), self.options)
            analytics.night.load(self._saved.get(device_id))
            self.meters[device_id] = analytics
        analytics.add(now, whole_home_power(values))
        self.store.changed()
        return analytics.state(now)

    def diagnostics(self) -> dict[str, Any]:
        """Each meter's last night and the night in progress, as saved."""
        return self._dump()

    def next_due(self) -> datetime | None:
        """The earliest moment a meter's high consumption turns over if power holds."""
        due = [d for analytics in self.meters.values() if (d := analytics.high.due)]
        return min(due, default=None)

    def tick(self, now: datetime) -> dict[str, AnalyticsState]:
        """Time passed with no new sample: judge high consumption on the last one.

        Returns the new state of each meter whose high consumption turned over.
        """
        changed: dict[str, AnalyticsState] = {}
        for device_id, analytics in self.meters.items():
            due = analytics.high.due
            if due is None or due > now or analytics.last_power is None:
                continue
            before = analytics.high.on
            if analytics.high.add(now, analytics.last_power) != before:
                changed[device_id] = analytics.state(now)
        return changed

    def missed(self, now: datetime, device_ids: Iterable[str]) -> None:
        """These meters did not answer: the gap counts as unseen."""
        for device_id in device_ids:
            if (analytics := self.meters.get(device_id)) is not None:
                analytics.add(now, None)
