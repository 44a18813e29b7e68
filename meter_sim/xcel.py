"""A fake Itron Gen5 Riva meter (Xcel Energy Launchpad) speaking IEEE 2030.5 over mutual TLS.

Serves a real meter's capture, ``data/itron_riva_3_2_50.json`` (origin and licence in
``data/NOTICE.md``), with live values for demand and the two summations, over TLS 1.2 with
ECDHE-ECDSA-AES128-CCM8, asking for a client certificate and accepting only the
registered ones (the utility's approval). Like the real meter it serves one connection
at a time, closes a connection idle for ``idle_timeout`` seconds, and resumes TLS
sessions (tickets and its session cache); it counts full and resumed handshakes, and how
long connections were held.

Its counters count along its clock (``clock``, Unix seconds: a test's frozen time moves
it), with a demand that changes every 15 minutes, and it remembers the counters at every
15-minute boundary: the interval ReadingSets of "WH Received (Interval)" (``/upt/1/mr/11``)
and "WH Delivered (Interval)" (``/upt/1/mr/12``) are served from that history in the
capture's structure (12-hour sets, newest first, ``localID`` the interval's index), so
they always agree with the summations. Downtime is simulated by not asking it (its
counters still count), by ``hang``, or by :meth:`FakeXcelMeter.go_down`.

Faults (``meter.fault = name``): ``hang`` (accepts TCP, never answers, not even on an open
connection), ``handshake_once``
(the next handshake fails, the one after succeeds: a transient BAD_SIGNATURE),
``missing_values`` (readings without ``<value>``), ``frozen`` (timePeriod/start stops
advancing), ``forbidden`` (HTTP 403 to everything), ``drop_next`` (the next request on an
open connection gets no answer: the connection closes, as at the idle edge; ``drop``:
every request),
``garbage`` (bytes that are not HTTP), ``oversize`` (answers over 1 MB), ``slow``
(answers after ``slow_seconds``). ``older_agent = True`` serves the profile of agents
before 3.2.50 (dataQualifier 2, TOU and summation ReadingTypes told apart only by their
description, no ``<touTier>``, no interval ReadingSets); ``intervals = False`` an agent
that lists no interval data at all. ``interval_faults`` spoils single intervals,
``future_interval`` lists one that has not happened yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from custom_components.smart_meter_hub.meters.sep2_identity import (
    CIPHERS,
    Identity,
    generate_identity,
    lfdi_of,
)

CAPTURE = Path(__file__).resolve().parent / "data" / "itron_riva_3_2_50.json"
CAPTURE_LFDI = "F289A6F0493D756E057A2B5B59538112697B5A15"
CAPTURE_SFDI = "651057190448"
INTERVAL = 900  # seconds: the meter's interval data
SET_SECONDS = 43200  # one ReadingSet of interval data: 12 hours
RECEIVED_INTERVALS = 11
DELIVERED_INTERVALS = 12
INTERVAL_READINGS = {
    RECEIVED_INTERVALS: "WH Received (Interval)",
    DELIVERED_INTERVALS: "WH Delivered (Interval)",
}
LIST = (
    '<{kind} xmlns="urn:ieee:std:2030.5:ns" href="{href}" subscribable="0" '
    'all="{all}" results="{n}">{items}\n</{kind}>\n'
)
SET_ITEM = """
    <ReadingSet href="{href}">
        <mRID>{start:032X}</mRID>
        <description>{description}</description>
        <timePeriod><duration>{duration}</duration><start>{start}</start></timePeriod>
        <ReadingListLink href="{href}/r" all="{count}"/>
    </ReadingSet>"""
INTERVAL_ITEM = """
    <Reading href="{href}">
        <qualityFlags>01</qualityFlags>
        <value>{value}</value>
        <localID>{local}</localID>
    </Reading>"""
INTERVAL_PATH = re.compile(r"^/upt/1/mr/(1[12])/rs(?:/(\d+)/r)?$")
READING = """<Reading xmlns="urn:ieee:std:2030.5:ns" href="{href}">
    <qualityFlags>01</qualityFlags>
    <timePeriod><duration>1</duration><start>{start}</start></timePeriod>
    {value}
</Reading>
"""


def load_capture(path: Path = CAPTURE) -> dict[str, str]:
    """Path (with its query) -> body, for every 200 answer of the capture."""
    data = json.loads(path.read_text())
    return {
        key: answer["body"]
        for key, answer in data["responses"].items()
        if answer["status"] == 200
    }


class FakeXcelMeter:
    """One meter on loopback: TLS, one connection at a time, live readings, faults."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        *,
        idle_timeout: float = 30.0,
        demand_w: float = 2439.0,
        identity: Identity | None = None,
        seed: int = 1,
        clock: Callable[[], float] | None = None,
        keep_sets: int = 60,
    ) -> None:
        """The meter's own identity is generated (blocking) unless given.

        ``clock`` (Unix seconds) is the meter's time: its counters count along it and
        its intervals are dated by it. By default ``time.time``, looked up at each call
        (so a test's frozen clock moves it). ``keep_sets`` is how many 12-hour ReadingSets of
        interval data it remembers (the real one: 60, 30 days).
        """
        self.host = host
        self.port = 0
        self.idle_timeout = idle_timeout
        self.identity = identity or generate_identity()
        self.capture = load_capture()
        self.fault: str | None = None
        self.slow_seconds = 2.0
        self.older_agent = False
        self.intervals = True  # False: an agent with no interval ReadingSets
        # Interval start -> "missing", "negative", "absurd", "duplicate" or "empty".
        self.interval_faults: dict[int, str] = {}
        self.future_interval = False  # lists an interval that has not happened yet
        self.chunked = False  # answers in chunked transfer encoding
        self.registered: dict[str, str] = {}  # LFDI -> certificate PEM
        self.demand_w = demand_w
        self.delivered_wh = 42239863.0
        self.received_wh = 8783719.0
        self.connections = 0
        self.handshakes = 0
        self.full_handshakes = 0
        self.resumed_handshakes = 0
        self.requests = 0
        self.refused = 0
        self.stalled = 0  # requests a hung agent received and never answered
        self.cpu_seconds = 0.0
        self.held_seconds = 0.0
        self.clock = clock or (lambda: time.time())
        self.keep_sets = keep_sets
        self._seed = seed
        self._at = self.clock()
        self._bounds: dict[int, tuple[float, float]] = {}  # interval start -> counters
        self._seed_history()
        self._frozen_start: int | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._open: set[socket.socket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._folder = tempfile.TemporaryDirectory()
        self._context: ssl.SSLContext | None = None

    def wait_idle(self, timeout: float) -> bool:
        """Block until no session is open (a late answer has gone out), or ``timeout``."""
        return self._idle.wait(timeout)

    @contextlib.contextmanager
    def held_by_another_client(self) -> Iterator[None]:
        """Another program holds the meter's one connection: every handshake is dropped."""
        self._idle.clear()
        try:
            yield
        finally:
            self._idle.set()

    @property
    def lfdi(self) -> str:
        """The meter's LFDI (from its certificate), as /sdev/sdi reports it."""
        return self.identity.lfdi

    def register(self, certificate_pem: str) -> None:
        """The utility approves a client certificate (it replaces the one before).

        One at a time: every client certificate has the same subject and no key
        identifiers, so OpenSSL's trust store could not tell two of them apart.
        """
        der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
            serialization.Encoding.DER
        )
        self.registered = {lfdi_of(der): certificate_pem}
        self._context = None
        # The agent reloads its trust list: open connections (and sessions) end.
        for connection in list(self._open):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(CIPHERS)
            # Sessions resumable by ticket and by the server's session cache.
            context.options &= ~ssl.OP_NO_TICKET
            folder = Path(self._folder.name)
            (folder / "meter.pem").write_text(self.identity.certificate_pem)
            (folder / "meter.key").write_text(self.identity.key_pem)
            context.load_cert_chain(folder / "meter.pem", folder / "meter.key")
            context.verify_mode = ssl.CERT_REQUIRED
            if self.registered:
                context.load_verify_locations(cadata="".join(self.registered.values()))
            self._context = context
        return self._context

    async def start(self, port: int = 0) -> None:
        """Listen on loopback.

        Each connection is served by a blocking TLS socket in a thread: OpenSSL then
        writes its alert (an unregistered certificate) before the socket closes, as the
        meter does; asyncio's TLS would drop it.
        """
        listener = socket.create_server((self.host, port))
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._accepting = asyncio.create_task(self._accept_loop(listener))

    async def go_down(self) -> None:
        """The meter is off the network: connections are refused (the port stays)."""
        await self._close_listener()

    async def come_back(self) -> None:
        """The meter is back on the network, at the same port."""
        await self.start(self.port)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        await self._close_listener()
        self._folder.cleanup()

    async def _close_listener(self) -> None:
        if self._listener is None:
            return
        self._listener.close()
        self._listener = None
        if self._accepting is not None:
            self._accepting.cancel()
        for connection in list(self._open):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        await asyncio.gather(
            *self._tasks,
            *([self._accepting] if self._accepting else []),
            return_exceptions=True,
        )
        self._accepting = None

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _address = await loop.sock_accept(listener)
            connection.setblocking(True)
            self.connections += 1
            self._open.add(connection)
            # A closing session gets a moment to finish (waited for in real time:
            # a test may have frozen the event loop's clock).
            if not self._idle.is_set():
                await asyncio.to_thread(self._idle.wait, 0.5)
            if not self._idle.is_set():
                self.refused += 1  # one TLS connection at a time
                self._drop(connection)
                continue
            if self.fault == "hang":
                continue  # the agent hangs: TCP accepted, nothing more
            if self.fault == "handshake_once":
                self.fault = None
                self._drop(connection)  # the handshake fails once
                continue
            self._idle.clear()
            task = asyncio.create_task(asyncio.to_thread(self._session, connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _drop(self, connection: socket.socket) -> None:
        self._open.discard(connection)
        connection.close()

    def _book(self, since: float) -> float:
        """Add this thread's CPU since ``since`` to the meter's; the new mark."""
        now = time.thread_time()
        self.cpu_seconds += now - since
        return now

    def _session(self, connection: socket.socket) -> None:
        """One client connection, blocking: handshake, then requests until idle."""
        cpu = time.thread_time()  # this thread's CPU: handshake and answers
        opened = time.perf_counter()
        try:
            self.handshakes += 1
            connection.settimeout(5)
            tls = self._ssl_context().wrap_socket(
                connection, server_side=True, do_handshake_on_connect=False
            )
            self._open.add(tls)
            connection = tls
            try:
                tls.do_handshake()
            except ssl.SSLError:
                # Let the alert reach the client before closing (no reset under it).
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(tls, socket.SHUT_WR)
                    while socket.socket.recv(tls, 4096):
                        pass
                raise
            if tls.session_reused:
                self.resumed_handshakes += 1
            else:
                self.full_handshakes += 1
            cpu = self._book(cpu)
            tls.settimeout(self.idle_timeout)
            stream = tls.makefile("rb")
            while request := stream.readline():
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                served = self._serve(tls, request)
                cpu = self._book(cpu)  # booked per answer: counted while it lasts
                if not served:
                    return
        except (OSError, ValueError):
            pass  # refused certificate, idle timeout, client gone, server stopped
        finally:
            self._book(cpu)
            self.held_seconds += time.perf_counter() - opened
            self._drop(connection)
            self._idle.set()

    def _serve(self, tls: ssl.SSLSocket, request: bytes) -> bool:
        """Answer one request; False when the connection is to close."""
        fault = self.fault
        if fault == "hang":  # the agent stops answering, open connections included
            self.stalled += 1
            while self.fault == "hang" and self._listener is not None:
                time.sleep(0.02)
            return False
        if fault in ("drop_next", "drop"):
            if fault == "drop_next":
                self.fault = None
            return False  # closed at the idle edge: the request gets no answer
        if fault == "garbage":
            self.requests += 1
            tls.sendall(b"\x16\x03\x01 this is not HTTP \xff\xfe\r\n\r\n")
            return False
        words = request.decode("latin-1").split()
        if len(words) != 3 or not words[2].startswith("HTTP/"):
            # No request line (a client's stray TLS record, say): refused, and closed.
            tls.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return False
        status, body = self._answer(words[1])
        if fault == "slow":  # counted as a request, answered late
            time.sleep(self.slow_seconds)
        payload = body.encode()
        if fault == "oversize":
            payload = b"<Time>" + b" " * 1_200_000 + b"</Time>"
        head = (
            f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
            "Content-Type: application/sep+xml\r\n"
        )
        if self.chunked:
            chunks = b"".join(
                f"{len(part):x}\r\n".encode() + part + b"\r\n"
                for part in (
                    payload[n : n + 1000] for n in range(0, len(payload), 1000)
                )
            )
            tls.sendall(
                f"{head}Transfer-Encoding: chunked\r\n\r\n".encode()
                + chunks
                + b"0\r\n\r\n"
            )
        else:
            tls.sendall(
                f"{head}Content-Length: {len(payload)}\r\n\r\n".encode() + payload
            )
        return True

    # The meter's energy: counters that count along its clock, and their history.

    def _power(self, moment: float) -> float:
        """Demand during the interval that contains ``moment``: the base, ±5 %."""
        slot = int(moment // INTERVAL)
        wobble = random.Random(self._seed * 1_000_003 + slot).uniform(-0.05, 0.05)
        return self.demand_w * (1 + wobble)

    def _count(self, moment: float, seconds: float) -> None:
        """Count ``seconds`` of the demand at ``moment`` (negative: count backwards)."""
        power = self._power(moment)
        energy = abs(power) * seconds / 3600
        if power >= 0:
            self.delivered_wh += energy
        else:
            self.received_wh += energy

    def _seed_history(self) -> None:
        """What the meter remembers from before it was started: counters backwards."""
        delivered, received = self.delivered_wh, self.received_wh
        moment = self._at
        oldest = moment - self.keep_sets * SET_SECONDS
        boundary = float(int(moment // INTERVAL) * INTERVAL)
        while boundary >= oldest:
            self._count(boundary, boundary - moment)
            self._bounds[int(boundary)] = (self.delivered_wh, self.received_wh)
            moment, boundary = boundary, boundary - INTERVAL
        self.delivered_wh, self.received_wh = delivered, received

    def _advance(self) -> int:
        """Count up to the meter's clock; the start of the live readings' timePeriod."""
        now = self.clock()
        while self._at < now:
            boundary = (int(self._at // INTERVAL) + 1) * INTERVAL
            step = min(now, boundary)
            self._count(self._at, step - self._at)
            self._at = step
            if step == boundary:
                self._bounds[boundary] = (self.delivered_wh, self.received_wh)
        oldest = now - self.keep_sets * SET_SECONDS - INTERVAL
        for boundary in [b for b in self._bounds if b < oldest]:
            del self._bounds[boundary]
        start = int(now)
        if self.fault == "frozen":
            if self._frozen_start is None:
                self._frozen_start = start - 60  # the agent stopped a minute ago
            return self._frozen_start
        self._frozen_start = None
        return start

    def interval_wh(self, start: int, delivered: bool = True) -> int:
        """The energy of the interval starting at ``start``, as the meter lists it (Wh)."""
        index = 0 if delivered else 1
        end = self._bounds[start + INTERVAL][index]
        return round(end) - round(self._bounds[start][index])

    def intervals_of_hour(self, hour: int, delivered: bool = True) -> int:
        """The energy of the hour starting at ``hour`` (Unix seconds), from its intervals."""
        return sum(
            self.interval_wh(hour + n * INTERVAL, delivered)
            for n in range(3600 // INTERVAL)
        )

    def _answer(self, path: str) -> tuple[int, str]:
        self.requests += 1
        if self.fault == "forbidden":
            return 403, ""
        start = self._advance()
        demand = self._power(self.clock())
        live = {
            "/upt/1/mr/1/r": round(demand),
            "/upt/1/mr/2/r": round(self.received_wh),
            "/upt/1/mr/3/r": round(self.delivered_wh),
        }
        if path in live:
            value = (
                "" if self.fault == "missing_values" else f"<value>{live[path]}</value>"
            )
            return 200, READING.format(href=path, start=start, value=value)
        if (sets := _interval_path(path)) is not None:
            return self._interval_answer(*sets)
        body = self.capture.get(path) or self.capture.get(f"{path}?s=0&l=25")
        if body is None:
            return 404, ""
        body = body.replace(CAPTURE_LFDI, self.identity.lfdi).replace(
            CAPTURE_SFDI, str(self.identity.sfdi)
        )
        if self.older_agent:
            body = _older(path, body)
        if not self.intervals and path.startswith("/upt/1/mr?"):
            body = _without_intervals(body)
        return 200, body

    # Interval data: ReadingSets of 12 hours, newest first, as the captured agent.

    def _sets(self) -> list[int]:
        """The starts of the ReadingSets the meter has, newest first."""
        if not self._bounds:
            return []
        oldest = min(self._bounds) // SET_SECONDS * SET_SECONDS
        newest = int(self._at // SET_SECONDS) * SET_SECONDS
        return list(range(newest, oldest - 1, -SET_SECONDS))[: self.keep_sets]

    def _slots(self, set_start: int) -> list[int]:
        """The complete intervals of a ReadingSet (the meter lists only finished ones)."""
        return [
            slot
            for slot in range(set_start, set_start + SET_SECONDS, INTERVAL)
            if slot in self._bounds and slot + INTERVAL in self._bounds
        ]

    def _interval_answer(
        self, reading: int, set_id: int | None, first: int, limit: int
    ) -> tuple[int, str]:
        if not self.intervals or self.older_agent:
            return 404, ""
        base = f"/upt/1/mr/{reading}/rs"
        description = INTERVAL_READINGS[reading]
        if set_id is None:
            sets = self._sets()
            page = sets[first : first + limit]
            items = "".join(
                SET_ITEM.format(
                    href=f"{base}/{start // SET_SECONDS}",
                    description=description,
                    duration=min(SET_SECONDS, int(self._at) - start),
                    start=start,
                    count=len(self._slots(start)),
                )
                for start in page
            )
            return 200, LIST.format(
                kind="ReadingSetList",
                href=base,
                all=len(sets),
                n=len(page),
                items=items,
            )
        set_start = set_id * SET_SECONDS
        if set_start not in self._sets():
            return 404, ""
        rows = self._set_readings(reading, set_start)
        items = "".join(
            INTERVAL_ITEM.format(
                href=f"{base}/{set_id}/r/{first + n + 1}", local=local, value=value
            )
            for n, (local, value) in enumerate(rows[first : first + limit])
        )
        return 200, LIST.format(
            kind="ReadingList",
            href=f"{base}/{set_id}/r",
            all=len(rows),
            n=len(rows[first : first + limit]),
            items=items,
        )

    def _set_readings(self, reading: int, set_start: int) -> list[tuple[str, str]]:
        """(localID, value) of each interval of a set, with the faults asked for."""
        delivered = reading == DELIVERED_INTERVALS
        rows: list[tuple[str, str]] = []
        for slot in self._slots(set_start):
            local = f"{(slot - set_start) // INTERVAL:02X}"
            value = str(self.interval_wh(slot, delivered))
            fault = self.interval_faults.get(slot)
            if fault == "missing":
                continue
            if fault == "negative":
                value = "-" + value
            elif fault == "absurd":
                value = "9" * 15
            elif fault == "duplicate":
                rows.append((local, str(int(value) + 100)))
            elif fault == "empty":
                value = ""
            rows.append((local, value))
        if self.future_interval:
            ahead = (int(self._at) - set_start) // INTERVAL + 2
            if ahead * INTERVAL < SET_SECONDS:
                rows.append((f"{ahead:02X}", "500"))
        return rows


def _older(path: str, body: str) -> str:
    """The profile of agents before 3.2.50."""
    body = re.sub(
        r"<dataQualifier>\d+</dataQualifier>", "<dataQualifier>2</dataQualifier>", body
    )
    if path in ("/rt/8", "/rt/9"):
        body = body.replace(
            "<numberOfTouTiers>8</numberOfTouTiers>",
            "<numberOfTouTiers>0</numberOfTouTiers>",
        )
        body = re.sub(r"<phase>\d+</phase>\s*", "", body)
    if path.startswith(("/upt/1/mr/8/rs/1/r", "/upt/1/mr/9/rs/1/r")):
        body = re.sub(r"<touTier>\d+</touTier>\s*", "", body)
    return body


def describe(meter: FakeXcelMeter) -> str:
    """What to type into the config flow."""
    return (
        f"Xcel meter (IEEE 2030.5): host {meter.host}, port {meter.port}, "
        f"SFDI {meter.identity.sfdi}"
    )


def stats(meter: FakeXcelMeter) -> dict[str, Any]:
    """Counters for benchmarks."""
    return {
        "connections": meter.connections,
        "handshakes": meter.handshakes,
        "full_handshakes": meter.full_handshakes,
        "resumed_handshakes": meter.resumed_handshakes,
        "requests": meter.requests,
        "cpu_seconds": meter.cpu_seconds,
        "held_seconds": meter.held_seconds,
    }


async def approve_when_stored(
    meter: FakeXcelMeter, storage: Path, delay: float = 20.0
) -> None:
    """Stand in for the utility: approve Home Assistant's identity once it is saved.

    ``storage`` is Smart Meter Hub's private store of the identity; approval follows
    ``delay`` seconds after it appears (or changes), so the waiting state can be seen.
    """
    approved: str | None = None
    while True:
        await asyncio.sleep(2)
        try:
            stored = json.loads(storage.read_text())["data"]["certificate"]
        except (OSError, ValueError, KeyError):
            continue
        if stored != approved:
            await asyncio.sleep(delay)
            meter.register(stored)
            approved = stored


def _interval_path(path: str) -> tuple[int, int | None, int, int] | None:
    """(reading, set id or None for the list, first, limit) of an interval request."""
    route, _, query = path.partition("?")
    found = INTERVAL_PATH.match(route)
    if found is None:
        return None
    paging = parse_qs(query)
    try:
        first = int(paging.get("s", ["0"])[0])
        limit = int(paging.get("l", ["25"])[0])
    except ValueError:
        first, limit = 0, 25
    set_id = int(found[2]) if found[2] else None
    return int(found[1]), set_id, max(first, 0), max(min(limit, 255), 0)


def _without_intervals(body: str) -> str:
    """A MeterReadingList whose interval readings have no ReadingSets (older agents)."""
    return re.sub(
        r"(<description>[^<]*\(Interval\)</description>\s*)"
        r"<ReadingSetListLink[^>]*/>\s*",
        r"\1",
        body,
    )
