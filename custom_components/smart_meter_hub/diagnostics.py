"""Diagnostics: what a bug report needs, with secrets and identity redacted.

The meter's last raw answer is included (serial number redacted) so that a user's
report can become a test fixture.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant

from .coordinator import SmartMeterConfigEntry
from .meters import ObisCode
from .meters.obis import SERIAL

TO_REDACT = {CONF_TOKEN, CONF_HOST, "unique_id", "title", "serial"}


def _is_serial(key: Any) -> bool:
    try:
        return ObisCode.parse(str(key)) == SERIAL
    except ValueError:
        return False


def redact_raw(payload: Any) -> Any:
    """Redact the serial number in any of the response formats."""
    if isinstance(payload, list):
        return [redact_raw(item) for item in payload]
    if not isinstance(payload, dict):
        return payload
    if _is_serial(payload.get("obisCode")):
        return {**payload, "value": REDACTED}
    return {
        key: REDACTED if _is_serial(key) else redact_raw(value)
        for key, value in payload.items()
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> dict[str, Any]:
    """Return the entry, the last poll and the energy guard's record."""
    coordinator = entry.runtime_data
    state = coordinator.data
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "last_update_success": coordinator.last_update_success,
        "last_reading": state.timestamp.isoformat() if state else None,
        "device": {
            "manufacturer": state.data.manufacturer,
            "model": state.data.model,
            "firmware": state.data.firmware,
        }
        if state
        else None,
        "values": {
            code.short: REDACTED if code == SERIAL else value
            for code, value in state.values.items()
        }
        if state
        else None,
        "raw_response": redact_raw(state.data.raw) if state else None,
        "energy_guard": {
            "last_accepted": coordinator.guard.dump(),
            "rejections": coordinator.guard.rejections,
        },
    }
