"""The link to a Modbus gateway: core Modbus' shared one where Home Assistant has it.

Home Assistant 2026.9 added a connection API to core Modbus
(``homeassistant.components.modbus.connection``): every integration asking for the same
gateway gets units on one connection, serialized behind one lock. A gateway that accepts
a single TCP client can then serve core Modbus, this integration and anything else in
Home Assistant at once. Older Home Assistant versions have no such API: the integration
opens its own pymodbus connection, one per gateway, shared by all the gateway's meters.
Core Modbus' requirements come with the manifest's ``after_dependencies``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType
from typing import Final

from homeassistant.core import HomeAssistant

from ...coordinator import SmartMeterConfigEntry
from ...meters import Framing, ModbusConnection, ModbusTransport, failures_expected

try:
    from homeassistant.components.modbus import (  # type: ignore[attr-defined, unused-ignore]
        connection as _core_connection,
    )
except ImportError:  # Home Assistant before 2026.9
    _core_connection = None  # type: ignore[assignment, unused-ignore]

PROBE_TIMEOUT: Final = 2.0


def shared_connection() -> ModuleType | None:
    """Core Modbus' connection module, or None before Home Assistant 2026.9."""
    module: ModuleType | None = _core_connection
    return module


def entry_transport(
    hass: HomeAssistant,
    entry: SmartMeterConfigEntry,
    host: str,
    port: int,
    framing: Framing,
) -> ModbusTransport:
    """The connection an entry's meters are read over."""
    if (core := shared_connection()) is None:
        return ModbusConnection(host, port, framing)
    from .modbus_core import core_entry_transport  # noqa: PLC0415 - 2026.9+ only

    return core_entry_transport(core, hass, entry, host, port, framing)


@asynccontextmanager
async def flow_transport(
    hass: HomeAssistant,
    host: str,
    port: int,
    framing: Framing,
    units: list[int],
    timeout: float = PROBE_TIMEOUT,
) -> AsyncIterator[ModbusTransport]:
    """A connection for the config flow's probe of ``units``, let go of afterwards.

    ``timeout``: how long each request may take (short for a scan of the bus).

    A silent unit or a wrong framing is expected here and the form says so: the Modbus
    libraries' errors about it are debug lines meanwhile, not entries in the system log.
    """
    with failures_expected():
        if (core := shared_connection()) is not None:
            from .modbus_core import core_flow_transport  # noqa: PLC0415 - 2026.9+

            async with core_flow_transport(
                core, hass, host, port, framing, units, timeout
            ) as link:
                yield link
            return
        connection = ModbusConnection(host, port, framing, timeout=timeout)
        try:
            yield connection
        finally:
            await connection.close()
