"""Client for OBIS-coded HTTP JSON meters (``POST /api/read``, ``POST /api/write``)."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Final

import aiohttp

from .models import (
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterRefusedError,
    MeterResponseError,
    Reading,
    with_net_power,
)
from .obis import DEFAULT_CODES, SERIAL, ObisCode
from .units import canonical

_LOGGER = logging.getLogger(__name__)

DEFAULT_PORT: Final = 80
DEFAULT_READ_PATH: Final = "/api/read"
WRITE_PATH: Final = "/api/write"
POLL_TIMEOUT: Final = 10.0
ON_DEMAND_TIMEOUT: Final = 15.0
WRITE_TIMEOUT: Final = 10.0


def _default_unit(code: ObisCode) -> str | None:
    """Unit assumed when the meter sends none (the flat response format)."""
    if code.a != 1:
        return None
    if code.d == 8:
        return "kWh"
    if code.d == 7:
        quantity = code.c % 20
        if quantity in (1, 2) or code.c == 16:
            return "W"
        if quantity == 11:
            return "A"
        if quantity == 12:
            return "V"
        if code.c == 14:
            return "Hz"
    return None


def _number(value: Any) -> float | None:
    """Return a finite float from a JSON number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _reading(code: ObisCode, item: Mapping[str, Any]) -> Reading:
    """Turn one response item into a scaled reading in the canonical unit."""
    value = item.get("value")
    quality = item.get("quality")
    if code.a == 0:
        # Abstract objects (serial number, clock) are text, never scaled.
        text = None if value is None else str(value).strip() or None
        return Reading(text)
    sent_unit = item.get("unit")
    unit = sent_unit if sent_unit is not None else _default_unit(code)
    conversion = canonical(unit) if isinstance(unit, str | int) else None
    if conversion is None:
        conversion = (str(unit) if unit is not None else None, 1.0)
    unit_name, factor = conversion
    if quality is not None and str(quality).strip().lower() != "good":
        return Reading(None, unit_name)
    number = _number(value)
    scaler = _number(item.get("scaler", 0))
    if number is None or scaler is None:
        return Reading(None, unit_name)
    return Reading(number * 10 ** int(scaler) * factor, unit_name)


def parse_response(payload: Any) -> dict[ObisCode, Reading]:
    """Parse any of the three response formats into readings.

    Items whose OBIS code cannot be parsed are skipped (and logged at debug level):
    one odd manufacturer code must not cost the user every other value.
    """
    items: list[tuple[Any, Mapping[str, Any]]]
    if isinstance(payload, dict) and isinstance(payload.get("readings"), list):
        payload = payload["readings"]
    if isinstance(payload, list):
        items = [
            (item.get("obisCode"), item) for item in payload if isinstance(item, dict)
        ]
    elif isinstance(payload, dict):
        items = [(key, {"value": value}) for key, value in payload.items()]
    else:
        raise MeterResponseError("response is neither a list nor an object")
    readings: dict[ObisCode, Reading] = {}
    for key, item in items:
        try:
            code = ObisCode.parse(str(key))
        except ValueError:
            _LOGGER.debug("Skipping item with unknown OBIS code %r", key)
            continue
        readings[code] = _reading(code, item)
    if not readings:
        raise MeterResponseError("response holds no readings")
    return readings


class ObisHttpClient:
    """Read and write one OBIS HTTP JSON meter.

    :meth:`read` asks for the configured ``codes`` (the serial number always included)
    in one request and returns readings in canonical units, net power settled.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        token: str | None = None,
        path: str | None = None,
        codes: Iterable[ObisCode] = DEFAULT_CODES,
        timeout: float = POLL_TIMEOUT,
    ) -> None:
        """Keep the address and what to read; no I/O happens here."""
        self._session = session
        netloc = f"[{host}]" if ":" in host else host
        self._base = f"http://{netloc}:{port}"
        read_path = path or DEFAULT_READ_PATH
        self._read_url = self._base + (
            read_path if read_path.startswith("/") else f"/{read_path}"
        )
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.codes = tuple(codes)

    @property
    def codes(self) -> tuple[ObisCode, ...]:
        """The codes each :meth:`read` asks for."""
        return self._codes

    @codes.setter
    def codes(self, codes: tuple[ObisCode, ...]) -> None:
        self._codes = codes if SERIAL in codes else (*codes, SERIAL)
        self._body = {"obisCodes": [str(code) for code in self._codes]}

    async def _post(self, url: str, body: Any, timeout: float) -> Any:
        try:
            try:
                status, text = await self._exchange(url, body, timeout)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
                if isinstance(err, aiohttp.ClientConnectorError):
                    raise
                # The meter closed a kept-alive connection: once more, on a new one.
                _LOGGER.debug("Connection to %s dropped (%s), retrying once", url, err)
                status, text = await self._exchange(url, body, timeout)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise MeterConnectionError(
                f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            ) from err
        if status in (401, 403):
            raise MeterAuthError(f"HTTP {status}")
        if status >= 500:
            raise MeterConnectionError(f"HTTP {status}")
        if status >= 400:
            raise MeterRefusedError(f"HTTP {status}: {text[:200]}")
        if not text.strip():
            return None
        try:
            return json.loads(text)
        except ValueError as err:
            raise MeterResponseError("response is not JSON") from err

    async def _exchange(self, url: str, body: Any, timeout: float) -> tuple[int, str]:
        async with self._session.post(
            url,
            json=body,
            headers=self._headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            return response.status, await response.text()

    async def read(self) -> MeterData:
        """One poll: the configured codes, within ``timeout``."""
        data = await self._read(self._body, self.timeout)
        return replace(data, readings=with_net_power(data.readings))

    async def read_codes(
        self, codes: Iterable[ObisCode], *, timeout: float = ON_DEMAND_TIMEOUT
    ) -> MeterData:
        """Read arbitrary codes now, as the meter answers them."""
        return await self._read({"obisCodes": [str(code) for code in codes]}, timeout)

    async def _read(self, body: Any, timeout: float) -> MeterData:
        try:
            payload = await self._post(self._read_url, body, timeout)
        except MeterRefusedError as err:
            raise MeterResponseError(str(err)) from err
        readings = parse_response(payload)
        serial = readings.get(SERIAL)
        return MeterData(
            readings=readings,
            serial=serial.value if serial and isinstance(serial.value, str) else None,
            raw=payload,
        )

    async def write(self, code: ObisCode, value: float | int | str) -> None:
        """Write one parameter; a non-2xx answer raises."""
        await self._post(
            self._base + WRITE_PATH,
            {"obisCode": str(code), "value": value},
            WRITE_TIMEOUT,
        )
