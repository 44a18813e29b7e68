"""Xcel (IEEE 2030.5) benchmark: what reading the meter costs it, and who else can.

A fake Itron meter (real TLS 1.2 CCM8 with client certificates and session resumption,
the captured agent's resources) runs in a separate process, so its CPU is counted apart.
Measured, each in the same run against the same meter:

- Smart Meter Hub in Home Assistant, connection kept (the default): polls closer
  together than the meter's idle timeout, and farther apart (the meter has closed the
  idle connection, so each poll reconnects);
- Smart Meter Hub, connection released after each poll (each poll resumes the session);
- the request patterns of three other readers, replayed with Smart Meter Hub's client
  (their code is not used: what is compared is what they ask of the meter, and how):
  xcel_itron2mqtt (``/sdev/sdi`` once, then 21 GETs every 5 s on one kept-alive
  connection), aio2030dot5 (a walk of the tree once, then 4 GETs a read on one
  connection, read here every 10 s) and xcel-meter-ha (3 GETs every 60 s, a fresh TLS
  connection with a full handshake for each).

Printed per poll and per hour of use at each reader's own poll interval: HTTP requests,
TLS handshakes (full / resumed), CPU of the reader and of the meter, and the share of
time the meter's one connection is held (what other programs are locked out of).

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

from custom_components.smart_meter_hub.meters.ieee2030_5 import Ieee2030Client
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
REAL_IDLE_TIMEOUT = 30.0  # the meter closes an idle connection
OWN_IDLE_CLOSE = 25.0  # Smart Meter Hub closes its idle connection before the meter
# What a handshake costs a real meter's agent (reference/xcel-ieee2030_5.md, #15).
REAL_FULL_S, REAL_RESUMED_S = 0.330, 0.110
# The captured agent's reading resources: 21 of them, as xcel_itron2mqtt reads.
ITRON2MQTT_PATHS = [f"/upt/1/mr/{n}/r" for n in (*range(1, 10), *range(17, 23))] + [
    f"/upt/1/mr/{n}/rs/1/r?s=0&l=25" for n in range(2, 8)
]
AIO2030DOT5_PATHS = ["/tm", "/upt/1/mr/1/r", "/upt/1/mr/2/r", "/upt/1/mr/3/r"]
# xcel-meter-ha's 3 GETs are Smart Meter Hub's 3 (demand, received, delivered).
XCEL_METER_HA_PATHS = ["/upt/1/mr/1/r", "/upt/1/mr/2/r", "/upt/1/mr/3/r"]


@dataclass
class Result:
    """Figures per poll, and the reader's poll interval."""

    label: str
    interval: float  # seconds between polls, the reader's default
    requests: float
    full: float
    resumed: float
    client_cpu_ms: float
    meter_cpu_ms: float
    held_ms: float  # the meter's connection held for the poll's requests
    idle_hold: float | None  # kept open after a poll until closed idle (None: closed)

    @property
    def per_hour(self) -> float:
        """Polls an hour."""
        return 3600 / self.interval

    @property
    def held_share(self) -> float:
        """Share of time the meter's one connection is held (0..1).

        A kept connection is held from one poll to the next, or, when polls are farther
        apart, until it is closed idle (by the reader, or by the meter after 30 s).
        """
        held = self.held_ms / 1000 + (self.idle_hold or 0.0)
        return min(held / self.interval, 1.0)

    @property
    def real_handshake_s_per_hour(self) -> float:
        """Seconds an hour a real meter's agent spends in this reader's handshakes."""
        return self.per_hour * (self.full * REAL_FULL_S + self.resumed * REAL_RESUMED_S)


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
                        "full": meter.full_handshakes,
                        "resumed": meter.resumed_handshakes,
                        "connections": meter.connections,
                        "cpu": meter.cpu_seconds,
                        "held": meter.held_seconds,
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
    connection: str = "keep",
    interval: int = 10,
) -> Result:
    """Smart Meter Hub in Home Assistant, polling every ``interval`` s of its time.

    ``pause``: real seconds between polls, so that the meter closes the idle connection
    (its idle timeout is scaled down as much as the pause).
    """
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
            options={"connection": connection, "scan_interval": interval},
        )
        entry.add_to_hass(hass)
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"{entry.state} {entry.reason}")
        before.update(await stats())

    async def requests() -> int:
        return int((await stats())["requests"])

    measured = await measure_polls(
        setup, requests, polls, timedelta(seconds=interval), pause=pause
    )
    return _per_poll(
        label,
        interval,
        before,
        await stats(),
        measured.cpu_seconds,
        polls,
        idle_hold=OWN_IDLE_CLOSE if connection == "keep" else None,
    )


async def replay(
    identity: Identity,
    stats: Callable[[], Awaitable[dict[str, Any]]],
    polls: int,
    label: str,
    interval: float,
    paths: list[str],
    *,
    setup: list[str],
    mode: str = "kept",
    idle_hold: float = REAL_IDLE_TIMEOUT,
) -> Result:
    """A reader's request pattern, sent with Smart Meter Hub's client (no Home Assistant).

    ``mode``: "kept" (one connection for every poll), "released" (closed after each
    poll, the session resumed at the next) or "fresh" (a new TLS connection for every
    request with a full handshake, as a plain HTTP library without session reuse).
    """
    context = client_ssl_context(identity)
    client = Ieee2030Client("127.0.0.1", PORT, context)
    for path in setup:
        await client.get(path)
    if mode != "kept":
        await client.close()
    before = await stats()
    cpu = time.process_time()
    for _ in range(polls):
        for path in paths:
            if mode == "fresh":
                context.resume = None
            await client.get(path)
            if mode == "fresh":
                await client.close()
        if mode == "released":
            await client.close()
    cpu = time.process_time() - cpu
    after = await stats()
    await client.close()
    return _per_poll(
        label,
        interval,
        before,
        after,
        cpu,
        polls,
        idle_hold=idle_hold if mode == "kept" else None,
    )


def _per_poll(
    label: str,
    interval: float,
    before: dict[str, Any],
    after: dict[str, Any],
    cpu_seconds: float,
    polls: int,
    *,
    idle_hold: float | None,
) -> Result:
    """The meter's counters (and the reader's CPU) over the run, per poll."""

    def delta(key: str) -> float:
        return float(after[key] - before[key]) / polls

    return Result(
        label=label,
        interval=interval,
        requests=delta("requests"),
        full=delta("full"),
        resumed=delta("resumed"),
        client_cpu_ms=cpu_seconds * 1000 / polls,
        meter_cpu_ms=delta("cpu") * 1000,
        held_ms=delta("held") * 1000,
        idle_hold=idle_hold,
    )


async def main(polls: int) -> None:
    """Every reader, one table."""
    identity = generate_identity()
    results: list[Result] = []
    async with fake_meter(identity) as (ids, stats):
        results.append(
            await smart_meter_hub(
                identity, ids, stats, polls, 0.0, "smart_meter_hub, connection kept"
            )
        )
        results.append(
            await smart_meter_hub(
                identity,
                ids,
                stats,
                polls,
                IDLE_TIMEOUT * 1.5,
                "smart_meter_hub, kept, polls > idle timeout (60 s)",
                interval=60,
            )
        )
        results.append(
            await smart_meter_hub(
                identity,
                ids,
                stats,
                polls,
                0.0,
                "smart_meter_hub, connection released",
                connection="release",
            )
        )
        results += [
            await replay(
                identity,
                stats,
                polls,
                f"smart_meter_hub's pattern, {mode} (client only)",
                10.0,
                XCEL_METER_HA_PATHS,
                setup=["/tm"],
                mode=mode,
                idle_hold=OWN_IDLE_CLOSE,
            )
            for mode in ("kept", "released")
        ]
        results.append(
            await replay(
                identity,
                stats,
                polls,
                "xcel_itron2mqtt's pattern",
                5.0,
                ITRON2MQTT_PATHS,
                setup=["/sdev/sdi"],
            )
        )
        walk = ["/dcap", "/sdev", "/sdev/sdi", "/upt?s=0&l=25", "/upt/1/mr?s=0&l=25"]
        walk += [f"/rt/{n}" for n in range(1, 23)]
        results.append(
            await replay(
                identity,
                stats,
                polls,
                "aio2030dot5's pattern",
                10.0,
                AIO2030DOT5_PATHS,
                setup=walk,
            )
        )
        results.append(
            await replay(
                identity,
                stats,
                polls,
                "xcel-meter-ha's pattern",
                60.0,
                XCEL_METER_HA_PATHS,
                setup=[],
                mode="fresh",
            )
        )
    print(
        f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {polls} polls per "
        f"run; meter idle timeout scaled to {IDLE_TIMEOUT} s"
    )
    print(
        "| reader | poll every | GETs / poll | handshakes / poll, full + resumed "
        "| CPU ms / poll, reader | CPU ms / poll, meter | GETs / hour "
        "| handshakes / hour | meter CPU ms / hour | meter's connection held "
        "| real meter's handshake time / hour |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r.label} | {r.interval:.0f} s | {r.requests:.2f} "
            f"| {r.full:.2f} + {r.resumed:.2f} | {r.client_cpu_ms:.2f} "
            f"| {r.meter_cpu_ms:.3f} | {r.requests * r.per_hour:.0f} "
            f"| {(r.full + r.resumed) * r.per_hour:.0f} "
            f"| {r.meter_cpu_ms * r.per_hour:.0f} | {r.held_share:.1%} "
            f"| {r.real_handshake_s_per_hour:.0f} s |"
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
