"""A simulated OBIS-coded HTTP JSON meter (aiohttp), with faults on demand.

The simulator speaks the wire protocol of ``shared/reference/obis-http.md``: ``POST
/api/read`` with ``{"obisCodes": [...]}`` answered in one of the three response formats,
``POST /api/write``. Its values evolve consistently: energy counters integrate the power
over the time between requests. It has its own small OBIS table and does not use the
integration's parser, so a parser bug cannot hide on both sides.

Faults (``meter.set_fault(name, count=None)``, or ``POST /sim/fault`` with
``{"fault": name, "count": n}``): ``timeout`` (answer after ``slow_seconds``), ``http500``,
``invalid_json``, ``unauthorized`` (401), ``forbidden`` (403), ``glitch_zero`` (energy
counters read 0), ``glitch_spike`` (energy counters read 5000 kWh more), ``quality_bad``,
``empty`` (no readings). ``count`` limits the fault to that many requests.

Hostile answers, for the client's defences: ``html`` (a web page), ``truncated`` (the
JSON cut in half), ``deep`` (100 000 nested arrays), ``invalid_utf8`` (bytes that are
no UTF-8 in the serial number), ``oversize`` (1 MiB of padding beside the readings), and
for the energy counters only: ``huge_scaler`` (a scaler of ten million), ``big_int`` (a
400-digit integer), ``nan`` (NaN literals), ``unknown_unit`` (in furlongs) and
``duplicate`` (each counter once more, in its EDIS short form, 1000 kWh higher). The flat
format has neither units nor scalers: ``huge_scaler`` and ``unknown_unit`` change
nothing there.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Format = Literal["wrapped", "bare", "flat"]
CodeStyle = Literal["dotted", "star", "short", "edis", "hex"]
FAULTS = (
    "timeout",
    "http500",
    "invalid_json",
    "unauthorized",
    "forbidden",
    "glitch_zero",
    "glitch_spike",
    "quality_bad",
    "empty",
    "html",
    "truncated",
    "deep",
    "invalid_utf8",
    "oversize",
    "huge_scaler",
    "big_int",
    "nan",
    "unknown_unit",
    "duplicate",
)
# Faults that spoil the bytes of an answer, not its values.
BODY_FAULTS = ("truncated", "deep", "invalid_utf8", "oversize")
HUGE_SCALER = 10_000_000
WRITABLE = ("0-0:96.3.10", "1-0:0.8.0")


def _key(code: str) -> str | None:
    """Reduce the codes the client sends (six dotted groups or ``*F``) to ``A-B:C.D.E``."""
    head, _, rest = code.partition(":")
    groups = rest.replace("*", ".").split(".")
    if "-" not in head or len(groups) not in (3, 4):
        return None
    return f"{head}:{'.'.join(groups[:3])}"


def _styled(key: str, style: CodeStyle) -> str:
    head, rest = key.split(":")
    a, b = head.split("-")
    c, d, e = rest.split(".")
    if style == "star":
        return f"{key}*255"
    if style == "short":
        return key
    if style == "edis" and (a, b) == ("1", "0"):
        return f"{c}.{d}.{e}"
    if style == "hex":
        return "".join(f"{int(x):02X}" for x in (a, b, c, d, e, "255"))
    return f"{key}.255"


def _flat(value: float | str, scaler: int) -> float | str:
    """A value of the flat format, which has no scaler (a huge integer is sent as is)."""
    if isinstance(value, str) or abs(value) > 1e300:
        return value
    scaled: float = value * 10**scaler
    return scaled


@dataclass
class SimulatedObisMeter:
    """One meter: its identity, response style, evolving values and current fault."""

    serial: str
    response_format: Format = "wrapped"
    code_style: CodeStyle = "dotted"
    token: str | None = None
    energy_unit: Literal["kWh", "Wh"] = "kWh"
    power_unit: Literal["W", "kW"] = "W"
    numeric_strings: bool = False
    solar: bool = False
    import_kwh: float = 12345.678
    export_kwh: float = 0.0
    base_power_w: float = 850.0
    slow_seconds: float = 30.0
    delay_seconds: float = 0.0
    seed: int = 1
    clock: Callable[[], float] = time.monotonic
    fault: str | None = None
    fault_count: int | None = None
    read_requests: int = 0
    write_requests: int = 0
    written: dict[str, Any] = field(default_factory=dict)
    missing: set[str] = field(default_factory=set)
    # The COSEM logical device name (0-0:42.0.0): its first letters name the maker.
    logical_name: str | None = None

    def __post_init__(self) -> None:
        """Start the clock and the random walk."""
        self._random = random.Random(self.seed)
        self._last = self.clock()
        self._power = self.base_power_w
        self._phase_split = (0.4, 0.35, 0.25)

    def set_fault(self, fault: str | None, count: int | None = None) -> None:
        """Inject ``fault`` for ``count`` requests (None: until cleared)."""
        if fault is not None and fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
        self.fault = fault
        self.fault_count = count

    def _take_fault(self) -> str | None:
        fault = self.fault
        if fault is not None and self.fault_count is not None:
            self.fault_count -= 1
            if self.fault_count <= 0:
                self.fault, self.fault_count = None, None
        return fault

    def net_power_w(self) -> float:
        """Current signed net power (import positive), as last advanced."""
        return self._power

    def set_power(self, watts: float) -> None:
        """Jump the net power to ``watts`` (import positive); the walk goes on from there."""
        self._power = watts

    def advance(self) -> None:
        """Integrate power since the last call into the counters, then move the power."""
        now = self.clock()
        hours = max(now - self._last, 0.0) / 3600
        self._last = now
        if self._power >= 0:
            self.import_kwh += self._power / 1000 * hours
        else:
            self.export_kwh += -self._power / 1000 * hours
        drift = self._random.uniform(-0.05, 0.05) * self.base_power_w
        self._power = max(self._power + drift, 50.0)
        if self.solar:
            # A sunny afternoon: the PV pushes the net power below zero part of the time.
            self._power -= self._random.uniform(0.0, 2.0) * self.base_power_w

    def values(self) -> dict[str, tuple[float | str, str | None, int]]:
        """Current values: OBIS key -> (raw value, unit, scaler), like a real meter."""
        net = self._power
        imp, exp = max(net, 0.0), max(-net, 0.0)
        voltages = [230.0 + self._random.uniform(-2, 2) for _ in range(3)]
        phase_w = [imp * share for share in self._phase_split]
        currents = [
            abs(net) * s / v for s, v in zip(self._phase_split, voltages, strict=True)
        ]
        if self.energy_unit == "Wh":
            e_scale, e_div = 1, 1.0
        else:
            e_scale, e_div = -3, 1000.0
        p_unit_kw = self.power_unit == "kW"
        values: dict[str, tuple[float | str, str | None, int]] = {
            "0-0:96.1.0": (self.serial, None, 0),
            **(
                {"0-0:42.0.0": (self.logical_name, None, 0)}
                if self.logical_name
                else {}
            ),
            "0-0:1.0.0": (time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), None, 0),
            "1-0:1.8.0": (
                round(self.import_kwh * 1000 / e_div * 10**-e_scale),
                self.energy_unit,
                e_scale,
            ),
            "1-0:2.8.0": (
                round(self.export_kwh * 1000 / e_div * 10**-e_scale),
                self.energy_unit,
                e_scale,
            ),
            "1-0:15.8.0": (
                round(
                    (self.import_kwh + self.export_kwh) * 1000 / e_div * 10**-e_scale
                ),
                self.energy_unit,
                e_scale,
            ),
            "1-0:1.7.0": (round(imp / 1000, 3), "kW", 0)
            if p_unit_kw
            else (round(imp), "W", 0),
            "1-0:2.7.0": (round(exp / 1000, 3), "kW", 0)
            if p_unit_kw
            else (round(exp), "W", 0),
            "1-0:16.7.0": (round(net), "W", 0),
            "1-0:14.7.0": (round(5000 + self._random.uniform(-3, 3)), "Hz", -2),
            "1-0:13.7.0": (950 + self._random.randint(-5, 5), None, -3),
        }
        for i, (c_power, c_current, c_voltage) in enumerate(
            ((21, 31, 32), (41, 51, 52), (61, 71, 72))
        ):
            values[f"1-0:{c_power}.7.0"] = (round(phase_w[i]), "W", 0)
            values[f"1-0:{c_current}.7.0"] = (round(currents[i] * 100), "A", -2)
            values[f"1-0:{c_voltage}.7.0"] = (round(voltages[i] * 10), "V", -1)
        for key, value in self.written.items():
            values[key] = (value, None, 0)
        return values

    def answer(self, codes: list[str], fault: str | None) -> Any:
        """Build the response body for ``codes`` in this meter's format."""
        self.advance()
        values = self.values()
        items: list[tuple[str, float | str, str | None, int]] = []
        for code in codes:
            key = _key(code)
            if key is None or key not in values or key in self.missing:
                continue
            value, unit, scaler = values[key]
            counter = key.startswith("1-0:") and key.split(":")[1].split(".")[1] == "8"
            flat = self.response_format == "flat"
            if counter:
                if fault == "glitch_zero":
                    value = 0
                elif fault == "glitch_spike" and isinstance(value, int | float):
                    value = value + round(
                        5000 * 10**-scaler * (1000 if unit == "Wh" else 1)
                    )
                elif fault == "huge_scaler" and not flat:
                    scaler = HUGE_SCALER
                elif fault == "big_int":
                    value = 10**400
                elif fault == "nan":
                    value = math.nan
                elif fault == "unknown_unit" and not flat:
                    unit = "furlong"
            items.append((_styled(key, self.code_style), value, unit, scaler))
            if counter and fault == "duplicate" and isinstance(value, int | float):
                more = round(1000 * 10**-scaler * (1000 if unit == "Wh" else 1))
                items.append((_styled(key, "edis"), value + more, unit, scaler))
        if fault == "empty":
            items = []
        if self.response_format == "flat":
            return {code: _flat(value, scaler) for code, value, _unit, scaler in items}
        readings = []
        for code, value, unit, scaler in items:
            item: dict[str, Any] = {
                "obisCode": code,
                "value": str(value)
                if self.numeric_strings and not isinstance(value, str)
                else value,
            }
            if unit is not None:
                item["unit"] = unit
            if not isinstance(value, str):
                item["scaler"] = scaler
            item["quality"] = "bad" if fault == "quality_bad" else "good"
            readings.append(item)
        return {"readings": readings} if self.response_format == "wrapped" else readings

    def body(self, codes: list[str], fault: str) -> bytes:
        """The bytes of an answer spoilt by one of :data:`BODY_FAULTS`."""
        answer = self.answer(codes, fault)
        if fault == "deep":
            return b"[" * 100_000 + b"]" * 100_000
        if fault == "oversize":
            answer = {"padding": "x" * 2**20, "readings": answer}
        data = json.dumps(answer).encode()
        if fault == "truncated":
            return data[: len(data) // 2]
        if fault == "invalid_utf8":
            serial = json.dumps(self.serial).encode()
            return data.replace(serial, serial[:-1] + b'\xff\xfe"')
        return data


class ObisMeterServer:
    """Serves one or more simulated meters, each on its own loopback port."""

    def __init__(
        self, meters: list[SimulatedObisMeter], host: str = "127.0.0.1"
    ) -> None:
        """Keep the meters; nothing listens until :meth:`start`."""
        self.meters = meters
        self.host = host
        self.ports: list[int] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._runners: list[web.AppRunner] = []

    def _app(self, meter: SimulatedObisMeter) -> web.Application:
        async def authorised(
            request: web.Request, fault: str | None
        ) -> web.Response | None:
            if fault == "unauthorized" or (
                meter.token is not None
                and request.headers.get("Authorization") != f"Bearer {meter.token}"
            ):
                return web.json_response({"error": "unauthorized"}, status=401)
            if fault == "forbidden":
                return web.json_response({"error": "forbidden"}, status=403)
            return None

        async def read(request: web.Request) -> web.StreamResponse:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                return await answer_read(request)
            finally:
                self.in_flight -= 1

        async def answer_read(request: web.Request) -> web.StreamResponse:
            meter.read_requests += 1
            if meter.delay_seconds:
                await asyncio.sleep(meter.delay_seconds)
            fault = meter._take_fault()
            if (refused := await authorised(request, fault)) is not None:
                return refused
            if fault == "timeout":
                await asyncio.sleep(meter.slow_seconds)
            if fault == "http500":
                return web.Response(status=500, text="internal error")
            if fault == "invalid_json":
                return web.Response(
                    text="<html>not json", content_type="application/json"
                )
            if fault == "html":
                return web.Response(
                    text="<!DOCTYPE html><html><body><h1>Router login</h1></body></html>",
                    content_type="text/html",
                )
            try:
                body = await request.json()
                codes = [str(code) for code in body["obisCodes"]]
            except (ValueError, KeyError, TypeError):
                return web.json_response(
                    {"error": 'expected {"obisCodes": [...]}'}, status=400
                )
            if fault in BODY_FAULTS:
                return web.Response(
                    body=meter.body(codes, fault), content_type="application/json"
                )
            return web.json_response(meter.answer(codes, fault))

        async def write(request: web.Request) -> web.StreamResponse:
            meter.write_requests += 1
            fault = meter._take_fault()
            if (refused := await authorised(request, fault)) is not None:
                return refused
            try:
                body = await request.json()
                key = _key(str(body["obisCode"]))
                value = body["value"]
            except (ValueError, KeyError, TypeError):
                return web.json_response({"error": "bad request"}, status=400)
            if key not in WRITABLE:
                return web.json_response(
                    {"error": "read-only or unknown parameter"}, status=400
                )
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                return web.json_response(
                    {"error": "value must be a number"}, status=400
                )
            meter.written[key] = value
            return web.json_response({"status": "ok"})

        async def control(request: web.Request) -> web.StreamResponse:
            body = await request.json()
            try:
                meter.set_fault(body.get("fault"), body.get("count"))
            except ValueError as err:
                return web.json_response({"error": str(err)}, status=400)
            return web.json_response({"fault": meter.fault, "count": meter.fault_count})

        async def stats(request: web.Request) -> web.StreamResponse:
            return web.json_response(
                {
                    "read_requests": meter.read_requests,
                    "write_requests": meter.write_requests,
                }
            )

        app = web.Application()
        app.router.add_get("/sim/stats", stats)
        app.router.add_post("/api/read", read)
        app.router.add_post("/api/write", write)
        app.router.add_post("/sim/fault", control)
        return app

    async def start(self, ports: list[int] | None = None) -> None:
        """Listen; port 0 (the default) picks a free port per meter."""
        wanted = ports or [0] * len(self.meters)
        self.ports = []
        for meter, port in zip(self.meters, wanted, strict=True):
            runner = web.AppRunner(
                self._app(meter), access_log=None, handler_cancellation=True
            )
            await runner.setup()
            site = web.TCPSite(runner, self.host, port)
            await site.start()
            sockets = getattr(site._server, "sockets", None) or []
            self.ports.append(sockets[0].getsockname()[1] if sockets else port)
            self._runners.append(runner)

    async def stop(self) -> None:
        """Stop listening: the meters refuse connections until started again."""
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []

    async def restart(self) -> None:
        """Listen again on the same ports."""
        await self.start(list(self.ports))


def describe(meter: SimulatedObisMeter, host: str, port: int) -> str:
    """One line for humans: what to type into the config flow."""
    extra = f", token {meter.token}" if meter.token else ""
    return (
        f"OBIS HTTP meter {meter.serial}: host {host}, port {port}{extra} "
        f"({meter.response_format} format)"
    )
