"""Adding many OBIS HTTP meters at once: a list or a range of addresses, each read.

What the user pastes is read line by line: ``host``, ``host:port``, ``[v6 address]:port``
or an IPv4 range (``192.168.1.10-192.168.1.60``, or ``192.168.1.10-60`` for the last
group), each optionally followed by the meter's token. More than :data:`MAX_ADDRESSES`
addresses are refused before anything is read. Each address is then read once, at most
:data:`CONCURRENCY` at a time and each within :data:`PROBE_TIMEOUT` seconds (a host that
hangs costs that long, no more), and sorted into the meters found and the failures, each
with its reason.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant

from ...const import LOGGER
from ...flow import FormError
from ...meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterError,
    MeterServerError,
    NoAnswerError,
)
from .backend import client_from_data
from .const import CONF_PATH, PROBE_TIMEOUT

# At most this many addresses at once: each is read, and each becomes an entry.
MAX_ADDRESSES: Final = 1024
# Addresses read at the same time.
CONCURRENCY: Final = 32
# Why an address gave no meter: the keys of the confirmation's lists (and of
# config.error in the translations, where the single-meter form says the same).
REASONS: Final = (
    "cannot_connect",
    "no_answer",
    "invalid_response",
    "invalid_auth",
    "meter_error",
    "no_serial",
    "unknown",
)
# A host name (RFC 1123): letters, digits and hyphens, dot-separated labels.
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?\Z",
    re.ASCII,
)
_SHOWN_PER_LIST: Final = 50  # addresses listed per reason; the rest are counted


@dataclass(frozen=True, slots=True)
class Target:
    """One address to read."""

    host: str
    port: int
    token: str | None = None

    def __str__(self) -> str:
        """``host:port`` (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Found:
    """A meter that answered at ``target`` with its serial number."""

    target: Target
    serial: str


@dataclass(frozen=True, slots=True)
class Failed:
    """An address that gave no meter, and why (one of :data:`REASONS`)."""

    target: Target
    reason: str


def _port(text: str) -> int | None:
    """A port number, or None."""
    if not text.isdigit() or not 1 <= (port := int(text)) <= 65535:
        return None
    return port


def _host(text: str) -> str | None:
    """An IP address or a host name, or None."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text.lower() if _HOSTNAME.match(text) else None


def _split_port(text: str, default: int) -> tuple[str, int] | None:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address: (host, port)."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket:
            return None
        if not rest:
            return host, default
        port = _port(rest[1:]) if rest.startswith(":") else None
        return None if port is None else (host, port)
    if text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(port_text)
        return None if port is None else (host, port)
    return text, default


def _range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
    """An IPv4 range ``first-last`` (``last`` whole, or only its last group)."""
    first_text, dash, last_text = text.partition("-")
    if not dash:
        return None
    try:
        first = ipaddress.IPv4Address(first_text)
    except ValueError:
        return None
    if last_text.isdigit() and int(last_text) <= 255:
        last_text = ".".join([*first_text.split(".")[:3], last_text])
    try:
        last = ipaddress.IPv4Address(last_text)
    except ValueError:
        return None
    return first, last


def _line_targets(line: str, port: int, token: str | None) -> Iterator[Target]:
    """The addresses one line names; a FormError for a line that names none."""
    fields = line.split()
    if len(fields) > 2:
        raise FormError("invalid_address", "addresses", line=line[:80])
    own_token = fields[1] if len(fields) == 2 else token
    address = _split_port(fields[0], port)
    if address is None:
        raise FormError("invalid_address", "addresses", line=line[:80])
    text, own_port = address
    if (span := _range(text)) is not None:
        first, last = span
        if last < first:
            raise FormError("invalid_address", "addresses", line=line[:80])
        for number in range(int(first), int(last) + 1):
            yield Target(str(ipaddress.IPv4Address(number)), own_port, own_token)
        return
    if (host := _host(text)) is None:
        raise FormError("invalid_address", "addresses", line=line[:80])
    yield Target(host, own_port, own_token)


def range_size(line: str) -> int:
    """How many addresses a line's range holds (0 for no range), without listing them."""
    fields = line.split()
    address = _split_port(fields[0], 1) if fields else None
    span = _range(address[0]) if address else None
    if span is None:
        return 0
    return max(int(span[1]) - int(span[0]) + 1, 0)


def parse_addresses(text: str, port: int, token: str | None) -> list[Target]:
    """Every address the text names, once each, in order.

    Empty lines and lines starting with ``#`` are skipped. A FormError names the first
    line that is no address, or says how many addresses there are when they are more
    than :data:`MAX_ADDRESSES` (counted before any is listed: a range of millions
    costs nothing), or that there are none.
    """
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]
    count = 0
    targets: dict[tuple[str, int], Target] = {}
    for line in lines:
        count += range_size(line) or 1
        if count > MAX_ADDRESSES:
            total = sum(range_size(line) or 1 for line in lines)
            raise FormError(
                "too_many_addresses",
                "addresses",
                count=str(total),
                limit=str(MAX_ADDRESSES),
            )
        for target in _line_targets(line, port, token):
            targets.setdefault((target.host, target.port), target)
    if not targets:
        raise FormError("no_addresses", "addresses")
    return list(targets.values())


def reason_of(err: MeterError) -> str:
    """Why an address gave no meter, from the error reading it."""
    if isinstance(err, MeterAuthError):
        return "invalid_auth"
    if isinstance(err, NoAnswerError):
        return "no_answer"
    if isinstance(err, MeterConnectionError):
        return "cannot_connect"
    if isinstance(err, MeterServerError):
        return "meter_error"
    return "invalid_response"


async def probe(
    hass: HomeAssistant, target: Target, path: str | None, timeout: float
) -> Found | Failed:
    """Read the meter at ``target`` once: its serial number, or why there is none."""
    data: dict[str, Any] = {CONF_HOST: target.host, CONF_PORT: target.port}
    if target.token:
        data[CONF_TOKEN] = target.token
    if path:
        data[CONF_PATH] = path
    try:
        # The client's own timeout bounds the read; this one bounds anything else.
        async with asyncio.timeout(timeout + 1):
            reading = await client_from_data(data, timeout=timeout).read()
    except MeterError as err:
        LOGGER.debug("%s: no OBIS meter (%s)", target, err)
        return Failed(target, reason_of(err))
    except TimeoutError:
        return Failed(target, "no_answer")
    except Exception:  # noqa: BLE001 - one odd address must not stop the others
        LOGGER.exception("Unexpected error while reading %s", target)
        return Failed(target, "unknown")
    if not reading.serial:
        return Failed(target, "no_serial")
    return Found(target, reading.serial)


async def probe_all(
    hass: HomeAssistant,
    targets: list[Target],
    path: str | None,
    progress: Callable[[int], None],
    *,
    timeout: float | None = None,
) -> list[Found | Failed]:
    """Read every address, :data:`CONCURRENCY` at a time; results in the targets' order.

    Each read within ``timeout`` (default :data:`PROBE_TIMEOUT`) seconds. ``progress``
    is told how many are done after each. Cancelled (the user closed the flow), every
    read in flight is cancelled with it.
    """
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    slots = asyncio.Semaphore(CONCURRENCY)
    done = 0

    async def one(target: Target) -> Found | Failed:
        nonlocal done
        async with slots:
            result = await probe(hass, target, path, timeout)
        done += 1
        progress(done)
        return result

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(target)) for target in targets]
    return [task.result() for task in tasks]


def listed(targets: Iterable[Target | str]) -> str:
    """Addresses for a confirmation's list: at most 50 named, the rest counted."""
    names = [str(target) for target in targets]
    if not names:
        return "-"
    shown = ", ".join(names[:_SHOWN_PER_LIST])
    more = len(names) - _SHOWN_PER_LIST
    return shown if more <= 0 else f"{shown} (+{more})"
