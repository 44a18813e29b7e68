"""Modbus transport for meters behind a gateway: Modbus TCP or RTU framing over TCP.

The meters only need "read these registers of that unit". :class:`ModbusTransport` is
that contract; :class:`ModbusConnection` fulfils it with pymodbus (3.8.3 in Home
Assistant 2025.4 up to 3.13.x), and the Home Assistant side can fulfil it with the
connection it shares with core Modbus.

One connection per gateway, one request at a time, with a pause between requests (and a
longer one when the unit id changes). Every answer is checked before it is used: an
exception response raises :class:`ModbusExceptionError`, a wrong register count (or a
word that is no 16-bit register) raises :class:`MeterResponseError`. pymodbus 3.8.3 does not match answers to requests, and RTU
framing has no transaction id at all, so after a timeout the connection is closed: a
late answer lands on a dead socket and is never taken for the next request's.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, Final, Literal, Protocol

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from .models import MeterConnectionError, MeterResponseError, NoAnswerError

Framing = Literal["tcp", "rtu"]
READ_HOLDING: Final = 0x03
READ_INPUT: Final = 0x04


# The Modbus libraries' loggers that report a silent unit or a dropped connection as a
# warning or an error (pymodbus; tmodbus under Home Assistant's shared connection).
LIBRARY_LOGGERS: Final = (
    "pymodbus.logging",
    "tmodbus.transport.async_tcp",
    "tmodbus.transport.async_rtu_over_tcp",
)
_EXPECTED: ContextVar[bool] = ContextVar("smh_modbus_failures_expected", default=False)


class _ExpectedFailures(logging.Filter):
    """Inside :func:`failures_expected`, the libraries' complaints are debug lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG or not _EXPECTED.get():
            return True
        if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
            return False
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_FILTER: Final = _ExpectedFailures()


@contextlib.contextmanager
def failures_expected() -> Iterator[None]:
    """Probing units that may be silent: what the libraries log is debug, not errors.

    Only the current task (and what it starts) is affected; other users of the same
    libraries, such as core Modbus, still log as they do.
    """
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # once: a filter is added once
    token = _EXPECTED.set(True)
    try:
        yield
    finally:
        _EXPECTED.reset(token)


def default_spacing(framing: Framing) -> float:
    """Pause between requests, in seconds: 60 ms, 100 ms with RTU framing."""
    return 0.1 if framing == "rtu" else 0.06


class ModbusExceptionError(MeterResponseError):
    """The device answered with a Modbus exception code."""

    def __init__(self, unit: int, function: int, code: int) -> None:
        """Keep the exception code (2: illegal data address)."""
        super().__init__(
            f"unit {unit}: exception {code:02d} to function {function:02d}"
        )
        self.code = code


class ModbusTransport(Protocol):
    """What a meter needs from the gateway connection."""

    transactions: int
    spacing: float  # seconds between two requests

    async def read_registers(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        """``count`` registers of ``unit``, or a MeterError."""

    async def close(self) -> None:
        """Let go of the gateway."""


def check_count(unit: int | None, count: int, registers: object) -> list[int]:
    """The registers, if they are as many 16-bit words as were asked for.

    Anything else (another count, a word that is no 16-bit register, no list at all)
    raises :class:`MeterResponseError`. One pass over the types and one over the
    values, in C: a block of 80 registers is checked at every poll.
    """
    where = "" if unit is None else f"unit {unit}: "
    if not isinstance(registers, list) or len(registers) != count:
        got = len(registers) if isinstance(registers, list) else "no"
        raise MeterResponseError(f"{where}{got} registers for {count} asked")
    if registers and (
        set(map(type, registers)) != {int}
        or min(registers) < 0
        or max(registers) >= 2**16
    ):
        raise MeterResponseError(f"{where}a register is not a 16-bit word")
    return registers


class PacedTransport:
    """Serializes one client's requests and keeps the pauses between them.

    Subclasses send one request (:meth:`_request`, counting it in ``transactions``)
    and let go of the gateway (:meth:`close`); this class paces them.
    """

    # Extra pause before talking to another unit than the last one.
    UNIT_CHANGE_PAUSE = 0.05

    def __init__(
        self, framing: Framing, *, timeout: float = 3.0, spacing: float | None = None
    ) -> None:
        """Pacing for this framing; no I/O."""
        self.framing: Framing = framing
        self.timeout = timeout
        self.spacing = default_spacing(framing) if spacing is None else spacing
        self.transactions = 0
        self._lock = asyncio.Lock()
        self._last_end = 0.0
        self._last_unit: int | None = None

    async def _request(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        raise NotImplementedError

    async def close(self) -> None:
        """Let go of the gateway."""
        raise NotImplementedError

    async def read_registers(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        """Read ``count`` registers; raise a MeterError for anything but a clean answer."""
        async with self._lock:
            pause = self.spacing + (
                self.UNIT_CHANGE_PAUSE if unit != self._last_unit else 0.0
            )
            wait = self._last_end + pause - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                registers = await self._request(unit, function, address, count)
            finally:
                self._last_end = time.monotonic()
                self._last_unit = unit
            return check_count(unit, count, registers)


class ModbusConnection(PacedTransport):
    """A serialized, paced pymodbus connection to one Modbus gateway."""

    def __init__(
        self,
        host: str,
        port: int,
        framing: Framing = "tcp",
        *,
        timeout: float = 3.0,
        spacing: float | None = None,
    ) -> None:
        """Keep the address; connect on the first request."""
        super().__init__(framing, timeout=timeout, spacing=spacing)
        self.host = host
        self.port = port
        self._client: AsyncModbusTcpClient | None = None

    def _new_client(self) -> AsyncModbusTcpClient:
        return AsyncModbusTcpClient(
            self.host,
            port=self.port,
            framer=FramerType.RTU if self.framing == "rtu" else FramerType.SOCKET,
            timeout=self.timeout,
            retries=0,
            # Reconnecting is ours to decide (after a timeout, on the next request).
            reconnect_delay=0,
        )

    async def _connected(self) -> AsyncModbusTcpClient:
        if self._client is None or not self._client.connected:
            await self._drop()
            client = self._new_client()
            try:
                async with asyncio.timeout(self.timeout):
                    connected = await client.connect()
            except (OSError, TimeoutError, ModbusException) as err:
                connected = False
                reason = str(err) or "timeout"
            except asyncio.CancelledError:
                client.close()  # cancelled while connecting: nothing is left open
                raise
            else:
                reason = "refused"
            if not connected:
                client.close()
                raise MeterConnectionError(
                    f"cannot connect to {self.host}:{self.port}: {reason}"
                )
            self._client = client
        return self._client

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    async def close(self) -> None:
        """Close the connection (the next request opens a new one)."""
        await self._drop()

    async def _request(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        client = await self._connected()
        self.transactions += 1
        try:
            response = await _call(client, unit, function, address, count)
        except ConnectionException as err:
            await self._drop()
            raise MeterConnectionError(f"unit {unit}: {err}") from err
        except (ModbusException, TimeoutError, OSError) as err:
            # An answer may still arrive, and pymodbus (3.8 matches no transaction
            # ids) would take it for the next request's: drop the connection.
            await self._drop()
            raise NoAnswerError(
                f"unit {unit}: no answer ({type(err).__name__})"
            ) from err
        if response.isError():
            raise ModbusExceptionError(
                unit, function, int(getattr(response, "exception_code", 0))
            )
        return list(response.registers)


# The unit id keyword: ``slave`` up to pymodbus 3.9, ``device_id`` from 3.10.
_UNIT_KEYWORD: Final = (
    "device_id"
    if "device_id"
    in inspect.signature(AsyncModbusTcpClient.read_input_registers).parameters
    else "slave"
)


async def _call(
    client: AsyncModbusTcpClient, unit: int, function: int, address: int, count: int
) -> Any:
    read: Any = (
        client.read_holding_registers
        if function == READ_HOLDING
        else client.read_input_registers
    )
    return await read(address, count=count, **{_UNIT_KEYWORD: unit})
