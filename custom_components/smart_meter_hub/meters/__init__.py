"""Meter protocol clients: no Home Assistant imports, one typed snapshot per poll.

Every client returns :class:`MeterData` with readings keyed by normalised OBIS code, so
the Home Assistant side maps one table of entity descriptions onto every backend.
"""

from .guard import EnergyGuard, Rejection, Verdict
from .models import (
    MeterAuthError,
    MeterConnectionError,
    MeterData,
    MeterError,
    MeterIdentityError,
    MeterRefusedError,
    MeterResponseError,
    Reading,
)
from .obis import ObisCode

__all__ = [
    "EnergyGuard",
    "MeterAuthError",
    "MeterConnectionError",
    "MeterData",
    "MeterError",
    "MeterIdentityError",
    "MeterRefusedError",
    "MeterResponseError",
    "ObisCode",
    "Reading",
    "Rejection",
    "Verdict",
]
