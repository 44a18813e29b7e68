"""What the Eastron kind's modules share."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.helpers.selector import (
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
)

from ...compat import vol
from ...flow import PORT_SELECTOR
from ...meters import EASTRON_MODELS, EASTRON_SCAN_UNITS, Framing

KEY: Final = "sdm630"
CONF_FRAMING: Final = "framing"
CONF_UNIT_IDS: Final = "unit_ids"
CONF_METERS: Final = "meters"
CONF_WORD_ORDER: Final = "word_order"
CONF_SPACING: Final = "request_spacing"
CONF_MODEL: Final = "model"
CONF_FIND: Final = "find_meters"
CONF_FIRST_UNIT: Final = "first_unit"
CONF_LAST_UNIT: Final = "last_unit"
MODBUS_PORT: Final = 502
FRAMING_LABELS: Final[dict[Framing, str]] = {
    "tcp": "Modbus TCP",
    "rtu": "RTU over TCP",
}

SCHEMA = vol.Schema(
    {
        vol.Required(CONF_HOST): str,
        vol.Required(CONF_PORT, default=MODBUS_PORT): PORT_SELECTOR,
        vol.Required(CONF_FRAMING, default="tcp"): SelectSelector(
            SelectSelectorConfig(options=["tcp", "rtu"], translation_key=CONF_FRAMING)
        ),
        vol.Required(CONF_UNIT_IDS, default="1"): str,
        vol.Optional(CONF_FIND, default=False): bool,
    }
)
UNIT_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=EASTRON_SCAN_UNITS[0],
        max=EASTRON_SCAN_UNITS[-1],
        step=1,
        mode=NumberSelectorMode.BOX,
    )
)
# Which unit ids a scan of the bus asks: every one a meter can have, unless narrowed.
SCAN_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_FIRST_UNIT, default=EASTRON_SCAN_UNITS[0]): UNIT_SELECTOR,
        vol.Required(CONF_LAST_UNIT, default=EASTRON_SCAN_UNITS[-1]): UNIT_SELECTOR,
    }
)


def gateway_title(host: str, port: int) -> str:
    """'SDM630 gateway 192.168.1.20', with the port when it is not Modbus' 502."""
    return f"SDM630 gateway {host}" + ("" if port == MODBUS_PORT else f":{port}")


def serials(data: Mapping[str, Any], unique_id: str | None = None) -> frozenset[str]:
    """The meters configured on a gateway, by serial number (their device ids)."""
    return frozenset(str(meter["serial"]) for meter in data.get(CONF_METERS, []))


MODEL_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_MODEL, default="SDM630"): SelectSelector(
            SelectSelectorConfig(
                options=list(EASTRON_MODELS), translation_key=CONF_MODEL
            )
        )
    }
)
