"""An installation of 0.1.0 keeps its entities, their ids and their statistics.

tests/fixtures/entities_0.1.0.json lists the unique and entity ids that version 0.1.0
created for each kind of meter (dumped from it, every entity enabled; a serial that
varies per run is written SFDI). Entries saved by 0.1.0, and the registry entries it
made, are set up here as they are on disk; after the migration to entry version 1.2
every one of those entities must be there with the same ids (its unique id finds it),
and nothing new may collide with them (no "_2").
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import pytest
from homeassistant.components.recorder import Recorder
from homeassistant.components.recorder.models import (
    StatisticMeanType,
    StatisticMetaData,
)
from homeassistant.components.recorder.statistics import (
    async_import_statistics,
    get_last_statistics,
    list_statistic_ids,
)
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.xcel.identity import identity_data
from custom_components.smart_meter_hub.meters import generate_identity
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from meter_sim.xcel import FakeXcelMeter

# Newer recorders want the unit's class named; 2025.4's metadata has no such field.
_UNIT_CLASS = (
    {"unit_class": "energy"}
    if "unit_class" in StatisticMetaData.__annotations__
    else {}
)
OLD = json.loads(
    (Path(__file__).parent / "fixtures" / "entities_0.1.0.json").read_text()
)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Recorder,
    enable_custom_integrations: None,
    entity_registry_enabled_by_default: None,
) -> None:
    """The recorder starts before Home Assistant; 0.1.0's list had every entity enabled."""


async def _set_up(
    hass: HomeAssistant, entry: MockConfigEntry, kind: str, serial: str = "SFDI"
) -> list[list[str]]:
    """Set up ``entry`` where 0.1.0 left its entities in the registry (an upgrade)."""
    if entry.entry_id not in {e.entry_id for e in hass.config_entries.async_entries()}:
        entry.add_to_hass(hass)
    registry = er.async_get(hass)
    for domain, unique_id, entity_id in OLD[kind]:
        registry.async_get_or_create(
            domain,
            DOMAIN,
            unique_id.replace("SFDI", serial),
            suggested_object_id=entity_id.split(".", 1)[1].replace("SFDI", serial),
            config_entry=entry,
        )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.minor_version == 2
    assert entry.data["meter_type"]
    # Each of 0.1.0's entities is provided again, not a leftover registry entry.
    for domain, unique_id, _entity_id in OLD[kind]:
        if (kind, unique_id) in REMOVED:
            continue
        entity_id = registry.async_get_entity_id(
            domain, DOMAIN, unique_id.replace("SFDI", serial)
        )
        assert entity_id is not None, unique_id
        state = hass.states.get(entity_id)
        assert state is not None, entity_id
        assert not state.attributes.get("restored"), entity_id
    return [
        [item.domain, item.unique_id, item.entity_id]
        for item in er.async_entries_for_config_entry(registry, entry.entry_id)
    ]


# Removed on purpose since 0.1.0: a virtual meter follows other sensors, it has no
# connection of its own to report.
REMOVED = {("virtual", "virtual_sensor.grid_power_connectivity")}


def _keeps(kind: str, rows: list[list[str]], serial: str | None = None) -> None:
    if serial is not None:
        rows = [
            [d, u.replace(serial, "SFDI"), e.replace(serial, "SFDI")]
            for d, u, e in rows
        ]
    expected = [row for row in OLD[kind] if (kind, row[1]) not in REMOVED]
    assert [row for row in expected if row not in rows] == []
    # Nothing new took an id of 0.1.0's and pushed it to "<id>_2".
    old_ids = {entity_id for _domain, _unique_id, entity_id in OLD[kind]}
    assert not [row for row in rows if row[2].removesuffix("_2") in old_ids - {row[2]}]


def _legacy(data: dict[str, Any], **kwargs: Any) -> MockConfigEntry:
    """An entry as 0.1.0 saved it (entry version 1.1)."""
    return MockConfigEntry(
        domain=DOMAIN, version=1, minor_version=1, data=data, **kwargs
    )


@pytest.fixture
async def obis(socket_enabled: None) -> AsyncGenerator[ObisMeterServer]:
    server = ObisMeterServer([SimulatedObisMeter(serial="SMH-OBIS-0001")])
    await server.start()
    yield server
    await server.stop()


async def test_obis_meter_keeps_its_entities(
    hass: HomeAssistant, obis: ObisMeterServer
) -> None:
    entry = _legacy(
        {"meter_type": "obis_http", CONF_HOST: "127.0.0.1", CONF_PORT: obis.ports[0]},
        unique_id="SMH-OBIS-0001",
        title="OBIS meter SMH-OBIS-0001",
    )
    _keeps("obis_http", await _set_up(hass, entry, "obis_http"))


async def test_entry_without_a_kind_is_an_obis_meter(
    hass: HomeAssistant, obis: ObisMeterServer
) -> None:
    entry = _legacy(
        {CONF_HOST: "127.0.0.1", CONF_PORT: obis.ports[0]},
        unique_id="SMH-OBIS-0001",
        title="OBIS meter SMH-OBIS-0001",
    )
    _keeps("obis_http", await _set_up(hass, entry, "obis_http"))
    assert entry.data["meter_type"] == "obis_http"


async def test_sdm630_gateway_keeps_its_entities(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    gateway = Sdm630Gateway(
        {1: SimulatedSdm630(serial=1001), 2: SimulatedSdm630(serial=1002, seed=2)}
    )
    await gateway.start()
    meters = [
        {"unit": 1, "serial": "1001", "model": "SDM630"},
        {"unit": 2, "serial": "1002", "model": "SDM630"},
    ]
    entry = _legacy(
        {
            "meter_type": "sdm630",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: gateway.port,
            "framing": "tcp",
            "meters": meters,
        },
        unique_id="1001",
        title=f"SDM630 gateway 127.0.0.1:{gateway.port}",
    )
    try:
        _keeps("sdm630", await _set_up(hass, entry, "sdm630"))
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await gateway.stop()


async def test_xcel_meter_keeps_its_entities(
    hass: HomeAssistant, socket_enabled: None
) -> None:
    meter = FakeXcelMeter()
    await meter.start()
    client = generate_identity()
    meter.register(client.certificate_pem)
    sfdi = str(meter.identity.sfdi)
    entry = _legacy(
        {
            "meter_type": "xcel",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: meter.port,
            **identity_data(client),
            "meter_lfdi": meter.identity.lfdi,
        },
        unique_id=sfdi,
        title=f"Xcel meter {sfdi}",
    )
    try:
        _keeps("xcel", await _set_up(hass, entry, "xcel", sfdi), sfdi)
        assert await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await meter.stop()


async def test_virtual_meter_keeps_its_entities(hass: HomeAssistant) -> None:
    for entity_id, value, unit, device_class in (
        ("sensor.grid_power", "2500", "W", "power"),
        ("sensor.heat_pump_power", "1500", "W", "power"),
        ("sensor.grid_energy", "1234.5", "kWh", "energy"),
    ):
        name = entity_id.split(".")[1].replace("_", " ").capitalize()
        hass.states.async_set(
            entity_id,
            value,
            {
                "unit_of_measurement": unit,
                "device_class": device_class,
                "friendly_name": name,
            },
        )
    entry = _legacy(
        {
            "meter_type": "virtual",
            "power_entity": "sensor.grid_power",
            "energy_entity": "sensor.grid_energy",
        },
        options={"circuits": ["sensor.heat_pump_power"]},
        unique_id="virtual_sensor.grid_power",
        title="Virtual meter Grid power",
    )
    # 0.1.0 made a connectivity sensor for it: it goes, rather than staying unavailable.
    entry.add_to_hass(hass)
    registry = er.async_get(hass)
    registry.async_get_or_create(
        "binary_sensor",
        DOMAIN,
        "virtual_sensor.grid_power_connectivity",
        suggested_object_id="virtual_meter_grid_power_connectivity",
        config_entry=entry,
    )
    _keeps("virtual", await _set_up(hass, entry, "virtual"))
    assert (
        registry.async_get("binary_sensor.virtual_meter_grid_power_connectivity")
        is None
    )


async def test_statistics_continue_under_the_same_id(
    recorder_mock: Recorder, hass: HomeAssistant, obis: ObisMeterServer
) -> None:
    """The energy counter's long-term statistics from 0.1.0 go on after the update."""
    entity_id = "sensor.obis_meter_smh_obis_0001_energy_import"
    registry = er.async_get(hass)
    entry = _legacy(
        {"meter_type": "obis_http", CONF_HOST: "127.0.0.1", CONF_PORT: obis.ports[0]},
        unique_id="SMH-OBIS-0001",
        title="OBIS meter SMH-OBIS-0001",
    )
    entry.add_to_hass(hass)
    # What 0.1.0 left in the registry and the recorder.
    registry.async_get_or_create(
        "sensor",
        DOMAIN,
        "SMH-OBIS-0001_energy_import",
        suggested_object_id="obis_meter_smh_obis_0001_energy_import",
        config_entry=entry,
    )
    hour = dt_util.utcnow().replace(minute=0, second=0, microsecond=0)
    async_import_statistics(
        hass,
        {
            "source": "recorder",
            "statistic_id": entity_id,
            "name": None,
            "unit_of_measurement": "kWh",
            "has_sum": True,
            "has_mean": False,
            "mean_type": StatisticMeanType.NONE,
            **_UNIT_CLASS,
        },
        [{"start": hour.replace(hour=0), "state": 12000.0, "sum": 345.6}],
    )
    await async_wait_recording_done(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)
    assert hass.states.get(entity_id) is not None
    assert hass.states.get(f"{entity_id}_2") is None
    ids = {
        item["statistic_id"]
        for item in await recorder_mock.async_add_executor_job(list_statistic_ids, hass)
    }
    assert entity_id in ids
    assert f"{entity_id}_2" not in ids
    last = await recorder_mock.async_add_executor_job(
        get_last_statistics, hass, 1, entity_id, True, {"sum"}
    )
    assert last[entity_id][0]["sum"] == pytest.approx(345.6)
