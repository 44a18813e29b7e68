"""Xcel / Itron meters in Home Assistant: identity, approval, discovery, pinning, faults.

Every test talks to the fake Itron meter over real TLS 1.2 (CCM8, client certificates).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from unittest.mock import patch

import pytest
from homeassistant.config_entries import SOURCE_USER, SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.diagnostics import (
    async_get_config_entry_diagnostics,
)
from custom_components.smart_meter_hub.kinds.xcel.identity import async_stored_identity
from custom_components.smart_meter_hub.meters.sep2_identity import (
    Identity,
    generate_identity,
)
from meter_sim.xcel import FakeXcelMeter, load_capture

from .helpers import start_reconfigure, state_of


@pytest.fixture
async def xcel(socket_enabled: None) -> AsyncGenerator[FakeXcelMeter]:
    meter = FakeXcelMeter()
    await meter.start()
    yield meter
    await meter.stop()


async def _to_register(hass: HomeAssistant, source: dict | None = None) -> dict:
    """Start an Xcel flow and create the identity; return the register step."""
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
    assert result["step_id"] == "xcel_register"
    return result


async def _approve(hass: HomeAssistant, meter: FakeXcelMeter) -> Identity:
    """The utility approves the installation's identity (made earlier in the flow)."""
    identity = await async_stored_identity(hass)
    assert identity is not None
    meter.register(identity.certificate_pem)
    return identity


async def _address(hass: HomeAssistant, flow_id: str, meter: FakeXcelMeter) -> dict:
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["step_id"] == "xcel_address"
    return await hass.config_entries.flow.async_configure(
        flow_id, {"host": "127.0.0.1", "port": meter.port}
    )


async def _until(hass: HomeAssistant, condition: Callable[[], bool]) -> None:
    """Let Home Assistant and the fake meter (it answers from a thread) catch up."""
    for _ in range(200):
        await hass.async_block_till_done()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"condition not reached in 10 s: {[(e.state, e.reason) for e in hass.config_entries.async_entries(DOMAIN)]}"
    )


async def test_new_identity_waits_for_approval_then_reads(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    result = await _to_register(hass)
    identity = await async_stored_identity(hass)
    assert identity is not None
    lfdi = result["description_placeholders"]["lfdi"]
    assert lfdi.replace("-", "") == identity.lfdi
    assert [len(group) for group in lfdi.split("-")] == [5] * 8
    assert result["description_placeholders"]["sfdi"] == str(identity.sfdi)

    # Not approved yet: the user is told, and can finish and wait.
    result = await _address(hass, result["flow_id"], xcel)
    assert result["step_id"] == "xcel_pending"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    issue = issue_registry.async_get_issue(DOMAIN, f"not_approved_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["lfdi"] == lfdi

    # The utility approves the LFDI: the next retry reads, with no user action.
    xcel.register(identity.certificate_pem)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(minutes=2), fire_all=True
    )
    await _until(hass, lambda: entry.state is ConfigEntryState.LOADED)
    sfdi = str(xcel.identity.sfdi)
    assert entry.unique_id == sfdi
    assert entry.title == f"Xcel meter {sfdi}"
    assert entry.data["meter_lfdi"] == xcel.lfdi  # pinned from now on
    assert not issue_registry.async_get_issue(DOMAIN, f"not_approved_{entry.entry_id}")
    net = float(state_of(hass, f"sensor.xcel_meter_{sfdi}_net_power"))
    assert net == pytest.approx(2439, abs=300)
    energy = float(state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_import"))
    assert energy == pytest.approx(42239.863, abs=1)


async def test_approved_meter_is_added_at_once_and_only_once(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    result = await _to_register(hass)
    identity = await _approve(hass, xcel)
    result = await _address(hass, result["flow_id"], xcel)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Xcel meter {xcel.identity.sfdi}"
    await hass.async_block_till_done()
    sfdi = xcel.identity.sfdi
    assert float(state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_export")) > 8000
    diagnostics = await async_get_config_entry_diagnostics(hass, result["result"])
    text = str(diagnostics)
    assert "PRIVATE KEY" not in text
    assert "CERTIFICATE" not in text
    assert xcel.lfdi not in text

    # A second flow uses the same identity (no new registration) and refuses a duplicate.
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel"}
    )
    assert result["step_id"] == "xcel_register"
    assert result["description_placeholders"]["sfdi"] == str(identity.sfdi)
    result = await _address(hass, result["flow_id"], xcel)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_import_names_each_problem_then_keeps_the_lfdi(
    hass: HomeAssistant, xcel: FakeXcelMeter, tmp_path: Path
) -> None:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel_import"}
    )
    flow_id = result["flow_id"]
    mine, other = generate_identity(), generate_identity()
    attempts = [
        (
            {"certificate": "not a pem", "private_key": "nor this"},
            "identity_file_not_found",
        ),
        (
            {
                "certificate": "-----BEGIN CERTIFICATE-----\nxx",
                "private_key": mine.key_pem,
            },
            "identity_invalid_pem",
        ),
        (
            {"certificate": mine.certificate_pem, "private_key": other.key_pem},
            "identity_key_mismatch",
        ),
    ]
    for user_input, error in attempts:
        result = await hass.config_entries.flow.async_configure(flow_id, user_input)
        assert result["errors"] == {"base": error}
    (tmp_path / "cert.pem").write_text(mine.certificate_pem)
    (tmp_path / "key.pem").write_text(mine.key_pem)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "certificate": str(tmp_path / "cert.pem"),
            "private_key": str(tmp_path / "key.pem"),
        },
    )
    assert result["step_id"] == "xcel_register"
    assert result["description_placeholders"]["lfdi"].replace("-", "") == mine.lfdi
    stored = await async_stored_identity(hass)
    assert stored is not None
    assert stored.lfdi == mine.lfdi
    assert not hass.config_entries.async_entries(DOMAIN)


def _discovery(meter: FakeXcelMeter, host: str = "127.0.0.1") -> ZeroconfServiceInfo:
    name = f"itrondnsserver-{meter.identity.sfdi}._smartenergy._tcp.local."
    return ZeroconfServiceInfo(
        ip_address=ip_address(host),
        ip_addresses=[ip_address(host)],
        hostname=f"itrondnsserver-{meter.identity.sfdi}.local.",
        name=name,
        port=meter.port,
        type="_smartenergy._tcp.local.",
        properties={"txtvers": "1", "dcap": "/dcap", "https": str(meter.port)},
    )


async def test_discovery_shows_each_meter_by_sfdi_and_follows_a_new_address(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    neighbour = FakeXcelMeter()
    await neighbour.start()
    try:
        flows = []
        for meter in (xcel, neighbour):
            result = await hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_ZEROCONF}, data=_discovery(meter)
            )
            flows.append(result)
        progress = hass.config_entries.flow.async_progress()
        titles = {flow["context"]["title_placeholders"]["name"] for flow in progress}
        assert titles == {
            f"Xcel meter {xcel.identity.sfdi}",
            f"Xcel meter {neighbour.identity.sfdi}",
        }
        flow_id = flows[0]["flow_id"]
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"next_step_id": "xcel_generate"}
        )
        assert result["step_id"] == "xcel_register"
        await _approve(hass, xcel)
        # The user picks their own meter: address prefilled from the discovery.
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["step_id"] == "xcel_address"
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"host": "127.0.0.1", "port": xcel.port}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        await hass.async_block_till_done()
        # The meter got a new address: rediscovery updates the entry.
        moved = _discovery(xcel, "127.0.0.2")
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=moved
        )
        assert result["reason"] == "already_configured"
        assert entry.data["host"] == "127.0.0.2"
        # Something else on the service type: not offered.
        other = _discovery(xcel)
        other.name = "printer._smartenergy._tcp.local."
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=other
        )
        assert result["reason"] == "not_xcel_meter"
    finally:
        await neighbour.stop()


async def _added(hass: HomeAssistant, meter: FakeXcelMeter):
    result = await _to_register(hass)
    identity = await _approve(hass, meter)
    result = await _address(hass, result["flow_id"], meter)
    await hass.async_block_till_done()
    return result["result"], identity


async def test_another_meter_at_the_address_is_refused(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    entry, identity = await _added(hass, xcel)
    stranger = FakeXcelMeter()
    stranger.register(identity.certificate_pem)
    await stranger.start()
    try:
        # Reconfiguring onto another meter is refused...
        result = await start_reconfigure(hass, entry)
        assert result["step_id"] == "xcel_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"host": "127.0.0.1", "port": stranger.port, "new_identity": False},
        )
        assert result["reason"] == "wrong_meter"
        # ...and so is another meter that takes over the address.
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, "port": stranger.port}
        )
        await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert issue_registry.async_get_issue(DOMAIN, f"wrong_meter_{entry.entry_id}")
    finally:
        await stranger.stop()


async def test_an_abandoned_reconfigure_leaves_the_meter_reading(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    entry, _identity = await _added(hass, xcel)
    sfdi = entry.unique_id
    result = await start_reconfigure(hass, entry)
    # The check lets go of the entry's connection; nothing answers at the new address.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": 1, "new_identity": False}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    hass.config_entries.flow.async_abort(result["flow_id"])
    # The meter is read again at its old address, on a connection of its own.
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()
    assert entry.runtime_data.last_update_success
    assert state_of(hass, f"sensor.xcel_meter_{sfdi}_net_power") != "unavailable"


async def test_reconfigure_address_and_explicit_new_identity(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    entry, identity = await _added(hass, xcel)
    result = await start_reconfigure(hass, entry)
    # Nothing answers there: a form error, nothing saved.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": 1, "new_identity": False}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": "localhost", "port": xcel.port, "new_identity": False},
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["host"] == "localhost"
    await hass.async_block_till_done()

    # Replacing the identity is explicit, and means a new registration.
    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": "localhost", "port": xcel.port, "new_identity": True},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    replaced = await async_stored_identity(hass)
    assert replaced is not None
    assert replaced.lfdi != identity.lfdi
    issue_id = f"not_approved_{entry.entry_id}"
    await _until(hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id))
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["lfdi"].replace("-", "") == replaced.lfdi


async def test_meter_answering_nonsense_is_a_form_error(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    result = await _to_register(hass)
    await _approve(hass, xcel)
    xcel.capture.pop("/dcap")  # not an IEEE 2030.5 server
    result = await _address(hass, result["flow_id"], xcel)
    assert result["errors"] == {"base": "invalid_response"}
    with patch(
        "custom_components.smart_meter_hub.kinds.xcel.flow.async_probe",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"host": "127.0.0.1", "port": xcel.port}
        )
    assert result["errors"] == {"base": "unknown"}
    entry = next(iter(hass.config_entries.async_entries(DOMAIN)), None)
    assert entry is None


async def test_hung_agent_backs_off_then_raises_a_repair_after_hours(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    issue_registry: ir.IssueRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    entry, _identity = await _added(hass, xcel)
    coordinator = entry.runtime_data
    backend = coordinator.backend
    clock = [dt_util.utcnow()]
    monkeypatch.setattr(
        "custom_components.smart_meter_hub.kinds.xcel.backend.dt_util.utcnow",
        lambda: clock[0],
    )
    await backend.client.close()
    xcel.fault = "hang"  # TCP accepted, nothing more, for hours
    backend.client.timeout = 0.2
    sfdi = xcel.identity.sfdi
    await coordinator.async_refresh()
    assert state_of(hass, f"sensor.xcel_meter_{sfdi}_net_power") == "unavailable"
    tried = xcel.connections
    await coordinator.async_refresh()  # inside the back-off: the meter is left alone
    assert xcel.connections == tried
    issue_id = f"agent_silent_{entry.entry_id}"
    for _ in range(37):  # polls over 3 hours, each after the 5-minute back-off
        clock[0] += timedelta(minutes=5, seconds=1)
        await coordinator.async_refresh()
    assert xcel.connections - tried <= 37  # backed off: at most one try per 5 minutes
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["hours"] == "3"
    # The utility restarts the agent: data again, the repair issue goes.
    xcel.fault = None
    await backend.client.close()
    clock[0] += timedelta(minutes=6)
    await coordinator.async_refresh()
    assert coordinator.last_update_success
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_reconfigure_a_meter_still_waiting_for_approval(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    result = await _to_register(hass)
    result = await _address(hass, result["flow_id"], xcel)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    entry = result["result"]
    await _until(hass, lambda: entry.state is ConfigEntryState.SETUP_RETRY)
    await _approve(hass, xcel)
    xcel.capture.pop("/dcap")  # something that is not an IEEE 2030.5 server answers
    result = await start_reconfigure(hass, entry)
    user_input = {"host": "127.0.0.1", "port": xcel.port, "new_identity": False}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["errors"] == {"base": "invalid_response"}
    xcel.capture = load_capture()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], user_input
    )
    assert result["reason"] == "reconfigure_successful"
    await _until(hass, lambda: entry.state is ConfigEntryState.LOADED)
    assert entry.data["meter_lfdi"] == xcel.lfdi


async def test_options_poll_interval(hass: HomeAssistant, xcel: FakeXcelMeter) -> None:
    entry, _identity = await _added(hass, xcel)
    assert entry.runtime_data.update_interval == timedelta(seconds=10)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "xcel"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 30}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data.update_interval == timedelta(seconds=30)
    assert entry.state is ConfigEntryState.LOADED  # applied without a reload


async def test_energy_glitch_never_reaches_the_statistics(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    entry, _identity = await _added(hass, xcel)
    sfdi = xcel.identity.sfdi
    before = float(state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_import"))
    real = xcel.delivered_wh
    xcel.delivered_wh = 0.0  # the summation reads 0 for one poll
    await entry.runtime_data.async_refresh()
    assert state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_import") == "unavailable"
    xcel.delivered_wh = real
    await entry.runtime_data.async_refresh()
    after = float(state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_import"))
    assert before <= after < before + 1
