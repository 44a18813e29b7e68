"""Appliance learning against a simulated home: truth against learned power.

``python -m bench.appliances`` (pure Python, no Home Assistant yet): a home with eight
appliances from 5 W to 3 kW and a smart plug switching an empty socket, a base load
drifting slowly, ±30 W of meter noise (uniform), some appliances switched within
seconds of each other (scenes of two or three). The meter is read every 2, 5, 10, 15
and 20 s, with ±5 % jitter, each reading the mean of the second before it. Each
appliance gets ten clean transitions (no other switch within 150 s), the scenes come
on top. The learner sees what Home Assistant would give it: the readings, and each
entity's state change stamped between 1 s before (optimistic state) and 1.5 s after
the real switch.

Printed as markdown: truth against learned power per appliance for one seed, then,
over many seeds, how often every appliance met the quality bar of issue #16 (±5 %,
±10 W under 200 W), in that home, in one where half the transitions come in scenes up
to a minute apart, and in a harsher one.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import logging
import math
import os
import random
import statistics
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from custom_components.smart_meter_hub.analysis import appliances
from custom_components.smart_meter_hub.analysis.appliances import (
    ApplianceLearner,
    Observation,
    Outcome,
)

# Every simulated home at 20 s is too slow, as it should be: not worth a warning each.
logging.getLogger(appliances.__name__).setLevel(logging.ERROR)

CLEAN_TRANSITIONS = 10
INTERVALS = (2.0, 5.0, 10.0, 15.0, 20.0)


def _rng(seed: int) -> random.Random:
    """The simulation's random source (repeatable; not for anything secret)."""
    return random.Random(seed)  # noqa: S311


@dataclass(frozen=True, slots=True)
class Appliance:
    """A simulated appliance: its entity, what it draws, and its start-up surge."""

    entity_id: str
    name: str
    watts: float
    inrush_factor: float = 1.0
    inrush_s: float = 0.0


APPLIANCES: tuple[Appliance, ...] = (
    Appliance("switch.empty_socket", "smart plug, empty socket", 0.0),
    Appliance("light.led_lamp", "LED lamp", 5.0),
    Appliance("light.ceiling", "ceiling light", 42.0),
    Appliance("fan.desk_fan", "desk fan", 75.0, 2.0, 1.0),
    Appliance("media_player.tv", "TV", 135.0),
    Appliance("humidifier.dehumidifier", "dehumidifier", 420.0, 3.0, 1.5),
    Appliance("switch.microwave", "microwave", 1150.0),
    Appliance("switch.kettle", "kettle", 2200.0),
    Appliance("climate.panel_heater", "panel heater", 3000.0),
)
_INDEX = {appliance.entity_id: i for i, appliance in enumerate(APPLIANCES)}


def tolerance(watts: float) -> float:
    """The quality bar: ±5 %, or ±10 W under 200 W (the empty socket included)."""
    return 10.0 if watts < 200 else 0.05 * watts


@dataclass(frozen=True, slots=True)
class Home:
    """How harsh the simulated home is."""

    noise_w: float = 30.0
    gaussian: bool = False
    scene_share: float = 0.3
    scene_spread_s: float = 5.0
    fridge: bool = False
    missed_share: float = 0.0


HOMES: dict[str, Home] = {
    "as in #16": Home(),
    # Half the switching moments in scenes spread over up to a minute.
    "scenes up to 60 s": Home(scene_share=0.5, scene_spread_s=60.0),
    # Gaussian noise of 30 W sigma, an unwatched fridge cycling, 1 % of readings missed.
    "harsh": Home(gaussian=True, fridge=True, missed_share=0.01),
}


@dataclass(slots=True)
class Switch:
    """One real switch of an appliance and when Home Assistant stamps it."""

    t_real: float
    t_event: float
    appliance: int
    on: bool
    watts: float


@dataclass(slots=True)
class Run:
    """The outcome of one simulated run at one reading interval."""

    learned: dict[str, float | None] = field(default_factory=dict)
    observations: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[float] = field(default_factory=list)
    near_others: int = 0
    near_others_accepted: int = 0
    contaminated: int = 0
    worst_once_learned: float = 0.0
    first_learned_after: list[int] = field(default_factory=list)
    learned_once: set[str] = field(default_factory=set)


def _schedule(rng: random.Random, home: Home) -> list[Switch]:
    """Ten clean transitions per appliance, with scenes of 2-3 appliances in between."""
    switches: list[Switch] = []
    state = [False] * len(APPLIANCES)
    level = [a.watts for a in APPLIANCES]
    clean = [0] * len(APPLIANCES)
    t = 600.0

    def toggle(index: int, when: float) -> None:
        state[index] = not state[index]
        if state[index]:
            level[index] = APPLIANCES[index].watts * (1 + rng.gauss(0, 0.005))
        delay = rng.uniform(-1.0, 1.5)
        switches.append(Switch(when, when + delay, index, state[index], level[index]))

    while min(clean) < CLEAN_TRANSITIONS:
        t += rng.uniform(150.0, 420.0)
        if rng.random() < home.scene_share:
            group = rng.sample(range(len(APPLIANCES)), rng.choice((2, 3)))
            offsets = sorted(rng.uniform(0, home.scene_spread_s) for _ in group)
            for index, offset in zip(group, offsets, strict=True):
                toggle(index, t + offset)
            t += offsets[-1]
        else:
            index = rng.choice(
                [i for i, n in enumerate(clean) if n < CLEAN_TRANSITIONS]
            )
            toggle(index, t)
            clean[index] += 1
    switches.sort(key=lambda s: s.t_real)
    return switches


class _Truth:
    """Real whole-home power: base load, appliances, an unwatched fridge."""

    def __init__(
        self, rng: random.Random, switches: Sequence[Switch], home: Home
    ) -> None:
        self._phase = rng.uniform(0, 2 * math.pi)
        end = switches[-1].t_real + 1200.0
        # A slow walk (mean-reverting, 4 W a minute) on top of a five-hour ±90 W swing.
        self._walk: list[float] = [0.0]
        for _ in range(int(end // 60) + 2):
            self._walk.append(0.97 * self._walk[-1] + rng.gauss(0, 4.0))
        self._fridge: list[tuple[float, float]] = []
        if home.fridge:
            t = rng.uniform(0, 1500)
            while t < end:
                on_for = rng.uniform(600, 1200)
                self._fridge.append((t, t + on_for))
                t += on_for + rng.uniform(900, 1800)

    def base(self, t: float) -> float:
        """The base load, smooth between the walk's minute points."""
        i = min(int(t // 60), len(self._walk) - 2)
        frac = min(max(t / 60 - i, 0.0), 1.0)
        walk = self._walk[i] + frac * (self._walk[i + 1] - self._walk[i])
        return 280.0 + 90.0 * math.sin(2 * math.pi * t / 18000.0 + self._phase) + walk

    def power(self, t: float, states: dict[int, Switch]) -> float:
        """Whole-home power at ``t`` with the appliances' last switches ``states``."""
        total = self.base(t)
        for index, switch in states.items():
            if switch.on:
                appliance = APPLIANCES[index]
                surge = t - switch.t_real < appliance.inrush_s
                total += switch.watts * (appliance.inrush_factor if surge else 1.0)
        for start, stop in self._fridge:
            if start <= t < stop:
                total += 110.0 * (4.0 if t - start < 1.0 else 1.0)
        return total


def _readings(
    rng: random.Random,
    truth: _Truth,
    switches: Sequence[Switch],
    interval_s: float,
    home: Home,
) -> list[tuple[float, float | None]]:
    """The meter's readings: the mean of the second before each poll, plus noise."""
    end = switches[-1].t_real + 600.0
    states: dict[int, Switch] = {}
    next_switch = 0
    readings: list[tuple[float, float | None]] = []
    for k in itertools.count():
        t = 60.0 + k * interval_s + rng.uniform(-0.05, 0.05) * interval_s
        if t >= end:
            break
        values = []
        for when in (t - 0.75, t - 0.5, t - 0.25, t):
            while next_switch < len(switches) and switches[next_switch].t_real <= when:
                states[switches[next_switch].appliance] = switches[next_switch]
                next_switch += 1
            values.append(truth.power(when, states))
        noise = (
            rng.gauss(0, home.noise_w)
            if home.gaussian
            else rng.uniform(-home.noise_w, home.noise_w)
        )
        missed = rng.random() < home.missed_share
        readings.append((t, None if missed else math.fsum(values) / 4 + noise))
    return readings


def simulate(interval_s: float, seed: int, home: Home) -> Run:
    """One home, read every ``interval_s``, fed to a learner in time order."""
    rng = _rng(seed)
    switches = _schedule(rng, home)
    truth = _Truth(rng, switches, home)
    readings = _readings(rng, truth, switches, interval_s, home)
    learner = ApplianceLearner(interval_hint_s=interval_s)

    # Merge transitions (at their Home Assistant stamps) and readings in time order.
    feed: list[tuple[float, int, int]] = [
        (s.t_event, 0, i) for i, s in enumerate(switches)
    ]
    feed += [(t, 1, i) for i, (t, _) in enumerate(readings)]
    feed.sort()
    by_stamp = {(s.appliance, s.t_event): s for s in switches}
    real_times = sorted(s.t_real for s in switches)
    near = _near_others(switches, 60.0)
    run = Run()
    for _, kind, i in feed:
        if kind == 0:
            s = switches[i]
            results = learner.add_transition(
                s.t_event, APPLIANCES[s.appliance].entity_id, s.on
            )
        else:
            results = learner.add_sample(*readings[i])
        for observation in results:
            switch = by_stamp[(_INDEX[observation.entity_id], observation.t)]
            _account(run, learner, observation, switch, near, real_times)
    for appliance in APPLIANCES:
        estimate = learner.estimate(appliance.entity_id)
        run.learned[appliance.entity_id] = estimate.learned_power_w
        run.observations[appliance.entity_id] = estimate.observations
    run.counts = learner.outcome_counts
    return run


def _near_others(switches: Sequence[Switch], within_s: float) -> set[int]:
    """Indexes of switches with another switch within ``within_s`` of them."""
    near: set[int] = set()
    for i, (a, b) in enumerate(itertools.pairwise(switches)):
        if b.t_real - a.t_real <= within_s:
            near.update((i, i + 1))
    return {id(switches[i]) for i in near}


def _account(
    run: Run,
    learner: ApplianceLearner,
    observation: Observation,
    switch: Switch,
    near: set[int],
    real_times: Sequence[float],
) -> None:
    """Tally one final observation against the truth."""
    is_near = id(switch) in near
    run.near_others += is_near
    if observation.outcome is not Outcome.ACCEPTED or observation.power_w is None:
        return
    appliance = APPLIANCES[switch.appliance]
    run.errors.append(observation.power_w - switch.watts)
    run.near_others_accepted += is_near
    if observation.window is not None:
        # Another real switch whose effect reached a reading the windows used (a
        # reading averages the second before it).
        start, end = observation.window
        lo = bisect.bisect_left(real_times, start - 1.0)
        hi = bisect.bisect_right(real_times, end)
        run.contaminated += sum(1 for t in real_times[lo:hi] if t != switch.t_real)
    estimate = learner.estimate(appliance.entity_id)
    if estimate.learned_power_w is not None:
        share = abs(estimate.learned_power_w - appliance.watts) / tolerance(
            appliance.watts
        )
        run.worst_once_learned = max(run.worst_once_learned, share)
        if appliance.entity_id not in run.learned_once:
            run.learned_once.add(appliance.entity_id)
            run.first_learned_after.append(estimate.observations)


def within_bar(run: Run) -> dict[str, bool]:
    """Per appliance: learned, and within the quality bar."""
    return {
        a.entity_id: (learned := run.learned[a.entity_id]) is not None
        and abs(learned - a.watts) <= tolerance(a.watts)
        for a in APPLIANCES
    }


def print_detail(seed: int, home: Home, pool: ProcessPoolExecutor) -> None:
    """Truth against learned per appliance, one seed, every interval."""
    runs = dict(
        zip(
            INTERVALS,
            pool.map(
                simulate, INTERVALS, [seed] * len(INTERVALS), [home] * len(INTERVALS)
            ),
            strict=True,
        )
    )
    header = ["appliance", "truth W", "bar W"] + [
        f"learned W at {i:g} s (observations)" for i in INTERVALS
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|" + "---:|" * len(INTERVALS))
    for appliance in APPLIANCES:
        cells = [
            appliance.name,
            f"{appliance.watts:g}",
            f"±{tolerance(appliance.watts):g}",
        ]
        for interval in INTERVALS:
            run = runs[interval]
            learned = run.learned[appliance.entity_id]
            obs = run.observations[appliance.entity_id]
            if learned is None:
                cells.append(f"unknown ({obs})")
            else:
                mark = "✓" if within_bar(run)[appliance.entity_id] else "✗"
                cells.append(f"{learned:.1f} {mark} ({obs})")
        print("| " + " | ".join(cells) + " |")
    cells = ["transitions: accepted / overlap / unsteady / missing / too slow", "", ""]
    for interval in INTERVALS:
        c = runs[interval].counts
        cells.append(
            f"{c['accepted']} / {c['overlap']} / {c['unsteady']} / "
            f"{c['missing']} / {c['too_slow']}"
        )
    print("| " + " | ".join(cells) + " |")


@dataclass(slots=True)
class Sweep:
    """Figures over many seeds at one interval."""

    seeds: int = 0
    all_within: int = 0
    appliance_runs: int = 0
    appliance_within: int = 0
    unknown: int = 0
    worst_share: float = 0.0
    worst_name: str = ""
    worst_once_learned: float = 0.0
    errors: list[float] = field(default_factory=list)
    first_learned_after: list[int] = field(default_factory=list)
    near_others: int = 0
    near_others_accepted: int = 0
    contaminated: int = 0

    def add(self, run: Run) -> None:
        """Add one run's figures."""
        ok = within_bar(run)
        self.seeds += 1
        self.all_within += all(ok.values())
        self.appliance_runs += len(ok)
        self.appliance_within += sum(ok.values())
        self.errors += run.errors
        self.first_learned_after += run.first_learned_after
        self.near_others += run.near_others
        self.near_others_accepted += run.near_others_accepted
        self.contaminated += run.contaminated
        self.worst_once_learned = max(self.worst_once_learned, run.worst_once_learned)
        for appliance in APPLIANCES:
            learned = run.learned[appliance.entity_id]
            if learned is None:
                self.unknown += 1
                continue
            share = abs(learned - appliance.watts) / tolerance(appliance.watts)
            if share > self.worst_share:
                self.worst_share, self.worst_name = share, appliance.name


def print_sweeps(
    seeds: Sequence[int], homes: dict[str, Home], pool: ProcessPoolExecutor
) -> None:
    """Quality-bar figures over many seeds, per home and interval."""
    print(
        "| home | reading every | runs with every appliance within the bar "
        "| appliances within the bar | not learned after 10 transitions "
        "| worst error after 10 transitions (share of the bar) "
        "| worst error at any time once learned (share of the bar) "
        "| observations until first learned, median (max) "
        "| RMS error of one observation, W "
        "| transitions near another (≤ 60 s) accepted "
        "| accepted with another switch inside their windows |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, home in homes.items():
        for interval in INTERVALS:
            s = Sweep()
            for run in pool.map(
                simulate, [interval] * len(seeds), seeds, [home] * len(seeds)
            ):
                s.add(run)
            rms = (
                f"{math.sqrt(math.fsum(e * e for e in s.errors) / len(s.errors)):.1f}"
                if s.errors
                else "-"
            )
            first = (
                f"{statistics.median(s.first_learned_after):g} "
                f"({max(s.first_learned_after)})"
                if s.first_learned_after
                else "-"
            )
            print(
                f"| {label} | {interval:g} s | {s.all_within}/{s.seeds} "
                f"| {s.appliance_within}/{s.appliance_runs} | {s.unknown} "
                f"| {s.worst_share:.2f} ({s.worst_name or '-'}) "
                f"| {s.worst_once_learned:.2f} | {first} | {rms} "
                f"| {s.near_others_accepted}/{s.near_others} | {s.contaminated} |"
            )


def main(argv: Sequence[str] | None = None) -> None:
    """Print the benchmark tables."""
    parser = argparse.ArgumentParser(description="Appliance learning benchmark")
    parser.add_argument("--seed", type=int, default=16, help="seed of the detail table")
    parser.add_argument("--seeds", type=int, default=100, help="seeds of the sweep")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    with ProcessPoolExecutor(max_workers=max(1, args.workers)) as pool:
        print(f"Seed {args.seed}, home as in #16:\n")
        print_detail(args.seed, HOMES["as in #16"], pool)
        print(f"\nSeeds 1 to {args.seeds}:\n")
        print_sweeps(range(1, args.seeds + 1), HOMES, pool)


if __name__ == "__main__":
    main()
