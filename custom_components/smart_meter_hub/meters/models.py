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


class MeterAuthError(MeterError):
    """The meter refused our credentials."""


class MeterResponseError(MeterError):
    """The meter answered with something that is not a valid reading."""


class MeterIdentityError(MeterError):
    """A different meter than the configured one answers at the address."""


class MeterRefusedError(MeterError):
    """The meter understood the request and refused it (for example a write)."""


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


def with_net_power(
    readings: Mapping[ObisCode, Reading],
    net: ObisCode,
    import_power: ObisCode,
    export_power: ObisCode,
) -> dict[ObisCode, Reading]:
    """Add signed net power (import minus export) when the meter has no value for it."""
    result = dict(readings)
    imported, exported = readings.get(import_power), readings.get(export_power)
    if net in readings or imported is None or exported is None:
        return result
    if isinstance(imported.value, float) and isinstance(exported.value, float):
        result[net] = Reading(imported.value - exported.value, imported.unit)
    else:
        result[net] = Reading(None, imported.unit)
    return result
