"""The OBIS HTTP JSON backend on the Home Assistant side: client from the entry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import CONF_OBIS_CODES, CONF_PATH
from .meters import MeterData, MeterIdentityError, ObisCode
from .meters.obis import DEFAULT_CODES, SERIAL
from .meters.obis_http import ObisHttpClient

MODEL = "OBIS HTTP JSON meter"


def codes_from_options(options: Mapping[str, Any]) -> list[ObisCode]:
    """The codes to poll: the user's choice, the serial number always included."""
    chosen = options.get(CONF_OBIS_CODES)
    codes = [ObisCode.parse(code) for code in chosen] if chosen else list(DEFAULT_CODES)
    if SERIAL not in codes:
        codes.append(SERIAL)
    return codes


def client_from_data(hass: HomeAssistant, data: Mapping[str, Any]) -> ObisHttpClient:
    """Build a client from config entry data (or a config flow's input)."""
    return ObisHttpClient(
        async_get_clientsession(hass),
        data[CONF_HOST],
        data[CONF_PORT],
        token=data.get(CONF_TOKEN) or None,
        path=data.get(CONF_PATH) or None,
    )


class ObisHttpBackend:
    """Reads the codes the entry's options name, in one request per poll."""

    def __init__(
        self,
        hass: HomeAssistant,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
        serial: str,
    ) -> None:
        """Build the client for the meter with ``serial``; no I/O."""
        self.serial = serial
        self.client = client_from_data(hass, data)
        self.codes: list[ObisCode] = codes_from_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Read the codes the new options name from the next poll on."""
        self.codes = codes_from_options(options)

    async def fetch(self) -> dict[str, MeterData]:
        """Read the configured codes once, from the configured meter only."""
        data = await self.client.read(self.codes)
        if data.serial is not None and data.serial != self.serial:
            raise MeterIdentityError(f"serial {data.serial} answered")
        return {self.serial: replace(data, model=data.model or MODEL)}

    async def async_close(self) -> None:
        """Nothing to release: the HTTP session is Home Assistant's."""

    async def read(self, codes: Iterable[ObisCode], timeout: float) -> MeterData:
        """Read arbitrary codes now (the read_obis action)."""
        return await self.client.read(codes, timeout=timeout)
