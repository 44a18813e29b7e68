"""Which backend serves a config entry (one per meter type)."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryError

from .const import (
    CONF_METER_TYPE,
    DOMAIN,
    METER_OBIS_HTTP,
    METER_SDM630,
    METER_VIRTUAL,
    METER_XCEL,
)
from .coordinator import MeterBackend, SmartMeterConfigEntry
from .obis_http import ObisHttpBackend
from .sdm630 import async_create_sdm630_backend
from .virtual import VirtualBackend
from .xcel import XcelBackend


async def async_create_backend(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> MeterBackend:
    """Build the backend for the entry's meter type; no I/O with the meter."""
    meter_type = entry.data.get(CONF_METER_TYPE, METER_OBIS_HTTP)
    if meter_type == METER_OBIS_HTTP:
        return ObisHttpBackend(
            hass, entry.data, entry.options, entry.unique_id or entry.entry_id
        )
    if meter_type == METER_SDM630:
        return await async_create_sdm630_backend(hass, entry)
    if meter_type == METER_XCEL:
        return XcelBackend(hass, entry)
    if meter_type == METER_VIRTUAL:
        return VirtualBackend(
            hass, entry.data, entry.options, entry.unique_id or entry.entry_id
        )
    raise ConfigEntryError(
        translation_domain=DOMAIN,
        translation_key="unknown_meter_type",
        translation_placeholders={"meter_type": str(meter_type)},
    )
