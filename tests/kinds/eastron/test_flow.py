"""Adding or reconfiguring a Modbus gateway: every unit id is read before it is saved."""

from __future__ import annotations

import logging

import pytest
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from tests.helpers import (
    async_add_gateway,
    async_open_gateway_form,
    start_reconfigure,
    state_of,
)


def _device(
    registry: dr.DeviceRegistry, entry_id: str, serial: str
) -> dr.DeviceEntry | None:
    """The meter's device (works on every Home Assistant version we support)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )


async def test_flow_errors_then_two_meters(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    flow_id = await async_open_gateway_form(hass)
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
        device = _device(device_registry, entry.entry_id, serial)
        assert device is not None
        assert device.manufacturer == "Eastron"
        assert device.model == "SDM630"
        assert device.serial_number == serial
        energy = float(state_of(hass, f"sensor.sdm630_{serial}_energy_import"))
        assert energy == pytest.approx(180.1, abs=0.1)
        assert float(state_of(hass, f"sensor.sdm630_{serial}_net_power")) > 0

    # The same gateway again: refused.
    flow_id = await async_open_gateway_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**user_input, "unit_ids": "1"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


def _complaints(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Warnings and errors in the system log, but Home Assistant's custom-integration one."""
    return [
        f"{record.name}: {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= logging.WARNING and record.name != "homeassistant.loader"
    ]


async def test_wrong_framing_is_named(
    hass: HomeAssistant, socket_enabled: None, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Sdm630Gateway({1: SimulatedSdm630(serial=1001)}, framing="rtu")
    await gateway.start()
    try:
        flow_id = await async_open_gateway_form(hass)
        user_input = {"host": "127.0.0.1", "port": gateway.port, "unit_ids": "1"}
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**user_input, "framing": "tcp"}
        )
        assert result["errors"] == {"base": "wrong_framing"}
        assert result["description_placeholders"] == {"framing": "RTU over TCP"}
        # The form says it; Settings > System > Logs shows nothing about it (#14).
        assert _complaints(caplog) == []
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**user_input, "framing": "rtu"}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        await hass.async_block_till_done()
        assert float(state_of(hass, "sensor.sdm630_1001_energy_import")) > 0
        assert await hass.config_entries.async_unload(result["result"].entry_id)
    finally:
        await gateway.stop()


async def test_a_unit_that_answers_in_neither_framing_is_named(
    hass: HomeAssistant, gateway: Sdm630Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    # The gateway answers, but nothing is at unit 7, whichever framing is asked.
    flow_id = await async_open_gateway_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {"host": "127.0.0.1", "port": gateway.port, "framing": "tcp", "unit_ids": "7"},
    )
    assert result["errors"] == {"base": "unit_no_answer"}
    assert result["description_placeholders"] == {"unit": "7"}
    assert not hass.config_entries.async_entries(DOMAIN)
    assert _complaints(caplog) == []


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
    flow_id = await async_open_gateway_form(hass)
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


async def test_reconfigure_adds_a_meter(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    entry = await async_add_gateway(hass, gateway, "1")
    result = await start_reconfigure(hass, entry)
    assert result["step_id"] == "sdm630_reconfigure"
    user_input = {"host": "127.0.0.1", "port": gateway.port, "framing": "tcp"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, "unit_ids": "1,9"}
    )
    assert result["errors"] == {"base": "unit_no_answer"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**user_input, "unit_ids": "1,2"}
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert _device(device_registry, entry.entry_id, "1002") is not None
    assert float(state_of(hass, "sensor.sdm630_1002_energy_import")) > 0


async def test_a_meter_is_never_added_twice_through_another_gateway_entry(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    """The same meter, reached by another name or listed alone: one entry owns it."""
    first = await async_add_gateway(hass, gateway, "1, 2")
    for host, units in (("localhost", "2"), ("LOCALHOST", "1, 2"), ("127.0.0.1", "2")):
        flow_id = await async_open_gateway_form(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {"host": host, "port": gateway.port, "framing": "tcp", "unit_ids": units},
        )
        assert result["type"] is FlowResultType.ABORT, (host, units)
        assert result["reason"] == "already_configured"
    assert hass.config_entries.async_entries(DOMAIN) == [first]

    # Another gateway's entry may not be reconfigured onto a meter the first one owns.
    other = Sdm630Gateway({5: SimulatedSdm630(serial=3005, seed=5)})
    await other.start()
    try:
        second = await async_add_gateway(hass, other, "5")
        result = await start_reconfigure(hass, second)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {
                "host": "127.0.0.1",
                "port": gateway.port,
                "framing": "tcp",
                "unit_ids": "1",
            },
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "already_configured"
        assert second.data["port"] == other.port  # unchanged
        assert await hass.config_entries.async_unload(second.entry_id)
    finally:
        await other.stop()
