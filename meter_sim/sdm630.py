"""Simulated Eastron SDM630 meters behind a Modbus gateway (asyncio server).

Speaks Modbus TCP or RTU framing over TCP, several unit ids behind one port, and keeps
the meter's limits: at most 80 registers a request, even start and count for input
registers, exception 02 outside the register map. Values evolve consistently: the
energy counters integrate the power between requests.

Faults (``gateway.units[n].fault = name``): ``silent`` (the unit never answers),
``slow`` (answers after ``slow_seconds``: a late reply), ``exception`` (exception
``exception_code``, 04 unless set), ``nan`` (every value NaN), ``glitch`` (import energy
reads 5000 kWh once more than it is), ``glitch_zero`` and ``glitch_nan`` (import energy
reads 0, or NaN, once), ``absurd`` (the L1 voltage reads 1e30 V), ``garbage`` (every
register 0x1234), ``short`` (one register fewer than asked); ``word_order = "swapped"``
on a unit swaps the words of every float. A gateway with ``single_client = True`` drops
every connection but the first.

What a gateway does for a unit id no meter has (``absent``): ``"silent"`` (nothing, as a
transparent converter), ``"gateway_exception"`` (exception 11, "target device failed to
respond", as many Modbus TCP gateways), ``"exception"`` (exception 02: a device that
answers for every unit id, not an Eastron meter) or ``"mirror"`` (the first meter
answers: a gateway that ignores the unit id).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC (little endian on the wire)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


# Per model: the input register ranges it answers, the most registers one request
# may ask for, and what its model register (holding 0xFC02) says (None: nothing).
MODELS: dict[str, tuple[tuple[tuple[int, int], ...], int, int | None]] = {
    "SDM630": (((0x0000, 0x0050), (0x0156, 0x0166 + 2)), 80, 0x0070),
    "SDM120": (((0x0000, 0x0050), (0x0156, 0x0158)), 80, 0x0020),
    "SDM230": (((0x0000, 0x0050), (0x0156, 0x0158)), 80, None),
    "SDM72D-M": (((0x0000, 0x0050), (0x0156, 0x0158)), 60, 0x0089),
}
SINGLE_PHASE = ("SDM120", "SDM230")
OWN_CODE = -1


@dataclass
class SimulatedSdm630:
    """One Eastron meter (an SDM630 unless ``model`` says otherwise).

    Serial number, evolving values, current fault.
    """

    serial: int
    model: str = "SDM630"
    # The model register's answer (default: the model's own); None: firmware without
    # the register.
    model_code: int | None = OWN_CODE
    base_power_w: float = 2300.0
    import_kwh: float = 180.1
    export_kwh: float = 0.0
    word_order: str = "normal"
    fault: str | None = None
    exception_code: int = 4
    slow_seconds: float = 1.0
    seed: int = 1
    clock: Callable[[], float] = time.monotonic
    requests: int = 0
    _last: float = field(default=0.0, repr=False)
    ranges: tuple[tuple[int, int], ...] = field(init=False, repr=False)
    max_count: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Start the clock and the random walk."""
        self.ranges, self.max_count, own_code = MODELS[self.model]
        if self.model_code == OWN_CODE:
            self.model_code = own_code
        self._random = random.Random(self.seed)
        self._last = self.clock()
        self._power = self.base_power_w

    def _advance(self) -> None:
        now = self.clock()
        hours = max(now - self._last, 0.0) / 3600
        self._last = now
        if self._power >= 0:
            self.import_kwh += self._power / 1000 * hours
        else:
            self.export_kwh += -self._power / 1000 * hours
        self._power += self._random.uniform(-0.03, 0.03) * self.base_power_w

    def input_registers(self) -> dict[int, float]:
        """Every float of the map, by register address."""
        self._advance()
        split = (0.5, 0.3, 0.2)
        voltages = [230 + self._random.uniform(-1.5, 1.5) for _ in range(3)]
        powers = [self._power * share for share in split]
        values = {
            0x0000: voltages[0], 0x0002: voltages[1], 0x0004: voltages[2],
            0x0006: abs(powers[0]) / voltages[0], 0x0008: abs(powers[1]) / voltages[1],
            0x000A: abs(powers[2]) / voltages[2],
            0x000C: powers[0], 0x000E: powers[1], 0x0010: powers[2],
            0x001E: 0.97, 0x0020: 0.96, 0x0022: 0.95,
            0x0034: self._power, 0x0038: abs(self._power) * 1.03, 0x003C: abs(self._power) * 0.2,
            0x003E: 0.96, 0x0046: 50.0 + self._random.uniform(-0.02, 0.02),
            0x0048: self.import_kwh + (5000.0 if self.fault == "glitch" else 0.0),
            0x004A: self.export_kwh,
            0x0156: self.import_kwh + self.export_kwh,
            0x015A: self.import_kwh * 0.5, 0x015C: self.import_kwh * 0.3,
            0x015E: self.import_kwh * 0.2,
            0x0160: self.export_kwh * 0.5, 0x0162: self.export_kwh * 0.3,
            0x0164: self.export_kwh * 0.2,
        }  # fmt: skip
        if self.model in SINGLE_PHASE:
            values = {
                0x0000: voltages[0], 0x0006: abs(self._power) / voltages[0],
                0x000C: self._power, 0x0012: abs(self._power) * 1.03,
                0x0018: abs(self._power) * 0.2, 0x001E: 0.96,
                0x0046: values[0x0046], 0x0048: values[0x0048], 0x004A: self.export_kwh,
                0x0156: self.import_kwh + self.export_kwh,
            }  # fmt: skip
        if self.fault in ("glitch_zero", "glitch_nan"):
            values[0x0048] = 0.0 if self.fault == "glitch_zero" else math.nan
        if self.fault in ("glitch", "glitch_zero", "glitch_nan"):
            self.fault = None  # once
        if self.fault == "nan":
            values = dict.fromkeys(values, math.nan)
        if self.fault == "absurd":
            values[0x0000] = 1e30
        return values

    def registers(self, start: int, count: int) -> list[int] | int:
        """Registers for an input read, or a Modbus exception code."""
        if count > self.max_count or count < 1 or start % 2 or count % 2:
            return 2
        if not any(low <= start and start + count <= high for low, high in self.ranges):
            return 2
        floats = self.input_registers()
        words: list[int] = []
        for address in range(start, start + count, 2):
            value = floats.get(address, 0.0)
            high, low = struct.unpack(">2H", struct.pack(">f", value))
            words += [low, high] if self.word_order == "swapped" else [high, low]
        if self.fault == "garbage":
            words = [0x1234] * len(words)
        if self.fault == "short":
            words = words[:-1]
        return words

    def holding(self, start: int, count: int) -> list[int] | int:
        """Serial number (0xFC00, 2 registers) and model code (0xFC02, 1 register)."""
        if (start, count) == (0xFC00, 2):
            return [self.serial >> 16, self.serial & 0xFFFF]
        if (start, count) == (0xFC02, 1) and self.model_code is not None:
            return [self.model_code]
        return 2


class Sdm630Gateway:
    """A TCP gateway with several SDM630 behind it, in one framing."""

    def __init__(
        self,
        units: dict[int, SimulatedSdm630],
        framing: str = "tcp",
        host: str = "127.0.0.1",
        single_client: bool = False,
        absent: str = "silent",
    ) -> None:
        """Keep the meters; nothing listens until :meth:`start`."""
        self.units = units
        self.framing = framing
        self.host = host
        self.single_client = single_client
        self.absent = absent
        self.port = 0
        self.connections = 0
        self.transactions = 0
        self._server: asyncio.Server | None = None
        self._active: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self, port: int = 0) -> None:
        """Listen on loopback."""
        self._server = await asyncio.start_server(self._serve, self.host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def open_connections(self) -> int:
        """Clients connected right now."""
        return len(self._active)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
            for writer in list(self._active):
                writer.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if self.single_client and self._active:
            writer.close()
            return
        self._active.add(writer)
        try:
            while True:
                if self.framing == "tcp":
                    header = await reader.readexactly(7)
                    tid, _protocol, length, unit = struct.unpack(">HHHB", header)
                    pdu = await reader.readexactly(length - 1)
                else:
                    frame = await reader.readexactly(8)
                    if crc16(frame[:-2]) != frame[-2:]:
                        continue
                    unit, pdu, tid = frame[0], frame[1:-2], 0
                answer = await self._answer(unit, pdu)
                if answer is None:
                    continue
                if self.framing == "tcp":
                    writer.write(
                        struct.pack(">HHHB", tid, 0, len(answer) + 1, unit) + answer
                    )
                else:
                    body = bytes([unit]) + answer
                    writer.write(body + crc16(body))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._active.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, unit_id: int, pdu: bytes) -> bytes | None:
        meter = self.units.get(unit_id)
        if meter is None and self.absent == "mirror":
            meter = next(iter(self.units.values()))
        elif meter is None and self.absent != "silent":
            code = 11 if self.absent == "gateway_exception" else 2
            return bytes([pdu[0] | 0x80, code])
        if meter is None or meter.fault == "silent":
            return None  # a gateway answers nothing for an absent unit
        meter.requests += 1
        self.transactions += 1
        function, start, count = struct.unpack(">BHH", pdu[:5])
        if meter.fault == "slow":
            await asyncio.sleep(meter.slow_seconds)
        if meter.fault == "exception":
            return bytes([function | 0x80, meter.exception_code])
        if function == 4:
            result = meter.registers(start, count)
        elif function == 3:
            result = meter.holding(start, count)
        else:
            result = 1
        if isinstance(result, int):
            return bytes([function | 0x80, result])
        return bytes([function, 2 * len(result)]) + struct.pack(
            f">{len(result)}H", *result
        )
