"""Learn each appliance's power from whole-home power and its own on/off transitions.

Home Assistant knows *which* entity switched and *when*; the meter knows *how much* the
home drew. For every transition of a watched entity this module measures the step of
whole-home power around it: a robust level of the readings in a window after the switch
minus the level in a window before it, leaving out the seconds around the switch where
a reading may straddle it or catch an inrush. An on-transition observes ``+step``, an
off-transition ``-step``: both are observations of the appliance's power.

A step is not used when another watched entity changed near the windows, when the meter
missed readings in them, or when whole-home power was too unsteady to tell. Accepted
observations go into a short per-entity history; the learned power is the mean of the
largest group of observations that agree with each other (recent ones weigh more when
two groups compete), so one odd observation never moves it and a replaced appliance
takes over after several consistent observations.

Everything here is plain Python: timestamps are seconds on any clock (monotonic or UTC
epoch), watts are floats or ``None``. No input raises; malformed input is ignored or
counted as missing.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

_LOGGER = logging.getLogger(__name__)

MAX_LEARN_INTERVAL_S: Final = 15.0
"""Meters read less often than this (seconds between readings) are too slow to learn from."""

STORAGE_VERSION: Final = 1
"""Version of the :meth:`ApplianceLearner.dump` format."""

_MAX_ABS_WATTS: Final = 1e7
_MAX_ABS_TIME: Final = 1e13
_MAX_SAMPLES: Final = 8192
_MAX_PENDING: Final = 256
_MAX_TRANSITIONS: Final = 4096
_MAX_GAPS: Final = 31
_MAX_NOISE: Final = 64
_MAD_TO_SIGMA: Final = 1.4826


def can_learn(interval_s: float | None) -> bool:
    """Whether a meter read every ``interval_s`` seconds is fast enough to learn from.

    For the options form: ``False`` for intervals above :data:`MAX_LEARN_INTERVAL_S`,
    and for anything that is not a positive finite number.
    """
    value = _finite(interval_s)
    return value is not None and 0 < value <= MAX_LEARN_INTERVAL_S


class Outcome(StrEnum):
    """What became of one transition."""

    ACCEPTED = "accepted"
    """The step was measured and added to the entity's observations."""
    OVERLAP = "overlap"
    """Another watched transition fell near the windows: the steps cannot be separated."""
    MISSING = "missing"
    """The meter missed readings in the windows (or there were none yet)."""
    UNSTEADY = "unsteady"
    """Whole-home power varied too much in the windows to tell the step."""
    TOO_SLOW = "too_slow"
    """The meter is read less often than :data:`MAX_LEARN_INTERVAL_S`."""
    CLOCK_JUMP = "clock_jump"
    """The clock jumped backwards while the transition waited for its windows."""
    STALE = "stale"
    """The transition arrived long after readings newer than it: too late to measure."""
    DROPPED = "dropped"
    """Too many transitions waited at once (an entity flapping); the oldest was dropped."""


@dataclass(frozen=True, slots=True)
class Observation:
    """The result of measuring one transition.

    ``power_w`` is the observed appliance power (the step, sign-corrected so on and off
    transitions both observe the power drawn while on) and ``uncertainty_w`` its
    standard error estimated from the noise in the windows; both are ``None`` unless
    the step could be measured. ``window`` is then the span of readings used: the
    start of the window before and the end of the window after.
    """

    entity_id: str
    t: float
    on: bool
    outcome: Outcome
    power_w: float | None = None
    uncertainty_w: float | None = None
    window: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class ApplianceEstimate:
    """What is known about one entity's power.

    - ``learned_power_w``: the learned power in W (never negative), ``None`` until at
      least ``min_observations`` recent observations agree.
    - ``observations``: accepted observations since learning began (kept across
      restarts).
    - ``agreeing``: how many of the kept recent observations agree with the learned
      power (0 while not learned).
    - ``spread_w``: median absolute deviation in W of the agreeing observations from the
      learned power; while not learned, of the kept observations from their median;
      ``None`` with fewer than two kept observations.
    """

    entity_id: str
    learned_power_w: float | None
    observations: int
    agreeing: int
    spread_w: float | None

    def power_when(self, on: bool) -> float | None:
        """Estimated power: the learned power while on, 0 while off, ``None`` if unknown."""
        if self.learned_power_w is None:
            return None
        return self.learned_power_w if on else 0.0


@dataclass(frozen=True, slots=True)
class LearnerConfig:
    """Tuning of the learner; the defaults are what ``bench/appliances.py`` measured.

    Windows: each side of a transition spans ``samples_per_side`` reading intervals,
    at least ``min_window_s`` and at most ``max_window_s`` seconds. The before window
    ends ``report_delay_s`` before the transition (a state change may be stamped that
    long after the real switch), the after window starts ``settle_s`` after it
    (optimistic states, inrush, a reading that straddles the switch). Another watched
    transition shortens the window on its side to end ``report_delay_s`` before it or
    start ``settle_s`` after it; the observation is rejected (overlap) when a window
    is left shorter than ``min_samples_per_side`` intervals. A window with a gap
    between readings longer than ``max_gap_factor`` intervals (two readings missed in
    a row), or more than ``max_missing_share`` of its readings missed, is rejected.

    Steadiness: a window's noise (robust sigma) or the drift between its two halves must
    not exceed ``max(steady_floor_w, steady_rel * |step|)``, nor ``steady_cap_w``.

    Learning: observations within ``max(agree_floor_w, agree_rel * |power|,
    agree_sigmas * uncertainty)`` of each other agree; the last ``history``
    observations are kept, weighted by ``recency`` per newer observation when groups
    compete. A power is learned once at least ``min_observations`` agree, they hold
    at least half the recency weight, and the standard error of their mean is within
    ``max(precision_w, precision_rel * |power|)``.
    """

    samples_per_side: int = 16
    min_window_s: float = 40.0
    max_window_s: float = 160.0
    min_samples_per_side: int = 4
    report_delay_s: float = 2.0
    settle_s: float = 3.0
    max_gap_factor: float = 2.5
    max_missing_share: float = 0.1
    max_interval_s: float = MAX_LEARN_INTERVAL_S
    clock_jump_s: float = 5.0
    steady_floor_w: float = 75.0
    steady_rel: float = 0.15
    steady_cap_w: float = 500.0
    outlier_sigmas: float = 3.5
    agree_floor_w: float = 20.0
    agree_rel: float = 0.06
    agree_sigmas: float = 3.0
    history: int = 20
    recency: float = 0.9
    min_observations: int = 3
    precision_w: float = 5.0
    precision_rel: float = 0.02

    def window_s(self, interval_s: float) -> float:
        """Length of each side's window for a meter read every ``interval_s`` seconds."""
        window = min(self.samples_per_side * interval_s, self.max_window_s)
        return max(window, self.min_window_s)


DEFAULT_CONFIG: Final = LearnerConfig()


@dataclass(slots=True)
class _Pending:
    """A transition waiting for the readings after it."""

    seq: int
    t: float
    entity_id: str
    on: bool


@dataclass(slots=True)
class _Model:
    """One entity's recent accepted observations (oldest first) and its total count."""

    powers: deque[float]
    uncertainties: deque[float]
    total: int = 0


def _finite(value: object) -> float | None:
    """``value`` as a float if it is a finite real number (bools excluded), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _median(values: Sequence[float]) -> float:
    """Median of a non-empty sequence."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def _mad(values: Sequence[float], centre: float) -> float:
    """Median absolute deviation of ``values`` from ``centre``."""
    return _median([abs(v - centre) for v in values])


def _level(values: Sequence[float], centre: float, sigma: float, k: float) -> float:
    """Robust level of a window: the mean of the readings within ``k`` sigmas of the median.

    As steady as the mean for ordinary meter noise, while a spike or a missed switch
    in a reading or two is left out as it would be by the median.
    """
    bound = k * sigma
    kept = [v for v in values if abs(v - centre) <= bound]
    return math.fsum(kept) / len(kept) if kept else centre


@dataclass(frozen=True, slots=True)
class _Window:
    level: float
    sigma: float
    drift: float
    count: int


def _window(values: Sequence[float], outlier_sigmas: float) -> _Window:
    """Level, noise (robust sigma) and drift between halves of one window."""
    centre = _median(values)
    sigma = _MAD_TO_SIGMA * _mad(values, centre)
    level = _level(values, centre, sigma, outlier_sigmas)
    half = len(values) // 2
    drift = abs(_median(values[half:]) - _median(values[: len(values) - half]))
    return _Window(level, sigma, drift, len(values))


class ApplianceLearner:
    """Learns the power of watched entities from one meter's whole-home power.

    Feed it every reading with :meth:`add_sample` and every on/off change of a watched
    entity with :meth:`add_transition`, both stamped with the same clock; they return
    the observations that became final, so the caller can update what it publishes.
    :meth:`estimate` gives an entity's learned power, :meth:`dump` / :meth:`load` keep
    it across restarts.

    ``interval_hint_s`` is the meter's poll interval if known; the learner measures the
    actual interval from the readings' spacing and uses the hint only until it has.
    """

    def __init__(
        self,
        interval_hint_s: float | None = None,
        config: LearnerConfig = DEFAULT_CONFIG,
    ) -> None:
        """Start with nothing learned."""
        self._config = config
        hint = _finite(interval_hint_s)
        self._hint = hint if hint is not None and hint > 0 else None
        self._models: dict[str, _Model] = {}
        self._states: dict[str, bool] = {}
        # Readings, oldest first, and the times of readings the meter missed.
        self._times: list[float] = []
        self._watts: list[float] = []
        self._missing: list[float] = []
        self._gaps: deque[float] = deque(maxlen=_MAX_GAPS)
        self._last_t: float | None = None
        self._pending: deque[_Pending] = deque()
        self._transitions: list[tuple[float, int, str]] = []
        self._seq = 0
        self._counts: dict[Outcome, int] = dict.fromkeys(Outcome, 0)
        self._noted: set[str] = set()
        self._noise: deque[float] = deque(maxlen=_MAX_NOISE)
        worst = config.window_s(config.max_interval_s * 1.2)
        self._horizon_s = (
            2 * worst
            + 3 * config.report_delay_s
            + config.settle_s
            + 4 * config.max_interval_s
            + 60.0
        )

    # -- what the Home Assistant side reads ---------------------------------------

    @property
    def interval_s(self) -> float | None:
        """The meter's measured reading interval (the hint until measured)."""
        if len(self._gaps) >= 3:
            return _median(self._gaps)
        return self._hint

    @property
    def noise_w(self) -> float | None:
        """Typical noise (robust sigma, W) of whole-home power in recent windows."""
        return _median(self._noise) if self._noise else None

    @property
    def outcome_counts(self) -> dict[str, int]:
        """How many transitions ended in each :class:`Outcome` (for diagnostics)."""
        return {outcome.value: count for outcome, count in self._counts.items()}

    @property
    def entity_ids(self) -> list[str]:
        """Entities with at least one kept observation."""
        return sorted(self._models)

    @property
    def buffered(self) -> dict[str, int]:
        """How much the learner holds (for diagnostics): bounded whatever comes in."""
        return {
            "readings": len(self._times),
            "waiting_transitions": len(self._pending),
            "transitions": len(self._transitions),
        }

    def is_on(self, entity_id: str) -> bool | None:
        """The state the learner last saw ``entity_id`` in (None: never seen)."""
        return self._states.get(entity_id)

    def estimate(self, entity_id: str) -> ApplianceEstimate:
        """What is known about ``entity_id`` (an empty estimate if nothing)."""
        model = self._models.get(entity_id)
        if model is None or not model.powers:
            return ApplianceEstimate(
                entity_id, None, model.total if model else 0, 0, None
            )
        return self._estimate(entity_id, model)

    def estimates(self) -> dict[str, ApplianceEstimate]:
        """:meth:`estimate` of every entity with observations."""
        return {entity_id: self.estimate(entity_id) for entity_id in self.entity_ids}

    # -- input --------------------------------------------------------------------

    def add_sample(self, t: float, watts: float | None) -> list[Observation]:
        """Add one whole-home power reading; ``None``/NaN/inf means the meter missed it.

        Readings older than the last one are ignored, except that a jump backwards of
        more than ``clock_jump_s`` restarts the windows (the clock was set back).
        Returns the observations that became final.
        """
        time_s = _finite(t)
        if time_s is None or abs(time_s) > _MAX_ABS_TIME:
            return []
        value = _finite(watts)
        if value is not None and abs(value) > _MAX_ABS_WATTS:
            value = None
        results: list[Observation] = []
        if self._last_t is not None and time_s <= self._last_t:
            if self._last_t - time_s <= self._config.clock_jump_s:
                return []
            self._note(
                "clock",
                "Clock went back %.0f s: restarting the windows",
                self._last_t - time_s,
            )
            results.extend(self._restart())
        if self._last_t is not None:
            self._gaps.append(time_s - self._last_t)
        self._last_t = time_s
        if value is None:
            self._missing.append(time_s)
        else:
            self._times.append(time_s)
            self._watts.append(value)
        self._trim(time_s)
        results.extend(self._evaluate_ready(time_s))
        return results

    def add_transition(self, t: float, entity_id: str, on: bool) -> list[Observation]:
        """Add an on/off change of a watched entity.

        A repeat of the entity's last known state is ignored. A transition stamped
        before readings already received (beyond ``report_delay_s``) is too late to be
        measured but still rejects its neighbours' observations. Returns the
        observations that became final (only ever dropped or stale ones).
        """
        time_s = _finite(t)
        if (
            time_s is None
            or abs(time_s) > _MAX_ABS_TIME
            or not isinstance(entity_id, str)
        ):
            return []
        state = bool(on)
        if self._states.get(entity_id) is state:
            return []
        self._states[entity_id] = state
        self._seq += 1
        seq = self._seq
        bisect.insort(self._transitions, (time_s, seq, entity_id))
        if len(self._transitions) > _MAX_TRANSITIONS:
            del self._transitions[: len(self._transitions) - _MAX_TRANSITIONS]
        if (
            self._last_t is not None
            and time_s < self._last_t - self._config.report_delay_s
        ):
            return [
                self._finish(_Pending(seq, time_s, entity_id, state), Outcome.STALE)
            ]
        interval = self.interval_s
        if interval is not None and interval > self._config.max_interval_s * 1.1:
            self._note(
                "slow",
                "Readings every %.0f s are too slow to learn appliance power",
                interval,
            )
            return [
                self._finish(_Pending(seq, time_s, entity_id, state), Outcome.TOO_SLOW)
            ]
        self._pending.append(_Pending(seq, time_s, entity_id, state))
        results: list[Observation] = []
        while len(self._pending) > _MAX_PENDING:
            self._note("dropped", "Too many transitions at once: dropping the oldest")
            results.append(self._finish(self._pending.popleft(), Outcome.DROPPED))
        return results

    def forget(self, entity_id: str) -> None:
        """Drop everything learned about ``entity_id`` and its waiting transitions.

        Its past transitions still reject overlapping observations of other entities
        (the power did change then).
        """
        self._models.pop(entity_id, None)
        self._states.pop(entity_id, None)
        self._pending = deque(p for p in self._pending if p.entity_id != entity_id)

    # -- persistence --------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The learned observations as JSON-serialisable data for :meth:`load`."""
        return {
            "version": STORAGE_VERSION,
            "entities": {
                entity_id: {
                    "powers": [round(p, 2) for p in model.powers],
                    "uncertainties": [round(u, 2) for u in model.uncertainties],
                    "observations": model.total,
                }
                for entity_id, model in self._models.items()
            },
        }

    def load(self, data: object) -> None:
        """Replace the learned observations with those ``data`` holds.

        Anything malformed (wrong version, wrong types, non-finite numbers) is skipped;
        this never raises. Readings and waiting transitions are kept.
        """
        self._models = {}
        if not isinstance(data, Mapping) or data.get("version") != STORAGE_VERSION:
            return
        entities = data.get("entities")
        if not isinstance(entities, Mapping):
            return
        for entity_id, item in entities.items():
            if isinstance(entity_id, str) and isinstance(item, Mapping):
                model = self._load_model(item)
                if model is not None:
                    self._models[entity_id] = model

    def _load_model(self, item: Mapping[Any, Any]) -> _Model | None:
        powers_in = item.get("powers")
        uncertainties_in = item.get("uncertainties")
        if not isinstance(powers_in, list) or not isinstance(uncertainties_in, list):
            return None
        model = self._new_model()
        for power, uncertainty in zip(powers_in, uncertainties_in, strict=False):
            p, u = _finite(power), _finite(uncertainty)
            if (
                p is None
                or u is None
                or abs(p) > _MAX_ABS_WATTS
                or not 0 <= u <= _MAX_ABS_WATTS
            ):
                continue
            model.powers.append(p)
            model.uncertainties.append(u)
        total = item.get("observations")
        count = (
            int(total) if isinstance(total, int) and not isinstance(total, bool) else 0
        )
        model.total = min(max(count, len(model.powers)), 2**53)
        if not model.powers and model.total == 0:
            return None
        return model

    # -- internals ----------------------------------------------------------------

    def _new_model(self) -> _Model:
        size = max(1, self._config.history)
        return _Model(deque(maxlen=size), deque(maxlen=size))

    def _note(self, kind: str, message: str, *args: object) -> None:
        """Log an anomaly once per learner at warning level, afterwards at debug."""
        if kind in self._noted:
            _LOGGER.debug(message, *args)
            return
        self._noted.add(kind)
        _LOGGER.warning(message, *args)

    def _finish(
        self,
        pending: _Pending,
        outcome: Outcome,
        power: float | None = None,
        uncertainty: float | None = None,
        window: tuple[float, float] | None = None,
    ) -> Observation:
        """Count the outcome and keep an accepted observation."""
        self._counts[outcome] += 1
        if (
            outcome is Outcome.ACCEPTED
            and power is not None
            and uncertainty is not None
        ):
            model = self._models.get(pending.entity_id)
            if model is None:
                model = self._models[pending.entity_id] = self._new_model()
            model.powers.append(power)
            model.uncertainties.append(uncertainty)
            model.total += 1
        return Observation(
            pending.entity_id,
            pending.t,
            pending.on,
            outcome,
            power,
            uncertainty,
            window,
        )

    def _restart(self) -> list[Observation]:
        """Forget readings and waiting transitions after the clock went back."""
        results = [self._finish(p, Outcome.CLOCK_JUMP) for p in self._pending]
        self._pending.clear()
        self._times.clear()
        self._watts.clear()
        self._missing.clear()
        self._transitions.clear()
        self._gaps.clear()
        self._last_t = None
        return results

    def _trim(self, now: float) -> None:
        """Drop readings and transitions too old for any window still to come."""
        oldest = now - self._horizon_s
        if self._pending:
            oldest = min(oldest, self._pending[0].t - self._horizon_s)
        cut = bisect.bisect_left(self._times, oldest)
        cut = max(cut, len(self._times) - _MAX_SAMPLES)
        if cut > 0:
            del self._times[:cut]
            del self._watts[:cut]
        cut = bisect.bisect_left(self._missing, oldest)
        cut = max(cut, len(self._missing) - _MAX_SAMPLES)
        if cut > 0:
            del self._missing[:cut]
        cut = bisect.bisect_left(self._transitions, (oldest,))
        if cut > 0:
            del self._transitions[:cut]

    def _evaluate_ready(self, now: float) -> list[Observation]:
        """Measure every waiting transition whose after window is complete."""
        results: list[Observation] = []
        interval = self.interval_s
        if interval is None:
            # Without a measured interval nothing can be measured; give up on
            # transitions that waited far longer than any window.
            while self._pending and now - self._pending[0].t > self._horizon_s:
                results.append(self._finish(self._pending.popleft(), Outcome.MISSING))
            return results
        cfg = self._config
        window = cfg.window_s(interval)
        wait = cfg.settle_s + window + cfg.report_delay_s
        still: deque[_Pending] = deque()
        for pending in self._pending:
            if now - pending.t < wait and now >= pending.t - self._horizon_s:
                still.append(pending)
                continue
            results.append(self._measure(pending, interval, window))
        self._pending = still
        return results

    def _measure(
        self, pending: _Pending, interval: float, window: float
    ) -> Observation:
        """Measure one transition's step, or say why it cannot be."""
        cfg = self._config
        if interval > cfg.max_interval_s * 1.1:
            return self._finish(pending, Outcome.TOO_SLOW)
        before_end = pending.t - cfg.report_delay_s
        before_start = before_end - window
        after_start = pending.t + cfg.settle_s
        after_end = after_start + window
        # A neighbouring transition shortens the window on its side: the readings
        # before its switch (or after it settled) still tell this step.
        previous, following = self._neighbours(pending)
        shortened = False
        if previous is not None and previous + cfg.settle_s > before_start:
            before_start, shortened = previous + cfg.settle_s, True
        if following is not None and following - cfg.report_delay_s < after_end:
            after_end, shortened = following - cfg.report_delay_s, True
        span = cfg.min_samples_per_side * interval
        if before_end - before_start < span or after_end - after_start < span:
            if shortened:
                self._note_flap(pending)
            return self._finish(pending, Outcome.OVERLAP)
        before = self._readings(before_start, before_end, interval)
        after = self._readings(after_start, after_end, interval)
        if before is None or after is None:
            return self._finish(pending, Outcome.MISSING)
        b, a = _window(before, cfg.outlier_sigmas), _window(after, cfg.outlier_sigmas)
        step = a.level - b.level
        limit = min(
            max(cfg.steady_floor_w, cfg.steady_rel * abs(step)), cfg.steady_cap_w
        )
        if max(b.sigma, a.sigma, b.drift, a.drift) > limit:
            return self._finish(pending, Outcome.UNSTEADY)
        self._noise.extend((b.sigma, a.sigma))
        # Standard error of the step from the home's typical noise (a window's own
        # spread is too uncertain with a handful of readings).
        noise = max(_median(self._noise), 1.0)
        uncertainty = noise * math.sqrt(1 / b.count + 1 / a.count)
        power = step if pending.on else -step
        return self._finish(
            pending,
            Outcome.ACCEPTED,
            power,
            uncertainty,
            (before_start, after_end),
        )

    def _neighbours(self, pending: _Pending) -> tuple[float | None, float | None]:
        """Times of the closest other transitions before and after ``pending``."""
        key = (pending.t, pending.seq)
        i = bisect.bisect_left(self._transitions, key)
        found = i < len(self._transitions) and self._transitions[i][:2] == key
        j = i + 1 if found else i
        previous = self._transitions[i - 1][0] if i > 0 else None
        following = self._transitions[j][0] if j < len(self._transitions) else None
        return previous, following

    def _note_flap(self, pending: _Pending) -> None:
        """Log once when an entity switches back within seconds (flapping)."""
        quick = self._config.settle_s + self._config.report_delay_s
        lo = bisect.bisect_left(self._transitions, (pending.t - quick,))
        for t, seq, entity_id in self._transitions[lo:]:
            if t > pending.t + quick:
                return
            if entity_id == pending.entity_id and seq != pending.seq:
                self._note(
                    f"flap:{entity_id}",
                    "%s switches too often to learn its power",
                    entity_id,
                )
                return

    def _readings(
        self, start: float, end: float, interval: float
    ) -> list[float] | None:
        """The readings in ``[start, end]``, or None if the meter missed too many."""
        cfg = self._config
        max_gap = cfg.max_gap_factor * interval
        lo = bisect.bisect_left(self._times, start)
        hi = bisect.bisect_right(self._times, end)
        times = self._times[lo:hi]
        if (
            len(times) < max(cfg.min_samples_per_side, 1)
            or times[0] - start > max_gap
            or end - times[-1] > max_gap
            or any(
                later - earlier > max_gap
                for earlier, later in itertools.pairwise(times)
            )
        ):
            return None
        missed = bisect.bisect_right(self._missing, end) - bisect.bisect_left(
            self._missing, start
        )
        if missed > cfg.max_missing_share * (len(times) + missed):
            return None
        return self._watts[lo:hi]

    def _estimate(self, entity_id: str, model: _Model) -> ApplianceEstimate:
        """The learned power: mean of the heaviest group of agreeing observations.

        Each kept observation seeds a group of the observations within the agreement
        tolerance of it; the group with the most recency weight wins, so an old group
        gives way to a new one (a replaced appliance) only once the new one has
        several members. The learned power is the group's mean, each observation
        weighted by the inverse square of its uncertainty.
        """
        cfg = self._config
        powers = list(model.powers)
        uncertainties = [max(u, 1.0) for u in model.uncertainties]
        n = len(powers)
        typical_uncertainty = _median(uncertainties)
        recency = [cfg.recency ** (n - 1 - i) for i in range(n)]

        def tolerance(centre: float) -> float:
            return max(
                cfg.agree_floor_w,
                cfg.agree_rel * abs(centre),
                cfg.agree_sigmas * typical_uncertainty,
            )

        best_score, centre = -1.0, powers[-1]
        for seed in powers:
            tol = tolerance(seed)
            score = math.fsum(
                r for p, r in zip(powers, recency, strict=True) if abs(p - seed) <= tol
            )
            if score >= best_score:
                best_score, centre = score, seed
        for _ in range(2):
            tol = tolerance(centre)
            members = [p for p in powers if abs(p - centre) <= tol]
            centre = math.fsum(members) / len(members)
        tol = tolerance(centre)
        agreeing = [i for i, p in enumerate(powers) if abs(p - centre) <= tol]
        learned = len(agreeing) >= max(1, cfg.min_observations) and math.fsum(
            recency[i] for i in agreeing
        ) >= 0.5 * math.fsum(recency)
        if not learned:
            spread = _mad(powers, _median(powers)) if n >= 2 else None
            return ApplianceEstimate(entity_id, None, model.total, 0, spread)
        weights = [1 / uncertainties[i] ** 2 for i in agreeing]
        values = [powers[i] for i in agreeing]
        value = math.fsum(
            w * v for w, v in zip(weights, values, strict=True)
        ) / math.fsum(weights)
        standard_error = 1 / math.sqrt(math.fsum(weights))
        if standard_error > max(cfg.precision_w, cfg.precision_rel * abs(value)):
            return ApplianceEstimate(
                entity_id, None, model.total, 0, _mad(values, value)
            )
        return ApplianceEstimate(
            entity_id, max(value, 0.0), model.total, len(values), _mad(values, value)
        )


def left_riemann_kwh(
    samples: Iterable[tuple[float, float | None]],
    max_gap_s: float = 3600.0,
) -> float:
    """Energy in kWh of a power series, each power held until the next timestamp.

    A helper for the estimated-energy sensor (the same left rule as Home Assistant's
    integration helper). ``None``/non-finite power, negative power, steps backwards in
    time and intervals longer than ``max_gap_s`` add nothing.
    """
    total = 0.0
    previous: tuple[float, float | None] | None = None
    for t, power in samples:
        time_s = _finite(t)
        if time_s is None:
            continue
        if previous is not None:
            dt = time_s - previous[0]
            if dt <= 0:
                continue
            p = previous[1]
            if p is not None and 0 < dt <= max_gap_s:
                total += p * dt / 3_600_000.0
        value = _finite(power)
        previous = (time_s, value if value is not None and value >= 0 else None)
    return total
