"""OBIS HTTP benchmark: Smart Meter Hub against Home Assistant's core `rest` integration.

For N simulated meters (a separate process, so its CPU is not counted), one Home Assistant
instance polls every meter through a number of poll intervals of simulated time (each poll
at the moment it is scheduled for), first with Smart Meter Hub, then with `rest`
configured the best way a user can (one resource per meter, a template sensor per value,
the same seven values Smart Meter Hub shows by default). Printed: HTTP requests per
meter-poll, CPU time of the Home Assistant process per meter-poll (beyond what an idle
Home Assistant uses over the same time) and its ratio to `rest`'s, state writes per
meter-poll, the most polls started within one second, the worst event-loop lag,
and the memory each meter adds.

    python -m bench.obis_http [--meters 1 50 200 1000] [--cycles 15]

15 intervals of 60 s by default: the time in which Smart Meter Hub saves each of its
files once (storage.SAVE_EVERY), so the saves are in the figures as often as they are
in use.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity import Entity
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub import coordinator
from custom_components.smart_meter_hub.coordinator import SmartMeterCoordinator
from custom_components.smart_meter_hub.meters import http, obis_http
from custom_components.smart_meter_hub.meters.obis import DEFAULT_CODES
from custom_components.smart_meter_hub.meters.obis_http import (
    DEFAULT_READ_PATH,
    MAX_BODY,
)

from . import _harness
from ._harness import (
    by_meter_count,
    idle_cpu_seconds,
    measure_intervals,
    spread_step,
)

ROOT = Path(__file__).resolve().parents[1]
BASE_PORT = 28000
INTERVAL = timedelta(seconds=60)  # Smart Meter Hub's default for OBIS meters
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
    state_writes_per_meter_poll: float
    busiest_second_polls: int
    worst_loop_lag_ms: float
    memory_kib_per_meter: float
    worst_collection_ms: float
    worst_collection_generation: int
    worst_own_turn_ms: float  # the longest turn, its collections taken out


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
        # Then a line per meter: read on, or at 1000 meters (80 KB) the full pipe
        # stops the simulator and no meter answers.
        threading.Thread(target=process.stdout.read, daemon=True).start()
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
    for port in ports:
        n = port - BASE_PORT + 1
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
            "scan_interval": int(INTERVAL.total_seconds()),
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
        for n, port in ((port - BASE_PORT + 1, port) for port in ports)
    ]
    assert await async_setup_component(hass, "rest", {"rest": resources})


async def measure(
    label: str,
    ports: list[int],
    setup: Callable[[HomeAssistant, list[int]], Awaitable[None]],
    cycles: int,
    idle_cpu: float,
) -> Result:
    """Set up, let `cycles` poll intervals pass, measure."""
    async with aiohttp.ClientSession() as session:
        measured = await measure_intervals(
            lambda hass: setup(hass, ports),
            lambda: _requests(session, ports),
            cycles,
            INTERVAL,
            spread_step(INTERVAL, len(ports)),
        )
    polls = max(measured.polls, 1)
    return Result(
        label,
        len(ports),
        measured.counted / polls,
        (measured.cpu_seconds - idle_cpu) * 1000 / polls,
        measured.state_writes / polls,
        measured.busiest_second_polls,
        measured.worst_lag_seconds * 1000,
        measured.memory_kib / len(ports),
        measured.worst_collection_seconds * 1000,
        measured.worst_collection_generation,
        measured.worst_own_turn_seconds * 1000,
    )


def _ratio(result: Result, results: list[Result]) -> str:
    """CPU per meter-poll as a share of `rest`'s with as many meters."""
    rest = by_meter_count(results)[result.meters].get("rest")
    if rest is None or rest.cpu_ms_per_meter_poll <= 0:
        return "-"
    return f"{result.cpu_ms_per_meter_poll / rest.cpu_ms_per_meter_poll:.2f}x"


def _table(results: list[Result]) -> str:
    lines = [
        "| meters | integration | HTTP requests / meter-poll | CPU / meter-poll, share of rest's "
        "| CPU ms / meter-poll | state writes / meter-poll "
        "| most polls in one second (a second's share) "
        "| worst loop lag ms | longest garbage collection ms (generation) "
        "| worst loop lag ms, collections taken out | memory KiB / meter |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r.meters} | {r.label} | {r.requests_per_meter_poll:.2f} | {_ratio(r, results)} "
        f"| {r.cpu_ms_per_meter_poll:.2f} | {r.state_writes_per_meter_poll:.2f} "
        f"| {r.busiest_second_polls} ({r.meters / INTERVAL.total_seconds():.1f}) "
        f"| {r.worst_loop_lag_ms:.1f} "
        f"| {r.worst_collection_ms:.1f} ({r.worst_collection_generation}) "
        f"| {r.worst_own_turn_ms:.1f} | {r.memory_kib_per_meter:.0f} |"
        for r in results
    ]
    return "\n".join(lines)


async def _exchange_cpu(
    label: str, exchange: Callable[[], Awaitable[bytes]], count: int, gap: float
) -> tuple[str, float]:
    """CPU µs per exchange of ``count`` in a row (after a few unmeasured ones).

    With ``gap`` seconds of idle event loop after each, as polls spread over an
    interval have; what the gaps alone cost is measured too and taken off.
    """

    async def idle() -> bytes:
        return b"{"

    spent = {}
    for name, step in (("idle", idle), ("exchange", exchange)):
        for _ in range(20):
            await step()
            await asyncio.sleep(gap)
        started = time.process_time()
        for _ in range(count):
            body = await step()
            await asyncio.sleep(gap)
        spent[name] = time.process_time() - started
        assert body.startswith(b"{"), body[:40]
    return label, (spent["exchange"] - spent["idle"]) * 1e6 / count


async def exchanges(count: int, gap_ms: float) -> None:
    """The HTTP exchange of a poll alone: aiohttp against ``meters.http``, one run.

    Without Home Assistant, against one simulated meter. aiohttp as Home Assistant's
    shared session has it, once on a new connection per request (what polls a minute
    apart get: the session keeps an idle connection 15 s) and once on a kept-alive one
    (polls seconds apart). ``meters.http`` as built (a new connection per poll), and
    beside it what keeping its connection would cost: the same request without
    ``Connection: close`` on one socket, its answer parsed by ``meters.http``.
    """
    body = json.dumps({"obisCodes": [str(code) for code in DEFAULT_CODES]}).encode()
    headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
    async with simulated_meters(1) as ports:
        port = ports[0]
        url = f"http://127.0.0.1:{port}{DEFAULT_READ_PATH}"
        request = http.request_bytes(
            "POST", "127.0.0.1", port, DEFAULT_READ_PATH, headers.items(), body
        )
        rows = []
        for label, connector in (
            ("aiohttp, a new connection each", aiohttp.TCPConnector(force_close=True)),
            ("aiohttp, one kept-alive connection", aiohttp.TCPConnector()),
        ):
            async with aiohttp.ClientSession(connector=connector) as session:

                async def post(session: aiohttp.ClientSession = session) -> bytes:
                    async with session.post(
                        url,
                        data=body,
                        headers=headers,
                        timeout=aiohttp.ClientTimeout(total=10, connect=5),
                        allow_redirects=False,
                        auto_decompress=False,
                    ) as response:
                        return await response.read()

                rows.append(await _exchange_cpu(label, post, count, gap_ms / 1000))

        async def lean() -> bytes:
            answer = await http.exchange(
                "127.0.0.1", port, request, timeout=10, max_body=MAX_BODY
            )
            return answer.body

        rows.append(
            await _exchange_cpu(
                "meters.http, a new connection each", lean, count, gap_ms / 1000
            )
        )
        kept = request.replace(b"Connection: close\r\n", b"")
        loop = asyncio.get_running_loop()
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setblocking(False)

            async def reuse() -> bytes:
                await loop.sock_sendall(sock, kept)
                parser = http.AnswerParser(MAX_BODY)
                while True:
                    data = await loop.sock_recv(sock, 65536)
                    if not data:
                        raise RuntimeError("the simulated meter closed the connection")
                    if (answer := parser.feed(data)) is not None:
                        return answer.body

            rows.append(
                await _exchange_cpu(
                    "one kept-alive socket (not built: what keeping would cost)",
                    reuse,
                    count,
                    gap_ms / 1000,
                )
            )
    print(
        f"Python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}, {count} "
        f"exchanges, {gap_ms:g} ms of idle event loop after each (its own cost not counted)"
    )
    print("| HTTP client | CPU µs / exchange | share of aiohttp's (new connection) |")
    print("|---|---:|---:|")
    for label, micros in rows:
        print(f"| {label} | {micros:.0f} | {micros / rows[0][1]:.2f}x |")


async def main(sizes: list[int], cycles: int, only: str | None = None) -> None:
    """Run every size with both integrations and print the table."""
    logging.basicConfig(level=logging.ERROR)
    results: list[Result] = []
    for size in sizes:
        idle = await idle_cpu_seconds(cycles, INTERVAL, spread_step(INTERVAL, size))
        async with simulated_meters(size) as ports:
            for label, setup in (
                ("smart_meter_hub", setup_smart_meter_hub),
                ("rest", setup_rest),
            ):
                if only and label != only:
                    continue
                result = await measure(label, ports, setup, cycles, idle)
                if not result.requests_per_meter_poll:  # no figure, then
                    raise RuntimeError(f"{label} read no meter (log lower to see why)")
                print(
                    f"{size:>4} meters  {label:<16} {result.requests_per_meter_poll:.2f} req/meter-poll  "
                    f"{result.cpu_ms_per_meter_poll:.2f} CPU ms/meter-poll  "
                    f"{result.state_writes_per_meter_poll:.2f} writes/meter-poll  "
                    f"busiest second {result.busiest_second_polls} polls  "
                    f"lag {result.worst_loop_lag_ms:.1f} ms  "
                    f"longest collection {result.worst_collection_ms:.1f} ms "
                    f"(generation {result.worst_collection_generation})  "
                    f"lag without collections {result.worst_own_turn_ms:.1f} ms  "
                    f"{result.memory_kib_per_meter:.0f} KiB/meter",
                    flush=True,
                )
                results.append(result)
    print()
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
        f"{cycles} poll intervals of {INTERVAL.total_seconds():.0f} s per run"
    )
    print(_table(results))


# What a poll's parts cost: Smart Meter Hub measured again with one more part made free
# in each run (patched out: a measurement, not a way to run it). The difference between
# two rows is what the part cost.
PART_STAGES: tuple[str, ...] = (
    "everything",
    "no state writes",
    "... and the meter's answer from memory (no connection)",
    "... and the answer's parse from memory",
    "... and no update of the coordinator's data (no counters' guard, analytics)",
    "... and no entity updates (left: the timer, the coordinator, this harness)",
)


def _free_parts(stage: int) -> contextlib.ExitStack:
    """Patch out the parts of a poll that :data:`PART_STAGES` ``[:stage + 1]`` free.

    The patches are in place on return; leaving the returned stack undoes them.
    """
    stack = contextlib.ExitStack()
    if stage >= 1:
        stack.enter_context(patch.object(Entity, "async_write_ha_state", _nothing))
    if stage >= 2:
        answers: dict[int, http.HttpAnswer] = {}
        exchange = http.exchange

        async def remembered(
            host: str, port: int, request: bytes, **kwargs: Any
        ) -> http.HttpAnswer:
            if port not in answers:
                answers[port] = await exchange(host, port, request, **kwargs)
            return answers[port]

        stack.enter_context(patch.object(http, "exchange", remembered))
    if stage >= 3:
        for name in ("decode_body", "parse_response"):
            stack.enter_context(
                patch.object(obis_http, name, _remembered(getattr(obis_http, name)))
            )
    if stage >= 4:
        update = SmartMeterCoordinator._async_update_data  # noqa: SLF001

        async def last_data(coordinator: SmartMeterCoordinator) -> Any:
            return coordinator.data or await update(coordinator)

        stack.enter_context(
            patch.object(SmartMeterCoordinator, "_async_update_data", last_data)
        )
    if stage >= 5:
        stack.enter_context(
            patch.object(DataUpdateCoordinator, "async_update_listeners", _nothing)
        )
    return stack


def _nothing(*_args: Any) -> None:
    return None


def _remembered(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, its result remembered per first argument (by identity).

    The argument is kept with its result, so that its id is not another's later.
    """
    results: dict[int, Any] = {}

    def remembered(first: Any, *args: Any) -> Any:
        if id(first) not in results:
            results[id(first)] = (first, function(first, *args))
        return results[id(first)][1]

    return remembered


# Smart Meter Hub with every meter's poll at the same moment of the interval, as
# `rest` polls (not a configuration): what spreading the polls costs on this machine.
BUNCHED = "everything, but the polls bunched as rest's"


def _bunched() -> contextlib.AbstractContextManager[Any]:
    """Every entry's poll at the start of the interval, as `rest`'s."""
    return patch.object(coordinator, "poll_phase", lambda _hass, _entry_id: 0.0)


async def parts(sizes: list[int], cycles: int) -> None:
    """Measure what each part of Smart Meter Hub's poll costs; print a table."""
    logging.basicConfig(level=logging.ERROR)
    rows: list[tuple[int, str, float, str]] = []
    for size in sizes:
        idle = await idle_cpu_seconds(cycles, INTERVAL, spread_step(INTERVAL, size))
        async with simulated_meters(size) as ports:
            runs: list[tuple[str, Callable[[], contextlib.AbstractContextManager[Any]]]]
            runs = [
                (label, functools.partial(_free_parts, stage))
                for stage, label in enumerate(PART_STAGES)
            ]
            runs.insert(1, (BUNCHED, _bunched))
            previous: float | None = None  # the last stage's figure (not BUNCHED's)
            for label, freed in runs:
                with freed():
                    result = await measure(
                        label, ports, setup_smart_meter_hub, cycles, idle
                    )
                cpu = result.cpu_ms_per_meter_poll
                if previous is None:
                    cost = "-"
                elif label == BUNCHED:  # against everything, as the stage after it
                    cost = f"spreading: {previous - cpu:.2f}"
                else:
                    cost = f"{previous - cpu:.2f}"
                if label != BUNCHED:
                    previous = cpu
                rows.append((size, label, cpu, cost))
                print(f"{size:>4} meters  {label}: {cpu:.2f}", flush=True)
    print()
    print("| meters | measured with | CPU ms / meter-poll | the part made free cost |")
    print("|---:|---|---:|---:|")
    for size, label, cpu, cost in rows:
        print(f"| {size} | {label} | {cpu:.2f} | {cost} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--meters", type=int, nargs="+", default=[1, 50, 200, 1000])
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--only", help="measure only this integration")
    parser.add_argument("--profile", type=Path, help="profile the measured polls")
    parser.add_argument(
        "--parts",
        action="store_true",
        help="measure what each part of Smart Meter Hub's poll costs, and stop",
    )
    parser.add_argument(
        "--exchanges",
        type=int,
        help="compare the HTTP clients alone, over this many exchanges, and stop",
    )
    parser.add_argument(
        "--gap",
        type=float,
        default=0.0,
        help="with --exchanges: ms of idle event loop after each exchange",
    )
    args = parser.parse_args()
    if args.exchanges:
        asyncio.run(exchanges(args.exchanges, args.gap))
        sys.exit()
    if args.parts:
        asyncio.run(parts(args.meters, args.cycles))
        sys.exit()
    if args.profile:
        _harness.PROFILER = cProfile.Profile(time.process_time)
    asyncio.run(main(args.meters, args.cycles, args.only))
    if _harness.PROFILER is not None:
        _harness.PROFILER.dump_stats(args.profile)
