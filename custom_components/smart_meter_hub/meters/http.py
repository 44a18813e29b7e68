"""A small HTTP/1.1 client for meters on the local network, every answer bounded.

One request per connection (``Connection: close``): nothing is left open between polls
(no file descriptor per meter, no timer). With polls a minute apart nothing was kept
alive before either: Home Assistant's shared session closes an idle connection after
15 s. What keeping one would save, where a meter allows it, ``docs/benchmarks.md`` says.

Why not aiohttp: a poll of an OBIS meter is one small POST and one small answer, and a
thousand meters make a thousand of them a minute. aiohttp's request machinery (session,
connector, timeouts, tracing, the URL object, the streamed body) cost more CPU per poll
than reading the answer (``docs/benchmarks.md``). Here a request is bytes made once per
meter, sent on a plain socket the loop watches (a meter's IP address) or through an
asyncio connection (a name, which must be resolved), and the answer is parsed as it
arrives by :class:`AnswerParser`, which bounds everything before it is stored:

* the status line and headers: :data:`MAX_HEAD` bytes and :data:`MAX_HEADERS` lines;
* the body: the caller's ``max_body``, whether it comes with a length, in chunks or
  until the connection closes; a compressed body is refused, never inflated;
* time: the caller's timeout, the connection within a shorter one.

Whatever answers, an exchange ends with an :class:`HttpAnswer` or a typed MeterError:
:class:`MeterConnectionError` when nothing took the connection, :class:`NoAnswerError`
when something did but sent no complete answer in time (or hung up), and
:class:`MeterResponseError` when what came back is no HTTP answer this client reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import socket
from collections.abc import Iterable
from functools import lru_cache
from typing import Final, NamedTuple, cast

from .models import MeterConnectionError, MeterResponseError, NoAnswerError

# The status line and headers of a meter's answer are a few hundred bytes.
MAX_HEAD: Final = 16 * 1024
MAX_HEADERS: Final = 64
# Interim (1xx) answers skipped before the final one.
MAX_INTERIM: Final = 4
# A chunk-size line (hex digits and extensions).
MAX_CHUNK_LINE: Final = 1024
# Making the connection takes at most this long (a host that is down, or dropped).
MAX_CONNECT_TIMEOUT: Final = 5.0
_SHOWN: Final = 32  # characters of a meter's text quoted in a message
_READ_SIZE: Final = 64 * 1024  # bytes taken from a socket at a time

_STATUS_LINE: Final = re.compile(rb"HTTP/1\.[01] ([1-5][0-9][0-9])(?:[ \t][^\r\n]*)?")
_TOKEN: Final = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS: Final = re.compile(rb"[0-9]{1,19}")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
# Text that may stand in a request line or a header value as it is (visible ASCII
# and spaces): anything else cannot be sent.
_SENDABLE: Final = re.compile(r"[\x20-\x7e]*")


class HttpAnswer(NamedTuple):
    """A complete answer: its status and its body (of a known length, unencoded)."""

    status: int
    body: bytes


def connect_timeout(timeout: float) -> float:
    """How long making the connection may take, of an exchange of ``timeout`` s.

    Shorter than the exchange: when the whole exchange times out, something had taken
    the connection, and the error says which of the two it was.
    """
    return min(MAX_CONNECT_TIMEOUT, timeout * 0.6)


def _shown(data: bytes) -> str:
    """Bytes a meter sent, short enough to quote in a message."""
    text = data[:_SHOWN].decode("ascii", "backslashreplace")
    return text if len(data) <= _SHOWN else f"{text}..."


def _not_http(reason: str) -> MeterResponseError:
    return MeterResponseError(f"not an HTTP answer: {reason}")


def _netloc(host: str) -> str:
    """The host as the Host header names it.

    An IPv6 address in brackets, a name in ASCII (``zähler.local`` is
    ``xn--zhler-gra.local``).
    """
    if ":" in host:
        return f"[{host}]"
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host  # no name: refused with the request


def sendable(text: str) -> bool:
    """Whether ``text`` can stand in a request as it is (visible ASCII and spaces)."""
    return _SENDABLE.fullmatch(text) is not None


def request_bytes(
    method: str,
    host: str,
    port: int,
    path: str,
    headers: Iterable[tuple[str, str]],
    body: bytes,
) -> bytes:
    """A complete request, made once and sent as it is.

    Raises ValueError when a part holds what a request cannot carry (a line break in a
    token would start a header of the meter's choosing).
    """
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {_netloc(host)}:{port}",
        *(f"{name}: {value}" for name, value in headers),
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if not all(sendable(line) for line in lines):
        raise ValueError("a request cannot carry control characters")
    return "\r\n".join([*lines, "", ""]).encode("ascii") + body


class AnswerParser:
    """One HTTP/1.x answer, parsed from bytes fed in any pieces.

    :meth:`feed` returns the answer once it is complete (None until then), and
    :meth:`feed_eof` when the peer closes; both raise a typed MeterError for what is
    no answer, and neither stores more than :data:`MAX_HEAD` bytes of head and
    ``max_body`` bytes of body, whatever is fed.
    """

    def __init__(self, max_body: int) -> None:
        """Refuse bodies longer than ``max_body`` bytes."""
        self.max_body = max_body
        self.received = 0  # bytes fed, in all
        self._buffer = bytearray()
        self._status = 0  # of the final answer, once its head is in
        self._interim = 0
        self._length: int | None = None  # of the body, when sent with one
        self._chunked = False
        # Bytes of the current chunk still to come; -1: a size (or trailer) line next.
        self._chunk_left = -1
        self._trailers = -1  # trailer lines read, once the last chunk is in
        self._body = bytearray()
        self._answer: HttpAnswer | None = None

    def feed(self, data: bytes) -> HttpAnswer | None:
        """Take the next bytes; the answer once complete."""
        if self._answer is not None:
            return self._answer  # what follows a complete answer is not read
        self.received += len(data)
        self._buffer += data
        while not self._status:
            if not self._head():
                return None
        if self._chunked:
            self._chunks()
        else:
            self._take_body()
        return self._answer

    def feed_eof(self) -> HttpAnswer:
        """The peer closed: the answer, if it was complete or ends with the connection."""
        if self._answer is not None:
            return self._answer
        if not self._status:
            if self.received == 0:
                raise NoAnswerError("the meter closed the connection without an answer")
            raise NoAnswerError(
                f"the meter closed the connection after {self.received} bytes, "
                "before the answer's headers ended"
            )
        if self._length is None and not self._chunked:
            return self._finish()  # no length: the answer ends with the connection
        raise NoAnswerError(
            f"the meter closed the connection after {len(self._body)} bytes of the "
            "answer's body, before it ended"
        )

    def _finish(self) -> HttpAnswer:
        self._answer = HttpAnswer(self._status, bytes(self._body))
        self._buffer.clear()
        return self._answer

    def _too_long(self) -> MeterResponseError:
        return MeterResponseError(f"response of more than {self.max_body} bytes")

    def _head(self) -> bool:
        """Parse the head if it is complete (True), or wait for more (False)."""
        buffer = self._buffer
        if buffer[:5] != b"HTTP/"[: len(buffer)]:
            raise _not_http(f"it starts with {_shown(bytes(buffer))!r}")
        end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD + 4)
        if end < 0:
            if len(buffer) > MAX_HEAD:
                raise _not_http(f"its headers are longer than {MAX_HEAD} bytes")
            return False
        lines = bytes(buffer[:end]).split(b"\r\n")
        del buffer[: end + 4]
        match = _STATUS_LINE.fullmatch(lines[0])
        if match is None:
            raise _not_http(f"status line {_shown(lines[0])!r}")
        if len(lines) - 1 > MAX_HEADERS:
            raise _not_http(f"more than {MAX_HEADERS} headers")
        status = int(match[1])
        headers = self._headers(lines[1:])
        if status < 200:
            self._interim += 1
            if self._interim > MAX_INTERIM:
                raise _not_http(f"more than {MAX_INTERIM} interim answers")
            return True  # an interim answer: the final one follows
        self._status = status
        self._framing(headers)
        return True

    def _framing(self, headers: dict[bytes, bytes]) -> None:
        """How the final answer's body comes: with a length, in chunks, or to the close."""
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"", b"identity"):
            raise MeterResponseError(f"response is compressed ({_shown(encoding)})")
        transfer = headers.get(b"transfer-encoding")
        length = headers.get(b"content-length")
        if self._status in (204, 304):
            self._length = 0
        elif transfer is not None:
            # The last coding must be chunked (RFC 9112 6.1); a length beside it is
            # ignored. No other coding is read.
            if transfer.strip().lower() != b"chunked":
                raise _not_http(f"transfer coding {_shown(transfer)!r}")
            self._chunked = True
        elif length is not None:
            if not _DIGITS.fullmatch(length.strip()):
                raise _not_http(f"length {_shown(length)!r}")
            self._length = int(length)
            if self._length > self.max_body:
                raise MeterResponseError(
                    f"response of {self._length} bytes, more than {self.max_body}"
                )

    @staticmethod
    def _headers(lines: list[bytes]) -> dict[bytes, bytes]:
        """The headers this client reads, by lower-case name."""
        headers: dict[bytes, bytes] = {}
        for line in lines:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise _not_http(f"header line {_shown(line)!r}")
            key = name.lower()
            value = value.strip(b" \t")
            if key in headers and headers[key] != value:
                if key == b"content-length":
                    raise _not_http("two different lengths")
                headers[key] += b"," + value  # a list spread over lines (RFC 9110 5.3)
            else:
                headers[key] = value
        return headers

    def _take_body(self) -> None:
        """Move body bytes from the buffer, up to the length or the cap."""
        if self._buffer:
            wanted = self.max_body + 1 if self._length is None else self._length
            self._body += self._buffer[: wanted - len(self._body)]
            self._buffer.clear()
            if len(self._body) > self.max_body:
                raise self._too_long()
        if self._length is not None and len(self._body) >= self._length:
            self._finish()

    def _chunks(self) -> None:
        """Take every complete chunk (and trailer line) in the buffer."""
        while self._answer is None:
            if self._chunk_left >= 0:
                if not self._chunk_data():
                    return
            elif (line := self._line()) is None:
                return
            elif self._trailers >= 0:
                self._trailer(line)
            else:
                self._chunk_size(line)

    def _line(self) -> bytes | None:
        """The next line of the buffer (taken out), or None until it is complete."""
        end = self._buffer.find(b"\r\n", 0, MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(self._buffer) > MAX_CHUNK_LINE:
                raise _not_http("a chunk line is too long")
            return None
        line = bytes(self._buffer[:end])
        del self._buffer[: end + 2]
        return line

    def _chunk_size(self, line: bytes) -> None:
        """A chunk's size line: the chunk's data follows, or (size 0) the trailers."""
        size = line.partition(b";")[0].strip(b" \t")
        if not _HEX.fullmatch(size):
            raise _not_http(f"chunk size {_shown(line)!r}")
        if (left := int(size, 16)) == 0:
            self._trailers = 0
        elif len(self._body) + left > self.max_body:
            raise self._too_long()
        else:
            self._chunk_left = left

    def _trailer(self, line: bytes) -> None:
        """A trailer line, skipped; the empty one ends the answer."""
        self._trailers += 1
        if not line:
            self._finish()
        elif self._trailers > MAX_HEADERS:
            raise _not_http(f"more than {MAX_HEADERS} trailer lines")

    def _chunk_data(self) -> bool:
        """Take the current chunk's data and its line end; False until they are in."""
        buffer = self._buffer
        if self._chunk_left:
            taken = buffer[: self._chunk_left]
            self._body += taken
            del buffer[: len(taken)]
            self._chunk_left -= len(taken)
            if self._chunk_left:
                return False
        if len(buffer) < 2:
            return False
        if buffer[:2] != b"\r\n":
            raise _not_http("a chunk does not end where its size says")
        del buffer[:2]
        self._chunk_left = -1
        return True


class _Exchange(asyncio.Protocol):
    """One request and its answer on one connection."""

    def __init__(self, request: bytes, max_body: int) -> None:
        self.request = request
        self.parser = AnswerParser(max_body)
        self.answer: asyncio.Future[HttpAnswer] = (
            asyncio.get_running_loop().create_future()
        )
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # what TCP connections are
        self.transport.write(self.request)

    def settle(self, outcome: HttpAnswer | BaseException) -> None:
        """End the exchange with ``outcome``, unless it has ended."""
        if self.answer.done():
            return
        if isinstance(outcome, BaseException):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            answer = self.parser.feed(data)
        except (MeterResponseError, NoAnswerError) as err:
            self.settle(err)
            return
        if answer is not None:
            self.settle(answer)

    def eof_received(self) -> bool:
        try:
            self.settle(self.parser.feed_eof())
        except (MeterResponseError, NoAnswerError) as err:
            self.settle(err)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer.done():
            return
        if exc is None:
            self.eof_received()
        else:
            self.settle(NoAnswerError(f"the connection broke: {exc}"))


class _Link:
    """An exchange's connection to one address, on a plain socket.

    The loop's writer callback says when the connection is made and its reader callback
    hands what arrives to the :class:`_Exchange`, as asyncio's transport would, without
    its machinery: an address needs no resolving, no race between addresses, no
    buffering beyond one small request. An exchange costs about a third less CPU
    (``docs/benchmarks.md``). One timer bounds the connection, then the answer.
    """

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        protocol: _Exchange,
        family: socket.AddressFamily,
        address: tuple[str, int],
        timeout: float,
    ) -> None:
        self._loop = loop
        self._protocol = protocol
        self._timeout = timeout
        self._deadline = loop.time() + timeout
        self._pending = b""
        self._writing = False
        self._closed = False
        try:
            self._sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as err:  # out of file descriptors, say
            raise MeterConnectionError(_connect_error(err)) from err
        self._fd = self._sock.fileno()
        try:
            self._sock.setblocking(False)
            self._sock.connect(address)
        except BlockingIOError:
            pass  # what a connection being made says
        except OSError as err:  # unreachable, say
            self._sock.close()
            raise MeterConnectionError(_connect_error(err)) from err
        except BaseException:
            self._sock.close()
            raise
        try:
            loop.add_writer(self._fd, self._connected)
        except NotImplementedError:  # a loop that watches no sockets (Windows')
            self._sock.close()
            raise
        self._timer = loop.call_later(connect_timeout(timeout), self._not_connected)
        self._writing = True

    def _fail(self, error: Exception) -> None:
        self.close()
        self._protocol.settle(error)

    def _not_connected(self) -> None:
        self._fail(
            MeterConnectionError(
                f"no connection within {connect_timeout(self._timeout):g} s"
            )
        )

    def _no_answer(self) -> None:
        self._fail(
            NoAnswerError(f"connected, but no answer within {self._timeout:g} s")
        )

    def _connected(self) -> None:
        self._loop.remove_writer(self._fd)
        self._writing = False
        if error := self._sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            # OSError picks the subclass of the errno: ConnectionRefusedError, ...
            self._fail(
                MeterConnectionError(_connect_error(OSError(error, os.strerror(error))))
            )
            return
        self._timer.cancel()
        self._timer = self._loop.call_at(self._deadline, self._no_answer)
        self._protocol.connection_made(cast(asyncio.Transport, self))
        if not self._closed:
            self._loop.add_reader(self._fd, self._readable)

    def write(self, data: bytes) -> None:
        """Send ``data``; what the socket does not take now, when it can."""
        self._pending += data
        self._flush()

    def _flush(self) -> None:
        try:
            sent = self._sock.send(self._pending)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as err:
            self._lost(err)
            return
        self._pending = self._pending[sent:]
        if self._pending and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._pending and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    def _readable(self) -> None:
        try:
            data = self._sock.recv(_READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._lost(err)
            return
        if data:
            self._protocol.data_received(data)
        else:
            self._lost(None)  # the meter closed: the answer ends here, or is short

    def _lost(self, err: OSError | None) -> None:
        """The connection ended (``err``: it broke); the exchange hears it."""
        self.close()
        self._protocol.connection_lost(err)

    def close(self) -> None:
        """Stop listening, and close the socket (again: nothing)."""
        if self._closed:
            return
        self._closed = True
        self._timer.cancel()
        if self._writing:
            self._loop.remove_writer(self._fd)
        self._loop.remove_reader(self._fd)
        self._sock.close()


def _connect_error(err: BaseException) -> str:
    """What a failed connection attempt says, for a MeterConnectionError."""
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__


# Every poll asks: as many hosts as meters are remembered (a smaller cache, cycled
# through by more meters, would remember none).
@lru_cache(maxsize=4096)
def _address(host: str) -> socket.AddressFamily | None:
    """The family of ``host`` if it is an IP address, None for a name.

    An address is connected to directly (:class:`_Link`); a name is resolved, and its
    addresses raced the RFC 8305 way (the next one after 0.25 s). An IPv6 address with
    a zone (``fe80::1%eth0``) takes the resolving way, which knows the zone.
    """
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv4Address):
        return socket.AF_INET
    return None if address.scope_id else socket.AF_INET6


async def exchange(
    host: str, port: int, request: bytes, *, timeout: float, max_body: int
) -> HttpAnswer:
    """Send ``request`` (from :func:`request_bytes`) and read the answer.

    All within ``timeout`` seconds, the connection within :func:`connect_timeout`; raises
    a typed MeterError otherwise (see the module's description), never another error.
    """
    loop = asyncio.get_running_loop()
    protocol = _Exchange(request, max_body)
    if (family := _address(host)) is not None:
        with contextlib.suppress(NotImplementedError):  # else asyncio's way, below
            link = _Link(loop, protocol, family, (host, port), timeout)
            try:
                return await protocol.answer
            finally:
                link.close()
    deadline = loop.time() + timeout
    try:
        async with asyncio.timeout(connect_timeout(timeout)):
            await loop.create_connection(
                lambda: protocol, host, port, happy_eyeballs_delay=0.25
            )
    except TimeoutError as err:
        raise MeterConnectionError(
            f"no connection within {connect_timeout(timeout):g} s"
        ) from err
    except (OSError, ValueError) as err:
        # OSError: refused, unreachable, the name unknown; the others: a host name
        # that is no name.
        raise MeterConnectionError(_connect_error(err)) from err
    try:
        async with asyncio.timeout_at(deadline):
            return await protocol.answer
    except TimeoutError as err:
        raise NoAnswerError(f"connected, but no answer within {timeout:g} s") from err
    finally:
        if protocol.transport is not None:
            protocol.transport.close()
