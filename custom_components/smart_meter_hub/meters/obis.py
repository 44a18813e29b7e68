"""OBIS codes (IEC 62056-6-1): parsing every textual form into one normalised code.

Every backend keys its readings by :class:`ObisCode`, so one table of entity
descriptions serves OBIS HTTP meters, Modbus registers and IEEE 2030.5 readings alike.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# ASCII digits only (``\d`` would take any script's digits), and ``\Z``: ``$`` also
# matches before a final newline.
_FULL = re.compile(
    r"^(?P<a>\d{1,3})-(?P<b>\d{1,3}):(?P<c>\d{1,3})\.(?P<d>\d{1,3})\.(?P<e>\d{1,3})"
    r"(?:[*.&](?P<f>\d{1,3}))?\Z",
    re.ASCII,
)
_DOTTED = re.compile(r"^\d{1,3}(?:\.\d{1,3}){2,5}\Z", re.ASCII)
_HEX = re.compile(r"^[0-9A-Fa-f]{12}\Z")
# The longest textual form, ``255-255:255.255.255*255``, has 23 characters.
_MAX_LENGTH = 32

# EDIS short forms (`C.D.E`) name electricity objects (A=1, B=0) except these abstract
# objects, which meters also send in short form.
_ABSTRACT_SHORT = {(96,), (1, 0, 0), (0, 0, 0), (0, 9, 1), (0, 9, 2)}
# Texts parsed, remembered: a meter sends the same few codes in every answer, and a
# thousand meters send the same ones. Bounded, so that a meter sending new codes in every
# answer costs a re-parse, never memory.
_PARSED_TEXTS = 4096


class ObisCode(NamedTuple):
    """A normalised OBIS code ``A-B:C.D.E*F``."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int = 255

    @classmethod
    def parse(cls, text: str) -> ObisCode:
        """Parse any textual form a meter sends; raise ValueError otherwise.

        Whatever ``text`` is (it comes from the network), nothing but ValueError is
        raised, and text longer than any OBIS code is refused before it is looked at.
        A text once parsed is remembered (an answer's codes are parsed once, not on
        every poll); one that is no code is refused again each time.
        """
        if not isinstance(text, str) or len(text) > 2 * _MAX_LENGTH:
            raise ValueError("not an OBIS code: not a short text")
        return _parse(text)

    def __str__(self) -> str:
        """Return the six-group dotted form the OBIS HTTP API uses."""
        return f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}.{self.f}"

    @property
    def is_energy_counter(self) -> bool:
        """A cumulative electricity register (``1-b:c.8.e``): it must never go back."""
        return self.a == 1 and self.d == 8

    @property
    def is_power_factor(self) -> bool:
        """A power factor (``1-b:c.7.e``, total or one phase): at most 1 in magnitude."""
        return self.a == 1 and self.d == 7 and self.c in (13, 33, 53, 73)

    @property
    def short(self) -> str:
        """Return ``A-B:C.D.E`` (the billing period is 255, the current one)."""
        base = f"{self.a}-{self.b}:{self.c}.{self.d}.{self.e}"
        return base if self.f == 255 else f"{base}*{self.f}"


@lru_cache(maxsize=_PARSED_TEXTS)
def _parse(text: str) -> ObisCode:
    """:meth:`ObisCode.parse` of a short text (cached: errors are not)."""
    raw = text.strip()
    if len(raw) > _MAX_LENGTH:
        raise ValueError(f"not an OBIS code: {raw[:_MAX_LENGTH]!r}...")
    if match := _FULL.match(raw):
        groups = match.groupdict()
        f = groups["f"]
        code = ObisCode(
            int(groups["a"]),
            int(groups["b"]),
            int(groups["c"]),
            int(groups["d"]),
            int(groups["e"]),
            255 if f is None else int(f),
        )
    elif _HEX.match(raw):
        code = ObisCode(*bytes.fromhex(raw))
    elif _DOTTED.match(raw):
        parts = [int(part) for part in raw.split(".")]
        if len(parts) == 6:
            code = ObisCode(*parts)
        elif len(parts) == 3:
            abstract = parts[0] == 96 or tuple(parts) in _ABSTRACT_SHORT
            code = ObisCode(0 if abstract else 1, 0, *parts)
        else:
            raise ValueError(f"not an OBIS code: {text!r}")
    else:
        raise ValueError(f"not an OBIS code: {text!r}")
    if any(group > 255 for group in code):
        raise ValueError(f"OBIS group out of range: {text!r}")
    return code


def obis(text: str) -> ObisCode:
    """Shorthand for :meth:`ObisCode.parse`."""
    return ObisCode.parse(text)


# Codes every backend maps onto (IEC 62056-6-1 naming).
SERIAL = obis("0-0:96.1.0")
CLOCK = obis("0-0:1.0.0")
# COSEM logical device name: its first three letters are the maker's FLAG id.
LOGICAL_NAME = obis("0-0:42.0.0")
ENERGY_IMPORT = obis("1-0:1.8.0")
ENERGY_EXPORT = obis("1-0:2.8.0")
ENERGY_ABSOLUTE = obis("1-0:15.8.0")
POWER_IMPORT = obis("1-0:1.7.0")
POWER_EXPORT = obis("1-0:2.7.0")
POWER_NET = obis("1-0:16.7.0")
POWER_IMPORT_L1 = obis("1-0:21.7.0")
POWER_IMPORT_L2 = obis("1-0:41.7.0")
POWER_IMPORT_L3 = obis("1-0:61.7.0")
CURRENT_L1 = obis("1-0:31.7.0")
CURRENT_L2 = obis("1-0:51.7.0")
CURRENT_L3 = obis("1-0:71.7.0")
VOLTAGE_L1 = obis("1-0:32.7.0")
VOLTAGE_L2 = obis("1-0:52.7.0")
VOLTAGE_L3 = obis("1-0:72.7.0")
VOLTAGE = obis("1-0:12.7.0")  # any phase: single-phase meters
CURRENT = obis("1-0:11.7.0")
POWER_FACTOR = obis("1-0:13.7.0")
FREQUENCY = obis("1-0:14.7.0")

# The 17 codes of a head-end's default read, plus export and signed net power, and the
# logical device name (its maker); a meter simply leaves out codes it does not know,
# and no entity is created for them.
DEFAULT_CODES: tuple[ObisCode, ...] = (
    ENERGY_ABSOLUTE,
    ENERGY_IMPORT,
    ENERGY_EXPORT,
    VOLTAGE_L1,
    VOLTAGE_L2,
    VOLTAGE_L3,
    CURRENT_L1,
    CURRENT_L2,
    CURRENT_L3,
    POWER_IMPORT,
    POWER_EXPORT,
    POWER_NET,
    POWER_IMPORT_L1,
    POWER_IMPORT_L2,
    POWER_IMPORT_L3,
    FREQUENCY,
    POWER_FACTOR,
    CLOCK,
    SERIAL,
    LOGICAL_NAME,
)

# FLAG manufacturer ids (the DLMS User Association's list) of makers of electricity
# meters that answer OBIS-coded readings; a logical device name starts with one.
FLAG_MANUFACTURERS: dict[str, str] = {
    "ABB": "ABB",
    "EBZ": "eBZ",
    "ELS": "Elster",
    "EMH": "EMH metering",
    "ESY": "EasyMeter",
    "HAG": "Hager",
    "ISK": "Iskraemeco",
    "ITF": "Itron",
    "KAM": "Kamstrup",
    "KFM": "Kaifa",
    "LGZ": "Landis+Gyr",
    "SAG": "Sagemcom",
    "SMR": "Sagemcom",
    "ZPA": "ZPA Smart Energy",
}


def manufacturer_of(logical_name: str | None) -> str | None:
    """The maker a COSEM logical device name names (by its FLAG id), if known."""
    if not logical_name or len(logical_name) < 3:
        return None
    return FLAG_MANUFACTURERS.get(logical_name[:3].upper())
