"""Actions: read OBIS codes on demand, write one OBIS parameter (admin only)."""

from __future__ import annotations

import math
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.service import async_register_admin_service

from .compat import vol
from .const import DOMAIN
from .coordinator import SmartMeterConfigEntry
from .kind import ObisAccess
from .meters import ON_DEMAND_TIMEOUT, MeterError, MeterRefusedError, ObisCode

SERVICE_READ_OBIS = "read_obis"
SERVICE_WRITE_OBIS = "write_obis"
ATTR_CONFIG_ENTRY_ID = "config_entry_id"
ATTR_OBIS_CODES = "obis_codes"
ATTR_OBIS_CODE = "obis_code"
ATTR_VALUE = "value"

READ_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_OBIS_CODES): vol.All(
            cv.ensure_list, [cv.string], vol.Length(min=1)
        ),
    }
)
WRITE_SCHEMA = vol.Schema(
    {
        vol.Required(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Required(ATTR_OBIS_CODE): cv.string,
        vol.Required(ATTR_VALUE): vol.Coerce(float),
    }
)


def _obis(hass: HomeAssistant, call: ServiceCall) -> ObisAccess:
    """The OBIS access of the meter the call names, or a translated validation error."""
    entry_id: str = call.data[ATTR_CONFIG_ENTRY_ID]
    entry: SmartMeterConfigEntry | None = hass.config_entries.async_get_entry(entry_id)
    if entry is None or entry.domain != DOMAIN:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_found",
            translation_placeholders={"entry_id": entry_id},
        )
    if entry.state is not ConfigEntryState.LOADED:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="entry_not_loaded",
            translation_placeholders={"title": entry.title},
        )
    if (access := entry.runtime_data.backend.obis) is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="not_obis_meter",
            translation_placeholders={"title": entry.title},
        )
    return access


def _code(text: str) -> ObisCode:
    try:
        return ObisCode.parse(text)
    except ValueError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_obis_code",
            translation_placeholders={"code": text},
        ) from err


async def _async_read_obis(call: ServiceCall) -> ServiceResponse:
    """Read the codes now; answer with their values (scaled, canonical units)."""
    access = _obis(call.hass, call)
    wanted = {_code(text): text for text in call.data[ATTR_OBIS_CODES]}
    try:
        data = await access.read_codes(wanted, timeout=ON_DEMAND_TIMEOUT)
    except MeterError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="read_failed",
            translation_placeholders={"error": str(err) or type(err).__name__},
        ) from err
    readings: dict[str, Any] = {}
    missing: list[Any] = []
    for code, text in wanted.items():
        reading = data.readings.get(code)
        if reading is None:
            missing.append(text)
        else:
            readings[code.short] = {"value": reading.value, "unit": reading.unit}
    return {"readings": readings, "missing": missing}


async def _async_write_obis(call: ServiceCall) -> None:
    """Write one parameter; the meter's refusal is the user's error message."""
    access = _obis(call.hass, call)
    code = _code(call.data[ATTR_OBIS_CODE])
    value: float = call.data[ATTR_VALUE]
    if not math.isfinite(value):
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="invalid_value"
        )
    try:
        await access.write(code, int(value) if value.is_integer() else value)
    except MeterRefusedError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="write_refused",
            translation_placeholders={"code": code.short, "error": str(err)},
        ) from err
    except MeterError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="write_failed",
            translation_placeholders={"code": code.short, "error": str(err)},
        ) from err


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""
    hass.services.async_register(
        DOMAIN,
        SERVICE_READ_OBIS,
        _async_read_obis,
        schema=READ_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
    async_register_admin_service(
        hass, DOMAIN, SERVICE_WRITE_OBIS, _async_write_obis, schema=WRITE_SCHEMA
    )
