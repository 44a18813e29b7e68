"""Run the simulated meters until interrupted: python -m meter_sim [--host H] [--base-port P].

Prints what to type into Smart Meter Hub's config flow for each meter.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from pathlib import Path

from .obis_http import ObisMeterServer, SimulatedObisMeter, describe
from .sdm630 import Sdm630Gateway, SimulatedSdm630
from .xcel import FakeXcelMeter, approve_when_stored, describe as describe_xcel

OBIS_BASE_PORT = 18081
SDM630_TCP_PORT = 15020
SDM630_RTU_PORT = 15021
XCEL_PORT = 18091


def _gateways(host: str) -> list[Sdm630Gateway]:
    """Modbus TCP with two SDM630 (one exporting); RTU over TCP with three models."""
    return [
        Sdm630Gateway(
            {
                1: SimulatedSdm630(serial=21000101, seed=1),
                2: SimulatedSdm630(
                    serial=21000102, base_power_w=-1500, import_kwh=950.0, seed=2
                ),
            },
            framing="tcp",
            host=host,
        ),
        # A sub-distribution: an SDM630, an SDM120 (it tells its model) and an SDM230
        # (it does not: the flow asks which meter it is).
        Sdm630Gateway(
            {
                1: SimulatedSdm630(serial=21000201, base_power_w=800, seed=3),
                2: SimulatedSdm630(
                    serial=21000202, model="SDM120", base_power_w=450, seed=4
                ),
                3: SimulatedSdm630(
                    serial=21000203, model="SDM230", base_power_w=1200, seed=5
                ),
            },
            framing="rtu",
            host=host,
        ),
    ]


def _obis_meters() -> list[SimulatedObisMeter]:
    """Three OBIS meters, one per response format, with different units and a token."""
    return [
        SimulatedObisMeter(
            serial="SMH-DEMO-0001",
            solar=True,
            base_power_w=1200,
            logical_name="EMH0000000001",
        ),
        SimulatedObisMeter(
            serial="SMH-DEMO-0002",
            logical_name="LGZ0000000002",
            response_format="bare",
            code_style="star",
            energy_unit="Wh",
            power_unit="kW",
            seed=2,
        ),
        SimulatedObisMeter(
            serial="SMH-DEMO-0003",
            response_format="flat",
            code_style="edis",
            token="demo-token",
            base_power_w=300,
            seed=3,
        ),
    ]


async def run(
    host: str,
    obis_base_port: int,
    obis_count: int | None = None,
    sdm630_port: int = SDM630_TCP_PORT,
    xcel_port: int = XCEL_PORT,
    xcel_approve_from: Path | None = None,
) -> None:
    """Start every simulator, print how to add each meter, serve until cancelled.

    ``obis_count`` replaces the three demonstration meters by that many plain ones
    (serials SMH-BENCH-0001 …), for benchmarks.
    """
    meters = (
        _obis_meters()
        if obis_count is None
        else [
            SimulatedObisMeter(serial=f"SMH-BENCH-{n:04}", seed=n)
            for n in range(1, obis_count + 1)
        ]
    )
    obis = ObisMeterServer(meters, host=host)
    await obis.start([obis_base_port + n for n in range(len(obis.meters))])
    gateways = _gateways(host)
    for offset, gateway in enumerate(gateways):
        await gateway.start(sdm630_port + offset)
    xcel = await asyncio.to_thread(FakeXcelMeter, host)
    await xcel.start(xcel_port)
    approving = (
        asyncio.create_task(approve_when_stored(xcel, xcel_approve_from))
        if xcel_approve_from
        else None
    )
    print("Simulated meters are running (Ctrl-C stops them):", flush=True)
    for meter, port in zip(obis.meters, obis.ports, strict=True):
        print(f"  - {describe(meter, host, port)}", flush=True)
    for gateway in gateways:
        framing = "Modbus TCP" if gateway.framing == "tcp" else "RTU over TCP"
        units = ", ".join(str(unit) for unit in gateway.units)
        print(
            f"  - SDM630 gateway ({framing}): host {host}, port {gateway.port}, "
            f"unit ids {units}",
            flush=True,
        )
    print(f"  - {describe_xcel(xcel)}", flush=True)
    if xcel_approve_from:
        print(
            f"    (the utility approves the identity saved in {xcel_approve_from})",
            flush=True,
        )
    print(
        "  Faults on demand: curl -X POST http://HOST:PORT/sim/fault "
        '-d \'{"fault": "glitch_zero", "count": 1}\'',
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await obis.stop()
        for gateway in gateways:
            await gateway.stop()
        if approving:
            approving.cancel()
        await xcel.stop()


def main() -> None:
    """Parse the command line and run."""
    parser = argparse.ArgumentParser(prog="python -m meter_sim", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--obis-port", type=int, default=OBIS_BASE_PORT, help="first OBIS port"
    )
    parser.add_argument(
        "--obis-count",
        type=int,
        help="that many plain OBIS meters instead of the demo ones",
    )
    parser.add_argument(
        "--sdm630-port",
        type=int,
        default=SDM630_TCP_PORT,
        help="Modbus TCP gateway port (RTU over TCP on the next one)",
    )
    parser.add_argument(
        "--xcel-port", type=int, default=XCEL_PORT, help="fake Xcel meter port"
    )
    parser.add_argument(
        "--xcel-approve-from",
        type=Path,
        help="Home Assistant's stored Xcel identity: approve it once it appears",
    )
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            run(
                args.host,
                args.obis_port,
                args.obis_count,
                args.sdm630_port,
                args.xcel_port,
                args.xcel_approve_from,
            )
        )


if __name__ == "__main__":
    main()
