"""The connection to a Modbus gateway: core Modbus' shared one where Home Assistant has it.

Home Assistant 2026.9 added a connection API to core Modbus
(``homeassistant.components.modbus.connection``): every integration asking for the same
gateway gets units on one connection, serialized behind one lock. A gateway that accepts
a single TCP client can then serve core Modbus, this integration and anything else in
Home Assistant at once. Older Home Assistant versions have no such API: the integration
opens its own pymodbus connection, one per gateway, shared by all the gateway's meters.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import ModuleType

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.loader import async_get_integration
from homeassistant.requirements import async_get_integration_with_requirements
from homeassistant.util.hass_dict import HassKey

from .const import LOGGER
from .meters.modbus import Framing, ModbusConnection, ModbusTransport
from .modbus_shared import entry_transport, flow_transport

CORE_MODBUS: HassKey[ModuleType | None] = HassKey("smart_meter_hub_core_modbus")
PROBE_TIMEOUT = 2.0


async def async_core_modbus(hass: HomeAssistant) -> ModuleType | None:
    """Core Modbus' connection module, or None before Home Assistant 2026.9."""
    if CORE_MODBUS in hass.data:
        return hass.data[CORE_MODBUS]
    module: ModuleType | None = None
    try:
        integration = await async_get_integration(hass, "modbus")
        shared = integration.file_path / "connection.py"
        if await hass.async_add_executor_job(shared.is_file):
            # Installs core Modbus' libraries (modbus-connection) if they are not yet;
            # not before: older core Modbus pins a pymodbus of its own.
            await async_get_integration_with_requirements(hass, "modbus")
            module = await hass.async_add_import_executor_job(
                importlib.import_module, "homeassistant.components.modbus.connection"
            )
    except (ImportError, HomeAssistantError) as err:
        LOGGER.debug("Core Modbus' shared connection is unusable: %s", err)
        module = None
    if module is None:
        LOGGER.debug("No shared Modbus connection: the integration opens its own")
    hass.data[CORE_MODBUS] = module
    return module


async def async_entry_transport(
    hass: HomeAssistant, entry: ConfigEntry, host: str, port: int, framing: Framing
) -> ModbusTransport:
    """The connection an entry's meters are read over."""
    if (core := await async_core_modbus(hass)) is None:
        return ModbusConnection(host, port, framing)
    return entry_transport(core, hass, entry, host, port, framing)


@asynccontextmanager
async def async_flow_transport(
    hass: HomeAssistant, host: str, port: int, framing: Framing, units: list[int]
) -> AsyncIterator[ModbusTransport]:
    """A connection for the config flow's probe of ``units``, let go of afterwards."""
    if (core := await async_core_modbus(hass)) is not None:
        async with flow_transport(
            core, hass, host, port, framing, units, PROBE_TIMEOUT
        ) as link:
            yield link
        return
    connection = ModbusConnection(host, port, framing, timeout=PROBE_TIMEOUT)
    try:
        yield connection
    finally:
        await connection.close()
