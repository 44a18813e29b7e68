"""SDM630 benchmark: Smart Meter Hub against Home Assistant's core `modbus` integration.

N simulated SDM630 meters behind one simulated Modbus TCP gateway (a separate process, so
its CPU is not counted). One Home Assistant instance polls every meter through a number
of poll intervals of simulated time (each poll at the moment it is scheduled for, with
the default pause between requests), first with Smart Meter Hub (one entry for the
gateway), then with core `modbus` configured the way its documentation shows: one
sensor entry per register, the same values Smart Meter Hub reads. Printed: Modbus
transactions per meter per poll, CPU time of the Home Assistant process per meter-poll
(beyond what an idle Home Assistant uses over the same time) and its ratio to core
`modbus`'s, state writes per meter-poll, the worst event-loop lag, the memory each meter
adds, and the time the same requests would keep a 9600 baud RS485 bus busy.

    python -m bench.sdm630 [--meters 1 10] [--cycles 90]

90 intervals of 10 s by default: the time in which Smart Meter Hub saves each of its
files once (storage.SAVE_EVERY), so the saves are in the figures as often as they are
in use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import logging
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.kinds.eastron.const import CONF_SPACING
from custom_components.smart_meter_hub.meters.eastron import SDM630
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630

from . import _harness
from ._harness import (
    by_meter_count,
    child_meter,
    idle_cpu_seconds,
    measure_intervals,
    spread_step,
)

BLOCKS, REGISTERS = SDM630.blocks, SDM630.registers
ROOT = Path(__file__).resolve().parents[1]
PORT = 25020
SCAN_SECONDS = 10
INTERVAL = timedelta(seconds=SCAN_SECONDS)  # Smart Meter Hub's default for a gateway
BAUD = 9600
BITS_PER_CHAR = 10  # 8N1: start, 8 data bits, stop


@dataclass
class Result:
    """Figures of one run."""

    label: str
    meters: int
    transactions_per_meter_poll: float
    cpu_ms_per_meter_poll: float
    state_writes_per_meter_poll: float
    worst_loop_lag_ms: float
    memory_kib_per_meter: float
    bus_seconds_per_poll: float


def rtu_bus_seconds(counts: list[int]) -> float:
    """Time on a 9600 baud bus for these reads: frames plus the 3.5-character gaps."""
    chars = sum(8 + 5 + 2 * count + 2 * 3.5 for count in counts)
    return chars * BITS_PER_CHAR / BAUD


async def _serve(meters: int, port: int) -> None:
    """The child process: one gateway; answers 'stats' on stdin with its counter."""
    gateway = Sdm630Gateway(
        {n: SimulatedSdm630(serial=1000 + n, seed=n) for n in range(1, meters + 1)}
    )
    await gateway.start(port)
    print("ready", flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        if line.strip() == "stats":
            print(gateway.transactions, flush=True)
    await gateway.stop()


@contextlib.asynccontextmanager
async def simulated_gateway(
    meters: int,
) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """Run the gateway in a child process; yield a reader of its transaction count."""
    async with child_meter("bench.sdm630", str(meters)) as (_ready, stats):

        async def transactions() -> int:
            return int(await stats())

        yield transactions


async def setup_smart_meter_hub(
    hass: HomeAssistant, meters: int, options: dict[str, Any] | None = None
) -> None:
    """One entry for the gateway with every meter, as the config flow creates it."""
    entry = MockConfigEntry(
        options=options or {},
        domain="smart_meter_hub",
        unique_id=f"127.0.0.1:{PORT}",
        title="SDM630 gateway",
        data={
            "meter_type": "sdm630",
            "host": "127.0.0.1",
            "port": PORT,
            "framing": "tcp",
            "meters": [
                {"unit": n, "serial": str(1000 + n), "model": "SDM630"}
                for n in range(1, meters + 1)
            ],
        },
    )
    entry.add_to_hass(hass)
    if not await hass.config_entries.async_setup(entry.entry_id):
        raise RuntimeError(f"{entry.title}: {entry.state} {entry.reason}")


async def setup_core_modbus(hass: HomeAssistant, meters: int) -> None:
    """Core `modbus`: one sensor per register and meter, as its documentation shows."""
    sensors: list[dict[str, Any]] = [
        {
            "name": f"meter {unit} 0x{address:04X}",
            "unique_id": f"bench_{unit}_{address}",
            "slave": unit,
            "address": address,
            "input_type": "input",
            "data_type": "float32",
            "scan_interval": SCAN_SECONDS,
            **({"unit_of_measurement": unit_text} if unit_text else {}),
        }
        for unit in range(1, meters + 1)
        for address, (_code, unit_text) in REGISTERS.items()
    ]
    config = {
        "modbus": [
            {
                "name": "bench",
                "type": "tcp",
                "host": "127.0.0.1",
                "port": PORT,
                "sensors": sensors,
            }
        ]
    }
    assert await async_setup_component(hass, "modbus", config)


async def measure(
    label: str,
    meters: int,
    setup: Callable[[HomeAssistant, int], Awaitable[None]],
    transactions: Callable[[], Awaitable[int]],
    cycles: int,
    idle_cpu: float,
) -> Result:
    """Set up, let `cycles` poll intervals pass, measure."""
    measured = await measure_intervals(
        lambda hass: setup(hass, meters),
        transactions,
        cycles,
        INTERVAL,
        spread_step(INTERVAL, meters),
    )
    # Smart Meter Hub reads every meter of the gateway at each of the entry's polls;
    # core modbus reads each register once an interval (simulated time: the steps,
    # and the real time the polls took).
    ours = label.startswith("smart_meter_hub")
    if ours:
        polls = measured.polls * meters
    else:
        polls = round(measured.simulated_seconds / INTERVAL.total_seconds()) * meters
    per_meter = measured.counted / polls
    counts = [count for _start, count in BLOCKS] if ours else [2] * len(REGISTERS)
    return Result(
        label,
        meters,
        per_meter,
        (measured.cpu_seconds - idle_cpu) * 1000 / polls,
        measured.state_writes / polls,
        measured.worst_lag_seconds * 1000,
        measured.memory_kib / meters,
        rtu_bus_seconds(counts) * meters,
    )


# Smart Meter Hub with no pause between requests (request spacing 0 ms in the entry's
# options), and without the extra pause when the unit id changes (no option: set on
# the connection). Not a way to run it on RS485 meters: what its pauses cost.
UNPACED = "smart_meter_hub, no pauses"


async def unpaced(hass: HomeAssistant, meters: int) -> None:
    """:func:`setup_smart_meter_hub` with no pause before any request."""
    await setup_smart_meter_hub(hass, meters, {CONF_SPACING: 0})
    (entry,) = hass.config_entries.async_entries("smart_meter_hub")
    entry.runtime_data.backend.connection.UNIT_CHANGE_PAUSE = 0.0


async def waiting_charge_ms(seconds: float, sleeps: int = 30) -> float:
    """CPU ms this process is charged per ``asyncio.sleep(seconds)``, doing nothing else.

    Normally next to nothing; on some virtual machines far more (this one: 0.3-1.1 ms
    per 60 ms), and then every pause an integration keeps costs CPU time here.
    """
    started = time.process_time()
    for _ in range(sleeps):
        await asyncio.sleep(seconds)
    return (time.process_time() - started) * 1000 / sleeps


def _ratio(result: Result, results: list[Result]) -> str:
    """CPU per meter-poll as a share of core `modbus`'s with as many meters."""
    core = by_meter_count(results)[result.meters].get("core modbus")
    if core is None or core.cpu_ms_per_meter_poll <= 0:
        return "-"
    return f"{result.cpu_ms_per_meter_poll / core.cpu_ms_per_meter_poll:.2f}x"


def _table(results: list[Result]) -> str:
    lines = [
        "| meters | integration | transactions / meter / poll "
        "| CPU / meter-poll, share of core modbus's | CPU ms / meter-poll "
        "| state writes / meter-poll | worst loop lag ms | memory KiB / meter "
        "| RS485 wire time / poll at 9600 baud |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.meters} | {r.label} | {r.transactions_per_meter_poll:.1f} "
        f"| {_ratio(r, results)} | {r.cpu_ms_per_meter_poll:.2f} "
        f"| {r.state_writes_per_meter_poll:.2f} | {r.worst_loop_lag_ms:.1f} "
        f"| {r.memory_kib_per_meter:.0f} | {r.bus_seconds_per_poll:.2f} s |"
        for r in results
    ]
    return "\n".join(lines)


async def main(sizes: list[int], cycles: int, only: str | None = None) -> None:
    """Run every size with both integrations and print the table."""
    logging.basicConfig(level=logging.CRITICAL)
    results: list[Result] = []
    for size in sizes:
        idle = await idle_cpu_seconds(cycles, INTERVAL, spread_step(INTERVAL, size))
        for label, setup in (
            ("smart_meter_hub", setup_smart_meter_hub),
            (UNPACED, unpaced),
            ("core modbus", setup_core_modbus),
        ):
            if only and not label.startswith(only):
                continue
            async with simulated_gateway(size) as transactions:
                result = await measure(label, size, setup, transactions, cycles, idle)
            if not result.transactions_per_meter_poll:  # no figure, then
                raise RuntimeError(f"{label} read no meter (log lower to see why)")
            print(
                f"{size:>4} meters  {label:<16} "
                f"{result.transactions_per_meter_poll:.1f} transactions/meter/poll  "
                f"{result.cpu_ms_per_meter_poll:.2f} CPU ms/meter-poll  "
                f"{result.state_writes_per_meter_poll:.2f} writes/meter-poll  "
                f"lag {result.worst_loop_lag_ms:.1f} ms  "
                f"{result.memory_kib_per_meter:.0f} KiB/meter  "
                f"bus {result.bus_seconds_per_poll:.2f} s/poll at {BAUD} baud",
                flush=True,
            )
            results.append(result)
    print()
    print(
        f"This machine charges {await waiting_charge_ms(0.06):.2f} ms of CPU time for "
        "each 60 ms the event loop sleeps (idle Python, asyncio.sleep)."
    )
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{cycles} poll intervals of {SCAN_SECONDS} s per run, "
        f"{len(REGISTERS)} values per meter"
    )
    print(_table(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--cycles", type=int, default=90)
    parser.add_argument("--only", help="measure only this integration")
    parser.add_argument("--profile", type=Path, help="profile the measured polls")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve, PORT))
    else:
        if args.profile:
            _harness.PROFILER = cProfile.Profile(time.process_time)
        asyncio.run(main(args.meters, args.cycles, args.only))
        if _harness.PROFILER is not None:
            _harness.PROFILER.dump_stats(args.profile)
