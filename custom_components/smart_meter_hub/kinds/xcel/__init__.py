"""Xcel Energy / Itron meters over IEEE 2030.5: one entry per meter.

Until the utility approves the installation's identity the meter refuses us: the entry
keeps trying, and the coordinator shows the LFDI to register in a repair issue (the
kind's ``pending_issue``); once approved, data flows.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from ...kind import MeterKind
from .backend import async_create_backend
from .flow import CONF_METER_LFDI, KEY, XcelFlow
from .identity import CONF_CERTIFICATE, CONF_PRIVATE_KEY

XCEL: Final = MeterKind(
    key=KEY,
    flow=XcelFlow,
    create_backend=async_create_backend,
    default_interval=timedelta(seconds=10),
    reconfigure_step="xcel_reconfigure",
    redact=frozenset({CONF_CERTIFICATE, CONF_PRIVATE_KEY, CONF_METER_LFDI}),
    pending_issue="not_approved",
    silent_issue=(timedelta(hours=3), "agent_silent"),
    zeroconf="_smartenergy._tcp.local.",
)
