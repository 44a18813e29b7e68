"""Whatever a gateway answers, the Eastron reader ends in readings or a typed error.

Property-based (hypothesis): any register blocks (wrong counts, words that are no
16-bit registers, NaN, infinities, absurd magnitudes, any word order), any Modbus
exception code and any transport failure given to the reader of every model, to
``identify`` and to ``decode_floats``, and any bytes a gateway sends back over a real
socket to the Modbus connection, give readings whose every value is a finite, plausible
measurement (a power factor out of range: no value), or a ``MeterError``, within a
bounded time, never another exception.
"""

from __future__ import annotations

import asyncio
import math
import struct
import time
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from custom_components.smart_meter_hub.meters import (
    EASTRON_MODELS,
    MeterConnectionError,
    MeterData,
    MeterError,
    ModbusConnection,
    ModbusExceptionError,
    NoAnswerError,
)
from custom_components.smart_meter_hub.meters.eastron import (
    EastronMeter,
    decode_floats,
    identify,
)
from custom_components.smart_meter_hub.meters.units import plausible
from meter_sim.sdm630 import crc16
from tests.meters.bounds import cpu_spent

# No deadline: a wall clock on a busy machine is no measure. The worst answers'
# cost is bounded below, in this thread's CPU time (tests.meters.bounds).
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits for I/O (the answers are drawn in memory)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the coroutine waited for I/O")


def outcome(check: Callable[[], Any]) -> Any:
    """The result, or None for a MeterError; any other exception fails the test."""
    try:
        result = check()
    except MeterError as err:
        event(type(err).__name__)
        return None
    event("readings")
    return result


def check_data(data: MeterData) -> None:
    """Only measurements reach the readings: finite, plausible, in their unit."""
    assert data.readings
    for code, reading in data.readings.items():
        if reading.value is None:
            assert code.is_power_factor, (code, reading)
            continue
        assert isinstance(reading.value, float)
        assert math.isfinite(reading.value)
        assert plausible(
            reading.value, reading.unit, power_factor=code.is_power_factor
        ), (code, reading)


def words_of(value: float) -> list[int]:
    """The two registers of an IEEE-754 float, high word first."""
    return list(struct.unpack(">2H", struct.pack(">f", value)))


FLOATS = st.one_of(
    st.floats(width=32, allow_nan=True, allow_infinity=True),
    st.floats(min_value=-500, max_value=500, width=32),
    st.sampled_from([0.0, -0.0, 230.0, 50.0, 180.1, 1e-23, 1e30, 3.4e38, -1.0]),
)
REALISTIC = st.floats(min_value=0, max_value=400, width=32)
WORDS = st.one_of(
    *[st.integers(min_value=0, max_value=0xFFFF)] * 8,
    st.integers(),
    st.booleans(),
)


@st.composite
def blocks(draw: st.DrawFn, count: int) -> list[int] | Exception:
    """What the transport answers for ``count`` registers: good, garbage, or an error."""
    kind = draw(
        st.sampled_from(
            ["floats"] * 6 + ["words", "short", "long", "exception", "silent", "drop"]
        )
    )
    if kind == "floats":
        # Mostly what a meter measures, now and then anything a float can be.
        floats = draw(st.sampled_from([REALISTIC, REALISTIC, FLOATS]))
        values = draw(st.lists(floats, min_size=count // 2, max_size=count // 2))
        registers = [word for value in values for word in words_of(value)]
        if draw(st.integers(min_value=0, max_value=3)) == 0:  # the words swapped
            registers = [
                word
                for pair in zip(registers[1::2], registers[::2], strict=True)
                for word in pair
            ]
        return registers + [0] * (count % 2)
    if kind == "words":
        return draw(st.lists(WORDS, min_size=count, max_size=count))
    if kind == "short":
        return draw(st.lists(WORDS, max_size=max(count - 1, 0)))
    if kind == "long":
        return draw(st.lists(WORDS, min_size=count + 1, max_size=count + 4))
    if kind == "exception":
        code = draw(st.sampled_from([1, 2, 2, 3, 4, 6, 10, 11, 255]))
        return ModbusExceptionError(1, 4, code)
    if kind == "silent":
        return NoAnswerError("unit 1: no answer")
    return MeterConnectionError("gateway dropped the connection")


class DrawnTransport:
    """A gateway whose every answer hypothesis draws."""

    def __init__(self, draw: st.DrawFn) -> None:
        self.draw = draw
        self.transactions = 0
        self.spacing = 0.0

    async def read_registers(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        self.transactions += 1
        answer = self.draw(blocks(count))
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def close(self) -> None:
        return None


@FUZZ
@given(
    data=st.data(),
    model=st.sampled_from(sorted(EASTRON_MODELS)),
    word_order=st.sampled_from(["normal", "swapped"]),
)
def test_any_register_blocks_give_readings_or_a_meter_error(
    data: st.DataObject, model: str, word_order: str
) -> None:
    transport = DrawnTransport(data.draw)
    meter = EastronMeter(
        transport,  # type: ignore[arg-type]
        1,
        serial="1001",
        model=EASTRON_MODELS[model],
        word_order=word_order,  # type: ignore[arg-type]
    )
    result = outcome(lambda: run(meter.read()))
    if result is not None:
        check_data(result)
    # A refused block is split, never read register by register.
    assert transport.transactions <= 4 * len(EASTRON_MODELS[model].blocks) * 8


@FUZZ
@given(data=st.data())
def test_identify_gives_a_serial_or_a_meter_error(data: st.DataObject) -> None:
    result = outcome(lambda: run(identify(DrawnTransport(data.draw), 1)))  # type: ignore[arg-type]
    if result is not None:
        serial, code = result
        assert serial.isdigit()
        assert 0 <= int(serial) < 2**32
        assert code is None or 0 <= code < 2**16


@FUZZ
@given(
    registers=st.lists(st.integers(0, 0xFFFF), max_size=20)
    | st.lists(WORDS, max_size=20),
    word_order=st.sampled_from(["normal", "swapped"]),
)
def test_decode_floats_gives_floats_or_a_meter_error(
    registers: list[int], word_order: str
) -> None:
    values = outcome(lambda: decode_floats(registers, word_order))  # type: ignore[arg-type]
    if values is not None:
        assert len(values) == len(registers) // 2
        assert all(isinstance(value, float) for value in values)


# Inputs that used to reach Home Assistant as values, or as another exception.
PATHOLOGICAL: dict[str, Callable[[int, int], list[int]]] = {
    "wrong word order (180.1 kWh reads 1.6e-23)": lambda address, count: [
        w for _ in range(count // 2) for w in reversed(words_of(180.1))
    ],
    "1e38 everywhere": lambda address, count: words_of(1e38) * (count // 2),
    "negative counters": lambda address, count: words_of(-5.0) * (count // 2),
    "one register short": lambda address, count: [0x4366, 0] * (count // 2 - 1) + [0],
    "words beyond 16 bits": lambda address, count: [70_000] * count,
}


@pytest.mark.parametrize("answer", PATHOLOGICAL.values(), ids=list(PATHOLOGICAL))
async def test_pathological_blocks_fail_the_poll_within_a_second(
    answer: Callable[[int, int], list[int]],
) -> None:
    class Transport:
        transactions = 0
        spacing = 0.0

        async def read_registers(
            self, unit: int, function: int, address: int, count: int
        ) -> list[int]:
            return answer(address, count)

        async def close(self) -> None:
            return None

    with cpu_spent() as spent, pytest.raises(MeterError):
        await EastronMeter(Transport(), 1, serial="1001").read()  # type: ignore[arg-type]
    assert spent.seconds < 1


# And over a real socket: whatever bytes a gateway sends back, in either framing.


class HostileGateway:
    """A loopback gateway that answers every request with bytes the test chooses.

    ``reply(request)`` gives the bytes for one request frame (Modbus TCP: the MBAP
    header and PDU; RTU: the whole frame).
    """

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.reply: Callable[[bytes], bytes] = lambda request: b""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            self._writers.add(writer)
            try:
                while True:
                    if self.framing == "tcp":
                        header = await reader.readexactly(7)
                        length = struct.unpack(">H", header[4:6])[0]
                        request = header + await reader.readexactly(length - 1)
                    else:
                        request = await reader.readexactly(8)
                    writer.write(self.reply(request))
                    await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                self._writers.discard(writer)
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()


@st.composite
def replies(draw: st.DrawFn, framing: str) -> Callable[[bytes], bytes]:
    """How a hostile gateway answers: a fitting header with any PDU, or noise."""
    kind = draw(
        st.sampled_from(["valid", "valid", "pdu", "registers", "noise", "nothing"])
    )
    value = draw(REALISTIC)
    noise = draw(st.binary(max_size=300))
    pdu = draw(st.binary(min_size=1, max_size=260))
    words = draw(st.lists(st.integers(0, 0xFFFF), max_size=130))
    byte_count = draw(st.integers(0, 255) | st.just(-1))
    fix_tid = draw(st.booleans())

    def reply(request: bytes) -> bytes:
        if kind == "noise":
            return noise
        if kind == "nothing":
            return b""
        function = request[7] if framing == "tcp" else request[1]
        if kind == "valid":
            asked = struct.unpack(
                ">H", request[10:12] if framing == "tcp" else request[4:6]
            )
            answer = words_of(value) * (asked[0] // 2)
            body = bytes([function, 2 * len(answer)])
            body += struct.pack(f">{len(answer)}H", *answer)
        elif kind == "registers":
            count = 2 * len(words) if byte_count < 0 else byte_count
            body = bytes([function, count]) + struct.pack(f">{len(words)}H", *words)
        else:
            body = pdu
        if framing == "tcp":
            tid = request[:2] if fix_tid else b"\x99\x99"
            return tid + struct.pack(">HH", 0, len(body) + 1) + request[6:7] + body
        frame = request[:1] + body
        return frame + crc16(frame)

    return reply


@pytest.fixture
def loop() -> Generator[asyncio.AbstractEventLoop]:
    """An event loop of the test's own, for the examples' coroutines."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data(), framing=st.sampled_from(["tcp", "rtu"]))
def test_any_bytes_from_the_gateway_give_readings_or_a_meter_error(
    socket_enabled: None,
    loop: asyncio.AbstractEventLoop,
    data: st.DataObject,
    framing: str,
) -> None:
    reply = data.draw(replies(framing))

    async def exchange() -> MeterData | None:
        gateway = HostileGateway(framing)
        gateway.reply = reply
        await gateway.start()
        connection = ModbusConnection(
            "127.0.0.1",
            gateway.port,
            framing,  # type: ignore[arg-type]
            timeout=0.2,
            spacing=0.0,
        )
        try:
            return await EastronMeter(connection, 1, serial="1001").read()
        except MeterError as err:
            event(type(err).__name__)
            return None
        finally:
            await connection.close()
            await gateway.stop()

    started = time.monotonic()
    result = loop.run_until_complete(exchange())
    assert time.monotonic() - started < 5  # the 0.2 s timeout per request, and room
    if result is not None:
        event("readings")
        check_data(result)
