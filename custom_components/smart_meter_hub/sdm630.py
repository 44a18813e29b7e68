"""The SDM630 backend on the Home Assistant side: one entry per gateway.

An entry is one Modbus gateway with the meters (unit ids) behind it, each its own
device. One entry per gateway means one connection per gateway, serialized, whatever
the number of meters: adding a meter is a reconfiguration of the gateway's entry, never
a second connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT

from .const import CONF_FRAMING, CONF_METERS, CONF_SPACING, CONF_WORD_ORDER, LOGGER
from .meters import MeterConnectionError, MeterData, MeterError
from .meters.modbus import Framing, ModbusConnection, NoAnswerError
from .meters.sdm630 import Sdm630, read_meter


class Sdm630Backend:
    """Reads every meter of one gateway, one after the other, on one connection."""

    def __init__(self, data: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        """Open nothing yet: the connection opens on the first request."""
        self.connection = ModbusConnection(
            data[CONF_HOST], data[CONF_PORT], data[CONF_FRAMING]
        )
        self.meters = [
            (Sdm630(self.connection, int(meter["unit"])), meter)
            for meter in data[CONF_METERS]
        ]
        self._failing: set[int] = set()
        self.apply_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Word order and the pause between requests."""
        for meter, _info in self.meters:
            meter.word_order = options.get(CONF_WORD_ORDER, "normal")
        if (spacing := options.get(CONF_SPACING)) is not None:
            self.connection.spacing = float(spacing) / 1000

    async def fetch(self) -> dict[str, MeterData]:
        """Every meter that answers; one that does not is left out (and logged once)."""
        result: dict[str, MeterData] = {}
        errors: list[MeterError] = []
        for meter, info in self.meters:
            serial = str(info["serial"])
            try:
                result[serial] = await read_meter(
                    meter, serial, f"SDM630 {serial}", info.get("model")
                )
            except MeterError as err:
                errors.append(err)
                if meter.unit not in self._failing:
                    self._failing.add(meter.unit)
                    LOGGER.warning(
                        "SDM630 %s (unit %s) stopped answering: %s",
                        serial,
                        meter.unit,
                        err,
                    )
                continue
            if meter.unit in self._failing:
                self._failing.discard(meter.unit)
                LOGGER.info("SDM630 %s (unit %s) answers again", serial, meter.unit)
        if not result:
            raise errors[0]
        return result

    async def async_close(self) -> None:
        """Close the gateway connection."""
        await self.connection.close()


def parse_unit_ids(text: str) -> list[int] | None:
    """'1, 2 3' -> [1, 2, 3]; None unless every id is 1-247 and there is at least one."""
    try:
        units = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        return None
    if not units or any(not 1 <= unit <= 247 for unit in units):
        return None
    return sorted(set(units))


async def probe_gateway(
    host: str, port: int, framing: Framing, units: list[int]
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """Identify every unit; return (meters, form errors, error placeholders).

    When the first unit does not answer, the other framing is tried, so the user is told
    which one the gateway speaks.
    """
    meters: list[dict[str, Any]] = []
    connection = ModbusConnection(host, port, framing, timeout=2.0)
    try:
        for unit in units:
            try:
                serial, model = await Sdm630(connection, unit).identify()
            except NoAnswerError:
                if not meters and await _answers(host, port, _other(framing), unit):
                    return [], {"base": "wrong_framing"}, {"framing": _other(framing)}
                return [], {"base": "unit_no_answer"}, {"unit": str(unit)}
            except MeterConnectionError:
                return [], {"base": "cannot_connect"}, {}
            except MeterError:
                return [], {"base": "unit_no_answer"}, {"unit": str(unit)}
            meters.append({"unit": unit, "serial": serial, "model": model})
    finally:
        await connection.close()
    return meters, {}, {}


def _other(framing: Framing) -> Framing:
    return "rtu" if framing == "tcp" else "tcp"


async def _answers(host: str, port: int, framing: Framing, unit: int) -> bool:
    connection = ModbusConnection(host, port, framing, timeout=2.0)
    try:
        await Sdm630(connection, unit).identify()
    except MeterError:
        return False
    finally:
        await connection.close()
    return True
