"""Adding an Xcel meter: "refused our certificate" is not "nothing answers" (#12).

A meter that answers and refuses the identity is waited for (the pending step); an
address where nothing answers is a form error, nothing saved; the same meter entered by
host name after its IP (or the other way round) is one meter, waiting entries included.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator
from typing import Any
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, ConfigEntryDisabler
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.xcel.flow import async_addresses
from custom_components.smart_meter_hub.kinds.xcel.identity import async_stored_identity
from meter_sim.xcel import FakeXcelMeter


@pytest.fixture
async def xcel(socket_enabled: None) -> AsyncGenerator[FakeXcelMeter]:
    meter = FakeXcelMeter()
    await meter.start()
    yield meter
    await meter.stop()


async def _address_step(hass: HomeAssistant) -> str:
    """Start adding an Xcel meter (a new identity); the flow at its address step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel"}
    )
    if result["type"] is FlowResultType.MENU:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "xcel_generate"}
        )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "xcel_address"
    return str(result["flow_id"])


async def _enter(hass: HomeAssistant, flow_id: str, host: str, port: int) -> Any:
    return await hass.config_entries.flow.async_configure(
        flow_id, {"host": host, "port": port}
    )


async def _approve(hass: HomeAssistant, meter: FakeXcelMeter) -> None:
    identity = await async_stored_identity(hass)
    assert identity is not None
    meter.register(identity.certificate_pem)


async def test_nothing_answering_is_a_form_error_not_a_waiting_meter(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    flow_id = await _address_step(hass)
    await xcel.go_down()  # connection refused: nothing listens there
    result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "xcel_address"
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)
    # The way forward: the right address (here: the meter is back), then it waits.
    await xcel.come_back()
    result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["step_id"] == "xcel_pending"  # it answered, and refused us


async def test_a_silent_agent_is_a_form_error_too(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    flow_id = await _address_step(hass)
    xcel.fault = "hang"  # TCP accepted, no TLS answer
    with patch("custom_components.smart_meter_hub.kinds.xcel.flow.PROBE_TIMEOUT", 0.3):
        result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["errors"] == {"base": "cannot_connect"}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_a_meter_busy_with_another_client_is_not_taken_for_unapproved(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    flow_id = await _address_step(hass)
    await _approve(hass, xcel)
    # Another program holds the meter's one connection: every handshake is dropped.
    with xcel.held_by_another_client():
        result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["errors"] == {"base": "cannot_connect"}
    assert xcel.refused == 2  # tried, and tried once more
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_the_same_meter_by_name_is_refused_after_its_address(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    # Neither an entry of a kind with no address, nor another kind's meter or another
    # Xcel meter at another host on the port is one (disabled: they are listed, never
    # set up).
    for data in (
        {"meter_type": "virtual"},
        {"meter_type": "obis_http", "host": "192.0.2.7", "port": xcel.port},
        {"meter_type": "xcel", "host": "192.0.2.8", "port": xcel.port},
    ):
        MockConfigEntry(
            domain=DOMAIN, data=data, disabled_by=ConfigEntryDisabler.USER
        ).add_to_hass(hass)
    flow_id = await _address_step(hass)
    await _approve(hass, xcel)
    result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    connections = xcel.connections
    # The entry holds the meter's one connection; the same meter by its name:
    flow_id = await _address_step(hass)
    result = await _enter(hass, flow_id, "localhost", xcel.port)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert xcel.connections == connections  # refused before any connection
    assert len(hass.config_entries.async_entries(DOMAIN)) == 4


async def test_a_waiting_meter_by_address_is_refused_after_its_name(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    flow_id = await _address_step(hass)
    result = await _enter(hass, flow_id, "localhost", xcel.port)
    assert result["step_id"] == "xcel_pending"
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id is None  # the meter is not known yet
    await hass.async_block_till_done()
    flow_id = await _address_step(hass)
    result = await _enter(hass, flow_id, "127.0.0.1", xcel.port)
    assert result["reason"] == "already_configured"
    # Another port of the same host is another address.
    flow_id = await _address_step(hass)
    await xcel.go_down()
    result = await _enter(hass, flow_id, "localhost", xcel.port)
    assert result["reason"] == "already_configured"
    flow_id = await _address_step(hass)
    result = await _enter(hass, flow_id, "127.0.0.1", xcel.port + 1)
    assert result["errors"] == {"base": "cannot_connect"}
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_a_pending_step_finished_twice_saves_one_entry(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    first, second = await _address_step(hass), await _address_step(hass)
    for flow_id, host in ((first, "127.0.0.1"), (second, "localhost")):
        result = await _enter(hass, flow_id, host, xcel.port)
        assert result["step_id"] == "xcel_pending"
    result = await hass.config_entries.flow.async_configure(first, {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    result = await hass.config_entries.flow.async_configure(second, {})
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", {"127.0.0.1"}),
        (" 127.0.0.1 ", {"127.0.0.1"}),
        ("::ffff:7f00:1", {"::ffff:127.0.0.1"}),
    ],
)
async def test_addresses_of_a_host(host: str, expected: set[str]) -> None:
    assert await async_addresses(host) == expected


async def test_a_name_that_does_not_resolve_stands_for_itself() -> None:
    loop = asyncio.get_running_loop()
    unknown = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    with patch.object(loop, "getaddrinfo", side_effect=unknown):
        assert await async_addresses("No-Such-Host.invalid") == {"no-such-host.invalid"}


async def test_a_name_stands_for_its_addresses() -> None:
    assert "127.0.0.1" in await async_addresses("localhost")
    assert "localhost" in await async_addresses("LocalHost")
    with patch("asyncio.timeout", side_effect=TimeoutError):
        assert await async_addresses("localhost") == {"localhost"}


async def test_another_kind_of_meter_at_the_address_is_asked_not_taken_for_this_one(
    hass: HomeAssistant, init_integration: MockConfigEntry, port: int
) -> None:
    """An OBIS meter's address typed into the Xcel flow: the flow asks what answers
    there (no Xcel meter: a form error) instead of 'This meter is already configured'."""
    flow_id = await _address_step(hass)
    result = await _enter(hass, flow_id, "127.0.0.1", port)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "xcel_address"
    assert result["errors"] in (
        {"base": "cannot_connect"},
        {"base": "invalid_response"},
    )
    assert hass.config_entries.async_entries(DOMAIN) == [init_integration]
