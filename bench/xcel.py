"""Xcel (IEEE 2030.5) benchmark: what a poll costs the meter and Home Assistant.

A fake Itron meter (real TLS 1.2 CCM8 with client certificates, the captured agent's
resources) runs in a separate process, so its CPU is counted apart. One Home Assistant
instance polls it with Smart Meter Hub, in two regimes: polls closer together than the
meter's idle timeout (the connection is kept alive) and farther apart (the meter has
closed it). In the same run, the way xcel-meter-ha reads (the same 3 GETs, a fresh TLS
connection for each) is measured with the same client, for comparison. Printed per poll:
HTTP requests, TLS handshakes, connections, CPU ms in Home Assistant and in the meter.

    python -m bench.xcel [--polls 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.meters.ieee2030_5 import (
    DELIVERED,
    DEMAND,
    RECEIVED,
    Ieee2030Client,
)
from custom_components.smart_meter_hub.meters.sep2_identity import (
    Identity,
    client_ssl_context,
    generate_identity,
)
from meter_sim.xcel import FakeXcelMeter

from ._harness import child_meter, measure_polls

ROOT = Path(__file__).resolve().parents[1]
PORT = 28091
IDLE_TIMEOUT = 0.5  # the real meter's is about 30 s; scaled down to keep runs short


@dataclass
class Result:
    """Figures per poll."""

    label: str
    requests: float
    handshakes: float
    connections: float
    ha_cpu_ms: float
    meter_cpu_ms: float


async def _serve(certificate: Path) -> None:
    """The child process: the fake meter; 'stats' on stdin prints its counters."""
    meter = FakeXcelMeter(idle_timeout=IDLE_TIMEOUT)
    meter.register(certificate.read_text())
    await meter.start(PORT)
    print(json.dumps({"lfdi": meter.lfdi, "sfdi": meter.identity.sfdi}), flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        if line.strip() == "stats":
            print(
                json.dumps(
                    {
                        "requests": meter.requests,
                        "handshakes": meter.handshakes,
                        "connections": meter.connections,
                        "cpu": meter.cpu_seconds,
                    }
                ),
                flush=True,
            )
    await meter.stop()


@contextlib.asynccontextmanager
async def fake_meter(
    identity: Identity,
) -> AsyncIterator[tuple[dict[str, Any], Callable[[], Awaitable[dict[str, Any]]]]]:
    """Run the meter in a child process; yield its ids and a reader of its counters."""
    with tempfile.TemporaryDirectory() as folder:
        certificate = Path(folder) / "client.pem"
        certificate.write_text(identity.certificate_pem)
        async with child_meter("bench.xcel", str(certificate)) as (ready, ask):

            async def stats() -> dict[str, Any]:
                return dict(json.loads(await ask()))

            yield json.loads(ready), stats


async def smart_meter_hub(
    identity: Identity,
    ids: dict[str, Any],
    stats: Callable[[], Awaitable[dict[str, Any]]],
    polls: int,
    pause: float,
    label: str,
) -> Result:
    """Smart Meter Hub in Home Assistant, polling every 10 s of Home Assistant's time."""
    before: dict[str, Any] = {}

    async def setup(hass: HomeAssistant) -> None:
        entry = MockConfigEntry(
            domain="smart_meter_hub",
            unique_id=str(ids["sfdi"]),
            title="Xcel meter",
            data={
                "meter_type": "xcel",
                "host": "127.0.0.1",
                "port": PORT,
                "certificate": identity.certificate_pem,
                "private_key": identity.key_pem,
                "meter_lfdi": ids["lfdi"],
            },
        )
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"{entry.state} {entry.reason}")
        before.update(await stats())

    async def requests() -> int:
        return int((await stats())["requests"])

    measured = await measure_polls(
        setup, requests, polls, timedelta(seconds=10), pause=pause
    )
    return _per_poll(label, before, await stats(), measured.cpu_seconds, polls)


async def fresh_connection_per_request(
    identity: Identity,
    stats: Callable[[], Awaitable[dict[str, Any]]],
    polls: int,
) -> Result:
    """The same 3 GETs a poll, each on a new TLS connection (xcel-meter-ha's way)."""
    context = client_ssl_context(identity)
    client = Ieee2030Client("127.0.0.1", PORT, context, idle_reconnect=0)
    profile = await client.discover()
    paths = [profile.readings[role] for role in (DEMAND, DELIVERED, RECEIVED)]
    before = await stats()
    cpu = time.process_time()
    for _ in range(polls):
        for path in paths:
            await client.get(path)
            await client.close()
    cpu = time.process_time() - cpu
    label = "fresh TLS connection per request (xcel-meter-ha)"
    return _per_poll(label, before, await stats(), cpu, polls)


def _per_poll(
    label: str,
    before: dict[str, Any],
    after: dict[str, Any],
    ha_cpu_seconds: float,
    polls: int,
) -> Result:
    """The meter's counters (and our CPU) over the run, per poll."""
    return Result(
        label,
        (after["requests"] - before["requests"]) / polls,
        (after["handshakes"] - before["handshakes"]) / polls,
        (after["connections"] - before["connections"]) / polls,
        ha_cpu_seconds * 1000 / polls,
        (after["cpu"] - before["cpu"]) * 1000 / polls,
    )


async def main(polls: int) -> None:
    """Every regime, one table."""
    identity = generate_identity()
    results: list[Result] = []
    async with fake_meter(identity) as (ids, stats):
        for pause, regime in ((0.0, "<"), (IDLE_TIMEOUT * 1.5, ">")):
            label = f"smart_meter_hub, polls {regime} idle timeout"
            results.append(
                await smart_meter_hub(identity, ids, stats, polls, pause, label)
            )
        results.append(await fresh_connection_per_request(identity, stats, polls))
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {polls} polls per "
        f"run; meter idle timeout scaled to {IDLE_TIMEOUT} s"
    )
    print(
        "| reader | HTTP requests / poll | TLS handshakes / poll | connections / poll "
        "| CPU ms / poll, Home Assistant | CPU ms / poll, meter |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.label} | {r.requests:.2f} | {r.handshakes:.2f} | {r.connections:.2f} "
            f"| {r.ha_cpu_ms:.2f} | {r.meter_cpu_ms:.3f} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--polls", type=int, default=20)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
    else:
        asyncio.run(main(args.polls))
