"""A small Modbus client over TCP: Modbus TCP (MBAP) or RTU framing over TCP.

One connection per gateway, one request at a time, with a pause between requests (and
a longer one when the unit id changes). Every answer is checked before it is used:
transaction id (Modbus TCP), CRC and unit id (RTU), function code and register count.
A late answer to an earlier request is discarded, never taken for the current one; after
a timeout with RTU framing, which has no transaction id, the connection is reopened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from typing import Final, Literal

from .models import MeterConnectionError, MeterResponseError

_LOGGER = logging.getLogger(__name__)

Framing = Literal["tcp", "rtu"]
READ_HOLDING: Final = 0x03
READ_INPUT: Final = 0x04
MAX_REGISTERS: Final = 125


class NoAnswerError(MeterConnectionError):
    """The gateway took the request, but no answer came in time (wrong unit id or framing)."""


class ModbusExceptionError(MeterResponseError):
    """The device answered with a Modbus exception code."""

    def __init__(self, unit: int, function: int, code: int) -> None:
        """Keep the exception code (2: illegal data address)."""
        super().__init__(
            f"unit {unit}: exception {code:02d} to function {function:02d}"
        )
        self.code = code


def crc16(frame: bytes) -> bytes:
    """Modbus RTU CRC (little endian on the wire)."""
    crc = 0xFFFF
    for byte in frame:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return struct.pack("<H", crc)


class ModbusConnection:
    """A serialized, paced connection to one Modbus gateway."""

    def __init__(
        self,
        host: str,
        port: int,
        framing: Framing = "tcp",
        *,
        timeout: float = 3.0,
        spacing: float | None = None,
        unit_change_pause: float = 0.05,
    ) -> None:
        """Keep the address; connect on the first request."""
        self.host = host
        self.port = port
        self.framing: Framing = framing
        self.timeout = timeout
        self.spacing = (
            (0.1 if framing == "rtu" else 0.06) if spacing is None else spacing
        )
        self.unit_change_pause = unit_change_pause
        self.transactions = 0
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tid = 0
        self._last_end = 0.0
        self._last_unit: int | None = None

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            try:
                async with asyncio.timeout(self.timeout):
                    self._reader, self._writer = await asyncio.open_connection(
                        self.host, self.port
                    )
            except (OSError, TimeoutError) as err:
                raise MeterConnectionError(
                    f"cannot connect to {self.host}:{self.port}: {err or 'timeout'}"
                ) from err
        return self._reader, self._writer

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1):
                    await writer.wait_closed()

    async def read_registers(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers; raise a MeterError for anything but a clean answer."""
        async with self._lock:
            pause = self.spacing + (
                self.unit_change_pause if unit != self._last_unit else 0.0
            )
            wait = self._last_end + pause - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                return await self._transaction(unit, function, address, count)
            except MeterConnectionError:
                raise
            except (TimeoutError, OSError, asyncio.IncompleteReadError) as err:
                # An answer may still arrive: never read it as the next one's.
                await self.close()
                raise NoAnswerError(
                    f"unit {unit}: no answer ({type(err).__name__})"
                ) from err
            except MeterResponseError:
                if self.framing == "rtu":
                    await self.close()  # resynchronise the byte stream
                raise
            finally:
                self._last_end = time.monotonic()
                self._last_unit = unit

    async def _transaction(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        reader, writer = await self._connect()
        pdu = struct.pack(">BHH", function, address, count)
        self.transactions += 1
        async with asyncio.timeout(self.timeout):
            if self.framing == "tcp":
                self._tid = (self._tid + 1) & 0xFFFF
                writer.write(
                    struct.pack(">HHHB", self._tid, 0, len(pdu) + 1, unit) + pdu
                )
                await writer.drain()
                body = await self._read_tcp(reader, self._tid)
            else:
                frame = bytes([unit]) + pdu
                writer.write(frame + crc16(frame))
                await writer.drain()
                body = await self._read_rtu(reader, unit, function)
        return self._registers(unit, function, count, body)

    async def _read_tcp(self, reader: asyncio.StreamReader, tid: int) -> bytes:
        while True:
            header = await reader.readexactly(7)
            answer_tid, protocol, length, _unit = struct.unpack(">HHHB", header)
            body = await reader.readexactly(length - 1)
            if answer_tid == tid and protocol == 0:
                return body
            _LOGGER.debug(
                "Discarding a late answer (transaction %s, waiting for %s)",
                answer_tid,
                tid,
            )

    async def _read_rtu(
        self, reader: asyncio.StreamReader, unit: int, function: int
    ) -> bytes:
        head = await reader.readexactly(2)
        if head[1] & 0x80:
            rest = await reader.readexactly(3)
        else:
            size = await reader.readexactly(1)
            rest = size + await reader.readexactly(size[0] + 2)
        frame = head + rest
        if crc16(frame[:-2]) != frame[-2:]:
            raise MeterResponseError(f"unit {unit}: CRC error")
        if frame[0] != unit:
            raise MeterResponseError(f"unit {unit}: answer from unit {frame[0]}")
        return frame[1:-2]

    @staticmethod
    def _registers(unit: int, function: int, count: int, body: bytes) -> list[int]:
        if body[0] == function | 0x80:
            raise ModbusExceptionError(unit, function, body[1])
        if body[0] != function:
            raise MeterResponseError(f"unit {unit}: answer to function {body[0]}")
        if body[1] != 2 * count or len(body) != 2 + 2 * count:
            raise MeterResponseError(
                f"unit {unit}: {len(body) - 2} bytes for {count} registers"
            )
        return list(struct.unpack(f">{count}H", body[2:]))
