"""Units: turning what a meter sends into one canonical unit per quantity.

And telling a value that could be a measurement from one that cannot: a voltage of
1e30 V, a negative counter or 1.6e-23 kWh (a float read in the wrong word order) is no
reading, whatever the meter sent.
"""

from __future__ import annotations

import math
from typing import Final

# DLMS/COSEM unit enumeration (IEC 62056-6-2) for meters that send numbers.
DLMS_UNITS: Final[dict[int, str | None]] = {
    13: "m³",
    27: "W",
    28: "VA",
    29: "var",
    30: "Wh",
    31: "VAh",
    32: "varh",
    33: "A",
    35: "V",
    44: "Hz",
    56: "%",
    255: None,
}

# unit as sent (lower case) -> (canonical unit, factor to reach it)
_CANONICAL: Final[dict[str, tuple[str | None, float]]] = {
    "wh": ("kWh", 1e-3),
    "kwh": ("kWh", 1.0),
    "mwh": ("kWh", 1e3),
    "gwh": ("kWh", 1e6),
    "w": ("W", 1.0),
    "kw": ("W", 1e3),
    "mw": ("W", 1e6),
    "gw": ("W", 1e9),
    "va": ("VA", 1.0),
    "kva": ("VA", 1e3),
    "var": ("var", 1.0),
    "kvar": ("var", 1e3),
    "vah": ("kVAh", 1e-3),
    "kvah": ("kVAh", 1.0),
    "varh": ("kvarh", 1e-3),
    "kvarh": ("kvarh", 1.0),
    "v": ("V", 1.0),
    "kv": ("V", 1e3),
    "a": ("A", 1.0),
    "ma": ("A", 1e-3),
    "hz": ("Hz", 1.0),
    "%": ("%", 1.0),
    "m³": ("m³", 1.0),
    "m3": ("m³", 1.0),
    "": (None, 1.0),
    "none": (None, 1.0),
}


def canonical(unit: str | int | None) -> tuple[str | None, float] | None:
    """Return (canonical unit, factor) for a unit a meter sent, None if unknown.

    Energy becomes kWh and power W, whatever prefix the meter used, so an entity's
    unit never changes when a meter switches from Wh to kWh.
    """
    if unit is None:
        return None
    if isinstance(unit, int):
        if unit not in DLMS_UNITS:
            return None
        named = DLMS_UNITS[unit]
        unit = "" if named is None else named
    return _CANONICAL.get(unit.strip().lower())


# What a meter can measure, per canonical unit: (lowest, highest). Generous on purpose:
# a value outside is not a large or an odd reading, it is not a reading at all.
_COUNTER: Final = (0.0, 1e12)  # never negative; a billion MWh is beyond any meter
_POWER: Final = (-1e10, 1e10)  # 10 GW: beyond any meter, signed (export)
PLAUSIBLE: Final[dict[str, tuple[float, float]]] = {
    "kWh": _COUNTER,
    "kVAh": _COUNTER,
    "kvarh": _COUNTER,
    "W": _POWER,
    "VA": _POWER,
    "var": _POWER,
    "V": (0.0, 1e6),  # an RMS voltage is never negative; 1 MV is beyond any meter
    "A": (-1e6, 1e6),  # some meters sign the current with the direction of power
    "Hz": (0.0, 1e3),
}
# A power factor is at most 1; a little above is a meter's rounding at low load.
POWER_FACTOR_LIMIT: Final = 1.1
# No meter resolves less than this (in the canonical unit: 1 nV, 1 nA, 1 nW, 1 µWh),
# but a float read in the wrong word order often lands here (180.1 kWh -> 1.6e-23).
TINY: Final = 1e-9


def plausible_range(
    unit: str | None, *, power_factor: bool = False
) -> tuple[float, float] | None:
    """What a value in the canonical ``unit`` may be: (lowest, highest), or None.

    None for a unit of no electrical quantity the integration knows: any finite number.
    """
    if power_factor:
        return (-POWER_FACTOR_LIMIT, POWER_FACTOR_LIMIT)
    return PLAUSIBLE.get(unit) if unit is not None else None


def within(value: float, limits: tuple[float, float] | None) -> bool:
    """:func:`plausible` against limits already looked up (:func:`plausible_range`)."""
    if limits is None:
        return math.isfinite(value)
    # (NaN fails the comparison, and the limits are finite.)
    return limits[0] <= value <= limits[1] and (value == 0.0 or abs(value) >= TINY)


def plausible(value: float, unit: str | None, *, power_factor: bool = False) -> bool:
    """Whether ``value`` (in the canonical ``unit``) can be a measurement at all.

    Non-finite values never are. For the electrical quantities (the units in
    :data:`PLAUSIBLE`, and a power factor) the value must lie in the quantity's range,
    and be 0 or at least :data:`TINY` in magnitude. A value of any other unit only
    needs to be finite.
    """
    return within(value, plausible_range(unit, power_factor=power_factor))
