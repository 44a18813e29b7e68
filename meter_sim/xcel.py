"""A fake Itron Gen5 Riva meter (Xcel Energy Launchpad) speaking IEEE 2030.5 over mutual TLS.

Serves a real meter's capture, ``data/itron_riva_3_2_50.json`` (origin and licence in
``data/NOTICE.md``), with live values for demand and the two summations, over TLS 1.2 with
ECDHE-ECDSA-AES128-CCM8, asking for a client certificate and accepting only the
registered ones (the utility's approval). Like the real meter it serves one connection
at a time and closes a connection idle for ``idle_timeout`` seconds.

Faults (``meter.fault = name``): ``hang`` (accepts TCP, never answers), ``handshake_once``
(the next handshake fails, the one after succeeds: a transient BAD_SIGNATURE),
``missing_values`` (readings without ``<value>``), ``frozen`` (timePeriod/start stops
advancing), ``forbidden`` (HTTP 403 to everything), ``drop_next`` (the next request
on an open connection gets no answer: the connection closes, as at the idle edge). ``older_agent = True`` serves the
profile of agents before 3.2.50 (dataQualifier 2, TOU and summation ReadingTypes told
apart only by their description, no ``<touTier>``).
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
import time
from pathlib import Path
from typing import Any

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
    ) -> None:
        """The meter's own identity is generated (blocking) unless given."""
        self.host = host
        self.port = 0
        self.idle_timeout = idle_timeout
        self.identity = identity or generate_identity()
        self.capture = load_capture()
        self.fault: str | None = None
        self.older_agent = False
        self.registered: dict[str, str] = {}  # LFDI -> certificate PEM
        self.demand_w = demand_w
        self.delivered_wh = 42239863.0
        self.received_wh = 8783719.0
        self.connections = 0
        self.handshakes = 0
        self.requests = 0
        self.refused = 0
        self.cpu_seconds = 0.0
        self._random = random.Random(seed)
        self._last = time.monotonic()
        self._frozen_start: int | None = None
        self._busy = False
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._open: set[socket.socket] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._folder = tempfile.TemporaryDirectory()
        self._context: ssl.SSLContext | None = None

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

    def _ssl_context(self) -> ssl.SSLContext:
        if self._context is None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_2
            context.set_ciphers(CIPHERS)
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

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._listener is not None:
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
        self._folder.cleanup()

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            connection, _address = await loop.sock_accept(listener)
            connection.setblocking(True)
            self.connections += 1
            self._open.add(connection)
            for _ in range(10):  # a closing session gets a moment to finish
                if not self._busy:
                    break
                await asyncio.sleep(0.05)
            if self._busy:
                self.refused += 1  # one TLS connection at a time
                self._drop(connection)
                continue
            if self.fault == "hang":
                continue  # the agent hangs: TCP accepted, nothing more
            if self.fault == "handshake_once":
                self.fault = None
                self._drop(connection)  # the handshake fails once
                continue
            self._busy = True
            task = asyncio.create_task(asyncio.to_thread(self._session, connection))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _drop(self, connection: socket.socket) -> None:
        self._open.discard(connection)
        connection.close()

    def _session(self, connection: socket.socket) -> None:
        """One client connection, blocking: handshake, then requests until idle."""
        cpu = time.thread_time()  # this thread's CPU: handshake and answers
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
            tls.settimeout(self.idle_timeout)
            stream = tls.makefile("rb")
            while request := stream.readline():
                while stream.readline() not in (b"\r\n", b"\n", b""):
                    pass
                if self.fault == "drop_next":
                    self.fault = None
                    return  # closed at the idle edge: the request gets no answer
                status, body = self._answer(request.decode("latin-1").split()[1])
                payload = body.encode()
                tls.sendall(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\n"
                    "Content-Type: application/sep+xml\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
        except (OSError, ValueError):
            pass  # refused certificate, idle timeout, client gone, server stopped
        finally:
            self.cpu_seconds += time.thread_time() - cpu
            self._busy = False
            self._drop(connection)

    def _advance(self) -> int:
        now = time.monotonic()
        hours = (now - self._last) / 3600
        self._last = now
        if self.demand_w >= 0:
            self.delivered_wh += self.demand_w * hours
        else:
            self.received_wh -= self.demand_w * hours
        self.demand_w += self._random.uniform(-20, 20)
        start = int(time.time())
        if self.fault == "frozen":
            if self._frozen_start is None:
                self._frozen_start = start - 60  # the agent stopped a minute ago
            return self._frozen_start
        self._frozen_start = None
        return start

    def _answer(self, path: str) -> tuple[int, str]:
        self.requests += 1
        if self.fault == "forbidden":
            return 403, ""
        start = self._advance()
        live = {
            "/upt/1/mr/1/r": round(self.demand_w),
            "/upt/1/mr/2/r": round(self.received_wh),
            "/upt/1/mr/3/r": round(self.delivered_wh),
        }
        if path in live:
            value = (
                "" if self.fault == "missing_values" else f"<value>{live[path]}</value>"
            )
            return 200, READING.format(href=path, start=start, value=value)
        body = self.capture.get(path) or self.capture.get(f"{path}?s=0&l=25")
        if body is None:
            return 404, ""
        body = body.replace(CAPTURE_LFDI, self.identity.lfdi).replace(
            CAPTURE_SFDI, str(self.identity.sfdi)
        )
        if self.older_agent:
            body = _older(path, body)
        return 200, body


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
        "requests": meter.requests,
        "cpu_seconds": meter.cpu_seconds,
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
