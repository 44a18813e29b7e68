"""Adding many OBIS HTTP meters at once: a list or a range of addresses, read, confirmed.

Real simulated meters on loopback addresses (127.0.0.x), a server that hangs, ports where
nothing listens: each address is read once, the meters found are offered in one
confirmation (ticked), the failures listed with their reason, and confirming adds each
meter as its own entry through the shared path.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
import pytest_socket
from homeassistant.config_entries import SOURCE_INTEGRATION_DISCOVERY, SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.config_flow import SmartMeterConfigFlow
from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.flow import FormError
from custom_components.smart_meter_hub.kinds.obis_http import bulk
from custom_components.smart_meter_hub.kinds.obis_http.bulk import (
    MAX_ADDRESSES,
    Target,
    parse_addresses,
)
from custom_components.smart_meter_hub.kinds.obis_http.flow import CONFIRMED
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway

HOSTS = [f"127.0.0.{n}" for n in range(10, 41)]


@pytest.fixture(autouse=True)
def loopback_addresses(socket_enabled: None) -> None:
    """Let the tests connect to more loopback addresses than 127.0.0.1."""
    pytest_socket.socket_allow_hosts(["127.0.0.1", *HOSTS])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
async def fleet() -> AsyncGenerator[dict[str, Any]]:
    """Meters on 127.0.0.11, .12 and .13 (one port for all), and one on 127.0.0.1."""
    port = _free_port()
    servers: list[ObisMeterServer] = []
    meters = {}
    for n in (11, 12, 13):
        meter = SimulatedObisMeter(serial=f"SMH-BULK-{n}", seed=n)
        server = ObisMeterServer([meter], host=f"127.0.0.{n}")
        await server.start([port])
        servers.append(server)
        meters[f"127.0.0.{n}"] = meter
    local = ObisMeterServer([SimulatedObisMeter(serial="SMH-BULK-LOCAL")])
    await local.start()
    servers.append(local)
    yield {"port": port, "meters": meters, "local": local.ports[0]}
    for server in servers:
        await server.stop()


@pytest.fixture
async def hang_at() -> AsyncGenerator[Callable[..., Any]]:
    """Servers that take connections and requests, and never answer."""
    release = asyncio.Event()
    servers: list[asyncio.Server] = []
    held: list[asyncio.StreamWriter] = []

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        # Closed (``is_closing``) when the client hangs up or the test ends.
        hung_up = asyncio.ensure_future(reader.read())  # b"" once the client closes
        ended = asyncio.ensure_future(release.wait())
        await asyncio.wait((hung_up, ended), return_when=asyncio.FIRST_COMPLETED)
        hung_up.cancel()
        ended.cancel()
        writer.close()

    async def start(host: str, port: int) -> list[asyncio.StreamWriter]:
        servers.append(await asyncio.start_server(hang, host, port))
        return held

    yield start
    release.set()
    for server in servers:
        server.close()
        await server.wait_closed()


async def _open(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "obis_http_bulk"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "obis_http_bulk"
    return str(result["flow_id"])


async def _read(hass: HomeAssistant, flow_id: str, user_input: dict[str, Any]) -> Any:
    """Submit the addresses; wait for every read; return the confirmation."""
    result = await hass.config_entries.flow.async_configure(flow_id, user_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    assert result["progress_action"] == "reading_addresses"
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(flow_id)


async def test_a_range_and_a_list_are_read_confirmed_once_and_all_added(
    hass: HomeAssistant, fleet: dict[str, Any]
) -> None:
    port, local = fleet["port"], fleet["local"]
    closed = _free_port()
    flow_id = await _open(hass)
    text = f"127.0.0.10-14\n# a comment\n\n127.0.0.1:{local}\n127.0.0.1:{closed}\n"
    result = await _read(hass, flow_id, {"addresses": text, "port": port})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "obis_http_bulk_confirm"
    placeholders = result["description_placeholders"]
    assert placeholders["found"] == "4"
    assert placeholders["cannot_connect"] == (
        f"127.0.0.10:{port}, 127.0.0.14:{port}, 127.0.0.1:{closed}"
    )
    assert placeholders["skipped"] == "-"
    # Every meter found is offered, and ticked.
    schema = result["data_schema"].schema
    (field,) = schema
    assert field.default() == [
        "SMH-BULK-11",
        "SMH-BULK-12",
        "SMH-BULK-13",
        "SMH-BULK-LOCAL",
    ]

    result = await hass.config_entries.flow.async_configure(
        flow_id, {"meters": field.default()}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "bulk_added"
    assert result["description_placeholders"] == {"added": "4", "not_added": "-"}
    await hass.async_block_till_done()
    entries = {e.unique_id: e for e in hass.config_entries.async_entries(DOMAIN)}
    assert set(entries) == {
        "SMH-BULK-11",
        "SMH-BULK-12",
        "SMH-BULK-13",
        "SMH-BULK-LOCAL",
    }
    assert entries["SMH-BULK-12"].data == {
        "meter_type": "obis_http",
        "host": "127.0.0.12",
        "port": port,
    }
    assert entries["SMH-BULK-12"].title == "OBIS meter SMH-BULK-12"
    assert entries["SMH-BULK-12"].source == SOURCE_INTEGRATION_DISCOVERY
    # Nothing confirmed is left behind for another flow to take.
    assert not hass.data.get(CONFIRMED)

    # The same addresses again: every meter is there already, nothing to add.
    flow_id = await _open(hass)
    result = await _read(hass, flow_id, {"addresses": text, "port": port})
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "bulk_nothing_found"
    assert result["description_placeholders"]["skipped"] == (
        f"SMH-BULK-11 (127.0.0.11:{port}), SMH-BULK-12 (127.0.0.12:{port}), "
        f"SMH-BULK-13 (127.0.0.13:{port}), SMH-BULK-LOCAL (127.0.0.1:{local})"
    )
    assert len(hass.config_entries.async_entries(DOMAIN)) == 4


async def test_meters_already_added_are_skipped_and_only_the_ticked_ones_added(
    hass: HomeAssistant, fleet: dict[str, Any]
) -> None:
    port = fleet["port"]
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="SMH-BULK-12",
        data={"meter_type": "obis_http", "host": "127.0.0.12", "port": port},
    ).add_to_hass(hass)
    # One meter at two addresses: offered once.
    twice = ObisMeterServer([fleet["meters"]["127.0.0.11"]], host="127.0.0.15")
    await twice.start([port])
    flow_id = await _open(hass)
    # One address twice (the first line's token wins): read once.
    text = (
        f"127.0.0.11\n127.0.0.12\n127.0.0.13 a-token\n127.0.0.13:{port}\n127.0.0.15\n"
    )
    try:
        result = await _read(hass, flow_id, {"addresses": text, "port": port})
    finally:
        await twice.stop()
    placeholders = result["description_placeholders"]
    assert placeholders["found"] == "2"
    assert placeholders["skipped"] == (
        f"SMH-BULK-12 (127.0.0.12:{port}), SMH-BULK-11 (127.0.0.15:{port})"
    )
    (field,) = result["data_schema"].schema
    assert field.default() == ["SMH-BULK-11", "SMH-BULK-13"]

    # Nothing ticked: said, and asked again.
    result = await hass.config_entries.flow.async_configure(flow_id, {"meters": []})
    assert result["errors"] == {"meters": "nothing_selected"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"meters": ["SMH-BULK-13"]}
    )
    assert result["description_placeholders"]["added"] == "1"
    await hass.async_block_till_done()
    added = hass.config_entries.async_entries(DOMAIN)
    assert sorted(e.unique_id for e in added) == ["SMH-BULK-12", "SMH-BULK-13"]
    # The line's own token goes with its meter (the simulator takes any).
    (meter13,) = [e for e in added if e.unique_id == "SMH-BULK-13"]
    assert meter13.data["token"] == "a-token"


async def test_a_meter_added_meanwhile_is_not_added_twice(
    hass: HomeAssistant, fleet: dict[str, Any]
) -> None:
    port = fleet["port"]
    flow_id = await _open(hass)
    result = await _read(
        hass, flow_id, {"addresses": "127.0.0.11-13", "port": port, "path": "/api/read"}
    )
    # Another flow adds one of them before this one is confirmed.
    MockConfigEntry(
        domain=DOMAIN,
        unique_id="SMH-BULK-11",
        data={"meter_type": "obis_http", "host": "127.0.0.11", "port": port},
    ).add_to_hass(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"meters": ["SMH-BULK-11", "SMH-BULK-12", "SMH-BULK-13"]}
    )
    assert result["description_placeholders"] == {
        "added": "2",
        "not_added": "SMH-BULK-11",
    }
    await hass.async_block_till_done()
    assert len(hass.config_entries.async_entries(DOMAIN)) == 3
    assert hass.config_entries.async_entries(DOMAIN)[1].data["path"] == "/api/read"


async def test_failures_are_listed_per_address_with_their_reason(
    hass: HomeAssistant, fleet: dict[str, Any], gateway: Sdm630Gateway
) -> None:
    port = fleet["port"]
    meters: dict[str, SimulatedObisMeter] = fleet["meters"]
    meters["127.0.0.11"].token = "right"
    meters["127.0.0.12"].set_fault("http500")
    meters["127.0.0.13"].missing.add("0-0:96.1.0")
    flow_id = await _open(hass)
    text = (
        f"127.0.0.11 wrong\n127.0.0.12\n127.0.0.13\n127.0.0.1:{gateway.port}\n"
        f"127.0.0.1:{fleet['local']}\n"
    )
    with patch.object(bulk, "PROBE_TIMEOUT", 1.0):
        result = await _read(hass, flow_id, {"addresses": text, "port": port})
    placeholders = result["description_placeholders"]
    assert placeholders["invalid_auth"] == f"127.0.0.11:{port}"
    assert placeholders["meter_error"] == f"127.0.0.12:{port}"
    assert placeholders["no_serial"] == f"127.0.0.13:{port}"
    # A Modbus gateway takes the connection and the request, and never answers HTTP.
    assert placeholders["no_answer"] == f"127.0.0.1:{gateway.port}"
    assert placeholders["found"] == "1"


async def test_a_hanging_host_costs_the_timeout_and_the_rest_is_read(
    hass: HomeAssistant, fleet: dict[str, Any], hang_at: Callable[..., Any]
) -> None:
    """A host that takes connections and never answers is bounded by the timeout."""
    await hang_at("127.0.0.20", fleet["port"])
    flow_id = await _open(hass)
    started = time.monotonic()
    with patch.object(bulk, "PROBE_TIMEOUT", 1.0):
        result = await _read(
            hass,
            flow_id,
            {"addresses": "127.0.0.11-13\n127.0.0.20", "port": fleet["port"]},
        )
    assert time.monotonic() - started < 4
    assert result["description_placeholders"]["no_answer"] == (
        f"127.0.0.20:{fleet['port']}"
    )
    assert result["description_placeholders"]["found"] == "3"


@pytest.mark.parametrize(
    ("text", "error", "placeholders"),
    [
        ("127.0.0.0-127.0.4.255", "too_many_addresses", {"count": "1280"}),
        ("10.0.0.0-10.255.255.255", "too_many_addresses", {"count": "16777216"}),
        ("127.0.0.1\n" * 2 + "127.0.1.0-255\n" * 4, "too_many_addresses", {}),
        ("not a host at all", "invalid_address", {"line": "not a host at all"}),
        ("127.0.0.1:99999", "invalid_address", {}),
        ("127.0.0.9-127.0.0.1", "invalid_address", {}),
        ("bad_host!", "invalid_address", {}),
        ("[::1", "invalid_address", {}),
        ("[::1]x", "invalid_address", {}),
        ("\n# only a comment\n", "no_addresses", {}),
    ],
)
async def test_an_address_list_that_cannot_be_read_is_refused_with_the_reason(
    hass: HomeAssistant, text: str, error: str, placeholders: dict[str, str]
) -> None:
    flow_id = await _open(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"addresses": text, "port": 80}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"addresses": error}
    assert result["description_placeholders"]["limit"] == str(MAX_ADDRESSES)
    for key, value in placeholders.items():
        assert result["description_placeholders"][key] == value


def test_every_form_of_address() -> None:
    assert parse_addresses(
        "meter-1.local\nMeter2:8080 tok\n[::1]:81\n[::1]\n::1\n"
        "192.168.1.254-192.168.2.1:82\n",
        80,
        "default",
    ) == [
        Target("meter-1.local", 80, "default"),
        Target("meter2", 8080, "tok"),
        Target("::1", 81, "default"),
        Target("::1", 80, "default"),
        Target("192.168.1.254", 82, "default"),
        Target("192.168.1.255", 82, "default"),
        Target("192.168.2.0", 82, "default"),
        Target("192.168.2.1", 82, "default"),
    ]
    assert str(Target("::1", 81)) == "[::1]:81"
    with pytest.raises(FormError):
        parse_addresses("a b c", 80, None)
    assert bulk.listed([]) == "-"
    assert bulk.listed([f"h{n}" for n in range(53)]).endswith("h49 (+3)")


@pytest.mark.parametrize("progress_bar", [True, False])
async def test_progress_is_shown_and_closing_the_flow_stops_the_reads(
    hass: HomeAssistant,
    fleet: dict[str, Any],
    hang_at: Callable[..., Any],
    progress_bar: bool,
) -> None:
    """While the addresses are read the flow shows its progress (with a bar where Home
    Assistant has one); closing the flow cancels the reads."""
    held = await hang_at("127.0.0.21", fleet["port"])
    bar = MagicMock() if progress_bar else None
    with patch.object(SmartMeterConfigFlow, "async_update_progress", bar, create=True):
        flow_id = await _open(hass)
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {"addresses": "127.0.0.11\n127.0.0.21", "port": fleet["port"]},
        )
        assert result["type"] is FlowResultType.SHOW_PROGRESS
        assert result["description_placeholders"]["count"] == "2"
        await _until(lambda: len(held) == 1)
        await _until(lambda: bar is None or bar.call_count == 1)
        if bar is not None:
            bar.assert_called_once_with(0.5)
        assert not held[0].is_closing()
        hass.config_entries.flow.async_abort(flow_id)
        # At once, not after the read's 5 s: the read in flight is dropped.
        async with asyncio.timeout(1):
            while not held[0].is_closing():
                await asyncio.sleep(0.01)


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


async def test_only_meters_a_user_confirmed_are_added_by_discovery(
    hass: HomeAssistant,
) -> None:
    for data in (
        {"meter_type": "obis_http"},
        {"meter_type": "obis_http", "confirmed": "not-a-key"},
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=data
        )
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "not_supported"
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_an_unexpected_error_reading_one_address_is_listed_and_logged(
    hass: HomeAssistant, fleet: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    flow_id = await _open(hass)
    with patch(
        "custom_components.smart_meter_hub.meters.obis_http.ObisHttpClient.read",
        side_effect=RuntimeError("boom"),
    ):
        result = await _read(
            hass, flow_id, {"addresses": "127.0.0.11", "port": fleet["port"]}
        )
    assert result["type"] is FlowResultType.ABORT
    assert (
        result["description_placeholders"]["unknown"] == f"127.0.0.11:{fleet['port']}"
    )
    assert "Unexpected error while reading 127.0.0.11" in caplog.text


async def test_a_read_that_outlasts_its_own_timeout_is_no_answer(
    hass: HomeAssistant,
) -> None:
    async def forever(*_args: object) -> None:
        await asyncio.sleep(3600)

    with patch(
        "custom_components.smart_meter_hub.meters.obis_http.ObisHttpClient.read",
        forever,
    ):
        result = await bulk.probe(hass, Target("127.0.0.11", 80), None, 0.01)
    assert result == bulk.Failed(Target("127.0.0.11", 80), "no_answer")
