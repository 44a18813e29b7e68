"""Eastron SDM meters behind a Modbus gateway: register maps and the reader.

Every value is an IEEE-754 float in two input registers. A model is its register map
and the blocks it is read in (even start and count, at most 80 registers a request, 60
for the SDM72D-M); a block that the meter refuses with exception 02 is split rather
than failing the meter. The SDM630's default set is read in two transactions: (0x0000,
80) and (0x0156, 16); the single-phase SDM120 and SDM230 in two as well, the SDM72D-M in
three. 0x0156 ("total kWh") is import plus export: the absolute energy, never consumption.

Register blocks from the gateway are hostile too: a block of the wrong length or with
words that are no 16-bit registers is refused (:class:`MeterResponseError`), and so is
every value of a meter's answer when one of them is not a measurement at all: NaN or
infinite, or outside its quantity's range (``units.plausible``: a voltage of 1e30 V, a
negative counter, 1.6e-23 kWh). All values of one answer are decoded the same way, so one
absurd value says the decoding (the word order) or the answer is wrong, and none of its
values is published. Only a power factor out of range is left without a value alone:
meters report odd power factors at almost no load, which says nothing of the rest.
"""

from __future__ import annotations

import logging
import math
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from .modbus import (
    READ_HOLDING,
    READ_INPUT,
    ModbusExceptionError,
    ModbusTransport,
    check_count,
)
from .models import (
    MeterData,
    MeterResponseError,
    NoAnswerError,
    Reading,
    split_net_power,
)
from .obis import POWER_NET, ObisCode, obis
from .units import plausible

_LOGGER = logging.getLogger(__name__)

WordOrder = Literal["normal", "swapped"]
SERIAL_REGISTER: Final = 0xFC00
MODEL_REGISTER: Final = 0xFC02
MANUFACTURER: Final = "Eastron"
# What a float32 register pair resolves, in significant decimal digits.
SIGNIFICANT_DIGITS: Final = 7


@dataclass(frozen=True, slots=True)
class EastronModel:
    """One meter model: what its registers mean, and how they are read."""

    name: str
    # register -> (OBIS code, unit); signed total power maps to net power
    registers: Mapping[int, tuple[ObisCode, str | None]]
    blocks: tuple[tuple[int, int], ...]


SDM630: Final = EastronModel(
    name="SDM630",
    registers={
        0x0000: (obis("1-0:32.7.0"), "V"),
        0x0002: (obis("1-0:52.7.0"), "V"),
        0x0004: (obis("1-0:72.7.0"), "V"),
        0x0006: (obis("1-0:31.7.0"), "A"),
        0x0008: (obis("1-0:51.7.0"), "A"),
        0x000A: (obis("1-0:71.7.0"), "A"),
        0x000C: (obis("1-0:36.7.0"), "W"),  # signed active power L1
        0x000E: (obis("1-0:56.7.0"), "W"),
        0x0010: (obis("1-0:76.7.0"), "W"),
        0x001E: (obis("1-0:33.7.0"), None),
        0x0020: (obis("1-0:53.7.0"), None),
        0x0022: (obis("1-0:73.7.0"), None),
        0x0034: (POWER_NET, "W"),  # signed total active power
        0x0038: (obis("1-0:9.7.0"), "VA"),
        0x003C: (obis("1-0:3.7.0"), "var"),
        0x003E: (obis("1-0:13.7.0"), None),
        0x0046: (obis("1-0:14.7.0"), "Hz"),
        0x0048: (obis("1-0:1.8.0"), "kWh"),
        0x004A: (obis("1-0:2.8.0"), "kWh"),
        0x0156: (obis("1-0:15.8.0"), "kWh"),  # import + export: never consumption
        0x015A: (obis("1-0:21.8.0"), "kWh"),
        0x015C: (obis("1-0:41.8.0"), "kWh"),
        0x015E: (obis("1-0:61.8.0"), "kWh"),
        0x0160: (obis("1-0:22.8.0"), "kWh"),
        0x0162: (obis("1-0:42.8.0"), "kWh"),
        0x0164: (obis("1-0:62.8.0"), "kWh"),
    },
    blocks=((0x0000, 80), (0x0156, 16)),
)

# Single-phase meters: the one phase's voltage and current, signed active power.
_SINGLE_PHASE: Final[dict[int, tuple[ObisCode, str | None]]] = {
    0x0000: (obis("1-0:12.7.0"), "V"),
    0x0006: (obis("1-0:11.7.0"), "A"),
    0x000C: (POWER_NET, "W"),  # signed: negative while exporting
    0x0012: (obis("1-0:9.7.0"), "VA"),
    0x0018: (obis("1-0:3.7.0"), "var"),
    0x001E: (obis("1-0:13.7.0"), None),
    0x0046: (obis("1-0:14.7.0"), "Hz"),
    0x0048: (obis("1-0:1.8.0"), "kWh"),
    0x004A: (obis("1-0:2.8.0"), "kWh"),
    0x0156: (obis("1-0:15.8.0"), "kWh"),  # import + export: never consumption
}

SDM120: Final = EastronModel(
    name="SDM120", registers=_SINGLE_PHASE, blocks=((0x0000, 76), (0x0156, 2))
)
SDM230: Final = EastronModel(
    name="SDM230", registers=_SINGLE_PHASE, blocks=((0x0000, 76), (0x0156, 2))
)
# Three phases, at most 60 registers a request (its manual: 30 parameters).
SDM72D_M: Final = EastronModel(
    name="SDM72D-M",
    registers={
        0x0000: (obis("1-0:32.7.0"), "V"),
        0x0002: (obis("1-0:52.7.0"), "V"),
        0x0004: (obis("1-0:72.7.0"), "V"),
        0x0006: (obis("1-0:31.7.0"), "A"),
        0x0008: (obis("1-0:51.7.0"), "A"),
        0x000A: (obis("1-0:71.7.0"), "A"),
        0x000C: (obis("1-0:36.7.0"), "W"),
        0x000E: (obis("1-0:56.7.0"), "W"),
        0x0010: (obis("1-0:76.7.0"), "W"),
        0x0034: (POWER_NET, "W"),
        0x003E: (obis("1-0:13.7.0"), None),
        0x0046: (obis("1-0:14.7.0"), "Hz"),
        0x0048: (obis("1-0:1.8.0"), "kWh"),
        0x004A: (obis("1-0:2.8.0"), "kWh"),
        0x0156: (obis("1-0:15.8.0"), "kWh"),
    },
    blocks=((0x0000, 18), (0x0034, 24), (0x0156, 2)),
)

MODELS: Final[dict[str, EastronModel]] = {
    model.name: model for model in (SDM630, SDM120, SDM230, SDM72D_M)
}
# What the model register (holding 0xFC02) answers, with the name the device shows:
# the codes the meters' manuals document, and 0x0070 for the SDM630 from field
# reports. The SDM230's manual documents none: the user picks it.
MODEL_CODES: Final[dict[int, tuple[EastronModel, str]]] = {
    0x0020: (SDM120, "SDM120"),
    0x0070: (SDM630, "SDM630"),
    0x0079: (SDM630, "SDM630MCT V2"),
    0x0084: (SDM72D_M, "SDM72D-M"),
    0x0089: (SDM72D_M, "SDM72D-M v2"),
}


def model_named(name: str | None) -> EastronModel:
    """The register map of a model saved by its name or the name it shows.

    Entries from before other models were read hold SDM630 variants (or nothing).
    """
    if name in MODELS:
        return MODELS[name]
    for model, shown in MODEL_CODES.values():
        if name == shown:
            return model
    return SDM630


def decode_floats(
    registers: list[int], word_order: WordOrder = "normal"
) -> list[float]:
    """Registers (high word first, or swapped) to IEEE-754 floats, in one struct call.

    Raises MeterResponseError for an odd number of registers or a word that is no
    16-bit register.
    """
    if len(registers) % 2:
        raise MeterResponseError(f"{len(registers)} registers are no whole floats")
    check_count(None, len(registers), registers)
    if word_order == "swapped":
        swapped = registers[:]
        swapped[::2], swapped[1::2] = registers[1::2], registers[::2]
        registers = swapped
    count = len(registers)
    return list(struct.unpack(f">{count // 2}f", struct.pack(f">{count}H", *registers)))


def resolved(value: float) -> float:
    """A float32 value to what the meter resolves: :data:`SIGNIFICANT_DIGITS` digits.

    A float32 carries 24 bits of mantissa, about 7.2 decimal digits: the digits beyond
    the seventh are the conversion's noise (a power factor of 0.96 reads
    0.959999978542328 as a double), not the meter's. Rounding is monotonic, so a counter
    that grows still never goes back. NaN and infinities stay what they are.
    """
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


async def identify(transport: ModbusTransport, unit: int) -> tuple[str, int | None]:
    """Serial number (holding 0xFC00, uint32) and model code (0xFC02, where it answers)."""
    high, low = check_count(
        unit, 2, await transport.read_registers(unit, READ_HOLDING, SERIAL_REGISTER, 2)
    )
    serial = str(high << 16 | low)
    try:
        registers = await transport.read_registers(
            unit, READ_HOLDING, MODEL_REGISTER, 1
        )
    except ModbusExceptionError:
        return serial, None
    (code,) = check_count(unit, 1, registers)
    return serial, code


# Finding the meters on a bus: every unit id a meter can have, each asked once, briefly.
SCAN_UNITS: Final = range(1, 248)
# Seconds a unit id has to answer during a scan: an Eastron meter answers within some
# 100 ms at 9600 baud; a silent id must not cost a poll's timeout (247 of them).
SCAN_TIMEOUT: Final = 0.3
# Exceptions a gateway itself sends for a unit id nothing answers at (10: no path to
# the target, 11: the target did not respond): no device there.
GATEWAY_EXCEPTIONS: Final = frozenset({10, 11})
# Unit ids in a row that answer, none of them as an Eastron meter: the gateway (or a
# misconfigured device) answers for every unit id, and the scan stops.
STRANGERS_IN_A_ROW: Final = 16
# Silent unit ids asked in the other framing too, until anything answers.
FRAMING_CHECKS: Final = 3

ScanOutcome = Literal["done", "every_unit", "other_framing"]


@dataclass(frozen=True, slots=True)
class FoundMeter:
    """An Eastron meter found on the bus: where, its serial number, its model code."""

    unit: int
    serial: str
    code: int | None


@dataclass(slots=True)
class BusScan:
    """What a scan of the bus found, and how it ended.

    ``outcome``: ``"done"`` (every unit id asked), ``"every_unit"`` (stopped: the
    gateway answers for unit ids no meter can share, see :func:`scan_bus`) or
    ``"other_framing"`` (stopped: nothing answers, but a unit id does in the other
    framing). ``strangers``: unit ids that answered, but not as an Eastron meter;
    ``last``: the last unit id asked.
    """

    meters: list[FoundMeter] = field(default_factory=list)
    strangers: list[int] = field(default_factory=list)
    outcome: ScanOutcome = "done"
    last: int | None = None

    @property
    def answered(self) -> bool:
        """Anything answered at all."""
        return bool(self.meters or self.strangers)


_SILENT: Final = "silent"
_STRANGER: Final = "stranger"


async def _ask(transport: ModbusTransport, unit: int) -> FoundMeter | str:
    """One unit id: the meter there, or whether it is silent or something else."""
    try:
        serial, code = await identify(transport, unit)
    except NoAnswerError:
        return _SILENT
    except ModbusExceptionError as err:
        return _SILENT if err.code in GATEWAY_EXCEPTIONS else _STRANGER
    except MeterResponseError:
        return _STRANGER
    return FoundMeter(unit, serial, code)


async def scan_bus(
    transport: ModbusTransport,
    units: Iterable[int],
    progress: Callable[[int], None],
    *,
    other_framing: ModbusTransport | None = None,
) -> BusScan:
    """Ask every unit id for its serial number and model, one after the other.

    The transport's timeout should be short (:data:`SCAN_TIMEOUT`) and its spacing
    the one configured. ``progress`` is told how many unit ids were asked, after each.
    A lost connection (refused, not merely unanswered) raises
    :class:`MeterConnectionError`: the scan stops there.

    The scan stops early when the gateway answers for every unit id: the same serial
    number at a second unit id (it ignores the id), or :data:`STRANGERS_IN_A_ROW` unit
    ids in a row answering as no Eastron meter. While nothing has answered, the first
    :data:`FRAMING_CHECKS` silent unit ids are asked over ``other_framing`` too; a meter
    answering there stops the scan.
    """
    scan = BusScan()
    seen: set[str] = set()
    in_a_row = checks = 0
    for done, unit in enumerate(units, 1):
        scan.last = unit
        found = await _ask(transport, unit)
        if (
            found == _SILENT
            and other_framing is not None
            and not scan.answered
            and checks < FRAMING_CHECKS
        ):
            checks += 1
            # A meter there, not just bytes: a gateway of the other framing may answer
            # a frame it cannot read with something no framing makes sense of.
            if isinstance(await _ask(other_framing, unit), FoundMeter):
                scan.outcome = "other_framing"
                return scan
        if isinstance(found, FoundMeter):
            if found.serial in seen:
                scan.outcome = "every_unit"
                return scan
            seen.add(found.serial)
            scan.meters.append(found)
            in_a_row = 0
        elif found == _STRANGER:
            scan.strangers.append(unit)
            in_a_row += 1
            if in_a_row >= STRANGERS_IN_A_ROW:
                scan.outcome = "every_unit"
                return scan
        else:
            in_a_row = 0
        progress(done)
    return scan


class EastronMeter:
    """One Eastron meter (one unit id) on a shared gateway connection."""

    def __init__(
        self,
        transport: ModbusTransport,
        unit: int,
        *,
        serial: str,
        model: EastronModel = SDM630,
        model_name: str | None = None,
        word_order: WordOrder = "normal",
    ) -> None:
        """Attach to the gateway; no I/O. ``model_name`` is shown (default: the map's)."""
        self.transport = transport
        self.unit = unit
        self.serial = serial
        self.model = model
        self.model_name = model_name or model.name
        self.word_order: WordOrder = word_order

    async def _read_block(self, start: int, count: int) -> list[tuple[int, list[int]]]:
        """The block's registers, as runs (start, words).

        One run, unless the meter refuses the block with exception 02: then it is split
        in two, down to single values, and what it refuses is left out.
        """
        try:
            registers = await self.transport.read_registers(
                self.unit, READ_INPUT, start, count
            )
        except ModbusExceptionError as err:
            if err.code != 2 or count <= 2:
                if err.code == 2:
                    return []
                raise
            half = count // 2 // 2 * 2
            first = await self._read_block(start, half)
            return first + await self._read_block(start + half, count - half)
        return [(start, check_count(self.unit, count, registers))]

    async def read(self) -> MeterData:
        """Read the model's blocks: readings, or MeterError for the whole meter.

        Each run of registers is decoded with one struct call, and each value rounded to
        what a float32 resolves (:func:`resolved`). A value that is not a number, or
        not a plausible one for its quantity, fails the whole poll (the decoding is
        wrong, see the module's docstring); a power factor out of range only has no
        value.
        """
        mapped = self.model.registers
        values: dict[int, float] = {}
        raw: dict[str, list[int]] = {}
        for start, count in self.model.blocks:
            runs = await self._read_block(start, count)
            if len(runs) == 1 and runs[0][0] == start:
                raw[f"0x{start:04X}"] = runs[0][1]
            else:  # what the meter refused reads -1
                shown = [-1] * count
                for first, words in runs:
                    shown[first - start : first - start + len(words)] = words
                raw[f"0x{start:04X}"] = shown
            for first, words in runs:
                floats = decode_floats(words[: len(words) // 2 * 2], self.word_order)
                values.update(
                    (address, value)
                    for address, value in zip(
                        range(first, first + len(words), 2), floats, strict=False
                    )
                    if address in mapped
                )
        readings: dict[ObisCode, Reading] = {}
        for address, (code, unit) in mapped.items():
            if (raw_value := values.get(address)) is None:
                continue
            if not math.isfinite(raw_value):
                raise MeterResponseError(
                    f"unit {self.unit}: register 0x{address:04X} is not a number"
                )
            value = resolved(raw_value)
            if not plausible(value, unit, power_factor=code.is_power_factor):
                if code.is_power_factor:
                    _LOGGER.debug(
                        "Unit %s: power factor %s out of range", self.unit, value
                    )
                    readings[code] = Reading(None, unit)
                    continue
                raise MeterResponseError(
                    f"unit {self.unit}: register 0x{address:04X} reads {value:g}"
                    f"{' ' + unit if unit else ''}, which no meter measures"
                    " (is the word order right?)"
                )
            if code == POWER_NET:
                readings |= split_net_power(value)
            else:
                readings[code] = Reading(value, unit)
        if not readings:
            raise MeterResponseError(f"unit {self.unit}: no register could be read")
        return MeterData(
            readings=readings,
            serial=self.serial,
            name=f"{self.model.name} {self.serial}",
            manufacturer=MANUFACTURER,
            model=self.model_name,
            raw=raw,
        )
