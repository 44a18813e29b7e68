"""Energy-counter guard: what reaches the Energy Dashboard never goes backwards or spikes.

Home Assistant's recorder treats a ``total_increasing`` value below 90 % of the previous
one as a meter reset and adds the whole new value to the sum; a counter that reads 0 once
and then its real value again adds its whole lifetime to one hour. So each counter reading
is checked against the last accepted one before it is published:

* NaN, infinite, negative or above ``MAX_COUNTER_KWH``: rejected;
* a counter's first value (no accepted value yet) must be plausible: 0 (a counter that
  has never counted), or at least ``MIN_FIRST_KWH``. A value like 1e-23 kWh (a float read
  with its two words swapped) is rejected, so it never becomes the baseline against
  which the real counter would later be judged;
* lower than the last accepted value (a drop to 0 included): rejected, unless a genuine
  reset is confirmed: ``confirm_polls`` consecutive readings, all below the last accepted
  value, never decreasing among themselves, and counting (the last is above the first);
* higher than ``max_power`` could have delivered since the last accepted reading:
  rejected. The allowance grows with time, so a meter that was away for a long time is
  accepted again when it returns.

A counter whose first reading is 0 (export in a home without solar) is a true 0.
The last accepted values are plain data (:meth:`dump` / :meth:`load`) so the caller can
persist them across restarts; :meth:`forget` drops them when the meter's values are
decoded another way from now on (a changed word order): new readings must not be judged
against values decoded the old way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

DEFAULT_MAX_POWER_W: Final = 250_000.0  # a 400 A three-phase supply, with margin
DEFAULT_CONFIRM_POLLS: Final = 3
# No electricity meter counts a terawatt-hour: above this, a value is garbage.
MAX_COUNTER_KWH: Final = 1e9
# A first reading between 0 and this is no counter (0.1 Wh: below any meter's resolution).
MIN_FIRST_KWH: Final = 1e-4
# Counters are floats from meters with a few decimals: ignore differences below this.
_EPSILON_KWH: Final = 1e-6


class Rejection(StrEnum):
    """Why a counter reading was not published."""

    INVALID = "invalid"
    IMPLAUSIBLE = "implausible first value"
    DECREASE = "decrease"
    JUMP = "jump"


@dataclass(slots=True)
class _Counter:
    value: float
    timestamp: float
    candidates: list[float] = field(default_factory=list)
    rejecting: Rejection | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of checking one reading.

    ``value`` is what to publish (None: publish nothing). ``rejected`` says why it was
    not published; ``first`` is True for the first rejection of a run of rejections,
    so that a caller logs each problem once, and ``recovered`` is True for the first
    accepted value after such a run.
    """

    value: float | None
    rejected: Rejection | None = None
    first: bool = False
    recovered: bool = False


class EnergyGuard:
    """Checks the energy counters of one meter (values in kWh, times in seconds)."""

    def __init__(
        self,
        *,
        max_power_w: float = DEFAULT_MAX_POWER_W,
        confirm_polls: int = DEFAULT_CONFIRM_POLLS,
    ) -> None:
        """Start with no history."""
        self._max_kwh_per_s = max_power_w / 3_600_000
        self._confirm_polls = confirm_polls
        self._counters: dict[str, _Counter] = {}
        self.rejections: dict[str, dict[str, int]] = {}

    def check(self, key: str, value: float, timestamp: float) -> Verdict:
        """Check one reading of counter ``key`` taken at ``timestamp``."""
        counter = self._counters.get(key)
        if not math.isfinite(value) or not 0 <= value <= MAX_COUNTER_KWH:
            return self._reject(key, counter, Rejection.INVALID)
        if counter is None:
            if 0 < value < MIN_FIRST_KWH:
                return self._reject(key, counter, Rejection.IMPLAUSIBLE)
            self._counters[key] = _Counter(value, timestamp)
            return Verdict(value)
        if value < counter.value - _EPSILON_KWH:
            if self._confirms_reset(counter, value):
                return self._accept(counter, value, timestamp)
            return self._reject(key, counter, Rejection.DECREASE)
        elapsed = max(timestamp - counter.timestamp, 0.0)
        allowance = self._max_kwh_per_s * elapsed
        if value - counter.value > allowance + _EPSILON_KWH:
            counter.candidates.clear()
            return self._reject(key, counter, Rejection.JUMP)
        counter.candidates.clear()
        return self._accept(counter, value, timestamp)

    def _confirms_reset(self, counter: _Counter, value: float) -> bool:
        candidates = counter.candidates
        if candidates and value < candidates[-1] - _EPSILON_KWH:
            candidates.clear()
        candidates.append(value)
        return (
            len(candidates) >= self._confirm_polls
            and candidates[-1] > candidates[0] + _EPSILON_KWH
        )

    def _accept(self, counter: _Counter, value: float, timestamp: float) -> Verdict:
        recovered = counter.rejecting is not None
        counter.value = value
        counter.timestamp = timestamp
        counter.candidates.clear()
        counter.rejecting = None
        return Verdict(value, recovered=recovered)

    def _reject(self, key: str, counter: _Counter | None, reason: Rejection) -> Verdict:
        per_key = self.rejections.setdefault(key, {})
        per_key[reason] = per_key.get(reason, 0) + 1
        if counter is None:
            return Verdict(None, reason, first=per_key[reason] == 1)
        first = counter.rejecting is None
        counter.rejecting = reason
        return Verdict(None, reason, first=first)

    def forget(self, prefix: str = "") -> None:
        """Forget the accepted values of the counters whose key starts with ``prefix``."""
        for key in [key for key in self._counters if key.startswith(prefix)]:
            del self._counters[key]

    def last(self, key: str) -> float | None:
        """Return the last accepted value of ``key``."""
        counter = self._counters.get(key)
        return None if counter is None else counter.value

    def dump(self) -> dict[str, Any]:
        """Return the last accepted values as JSON-serialisable data."""
        return {
            key: {"value": counter.value, "timestamp": counter.timestamp}
            for key, counter in self._counters.items()
        }

    def load(self, data: Any) -> None:
        """Restore what :meth:`dump` returned; malformed items are ignored."""
        if not isinstance(data, dict):
            return
        for key, item in data.items():
            if not isinstance(item, dict):
                continue
            value, timestamp = item.get("value"), item.get("timestamp")
            if (
                isinstance(value, int | float)
                and isinstance(timestamp, int | float)
                and math.isfinite(value)
                and 0 <= value <= MAX_COUNTER_KWH
            ):
                self._counters[str(key)] = _Counter(float(value), float(timestamp))
