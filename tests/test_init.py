"""Setting up, retrying, migrating, reloading and removing a meter; its devices."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
from homeassistant.helpers.storage import Store
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub import async_remove_config_entry_device
from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.obis_http import CONF_OBIS_CODES
from custom_components.smart_meter_hub.meters import Identity
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway
from meter_sim.xcel import FakeXcelMeter

from .helpers import (
    OBIS_PREFIX,
    START,
    async_add_gateway,
    async_poll,
    async_saved,
    setup_integration,
    start_reconfigure,
    state_of,
    xcel_entry,
)

P = f"sensor.{OBIS_PREFIX}"


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE


async def test_meter_down_at_startup_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: ObisMeterServer
) -> None:
    await server.stop()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    assert "Cannot reach the meter" in str(config_entry.reason)
    await server.restart()
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.LOADED


async def test_refused_token_at_startup_asks_for_a_new_one(
    hass: HomeAssistant, config_entry: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    meter.token = "changed"
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == [SOURCE_REAUTH]


async def test_entry_of_an_unknown_meter_type_fails_with_a_clear_error(
    hass: HomeAssistant,
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="X",
        minor_version=2,
        data={"meter_type": "from_the_future", "host": "h"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "from_the_future" in str(entry.reason)


async def test_entries_from_before_the_kind_was_saved_are_obis_meters(
    hass: HomeAssistant, port: int
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="SMH-OBIS-0001",
        title="OBIS meter SMH-OBIS-0001",
        version=1,
        minor_version=1,
        data={"host": "127.0.0.1", "port": port},
    )
    await setup_integration(hass, entry)
    assert entry.minor_version == 2
    assert entry.data["meter_type"] == "obis_http"
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE


async def test_an_entry_of_a_newer_version_is_not_downgraded(
    hass: HomeAssistant, port: int
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="SMH-OBIS-0001",
        version=2,
        data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.MIGRATION_ERROR
    assert entry.version == 2


@pytest.mark.freeze_time(START)
async def test_options_apply_without_reload(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    coordinator = init_integration.runtime_data
    requests = meter.read_requests
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 15, CONF_OBIS_CODES: ["1-0:1.8.0"]}
    )
    await hass.async_block_till_done()
    assert init_integration.runtime_data is coordinator  # not reloaded
    assert meter.read_requests == requests + 1  # read at once, with the new codes
    # Energy import is still read; power is no longer requested, so it is unavailable.
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, f"{P}_power_import") == STATE_UNAVAILABLE
    # From now on every 15 seconds.
    for _ in range(4):
        await async_poll(hass, freezer, timedelta(seconds=15))
    assert meter.read_requests == requests + 5


async def test_new_quantity_gets_its_entity_without_reload(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SCAN_INTERVAL: 60, CONF_OBIS_CODES: ["1-0:1.8.0"]}
    )
    await setup_integration(hass, config_entry)
    coordinator = config_entry.runtime_data
    assert hass.states.get(f"{P}_power_import") is None

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SCAN_INTERVAL: 60, CONF_OBIS_CODES: ["1-0:1.8.0", "1.7.0"]},
    )
    await hass.async_block_till_done()
    assert config_entry.runtime_data is coordinator  # not reloaded
    assert float(state_of(hass, f"{P}_power_import")) > 0


async def test_remove_forgets_the_saved_counters(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_storage: dict
) -> None:
    await async_saved(hass)
    assert init_integration.entry_id in hass_storage[f"{DOMAIN}.energy"]["data"]
    # A file of the entry's own, left by an earlier version, goes too.
    legacy = f"{DOMAIN}.{init_integration.entry_id}.energy"
    await Store[dict](hass, 1, legacy).async_save({"x": {"value": 1.0}})
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.energy" not in hass_storage  # it was the only entry
    assert legacy not in hass_storage


async def test_remove_forgets_the_repair_issues(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    client_identity: Identity,
    issue_registry: ir.IssueRegistry,
) -> None:
    # An identity the utility has not approved: the entry waits, with a repair issue.
    entry = xcel_entry(xcel, client_identity)
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED  # waiting calmly, not failed
    issue_id = f"not_approved_{entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_two_meters_are_two_devices(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    other = ObisMeterServer([SimulatedObisMeter(serial="SECOND")])
    await other.start()
    try:
        second = MockConfigEntry(
            domain=DOMAIN,
            unique_id="SECOND",
            title="OBIS meter SECOND",
            data={**init_integration.data, "port": other.ports[0]},
        )
        await setup_integration(hass, second)
        assert hass.states.get("sensor.second_energy_import") is not None
        assert hass.states.get(f"{P}_energy_import") is not None
        assert await hass.config_entries.async_unload(second.entry_id)
    finally:
        await other.stop()


def _device(
    registry: dr.DeviceRegistry, entry: MockConfigEntry, serial: str
) -> dr.DeviceEntry | None:
    """The meter's device (works on every Home Assistant version we support)."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(registry, entry.entry_id)
            if (DOMAIN, serial) in device.identifiers
        ),
        None,
    )


async def test_a_meter_taken_off_the_gateway_loses_its_device(
    hass: HomeAssistant, gateway: Sdm630Gateway, device_registry: dr.DeviceRegistry
) -> None:
    entry = await async_add_gateway(hass, gateway, "1, 2")
    result = await start_reconfigure(hass, entry)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"host": "127.0.0.1", "port": gateway.port, "framing": "tcp", "unit_ids": "2"},
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert _device(device_registry, entry, "1001") is None
    kept = _device(device_registry, entry, "1002")
    assert kept is not None
    # A configured meter cannot be deleted from its device page; a leftover one can.
    assert not await async_remove_config_entry_device(hass, entry, kept)
    leftover = device_registry.async_get_or_create(
        config_entry_id=entry.entry_id, identifiers={(DOMAIN, "1001")}
    )
    assert await async_remove_config_entry_device(hass, entry, leftover)
