"""OBIS HTTP benchmark: Smart Meter Hub against Home Assistant's core `rest` integration.

For N simulated meters (a separate process, so its CPU is not counted), one Home Assistant
instance polls every meter for a number of poll cycles, first with Smart Meter Hub, then
with `rest` configured the best way a user can (one resource per meter, a template sensor
per value, the same seven values Smart Meter Hub shows by default). Printed per poll cycle:
HTTP requests per meter, CPU time of the Home Assistant process per meter-poll, the worst
event-loop lag, and the memory each meter adds.

    python -m bench.obis_http [--meters 1 50 200] [--cycles 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from ._harness import by_meter_count, measure_polls

ROOT = Path(__file__).resolve().parents[1]
BASE_PORT = 28000
# The values Smart Meter Hub shows by default (enabled entities), for the `rest` setup.
VALUES = {
    "1-0:1.8.0.255": ("kWh", "energy", "total_increasing"),
    "1-0:2.8.0.255": ("kWh", "energy", "total_increasing"),
    "1-0:1.7.0.255": ("W", "power", "measurement"),
    "1-0:2.7.0.255": ("W", "power", "measurement"),
    "1-0:16.7.0.255": ("W", "power", "measurement"),
    "1-0:13.7.0.255": (None, "power_factor", "measurement"),
    "1-0:14.7.0.255": ("Hz", "frequency", "measurement"),
}
TEMPLATE = (
    "{% set r = value_json.readings | selectattr('obisCode', 'eq', 'CODE') | first %}"
    "{{ (r.value | float) * 10 ** (r.scaler | default(0)) }}"
)


@dataclass
class Result:
    """Figures of one run."""

    label: str
    meters: int
    requests_per_meter_poll: float
    cpu_ms_per_meter_poll: float
    worst_loop_lag_ms: float
    memory_kib_per_meter: float


@contextlib.asynccontextmanager
async def simulated_meters(count: int) -> AsyncIterator[list[int]]:
    """Run `count` meters in a child process; yield their ports."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "meter_sim",
            "--obis-count",
            str(count),
            "--obis-port",
            str(BASE_PORT),
            "--sdm630-port",
            "29020",
            "--xcel-port",
            "29091",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        await asyncio.to_thread(
            process.stdout.readline
        )  # "Simulated meters are running"
        yield [BASE_PORT + n for n in range(count)]
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait)


async def _requests(session: aiohttp.ClientSession, ports: list[int]) -> int:
    total = 0
    for port in ports:
        async with session.get(f"http://127.0.0.1:{port}/sim/stats") as response:
            total += (await response.json())["read_requests"]
    return total


async def setup_smart_meter_hub(hass: HomeAssistant, ports: list[int]) -> None:
    """One config entry per meter, as a user adds them."""
    for n, port in enumerate(ports, 1):
        entry = MockConfigEntry(
            domain="smart_meter_hub",
            unique_id=f"SMH-BENCH-{n:04}",
            title=f"Meter {n}",
            data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
        )
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"{entry.title}: {entry.state} {entry.reason}")


async def setup_rest(hass: HomeAssistant, ports: list[int]) -> None:
    """One `rest` resource per meter with a template sensor per value."""
    resources: list[dict[str, Any]] = [
        {
            "resource": f"http://127.0.0.1:{port}/api/read",
            "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "payload": json.dumps({"obisCodes": [*VALUES, "0-0:96.1.0.255"]}),
            "scan_interval": 60,
            "timeout": 10,
            "sensor": [
                {
                    "name": f"meter {n} {code}",
                    "unique_id": f"bench_{n}_{code}",
                    "value_template": TEMPLATE.replace("CODE", code),
                    "device_class": device_class,
                    "state_class": state_class,
                    **({"unit_of_measurement": unit} if unit else {}),
                }
                for code, (unit, device_class, state_class) in VALUES.items()
            ],
        }
        for n, port in enumerate(ports, 1)
    ]
    assert await async_setup_component(hass, "rest", {"rest": resources})


async def measure(
    label: str,
    ports: list[int],
    setup: Callable[[HomeAssistant, list[int]], Awaitable[None]],
    cycles: int,
) -> Result:
    """Set up, then poll every meter `cycles` times and measure."""
    async with aiohttp.ClientSession() as session:
        measured = await measure_polls(
            lambda hass: setup(hass, ports),
            lambda: _requests(session, ports),
            cycles,
            timedelta(seconds=61),
        )
    polls = cycles * len(ports)
    return Result(
        label,
        len(ports),
        measured.counted / polls,
        measured.cpu_seconds * 1000 / polls,
        measured.worst_lag_seconds * 1000,
        measured.memory_kib / len(ports),
    )


def _table(results: list[Result]) -> str:
    lines = [
        "| meters | integration | HTTP requests / meter / poll | CPU ms / meter-poll | worst loop lag ms | memory KiB / meter |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.meters} | {r.label} | {r.requests_per_meter_poll:.2f} | {r.cpu_ms_per_meter_poll:.2f} "
        f"| {r.worst_loop_lag_ms:.1f} | {r.memory_kib_per_meter:.0f} |"
        for r in results
    ]
    lines.append("")
    for size, pair in by_meter_count(results).items():
        ours, rest = pair.get("smart_meter_hub"), pair.get("rest")
        if ours and rest and ours.cpu_ms_per_meter_poll:
            lines.append(
                f"{size} meters: rest uses {rest.cpu_ms_per_meter_poll / ours.cpu_ms_per_meter_poll:.1f}x "
                f"the CPU of Smart Meter Hub per meter-poll"
            )
    return "\n".join(lines)


async def main(sizes: list[int], cycles: int) -> None:
    """Run every size with both integrations and print the table."""
    logging.basicConfig(level=logging.ERROR)
    results: list[Result] = []
    for size in sizes:
        async with simulated_meters(size) as ports:
            for label, setup in (
                ("smart_meter_hub", setup_smart_meter_hub),
                ("rest", setup_rest),
            ):
                result = await measure(label, ports, setup, cycles)
                print(
                    f"{size:>4} meters  {label:<16} {result.requests_per_meter_poll:.2f} req/meter/poll  "
                    f"{result.cpu_ms_per_meter_poll:.2f} CPU ms/meter-poll  "
                    f"lag {result.worst_loop_lag_ms:.1f} ms  {result.memory_kib_per_meter:.0f} KiB/meter",
                    flush=True,
                )
                results.append(result)
    print()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {cycles} poll cycles per run"
    )
    print(_table(results))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, nargs="+", default=[1, 50, 200])
    parser.add_argument("--cycles", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.meters, args.cycles))
