"""Appliance learning through Home Assistant: truth against the Learned power sensors.

``python -m bench.appliances_ha [--seed 16] [--seeds 3] [--intervals 2 10]``
(or ``scripts/bench appliances_ha``): about ten minutes on two cores.

The simulated home of ``bench/appliances.py`` (the same schedule, base load and noise
for a seed), driven through a real Home Assistant instance instead of the learner
alone: nine input_booleans are the appliances (eight from 5 W to 3 kW and a smart plug
switching an empty socket), switched by the ``input_boolean.turn_on``/``turn_off``
actions at the moment Home Assistant stamps the change (between 1 s before and 1.5 s
after the real switch); the whole-home power follows the real switches. Two meters
learn at once, each as its backend samples:

- a **virtual meter** on a power sensor this bench sets every 2 or 10 s, ±5 % (each
  report the mean of the second before it plus ±30 W of uniform noise); the virtual
  meter takes a reading at each report, and would repeat the last one only if the
  sensor were overdue (one second past its own pace): these reports never are;
- an **OBIS HTTP meter**: the simulator of ``meter_sim/obis_http.py`` on a loopback
  port, whose net power is the same home's (its own noise) at the moment it is asked;
  polled every 2 or 10 s (the options form's minimum is 5 s: the bench saves the
  interval in the entry's options directly).

Time is simulated: the wall clock is frozen and moved in steps of at most one second
(the event loop's clock moves with it and only with it), and due timers are fired, so
ten hours of home take about a minute, and the figures are the same on every run.
After the schedule (ten clean transitions per appliance, scenes of two or three
appliances switched within 5 s on top) and ten quiet minutes, each meter's *Learned
power* sensors are read from Home Assistant's states and compared with the truth: ±5 %,
or ±10 W under 200 W and for the empty socket. The worst error at any time is taken
from every state the *Learned power* sensors took once learned.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import logging
import math
import random
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import aiohttp
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.core import Event, EventStateChangedData, HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component import patch_time
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_test_home_assistant,
)

from bench.appliances import (
    APPLIANCES,
    HOMES,
    Home,
    Switch,
    _rng,
    _schedule,
    _Truth,
    tolerance,
)
from custom_components.smart_meter_hub.appliances import CONF_APPLIANCES
from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

START = "2026-11-30T08:00:00+00:00"
POWER_SENSOR = "sensor.home_power"
VIRTUAL_ID = f"virtual_{POWER_SENSOR}"
OBIS_SERIAL = "SMH-BENCH-HOME"
METERS = {"virtual meter": VIRTUAL_ID, "OBIS meter": OBIS_SERIAL}
QUIET_AFTER_S = 600.0
FIRST_READING_S = 60.0


def _boolean(entity_id: str) -> str:
    """The input_boolean standing for a simulated appliance's entity."""
    return f"input_boolean.{entity_id.split('.', 1)[1]}"


WATCHED = [_boolean(appliance.entity_id) for appliance in APPLIANCES]


class SimulatedHome:
    """Real whole-home power at any moment, from the real switches (not the stamps)."""

    def __init__(self, switches: Sequence[Switch], truth: _Truth) -> None:
        """Index each appliance's switches by when they really happened."""
        self._truth = truth
        self._switches: list[list[Switch]] = [[] for _ in APPLIANCES]
        for switch in switches:
            self._switches[switch.appliance].append(switch)
        self._times = [[s.t_real for s in each] for each in self._switches]

    def power(self, t: float) -> float:
        """Whole-home power at ``t`` (seconds from the start)."""
        states: dict[int, Switch] = {}
        for index, times in enumerate(self._times):
            i = bisect.bisect_right(times, t)
            if i:
                states[index] = self._switches[index][i - 1]
        return self._truth.power(t, states)

    def reading(self, t: float, rng: random.Random, noise_w: float) -> float:
        """A meter's reading at ``t``: the mean of the second before it, plus noise."""
        mean = math.fsum(self.power(t - d) for d in (0.75, 0.5, 0.25, 0.0)) / 4
        return mean + rng.uniform(-noise_w, noise_w)


class HomeObisMeter(SimulatedObisMeter):
    """The OBIS simulator, its net power the simulated home's when it is asked."""

    home: SimulatedHome
    started: float
    rng: random.Random
    noise_w: float

    def advance(self) -> None:
        """Count energy as the simulator does, then read the home's power now."""
        super().advance()
        self._power = self.home.reading(
            self.clock() - self.started, self.rng, self.noise_w
        )


@dataclass(slots=True)
class MeterRun:
    """What one meter learned in one run."""

    learned: dict[str, float | None] = field(default_factory=dict)
    observations: dict[str, int] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    worst_once_learned: float = 0.0
    # Which appliance, after how many observations.
    worst_once_learned_at: str = "-"


@contextmanager
def simulated_time() -> Iterator[FrozenDateTimeFactory]:
    """The wall clock frozen at ``START``; the event loop's clock moves with it only.

    Nothing in the bench waits in real time (the meter answers at once), so the
    figures do not depend on how fast the machine runs.
    """
    with freeze_time(START) as factory:
        frozen_at = factory.time_to_freeze
        base = 1e6  # the same on every run: the same rounding of every timestamp

        def loop_clock() -> float:
            return base + (factory.time_to_freeze - frozen_at).total_seconds()

        loop = asyncio.get_running_loop()
        real_time = loop.time
        loop.time = loop_clock  # type: ignore[method-assign]
        try:
            with patch.object(
                patch_time, "time", SimpleNamespace(monotonic=loop_clock)
            ):
                yield factory
        finally:
            loop.time = real_time  # type: ignore[method-assign]


async def _setup(hass: HomeAssistant, port: int, interval: float) -> None:
    """The appliances, the power sensor, and both meters learning every appliance."""
    await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                entity_id.split(".", 1)[1]: {"name": appliance.name}
                for entity_id, appliance in zip(WATCHED, APPLIANCES, strict=True)
            }
        },
    )
    entries = [
        # Fixed entry ids: an entry's moment to poll in each interval comes from it.
        MockConfigEntry(
            domain=DOMAIN,
            entry_id="01JSMHBENCHAPPLIANCES00001",
            unique_id=VIRTUAL_ID,
            title="Virtual meter Home power",
            version=1,
            minor_version=2,
            data={"meter_type": "virtual", "power_entity": POWER_SENSOR},
            options={"circuits": [], CONF_APPLIANCES: WATCHED},
        ),
        MockConfigEntry(
            domain=DOMAIN,
            entry_id="01JSMHBENCHAPPLIANCES00002",
            unique_id=OBIS_SERIAL,
            title=f"OBIS meter {OBIS_SERIAL}",
            version=1,
            minor_version=2,
            data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
            # Below the form's 5 s minimum: saved directly.
            options={"scan_interval": interval, CONF_APPLIANCES: WATCHED},
        ),
    ]
    for entry in entries:
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"{entry.title}: {entry.state} {entry.reason}")


def _now() -> float:
    """The wall clock, looked up at each call (the frozen one while simulating)."""
    return time.time()


def _report(hass: HomeAssistant, watts: float) -> None:
    hass.states.async_set(
        POWER_SENSOR,
        f"{watts:.1f}",
        {"unit_of_measurement": "W", "device_class": "power", "friendly_name": "Home"},
    )


async def run_once(seed: int, interval: float, home: Home) -> dict[str, MeterRun]:
    """One simulated home, read every ``interval`` s, through Home Assistant."""
    rng = _rng(seed)
    switches = _schedule(rng, home)
    sim = SimulatedHome(switches, _Truth(rng, switches, home))
    sensor_rng, meter_rng = _rng(seed * 7919 + 1), _rng(seed * 7919 + 2)
    end = max(s.t_event for s in switches) + QUIET_AFTER_S
    # The sensor's reports, with ±5 % jitter; the switches at Home Assistant's stamps.
    reports: list[float] = []
    k = 0
    while (t := FIRST_READING_S + k * interval) < end:
        reports.append(t + sensor_rng.uniform(-0.05, 0.05) * interval)
        k += 1
    actions = sorted(
        [(t, 0, None) for t in reports] + [(s.t_event, 1, s) for s in switches],
        key=lambda action: (action[0], action[1]),
    )
    meter = HomeObisMeter(serial=OBIS_SERIAL, clock=_now, seed=seed)
    meter.home, meter.rng, meter.noise_w = sim, meter_rng, home.noise_w
    server = ObisMeterServer([meter])
    with (
        simulated_time() as clock,
        tempfile.TemporaryDirectory() as config_dir,
        patch(
            "homeassistant.helpers.aiohttp_client._async_make_resolver",
            return_value=aiohttp.ThreadedResolver(),
        ),
    ):
        meter.started = time.time()
        await server.start()
        try:
            async with async_test_home_assistant(config_dir=config_dir) as hass:
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
                _report(hass, sim.reading(0.0, sensor_rng, home.noise_w))
                await _setup(hass, server.ports[0], interval)
                runs = await _drive(hass, clock, sim, actions, end, home, sensor_rng)
                for entry in hass.config_entries.async_entries(DOMAIN):
                    await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)
        finally:
            await server.stop()
    return runs


async def _drive(
    hass: HomeAssistant,
    clock: FrozenDateTimeFactory,
    sim: SimulatedHome,
    actions: list[tuple[float, int, Switch | None]],
    end: float,
    home: Home,
    sensor_rng: random.Random,
) -> dict[str, MeterRun]:
    """Play the actions on simulated time; the Learned power sensors at the end."""
    registry = er.async_get(hass)

    def learned_entity(device_id: str, watched: str) -> str:
        entity_id = registry.async_get_entity_id(
            "sensor", DOMAIN, f"{device_id}_appliance_{watched}_learned_power"
        )
        assert entity_id is not None, (device_id, watched)
        return entity_id

    runs = {label: MeterRun() for label in METERS}
    sensors = {
        learned_entity(device_id, watched): (label, device_id, watched, appliance)
        for label, device_id in METERS.items()
        for watched, appliance in zip(WATCHED, APPLIANCES, strict=True)
    }
    units = {
        entry.unique_id: entry.runtime_data.appliances
        for entry in hass.config_entries.async_entries(DOMAIN)
    }

    def learned_changed(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        label, device_id, watched, appliance = sensors[event.data["entity_id"]]
        try:
            value = float(new.state) if new is not None else math.nan
        except ValueError:
            return
        share = abs(value - appliance.watts) / tolerance(appliance.watts)
        run = runs[label]
        if share > run.worst_once_learned:
            count = units[device_id].meters[device_id].estimates[watched].observations
            run.worst_once_learned = share
            run.worst_once_learned_at = f"{appliance.name}, {count} observations"

    unsubscribe = async_track_state_change_event(hass, list(sensors), learned_changed)
    t = 0.0
    pending = iter(actions)
    action = next(pending, None)
    while t < end:
        target = math.floor(t) + 1.0
        if action is not None and action[0] < target:
            target = max(action[0], t)
        if target > t:
            clock.tick(timedelta(seconds=target - t))
            t = target
        async_fire_time_changed(hass, dt_util.utcnow())
        await hass.async_block_till_done(wait_background_tasks=True)
        while action is not None and action[0] <= t:
            if action[2] is None:
                _report(hass, sim.reading(t, sensor_rng, home.noise_w))
            else:
                switch = action[2]
                await hass.services.async_call(
                    "input_boolean",
                    "turn_on" if switch.on else "turn_off",
                    {"entity_id": WATCHED[switch.appliance]},
                    blocking=True,
                )
            await hass.async_block_till_done(wait_background_tasks=True)
            action = next(pending, None)
    unsubscribe()

    for label, device_id in METERS.items():
        entry = next(
            e
            for e in hass.config_entries.async_entries(DOMAIN)
            if e.unique_id == device_id
        )
        unit = entry.runtime_data.appliances
        runs[label].counts = unit.meters[device_id].learner.outcome_counts
        for watched, appliance in zip(WATCHED, APPLIANCES, strict=True):
            state = hass.states.get(learned_entity(device_id, watched))
            try:
                value = float(state.state) if state is not None else None
            except ValueError:
                value = None
            runs[label].learned[appliance.entity_id] = value
            runs[label].observations[appliance.entity_id] = (
                unit.meters[device_id].estimates[watched].observations
            )
    return runs


def _within(run: MeterRun) -> dict[str, bool]:
    return {
        a.entity_id: (value := run.learned[a.entity_id]) is not None
        and abs(value - a.watts) <= tolerance(a.watts)
        for a in APPLIANCES
    }


def _worst(run: MeterRun) -> tuple[float, str]:
    worst, name = 0.0, "-"
    for appliance in APPLIANCES:
        value = run.learned[appliance.entity_id]
        if value is None:
            continue
        share = abs(value - appliance.watts) / tolerance(appliance.watts)
        if share > worst:
            worst, name = share, appliance.name
    return worst, name


def print_detail(seed: int, results: dict[float, dict[str, MeterRun]]) -> None:
    """Truth against learned per appliance, each meter and interval."""
    columns = [(i, label) for i in results for label in METERS]
    header = ["appliance", "truth W", "bar W"] + [
        f"{label}, {i:g} s: learned W (observations)" for i, label in columns
    ]
    print("| " + " | ".join(header) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    for appliance in APPLIANCES:
        cells = [
            appliance.name,
            f"{appliance.watts:g}",
            f"±{tolerance(appliance.watts):g}",
        ]
        for interval, label in columns:
            run = results[interval][label]
            value = run.learned[appliance.entity_id]
            count = run.observations[appliance.entity_id]
            if value is None:
                cells.append(f"unknown ({count})")
            else:
                mark = "✓" if _within(run)[appliance.entity_id] else "✗"
                cells.append(f"{value:.1f} {mark} ({count})")
        print("| " + " | ".join(cells) + " |")
    cells = ["transitions: accepted / overlap / unsteady / missing", "", ""]
    for interval, label in columns:
        c = results[interval][label].counts
        cells.append(
            f"{c['accepted']} / {c['overlap']} / {c['unsteady']} / {c['missing']}"
        )
    print("| " + " | ".join(cells) + " |")
    cells = ["worst error at any time once learned (share of the bar)", "", ""]
    cells += [
        f"{results[i][label].worst_once_learned:.2f} "
        f"({results[i][label].worst_once_learned_at})"
        for i, label in columns
    ]
    print("| " + " | ".join(cells) + " |")


def print_sweep(runs: dict[tuple[float, str], list[MeterRun]], seeds: str) -> None:
    """Quality-bar figures over several seeds, per meter and interval."""
    print(
        f"| meter | reading every | seeds {seeds}: runs with every appliance within "
        "the bar | appliances within the bar | not learned "
        "| worst error after 10 transitions (share of the bar) "
        "| worst error at any time once learned (share of the bar) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for (interval, label), each in runs.items():
        oks = [_within(run) for run in each]
        worst = max((_worst(run) for run in each), default=(0.0, "-"))
        unknown = sum(v is None for run in each for v in run.learned.values())
        worst_once = max(
            (run.worst_once_learned, run.worst_once_learned_at) for run in each
        )
        print(
            f"| {label} | {interval:g} s | {sum(all(ok.values()) for ok in oks)}/"
            f"{len(each)} | {sum(sum(ok.values()) for ok in oks)}/"
            f"{sum(len(ok) for ok in oks)} | {unknown} "
            f"| {worst[0]:.2f} ({worst[1]}) "
            f"| {worst_once[0]:.2f} ({worst_once[1]}) |"
        )


async def main(seed: int, seeds: int, intervals: Sequence[float]) -> None:
    """Print the tables: one seed in detail, then a few seeds in figures."""
    logging.basicConfig(level=logging.ERROR)
    home = HOMES["as in #16"]
    started = time.monotonic()
    detail = {i: await run_once(seed, i, home) for i in intervals}
    print(f"Seed {seed}, home as in #16:\n")
    print_detail(seed, detail)
    if seeds:
        sweep: dict[tuple[float, str], list[MeterRun]] = {
            (i, label): [] for i in intervals for label in METERS
        }
        for n in range(1, seeds + 1):
            for interval in intervals:
                for label, run in (await run_once(n, interval, home)).items():
                    sweep[interval, label].append(run)
        print()
        print_sweep(sweep, f"1 to {seeds}")
    print(f"\n({time.monotonic() - started:.0f} s)")


def _arguments(argv: Sequence[str] | None = None) -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=16, help="seed of the detail table")
    parser.add_argument("--seeds", type=int, default=3, help="seeds 1..N in figures")
    parser.add_argument("--intervals", type=float, nargs="+", default=[2.0, 10.0])
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = _arguments()
    asyncio.run(main(args.seed, args.seeds, args.intervals))
