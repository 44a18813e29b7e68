"""Load analytics: the night baseline (phantom load) and high consumption.

Plain logic over (time, power) samples, with no Home Assistant imports, so it can be
tested through whole nights, daylight-saving changes and restarts without a clock.

Whole-home power is net grid power (import minus export, ``1-0:16.7.0``) where the meter
measures both directions, else imported power (``1-0:1.7.0``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

DEFAULT_WINDOW_START: Final = time(1, 0)
DEFAULT_WINDOW_END: Final = time(5, 0)
DEFAULT_PHANTOM_THRESHOLD_W: Final = 200.0
DEFAULT_HIGH_THRESHOLD_W: Final = 10_000.0
DEFAULT_HIGH_DELAY_S: Final = 60.0
DEFAULT_HIGH_HYSTERESIS_W: Final = 500.0
# A night whose samples cover less than this share of the window gives no baseline.
MIN_COVERAGE: Final = 0.5
# A sample stands for the time until the next one, but never for longer than this.
MAX_SAMPLE_SPAN: Final = timedelta(minutes=10)
# Nights' windows remembered (a sample looks at most four nights around its own).
_WINDOWS_KEPT: Final = 16


@dataclass(frozen=True, slots=True)
class NightResult:
    """The outcome of one night: a baseline, or None with the share of the window seen."""

    night: date
    baseline_w: float | None
    coverage: float


class NightBaseline:
    """Minimum of whole-home power over a local-time window, night after night.

    Feed it with :meth:`add` (``power`` None while the meter is unavailable); a night is
    closed by the first sample at or after the window's end. ``last`` is the latest
    closed night. :meth:`dump` and :meth:`load` carry a night in progress over a restart.
    """

    def __init__(
        self,
        time_zone: tzinfo,
        start: time = DEFAULT_WINDOW_START,
        end: time = DEFAULT_WINDOW_END,
    ) -> None:
        """Watch the window from ``start`` to ``end`` (local time; may cross midnight)."""
        self.time_zone = time_zone
        self.start = start
        self.end = end
        self.last: NightResult | None = None
        self._night: date | None = None
        self._minimum: float | None = None
        self._covered = 0.0
        self._previous: tuple[datetime, float | None] | None = None
        # Windows worked out, by night and window: a sample asks for the same few
        # nights' windows several times, at every poll.
        self._windows: dict[
            tuple[date, time, time, tzinfo], tuple[datetime, datetime]
        ] = {}

    def window(self, night: date) -> tuple[datetime, datetime]:
        """The window of ``night`` (the date on which it starts), in UTC.

        Arithmetic on aware datetimes that share a time zone ignores daylight-saving
        changes, so every comparison and duration here is in UTC.
        """
        key = (night, self.start, self.end, self.time_zone)
        if (known := self._windows.get(key)) is not None:
            return known
        start = datetime.combine(night, self.start, self.time_zone)
        end_day = night if self.end > self.start else night + timedelta(days=1)
        end = datetime.combine(end_day, self.end, self.time_zone)
        window = start.astimezone(UTC), end.astimezone(UTC)
        if len(self._windows) >= _WINDOWS_KEPT:
            self._windows.clear()
        self._windows[key] = window
        return window

    def next_result_at(self, when: datetime) -> datetime:
        """When the next night's result is known (UTC).

        The end of the window in progress at ``when``, or of the next one.
        """
        local = when.astimezone(self.time_zone).date()
        ends = [
            self.window(local + timedelta(days=offset))[1] for offset in (-1, 0, 1, 2)
        ]
        return min(end for end in ends if end > when.astimezone(UTC))

    def _night_of(self, when: datetime) -> date | None:
        """The night whose window holds ``when``, or None outside every window."""
        local = when.astimezone(self.time_zone)
        for night in (local.date(), local.date() - timedelta(days=1)):
            start, end = self.window(night)
            if start <= local < end:
                return night
        return None

    def add(self, when: datetime, power: float | None) -> NightResult | None:
        """Take one sample; return the night it closed, if any."""
        when = when.astimezone(UTC)
        closed = None
        if self._night is not None and when >= self.window(self._night)[1]:
            closed = self._close(self._night)
        night = self._night_of(when)
        if night is not None:
            if night != self._night:
                if self._night is not None:
                    closed = self._close(self._night)
                self._night, self._minimum, self._covered = night, None, 0.0
                self._previous = None
            self._count(when)
            if power is not None and math.isfinite(power):
                self._minimum = (
                    power if self._minimum is None else min(self._minimum, power)
                )
        self._previous = (when, power) if night is not None else None
        missed = self._last_completed(when)
        if self._night != missed and (self.last is None or self.last.night < missed):
            # No sample at all in that window (Home Assistant was off): say so.
            closed = self.last = NightResult(missed, None, 0.0)
        return closed

    def _last_completed(self, when: datetime) -> date:
        """The latest night whose window has ended at ``when``."""
        local = when.astimezone(self.time_zone).date()
        for night in (local, local - timedelta(days=1), local - timedelta(days=2)):
            if self.window(night)[1] <= when:
                return night
        return local - timedelta(days=3)  # pragma: no cover - windows last < 1 day

    def _count(self, when: datetime) -> None:
        """Add the time since the previous sample, if that sample had a value."""
        if self._previous is None or self._previous[1] is None or self._night is None:
            return
        start, end = self.window(self._night)
        since = max(self._previous[0], start)
        until = min(when, end, self._previous[0] + MAX_SAMPLE_SPAN)
        self._covered += max((until - since).total_seconds(), 0.0)

    def _close(self, night: date) -> NightResult:
        start, end = self.window(night)
        if self._previous is not None:
            self._count(end)
        coverage = self._covered / (end - start).total_seconds()
        baseline = self._minimum if coverage >= MIN_COVERAGE else None
        self.last = NightResult(night, baseline, round(coverage, 3))
        self._night, self._minimum, self._covered, self._previous = (
            None,
            None,
            0.0,
            None,
        )
        return self.last

    def dump(self) -> dict[str, Any]:
        """The state as JSON-serialisable data."""
        return {
            "last": None
            if self.last is None
            else {
                "night": self.last.night.isoformat(),
                "baseline_w": self.last.baseline_w,
                "coverage": self.last.coverage,
            },
            "night": None if self._night is None else self._night.isoformat(),
            "minimum": self._minimum,
            "covered": self._covered,
            "previous": None
            if self._previous is None
            else [self._previous[0].isoformat(), self._previous[1]],
        }

    def load(self, data: Any) -> None:
        """Restore what :meth:`dump` returned; anything malformed is ignored."""
        if not isinstance(data, dict):
            return
        try:
            if last := data.get("last"):
                self.last = NightResult(
                    date.fromisoformat(last["night"]),
                    None if last["baseline_w"] is None else float(last["baseline_w"]),
                    float(last["coverage"]),
                )
            if night := data.get("night"):
                self._night = date.fromisoformat(night)
                minimum = data.get("minimum")
                self._minimum = None if minimum is None else float(minimum)
                self._covered = float(data.get("covered") or 0.0)
                if previous := data.get("previous"):
                    value = previous[1]
                    self._previous = (
                        datetime.fromisoformat(previous[0]).astimezone(UTC),
                        None if value is None else float(value),
                    )
        except (KeyError, TypeError, ValueError, IndexError):
            self.__init__(self.time_zone, self.start, self.end)  # type: ignore[misc]


class HighConsumption:
    """Whether whole-home power is too high, without flapping.

    On once power stayed above the threshold for ``delay``; off once it stayed below the
    threshold minus the hysteresis for ``delay``.
    """

    def __init__(
        self,
        threshold_w: float = DEFAULT_HIGH_THRESHOLD_W,
        delay_s: float = DEFAULT_HIGH_DELAY_S,
        hysteresis_w: float = DEFAULT_HIGH_HYSTERESIS_W,
    ) -> None:
        """Start off."""
        self.threshold_w = threshold_w
        self.delay = timedelta(seconds=delay_s)
        self.hysteresis_w = hysteresis_w
        self.on = False
        self._since: datetime | None = None

    @property
    def due(self) -> datetime | None:
        """When the state turns over if power stays where it is (None: nothing pending).

        A sensor that reports only on change sends no new sample while power holds:
        the caller adds the last sample again at this moment, so time passing counts.
        """
        return None if self._since is None else self._since + self.delay

    def add(self, when: datetime, power: float | None) -> bool:
        """Take one sample; return whether high consumption is on."""
        if power is None or not math.isfinite(power):
            self._since = None  # an unknown moment breaks the run
            return self.on
        crossing = (
            power < self.threshold_w - self.hysteresis_w
            if self.on
            else power > self.threshold_w
        )
        if not crossing:
            self._since = None
        elif self._since is None:
            self._since = when
        if self._since is not None and when - self._since >= self.delay:
            self.on, self._since = not self.on, None
        return self.on
