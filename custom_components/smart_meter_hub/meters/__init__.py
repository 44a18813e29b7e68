"""Meter protocol clients: no Home Assistant imports, one typed snapshot per poll.

Every client is built with its settings and exposes ``async read() -> MeterData``:
readings keyed by normalised OBIS code, scaled to canonical units (kWh, W, V, A, Hz),
import, export and signed net power settled. Failures are typed :class:`MeterError`
subclasses. This module is the only import surface the Home Assistant side uses.
"""

from . import obis
from .eastron import (
    MODEL_CODES as EASTRON_MODEL_CODES,
    MODELS as EASTRON_MODELS,
    EastronMeter,
    EastronModel,
    WordOrder,
    identify as identify_eastron,
    model_named as eastron_model_named,
)
from .guard import EnergyGuard, Rejection, Verdict
from .ieee2030_5 import (
    DEFAULT_PORT as IEEE2030_5_PORT,
    INTERVAL_DELIVERED,
    INTERVAL_RECEIVED,
    Ieee2030Client,
    Ieee2030Meter,
    IntervalSeries,
    MeterNotApprovedError,
    MeterProfile,
)
from .modbus import (
    READ_HOLDING,
    READ_INPUT,
    Framing,
    ModbusConnection,
    ModbusExceptionError,
    ModbusTransport,
    PacedTransport,
    default_spacing,
    failures_expected,
)
from .models import (
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterIdentityError,
    MeterPendingError,
    MeterRefusedError,
    MeterResponseError,
    MeterServerError,
    NoAnswerError,
    Reading,
)
from .obis import ObisCode
from .obis_http import (
    DEFAULT_PORT as OBIS_HTTP_PORT,
    ON_DEMAND_TIMEOUT,
    ObisHttpClient,
)
from .sep2_identity import (
    Identity,
    IdentityError,
    client_ssl_context,
    generate_identity,
    grouped,
    load_identity,
)

__all__ = [
    "EASTRON_MODELS",
    "EASTRON_MODEL_CODES",
    "IEEE2030_5_PORT",
    "INTERVAL_DELIVERED",
    "INTERVAL_RECEIVED",
    "OBIS_HTTP_PORT",
    "ON_DEMAND_TIMEOUT",
    "READ_HOLDING",
    "READ_INPUT",
    "EastronMeter",
    "EastronModel",
    "EnergyGuard",
    "Framing",
    "Identity",
    "IdentityError",
    "Ieee2030Client",
    "Ieee2030Meter",
    "IntervalSeries",
    "MeterAuthError",
    "MeterConnectionError",
    "MeterData",
    "MeterError",
    "MeterIdentityError",
    "MeterNotApprovedError",
    "MeterPendingError",
    "MeterProfile",
    "MeterRefusedError",
    "MeterResponseError",
    "MeterServerError",
    "ModbusConnection",
    "ModbusExceptionError",
    "ModbusTransport",
    "NoAnswerError",
    "ObisCode",
    "ObisHttpClient",
    "PacedTransport",
    "Reading",
    "Rejection",
    "Verdict",
    "WordOrder",
    "client_ssl_context",
    "default_spacing",
    "eastron_model_named",
    "failures_expected",
    "generate_identity",
    "grouped",
    "identify_eastron",
    "load_identity",
    "obis",
]
