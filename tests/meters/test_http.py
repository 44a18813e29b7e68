"""The meters' HTTP client: answers parsed as they arrive, in any pieces, and bounded."""

from __future__ import annotations

import asyncio
import errno
import itertools
import os
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.smart_meter_hub.meters import (
    MeterConnectionError,
    MeterError,
    MeterResponseError,
    NoAnswerError,
)
from custom_components.smart_meter_hub.meters.http import (
    MAX_HEAD,
    AnswerParser,
    HttpAnswer,
    connect_timeout,
    exchange,
    request_bytes,
)
from tests.meters.bounds import cpu_spent

LIMIT = 4096
FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def fed(
    data: bytes, cuts: Sequence[int] = (), *, eof: bool = True
) -> HttpAnswer | None:
    """What a parser makes of ``data`` arriving in the pieces ``cuts`` make."""
    parser = AnswerParser(LIMIT)
    edges = [0, *sorted(cuts), len(data)]
    for start, end in itertools.pairwise(edges):
        if (answer := parser.feed(data[start:end])) is not None:
            return answer
    return parser.feed_eof() if eof else None


def chunked(body: bytes, sizes: list[int]) -> bytes:
    """``body`` in chunks of the given sizes (the rest in one more), and the last chunk."""
    out, at = [], 0
    for size in [*sizes, len(body)]:
        piece = body[at : at + size]
        at += len(piece)
        if piece:
            out.append(b"%x;ext=1\r\n%s\r\n" % (len(piece), piece))
    return b"".join(out) + b"0\r\nX-Trailer: 1\r\n\r\n"


@st.composite
def framed(draw: st.DrawFn) -> tuple[bytes, int, bytes]:
    """A valid answer in any framing, its status and its body."""
    body = draw(st.binary(max_size=LIMIT))
    status = draw(st.sampled_from([200, 201, 400, 404, 500]))
    head = b"HTTP/1.%d %d Some Reason\r\nServer: meter\r\n" % (
        draw(st.integers(0, 1)),
        status,
    )
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        wire = head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    elif framing == "chunked":
        sizes = draw(st.lists(st.integers(1, 600), max_size=8))
        wire = head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(body, sizes)
    else:
        wire = head + b"\r\n" + body
    if draw(st.booleans()):
        wire = b"HTTP/1.1 100 Continue\r\n\r\n" + wire
    return wire, status, body


@FUZZ
@given(framed(), st.lists(st.integers(0, 2 * LIMIT), max_size=12))
def test_an_answer_in_any_pieces_is_read_whole(
    answer: tuple[bytes, int, bytes], cuts: list[int]
) -> None:
    wire, status, body = answer
    assert fed(wire, [cut % (len(wire) + 1) for cut in cuts]) == HttpAnswer(
        status, body
    )


@FUZZ
@given(st.binary(max_size=3 * LIMIT), st.lists(st.integers(0, 3 * LIMIT), max_size=8))
def test_any_bytes_give_an_answer_or_a_meter_error(
    data: bytes, cuts: list[int]
) -> None:
    for prefix in (b"", b"HTTP/1.1 200 OK\r\n", b"HTTP/1.1 200 OK\r\n\r\n"):
        wire = prefix + data
        try:
            answer = fed(wire, [cut % (len(wire) + 1) for cut in cuts])
        except MeterError:
            continue
        assert answer is not None
        assert len(answer.body) <= LIMIT


@pytest.mark.parametrize(
    ("wire", "error", "match"),
    [
        (b"SSH-2.0-OpenSSH\r\n", MeterResponseError, "not an HTTP answer"),
        (b"\x50\x4f\x00\x00\x00\x03\x01\x83\x02", MeterResponseError, "starts with"),
        (b"HTTP/9.9 200 OK\r\n\r\n", MeterResponseError, "status line"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", MeterResponseError, "header line"),
        (b"HTTP/1.1 200 OK\r\n folded: x\r\n\r\n", MeterResponseError, "header line"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            MeterResponseError,
            "length",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            MeterResponseError,
            "two different lengths",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999\r\n\r\n",
            MeterResponseError,
            "response of 99999 bytes, more than 4096",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            MeterResponseError,
            "transfer coding",
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n\x1f\x8b",
            MeterResponseError,
            "compressed",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            MeterResponseError,
            "chunk size",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2000\r\n",
            MeterResponseError,
            "more than 4096 bytes",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            MeterResponseError,
            "does not end where its size says",
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 5000, MeterResponseError, "more than"),
        (b"HTTP/1.1 100 Continue\r\n\r\n" * 5, MeterResponseError, "interim"),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 65 + b"\r\n",
            MeterResponseError,
            "more than 64 headers",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000,
            MeterResponseError,
            "chunk line is too long",
        ),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
            + b"X: y\r\n" * 65,
            MeterResponseError,
            "more than 64 trailer lines",
        ),
        (b"", NoAnswerError, "without an answer"),
        (b"HTTP/1.1 200 OK\r\n", NoAnswerError, "before the answer's headers ended"),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
            NoAnswerError,
            "after 3 bytes of the answer's body",
        ),
    ],
)
def test_what_is_no_answer_is_told(
    wire: bytes, error: type[MeterError], match: str
) -> None:
    with pytest.raises(error, match=match):
        fed(wire)


def test_an_answer_without_a_body_ends_at_its_head() -> None:
    # 204 and 304 carry no body, whatever they say of one: nothing is waited for.
    wire = b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n"
    assert fed(wire, eof=False) == HttpAnswer(204, b"")


def test_a_header_sent_twice_is_one_list() -> None:
    # Two lines are one list, "identity, chunked": no coding beside chunked is read.
    wire = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    with pytest.raises(MeterResponseError, match="transfer coding"):
        fed(wire)


def test_what_follows_a_complete_answer_is_not_read() -> None:
    parser = AnswerParser(LIMIT)
    assert parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 500")
    assert parser.feed(b"x" * 10 * LIMIT) == HttpAnswer(200, b"ok")


def test_endless_headers_are_refused_once_past_the_limit() -> None:
    parser = AnswerParser(LIMIT)
    parser.feed(b"HTTP/1.1 200 OK\r\n")

    def endless() -> None:
        for _ in range(10_000):
            parser.feed(b"X-Pad: " + b"y" * 1000 + b"\r\n")

    with cpu_spent() as spent, pytest.raises(MeterResponseError, match="longer than"):
        endless()
    assert parser.received < 2 * MAX_HEAD
    assert spent.seconds < 1


def test_a_meter_sending_a_byte_at_a_time_costs_little() -> None:
    body = b"{" + b" " * (LIMIT - 2) + b"}"
    wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(
        body, [1] * 200
    )
    with cpu_spent() as spent:
        assert fed(wire, list(range(len(wire)))) == HttpAnswer(200, body)
    assert spent.seconds < 1


def test_a_request_is_complete_and_closes_its_connection() -> None:
    request = request_bytes(
        "POST", "::1", 8080, "/api/read", [("Authorization", "Bearer t")], b"{}"
    )
    assert request == (
        b"POST /api/read HTTP/1.1\r\nHost: [::1]:8080\r\nAuthorization: Bearer t\r\n"
        b"Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    )


def test_a_host_name_is_sent_in_ascii() -> None:
    request = request_bytes("POST", "zähler.local", 80, "/", [], b"")
    assert b"\r\nHost: xn--zhler-gra.local:80\r\n" in request


@pytest.mark.parametrize("token", ["a\r\nX-Injected: 1", "a\nb", "caf\u00e9", "a\x00"])
def test_a_request_that_would_carry_a_line_break_is_refused(token: str) -> None:
    with pytest.raises(ValueError, match="control characters"):
        request_bytes("POST", "h", 80, "/", [("Authorization", token)], b"")


# Over real loopback sockets.

type Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handle: Handler) -> AsyncIterator[int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def answering(*pieces: bytes, pause: float = 0.0) -> Handler:
    async def handle(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            length = int(request.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(pause)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return handle


async def _exchange(port: int, timeout: float = 2.0) -> HttpAnswer:
    request = request_bytes("POST", "127.0.0.1", port, "/api/read", [], b"{}")
    return await exchange("127.0.0.1", port, request, timeout=timeout, max_body=LIMIT)


async def test_an_answer_in_pieces_over_a_socket(socket_enabled: None) -> None:
    handler = answering(
        b"HTTP/1.1 200 OK\r\nTransfer-",
        b"Encoding: chunked\r\n\r\n5\r\nhel",
        b"lo\r\n0\r\n\r\n",
    )
    async with serving(handler) as port:
        assert await _exchange(port) == HttpAnswer(200, b"hello")


# An address is read on a plain socket, a name through asyncio's connection.
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_a_meter_that_stops_mid_answer_is_no_answer_in_time(
    socket_enabled: None, host: str
) -> None:
    handler = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", pause=1)
    async with serving(handler) as port:
        request = request_bytes("POST", host, port, "/", [], b"{}")
        with pytest.raises(NoAnswerError, match=r"no answer within 0\.3 s"):
            await exchange(host, port, request, timeout=0.3, max_body=LIMIT)


async def test_a_closed_port_is_no_connection(socket_enabled: None) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(MeterConnectionError) as caught:
        await _exchange(port)
    assert not isinstance(caught.value, NoAnswerError)


@pytest.mark.parametrize(
    "error",
    [
        socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
        UnicodeError("label too long"),
    ],
)
async def test_a_name_nothing_resolves_is_no_connection(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    # Names are not looked up here (no resolver but loopback's): the loop's connect
    # fails as it does for a name the resolver does not know, or cannot encode.
    loop = asyncio.get_running_loop()

    async def unknown(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(loop, "create_connection", unknown)
    request = request_bytes("POST", "meter.invalid", 80, "/", [], b"")
    with pytest.raises(MeterConnectionError) as caught:
        await exchange("meter.invalid", 80, request, timeout=1, max_body=LIMIT)
    assert not isinstance(caught.value, NoAnswerError)


async def test_a_connection_that_is_never_made_takes_the_connect_timeout(
    socket_enabled: None,
) -> None:
    # A listening socket whose queue is full drops what else knocks: the connection
    # is never made, as with a host that drops the attempt.
    with socket.socket() as full, socket.socket() as first:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        first.connect(full.getsockname())
        with pytest.raises(
            MeterConnectionError, match=r"no connection within 0\.6 s"
        ) as caught:
            await _exchange(full.getsockname()[1], timeout=1.0)
    assert not isinstance(caught.value, NoAnswerError)
    assert connect_timeout(1.0) == pytest.approx(0.6)
    assert connect_timeout(60.0) == 5.0


async def test_a_name_whose_connection_is_never_made_takes_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A name's connection is the loop's to make (it resolves, and races addresses):
    # made to wait here, as it would for a host that drops the attempt.
    loop = asyncio.get_running_loop()

    async def never(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(3600)

    monkeypatch.setattr(loop, "create_connection", never)
    request = request_bytes("POST", "meter.invalid", 80, "/", [], b"")
    with pytest.raises(MeterConnectionError, match=r"no connection within 0\.6 s"):
        await exchange("meter.invalid", 80, request, timeout=1.0, max_body=LIMIT)


async def test_a_long_request_is_sent_whole_as_the_socket_takes_it(
    socket_enabled: None,
) -> None:
    # Far more than a socket takes at once: the rest goes when the meter reads.
    body = b"x" * (32 * 1024 * 1024)
    handler = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    async with serving(handler) as port:
        request = request_bytes("POST", "127.0.0.1", port, "/", [], body)
        answer = await exchange("127.0.0.1", port, request, timeout=10, max_body=LIMIT)
    assert answer == HttpAnswer(200, b"{}")


async def test_a_meter_that_resets_the_connection_gave_no_answer(
    socket_enabled: None,
) -> None:
    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        # Closing with a zero linger time resets the connection instead of ending it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    async with serving(reset) as port:
        with pytest.raises(NoAnswerError, match="the connection broke"):
            await _exchange(port)


class _Unreachable(socket.socket):
    """A socket on a host whose network is down: its connect fails at once."""

    def connect(self, address: Any) -> None:
        raise OSError(errno.ENETUNREACH, os.strerror(errno.ENETUNREACH))


def _no_descriptors(*args: Any, **kwargs: Any) -> socket.socket:
    raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


@pytest.mark.parametrize(
    ("make_socket", "reason"),
    [(_Unreachable, "Network is unreachable"), (_no_descriptors, "Too many open")],
)
async def test_a_socket_that_cannot_connect_is_no_connection(
    monkeypatch: pytest.MonkeyPatch, make_socket: Any, reason: str
) -> None:
    # Neither exists on loopback: a network that is down, a process out of file
    # descriptors.
    monkeypatch.setattr(socket, "socket", make_socket)
    with pytest.raises(MeterConnectionError, match=reason) as caught:
        await _exchange(80)
    assert not isinstance(caught.value, NoAnswerError)


async def test_a_loop_that_watches_no_sockets_still_reads_an_address(
    socket_enabled: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Windows' loop has no add_writer: asyncio's own connection does the exchange.
    loop = asyncio.get_running_loop()

    def unsupported(*args: Any) -> None:
        raise NotImplementedError

    handler = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    async with serving(handler) as port:
        monkeypatch.setattr(loop, "add_writer", unsupported)
        assert await _exchange(port) == HttpAnswer(200, b"{}")


async def test_a_host_name_is_resolved_and_any_of_its_addresses_answers(
    socket_enabled: None,
) -> None:
    # "localhost" may name ::1 before 127.0.0.1; only the latter listens here.
    handler = answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
    async with serving(handler) as port:
        request = request_bytes("POST", "localhost", port, "/", [], b"{}")
        answer = await exchange("localhost", port, request, timeout=2, max_body=LIMIT)
    assert answer == HttpAnswer(200, b"{}")
