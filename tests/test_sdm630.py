"""SDM630 meters behind a gateway, in Home Assistant: flow, devices, faults."""

from __future__ import annotations

import importlib
from collections.abc import AsyncGenerator

import pytest
from homeassistant.config_entries import SOURCE_USER
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub import async_remove_config_entry_device
from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.smart_meter_hub.kinds.eastron.modbus_link import (
    shared_connection,
)
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630

from .helpers import start_reconfigure, state_of


@pytest.fixture
async def gateway(socket_enabled: None) -> AsyncGenerator[Sdm630Gateway]:
    gw = Sdm630Gateway(
        {
            1: SimulatedSdm630(serial=1001, seed=1),
            2: SimulatedSdm630(serial=1002, seed=2),
        }
    )
    await gw.start()
    yield gw
    await gw.stop()


async def _form(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sdm630"}
    )
    assert result["step_id"] == "sdm630"
    return result["flow_id"]


async def _add(
    hass: HomeAssistant, gateway: Sdm630Gateway, units: str = "1, 2"
) -> MockConfigEntry:
    flow_id = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": gateway.framing,
            "unit_ids": units,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


def _device(
    registry: dr.DeviceRegistry, entry: MockConfigEntry, serial: str
) -> dr.DeviceEntry | None:
    """The meter's device (works on every Home Assistant version we support)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )


async def test_flow_errors_then_two_meters_on_one_connection(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    flow_id = await _form(hass)
    user_input = {"host": "127.0.0.1", "port": gateway.port, "framing": "tcp"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "unit_ids": "1, 300"}
    )
    assert result["errors"] == {"unit_ids": "invalid_unit_ids"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "unit_ids": "1, 7"}
    )
    assert result["errors"] == {"base": "unit_no_answer"}
    assert result["description_placeholders"] == {"unit": "7"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "port": 1, "unit_ids": "1"}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)

    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "unit_ids": "2 1"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.title == f"SDM630 gateway 127.0.0.1:{gateway.port}"
    for serial in ("1001", "1002"):
        device = _device(device_registry, entry, serial)
        assert device is not None
        assert device.manufacturer == "Eastron"
        assert device.model == "SDM630"
        assert device.serial_number == serial
        energy = float(state_of(hass, f"sensor.sdm630_{serial}_energy_import"))
        assert energy == pytest.approx(180.1, abs=0.1)
        assert float(state_of(hass, f"sensor.sdm630_{serial}_net_power")) > 0
    # Both meters are polled over one connection, poll after poll.
    connections = gateway.connections
    for _ in range(3):
        await entry.runtime_data.async_refresh()
    assert gateway.connections == connections
    assert entry.runtime_data.last_update_success

    # The same gateway again: refused.
    flow_id = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "unit_ids": "1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_wrong_framing_is_named(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    gateway = Sdm630Gateway({1: SimulatedSdm630(serial=1001)}, framing="rtu")
    await gateway.start()
    try:
        flow_id = await _form(hass)
        user_input = {"host": "127.0.0.1", "port": gateway.port, "unit_ids": "1"}
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**user_input, "framing": "tcp"}
        )
        assert result["errors"] == {"base": "wrong_framing"}
        assert result["description_placeholders"] == {"framing": "RTU over TCP"}
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**user_input, "framing": "rtu"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert float(state_of(hass, "sensor.sdm630_1001_energy_import")) > 0
        assert await hass.config_entries.async_unload(result["result"].entry_id)
    finally:
        await gateway.stop()


async def test_one_silent_meter_does_not_take_the_other_down(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await _add(hass, gateway)
    entry.runtime_data.backend.connection.timeout = 0.3
    gateway.units[1].fault = "silent"
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.sdm630_1001_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.sdm630_1001_connectivity") == STATE_OFF
    assert state_of(hass, "sensor.sdm630_1002_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.sdm630_1002_connectivity") == STATE_ON
    gateway.units[1].fault = None
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.sdm630_1001_energy_import") != STATE_UNAVAILABLE


async def test_reported_glitch_never_reaches_the_statistics(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    # 180.1 -> 5000 -> 180.4 kWh, as a user reported it.
    entry = await _add(hass, gateway, "1")
    before = float(state_of(hass, "sensor.sdm630_1001_energy_import"))
    gateway.units[1].fault = "glitch"
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.sdm630_1001_energy_import") == STATE_UNAVAILABLE
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    after = float(state_of(hass, "sensor.sdm630_1001_energy_import"))
    assert before <= after < before + 1


async def test_nan_makes_the_meter_unavailable_not_zero(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await _add(hass, gateway, "1")
    gateway.units[1].fault = "nan"
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert state_of(hass, "sensor.sdm630_1001_net_power") == STATE_UNAVAILABLE


async def test_reconfigure_adds_a_meter_and_options_apply(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    entry = await _add(hass, gateway, "1")
    result = await start_reconfigure(hass, entry)
    assert result["step_id"] == "sdm630_reconfigure"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": "tcp",
            "unit_ids": "1,9",
        },
    )
    assert result["errors"] == {"base": "unit_no_answer"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": "tcp",
            "unit_ids": "1,2",
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert _device(device_registry, entry, "1002") is not None

    gateway.units[2].word_order = "swapped"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "sdm630"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 5, "word_order": "swapped", "request_spacing": 20},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    coordinator = entry.runtime_data
    assert coordinator.update_interval.total_seconds() == 5
    assert coordinator.backend.connection.spacing == 0.02
    # Unit 2 now sends swapped words, and the option says so: plausible values again.
    await coordinator.async_refresh()
    await hass.async_block_till_done()
    assert float(state_of(hass, "sensor.sdm630_1002_net_power")) == pytest.approx(
        2300, rel=0.2
    )


async def test_diagnostics_have_the_raw_register_blocks(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await _add(hass, gateway, "1")
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    blocks = diagnostics["devices"]["meter_1"]["raw_response"]
    assert set(blocks) == {"0x0000", "0x0156"}
    assert len(blocks["0x0000"]) == 80
    assert "'1001'" not in str(diagnostics)  # serials are redacted
    assert diagnostics["entry"]["data"]["meters"][0]["serial"] == "**REDACTED**"


async def test_read_obis_is_for_obis_meters(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await _add(hass, gateway, "1")
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "read_obis",
            {"config_entry_id": entry.entry_id, "obis_codes": ["1.8.0"]},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "not_obis_meter"


async def test_single_client_gateway_shared_with_core_modbus(
    hass: HomeAssistant, socket_enabled: None
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
        entry = await _add(hass, gateway, "1")
        opened = gateway.connections
        # Another integration (core Modbus, a solar inverter...) reads unit 2.
        params = importlib.import_module("modbus_connection").ModbusTcpParams(
            host="127.0.0.1", port=gateway.port
        )
        async with core.async_get_temporary_unit(hass, params, 2) as unit:
            registers = await unit.read_holding_registers(0xFC00, 2)
            assert registers[0] << 16 | registers[1] == 1002
            await entry.runtime_data.async_refresh()
            assert entry.runtime_data.last_update_success
            assert float(state_of(hass, "sensor.sdm630_1001_energy_import")) > 0
            assert gateway.connections == opened  # one link, nobody locked out
            assert await hass.config_entries.async_unload(entry.entry_id)
            # Our meter is gone; the other integration keeps the gateway.
            assert await unit.read_holding_registers(0xFC00, 2) == registers
    finally:
        await gateway.stop()


@pytest.mark.parametrize(
    ("unit_ids", "fault", "errors"),
    [
        ("one", None, {"unit_ids": "invalid_unit_ids"}),
        ("", None, {"unit_ids": "invalid_unit_ids"}),
        ("1", "exception", {"base": "unit_no_answer"}),
    ],
)
async def test_flow_refuses_what_cannot_become_a_device(
    hass: HomeAssistant,
    gateway: Sdm630Gateway,
    unit_ids: str,
    fault: str | None,
    errors: dict[str, str],
) -> None:
    gateway.units[1].fault = fault
    flow_id = await _form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": "tcp",
            "unit_ids": unit_ids,
        },
    )
    assert result["errors"] == errors
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_a_meter_taken_off_the_gateway_loses_its_device(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    entry = await _add(hass, gateway, "1, 2")
    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": "127.0.0.1", "port": gateway.port, "framing": "tcp", "unit_ids": "2"},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert _device(device_registry, entry, "1001") is None
    kept = _device(device_registry, entry, "1002")
    assert kept is not None
    # A configured meter cannot be deleted from its device page; a leftover one can.
    assert not await async_remove_config_entry_device(hass, entry, kept)
    leftover = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "1001")}
    )
    assert await async_remove_config_entry_device(hass, entry, leftover)
