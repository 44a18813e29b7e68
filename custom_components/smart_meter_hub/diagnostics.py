"""Diagnostics: what a bug report needs, with secrets and identity redacted.

The meter's last raw answer is included (its serial number redacted) so that a user's
report can become a test fixture. What else to redact is each kind's declaration.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.const import CONF_HOST, CONF_TOKEN
from homeassistant.core import HomeAssistant

from .coordinator import SmartMeterConfigEntry
from .meters import ObisCode, obis

# Whatever the kind: the address, the identity of the meter, credentials.
TO_REDACT = {CONF_TOKEN, CONF_HOST, "unique_id", "title", "serial"}


def _is_serial(key: Any) -> bool:
    try:
        return ObisCode.parse(str(key)) == obis.SERIAL
    except ValueError:
        return False


def redact_raw(payload: Any) -> Any:
    """Redact the serial number wherever a raw answer names it by its OBIS code."""
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


def _without_ids(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """Replace device ids (serial numbers) at the start of guard keys by aliases."""
    result: dict[str, Any] = {}
    for key, value in data.items():
        device_id, sep, rest = key.partition(":")
        result[f"{aliases.get(device_id, REDACTED)}{sep}{rest}"] = value
    return result


def _entry(entry: SmartMeterConfigEntry, redact: set[str]) -> dict[str, Any]:
    """The entry as Home Assistant describes it, without what identifies the meter."""
    described = entry.as_dict()
    # Discovery keys carry the announced name (an Itron meter's has its SFDI).
    described.pop("discovery_keys", None)
    return async_redact_data(described, redact)


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> dict[str, Any]:
    """Return the entry, the last poll of each meter and the energy guard's record."""
    coordinator = entry.runtime_data
    hub = coordinator.data
    redact = TO_REDACT | coordinator.kind.redact
    aliases = {device_id: f"meter_{n}" for n, device_id in enumerate(hub.devices, 1)}
    counters = coordinator.counters.diagnostics()
    return {
        "entry": _entry(entry, redact),
        "last_update_success": coordinator.last_update_success,
        "devices": {
            aliases[device_id]: {
                "online": device_id in hub.online,
                "last_reading": state.timestamp.isoformat(),
                "manufacturer": state.data.manufacturer,
                "model": state.data.model,
                "firmware": state.data.firmware,
                "values": {
                    code.short: REDACTED if code == obis.SERIAL else value
                    for code, value in state.values.items()
                },
                "raw_response": redact_raw(state.data.raw),
            }
            for device_id, state in hub.devices.items()
        },
        "energy_guard": {
            name: _without_ids(record, aliases) for name, record in counters.items()
        },
        "analytics": _without_ids(coordinator.analytics.diagnostics(), aliases),
    }
