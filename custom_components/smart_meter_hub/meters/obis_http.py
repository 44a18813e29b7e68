"""Client for OBIS-coded HTTP JSON meters (``POST /api/read``, ``POST /api/write``).

Every byte of an answer is hostile until parsed: whatever a device on the configured
port sends, a poll ends with readings or a typed :class:`MeterError` in bounded time,
and no value is published that is not a finite number in its quantity's canonical unit.

* The body is read up to :data:`MAX_BODY` bytes (a larger answer is refused and its
  connection closed), uncompressed, and must be UTF-8 JSON (parsed by orjson: no NaN or
  Infinity literals, no integer beyond the float range) nested at most
  :data:`MAX_DEPTH` levels, with at most :data:`MAX_ITEMS` readings.
* A scaler must be an integer from -20 to 20, and a scaled value a plausible
  measurement of its quantity (``units.plausible``); otherwise the reading has no value.
* The unit the meter sends wins: it is converted to the quantity's canonical unit (Wh,
  MWh and GWh to kWh; kW, MW and GW to W). A unit that is not known, or one
  of another quantity (V for an energy counter), leaves the reading without a value: the
  number is never published under a unit it was not sent in.
* The same code twice in one answer (two textual forms of one code, ``1.8.0`` and
  ``1-0:1.8.0*255``): one value if both agree, none if they differ, since there is no
  telling which one is right.

What a meter keeps doing wrong (an unknown unit, a duplicate code, a scaler out of
range, an implausible value) is logged once per meter at warning level, not per poll.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any, Final, NamedTuple
from urllib.parse import quote

import orjson

from . import http
from .models import (
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterRefusedError,
    MeterResponseError,
    MeterServerError,
    Reading,
    with_net_power,
)
from .obis import DEFAULT_CODES, LOGICAL_NAME, SERIAL, ObisCode, manufacturer_of
from .units import canonical, plausible, plausible_range, within

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 80
DEFAULT_READ_PATH: Final = "/api/read"
WRITE_PATH: Final = "/api/write"
POLL_TIMEOUT: Final = 10.0
ON_DEMAND_TIMEOUT: Final = 15.0
WRITE_TIMEOUT: Final = 10.0

# An answer of a few hundred codes is a few tens of kB.
MAX_BODY: Final = 256 * 1024
# The three formats are three levels deep; a little metadata beside them is fine.
MAX_DEPTH: Final = 16
MAX_ITEMS: Final = 1024
# Scalers are powers of ten: 10**-20 to 10**20 covers every unit prefix with room.
MIN_SCALER: Final = -20
MAX_SCALER: Final = 20
# Text values (serial number, clock), and numbers sent as text.
MAX_TEXT: Final = 256
MAX_NUMBER_TEXT: Final = 64
_SHOWN: Final = 32  # characters of a meter's text quoted in a log line
# Codes and units whose meaning is remembered (a meter sends the same ones every poll;
# a meter sending new ones every poll costs a lookup, never memory).
_REMEMBERED: Final = 4096
# What may key a remembered recipe: codes, units and qualities as text of at most this
# many characters, scalers as integers in this range.
_MEMORABLE_TEXT: Final = 64
_MEMORABLE_INT: Final = 2**16
# Integers a float holds exactly (beyond, the long way converts, or refuses, them).
_EXACT: Final = 2**53
_UTF8_BOM: Final = b"\xef\xbb\xbf"
# What a configured path keeps as it is; anything else is percent-encoded.
_PATH_SAFE: Final = "/:@!$&'()*+,;=-._~%?"


class LogOnce:
    """Warnings about one meter's answers, each logged once, not on every poll.

    At most :data:`LIMIT` distinct warnings are kept (and logged): a meter sending a new
    odd unit in every answer cannot flood the log.
    """

    LIMIT: Final = 64

    def __init__(self, where: str) -> None:
        """``where`` names the meter in every line."""
        self.where = where
        self._seen: set[Hashable] = set()

    def warning(self, key: Hashable, message: str, *args: object) -> None:
        """Log ``message`` (its first ``%s`` is the meter) unless ``key`` was logged."""
        if key in self._seen or len(self._seen) >= self.LIMIT:
            return
        self._seen.add(key)
        _LOGGER.warning(message, self.where, *args)


def _shown(value: object) -> str:
    """What a meter sent, short enough to quote in a log line.

    Text is cut short; of anything else only a number or its type is shown (the repr
    of a deeply nested value costs time and recursion).
    """
    if isinstance(value, str):
        return value if len(value) <= _SHOWN else f"{value[:_SHOWN]}..."
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**_SHOWN):
        return repr(value)
    return f"<{type(value).__name__}>"


@lru_cache(maxsize=_REMEMBERED)
def _quantity(code: ObisCode) -> tuple[bool, str | None]:
    """Whether the code names a known electrical quantity, and its canonical unit.

    IEC 62056-6-1: C repeats every 20 values for L1, L2 and L3; D says whether the value
    is a time integral (8: an energy counter) or power-like (4 to 7: averages, maximum
    demand and instantaneous values). A power factor is known and has no unit. Cached:
    a meter answers the same codes at every poll.
    """
    if code.a != 1 or not 1 <= code.c <= 80:
        return False, None
    quantity = (code.c - 1) % 20 + 1
    if code.d == 8:
        if quantity in (1, 2, 15, 16):
            return True, "kWh"
        if 3 <= quantity <= 8:
            return True, "kvarh"
        if quantity in (9, 10):
            return True, "kVAh"
        return False, None
    if 4 <= code.d <= 7:
        if quantity in (1, 2, 15, 16):
            return True, "W"
        if 3 <= quantity <= 8:
            return True, "var"
        if quantity in (9, 10):
            return True, "VA"
        units = {11: "A", 12: "V", 13: None, 14: "Hz"}
        if quantity in units:
            return True, units[quantity]
    return False, None


# The unit a reading is sent in is none its quantity can have: the value is not published.
_WRONG_UNIT: Final = None


def _unit_of(code: ObisCode, sent: object) -> tuple[str | None, float] | None:
    """The unit a reading of ``code`` sent in ``sent`` is published in, and the factor.

    None (``_WRONG_UNIT``) when ``sent`` is not a known unit of the code's quantity. A
    unit of a quantity the integration does not know (read_obis) is kept as sent.
    """
    known, expected = _quantity(code)
    if sent is None:
        return expected, 1.0
    usable = isinstance(sent, str | int) and not isinstance(sent, bool)
    conversion = canonical(sent) if usable else None  # type: ignore[arg-type]
    if conversion is None and not known:
        own = sent.strip()[:_SHOWN] if isinstance(sent, str) else ""
        return own or None, 1.0
    if conversion is None or (known and conversion[0] != expected):
        return _WRONG_UNIT
    return conversion


# Per code and unit as sent (``typed``: ``True`` is no unit 1): a meter sends the same
# units at every poll. Only short units and integers are remembered.
_remembered_unit_of = lru_cache(maxsize=_REMEMBERED, typed=True)(_unit_of)


def _publish_unit(code: ObisCode, sent: object) -> tuple[str | None, float] | None:
    """:func:`_unit_of`, remembered for what a meter sends at every poll."""
    if sent is None or (
        isinstance(sent, int) and not isinstance(sent, bool) and abs(sent) < 2**16
    ):
        return _remembered_unit_of(code, sent)
    if isinstance(sent, str) and len(sent) <= _SHOWN:
        return _remembered_unit_of(code, sent)
    return _unit_of(code, sent)


def _number(value: Any) -> float | None:
    """Return a finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        try:
            number = float(value)
        except OverflowError:
            return None
    elif isinstance(value, float):
        number = value
    elif isinstance(value, str):
        text = value.strip()
        if len(text) > MAX_NUMBER_TEXT:
            return None
        try:
            number = float(text)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _scaler(value: Any) -> int | None:
    """The power of ten a value is sent with: an integer from -20 to 20, else None."""
    number = _number(value)
    if number is None or not number.is_integer():
        return None
    if not MIN_SCALER <= number <= MAX_SCALER:
        return None
    return int(number)


def _text(value: Any) -> str | None:
    """The text of an abstract object (serial number, clock), or None."""
    if isinstance(value, str):
        text = value.strip()
        return text if 0 < len(text) <= MAX_TEXT else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if abs(value) < 10**MAX_NUMBER_TEXT else None
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def _good(quality: object) -> bool:
    """A reading's quality as sent: none at all, or "good" (any case or spacing)."""
    return quality is None or (
        isinstance(quality, str) and quality.strip().lower() == "good"
    )


def read_item(code: ObisCode, item: Mapping[str, Any], log: LogOnce | None) -> Reading:
    """Turn one response item into a scaled reading in the canonical unit.

    This is the whole way, every check in turn; :func:`parse_response` takes it for
    any item a remembered recipe does not serve, and gives the same reading.
    """
    value = item.get("value")
    if code.a == 0:
        # Abstract objects (serial number, clock) are text, never scaled.
        return Reading(_text(value))
    sent = item.get("unit")
    resolved = _publish_unit(code, sent)
    if resolved is _WRONG_UNIT:
        if log is not None:
            shown = _shown(sent)
            log.warning(
                ("unit", code, shown),
                "%s sends %s in %r, not a known unit of its quantity: its value "
                "is not published",
                code.short,
                shown,
            )
        return Reading(None, _quantity(code)[1])
    unit, factor = resolved
    if not _good(item.get("quality")):
        return Reading(None, unit)
    number = _number(value)
    if number is None:
        return Reading(None, unit)
    scaler = _scaler(item.get("scaler", 0))
    if scaler is None:
        if log is not None:
            log.warning(
                ("scaler", code),
                "%s sends %s with the scaler %s, not an integer from %s to %s: "
                "its value is not published",
                code.short,
                _shown(item.get("scaler")),
                MIN_SCALER,
                MAX_SCALER,
            )
        return Reading(None, unit)
    result = number * 10**scaler * factor if scaler or factor != 1.0 else number
    if not plausible(result, unit, power_factor=code.is_power_factor):
        if log is not None:
            log.warning(
                ("implausible", code),
                "%s sends %s = %s %s, which no meter measures: not published",
                code.short,
                result,
                unit or "",
            )
        return Reading(None, unit)
    return Reading(result, unit)


def _same(first: Reading, second: Reading) -> bool:
    """Two readings of one code that say the same (up to float rounding)."""
    if isinstance(first.value, float) and isinstance(second.value, float):
        return first.unit == second.unit and math.isclose(
            first.value, second.value, rel_tol=1e-9, abs_tol=1e-12
        )
    return first == second


class _Recipe(NamedTuple):
    """How an item is read when it reads a number: everything but its value.

    A meter sends the same code, unit, scaler and quality at every poll; only the value
    changes. What they come to is worked out once, so that an item of an answer costs
    a lookup, a multiplication and a range check.
    """

    code: ObisCode
    unit: str | None
    power: float  # 10 ** scaler
    factor: float  # to the canonical unit
    scaled: bool
    # What the value may be (``units.plausible``): (lowest, highest), or None for a
    # unit the integration does not know, where any finite number is.
    limits: tuple[float, float] | None


def _recipe(
    key: object, sent: object, scaler: object, quality: object
) -> _Recipe | None:
    """The :class:`_Recipe` of an item sent with these, or None: take :func:`read_item`.

    None for all that is not a number in a known unit, good, with a valid scaler: text
    (abstract objects), a wrong unit, a bad quality or scaler, what is no code. Those are
    rare, and :func:`read_item` logs them.
    """
    try:
        code = ObisCode.parse(key)  # type: ignore[arg-type]
    except ValueError:
        return None
    if code.a == 0:
        return None
    if not _good(quality):
        return None
    resolved = _unit_of(code, sent)
    power = _scaler(scaler)
    if resolved is _WRONG_UNIT or power is None:
        return None
    unit, factor = resolved
    limits = plausible_range(unit, power_factor=code.is_power_factor)
    return _Recipe(code, unit, 10**power, factor, bool(power) or factor != 1.0, limits)


# Per code, unit, scaler and quality as sent (``typed``: ``True`` is no scaler 1).
_remembered_recipe = lru_cache(maxsize=_REMEMBERED, typed=True)(_recipe)


def _item_reading(
    key: object, item: Mapping[str, Any], log: LogOnce | None
) -> tuple[ObisCode, Reading] | None:
    """One item's code and reading; None for an item whose code cannot be parsed.

    The usual item (a short code and unit, an integer scaler, a number) takes the
    remembered :class:`_Recipe`; anything else the long way, :func:`read_item`.
    """
    sent = item.get("unit")
    scaler = item.get("scaler", 0)
    quality = item.get("quality")
    value = item.get("value")
    if (
        type(key) is str
        and len(key) <= _MEMORABLE_TEXT
        and (sent is None or (type(sent) is str and len(sent) <= _MEMORABLE_TEXT))
        and type(scaler) is int
        and -_MEMORABLE_INT < scaler < _MEMORABLE_INT
        and (
            quality is None
            or (type(quality) is str and len(quality) <= _MEMORABLE_TEXT)
        )
        and (type(value) is float or (type(value) is int and -_EXACT < value < _EXACT))
        and (recipe := _remembered_recipe(key, sent, scaler, quality)) is not None
    ):
        number = float(value)
        result = number * recipe.power * recipe.factor if recipe.scaled else number
        if within(result, recipe.limits):
            return recipe.code, Reading(result, recipe.unit)
        return recipe.code, read_item(recipe.code, item, log)  # no value; logged there
    try:
        code = ObisCode.parse(key)  # type: ignore[arg-type]
    except ValueError:
        _LOGGER.debug("Skipping item with unknown OBIS code %s", _shown(key))
        return None
    return code, read_item(code, item, log)


def parse_response(payload: Any, log: LogOnce | None = None) -> dict[ObisCode, Reading]:
    """Parse any of the three response formats into readings.

    Items whose OBIS code cannot be parsed are skipped (and logged at debug level):
    one odd manufacturer code must not cost the user every other value. A code that
    appears more than once (in different textual forms) keeps its value if every
    occurrence says the same, and has no value otherwise (logged once, through ``log``).
    Raises :class:`MeterResponseError` when there is nothing to read, or more than
    :data:`MAX_ITEMS` items; never anything else, whatever ``payload`` is.
    """
    items: Iterable[tuple[Any, Mapping[str, Any]]]
    if isinstance(payload, dict) and isinstance(payload.get("readings"), list):
        payload = payload["readings"]
    if isinstance(payload, list | dict) and len(payload) > MAX_ITEMS:
        raise MeterResponseError(
            f"response holds {len(payload)} items, more than {MAX_ITEMS}"
        )
    if isinstance(payload, list):
        items = (
            (item.get("obisCode"), item) for item in payload if isinstance(item, dict)
        )
    elif isinstance(payload, dict):
        items = ((key, {"value": value}) for key, value in payload.items())
    else:
        raise MeterResponseError("response is neither a list nor an object")
    readings: dict[ObisCode, Reading] = {}
    ambiguous: set[ObisCode] = set()
    for key, item in items:
        if (parsed := _item_reading(key, item, log)) is None:
            continue
        code, reading = parsed
        if code not in readings:
            readings[code] = reading
        elif not _same(readings[code], reading):
            ambiguous.add(code)
    for code in ambiguous:
        readings[code] = Reading(None, readings[code].unit)
        if log is not None:
            log.warning(
                ("duplicate", code),
                "%s answers %s more than once, with different values: neither is "
                "published",
                code.short,
            )
    if not readings:
        raise MeterResponseError("response holds no readings")
    return readings


def _check_depth(payload: Any) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` (without recursion).

    Only containers are visited: the readings' scalar values cost one type check each.
    """
    containers = (dict, list)
    level: list[Any] = [payload]
    depth = 1
    while level:
        if depth > MAX_DEPTH:
            raise MeterResponseError(f"response is nested deeper than {MAX_DEPTH}")
        deeper: list[Any] = []
        for node in level:
            children = node.values() if type(node) is dict else node
            deeper += [child for child in children if type(child) in containers]
        level = deeper
        depth += 1


def decode_body(body: bytes) -> Any:
    """The JSON value of an answer's body (None for an empty body).

    Raises :class:`MeterResponseError` for a body over :data:`MAX_BODY` bytes, one that
    is not UTF-8 JSON, or nests deeper than :data:`MAX_DEPTH`; never anything else.
    """
    if len(body) > MAX_BODY:
        raise MeterResponseError(f"response of {len(body)} bytes, more than {MAX_BODY}")
    body = body.removeprefix(_UTF8_BOM)
    if not body.strip():
        return None
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise MeterResponseError(f"response is not JSON: {err}") from err
    if isinstance(payload, dict | list):
        _check_depth(payload)
    return payload


def parse_body(body: bytes, log: LogOnce | None = None) -> dict[ObisCode, Reading]:
    """An answer's body (bytes from the network) to readings, or MeterResponseError."""
    return parse_response(decode_body(body), log)


def _request_body(codes: Iterable[ObisCode]) -> bytes:
    """The JSON a read asks with."""
    return orjson.dumps({"obisCodes": [str(code) for code in codes]})


class _Unsendable(NamedTuple):
    """Why a request cannot be sent: the error each attempt raises."""

    error: type[MeterError]
    reason: str


class ObisHttpClient:
    """Read and write one OBIS HTTP JSON meter.

    :meth:`read` asks for the configured ``codes`` (the serial number always included)
    in one request and returns readings in canonical units, net power settled.
    Whatever answers, a call ends in time with readings or a typed MeterError.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        path: str | None = None,
        codes: Iterable[ObisCode] = DEFAULT_CODES,
        timeout: float = POLL_TIMEOUT,
    ) -> None:
        """Keep the address and what to read; no I/O happens here."""
        self._host = host
        self._port = port
        netloc = f"[{host}]" if ":" in host else host
        self._where = f"http://{netloc}:{port}"
        read_path = path or DEFAULT_READ_PATH
        self._read_path = quote(
            read_path if read_path.startswith("/") else f"/{read_path}", safe=_PATH_SAFE
        )
        self._headers = [
            # Uncompressed, so that the size cap holds for what is parsed.
            ("Accept-Encoding", "identity"),
            ("Content-Type", "application/json"),
        ]
        if token:
            self._headers.append(("Authorization", f"Bearer {token}"))
        self._log = LogOnce(f"OBIS meter at {self._where}")
        self.timeout = timeout
        self.codes = tuple(codes)

    @property
    def codes(self) -> tuple[ObisCode, ...]:
        """The codes each :meth:`read` asks for."""
        return self._codes

    @codes.setter
    def codes(self, codes: tuple[ObisCode, ...]) -> None:
        self._codes = codes if SERIAL in codes else (*codes, SERIAL)
        # The request's bytes, made once: every poll sends the same.
        self._poll = self._request(self._read_path, _request_body(self._codes))

    def _request(self, path: str, body: bytes) -> bytes | _Unsendable:
        """A request's bytes, or what keeps it from being sent.

        A line break in the token would add a header of the meter's choosing; a host
        that is no name (control characters, an empty label) reaches nothing.
        """
        try:
            return http.request_bytes(
                "POST", self._host, self._port, path, self._headers, body
            )
        except ValueError:
            if all(http.sendable(value) for _, value in self._headers):
                return _Unsendable(
                    MeterConnectionError, f"{_shown(self._host)!r} is no host name"
                )
            return _Unsendable(
                MeterAuthError, "the token holds characters no request can carry"
            )

    async def _post(self, request: bytes | _Unsendable, timeout: float) -> Any:
        """Send ``request``; the answer's JSON, or a typed MeterError.

        What went wrong is told apart: nothing took the connection
        (:class:`MeterConnectionError`); something took it and the request but sent no
        answer in time, or hung up (:class:`NoAnswerError`); something answered, but
        not in HTTP (:class:`MeterResponseError`); the meter answered with an error of
        its own, an HTTP 5xx (:class:`MeterServerError`). A redirect is not followed:
        the meter's API answers where it is asked.
        """
        if isinstance(request, _Unsendable):
            # A new error each time: one raised again would grow its traceback.
            raise request.error(request.reason)
        status, answer = await http.exchange(
            self._host, self._port, request, timeout=timeout, max_body=MAX_BODY
        )
        if status in (401, 403):
            raise MeterAuthError(f"HTTP {status}")
        if status >= 500:
            raise MeterServerError(f"HTTP {status}")
        if status >= 400:
            text = answer[:200].decode("utf-8", "replace")
            raise MeterRefusedError(f"HTTP {status}: {text}")
        return decode_body(answer)

    async def read(self) -> MeterData:
        """One poll: the configured codes, within ``timeout``."""
        data = await self._read(self._poll, self.timeout)
        return replace(data, readings=with_net_power(data.readings))

    async def read_codes(
        self, codes: Iterable[ObisCode], *, timeout: float = ON_DEMAND_TIMEOUT
    ) -> MeterData:
        """Read arbitrary codes now, as the meter answers them."""
        return await self._read(
            self._request(self._read_path, _request_body(codes)), timeout
        )

    async def _read(self, request: bytes | _Unsendable, timeout: float) -> MeterData:
        try:
            payload = await self._post(request, timeout)
        except MeterRefusedError as err:
            raise MeterResponseError(str(err)) from err
        readings = parse_response(payload, self._log)
        serial = readings.get(SERIAL)
        name = readings.get(LOGICAL_NAME)
        return MeterData(
            readings=readings,
            serial=serial.value if serial and isinstance(serial.value, str) else None,
            manufacturer=manufacturer_of(
                name.value if name and isinstance(name.value, str) else None
            ),
            raw=payload,
        )

    async def write(self, code: ObisCode, value: float | int | str) -> None:
        """Write one parameter; a non-2xx answer raises."""
        body = orjson.dumps({"obisCode": str(code), "value": value})
        await self._post(self._request(WRITE_PATH, body), WRITE_TIMEOUT)
