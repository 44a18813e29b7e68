"""Diagnostics: enough to turn a report into a test fixture, nothing secret."""

from __future__ import annotations

import json

from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.diagnostics import (
    async_get_config_entry_diagnostics,
    redact_raw,
)
from custom_components.smart_meter_hub.meters.obis_http import parse_response
from meter_sim.obis_http import SimulatedObisMeter

from .conftest import SERIAL


async def test_diagnostics_redact_token_address_and_serial(
    hass: HomeAssistant, meter: SimulatedObisMeter, config_entry: MockConfigEntry
) -> None:
    meter.token = "very-secret-token"
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_TOKEN: "very-secret-token"}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    meter.set_fault("glitch_zero", count=1)
    await config_entry.runtime_data.async_refresh()

    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)
    text = json.dumps(diagnostics, default=str)

    assert "very-secret-token" not in text
    assert SERIAL not in text
    assert "127.0.0.1" not in text
    assert diagnostics["entry"]["data"][CONF_PORT] == config_entry.data[CONF_PORT]
    assert diagnostics["entry"]["data"][CONF_HOST] == "**REDACTED**"
    device = diagnostics["devices"]["meter_1"]
    assert device["online"] is True
    assert device["model"] == "OBIS HTTP JSON meter"
    assert device["values"]["1-0:1.8.0"] is None  # the glitch was not published
    assert device["values"]["0-0:96.1.0"] == "**REDACTED**"
    guard = diagnostics["energy_guard"]
    assert guard["rejections"]["meter_1:1-0:1.8.0.255"] == {"decrease": 1}
    assert "meter_1:1-0:1.8.0.255" in guard["last_accepted"]
    # The raw answer is there, and parses again into the same readings: a test fixture.
    raw = device["raw_response"]
    readings = parse_response(raw)
    assert {code.short for code in readings} == set(device["values"])


def test_raw_serial_is_redacted_in_every_format() -> None:
    assert redact_raw({"0-0:96.1.0.255": "S1", "1-0:1.8.0": 5}) == {
        "0-0:96.1.0.255": "**REDACTED**",
        "1-0:1.8.0": 5,
    }
    assert redact_raw(
        [{"obisCode": "96.1.0", "value": "S1"}, {"obisCode": "1.8.0", "value": 5}]
    ) == [
        {"obisCode": "96.1.0", "value": "**REDACTED**"},
        {"obisCode": "1.8.0", "value": 5},
    ]
    assert redact_raw({"readings": [{"obisCode": "0000600100FF", "value": "S1"}]}) == {
        "readings": [{"obisCode": "0000600100FF", "value": "**REDACTED**"}]
    }
