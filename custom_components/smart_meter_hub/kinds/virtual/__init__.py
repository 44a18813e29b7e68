"""The virtual meter: power and energy sensors another integration already provides.

No polling: every state change of a source sensor refreshes the meter. Its whole-home
power feeds the same analytics as a real meter; optional circuit power sensors give a
share of total each, and the power no circuit measures.
"""

from __future__ import annotations

from typing import Any, Final

from ...compat import vol
from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterKind, OptionsForm
from .backend import async_create_backend
from .const import CIRCUITS_SELECTOR, CONF_CIRCUITS, KEY
from .flow import VirtualFlow


def _options_fields(entry: SmartMeterConfigEntry) -> dict[Any, Any]:
    return {
        vol.Optional(
            CONF_CIRCUITS, default=entry.options.get(CONF_CIRCUITS) or []
        ): CIRCUITS_SELECTOR
    }


VIRTUAL: Final = MeterKind(
    key=KEY,
    flow=VirtualFlow,
    create_backend=async_create_backend,
    default_interval=None,
    options=OptionsForm(
        fields=_options_fields,
        values=lambda user_input: {CONF_CIRCUITS: user_input.get(CONF_CIRCUITS) or []},
    ),
)
