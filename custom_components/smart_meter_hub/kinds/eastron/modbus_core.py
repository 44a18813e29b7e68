"""Our meters on core Modbus' shared connection (Home Assistant 2026.9 and later).

Imported only where ``homeassistant.components.modbus.connection`` exists (its library,
modbus-connection, comes with core Modbus' requirements): the newest Home Assistant
test run covers this module; older ones never load it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from types import ModuleType
from typing import Any, Protocol

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from modbus_connection import (  # type: ignore[import-not-found, unused-ignore]
    ModbusSerialParams,
    ModbusTcpParams,
    exceptions as errors,
)

from ...coordinator import SmartMeterConfigEntry
from ...meters import (
    READ_HOLDING,
    Framing,
    MeterConnectionError,
    MeterResponseError,
    ModbusExceptionError,
    ModbusTransport,
    NoAnswerError,
    PacedTransport,
)


class _Unit(Protocol):
    """The part of core Modbus' ``ModbusUnit`` this integration uses."""

    async def read_holding_registers(self, address: int, count: int) -> list[int]:
        """Function 03."""

    async def read_input_registers(self, address: int, count: int) -> list[int]:
        """Function 04."""

    def require_timeout(self, seconds: float | None) -> None:
        """At least this long for each request."""


def _params(host: str, port: int, framing: Framing) -> Any:
    """The link as core Modbus names it, so other users of the gateway share it."""
    if framing == "rtu":
        # The form core Modbus turns RTU-over-TCP into, whoever asks for it.
        address = f"[{host}]" if ":" in host else host
        return ModbusSerialParams(
            device=f"socket://{address}:{port}", framer="rtu", baudrate=115200
        )
    return ModbusTcpParams(host=host, port=port)


class SharedModbusTransport(PacedTransport):
    """Our meters' requests on core Modbus' shared connection, paced by us too."""

    def __init__(
        self,
        get_unit: Callable[[int], Any],
        framing: Framing,
        *,
        timeout: float = 3.0,
    ) -> None:
        """Units are taken from ``get_unit`` on first use."""
        super().__init__(framing, timeout=timeout)
        self._get_unit = get_unit
        self._units: dict[int, _Unit] = {}

    def _unit(self, unit: int) -> _Unit:
        if (held := self._units.get(unit)) is None:
            held = self._units[unit] = self._get_unit(unit)
            held.require_timeout(self.timeout)
        return held

    async def _request(
        self, unit: int, function: int, address: int, count: int
    ) -> list[int]:
        try:
            target = self._unit(unit)
        except HomeAssistantError as err:  # the gateway is held with other settings
            raise MeterConnectionError(str(err)) from err
        read = (
            target.read_holding_registers
            if function == READ_HOLDING
            else target.read_input_registers
        )
        self.transactions += 1
        try:
            async with asyncio.timeout(self.timeout + 1):
                return list(await read(address, count))
        except errors.ModbusExceptionError as err:
            raise ModbusExceptionError(
                unit, function, int(err.exception_code or 0)
            ) from err
        except (errors.ModbusTimeoutError, TimeoutError) as err:
            # The link stays up for its other users: core's link discards a late
            # answer (by transaction id over TCP, by the timed-out request over RTU).
            raise NoAnswerError(f"unit {unit}: no answer") from err
        except errors.ModbusConnectionError as err:
            raise MeterConnectionError(f"unit {unit}: {err}") from err
        except errors.ModbusError as err:  # a corrupt or mismatched answer
            raise MeterResponseError(f"unit {unit}: {err}") from err

    async def close(self) -> None:
        """Nothing to do: core Modbus closes the link when its last user unloads."""


def core_entry_transport(
    core: ModuleType,
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    host: str,
    port: int,
    framing: Framing,
) -> ModbusTransport:
    """Units held for the entry until it unloads."""
    params = _params(host, port, framing)
    return SharedModbusTransport(
        lambda unit: core.async_get_unit(hass, entry, params, unit), framing
    )


@asynccontextmanager
async def core_flow_transport(
    core: ModuleType,
    hass: HomeAssistant,
    host: str,
    port: int,
    framing: Framing,
    units: list[int],
    timeout: float,
) -> AsyncIterator[ModbusTransport]:
    """Units held while the config flow probes them."""
    params = _params(host, port, framing)
    async with AsyncExitStack() as stack:
        held: dict[int, Any] = {}
        try:
            for unit in units:
                held[unit] = await stack.enter_async_context(
                    core.async_get_temporary_unit(hass, params, unit)
                )
        except HomeAssistantError as err:  # the gateway is held with other settings
            raise MeterConnectionError(str(err)) from err
        yield SharedModbusTransport(held.__getitem__, framing, timeout=timeout)
