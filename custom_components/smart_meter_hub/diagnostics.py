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

TO_REDACT = {
    CONF_TOKEN,
    CONF_HOST,
    "unique_id",
    "title",
    "serial",
    "certificate",
    "private_key",
    "meter_lfdi",
}


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


def _without_ids(data: dict[str, Any], aliases: dict[str, str]) -> dict[str, Any]:
    """Replace device ids (serial numbers) at the start of guard keys by aliases."""
    result: dict[str, Any] = {}
    for key, value in data.items():
        device_id, sep, rest = key.partition(":")
        result[f"{aliases.get(device_id, REDACTED)}{sep}{rest}"] = value
    return result


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> dict[str, Any]:
    """Return the entry, the last poll of each meter and the energy guard's record."""
    coordinator = entry.runtime_data
    hub = coordinator.data
    aliases = {device_id: f"meter_{n}" for n, device_id in enumerate(hub.devices, 1)}
    return {
        "entry": async_redact_data(entry.as_dict(), TO_REDACT),
        "last_update_success": coordinator.last_update_success,
        "devices": {
            aliases[device_id]: {
                "online": device_id in hub.online,
                "last_reading": state.timestamp.isoformat(),
                "manufacturer": state.data.manufacturer,
                "model": state.data.model,
                "firmware": state.data.firmware,
                "values": {
                    code.short: REDACTED if code == SERIAL else value
                    for code, value in state.values.items()
                },
                "raw_response": redact_raw(state.data.raw),
            }
            for device_id, state in hub.devices.items()
        },
        "energy_guard": {
            "last_accepted": _without_ids(coordinator.guard.dump(), aliases),
            "rejections": _without_ids(coordinator.guard.rejections, aliases),
        },
    }
