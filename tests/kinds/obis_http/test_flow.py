"""Adding, reconfiguring and re-authenticating an OBIS HTTP meter.

Every failure is a form error with nothing saved, and the user recovers from it.
"""

from __future__ import annotations

import socket
import time
from unittest.mock import patch

import pytest
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import CONF_METER_TYPE, DOMAIN
from custom_components.smart_meter_hub.kinds.obis_http import (
    CONF_PATH,
    KEY as METER_OBIS_HTTP,
)
from custom_components.smart_meter_hub.kinds.obis_http.const import PROBE_TIMEOUT
from custom_components.smart_meter_hub.meters.obis_http import POLL_TIMEOUT
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway
from tests.helpers import SERIAL, async_pick_kind, obis_http_entry


async def _obis_form(hass: HomeAssistant) -> str:
    result = await async_pick_kind(hass, METER_OBIS_HTTP)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == METER_OBIS_HTTP
    return str(result["flow_id"])


async def test_add_meter(hass: HomeAssistant, port: int) -> None:
    flow_id = await _obis_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            CONF_HOST: " 127.0.0.1 ",
            CONF_PORT: float(port),
            CONF_TOKEN: "",
            CONF_PATH: "",
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"OBIS meter {SERIAL}"
    assert result["data"] == {
        CONF_METER_TYPE: METER_OBIS_HTTP,
        CONF_HOST: "127.0.0.1",
        CONF_PORT: port,
    }
    assert result["result"].unique_id == SERIAL


@pytest.mark.parametrize(
    ("break_it", "error"),
    [
        (lambda meter: meter.set_fault("unauthorized", 1), "invalid_auth"),
        (lambda meter: meter.set_fault("forbidden", 1), "invalid_auth"),
        (lambda meter: meter.set_fault("invalid_json", 1), "invalid_response"),
        (lambda meter: meter.set_fault("empty", 1), "invalid_response"),
        (lambda meter: meter.set_fault("http500", 1), "meter_error"),
        (lambda meter: meter.missing.add("0-0:96.1.0"), "no_serial"),
    ],
)
async def test_meter_errors_then_recovery(
    hass: HomeAssistant, meter: SimulatedObisMeter, port: int, break_it, error: str
) -> None:
    flow_id = await _obis_form(hass)
    break_it(meter)
    user_input = {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": error}
    assert not hass.config_entries.async_entries(DOMAIN)

    meter.missing.clear()
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_an_http_500_is_the_meters_own_error_with_its_answer(
    hass: HomeAssistant, meter: SimulatedObisMeter, port: int
) -> None:
    """The meter answered: not "cannot reach the meter"."""
    flow_id = await _obis_form(hass)
    meter.set_fault("http500", 1)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["errors"] == {"base": "meter_error"}
    assert result["description_placeholders"] == {"answer": "HTTP 500"}


async def test_pointed_at_a_modbus_port_it_says_so_fast(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    """A Modbus gateway takes the connection and the request and never answers HTTP:
    "something answered, but not as an OBIS meter", within the probe's few seconds
    (the polls' timeout is 10 s), not "cannot reach the meter"."""
    flow_id = await _obis_form(hass)
    started = time.monotonic()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: gateway.port}
    )
    assert result["errors"] == {"base": "invalid_response"}
    assert time.monotonic() - started < PROBE_TIMEOUT + 1.5
    assert PROBE_TIMEOUT < POLL_TIMEOUT


async def test_a_closed_port_is_cannot_connect_at_once(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    flow_id = await _obis_form(hass)
    started = time.monotonic()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: closed}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    assert time.monotonic() - started < PROBE_TIMEOUT / 2  # no wait for the timeout


async def test_unreachable_meter_then_recovery(
    hass: HomeAssistant, server: ObisMeterServer
) -> None:
    flow_id = await _obis_form(hass)
    port = server.ports[0]
    await server.stop()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await server.restart()
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_token_meter(
    hass: HomeAssistant, meter: SimulatedObisMeter, port: int
) -> None:
    meter.token = "abc123"
    flow_id = await _obis_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port, CONF_TOKEN: "abc123"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_TOKEN] == "abc123"


async def test_unexpected_error_then_recovery(
    hass: HomeAssistant, port: int, caplog: pytest.LogCaptureFixture
) -> None:
    flow_id = await _obis_form(hass)
    # The client (the protocol library) fails in a way nobody foresaw.
    with patch(
        "custom_components.smart_meter_hub.meters.obis_http.ObisHttpClient.read",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
        )
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the meter" in caplog.text
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_same_meter_twice_aborts_and_updates_address(
    hass: HomeAssistant, config_entry: MockConfigEntry, port: int
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, data={**config_entry.data, CONF_HOST: "127.0.0.2"}
    )
    flow_id = await _obis_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert config_entry.data[CONF_HOST] == "127.0.0.1"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_adding_a_retrying_meter_at_its_new_address_sets_it_up_at_once(
    hass: HomeAssistant, port: int, unused_tcp_port: int
) -> None:
    # The entry's meter moved: nothing answers at its saved address, setup retries.
    entry = obis_http_entry(unused_tcp_port)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    # The user adds it again where it answers now: the entry takes the address and
    # is set up at once, not at its next retry.
    flow_id = await _obis_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {CONF_HOST: "127.0.0.1", CONF_PORT: port}
    )
    assert result["reason"] == "already_configured"
    await hass.async_block_till_done()
    assert entry.data[CONF_PORT] == port
    assert entry.state is ConfigEntryState.LOADED


async def test_reconfigure_new_address(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The meter moved: it now answers on another port, with a token.
    moved = ObisMeterServer([meter])
    await moved.start()
    meter.token = "new-token"
    before = init_integration.runtime_data
    try:
        result = await init_integration.start_reconfigure_flow(hass)
        assert result["step_id"] == "obis_http_reconfigure"
        new = {CONF_HOST: "127.0.0.1", CONF_PORT: moved.ports[0]}
        result = await hass.config_entries.flow.async_configure(result["flow_id"], new)
        assert result["errors"] == {"base": "invalid_auth"}
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {**new, CONF_TOKEN: "new-token"}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_successful"
        assert init_integration.data[CONF_PORT] == moved.ports[0]
        assert init_integration.data[CONF_TOKEN] == "new-token"
        await hass.async_block_till_done()
        # Reloaded (by its update listener, as Home Assistant asks from 2026.12 on),
        # it reads the meter at its new address.
        assert init_integration.runtime_data is not before
        assert init_integration.state is ConfigEntryState.LOADED
        assert init_integration.runtime_data.last_update_success
        assert "update listener" not in caplog.text
    finally:
        await moved.stop()


async def test_reconfigure_refuses_another_meter(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    other = ObisMeterServer([SimulatedObisMeter(serial="SOMEONE-ELSE")])
    await other.start()
    try:
        result = await init_integration.start_reconfigure_flow(hass)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "127.0.0.1", CONF_PORT: other.ports[0]}
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "wrong_meter"
        assert init_integration.data[CONF_PORT] != other.ports[0]
    finally:
        await other.stop()


async def test_reauth_with_new_token(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    meter.token = "rotated"
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "obis_http_reauth"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "old"}
    )
    assert result["errors"] == {"base": "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_TOKEN: "rotated"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_TOKEN] == "rotated"
    await hass.async_block_till_done()


async def test_reconfigure_and_reauth_say_the_meters_own_error(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    meter.set_fault("http500", 1)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_HOST: "127.0.0.1", CONF_PORT: init_integration.data[CONF_PORT]},
    )
    assert result["errors"] == {"base": "meter_error"}
    assert result["description_placeholders"] == {"answer": "HTTP 500"}
    result = await init_integration.start_reauth_flow(hass)
    meter.set_fault("http500", 1)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {"base": "meter_error"}
    assert result["description_placeholders"]["answer"] == "HTTP 500"


async def test_reauth_refuses_another_meter(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    result = await init_integration.start_reauth_flow(hass)
    meter.serial = "SWAPPED"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "wrong_meter"
