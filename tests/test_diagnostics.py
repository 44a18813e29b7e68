"""Diagnostics: enough to turn a report into a test fixture, nothing secret.

A snapshot per kind of meter, then what must never be in them (tokens, keys,
addresses, serial numbers) and what must be (the raw answer, the guard's record).
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.matchers import path_type

from custom_components.smart_meter_hub.diagnostics import (
    async_get_config_entry_diagnostics,
    redact_raw,
)
from custom_components.smart_meter_hub.meters.obis_http import parse_response
from meter_sim.obis_http import SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway
from meter_sim.xcel import FakeXcelMeter

from .helpers import (
    SERIAL,
    START,
    async_add_gateway,
    async_add_xcel_meter,
    async_poll,
    setup_integration,
)


@pytest.mark.freeze_time(START)
async def test_diagnostics(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    snapshot: SnapshotAssertion,
    kind_entry: MockConfigEntry,
) -> None:
    await setup_integration(hass, kind_entry)
    diagnostics = await async_get_config_entry_diagnostics(hass, kind_entry)
    # The simulated meters listen on a port of the moment.
    assert diagnostics == snapshot(matcher=path_type({"entry.data.port": (int,)}))


@pytest.mark.freeze_time(START)
async def test_diagnostics_redact_token_address_and_serial(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    meter: SimulatedObisMeter,
    config_entry: MockConfigEntry,
) -> None:
    meter.token = "very-secret-token"
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_TOKEN: "very-secret-token"}
    )
    await setup_integration(hass, config_entry)
    meter.set_fault("glitch_zero", count=1)
    await async_poll(hass, freezer, timedelta(minutes=1))

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


async def test_diagnostics_have_the_raw_register_blocks(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await async_add_gateway(hass, gateway, "1")
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    blocks = diagnostics["devices"]["meter_1"]["raw_response"]
    assert set(blocks) == {"0x0000", "0x0156"}
    assert len(blocks["0x0000"]) == 80
    assert "'1001'" not in str(diagnostics)  # serials are redacted
    assert diagnostics["entry"]["data"]["meters"][0]["serial"] == "**REDACTED**"


async def test_diagnostics_have_no_key_certificate_or_lfdi(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    entry, identity = await async_add_xcel_meter(hass, xcel)
    text = str(await async_get_config_entry_diagnostics(hass, entry))
    assert "PRIVATE KEY" not in text
    assert "CERTIFICATE" not in text
    assert xcel.lfdi not in text
    assert identity.lfdi not in text
    assert str(xcel.identity.sfdi) not in text


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
