"""IEEE 2030.5 (SEP 2.0) meters over HTTPS with mutual TLS (Itron Gen5 meters, for one).

The meter serves one TLS connection at a time, closes an idle one after about 30 s, and
its agent can hang. So the client has an aiohttp session and connector of its own with a
single connection (``limit=1``), and sends one request at a time: a request that finds
the kept-alive connection closed by the meter is sent again once on a new one (aiohttp's
retry of an idempotent request on a persistent connection), a handshake that fails is
tried once more (about 1 in 190 fails with BAD_SIGNATURE), and a connection the client
cannot trust any more (an answer over the size cap, a timeout, garbage) is closed, never
reused. Reconnects resume the TLS session where the meter allows it
(:class:`~.sep2_identity.MeterTlsContext`). The meter is pinned by the LFDI of the
certificate it presents on each new connection.

At setup the resource tree is walked once and each reading classified by its
ReadingType (and description, for older agents); each poll then GETs only the readings
that feed entities: instantaneous demand, summation delivered, summation received.
Power factor, time-of-use tiers and maximum demand change slowly and are read every
``slow_every`` polls. The 15-minute interval history (ReadingSets) is read on demand.

Everything the meter sends is bounded before any arithmetic: at most ``MAX_BODY`` bytes,
no DTD, at most ``MAX_DEPTH`` levels of elements, integers within the 64-bit range of the
standard's types, powers of ten within -9..9, values within physical bounds.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from xml.parsers import expat

import aiohttp
from yarl import URL

from .models import (
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterIdentityError,
    MeterPendingError,
    MeterResponseError,
    Reading,
    split_net_power,
)
from .obis import ENERGY_EXPORT, ENERGY_IMPORT, ObisCode, obis
from .sep2_identity import MeterTlsContext, lfdi_of

NS: Final = "{urn:ieee:std:2030.5:ns}"
DEFAULT_PORT: Final = 8081
MAX_BODY: Final = 1_000_000
MAX_DEPTH: Final = 16  # the deepest resource the meter serves has 4 levels
STALE_AFTER: Final = 300.0  # a live reading's timePeriod/start that stops advancing
# The standard's integers are at most 64 bits (values: Int48, UInt48); powers of ten
# are -9..9. Anything else is garbage, not a reading.
MAX_DIGITS: Final = 20
INT64: Final = 2**63
MAX_MULTIPLIER: Final = 9
# No home or building meter measures more: a larger value is garbage.
MAX_POWER_W: Final = 10_000_000.0
# Pages of a list read at most, and readings per page (the meter's own page size).
MAX_PAGES: Final = 12
PAGE: Final = 25
HEADERS: Final = {"Accept": "application/sep+xml"}

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
# Interval energy (ReadingSets of a reading whose accumulation is "deltaData").
INTERVAL_DELIVERED: Final = "interval_delivered"
INTERVAL_RECEIVED: Final = "interval_received"

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
DELTA_DATA: Final = 4


class MeterNotApprovedError(MeterPendingError):
    """The meter refuses our certificate: the utility has not approved the LFDI (yet)."""


@dataclass(frozen=True)
class ReadingType:
    """The fields of a ReadingType that tell readings apart.

    ``multiplier`` is None when the meter sends a power of ten outside -9..9: readings
    of that type then have no usable value.
    """

    uom: int | None = None
    kind: int | None = None
    accumulation: int | None = None
    flow: int | None = None
    qualifier: int | None = None
    tou_tiers: int | None = None
    multiplier: int | None = 0
    interval: int | None = None

    @classmethod
    def parse(cls, element: ET.Element) -> ReadingType:
        """From a ``<ReadingType>``; absent fields are None (the multiplier 0)."""
        multiplier = _int(element, "powerOfTenMultiplier")
        return cls(
            uom=_int(element, "uom"),
            kind=_int(element, "kind"),
            accumulation=_int(element, "accumulationBehaviour"),
            flow=_int(element, "flowDirection"),
            qualifier=_int(element, "dataQualifier"),
            tou_tiers=_int(element, "numberOfTouTiers"),
            multiplier=0
            if multiplier is None
            else (multiplier if abs(multiplier) <= MAX_MULTIPLIER else None),
            interval=_int(element, "intervalLength"),
        )


def classify(reading_type: ReadingType, description: str) -> str | None:
    """The role of a MeterReading, from its ReadingType and (older agents) description."""
    text = description.lower()
    rt = reading_type
    if rt.accumulation == DELTA_DATA or "interval" in text:
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


def interval_role(reading_type: ReadingType, description: str) -> str | None:
    """The role of a MeterReading of interval energy (Wh delivered or received)."""
    rt = reading_type
    if rt.uom != UOM_WH or not (
        rt.accumulation == DELTA_DATA or "interval" in description.lower()
    ):
        return None
    if rt.flow == FORWARD:
        return INTERVAL_DELIVERED
    if rt.flow == REVERSE:
        return INTERVAL_RECEIVED
    return None


@dataclass(frozen=True)
class IntervalSource:
    """Where a meter keeps one direction's interval energy, and how to read it."""

    href: str  # the ReadingSetList
    length: int  # seconds per interval
    multiplier: int | None


@dataclass
class MeterProfile:
    """What the walk of the resource tree found; cached for every later poll."""

    lfdi: str
    sfdi: int
    software: str | None
    manufacturer_id: int | None
    readings: dict[str, str] = field(default_factory=dict)  # role -> Reading href
    multipliers: dict[str, int | None] = field(default_factory=dict)
    intervals: dict[str, IntervalSource] = field(default_factory=dict)


@dataclass
class LinkStats:
    """What the client did, for benchmarks and diagnostics.

    ``handshakes`` counts attempts (a failed one included); ``connections`` the TLS
    connections established, ``resumed`` those of them that resumed a session.
    """

    connections: int = 0
    handshakes: int = 0
    resumed: int = 0
    requests: int = 0


def _number(text: str | None, base: int = 10) -> int | None:
    """An integer of at most 64 bits, or None (absent, garbled, out of range)."""
    if text is None:
        return None
    text = text.strip()
    if not text or len(text) > MAX_DIGITS:
        return None
    try:
        value = int(text, base)
    except ValueError:
        return None
    return value if -INT64 <= value < INT64 else None


def _int(element: ET.Element | None, tag: str, base: int = 10) -> int | None:
    if element is None:
        return None
    found = element.find(NS + tag)
    return None if found is None else _number(found.text, base)


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


def _scale(value: int | None, multiplier: int | None) -> float | None:
    """``value * 10^multiplier``; None when either is unusable (always finite)."""
    if value is None or multiplier is None:
        return None
    return value * 10.0**multiplier


class _RefusedXmlError(Exception):
    """XML this client does not parse (a DTD, too deep)."""


def _qualified(name: str) -> str:
    """Expat's ``namespace}tag`` as ElementTree's ``{namespace}tag``."""
    return "{" + name if "}" in name else name


def parse_xml(body: bytes, what: str = "answer") -> ET.Element:
    """Parse a meter's answer: no DTD (so no entities), at most ``MAX_DEPTH`` deep.

    Any other outcome than an element is a :class:`MeterResponseError`.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    depth = 0

    def start(name: str, attributes: dict[str, str]) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _RefusedXmlError(f"elements nested deeper than {MAX_DEPTH} levels")
        builder.start(
            _qualified(name), {_qualified(key): v for key, v in attributes.items()}
        )

    def end(name: str) -> None:
        nonlocal depth
        depth -= 1
        builder.end(_qualified(name))

    def doctype(*_args: object) -> None:
        raise _RefusedXmlError("XML with a DTD is refused")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = builder.data
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(body, True)
        return builder.close()
    except _RefusedXmlError as err:
        raise MeterResponseError(f"{what}: {err}") from err
    except (expat.ExpatError, ValueError, LookupError, AssertionError) as err:
        raise MeterResponseError(f"{what}: not XML ({err})") from err


def _list_total(page: ET.Element) -> int:
    """A list's ``all`` attribute (how many items it has), 0 when garbled."""
    return max(_number(page.get("all")) or 0, 0)


class Ieee2030Client:
    """One meter, one connection, one request at a time."""

    def __init__(
        self,
        host: str,
        port: int,
        ssl_context: MeterTlsContext,
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
        self._http: aiohttp.ClientSession | None = None
        self._tls: ssl.SSLObject | None = None  # the TLS object of the connection
        self._last_used = 0.0
        self._shut = False

    def _refuse_when_shut(self) -> None:
        if self._shut:
            raise MeterConnectionError("the client is shut down")

    async def shutdown(self) -> None:
        """Close for good: a request still in flight cannot open a new connection."""
        self._shut = True
        await self.close()

    async def release(self) -> None:
        """Close the connection once the request in flight, if any, has its answer."""
        async with self._lock:
            await self.close()

    async def close(self) -> None:
        """Close the connection (its TLS session is kept, to resume it next time)."""
        session, self._http, self._tls = self._http, None, None
        if session is not None:
            await session.close()

    def _session(self) -> aiohttp.ClientSession:
        """The client's own session: one connection, to this meter only."""
        if self._http is None:
            connector = aiohttp.TCPConnector(
                limit=1,
                ssl=self.ssl_context,
                keepalive_timeout=self.idle_reconnect,
                resolver=aiohttp.ThreadedResolver(),
            )
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                headers=HEADERS,
                auto_decompress=False,
            )
        return self._http

    def _url(self, path: str) -> URL:
        route, _, query = path.partition("?")
        return URL.build(
            scheme="https",
            host=self.host,
            port=self.port,
            path=route if route.startswith("/") else f"/{route}",
            query_string=query,
        )

    async def get(self, path: str) -> ET.Element:
        """GET one resource and parse it."""
        async with self._lock:
            self._refuse_when_shut()
            if (
                self._http is not None
                and time.monotonic() - self._last_used >= self.idle_reconnect
            ):
                await self.close()  # the meter is about to drop it: start afresh
            try:
                status, body = await self._fetch(path)
                if status in (401, 403):
                    raise MeterNotApprovedError(f"{path}: HTTP {status}")
                if status != 200:
                    raise MeterResponseError(f"{path}: HTTP {status}")
                return parse_xml(body, path)
            except Exception as err:
                # Whatever went wrong, the connection is not reused: a later request
                # starts on a new one (and a client that fails holds no connection).
                await self.close()
                if self._shut and not isinstance(err, MeterError):
                    # The session was closed under the request (an unload).
                    raise MeterConnectionError("the client is shut down") from err
                raise
            finally:
                self._last_used = time.monotonic()
                if self._shut:  # shut down while the request was in flight
                    await self.close()

    async def _fetch(self, path: str) -> tuple[int, bytes]:
        """One exchange; a handshake that fails (not a refusal) is tried once more."""
        where = f"{self.host}:{self.port}"
        for attempt in range(2):
            try:
                return await self._exchange(path)
            except aiohttp.ClientConnectorError as err:
                cause = err.os_error
                if isinstance(cause, ssl.SSLError):
                    self.stats.handshakes += 1
                    if _refuses_certificate(cause):
                        raise MeterNotApprovedError(
                            f"the meter refused our certificate ({cause.reason})"
                        ) from err
                    if attempt:
                        raise MeterConnectionError(
                            f"TLS handshake with {where} failed: {cause}"
                        ) from err
                elif isinstance(cause, ConnectionError) and not isinstance(
                    cause, ConnectionRefusedError
                ):
                    self.stats.handshakes += 1
                    if attempt:
                        raise MeterConnectionError(
                            f"{where} dropped the TLS handshake"
                        ) from err
                else:
                    raise MeterConnectionError(
                        f"nothing answers at {where}: {cause}"
                    ) from err
            except TimeoutError as err:
                raise MeterConnectionError(f"{where} did not answer {path}") from err
            except aiohttp.ClientResponseError as err:
                raise MeterResponseError(
                    f"{path}: not an HTTP answer ({err.message})"
                ) from err
            except (aiohttp.ClientError, OSError) as err:
                raise MeterConnectionError(
                    f"{where} closed the connection ({type(err).__name__})"
                ) from err
        raise AssertionError("unreachable")  # pragma: no cover

    async def _exchange(self, path: str) -> tuple[int, bytes]:
        session = self._session()
        self.stats.requests += 1
        async with session.get(self._url(path), allow_redirects=False) as response:
            self._check_connection(response)
            length = response.content_length
            if length is not None and length > MAX_BODY:
                response.close()  # the unread body must not stay on the connection
                raise MeterResponseError(f"{path}: {length} bytes is too large")
            body = bytearray()
            async for chunk in response.content.iter_any():
                body += chunk
                if len(body) > MAX_BODY:
                    response.close()
                    raise MeterResponseError(f"{path}: over {MAX_BODY} bytes")
            return response.status, bytes(body)

    def _check_connection(self, response: aiohttp.ClientResponse) -> None:
        """On a new connection: pin the meter by its certificate, keep the session.

        The answer's connection is the newest one the context made: its TLS object
        (the transport's ``ssl_object``) has the meter's certificate. Checked before a
        byte of the body is read.
        """
        tls = self.ssl_context.last
        if tls is None:  # pragma: no cover - an answer comes over a TLS connection
            response.close()
            raise MeterConnectionError("the connection to the meter is not TLS")
        if tls is self._tls:
            return
        self._tls = tls
        self.stats.connections += 1
        self.stats.handshakes += 1
        self.stats.resumed += bool(tls.session_reused)
        der = tls.getpeercert(binary_form=True)
        self.peer_lfdi = lfdi_of(der) if der else None
        if self.pinned_lfdi and self.peer_lfdi != self.pinned_lfdi:
            response.close()
            raise MeterIdentityError(
                f"another meter answers at {self.host}:{self.port}"
            )
        self.ssl_context.resume = tls.session

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
            sfdi=max(_int(sdev, "sFDI") or 0, 0),
            software=_text(sdi, "swVer"),
            manufacturer_id=_int(sdi, "mfID"),
        )
        upt_list = await self.get(
            f"{_href(dcap, 'UsagePointListLink') or '/upt'}?s=0&l={PAGE}"
        )
        for usage_point in upt_list.findall(NS + "UsagePoint")[:MAX_PAGES]:
            mr_href = _href(usage_point, "MeterReadingListLink")
            if mr_href:
                await self._classify_readings(profile, mr_href)
        if DEMAND not in profile.readings and DELIVERED not in profile.readings:
            raise MeterResponseError("the meter lists no demand or energy reading")
        return profile

    async def _classify_readings(self, profile: MeterProfile, mr_href: str) -> None:
        start = 0
        for _page in range(MAX_PAGES):
            page = await self.get(f"{mr_href}?s={start}&l={PAGE}")
            readings = page.findall(NS + "MeterReading")
            for meter_reading in readings:
                rt_href = _href(meter_reading, "ReadingTypeLink")
                if rt_href is None:
                    continue
                reading_type = ReadingType.parse(await self.get(rt_href))
                description = _text(meter_reading, "description") or ""
                self._add_interval(profile, meter_reading, reading_type, description)
                role = classify(reading_type, description)
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
            start += len(readings)
            if not readings or start >= _list_total(page):
                return

    @staticmethod
    def _add_interval(
        profile: MeterProfile,
        meter_reading: ET.Element,
        reading_type: ReadingType,
        description: str,
    ) -> None:
        """Note where interval energy is kept (older agents keep none: nothing noted)."""
        role = interval_role(reading_type, description)
        href = _href(meter_reading, "ReadingSetListLink")
        length = reading_type.interval
        if role is None or role in profile.intervals or href is None or not length:
            return
        profile.intervals[role] = IntervalSource(href, length, reading_type.multiplier)


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


@dataclass
class IntervalSeries:
    """One direction's interval energy: Wh by interval start (Unix seconds).

    ``problems`` names what was wrong with the meter's data (each interval concerned is
    left out): ``gap``-free data has every interval of an hour, which the caller checks.
    """

    length: int
    slots: dict[int, float] = field(default_factory=dict)
    problems: set[str] = field(default_factory=set)


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

    def _scaled(self, role: str, value: int | None) -> float | None:
        return _scale(value, self.profile.multipliers.get(role, 0))

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
            start = _int(element.find(NS + "timePeriod"), "start")
            scaled = self._scaled(role, _int(element, "value"))
            if scaled is None or not self._fresh(role, start, moment):
                continue
            if role == DEMAND:
                if abs(scaled) <= MAX_POWER_W:
                    readings |= split_net_power(scaled)
            elif role in (DELIVERED, RECEIVED):
                readings[CODES[role]] = Reading(scaled / 1000, "kWh")
            elif role == POWER_FACTOR:
                if abs(scaled) <= 1:
                    readings[CODES[role]] = Reading(scaled, None)
                    self._slow[CODES[role]] = readings[CODES[role]]
            elif abs(scaled) <= MAX_POWER_W:
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
            tier = _int(reading, "touTier")
            scaled = self._scaled(role, _int(reading, "value"))
            if tier is None or scaled is None or not 1 <= tier <= 8:
                continue
            code = ObisCode.parse(f"1-0:{channel}.8.{tier}")
            result[code] = Reading(scaled / 1000, "kWh")
        return result

    async def intervals(
        self, role: str, since: float, until: float, now: float
    ) -> IntervalSeries | None:
        """The meter's interval energy of ``role`` starting in [since, until), in Wh.

        None when the meter keeps none for that direction (older agents). Intervals that
        end after ``now``, negative or physically impossible values, and intervals the
        meter lists twice with different values are left out and named in ``problems``.
        """
        source = self.profile.intervals.get(role)
        if source is None:
            return None
        series = IntervalSeries(source.length)
        if source.length <= 0 or 3600 % source.length:
            series.problems.add(f"an interval length of {source.length} s")
            return series
        start = 0
        conflicting: set[int] = set()
        for _page in range(MAX_PAGES):
            page = await self.client.get(f"{source.href}?s={start}&l={PAGE}")
            sets = page.findall(NS + "ReadingSet")
            older = 0
            for reading_set in sets:
                period = reading_set.find(NS + "timePeriod")
                set_start = _int(period, "start")
                duration = _int(period, "duration")
                readings = _href(reading_set, "ReadingListLink")
                if set_start is None or readings is None:
                    series.problems.add("a reading set without its time or readings")
                    continue
                if set_start + max(duration or 0, 0) <= since:
                    older += 1  # the list is newest first: older sets follow
                    continue
                if set_start >= until:
                    continue
                await self._read_set(
                    series,
                    source,
                    readings,
                    set_start,
                    (since, until, now),
                    conflicting,
                )
            start += len(sets)
            if not sets or start >= _list_total(page) or older == len(sets):
                break
        for slot in conflicting:
            series.slots.pop(slot, None)
        return series

    async def _read_set(
        self,
        series: IntervalSeries,
        source: IntervalSource,
        href: str,
        set_start: int,
        window: tuple[float, float, float],
        conflicting: set[int],
    ) -> None:
        """Add one ReadingSet's intervals to ``series``."""
        since, until, now = window
        limit = MAX_POWER_W * source.length / 3600
        start = 0
        for _page in range(MAX_PAGES):
            page = await self.client.get(f"{href}?s={start}&l={PAGE}")
            readings = page.findall(NS + "Reading")
            for reading in readings:
                local = _int(reading, "localID", 16)
                wh = _scale(_int(reading, "value"), source.multiplier)
                if local is None or local < 0 or wh is None:
                    series.problems.add("an interval without a value")
                    continue
                slot = set_start + local * source.length
                if slot + source.length > now:
                    series.problems.add("an interval in the future")
                elif not since <= slot < until:
                    continue
                elif not 0 <= wh <= limit:
                    series.problems.add("a negative or impossible interval value")
                    conflicting.add(slot)
                elif series.slots.setdefault(slot, wh) != wh:
                    series.problems.add("an interval listed twice with other values")
                    conflicting.add(slot)
            start += len(readings)
            if not readings or start >= _list_total(page):
                return
