"""Typed results and errors shared by every meter client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .obis import POWER_EXPORT, POWER_IMPORT, POWER_NET, ObisCode


class MeterError(Exception):
    """Base class of every error a meter client raises."""


class MeterConnectionError(MeterError):
    """The meter could not be reached or did not answer in time."""


class NoAnswerError(MeterConnectionError):
    """Something took the connection and the request, but no answer came in time.

    A meter that hangs, a wrong Modbus unit id or framing, or another protocol's server
    on the port: not "nothing is there", which is a plain MeterConnectionError.
    """


class MeterAuthError(MeterError):
    """The meter refused our credentials."""


class MeterResponseError(MeterError):
    """The meter answered with something that is not a valid reading."""


class MeterServerError(MeterResponseError):
    """The meter answered, with an error of its own (an HTTP 5xx): it is there, but failed."""


class MeterIdentityError(MeterError):
    """A different meter than the configured one answers at the address."""


class MeterRefusedError(MeterError):
    """The meter understood the request and refused it (for example a write)."""


class MeterPendingError(MeterError):
    """The meter is there but does not serve us yet: a registration awaits approval.

    Nothing the user could re-enter fixes it (so it is not an auth error): an outside
    party (the utility) has to approve the client first. ``details`` are what the user
    needs to know to get it approved (shown in the repair issue).
    """

    def __init__(self, message: str = "", details: Mapping[str, str] | None = None):
        """Keep the details."""
        super().__init__(message)
        self.details: dict[str, str] = dict(details or {})


@dataclass(frozen=True, slots=True)
class Reading:
    """One value, already scaled to the canonical unit of its quantity.

    ``value`` is ``None`` when the meter reported the quantity without a usable value
    (quality not good, empty element): the quantity exists, but is not published.
    """

    value: float | str | None
    unit: str | None = None


@dataclass(frozen=True, slots=True)
class MeterData:
    """One poll of one meter: readings keyed by normalised OBIS code."""

    readings: Mapping[ObisCode, Reading]
    serial: str | None = None
    name: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    firmware: str | None = None
    # Named sub-measurements that are no OBIS quantity (circuits of a virtual meter), W.
    channels: Mapping[str, float | None] = field(default_factory=dict)
    raw: Any = field(default=None, compare=False, repr=False)

    def number(self, code: ObisCode) -> float | None:
        """Return the numeric value of ``code``, or None if absent or not numeric."""
        reading = self.readings.get(code)
        if reading is None or not isinstance(reading.value, float):
            return None
        return reading.value


def split_net_power(net: float) -> dict[ObisCode, Reading]:
    """Signed net power (W) and what it means: import or export power, both >= 0."""
    return {
        POWER_NET: Reading(net, "W"),
        POWER_IMPORT: Reading(max(net, 0.0), "W"),
        POWER_EXPORT: Reading(max(-net, 0.0), "W"),
    }


def with_net_power(readings: Mapping[ObisCode, Reading]) -> dict[ObisCode, Reading]:
    """Add signed net power (import minus export) when the meter has no value for it."""
    result = dict(readings)
    imported, exported = readings.get(POWER_IMPORT), readings.get(POWER_EXPORT)
    if POWER_NET in readings or imported is None or exported is None:
        return result
    if isinstance(imported.value, float) and isinstance(exported.value, float):
        result[POWER_NET] = Reading(imported.value - exported.value, imported.unit)
    else:
        result[POWER_NET] = Reading(None, imported.unit)
    return result
