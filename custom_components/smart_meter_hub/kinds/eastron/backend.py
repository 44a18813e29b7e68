"""Reading the meters of a gateway on the Home Assistant side."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant

from ...const import LOGGER
from ...coordinator import SmartMeterConfigEntry
from ...kind import MeterBackend
from ...meters import (
    EastronMeter,
    MeterData,
    MeterError,
    ModbusTransport,
    eastron_model_named,
)
from .const import CONF_FRAMING, CONF_METERS, CONF_SPACING, CONF_WORD_ORDER
from .modbus_link import entry_transport


class EastronBackend(MeterBackend):
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
            EastronMeter(
                connection,
                int(meter["unit"]),
                serial=str(meter["serial"]),
                model=eastron_model_named(meter.get("model")),
                model_name=meter.get("model"),
            )
            for meter in data[CONF_METERS]
        ]
        self._failing: set[int] = set()
        self.apply_options(options)

    def apply_options(self, options: Mapping[str, Any]) -> None:
        """Word order and the pause between requests."""
        for meter in self.meters:
            meter.word_order = options.get(CONF_WORD_ORDER, "normal")
        if (spacing := options.get(CONF_SPACING)) is not None:
            self.connection.spacing = float(spacing) / 1000

    async def fetch(self) -> dict[str, MeterData]:
        """Every meter that answers; one that does not is left out (and logged once)."""
        result: dict[str, MeterData] = {}
        errors: list[MeterError] = []
        for meter in self.meters:
            try:
                result[meter.serial] = await meter.read()
            except MeterError as err:
                errors.append(err)
                if meter.unit not in self._failing:
                    self._failing.add(meter.unit)
                    LOGGER.warning(
                        "%s %s (unit %s) stopped answering: %s",
                        meter.model_name,
                        meter.serial,
                        meter.unit,
                        err,
                    )
                continue
            if meter.unit in self._failing:
                self._failing.discard(meter.unit)
                LOGGER.info(
                    "%s %s (unit %s) answers again",
                    meter.model_name,
                    meter.serial,
                    meter.unit,
                )
        if not result:
            raise errors[0]
        return result

    async def async_close(self) -> None:
        """Close the gateway connection."""
        await self.connection.close()


async def async_create_backend(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> MeterBackend:
    """The entry's backend; the connection opens on the first request."""
    connection = entry_transport(
        hass,
        entry,
        entry.data[CONF_HOST],
        entry.data[CONF_PORT],
        entry.data[CONF_FRAMING],
    )
    return EastronBackend(entry.data, entry.options, connection)
