"""What every benchmark part shares: one Home Assistant instance, polls driven by time.

A part sets its integration up in a fresh Home Assistant, then :func:`measure_polls`
fires the poll timers ``cycles`` times and reports the CPU time of this process, the
worst event-loop lag and the memory the setup added. The simulated meters run in
another process, so their CPU is not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Protocol
from unittest.mock import patch

import aiohttp
from homeassistant import loader
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    async_fire_time_changed,
    async_test_home_assistant,
)

ROOT = Path(__file__).resolve().parents[1]


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


@dataclass
class Measured:
    """Raw figures of one run."""

    cpu_seconds: float
    worst_lag_seconds: float
    memory_kib: float
    counted: int


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
    with tempfile.TemporaryDirectory() as config_dir:
        async with async_test_home_assistant(config_dir=config_dir) as hass:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)
            # Loopback only: resolve names with the system resolver, not mDNS (which
            # would start zeroconf on every network interface).
            resolver = patch(
                "homeassistant.helpers.aiohttp_client._async_make_resolver",
                return_value=aiohttp.ThreadedResolver(),
            )
            resolver.start()
            await async_setup_component(hass, "homeassistant", {})
            await hass.async_block_till_done()
            rss_before = rss_kib()
            await setup(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
            memory = rss_kib() - rss_before

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
            for entry in hass.config_entries.async_entries():
                await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_stop(force=True)
            resolver.stop()
    return Measured(cpu, worst_lag, memory, counted)


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
