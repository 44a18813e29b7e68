"""Eastron models on one gateway: detected from the meter, or picked by the user."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from tests.helpers import start_reconfigure, state_of


@pytest.fixture
async def gateway(socket_enabled: None) -> AsyncGenerator[Sdm630Gateway]:
    """A sub-distribution bus: an SDM120 (it tells its model), an SDM230 (it does
    not) and an SDM72D-M."""
    gw = Sdm630Gateway(
        {
            1: SimulatedSdm630(serial=2001, model="SDM120", base_power_w=450),
            2: SimulatedSdm630(serial=2002, model="SDM230", base_power_w=1200),
            3: SimulatedSdm630(serial=2003, model="SDM72D-M", seed=3),
        }
    )
    await gw.start()
    yield gw
    await gw.stop()


async def _submit_gateway(hass: HomeAssistant, gateway: Sdm630Gateway) -> dict:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sdm630"}
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": "tcp",
            "unit_ids": "1, 2, 3",
        },
    )


def _model(registry: dr.DeviceRegistry, entry: ConfigEntry, serial: str) -> str | None:
    """The model of the meter's device (the lookup every supported version has)."""
    device = next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )
    assert device is not None, serial
    return device.model


async def test_models_detected_or_picked_each_read_its_own_registers(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    result = await _submit_gateway(hass, gateway)
    # Only the meter that does not tell its model is asked about.
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sdm630_model"
    assert result["description_placeholders"] == {
        "unit": "2",
        "serial": "2002",
        "code": "-",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"model": "SDM230"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert _model(device_registry, entry, "2001") == "SDM120"
    assert _model(device_registry, entry, "2002") == "SDM230"
    assert _model(device_registry, entry, "2003") == "SDM72D-M v2"
    # Single-phase meters: their voltage and current are main values, shown.
    for device in ("sdm120_2001", "sdm230_2002"):
        assert 225 < float(state_of(hass, f"sensor.{device}_voltage")) < 235
        assert float(state_of(hass, f"sensor.{device}_current")) > 1
    assert float(state_of(hass, "sensor.sdm230_2002_net_power")) == pytest.approx(
        1200, rel=0.1
    )
    assert float(state_of(hass, "sensor.sdm120_2001_energy_import")) == pytest.approx(
        180.1, abs=0.1
    )
    # The SDM72D-M is three-phase: no single-phase voltage; its import counter reads.
    assert hass.states.get("sensor.sdm72d_m_2003_voltage") is None
    assert float(state_of(hass, "sensor.sdm72d_m_2003_energy_import")) == pytest.approx(
        180.1, abs=0.1
    )


async def test_reconfigure_keeps_the_model_a_meter_was_given(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    result = await _submit_gateway(hass, gateway)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"model": "SDM230"}
    )
    entry = result["result"]
    await hass.async_block_till_done()
    gateway.units[4] = SimulatedSdm630(serial=2004, model="SDM230", seed=4)
    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": "tcp",
            "unit_ids": "1, 2, 3, 4",
        },
    )
    # Unit 2 was picked before: only the new SDM230 is asked about.
    assert result["step_id"] == "sdm630_model"
    assert result["description_placeholders"]["unit"] == "4"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"model": "SDM230"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert _model(device_registry, entry, "2002") == "SDM230"
    assert _model(device_registry, entry, "2004") == "SDM230"
