"""What every benchmark part shares: one Home Assistant instance, polls driven by time.

A part sets its integration up in a fresh Home Assistant, then either
:func:`measure_polls` fires the poll timers ``cycles`` times at once, or
:func:`measure_intervals` lets simulated time run through whole poll intervals in small
steps, so that every poll happens at the moment it is scheduled for, as in a running
Home Assistant. Both report the CPU time of this process, the worst event-loop lag and
the memory the setup added. The simulated meters run in another process, so their CPU
is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import gc
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from unittest.mock import patch

import aiohttp
import freezegun.api
from freezegun import freeze_time
from homeassistant import loader
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import frame
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_test_home_assistant,
)

ROOT = Path(__file__).resolve().parents[1]
# Set (python -m bench.<part> --profile FILE): the measured part of every run of
# measure_intervals is profiled into it.
PROFILER: cProfile.Profile | None = None


class _Row(Protocol):
    """A result row of a benchmark table: which integration, how many meters."""

    @property
    def label(self) -> str: ...

    @property
    def meters(self) -> int: ...


def by_meter_count[RowT: _Row](rows: list[RowT]) -> dict[int, dict[str, RowT]]:
    """The rows of each meter count, by integration: the side-by-side comparisons."""
    grouped: dict[int, dict[str, RowT]] = {}
    for row in rows:
        grouped.setdefault(row.meters, {})[row.label] = row
    return grouped


# Simulated time that passes before the measured intervals (see measure_intervals).
WARM_UP = timedelta(minutes=2)


@dataclass
class Measured:
    """Raw figures of one run."""

    cpu_seconds: float
    worst_lag_seconds: float
    memory_kib: float
    counted: int
    # measure_intervals only: state writes, coordinator polls, and the most polls that
    # started within one second of simulated time (on the wall clock's seconds).
    state_writes: int = 0
    polls: int = 0
    busiest_second_polls: int = 0
    simulated_seconds: float = 0.0
    # The longest garbage collection (CPU time of the loop's thread), and its generation.
    worst_collection_seconds: float = 0.0
    worst_collection_generation: int = -1
    # The longest turn with the collections in it taken out.
    worst_own_turn_seconds: float = 0.0


def rss_kib() -> int:
    """Resident memory of this process."""
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def measure_polls(
    setup: Callable[[HomeAssistant], Awaitable[None]],
    count: Callable[[], Awaitable[int]],
    cycles: int,
    step: timedelta,
    pause: float = 0.0,
) -> Measured:
    """Set up, then poll ``cycles`` times (``step`` apart) and measure.

    ``count`` reads the meter side's request counter; ``counted`` is its increase.
    ``pause``: real seconds between polls (for meters that drop idle connections).
    """
    async with _home_assistant() as hass:
        memory = await _set_up(hass, setup)

        worst_lag = 0.0
        running = True

        async def watch_loop() -> None:
            nonlocal worst_lag
            while running:
                start = time.perf_counter()
                await asyncio.sleep(0.005)
                worst_lag = max(worst_lag, time.perf_counter() - start - 0.005)

        before = await count()
        watcher = asyncio.create_task(watch_loop())
        cpu = 0.0
        now = dt_util.utcnow()
        for cycle in range(1, cycles + 1):
            started = time.process_time()
            async_fire_time_changed(hass, now + step * cycle)
            await hass.async_block_till_done(wait_background_tasks=True)
            cpu += time.process_time() - started
            if pause:  # not counted: Home Assistant idles, the meter drops us
                await asyncio.sleep(pause)
        running = False
        await watcher
        counted = await count() - before
    return Measured(cpu, worst_lag, memory, counted)


def spread_step(interval: timedelta, meters: int) -> timedelta:
    """Steps of simulated time: about one meter's poll in each, at most a second.

    (When the polls are spread over the interval.)
    """
    return min(interval / max(meters, 1), timedelta(seconds=1))


async def idle_cpu_seconds(
    intervals: int, interval: timedelta, step: timedelta
) -> float:
    """CPU time of an idle Home Assistant (and of the stepping) over the same time.

    Subtracted from a measurement, what is left is what the meters' polls cost.
    """

    async def nothing(_hass: HomeAssistant) -> None:
        return

    async def zero() -> int:
        return 0

    global PROFILER  # noqa: PLW0603 - an idle run is not profiled
    profiler, PROFILER = PROFILER, None
    try:
        measured = await measure_intervals(nothing, zero, intervals, interval, step)
    finally:
        PROFILER = profiler
    return measured.cpu_seconds


async def _set_up(
    hass: HomeAssistant, setup: Callable[[HomeAssistant], Awaitable[None]]
) -> int:
    """Run ``setup`` until all it started is done; the resident memory it added, KiB."""
    rss_before = rss_kib()
    await setup(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    return rss_kib() - rss_before


class _SystemResolver(aiohttp.ThreadedResolver):
    """aiohttp's resolver through the system's, closed as Home Assistant closes its own.

    Newer Home Assistant closes its session's resolver with ``real_close``.
    """

    async def real_close(self) -> None:
        await self.close()


@contextlib.asynccontextmanager
async def _home_assistant() -> AsyncIterator[HomeAssistant]:
    """A fresh Home Assistant (core only), names resolved by the system resolver."""
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            # Loopback only: resolve names with the system resolver, not mDNS (which
            # would start zeroconf on every network interface).
            with patch(
                "homeassistant.helpers.aiohttp_client._async_make_resolver",
                return_value=_SystemResolver(),
            ):
                # As Home Assistant's bootstrap does: integrations that report a
                # deprecated call (newer core modbus does, for its own) need it.
                frame.async_setup(hass)
                await async_setup_component(hass, "homeassistant", {})
                await hass.async_block_till_done()
                yield hass
                for entry in hass.config_entries.async_entries():
                    await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_stop(force=True)
        _cancel_leftover_timers()


def _cancel_leftover_timers() -> None:
    """Cancel the timers a stopped Home Assistant left on the loop.

    An integration set up from YAML (`rest`) is not unloaded, and its coordinators'
    poll timers outlive ``async_stop``: on the loop that every run shares, they would
    fire inside the next run's measurement (a poll of a stopped instance, failing on
    its closed HTTP client) and be charged to the next integration.
    """
    loop = asyncio.get_running_loop()
    for handle in list(getattr(loop, "_scheduled", ())):
        handle.cancel()


class _Clock(freezegun.api.TickingDateTimeFactory):
    """freezegun's ticking clock, whose ``tick`` keeps the real time that passed."""

    def tick(self, delta: timedelta | float = timedelta(seconds=1)) -> datetime:
        """Move the clock by ``delta``, on top of the real time that passed.

        freezegun's own ``tick`` forgets the real time since the last one.
        """
        if not isinstance(delta, timedelta):
            delta = timedelta(seconds=float(delta))
        self.time_to_freeze += delta
        return self.time_to_freeze


@contextlib.contextmanager
def _simulated_clock(loop: asyncio.AbstractEventLoop) -> Iterator[_Clock]:
    """Both clocks run in real time and jump together with every ``tick``.

    The wall clock (freezegun's) and the event loop's clock keep running in real time
    (requests, timeouts and pauses take the time they take), and both jump with every
    ``tick``: timers due in the simulated time fire, in order, on the next turn of the
    loop, and what an integration computes from the wall clock agrees with the loop's.
    freezegun looks at no call stack here, so its clock costs little per call (both
    integrations measured read it the same way).
    """
    real_monotonic = freezegun.api.real_monotonic
    limit = freezegun.api.call_stack_inspection_limit
    freezegun.api.call_stack_inspection_limit = 0
    loop_class = type(loop)
    loop_time = loop_class.time
    try:
        with freeze_time(dt_util.utcnow(), tick=True) as ticking:
            clock = _Clock(ticking.time_to_freeze, ticking.start)
            freezegun.api.freeze_factories[-1] = clock
            frozen_at = clock.time_to_freeze

            def loop_clock(_loop: object) -> float:
                moved = clock.time_to_freeze - frozen_at
                return real_monotonic() + moved.total_seconds()

            loop_class.time = loop_clock  # type: ignore[method-assign]
            yield clock
    finally:
        loop_class.time = loop_time  # type: ignore[method-assign]
        freezegun.api.call_stack_inspection_limit = limit


@dataclass
class _Collections:
    """The garbage collections of this thread so far, in CPU time of the thread."""

    total: float = 0.0
    longest: float = 0.0
    generation: int = -1  # the longest one's


@contextlib.contextmanager
def _collections() -> Iterator[_Collections]:
    """Time every garbage collection of this thread while the block runs.

    A collection runs inside whatever turn of the event loop allocated last: the
    longest, compared with the longest turn, tells whether that turn was the
    collector's; the total lets :func:`_longest_turn` take them out of a turn.
    """
    clock = time.thread_time
    seen = _Collections()
    started = 0.0

    def timed(phase: str, info: dict[str, int]) -> None:
        nonlocal started
        if phase == "start":
            started = clock()
            return
        took = clock() - started
        seen.total += took
        if took > seen.longest:
            seen.longest, seen.generation = took, info["generation"]

    gc.callbacks.append(timed)
    try:
        yield seen
    finally:
        gc.callbacks.remove(timed)


@contextlib.contextmanager
def _longest_turn(
    loop: asyncio.AbstractEventLoop, collections: _Collections
) -> Iterator[Callable[[], tuple[float, float]]]:
    """The longest turn of the event loop, from its wait's end to the turn's end.

    And the longest with the garbage collections in it taken out: what the code run
    in the turn took itself (a full collection of a large process lasts far longer,
    and it runs in whatever turn allocated last).

    Nothing else runs while a turn's callbacks run: a timer due in it, or an answer
    that arrives, waits up to that long (an event-loop lag). Measured on the loop
    itself (two clock readings a turn), not by a timer that would wake the loop every
    few milliseconds and cost CPU in proportion to the real time a run takes; in CPU
    time of the loop's thread, so that other programs taking the machine's CPUs from
    Home Assistant for a while do not count as its lag.
    """
    clock = time.thread_time
    selector = loop._selector  # type: ignore[attr-defined]  # noqa: SLF001
    select, run_once = selector.select, loop._run_once  # type: ignore[attr-defined]  # noqa: SLF001
    woke = 0.0
    collected_before = 0.0  # the collections' total when the turn began
    longest = 0.0
    longest_own = 0.0

    def timed_select(timeout: float | None = None) -> object:
        nonlocal woke, collected_before
        events = select(timeout)
        woke = clock()
        collected_before = collections.total
        return events

    def timed_run_once() -> None:
        nonlocal longest, longest_own
        run_once()
        took = clock() - woke
        longest = max(longest, took)
        longest_own = max(longest_own, took - (collections.total - collected_before))

    selector.select = timed_select
    loop._run_once = timed_run_once  # type: ignore[attr-defined]  # noqa: SLF001
    try:
        yield lambda: (longest, longest_own)
    finally:
        selector.select = select
        loop._run_once = run_once  # type: ignore[attr-defined]  # noqa: SLF001


async def measure_intervals(
    setup: Callable[[HomeAssistant], Awaitable[None]],
    count: Callable[[], Awaitable[int]],
    intervals: int,
    interval: timedelta,
    step: timedelta,
) -> Measured:
    """Set up, then let ``intervals`` poll intervals of simulated time pass; measure.

    Time moves in steps of ``step``; after each, every poll due has run and its answer
    is in before the next. :data:`WARM_UP` passes first (whole intervals, at least
    one), unmeasured: the polls that setup started are over, every poll falls at its
    steady moment, and Smart Meter Hub's first save after a start (a minute after it,
    storage.SAVE_FIRST) is behind; its saves every 15 minutes are not. Measured over the
    following ``intervals``: this process's CPU time, the event loop's longest turn
    (how long a timer or an answer may wait), state writes, the coordinators' polls (Home
    Assistant's DataUpdateCoordinator, for the integrations that use it) and ``count``'s
    increase (the meters' side).
    """
    async with _home_assistant() as hass:
        memory = await _set_up(hass, setup)

        polls_now = 0
        # The second of simulated time each measured poll started in.
        seconds: Counter[int] | None = None
        handle_refresh = DataUpdateCoordinator._handle_refresh_interval  # noqa: SLF001

        async def counted_refresh(
            self: DataUpdateCoordinator[object], _now: object = None
        ) -> None:
            nonlocal polls_now
            polls_now += 1
            if seconds is not None:
                seconds[int(time.time())] += 1
            await handle_refresh(self)

        writes = 0

        @callback
        def written(_event: Event) -> None:
            nonlocal writes
            writes += 1

        steps_per_interval = round(interval / step)
        loop = asyncio.get_running_loop()
        with (
            patch.object(
                DataUpdateCoordinator, "_handle_refresh_interval", counted_refresh
            ),
            _simulated_clock(loop) as frozen,
        ):

            async def advance(steps: int) -> None:
                nonlocal polls_now
                for _ in range(steps):
                    polls_now = 0
                    frozen.tick(step)
                    # The timers now due run on the loop's next turn.
                    await asyncio.sleep(0)
                    await asyncio.sleep(0)
                    await hass.async_block_till_done(wait_background_tasks=True)

            await advance(steps_per_interval * max(1, math.ceil(WARM_UP / interval)))
            # Setup's garbage collected now, not in a measured poll: without this a
            # full collection (over 100 ms at 50 meters on Python 3.14) fell inside the
            # measured intervals of whichever integration set up more objects.
            gc.collect()
            before = await count()
            unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, written)
            polls_total = 0
            seconds = Counter()
            with (
                _collections() as collections,
                _longest_turn(loop, collections) as longest,
            ):
                if PROFILER is not None:
                    PROFILER.enable()
                started = time.process_time()
                simulated_from = time.time()
                for _ in range(intervals * steps_per_interval):
                    await advance(1)
                    polls_total += polls_now
                cpu = time.process_time() - started
                simulated = time.time() - simulated_from
                if PROFILER is not None:
                    PROFILER.disable()
            # Polls keep coming while the meters are asked for their counts below
            # (the clock ticks on in real time); they are not in the measured ones.
            busiest_second = max(seconds.values(), default=0)
            seconds = None
            worst_lag, worst_own_turn = longest()
            unsubscribe()
            counted = await count() - before
    return Measured(
        cpu,
        worst_lag,
        memory,
        counted,
        writes,
        polls_total,
        busiest_second,
        simulated,
        collections.longest,
        collections.generation,
        worst_own_turn,
    )


@contextlib.asynccontextmanager
async def child_meter(
    module: str, *args: str
) -> AsyncIterator[tuple[str, Callable[[], Awaitable[str]]]]:
    """Run ``python -m module --serve args…`` (a simulated meter) in its own process.

    The child prints one line when it listens, then answers each ``stats`` line on its
    stdin with one line of counters. Yields (first line, ask for the counters).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", module, "--serve", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    stdin, stdout = process.stdin, process.stdout
    ready = await asyncio.to_thread(stdout.readline)

    async def stats() -> str:
        stdin.write("stats\n")
        stdin.flush()
        return await asyncio.to_thread(stdout.readline)

    try:
        yield ready, stats
    finally:
        stdin.close()
        await asyncio.to_thread(process.wait)
