"""IEEE 2030.5 (SEP 2.0) meters over HTTPS with mutual TLS (Itron Gen5 meters, for one).

The meter serves one TLS connection at a time, closes an idle one after about 30 s, and
its agent can hang. So: one keep-alive connection, one request at a time; a request that
finds the connection closed by the meter is sent again once on a new one; a handshake
that fails is tried once more (about 1 in 190 fails with BAD_SIGNATURE).

At setup the resource tree is walked once and each reading classified by its
ReadingType (and description, for older agents); each poll then GETs only the readings
that feed entities: instantaneous demand, summation delivered, summation received.
Power factor, time-of-use tiers and maximum demand change slowly and are read every
``slow_every`` polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

from .models import (
    MeterConnectionError,
    MeterData,
    MeterIdentityError,
    MeterPendingError,
    MeterResponseError,
    Reading,
    split_net_power,
)
from .obis import ENERGY_EXPORT, ENERGY_IMPORT, ObisCode, obis
from .sep2_identity import lfdi_of

NS: Final = "{urn:ieee:std:2030.5:ns}"
DEFAULT_PORT: Final = 8081
MAX_BODY: Final = 1_000_000
STALE_AFTER: Final = 300.0  # a live reading's timePeriod/start that stops advancing

# Roles a reading can play, and the OBIS code it feeds.
DEMAND: Final = "demand"
DELIVERED: Final = "delivered"
RECEIVED: Final = "received"
POWER_FACTOR: Final = "power_factor"
TOU_DELIVERED: Final = "tou_delivered"
TOU_RECEIVED: Final = "tou_received"
MAX_DELIVERED: Final = "max_demand_delivered"
MAX_RECEIVED: Final = "max_demand_received"
FAST_ROLES: Final = (DEMAND, DELIVERED, RECEIVED)
LIVE_ROLES: Final = frozenset(FAST_ROLES)

CODES: Final = {
    DELIVERED: ENERGY_IMPORT,
    RECEIVED: ENERGY_EXPORT,
    POWER_FACTOR: obis("1-0:13.7.0"),
    MAX_DELIVERED: obis("1-0:1.6.0"),
    MAX_RECEIVED: obis("1-0:2.6.0"),
}
# DeviceInformation mfID (IANA private enterprise number) -> manufacturer.
MANUFACTURERS: Final = {1233: "Itron"}
UOM_W: Final = 38
UOM_WH: Final = 72
UOM_COS: Final = 65
FORWARD: Final = 1
REVERSE: Final = 19


class MeterNotApprovedError(MeterPendingError):
    """The meter refuses our certificate: the utility has not approved the LFDI (yet)."""


@dataclass(frozen=True)
class ReadingType:
    """The fields of a ReadingType that tell readings apart."""

    uom: int | None = None
    kind: int | None = None
    accumulation: int | None = None
    flow: int | None = None
    qualifier: int | None = None
    tou_tiers: int | None = None
    multiplier: int = 0

    @classmethod
    def parse(cls, element: ET.Element) -> ReadingType:
        """From a ``<ReadingType>``; absent fields are None."""
        return cls(
            uom=_int(element, "uom"),
            kind=_int(element, "kind"),
            accumulation=_int(element, "accumulationBehaviour"),
            flow=_int(element, "flowDirection"),
            qualifier=_int(element, "dataQualifier"),
            tou_tiers=_int(element, "numberOfTouTiers"),
            multiplier=_int(element, "powerOfTenMultiplier") or 0,
        )


def classify(reading_type: ReadingType, description: str) -> str | None:
    """The role of a MeterReading, from its ReadingType and (older agents) description."""
    text = description.lower()
    rt = reading_type
    if rt.accumulation == 4 or "interval" in text:
        return None  # 15-minute interval data: not a live value
    if rt.uom == UOM_COS:
        return POWER_FACTOR if rt.flow in (0, None) and "phase" not in text else None
    if rt.uom == UOM_W:
        maximum = rt.qualifier == 8 or "max" in text
        if maximum:
            return MAX_RECEIVED if rt.flow == REVERSE else MAX_DELIVERED
        if rt.accumulation == 12 or "demand" in text:
            return DEMAND
        return None
    if rt.uom == UOM_WH and rt.accumulation in (9, None):
        tou = (rt.tou_tiers or 0) > 0 or "tou" in text
        if rt.flow == REVERSE or "received" in text:
            return TOU_RECEIVED if tou else RECEIVED
        if rt.flow == FORWARD or "delivered" in text:
            return TOU_DELIVERED if tou else DELIVERED
    return None


@dataclass
class MeterProfile:
    """What the walk of the resource tree found; cached for every later poll."""

    lfdi: str
    sfdi: int
    software: str | None
    manufacturer_id: int | None
    readings: dict[str, str] = field(default_factory=dict)  # role -> Reading href
    multipliers: dict[str, int] = field(default_factory=dict)


@dataclass
class LinkStats:
    """What the client did, for benchmarks and diagnostics."""

    connections: int = 0
    handshakes: int = 0
    requests: int = 0


def _int(element: ET.Element | None, tag: str) -> int | None:
    if element is None:
        return None
    found = element.find(NS + tag)
    if found is None or found.text is None or not found.text.strip():
        return None
    try:
        return int(found.text.strip())
    except ValueError:
        return None


def _text(element: ET.Element | None, tag: str) -> str | None:
    if element is None:
        return None
    found = element.find(NS + tag)
    return found.text.strip() if found is not None and found.text else None


def _href(element: ET.Element | None, tag: str) -> str | None:
    if element is None:
        return None
    found = element.find(NS + tag)
    return found.get("href") if found is not None else None


class Ieee2030Client:
    """One meter, one connection, one request at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        *,
        pinned_lfdi: str | None = None,
        timeout: float = 10.0,
        idle_reconnect: float = 25.0,
    ) -> None:
        """No I/O; the connection opens on the first request."""
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.pinned_lfdi = pinned_lfdi
        self.timeout = timeout
        self.idle_reconnect = idle_reconnect
        self.peer_lfdi: str | None = None
        self.stats = LinkStats()
        self._lock = asyncio.Lock()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._last_used = 0.0
        self._shut = False

    def _refuse_when_shut(self) -> None:
        if self._shut:
            raise MeterConnectionError("the client is shut down")

    async def shutdown(self) -> None:
        """Close for good: a request still in flight cannot open a new connection."""
        self._shut = True
        await self.close()

    async def close(self) -> None:
        """Close the connection."""
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                async with asyncio.timeout(1):
                    await writer.wait_closed()

    async def _handshake(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.stats.handshakes += 1
        async with asyncio.timeout(self.timeout):
            return await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl_context, server_hostname=None
            )

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        self.stats.connections += 1
        for attempt in range(2):  # a transient BAD_SIGNATURE succeeds when retried
            try:
                reader, writer = await self._handshake()
                break
            except ssl.SSLError as err:
                if _refuses_certificate(err):
                    raise MeterNotApprovedError(
                        f"the meter refused our certificate ({err.reason})"
                    ) from err
                if attempt:
                    raise MeterConnectionError(
                        f"TLS handshake with {self.host}:{self.port} failed: {err}"
                    ) from err
            except (ConnectionResetError, asyncio.IncompleteReadError) as err:
                if attempt:
                    raise MeterConnectionError(
                        f"{self.host}:{self.port} dropped the TLS handshake"
                    ) from err
            except (OSError, TimeoutError) as err:
                raise MeterConnectionError(
                    f"no answer from {self.host}:{self.port}: {err or 'timeout'}"
                ) from err
        ssl_object = writer.get_extra_info("ssl_object")
        der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
        self.peer_lfdi = lfdi_of(der) if der else None
        if self.pinned_lfdi and self.peer_lfdi != self.pinned_lfdi:
            writer.close()
            raise MeterIdentityError(
                f"another meter answers at {self.host}:{self.port}"
            )
        return reader, writer

    async def get(self, path: str) -> ET.Element:
        """GET one resource and parse it."""
        async with self._lock:
            reused = (
                self._writer is not None
                and not self._writer.is_closing()
                and time.monotonic() - self._last_used < self.idle_reconnect
            )
            if not reused:
                await self.close()
            closed: Exception | None = None
            try:
                # A kept-alive connection the meter closed under us: once more, fresh.
                for _attempt in range(2 if reused else 1):
                    try:
                        return await self._exchange(path)
                    except (
                        ConnectionError,
                        asyncio.IncompleteReadError,
                        EmptyAnswerError,
                    ) as err:
                        await self.close()
                        closed = err
            except TimeoutError as err:
                await self.close()
                raise MeterConnectionError(
                    f"{self.host}:{self.port} did not answer {path}"
                ) from err
            finally:
                self._last_used = time.monotonic()
            raise MeterConnectionError(
                f"{self.host}:{self.port} closed the connection"
            ) from closed

    async def _exchange(self, path: str) -> ET.Element:
        if self._writer is None or self._reader is None:
            self._refuse_when_shut()
            self._reader, self._writer = await self._connect()
            if self._shut:  # shut down during the handshake: never keep it
                await self.close()
                self._refuse_when_shut()
        reader, writer = self._reader, self._writer
        self.stats.requests += 1
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            "Accept: application/sep+xml\r\nConnection: keep-alive\r\n\r\n".encode()
        )
        async with asyncio.timeout(self.timeout):
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                raise EmptyAnswerError
            headers: dict[str, str] = {}
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if length > MAX_BODY:
                raise MeterResponseError(f"{path}: {length} bytes is too large")
            body = await reader.readexactly(length)
        if headers.get("connection", "").lower() == "close":
            await self.close()
        status = int(status_line.split()[1])
        if status in (401, 403):
            raise MeterNotApprovedError(f"{path}: HTTP {status}")
        if status != 200:
            raise MeterResponseError(f"{path}: HTTP {status}")
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            raise MeterResponseError(f"{path}: XML with a DTD is refused")
        try:
            # No DTD (checked above), size capped by MAX_BODY: entity expansion attacks
            # cannot happen, and the meter is pinned by its certificate.
            return ET.fromstring(body)  # noqa: S314
        except ET.ParseError as err:
            raise MeterResponseError(f"{path}: not XML ({err})") from err

    async def discover(self) -> MeterProfile:
        """Walk the tree once: identity, then every MeterReading and its ReadingType."""
        dcap = await self.get("/dcap")
        sdev = await self.get(_href(dcap, "SelfDeviceLink") or "/sdev")
        sdi = await self.get(_href(sdev, "DeviceInformationLink") or "/sdev/sdi")
        lfdi = (_text(sdi, "lFDI") or "").upper()
        if self.peer_lfdi and lfdi and lfdi != self.peer_lfdi:
            raise MeterResponseError(
                "the meter's lFDI does not match its TLS certificate"
            )
        profile = MeterProfile(
            lfdi=self.peer_lfdi or lfdi,
            sfdi=_int(sdev, "sFDI") or 0,
            software=_text(sdi, "swVer"),
            manufacturer_id=_int(sdi, "mfID"),
        )
        upt_list = await self.get(
            f"{_href(dcap, 'UsagePointListLink') or '/upt'}?s=0&l=25"
        )
        for usage_point in upt_list.findall(NS + "UsagePoint"):
            mr_href = _href(usage_point, "MeterReadingListLink")
            if mr_href:
                await self._classify_readings(profile, mr_href)
        if DEMAND not in profile.readings and DELIVERED not in profile.readings:
            raise MeterResponseError("the meter lists no demand or energy reading")
        return profile

    async def _classify_readings(self, profile: MeterProfile, mr_href: str) -> None:
        start = 0
        while True:
            page = await self.get(f"{mr_href}?s={start}&l=25")
            readings = page.findall(NS + "MeterReading")
            for meter_reading in readings:
                rt_href = _href(meter_reading, "ReadingTypeLink")
                if rt_href is None:
                    continue
                reading_type = ReadingType.parse(await self.get(rt_href))
                role = classify(reading_type, _text(meter_reading, "description") or "")
                if role is None or role in profile.readings:
                    continue
                if role in (TOU_DELIVERED, TOU_RECEIVED):
                    sets = _href(meter_reading, "ReadingSetListLink")
                    if sets is None:
                        continue
                    profile.readings[role] = f"{sets}/1/r"
                else:
                    href = _href(meter_reading, "ReadingLink")
                    if href is None:
                        continue
                    profile.readings[role] = href
                profile.multipliers[role] = reading_type.multiplier
            total = int(page.get("all", "0") or 0)
            start += len(readings)
            if not readings or start >= total:
                return


CERTIFICATE_ALERTS: Final = (
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "ACCESS_DENIED",
    "UNSUPPORTED_CERTIFICATE",
    "CERTIFICATE_REVOKED",
)


def _refuses_certificate(err: ssl.SSLError) -> bool:
    """A TLS alert saying the meter does not accept our certificate."""
    reason = str(err.reason or err)
    return "ALERT" in reason.upper() and any(
        alert in reason.upper() for alert in CERTIFICATE_ALERTS
    )


class EmptyAnswerError(Exception):
    """The connection gave no status line: closed by the meter."""


@dataclass
class _Seen:
    start: int
    since: float


class Ieee2030Meter:
    """Reads one meter with a cached profile; tells live readings from stale ones."""

    def __init__(
        self,
        client: Ieee2030Client,
        profile: MeterProfile,
        *,
        slow_every: int = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """No I/O; ``clock`` (seconds) dates the readings for the staleness check."""
        self.client = client
        self.profile = profile
        self.slow_every = slow_every
        self.clock = clock
        self._polls = 0
        self._seen: dict[str, _Seen] = {}
        self._slow: dict[ObisCode, Reading] = {}
        self.last_raw: dict[str, str] = {}

    def _fresh(self, role: str, start: int | None, now: float) -> bool:
        """False when a live reading's timePeriod/start has not advanced for too long."""
        if start is None:
            return role not in LIVE_ROLES
        seen = self._seen.get(role)
        if seen is None or seen.start != start:
            self._seen[role] = _Seen(start, now)
            return True
        return role not in LIVE_ROLES or now - seen.since < STALE_AFTER

    def _scaled(self, role: str, value: int) -> float:
        return value * 10.0 ** self.profile.multipliers.get(role, 0)

    async def read(self) -> MeterData:
        """One poll: 3 GETs, and every ``slow_every`` polls the slow readings too."""
        moment = self.clock()
        readings: dict[ObisCode, Reading] = {}
        roles = [role for role in FAST_ROLES if role in self.profile.readings]
        slow = self._polls % self.slow_every == 0
        if slow:
            roles += [role for role in self.profile.readings if role not in FAST_ROLES]
            self._slow = {}
        self._polls += 1
        for role in roles:
            element = await self.client.get(self.profile.readings[role])
            self.last_raw[role] = ET.tostring(element, encoding="unicode")
            if role in (TOU_DELIVERED, TOU_RECEIVED):
                self._slow |= self._tiers(role, element)
                continue
            value = _int(element, "value")
            start = _int(element.find(NS + "timePeriod"), "start")
            if value is None or not self._fresh(role, start, moment):
                continue
            scaled = self._scaled(role, value)
            if role == DEMAND:
                readings |= split_net_power(scaled)
            elif role in (DELIVERED, RECEIVED):
                readings[CODES[role]] = Reading(scaled / 1000, "kWh")
            elif role == POWER_FACTOR:
                readings[CODES[role]] = Reading(scaled, None)
                self._slow[CODES[role]] = readings[CODES[role]]
            else:
                readings[CODES[role]] = Reading(scaled, "W")
                self._slow[CODES[role]] = readings[CODES[role]]
        if not readings:
            raise MeterResponseError("the meter gave no current value")
        return MeterData(
            readings=self._slow | readings,
            serial=str(self.profile.sfdi),
            manufacturer=MANUFACTURERS.get(self.profile.manufacturer_id or 0),
            firmware=self.profile.software,
            raw=dict(self.last_raw),
        )

    def _tiers(self, role: str, element: ET.Element) -> dict[ObisCode, Reading]:
        """TOU tiers 1-8 as 1.8.1-1.8.8 (delivered) / 2.8.x (received); tier 0 is the total."""
        result: dict[ObisCode, Reading] = {}
        channel = 1 if role == TOU_DELIVERED else 2
        for reading in element.findall(NS + "Reading"):
            tier, value = _int(reading, "touTier"), _int(reading, "value")
            if tier is None or value is None or not 1 <= tier <= 8:
                continue
            code = ObisCode.parse(f"1-0:{channel}.8.{tier}")
            result[code] = Reading(self._scaled(role, value) / 1000, "kWh")
        return result
