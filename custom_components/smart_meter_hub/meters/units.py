"""Units: turning what a meter sends into one canonical unit per quantity."""

from __future__ import annotations

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
    "w": ("W", 1.0),
    "kw": ("W", 1e3),
    "mw": ("W", 1e6),
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
