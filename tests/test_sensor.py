"""Sensors: what the user sees for each meter, in good times and bad."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import pytest
from homeassistant.const import (
    EVENT_HOMEASSISTANT_FINAL_WRITE,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

P = "sensor.obis_meter_smh_obis_0001"
CONNECTIVITY = "binary_sensor.obis_meter_smh_obis_0001_connectivity"


async def poll(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Poll the meter now, as the poll interval would."""
    await entry.runtime_data.async_refresh()
    await hass.async_block_till_done()


def state(hass: HomeAssistant, entity_id: str) -> str:
    current = hass.states.get(entity_id)
    assert current is not None, entity_id
    return current.state


async def test_values_units_and_classes(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    energy = hass.states.get(f"{P}_energy_import")
    assert float(energy.state) == pytest.approx(meter.import_kwh, abs=1e-3)
    assert energy.attributes["unit_of_measurement"] == "kWh"
    assert energy.attributes["device_class"] == "energy"
    assert energy.attributes["state_class"] == "total_increasing"
    power = hass.states.get(f"{P}_power_import")
    assert float(power.state) == pytest.approx(meter.net_power_w(), abs=1)
    assert power.attributes["unit_of_measurement"] == "W"
    assert power.attributes["state_class"] == "measurement"
    assert float(state(hass, f"{P}_net_power")) == pytest.approx(
        meter.net_power_w(), abs=1
    )
    # Export counter of a home without solar: a true 0, shown as 0.
    assert float(state(hass, f"{P}_energy_export")) == 0.0
    assert float(state(hass, f"{P}_power_factor")) == pytest.approx(0.95, abs=0.01)
    assert float(state(hass, f"{P}_frequency")) == pytest.approx(50, abs=0.1)
    assert state(hass, CONNECTIVITY) == STATE_ON


async def test_per_phase_and_absolute_energy_disabled_by_default(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    for key in (
        "voltage_l1",
        "current_l2",
        "power_l3",
        "absolute_energy_import_export",
    ):
        entry = entity_registry.async_get(f"{P}_{key}")
        assert entry is not None, key
        assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_per_phase_values_when_enabled(
    hass: HomeAssistant, init_integration
) -> None:
    assert 225 < float(state(hass, f"{P}_voltage_l1")) < 235
    assert float(state(hass, f"{P}_current_l1")) > 0
    assert float(state(hass, f"{P}_power_l1")) > 0


async def test_only_codes_the_meter_returns_get_entities(
    hass: HomeAssistant, meter: SimulatedObisMeter, config_entry: MockConfigEntry
) -> None:
    meter.missing = {"1-0:2.8.0", "1-0:14.7.0", "1-0:16.7.0", "1-0:2.7.0"}
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(f"{P}_energy_export") is None
    assert hass.states.get(f"{P}_frequency") is None
    # Neither a net value nor an export value to derive it from: no net power.
    assert hass.states.get(f"{P}_net_power") is None
    assert hass.states.get(f"{P}_energy_import") is not None


async def test_net_power_derived_from_import_and_export(
    hass: HomeAssistant, meter: SimulatedObisMeter, config_entry: MockConfigEntry
) -> None:
    meter.missing = {"1-0:16.7.0"}
    meter.solar = True
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    imported = float(state(hass, f"{P}_power_import"))
    exported = float(state(hass, f"{P}_power_export"))
    assert float(state(hass, f"{P}_net_power")) == pytest.approx(imported - exported)


async def test_unreachable_meter_goes_unavailable_keeps_being_polled_and_comes_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    server: ObisMeterServer,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    coordinator = init_integration.runtime_data
    last_good = coordinator.data.devices[meter.serial].timestamp
    last_reading = state(hass, f"{P}_last_reading")
    await server.stop()
    caplog.clear()
    for _ in range(3):  # three scheduled polls, one minute apart
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
        await hass.async_block_till_done(wait_background_tasks=True)
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state(hass, f"{P}_power_import") == STATE_UNAVAILABLE
    assert state(hass, CONNECTIVITY) == STATE_OFF
    # The time of the last good reading stays visible.
    assert state(hass, f"{P}_last_reading") == last_reading
    went = [
        r
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("custom_components")
    ]
    assert len(went) == 1, [r.getMessage() for r in went]

    await server.restart()
    caplog.clear()
    requests = meter.read_requests
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=61))
    await hass.async_block_till_done(wait_background_tasks=True)
    assert meter.read_requests == requests + 1  # still polled while it was away
    assert state(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert state(hass, CONNECTIVITY) == STATE_ON
    assert coordinator.data.devices[meter.serial].timestamp > last_good
    assert [r for r in caplog.records if "recovered" in r.getMessage()]


@pytest.mark.parametrize("fault", ["http500", "invalid_json", "empty", "timeout"])
async def test_every_fault_makes_entities_unavailable_never_zero(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    monkeypatch: pytest.MonkeyPatch,
    fault: str,
) -> None:
    monkeypatch.setattr(init_integration.runtime_data.backend.client, "timeout", 0.2)
    meter.slow_seconds = 1
    meter.set_fault(fault, count=1)
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state(hass, CONNECTIVITY) == STATE_OFF
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") != STATE_UNAVAILABLE


async def test_bad_quality_is_unavailable_not_zero(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.set_fault("quality_bad", count=1)
    await poll(hass, init_integration)
    assert state(hass, f"{P}_power_import") == STATE_UNAVAILABLE
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state(hass, CONNECTIVITY) == STATE_ON
    await poll(hass, init_integration)
    assert state(hass, f"{P}_power_import") != STATE_UNAVAILABLE


@pytest.mark.parametrize("fault", ["glitch_zero", "glitch_spike"])
async def test_counter_glitch_never_reaches_the_energy_dashboard(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    before = float(state(hass, f"{P}_energy_import"))
    meter.set_fault(fault, count=2)
    caplog.clear()
    await poll(hass, init_integration)
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    # Power is not a counter: it is still shown.
    assert state(hass, f"{P}_power_import") != STATE_UNAVAILABLE
    rejected = [
        r for r in caplog.records if "not publishing 1-0:1.8.0" in r.getMessage()
    ]
    assert len(rejected) == 1
    await poll(hass, init_integration)
    after = float(state(hass, f"{P}_energy_import"))
    assert before <= after < before + 1


async def test_last_accepted_counter_survives_a_restart(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    await poll(hass, init_integration)
    meter.set_fault("glitch_zero")
    # Unloading saves the accepted counters at once.
    assert await hass.config_entries.async_reload(init_integration.entry_id)
    await hass.async_block_till_done()
    # After the restart the first reading is a 0: it is still known to be a glitch.
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    meter.set_fault(None)
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") != STATE_UNAVAILABLE


async def test_counters_are_saved_when_home_assistant_stops(
    hass: HomeAssistant, init_integration: MockConfigEntry, hass_storage: dict
) -> None:
    key = f"{DOMAIN}.{init_integration.entry_id}.energy"
    await poll(hass, init_integration)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()
    saved = hass_storage[key]["data"]
    energy = float(state(hass, f"{P}_energy_import"))
    assert saved["SMH-OBIS-0001:1-0:1.8.0.255"]["value"] == pytest.approx(energy)


async def test_another_meter_at_the_address_is_refused_with_a_repair_issue(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    issue_registry: ir.IssueRegistry,
) -> None:
    meter.serial = "NEIGHBOUR"
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    issue = issue_registry.async_get_issue(
        DOMAIN, f"wrong_meter_{init_integration.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "wrong_meter"
    meter.serial = "SMH-OBIS-0001"
    await poll(hass, init_integration)
    assert state(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert (
        issue_registry.async_get_issue(
            DOMAIN, f"wrong_meter_{init_integration.entry_id}"
        )
        is None
    )


async def test_at_most_ten_meters_are_polled_at_once(
    hass: HomeAssistant, socket_enabled
) -> None:
    meters = [SimulatedObisMeter(serial=f"M{n:02}") for n in range(14)]
    server = ObisMeterServer(meters)
    await server.start()
    try:
        entries = []
        for meter, port in zip(meters, server.ports, strict=True):
            entry = MockConfigEntry(
                domain=DOMAIN,
                unique_id=meter.serial,
                title=f"OBIS meter {meter.serial}",
                data={"meter_type": "obis_http", "host": "127.0.0.1", "port": port},
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            entries.append(entry)
        await hass.async_block_till_done()
        for meter in meters:
            meter.delay_seconds = 0.2
        server.max_in_flight = 0
        await asyncio.gather(*(e.runtime_data.async_refresh() for e in entries))
        assert server.max_in_flight == 10
        assert all(e.runtime_data.last_update_success for e in entries)
        for entry in entries:
            assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.stop()
