"""Eastron SDM meters behind a Modbus gateway: one entry per gateway.

An entry is one Modbus gateway with the meters (unit ids) behind it, each its own
device. One entry per gateway means one connection per gateway, serialized, whatever
the number of meters: adding a meter is a reconfiguration of the gateway's entry, never
a second connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig

from ...compat import vol
from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterKind, OptionsForm
from ...meters import default_spacing
from ...options import number_field
from .backend import async_create_backend
from .const import CONF_FRAMING, CONF_SPACING, CONF_WORD_ORDER, KEY, serials
from .flow import EastronFlow


def _options_fields(entry: SmartMeterConfigEntry) -> dict[Any, Any]:
    options = entry.options
    spacing_ms = round(default_spacing(entry.data[CONF_FRAMING]) * 1000)
    return {
        vol.Required(
            CONF_WORD_ORDER, default=options.get(CONF_WORD_ORDER, "normal")
        ): SelectSelector(
            SelectSelectorConfig(
                options=["normal", "swapped"], translation_key=CONF_WORD_ORDER
            )
        ),
        vol.Required(
            CONF_SPACING, default=options.get(CONF_SPACING, spacing_ms)
        ): number_field(2000, "ms"),
    }


def _options_values(user_input: Mapping[str, Any]) -> dict[str, Any]:
    return {
        CONF_WORD_ORDER: user_input[CONF_WORD_ORDER],
        CONF_SPACING: int(user_input[CONF_SPACING]),
    }


EASTRON: Final = MeterKind(
    key=KEY,
    flow=EastronFlow,
    create_backend=async_create_backend,
    default_interval=timedelta(seconds=10),
    options=OptionsForm(fields=_options_fields, values=_options_values),
    meter_ids=serials,
    reconfigure_step="sdm630_reconfigure",
    redact=frozenset({"serial"}),
    decoding_options={CONF_WORD_ORDER: "normal"},
)
