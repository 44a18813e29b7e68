"""Our meters on core Modbus' shared connection (Home Assistant 2026.9 and later)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_ON
from homeassistant.core import HomeAssistant

from custom_components.smart_meter_hub.kinds.eastron.modbus_link import (
    shared_connection,
)
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from tests.helpers import START, async_add_gateway, async_poll, state_of


@pytest.mark.freeze_time(START)
async def test_single_client_gateway_shared_with_core_modbus(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    """A gateway that takes one TCP client serves core Modbus and this integration."""
    core = shared_connection()
    if core is None:
        pytest.skip("this Home Assistant has no shared Modbus connection (< 2026.9)")
    gateway = Sdm630Gateway(
        {1: SimulatedSdm630(serial=1001), 2: SimulatedSdm630(serial=1002, seed=2)},
        single_client=True,
    )
    await gateway.start()
    try:
        entry = await async_add_gateway(hass, gateway, "1")
        opened = gateway.connections
        # Another integration (core Modbus, a solar inverter...) reads unit 2.
        params = importlib.import_module("modbus_connection").ModbusTcpParams(
            host="127.0.0.1", port=gateway.port
        )
        async with core.async_get_temporary_unit(hass, params, 2) as unit:
            registers = await unit.read_holding_registers(0xFC00, 2)
            assert registers[0] << 16 | registers[1] == 1002
            requests = gateway.units[1].requests
            await async_poll(hass, freezer, timedelta(seconds=10))
            assert gateway.units[1].requests > requests
            assert state_of(hass, "binary_sensor.sdm630_1001_connectivity") == STATE_ON
            assert float(state_of(hass, "sensor.sdm630_1001_energy_import")) > 0
            assert gateway.connections == opened  # one link, nobody locked out
            assert await hass.config_entries.async_unload(entry.entry_id)
            # Our meter is gone; the other integration keeps the gateway.
            assert await unit.read_holding_registers(0xFC00, 2) == registers
    finally:
        await gateway.stop()
