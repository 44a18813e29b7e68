"""Finding the meters on a gateway's bus: every unit id of a range asked, the meters found
offered ticked, the entry created with the ones kept.

A real simulated gateway on a loopback port, in each of its ways to treat a unit id no
meter has: silent, a gateway's exception, answering for every unit id.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable
from typing import Any
from unittest.mock import MagicMock, patch

import pytest
from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.smart_meter_hub.config_flow import SmartMeterConfigFlow
from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from tests.helpers import (
    async_add_gateway,
    async_open_gateway_form,
    start_reconfigure,
    state_of,
)


def _not_eastron(serial: int = 9999) -> SimulatedSdm630:
    """A device on the bus that answers, but has no Eastron serial number register."""
    return SimulatedSdm630(serial=serial, fault="exception", exception_code=2)


@pytest.fixture
async def start_gateway(
    socket_enabled: None,
) -> AsyncGenerator[Callable[..., Any]]:
    """Start gateways on loopback; each is stopped at the end of the test."""
    started: list[Sdm630Gateway] = []

    async def start(
        units: dict[int, SimulatedSdm630], **settings: Any
    ) -> Sdm630Gateway:
        gateway = Sdm630Gateway(units, **settings)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


def _gateway_input(
    gateway: Sdm630Gateway, framing: str | None = None
) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": gateway.port,
        "framing": framing or gateway.framing,
        "unit_ids": "1",
        "find_meters": True,
    }


async def _start_scan(
    hass: HomeAssistant,
    flow_id: str,
    gateway_input: dict[str, Any],
    first: int,
    last: int,
) -> Any:
    """Tick "find the meters", pick the range; the progress indicator shows."""
    result = await hass.config_entries.flow.async_configure(flow_id, gateway_input)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sdm630_scan"
    assert result["data_schema"]({}) == {"first_unit": 1, "last_unit": 247}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"first_unit": first, "last_unit": last}
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    assert result["progress_action"] == "scanning_bus"
    return result


async def _scan(
    hass: HomeAssistant,
    flow_id: str,
    gateway_input: dict[str, Any],
    first: int = 1,
    last: int = 5,
) -> Any:
    """Scan the range; return what the flow shows once the scan is over."""
    await _start_scan(hass, flow_id, gateway_input, first, last)
    await hass.async_block_till_done()
    return await hass.config_entries.flow.async_configure(flow_id)


def _offered(result: Any) -> tuple[list[str], list[str]]:
    """The meters the confirmation lists (their labels), and the ones ticked."""
    options = result["data_schema"].schema["meters"].config["options"]
    return [option["label"] for option in options], result["data_schema"]({})["meters"]


def _library_complaints(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.WARNING
        and record.name.startswith(("pymodbus", "tmodbus"))
    ]


async def test_meters_found_are_ticked_and_the_entry_created_with_them(
    hass: HomeAssistant,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gateway.units[4] = _not_eastron()
    flow_id = await async_open_gateway_form(hass)
    result = await _start_scan(hass, flow_id, _gateway_input(gateway), 1, 5)
    assert result["description_placeholders"] == {
        "first": "1",
        "last": "5",
        "timeout": "0.3",
    }
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(flow_id)
    assert result["step_id"] == "sdm630_found"
    labels, ticked = _offered(result)
    assert labels == ["unit 1: SDM630 serial 1001", "unit 2: SDM630 serial 1002"]
    assert ticked == ["1", "2"]
    # The device at unit 4 answered, but is no Eastron meter: said, not offered.
    assert result["description_placeholders"] == {"found": "2", "strangers": "4"}
    # Silent unit ids (3, 5) are expected: nothing about them in the system log.
    assert _library_complaints(caplog) == []

    result = await hass.config_entries.flow.async_configure(flow_id, {"meters": []})
    assert result["errors"] == {"meters": "nothing_selected"}
    result = await hass.config_entries.flow.async_configure(flow_id, {"meters": ticked})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert entry.title == f"SDM630 gateway 127.0.0.1:{gateway.port}"
    assert [(m["unit"], m["serial"]) for m in entry.data["meters"]] == [
        (1, "1001"),
        (2, "1002"),
    ]
    await hass.async_block_till_done()
    for serial in ("1001", "1002"):
        assert float(state_of(hass, f"sensor.sdm630_{serial}_energy_import")) > 0


async def test_only_the_meters_left_ticked_are_added(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    flow_id = await async_open_gateway_form(hass)
    result = await _scan(hass, flow_id, _gateway_input(gateway), 1, 2)
    result = await hass.config_entries.flow.async_configure(flow_id, {"meters": ["2"]})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert [m["serial"] for m in result["result"].data["meters"]] == ["1002"]
    await hass.async_block_till_done()
    assert hass.states.get("sensor.sdm630_1001_energy_import") is None


async def test_a_range_the_wrong_way_round_is_refused(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    flow_id = await async_open_gateway_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, _gateway_input(gateway)
    )
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"first_unit": 9, "last_unit": 3}
    )
    assert result["step_id"] == "sdm630_scan"
    assert result["errors"] == {"last_unit": "invalid_scan_range"}
    assert gateway.connections == 0  # nothing asked yet


@pytest.mark.parametrize("progress_bar", [True, False])
async def test_closing_the_flow_stops_the_scan_and_closes_the_connection(
    hass: HomeAssistant, start_gateway: Callable[..., Any], progress_bar: bool
) -> None:
    """The progress moves (with a bar where Home Assistant has one); closing the dialog
    stops the scan at once, its connection closed at the gateway."""
    gateway = await start_gateway(
        {1: SimulatedSdm630(serial=1001)}, absent="gateway_exception"
    )
    bar = MagicMock() if progress_bar else None
    with patch.object(SmartMeterConfigFlow, "async_update_progress", bar, create=True):
        flow_id = await async_open_gateway_form(hass)
        await _start_scan(hass, flow_id, _gateway_input(gateway), 1, 247)
        await _until(lambda: gateway.open_connections == 1)
        await _until(lambda: bar is None or bar.call_count >= 3)
        if bar is not None:
            assert bar.call_args_list[0].args == (1 / 247,)
        hass.config_entries.flow.async_abort(flow_id)
        async with asyncio.timeout(1):
            while gateway.open_connections:
                await asyncio.sleep(0.01)
    connections = gateway.connections
    await asyncio.sleep(0.5)
    assert gateway.connections == connections  # nothing asked any more
    assert not hass.config_entries.flow.async_progress()


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("absent", "stopped_at"), [("mirror", "3"), ("exception", "18")]
)
async def test_a_gateway_answering_for_every_unit_id_is_said_early(
    hass: HomeAssistant,
    start_gateway: Callable[..., Any],
    absent: str,
    stopped_at: str,
) -> None:
    """The same meter again at unit 3, or 16 unit ids in a row that are no meter: the
    scan stops there, and the gateway form says why, instead of offering 247 meters."""
    gateway = await start_gateway(
        {1: SimulatedSdm630(serial=1001), 2: SimulatedSdm630(serial=1002, seed=2)},
        absent=absent,
    )
    flow_id = await async_open_gateway_form(hass)
    started = time.monotonic()
    result = await _scan(hass, flow_id, _gateway_input(gateway), 1, 247)
    assert time.monotonic() - started < 10
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sdm630"
    assert result["errors"] == {"base": "bus_every_unit"}
    assert result["description_placeholders"] == {"unit": stopped_at}
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_a_gateway_exception_for_an_empty_unit_id_is_no_device(
    hass: HomeAssistant, start_gateway: Callable[..., Any]
) -> None:
    """A Modbus TCP gateway says "no answer from the target" at once: no device there,
    and no time lost waiting."""
    gateway = await start_gateway(
        {3: SimulatedSdm630(serial=1003)}, absent="gateway_exception"
    )
    flow_id = await async_open_gateway_form(hass)
    started = time.monotonic()
    result = await _scan(hass, flow_id, _gateway_input(gateway), 1, 24)
    assert time.monotonic() - started < 10
    assert _offered(result) == (["unit 3: SDM630 serial 1003"], ["3"])
    assert result["description_placeholders"]["strangers"] == "-"


@pytest.mark.parametrize(
    ("units", "error", "placeholders"),
    [
        ({}, "bus_nothing_answers", {"first": "1", "last": "4"}),
        (
            {2: _not_eastron(), 4: _not_eastron(9998)},
            "bus_no_eastron",
            {"first": "1", "last": "4", "units": "2, 4"},
        ),
    ],
)
async def test_no_meter_on_the_bus_is_said(
    hass: HomeAssistant,
    start_gateway: Callable[..., Any],
    caplog: pytest.LogCaptureFixture,
    units: dict[int, SimulatedSdm630],
    error: str,
    placeholders: dict[str, str],
) -> None:
    gateway = await start_gateway(units)
    flow_id = await async_open_gateway_form(hass)
    started = time.monotonic()
    result = await _scan(hass, flow_id, _gateway_input(gateway), 1, 4)
    # Each silent unit id costs a short timeout (0.3 s), not a poll's.
    assert time.monotonic() - started < 6
    assert result["step_id"] == "sdm630"
    assert result["errors"] == {"base": error}
    assert result["description_placeholders"] == placeholders
    assert _library_complaints(caplog) == []
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_a_gateway_that_cannot_be_reached_is_said(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    flow_id = await async_open_gateway_form(hass)
    result = await _scan(hass, flow_id, {**_gateway_input(gateway), "port": 1}, 1, 247)
    assert result["step_id"] == "sdm630"
    assert result["errors"] == {"base": "cannot_connect"}


async def test_rtu_framing_the_wrong_framing_named_then_the_meters_found(
    hass: HomeAssistant, start_gateway: Callable[..., Any]
) -> None:
    """Meters behind a transparent converter: asked in Modbus TCP, the flow says to
    choose RTU over TCP; in RTU, the meters are found, and the one that does not say
    its model is asked about."""
    gateway = await start_gateway(
        {
            1: SimulatedSdm630(serial=2001, model="SDM230"),
            3: SimulatedSdm630(serial=2003, seed=3),
        },
        framing="rtu",
    )
    flow_id = await async_open_gateway_form(hass)
    result = await _scan(hass, flow_id, _gateway_input(gateway, "tcp"), 1, 4)
    assert result["step_id"] == "sdm630"
    assert result["errors"] == {"base": "wrong_framing"}
    assert result["description_placeholders"] == {"framing": "RTU over TCP"}

    result = await _scan(hass, flow_id, _gateway_input(gateway, "rtu"), 1, 4)
    labels, ticked = _offered(result)
    assert labels == ["unit 1: Eastron serial 2001", "unit 3: SDM630 serial 2003"]
    result = await hass.config_entries.flow.async_configure(flow_id, {"meters": ticked})
    assert result["step_id"] == "sdm630_model"
    assert result["description_placeholders"]["unit"] == "1"
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"model": "SDM230"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: ConfigEntry = result["result"]
    assert entry.data["framing"] == "rtu"
    assert [(m["unit"], m["model"]) for m in entry.data["meters"]] == [
        (1, "SDM230"),
        (3, "SDM630"),
    ]
    await hass.async_block_till_done()
    assert float(state_of(hass, "sensor.sdm230_2001_energy_import")) > 0


async def test_reconfigure_finds_the_meters_added_to_the_bus(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await async_add_gateway(hass, gateway, "1")
    hass.config_entries.async_update_entry(
        entry, options={**entry.options, "request_spacing": 500}
    )
    await hass.async_block_till_done()
    result = await start_reconfigure(hass, entry)
    flow_id = result["flow_id"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, _gateway_input(gateway)
    )
    # The pace is the gateway's own: (0.3 + 0.05 + 0.5) s per unit id, 247 of them.
    assert result["description_placeholders"] == {"timeout": "0.3", "minutes": "3"}
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"first_unit": 1, "last_unit": 3}
    )
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(flow_id)
    assert _offered(result)[1] == ["1", "2"]
    result = await hass.config_entries.flow.async_configure(
        flow_id, {"meters": ["1", "2"]}
    )
    assert result["reason"] == "reconfigure_successful"
    assert [m["serial"] for m in entry.data["meters"]] == ["1001", "1002"]
    await hass.async_block_till_done()
    assert float(state_of(hass, "sensor.sdm630_1002_energy_import")) > 0


async def test_reconfigure_says_what_the_scan_found_on_its_own_form(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await async_add_gateway(hass, gateway, "1")
    result = await start_reconfigure(hass, entry)
    flow_id = result["flow_id"]
    result = await _scan(hass, flow_id, _gateway_input(gateway), 5, 6)
    assert result["step_id"] == "sdm630_reconfigure"
    assert result["errors"] == {"base": "bus_nothing_answers"}
    assert entry.data["meters"][0]["unit"] == 1  # unchanged
