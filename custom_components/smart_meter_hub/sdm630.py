"""The SDM630 backend on the Home Assistant side: one entry per gateway.

An entry is one Modbus gateway with the meters (unit ids) behind it, each its own
device. One entry per gateway means one connection per gateway, serialized, whatever
the number of meters: adding a meter is a reconfiguration of the gateway's entry, never
a second connection.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from .const import (
    CONF_FRAMING,
    CONF_METERS,
    CONF_SPACING,
    CONF_WORD_ORDER,
    DOMAIN,
    LOGGER,
)
from .gateway import async_entry_transport, async_flow_transport
from .meters import MeterConnectionError, MeterData, MeterError
from .meters.modbus import Framing, ModbusTransport, NoAnswerError
from .meters.sdm630 import Sdm630, read_meter


class Sdm630Backend:
    """Reads every meter of one gateway, one after the other, on one connection."""

    def __init__(
        self,
        data: Mapping[str, Any],
        options: Mapping[str, Any],
        connection: ModbusTransport,
    ) -> None:
        """Open nothing yet: the connection opens on the first request."""
        self.connection = connection
        self.meters = [
            (Sdm630(self.connection, int(meter["unit"])), meter)
            for meter in data[CONF_METERS]
        ]
        # The meters configured on this gateway, by serial number (their device ids).
        self.serials = frozenset(str(meter["serial"]) for meter in data[CONF_METERS])
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


@callback
def async_remove_stale_meters(
    hass: HomeAssistant, entry: ConfigEntry, backend: Sdm630Backend
) -> None:
    """Remove the devices of meters no longer configured on the gateway."""
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not any(
            domain == DOMAIN and ident in backend.serials
            for domain, ident in device.identifiers
        ):
            registry.async_update_device(
                device.id, remove_config_entry_id=entry.entry_id
            )


def parse_unit_ids(text: str) -> list[int] | None:
    """'1, 2 3' -> [1, 2, 3]; None unless every id is 1-247 and there is at least one."""
    try:
        units = [int(part) for part in text.replace(",", " ").split()]
    except ValueError:
        return None
    if not units or any(not 1 <= unit <= 247 for unit in units):
        return None
    return sorted(set(units))


async def async_create_sdm630_backend(
    hass: HomeAssistant, entry: ConfigEntry
) -> Sdm630Backend:
    """The backend of an entry, on the gateway connection this Home Assistant offers."""
    connection = await async_entry_transport(
        hass,
        entry,
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        entry.data[CONF_FRAMING],
    )
    return Sdm630Backend(entry.data, entry.options, connection)


async def probe_gateway(
    hass: HomeAssistant, host: str, port: int, framing: Framing, units: list[int]
) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, str]]:
    """Identify every unit; return (meters, form errors, error placeholders).

    When the first unit does not answer, the other framing is tried, so the user is told
    which one the gateway speaks.
    """
    meters: list[dict[str, Any]] = []
    try:
        async with async_flow_transport(hass, host, port, framing, units) as link:
            for unit in units:
                try:
                    serial, model = await Sdm630(link, unit).identify()
                except NoAnswerError:
                    if not meters and await _answers(
                        hass, host, port, _other(framing), unit
                    ):
                        return (
                            [],
                            {"base": "wrong_framing"},
                            {"framing": FRAMING_LABELS[_other(framing)]},
                        )
                    return [], {"base": "unit_no_answer"}, {"unit": str(unit)}
                except MeterConnectionError:
                    return [], {"base": "cannot_connect"}, {}
                except MeterError:
                    return [], {"base": "unit_no_answer"}, {"unit": str(unit)}
                meters.append({"unit": unit, "serial": serial, "model": model})
    except MeterConnectionError:
        return [], {"base": "cannot_connect"}, {}
    return meters, {}, {}


FRAMING_LABELS: dict[Framing, str] = {"tcp": "Modbus TCP", "rtu": "RTU over TCP"}


def _other(framing: Framing) -> Framing:
    return "rtu" if framing == "tcp" else "tcp"


async def _answers(
    hass: HomeAssistant, host: str, port: int, framing: Framing, unit: int
) -> bool:
    try:
        async with async_flow_transport(hass, host, port, framing, [unit]) as link:
            await Sdm630(link, unit).identify()
    except MeterError:
        return False
    return True
