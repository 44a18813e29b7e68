"""Xcel Energy / Itron meters over IEEE 2030.5: one entry per meter.

Until the utility approves the installation's identity the meter refuses us: the entry
keeps trying, and the coordinator shows the LFDI to register in a repair issue (the
kind's ``pending_issue``); once approved, data flows. The meter serves one connection:
the ``connection`` option keeps it between polls (the default: no handshake a poll) or
releases it after each poll so other programs can read the meter in between.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Final

from homeassistant.helpers.selector import SelectSelector, SelectSelectorConfig

from ...compat import vol
from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterKind, OptionsForm
from .backend import async_create_backend
from .const import CONF_CONNECTION, CONNECTION_MODES, KEEP
from .flow import CONF_METER_LFDI, KEY, XcelFlow
from .identity import CONF_CERTIFICATE, CONF_PRIVATE_KEY


def _options_fields(entry: SmartMeterConfigEntry) -> dict[Any, Any]:
    """Keep the meter's one connection between polls, or release it after each."""
    return {
        vol.Required(
            CONF_CONNECTION, default=entry.options.get(CONF_CONNECTION, KEEP)
        ): SelectSelector(
            SelectSelectorConfig(
                options=CONNECTION_MODES, translation_key=CONF_CONNECTION
            )
        )
    }


def _options_values(user_input: Mapping[str, Any]) -> dict[str, Any]:
    return {CONF_CONNECTION: user_input.get(CONF_CONNECTION, KEEP)}


XCEL: Final = MeterKind(
    key=KEY,
    flow=XcelFlow,
    create_backend=async_create_backend,
    default_interval=timedelta(seconds=10),
    options=OptionsForm(fields=_options_fields, values=_options_values),
    reconfigure_step="xcel_reconfigure",
    redact=frozenset({CONF_CERTIFICATE, CONF_PRIVATE_KEY, CONF_METER_LFDI}),
    learned_data=frozenset({CONF_METER_LFDI}),
    pending_issue="not_approved",
    silent_issue=(timedelta(hours=3), "agent_silent"),
    zeroconf="_smartenergy._tcp.local.",
)
