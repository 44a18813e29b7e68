"""Reading an OBIS HTTP meter on the Home Assistant side: the client from the entry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant

from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterBackend
from ...meters import MeterData, MeterIdentityError, ObisCode, ObisHttpClient, obis
from .const import CONF_OBIS_CODES, CONF_PATH, MODEL


def codes_from_options(options: Mapping[str, Any]) -> tuple[ObisCode, ...]:
    """The codes to poll: the user's choice, or the default set."""
    chosen = options.get(CONF_OBIS_CODES)
    if not chosen:
        return obis.DEFAULT_CODES
    return tuple(ObisCode.parse(code) for code in chosen)


def client_from_data(
    data: Mapping[str, Any],
    codes: tuple[ObisCode, ...] = obis.DEFAULT_CODES,
    *,
    timeout: float | None = None,
) -> ObisHttpClient:
    """Build a client from config entry data (or a config flow's input).

    ``timeout``: of each read, when not the polls' own.
    """
    client = ObisHttpClient(
        data[CONF_HOST],
        data[CONF_PORT],
        token=data.get(CONF_TOKEN) or None,
        path=data.get(CONF_PATH) or None,
        codes=codes,
    )
    if timeout is not None:
        client.timeout = timeout
    return client


def title(serial: str) -> str:
    """An OBIS meter's entry title."""
    return f"OBIS meter {serial}"


class ObisHttpBackend(MeterBackend):
    """Reads the codes the entry's options name, in one request per poll."""

    def __init__(self, client: ObisHttpClient, serial: str) -> None:
        """Read the meter with ``serial`` through ``client``; no I/O."""
        self.serial = serial
        self.client = self.obis = client

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Read the codes the new options name from the next poll on."""
        self.client.codes = codes_from_options(options)

    async def fetch(self) -> dict[str, MeterData]:
        """Read the configured codes once, from the configured meter only."""
        data = await self.client.read()
        if data.serial is not None and data.serial != self.serial:
            raise MeterIdentityError(f"serial {data.serial} answered")
        # Named by its serial number: what tells meters apart comes first, so cards
        # that cut long names still tell them apart.
        return {
            self.serial: replace(
                data, name=data.name or self.serial, model=data.model or MODEL
            )
        }


async def async_create_backend(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> MeterBackend:
    """The entry's backend; no I/O with the meter."""
    client = client_from_data(entry.data, codes_from_options(entry.options))
    return ObisHttpBackend(client, entry.unique_id or entry.entry_id)
