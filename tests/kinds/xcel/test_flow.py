"""Adding an Xcel / Itron meter: identity, approval, discovery, reconfiguring.

Every test talks to the fake Itron meter over real TLS 1.2 (CCM8, client certificates).
"""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address
from pathlib import Path
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_ZEROCONF, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.zeroconf import ZeroconfServiceInfo
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.xcel.identity import async_stored_identity
from custom_components.smart_meter_hub.meters import Identity, generate_identity
from meter_sim.xcel import FakeXcelMeter, load_capture
from tests.helpers import (
    async_add_xcel_meter,
    async_approve,
    async_pick_kind,
    async_poll,
    async_start_xcel_flow,
    async_until,
    async_xcel_address,
    start_reconfigure,
    state_of,
    xcel_entry,
)


async def test_new_identity_waits_for_approval_then_reads(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    result = await async_start_xcel_flow(hass)
    identity = await async_stored_identity(hass)
    assert identity is not None
    lfdi = result["description_placeholders"]["lfdi"]
    assert lfdi.replace("-", "") == identity.lfdi
    assert [len(group) for group in lfdi.split("-")] == [5] * 8
    assert result["description_placeholders"]["sfdi"] == str(identity.sfdi)

    # Not approved yet: the user is told, and can finish and wait.
    result = await async_xcel_address(hass, result["flow_id"], xcel)
    assert result["step_id"] == "xcel_pending"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    await hass.async_block_till_done()
    # Waiting is no failure: the entry is loaded, its device is there and offline,
    # and the repair issue says what to do.
    assert entry.state is ConfigEntryState.LOADED
    waiting = "binary_sensor.xcel_meter_127_0_0_1_connectivity"
    assert state_of(hass, waiting) == "off"
    issue = issue_registry.async_get_issue(DOMAIN, f"not_approved_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["lfdi"] == lfdi

    # The utility approves the LFDI: the next poll reads, with no user action.
    coordinator = entry.runtime_data
    xcel.register(identity.certificate_pem)
    sfdi = str(xcel.identity.sfdi)
    async_fire_time_changed(
        hass, dt_util.utcnow() + timedelta(minutes=2), fire_all=True
    )
    await async_until(hass, lambda: entry.unique_id == sfdi)
    await async_until(
        hass, lambda: hass.states.get(f"sensor.xcel_meter_{sfdi}_net_power") is not None
    )
    # The device that waited (known by the address only) gave way to the meter's.
    assert hass.states.get(waiting) is None
    assert entry.unique_id == sfdi
    # The meter it found is saved in the entry, which keeps running: no reload.
    assert entry.runtime_data is coordinator
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
    result = await async_start_xcel_flow(hass)
    identity = await async_approve(hass, xcel)
    result = await async_xcel_address(hass, result["flow_id"], xcel)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Xcel meter {xcel.identity.sfdi}"
    await hass.async_block_till_done()
    sfdi = xcel.identity.sfdi
    assert float(state_of(hass, f"sensor.xcel_meter_{sfdi}_energy_export")) > 8000

    # A second flow uses the same identity (no new registration: it says the identity
    # is approved already) and refuses a duplicate.
    result = await async_pick_kind(hass, "xcel")
    assert result["step_id"] == "xcel_registered"
    assert result["description_placeholders"]["sfdi"] == str(identity.sfdi)
    result = await async_xcel_address(hass, result["flow_id"], xcel)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


async def test_import_names_each_problem_then_keeps_the_lfdi(
    hass: HomeAssistant, xcel: FakeXcelMeter, tmp_path: Path
) -> None:
    result = await async_pick_kind(hass, "xcel")
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


def _discovery(meter: FakeXcelMeter) -> ZeroconfServiceInfo:
    name = f"itrondnsserver-{meter.identity.sfdi}._smartenergy._tcp.local."
    return ZeroconfServiceInfo(
        ip_address=ip_address("127.0.0.1"),
        ip_addresses=[ip_address("127.0.0.1")],
        hostname=f"itrondnsserver-{meter.identity.sfdi}.local.",
        name=name,
        port=meter.port,
        type="_smartenergy._tcp.local.",
        properties={"txtvers": "1", "dcap": "/dcap", "https": str(meter.port)},
    )


async def test_discovery_shows_each_meter_by_sfdi_and_follows_a_new_address(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    caplog: pytest.LogCaptureFixture,
    unused_tcp_port: int,
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
        await async_approve(hass, xcel)
        # The user picks their own meter: address prefilled from the discovery.
        result = await hass.config_entries.flow.async_configure(flow_id, {})
        assert result["step_id"] == "xcel_address"
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"host": "127.0.0.1", "port": xcel.port}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry = result["result"]
        await hass.async_block_till_done()
        # The meter got a new address: rediscovery updates the entry, which reloads
        # to read it there (nothing answers at that port here: it retries).
        moved = _discovery(xcel)
        moved.port = unused_tcp_port
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=moved
        )
        assert result["reason"] == "already_configured"
        assert entry.data["port"] == unused_tcp_port
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.SETUP_RETRY
        # Home Assistant's reload for an entry with an update listener is not used
        # (it reports it, and stops doing it in 2026.12): the listener reloads.
        assert "update listener" not in caplog.text
        # Something else on the service type: not offered.
        other = _discovery(xcel)
        other.name = "printer._smartenergy._tcp.local."
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_ZEROCONF}, data=other
        )
        assert result["reason"] == "not_xcel_meter"
    finally:
        await neighbour.stop()


async def test_reconfiguring_onto_another_meter_is_refused(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    entry, identity = await async_add_xcel_meter(hass, xcel)
    stranger = FakeXcelMeter()
    stranger.register(identity.certificate_pem)
    await stranger.start()
    try:
        result = await start_reconfigure(hass, entry)
        assert result["step_id"] == "xcel_reconfigure"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"],
            {"host": "127.0.0.1", "port": stranger.port, "new_identity": False},
        )
        assert result["reason"] == "wrong_meter"
        assert entry.data["port"] == xcel.port
    finally:
        await stranger.stop()


async def test_an_abandoned_reconfigure_leaves_the_meter_reading(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, xcel: FakeXcelMeter
) -> None:
    entry, _identity = await async_add_xcel_meter(hass, xcel)
    sfdi = entry.unique_id
    result = await start_reconfigure(hass, entry)
    # The check lets go of the entry's connection; nothing answers at the new address.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": 1, "new_identity": False}
    )
    assert result["errors"] == {"base": "cannot_connect"}
    hass.config_entries.flow.async_abort(result["flow_id"])
    # The meter is read again at its old address, on a connection of its own.
    requests = xcel.requests
    await async_poll(hass, freezer, timedelta(seconds=10))
    assert xcel.requests > requests
    assert state_of(hass, f"binary_sensor.xcel_meter_{sfdi}_connectivity") == "on"
    assert state_of(hass, f"sensor.xcel_meter_{sfdi}_net_power") != "unavailable"


async def test_reconfigure_address_and_explicit_new_identity(
    hass: HomeAssistant, xcel: FakeXcelMeter, issue_registry: ir.IssueRegistry
) -> None:
    entry, identity = await async_add_xcel_meter(hass, xcel)
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
    await async_until(hass, lambda: issue_registry.async_get_issue(DOMAIN, issue_id))
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders["lfdi"].replace("-", "") == replaced.lfdi


async def test_meter_answering_nonsense_is_a_form_error(
    hass: HomeAssistant, xcel: FakeXcelMeter, caplog: pytest.LogCaptureFixture
) -> None:
    result = await async_start_xcel_flow(hass)
    await async_approve(hass, xcel)
    xcel.capture.pop("/dcap")  # not an IEEE 2030.5 server
    result = await async_xcel_address(hass, result["flow_id"], xcel)
    assert result["errors"] == {"base": "invalid_response"}
    # The client (the protocol library) fails in a way nobody foresaw.
    with patch(
        "custom_components.smart_meter_hub.kinds.xcel.flow.async_probe",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"host": "127.0.0.1", "port": xcel.port}
        )
    assert result["errors"] == {"base": "unknown"}
    assert "Unexpected error while checking the meter" in caplog.text
    assert not hass.config_entries.async_entries(DOMAIN)


async def test_reconfigure_a_meter_still_waiting_for_approval(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    result = await async_start_xcel_flow(hass)
    result = await async_xcel_address(hass, result["flow_id"], xcel)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    entry = result["result"]
    await async_until(
        hass,
        lambda: entry.state is ConfigEntryState.LOADED and entry.runtime_data.waiting,
    )
    await async_approve(hass, xcel)
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
    await async_until(hass, lambda: entry.state is ConfigEntryState.LOADED)
    assert entry.data["meter_lfdi"] == xcel.lfdi


async def test_reconfigure_a_meter_not_reached_at_startup(
    hass: HomeAssistant, xcel: FakeXcelMeter, client_identity: Identity
) -> None:
    # The meter got another address while Home Assistant was off.
    xcel.register(client_identity.certificate_pem)
    entry = xcel_entry(xcel, client_identity)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, data={**entry.data, "port": 1})
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_RETRY
    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": "127.0.0.1", "port": xcel.port, "new_identity": False},
    )
    assert result["reason"] == "reconfigure_successful"
    assert entry.data["port"] == xcel.port
    await async_until(hass, lambda: entry.state is ConfigEntryState.LOADED)


async def test_a_second_meter_hears_that_the_identity_is_already_approved(
    hass: HomeAssistant, xcel: FakeXcelMeter
) -> None:
    """Once the identity reads a meter, adding another one says so, instead of
    'register this LFDI… approval takes days'."""
    entry, identity = await async_add_xcel_meter(hass, xcel)
    result = await async_pick_kind(hass, "xcel")
    assert result["step_id"] == "xcel_registered"
    placeholders = result["description_placeholders"]
    assert placeholders["title"] == entry.title
    assert placeholders["lfdi"].replace("-", "") == identity.lfdi
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["step_id"] == "xcel_address"
