"""Whatever a device on the port answers, OBIS HTTP parsing ends in readings or a typed error.

Property-based (hypothesis): any JSON value given to ``parse_response``, any bytes given
to ``parse_body`` (the client's decode of a body), any text given to ``ObisCode.parse``,
and any answer on a real socket (any status, framing and encoding, arriving in any
pieces, or bytes that are no HTTP at all) given to the client give readings whose every
value is None, text or a finite number in its quantity's canonical unit, or a
``MeterError`` (``ValueError`` for ``ObisCode.parse``), within a bounded time, never
another exception.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable, Coroutine, Generator, Mapping
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from custom_components.smart_meter_hub.meters import MeterError, ObisCode, Reading
from custom_components.smart_meter_hub.meters.obis_http import (
    MAX_BODY,
    LogOnce,
    ObisHttpClient,
    parse_body,
    parse_response,
    read_item,
)
from custom_components.smart_meter_hub.meters.units import plausible
from tests.meters.bounds import cpu_spent

# No deadline: a wall clock on a busy machine is no measure. The worst answers'
# cost is bounded below, in this thread's CPU time (tests.meters.bounds).
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
ENERGY = ("kWh", "kvarh", "kVAh")


def canonical_unit(code: ObisCode) -> str | None | bool:
    """The unit a known quantity is published in; False for an unknown quantity."""
    if code.a != 1 or not 1 <= code.c <= 80:
        return False
    quantity = (code.c - 1) % 20 + 1
    if code.d == 8:
        return {1: "kWh", 2: "kWh", 15: "kWh", 16: "kWh", 9: "kVAh", 10: "kVAh"}.get(
            quantity, "kvarh" if 3 <= quantity <= 8 else False
        )
    if 4 <= code.d <= 7:
        units: dict[int, str | None] = {11: "A", 12: "V", 13: None, 14: "Hz"}
        units |= dict.fromkeys((1, 2, 15, 16), "W") | dict.fromkeys((9, 10), "VA")
        units |= dict.fromkeys(range(3, 9), "var")
        return units.get(quantity, False)
    return False


def check_readings(readings: Mapping[ObisCode, Reading]) -> None:
    """What every parse must give: only values fit to publish, under the right unit."""
    assert readings
    for code, reading in readings.items():
        assert isinstance(code, ObisCode)
        assert all(0 <= group <= 255 for group in code)
        value = reading.value
        assert value is None or isinstance(value, str | float), reading
        if isinstance(value, str):
            assert code.a == 0
            assert 0 < len(value) <= 256
            continue
        if isinstance(value, float):
            assert math.isfinite(value), reading
            assert plausible(value, reading.unit, power_factor=code.is_power_factor)
            expected = canonical_unit(code)
            if expected is not False:
                # Never a number under a unit it was not sent in.
                assert reading.unit == expected, (code, reading)
        assert reading.unit is None or (
            isinstance(reading.unit, str) and len(reading.unit) <= 32
        )


def outcome(check: Callable[[], Any], *, count: bool = True) -> Any:
    """The result, or None for a MeterError; any other exception fails the test.

    ``count``: tell hypothesis' statistics which it was (inside a property only).
    """
    try:
        result = check()
    except MeterError as err:
        if count:
            event(type(err).__name__)
        return None
    if count:
        event("readings")
    return result


# What an answer is made of: codes in every textual form (and garbage), numbers of
# every kind and size, units known, unknown and of other quantities, any scaler.
GROUP = st.integers(min_value=0, max_value=300)
TEXT_CODES = st.one_of(
    st.builds(
        "{}-{}:{}.{}.{}{}".format,
        GROUP,
        GROUP,
        GROUP,
        GROUP,
        GROUP,
        st.sampled_from(["", "*255", ".255", "&101", "*"]),
    ),
    st.sampled_from(
        ["1.8.0", "1-0:1.8.0", "1-0:1.8.0*255", "0100010800FF", "96.1.0",
         "1-0:32.7.0", "1-0:13.7.0", "1-0:16.7.0", "1-0:14.7.0", "0-0:96.1.0",
         "1-0:2.8.0.255", "16.7.0", "1-0:3.8.0", "1-0:31.7.0"]
    ),
    st.text(max_size=40),
)  # fmt: skip
CODES = TEXT_CODES | st.integers() | st.none() | st.lists(st.integers(), max_size=2)
NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6),
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.floats().map(str),
    st.sampled_from(
        ["", " 12.5 ", "NaN", "-inf", "1e999", "1_000", "0x10", "9" * 5000]
    ),
    st.booleans(),
    st.none(),
)
UNITS = st.one_of(
    st.sampled_from(
        ["kWh", "Wh", "MWh", "GWh", "W", "kW", "MW", "GW", "V", "kV", "A", "mA", "Hz",
         "var", "kvar", "VA", "kVAh", "varh", "%", "", "none", "furlong", "°C", " kwh "]
    ),
    st.integers(min_value=-5, max_value=300),
    st.text(max_size=20),
    st.booleans(),
    st.lists(st.text(max_size=3), max_size=2),
)  # fmt: skip
SCALERS = st.one_of(
    st.integers(min_value=-25, max_value=25),
    st.integers(),
    st.sampled_from([10_000_000, -(10**9), 10**400, 1.5, "3", "-3", "1e7", None]),
    st.floats(allow_nan=True, allow_infinity=True),
)
QUALITIES = st.one_of(
    st.sampled_from(["good", " Good ", "bad", "", None]), st.integers(), st.text()
)


@st.composite
def items(draw: st.DrawFn) -> dict[str, Any]:
    """One reading of the list formats, with any of its fields left out."""
    item: dict[str, Any] = {}
    for key, strategy in (
        ("obisCode", CODES),
        ("value", NUMBERS | st.text(max_size=300)),
        ("unit", UNITS),
        ("scaler", SCALERS),
        ("quality", QUALITIES),
    ):
        if draw(st.booleans()) or key in ("obisCode", "value"):
            item[key] = draw(strategy)
    return item


JSON_SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=20)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.text(max_size=8) | TEXT_CODES,
        children,
        max_size=4,
    ),
    max_leaves=30,
)


@st.composite
def payloads(draw: st.DrawFn) -> Any:
    """A payload in one of the three formats, or any JSON value at all."""
    form = draw(st.sampled_from(["wrapped", "bare", "flat", "any", "nested"]))
    if form == "any":
        return draw(JSON_VALUES)
    if form == "nested":
        value: Any = draw(JSON_VALUES)
        for _ in range(draw(st.integers(min_value=1, max_value=3000))):
            value = [value]
        return {"readings": [{"obisCode": "1.8.0", "value": value}], "x": value}
    if form == "flat":
        return draw(
            st.dictionaries(
                TEXT_CODES,
                NUMBERS | JSON_VALUES,
                max_size=12,
            )
        )
    readings = draw(st.lists(items() | JSON_VALUES, max_size=12))
    return {"readings": readings} if form == "wrapped" else readings


def dumped(payload: Any) -> bytes:
    """The payload as a meter would send it (NaN literals and 400-digit integers kept)."""
    try:
        return json.dumps(payload).encode()
    except (ValueError, RecursionError):
        return b"[" * 5000


@st.composite
def bodies(draw: st.DrawFn) -> bytes:
    """Bytes of an answer: JSON, JSON spoilt (cut, bytes flipped or inserted), or noise."""
    kinds = ["json"] * 5 + ["cut", "flip", "insert", "noise", "deep"]
    kind = draw(st.sampled_from(kinds))
    if kind == "noise":
        return draw(st.binary(max_size=2000))
    if kind == "deep":
        depth = draw(st.integers(min_value=1, max_value=200_000))
        opening = draw(st.sampled_from([b"[", b'{"a":', b'{"readings":[']))
        return opening * depth
    data = dumped(draw(payloads()))
    if kind == "cut" and data:
        return data[: draw(st.integers(min_value=0, max_value=len(data) - 1))]
    if kind in ("flip", "insert") and data:
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        noise = draw(st.binary(min_size=1, max_size=4))
        tail = data[at + 1 :] if kind == "flip" else data[at:]
        return data[:at] + noise + tail
    return data


@FUZZ
@given(payloads())
def test_any_payload_gives_readings_or_a_response_error(payload: Any) -> None:
    readings = outcome(lambda: parse_response(payload, LogOnce("fuzz")))
    if readings is not None:
        check_readings(readings)


@FUZZ
@given(bodies())
def test_any_body_gives_readings_or_a_response_error(body: bytes) -> None:
    readings = outcome(lambda: parse_body(body, LogOnce("fuzz")))
    if readings is not None:
        check_readings(readings)


# Items as meters send them at every poll: what the remembered recipes serve.
USUAL_ITEMS = st.fixed_dictionaries(
    {
        "obisCode": st.sampled_from(
            ["1-0:1.8.0.255", "1-0:16.7.0", "1-0:13.7.0", "1-0:32.7.0", "1.8.0",
             "1-0:31.7.0", "1-0:14.7.0", "1-0:99.8.0", "0-0:96.1.0", "2-0:1.8.0"]
        ),
        "value": st.integers(min_value=-(2**60), max_value=2**60)
        | st.floats(allow_nan=True, allow_infinity=True),
    },
    optional={
        "unit": st.sampled_from(["kWh", "Wh", "W", "kW", "V", "A", "Hz", "°C", "kV"]),
        "scaler": st.integers(min_value=-25, max_value=25),
        "quality": st.sampled_from(["good", " Good ", "bad"]),
    },
)  # fmt: skip


@FUZZ
@given(item=USUAL_ITEMS | items())
def test_a_remembered_recipe_reads_an_item_as_the_long_way_does(
    item: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """The shortcut for what a meter sends at every poll changes no reading, and
    still logs what the long way logs."""
    caplog.clear()
    readings = outcome(lambda: parse_response([item, item], LogOnce("meter")))
    shortcut_logged = [record.getMessage() for record in caplog.records]
    caplog.clear()
    try:
        code = ObisCode.parse(item["obisCode"])
    except ValueError:
        assert readings is None
        return
    long_way = read_item(code, item, LogOnce("meter"))
    assert readings is not None
    assert list(readings) == [code]
    assert repr(readings[code]) == repr(long_way)  # NaN-safe, and 0.0 is not -0.0
    assert shortcut_logged == [record.getMessage() for record in caplog.records]


@FUZZ
@given(st.text() | st.text(alphabet="0123456789-:.*&ABCDEFabcdef \n\t", max_size=40))
def test_any_text_is_an_obis_code_or_a_value_error(text: str) -> None:
    try:
        code = ObisCode.parse(text)
    except ValueError:
        return
    assert all(0 <= group <= 255 for group in code)
    assert ObisCode.parse(str(code)) == code
    assert ObisCode.parse(code.short) == code


@FUZZ
@given(st.tuples(*[st.integers(min_value=0, max_value=255)] * 6))
def test_every_code_survives_its_own_textual_forms(groups: tuple[int, ...]) -> None:
    code = ObisCode(*groups)
    assert ObisCode.parse(str(code)) == code
    assert ObisCode.parse(code.short) == code
    assert ObisCode.parse(bytes(groups).hex()) == code


# Inputs that used to hang or crash a poll: each now ends within a second.
PATHOLOGICAL: list[tuple[str, bytes]] = [
    (
        "scaler of ten million",
        b'{"readings":[{"obisCode":"1-0:1.8.0","value":5,"unit":"kWh","scaler":10000000}]}',
    ),
    (
        "scaler of 10**400",
        b'{"readings":[{"obisCode":"1-0:1.8.0","value":5,"scaler":1' + b"0" * 400 + b"}]}",
    ),
    ("200 000 nested arrays", b"[" * 200_000 + b"]" * 200_000),
    ("nesting beyond the depth", b'{"readings":' + b"[" * 1000 + b"]" * 1000 + b"}"),
    ("invalid UTF-8", b'{"0-0:96.1.0":"\xc3\x28"}'),
    ("an integer beyond the float range", b'{"1-0:1.8.0":1' + b"0" * 5000 + b"}"),
    ("a numeric string of 5000 digits", b'{"1-0:1.8.0":"' + b"9" * 5000 + b'"}'),
    ("NaN and Infinity", b'{"1-0:1.8.0":NaN,"1-0:2.8.0":Infinity}'),
    ("one byte over the cap", b'{"a":"' + b"x" * MAX_BODY + b'"}'),
    ("a thousand and more codes", json.dumps({f"1.8.{n % 256}*{n // 256}": n for n in range(1100)}).encode()),
]  # fmt: skip


@pytest.mark.parametrize(
    "body", [body for _name, body in PATHOLOGICAL], ids=[n for n, _ in PATHOLOGICAL]
)
def test_pathological_answers_end_within_a_second(body: bytes) -> None:
    with cpu_spent() as spent:
        readings = outcome(lambda: parse_body(body, LogOnce("fuzz")), count=False)
    assert spent.seconds < 1
    if readings is not None:
        check_readings(readings)
        assert all(r.value is None for r in readings.values()), readings


@pytest.fixture
def loop() -> Generator[asyncio.AbstractEventLoop]:
    """An event loop of the test's own, for the examples' coroutines."""
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def run[T](loop: asyncio.AbstractEventLoop, coroutine: Coroutine[Any, Any, T]) -> T:
    return loop.run_until_complete(coroutine)


# And over a real socket: bytes that are no HTTP at all, or HTTP cut anywhere.


class RawServer:
    """A loopback TCP server that answers every request with ``reply`` and closes.

    The reply goes out in ``pieces`` (each flushed on its own), as a meter's TCP stack
    may send it.
    """

    def __init__(self) -> None:
        self.reply = b""
        self.cuts: list[int] = []
        self.requests: list[bytes] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        async def serve(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            try:
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                edges = [0, *sorted(self.cuts), len(self.reply)]
                for start, end in itertools.pairwise(edges):
                    writer.write(self.reply[start:end])
                    await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@st.composite
def answers(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """An HTTP answer of any status, length, coding and encoding, and its cuts.

    The cuts are where the answer is split into the pieces it arrives in.
    """
    body = draw(bodies())
    status = draw(
        st.sampled_from([200] * 8 + [100, 204, 301, 307, 400, 401, 403, 404, 500, 503])
    )
    head = [b"HTTP/1.1 %d X" % status]
    framing = draw(st.sampled_from(["length", "length", "chunked", "none", "wrong"]))
    if framing == "chunked":
        head.append(b"Transfer-Encoding: chunked")
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        pieces = [
            body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)
        ]
        body = (
            b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces if p) + b"0\r\n\r\n"
        )
    elif framing == "length":
        head.append(b"Content-Length: %d" % len(body))
    elif framing == "wrong":
        length = draw(st.sampled_from([0, 1, 10**6, 10**9, 10**30]))
        head.append(b"Content-Length: %d" % length)
    if draw(st.integers(min_value=0, max_value=3)) == 0:
        head.append(
            b"Content-Encoding: "
            + draw(
                st.sampled_from(
                    [b"gzip", b"identity", b"br", b" IDENTITY ", b"x" * 100]
                )
            )
        )
    reply = b"\r\n".join([*head, b"", b""]) + body
    if status == 100:  # an interim answer, then the final one
        reply += b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    cuts = draw(st.lists(st.integers(min_value=0, max_value=len(reply)), max_size=5))
    return reply, cuts


@st.composite
def raw_replies(draw: st.DrawFn) -> tuple[bytes, list[int]]:
    """An HTTP response cut anywhere, with odd headers, or noise."""
    body = draw(bodies())
    head = draw(
        st.sampled_from(
            [
                b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body),
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nContent-Length: 99999999\r\n\r\n",
                b"HTTP/1.1 200 OK\r\n\r\n",
                b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
                b"HTTP/1.1 200 OK\r\nX: " + b"y" * 20_000 + b"\r\n\r\n",
                b"HTTP/9.9 abc\r\n\r\n",
                b"",
            ]
        )
    )
    reply = head + body
    if draw(st.booleans()):
        reply = reply[: draw(st.integers(min_value=0, max_value=len(reply)))]
    return reply, []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(reply=answers() | raw_replies())
def test_any_bytes_on_the_socket_give_readings_or_a_meter_error(
    socket_enabled: None,
    loop: asyncio.AbstractEventLoop,
    reply: tuple[bytes, list[int]],
) -> None:
    server = RawServer()
    server.reply, server.cuts = reply
    run(loop, server.start())
    try:
        client = ObisHttpClient("127.0.0.1", server.port, timeout=1)
        started = time.monotonic()
        data = outcome(lambda: run(loop, client.read()))
        assert time.monotonic() - started < 5  # the client's 1 s timeout, and room
    finally:
        run(loop, server.stop())
    if data is not None:
        check_readings(data.readings)
        assert data.serial is None or isinstance(data.serial, str)
    # Asked once, uncompressed: never a second request, and nothing to inflate.
    assert len(server.requests) <= 1
    assert all(b"Accept-Encoding: identity" in request for request in server.requests)
