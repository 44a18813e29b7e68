"""Setting up, retrying, reloading and removing a meter."""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_REAUTH, ConfigEntryState
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.storage import Store
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.obis_http import CONF_OBIS_CODES
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

PREFIX = "sensor.obis_meter_smh_obis_0001"


async def test_setup_and_unload(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED
    assert hass.states.get(f"{PREFIX}_energy_import") is not None
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get(f"{PREFIX}_energy_import").state == "unavailable"


async def test_meter_down_at_startup_retries(
    hass: HomeAssistant, config_entry: MockConfigEntry, server: ObisMeterServer
) -> None:
    await server.stop()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
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


async def test_options_apply_without_reload(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    coordinator = init_integration.runtime_data
    requests = meter.read_requests
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SCAN_INTERVAL: 15, CONF_OBIS_CODES: ["1-0:1.8.0"]}
    )
    await hass.async_block_till_done()
    assert init_integration.runtime_data is coordinator  # not reloaded
    assert coordinator.update_interval.total_seconds() == 15
    assert meter.read_requests == requests + 1
    # Energy import is still read; power is no longer requested, so it is unavailable.
    assert hass.states.get(f"{PREFIX}_energy_import").state != "unavailable"
    assert hass.states.get(f"{PREFIX}_power_import").state == "unavailable"


async def test_new_quantity_gets_its_entity_without_reload(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SCAN_INTERVAL: 60, CONF_OBIS_CODES: ["1-0:1.8.0"]}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coordinator = config_entry.runtime_data
    assert hass.states.get(f"{PREFIX}_power_import") is None

    result = await hass.config_entries.options.async_init(config_entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_SCAN_INTERVAL: 60, CONF_OBIS_CODES: ["1-0:1.8.0", "1.7.0"]},
    )
    await hass.async_block_till_done()
    assert config_entry.runtime_data is coordinator
    assert float(hass.states.get(f"{PREFIX}_power_import").state) > 0


async def test_remove_forgets_the_saved_counters(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_storage: dict
) -> None:
    key = f"{DOMAIN}.{init_integration.entry_id}.energy"
    store: Store[dict] = Store(hass, 1, key)
    await store.async_save({"x": {"value": 1.0, "timestamp": 0.0}})
    assert key in hass_storage
    await hass.config_entries.async_remove(init_integration.entry_id)
    await hass.async_block_till_done()
    assert key not in hass_storage


async def test_unique_ids_come_from_the_serial_not_the_address(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = entity_registry.async_get(f"{PREFIX}_energy_import")
    assert entry is not None
    assert entry.unique_id == "SMH-OBIS-0001_energy_import"


async def test_two_meters_are_two_devices(
    hass: HomeAssistant, init_integration
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
        second.add_to_hass(hass)
        assert await hass.config_entries.async_setup(second.entry_id)
        await hass.async_block_till_done()
        assert hass.states.get("sensor.obis_meter_second_energy_import") is not None
        assert hass.states.get(f"{PREFIX}_energy_import") is not None
        assert await hass.config_entries.async_unload(second.entry_id)
    finally:
        await other.stop()


async def test_entry_of_an_unknown_meter_type_fails_with_a_clear_error(
    hass: HomeAssistant,
) -> None:
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id="X",
        data={"meter_type": "from_the_future", "host": "h"},
    )
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert "from_the_future" in str(entry.reason)
