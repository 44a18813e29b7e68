"""What the test modules share besides fixtures (those live in conftest.py).

Reading states, moving time, and setting up each kind of meter: as an entry saved
before (``*_entry``, then :func:`setup_integration`), or through the config flow as a
user adds it (``async_add_*``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy.validate import async_validate
from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER, ConfigEntry
from homeassistant.const import (
    CONF_HOST,
    CONF_PORT,
    EVENT_HOMEASSISTANT_FINAL_WRITE,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
    do_adhoc_statistics,
)

from custom_components.smart_meter_hub.const import CONF_METER_TYPE, DOMAIN
from custom_components.smart_meter_hub.coordinator import MIN_POLL_GAP_S
from custom_components.smart_meter_hub.kinds.xcel.identity import (
    async_stored_identity,
    identity_data,
)
from custom_components.smart_meter_hub.meters import Identity, generate_identity
from meter_sim.sdm630 import Sdm630Gateway
from meter_sim.xcel import CAPTURE_SFDI, FakeXcelMeter

# A moment for tests whose results show the time (snapshots, diagnostics).
START = "2026-11-21T09:00:00+00:00"


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The entity's state; the entity must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Open Reconfigure on ``entry``, as the entry's menu does; return the first step."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )


async def setup_integration(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set up a saved entry, as Home Assistant does at start; it must load."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


# Time.


def frozen_clock() -> float:
    """The test's clock in seconds: the real one, or the frozen one under ``freezer``.

    Simulators on it integrate power into their counters only for the time a test
    moves: their readings are the same on every run.
    """
    return time.time()


async def async_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    interval: timedelta,
    *,
    unanswered: Callable[[], bool] | None = None,
    timeout: timedelta = timedelta(seconds=11),
) -> None:
    """Let ``interval`` pass: every meter due is read, and its answer is in.

    Each entry polls at its own moment of the interval, and never sooner than
    ``MIN_POLL_GAP_S`` after its last poll: a poll that moment pushed just past the
    interval is read too.

    ``unanswered``: the meter will not answer this poll. Once it tells that the request
    reached it (``unanswered()`` turns true), ``timeout`` passes too: the integration's
    own timeout fires, and it gives up on the meter.
    """
    freezer.tick(interval)
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=MIN_POLL_GAP_S))
    if unanswered is not None:
        async with asyncio.timeout(10):
            while not unanswered():
                await asyncio.sleep(0.01)
        freezer.tick(timeout)
        async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)


async def async_energy_validation(hass: HomeAssistant) -> dict[str, Any]:
    """What Energy settings' validation says, once the current 5 minutes are compiled."""
    await async_wait_recording_done(hass)
    now = dt_util.utcnow()
    do_adhoc_statistics(
        hass,
        start=now.replace(minute=now.minute - now.minute % 5, second=0, microsecond=0),
    )
    await async_wait_recording_done(hass)
    return (await async_validate(hass)).as_dict()


async def async_saved(hass: HomeAssistant) -> None:
    """Write what waits for its moment to be saved, as Home Assistant does when it stops."""
    hass.bus.async_fire(EVENT_HOMEASSISTANT_FINAL_WRITE)
    await hass.async_block_till_done()


async def async_until(hass: HomeAssistant, condition: Callable[[], object]) -> None:
    """Let Home Assistant and a simulator answering from a thread catch up."""
    for _ in range(200):
        await hass.async_block_till_done()
        if condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(
        "condition not reached in 10 s: "
        f"{[(e.state, e.reason) for e in hass.config_entries.async_entries(DOMAIN)]}"
    )


# Starting an "Add a meter" flow.


async def async_pick_kind(hass: HomeAssistant, kind: str) -> dict[str, Any]:
    """Open "Add a meter" and pick a kind of meter; return its first step."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    return dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": kind}
        )
    )


# OBIS HTTP.

SERIAL = "SMH-OBIS-0001"
OBIS_PREFIX = "smh_obis_0001"


def obis_http_entry(port: int, **data: Any) -> MockConfigEntry:
    """The entry of the simulated OBIS meter (serial ``SERIAL``) on ``port``."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHOBISENTRY000000000001",
        unique_id=SERIAL,
        title=f"OBIS meter {SERIAL}",
        data={
            CONF_METER_TYPE: "obis_http",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
            **data,
        },
    )


# Eastron meters behind a Modbus gateway.


async def async_open_gateway_form(hass: HomeAssistant) -> str:
    """Start adding a Modbus gateway; return the flow's id."""
    result = await async_pick_kind(hass, "sdm630")
    assert result["step_id"] == "sdm630"
    return str(result["flow_id"])


async def async_add_gateway(
    hass: HomeAssistant, gateway: Sdm630Gateway, units: str = "1, 2"
) -> ConfigEntry:
    """Add the gateway with these unit ids, as a user does; it must be created."""
    flow_id = await async_open_gateway_form(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {
            "host": "127.0.0.1",
            "port": gateway.port,
            "framing": gateway.framing,
            "unit_ids": units,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


def eastron_entry(gateway: Sdm630Gateway) -> MockConfigEntry:
    """The saved entry of ``gateway`` with every meter behind it (SDM630s)."""
    meters = [
        {"unit": unit, "serial": str(sim.serial), "model": "SDM630", "code": "0x0070"}
        for unit, sim in sorted(gateway.units.items())
    ]
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHEASTRONENTRY00000001",
        unique_id=meters[0]["serial"],
        title="SDM630 gateway 127.0.0.1",
        version=1,
        minor_version=2,
        data={
            CONF_METER_TYPE: "sdm630",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: gateway.port,
            "framing": gateway.framing,
            "meters": meters,
        },
    )


# Xcel (IEEE 2030.5) meters.

XCEL_SFDI = int(CAPTURE_SFDI)
XCEL_PREFIX = f"xcel_meter_{XCEL_SFDI}"


def xcel_meter_identity() -> Identity:
    """A simulated meter's own identity, with the SFDI of the captured meter.

    Its entities' ids (which carry the SFDI) are then the same on every run; the LFDI
    stays the certificate's, as the integration checks.
    """
    return replace(generate_identity(), sfdi=XCEL_SFDI)


async def async_start_xcel_flow(hass: HomeAssistant) -> dict[str, Any]:
    """Start adding an Xcel meter, making an identity if needed; the register step."""
    result = await async_pick_kind(hass, "xcel")
    if result["type"] is FlowResultType.MENU:
        result = dict(
            await hass.config_entries.flow.async_configure(
                result["flow_id"], {"next_step_id": "xcel_generate"}
            )
        )
    assert result["step_id"] == "xcel_register"
    return result


async def async_approve(hass: HomeAssistant, meter: FakeXcelMeter) -> Identity:
    """The utility approves the installation's identity (made earlier in the flow)."""
    identity = await async_stored_identity(hass)
    assert identity is not None
    meter.register(identity.certificate_pem)
    return identity


async def async_xcel_address(
    hass: HomeAssistant, flow_id: str, meter: FakeXcelMeter
) -> dict[str, Any]:
    """Go on from the register step and enter the meter's address."""
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    assert result["step_id"] == "xcel_address"
    return dict(
        await hass.config_entries.flow.async_configure(
            flow_id, {"host": "127.0.0.1", "port": meter.port}
        )
    )


async def async_add_xcel_meter(
    hass: HomeAssistant, meter: FakeXcelMeter
) -> tuple[ConfigEntry, Identity]:
    """Add an approved meter, as a user does; the entry and the installation's identity."""
    result = await async_start_xcel_flow(hass)
    identity = await async_approve(hass, meter)
    result = await async_xcel_address(hass, result["flow_id"], meter)
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"], identity


def xcel_entry(meter: FakeXcelMeter, identity: Identity) -> MockConfigEntry:
    """The saved entry of ``meter``, read with ``identity`` (which it must approve)."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHXCELENTRY00000000001",
        unique_id=str(meter.identity.sfdi),
        title=f"Xcel meter {meter.identity.sfdi}",
        version=1,
        minor_version=2,
        data={
            CONF_METER_TYPE: "xcel",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: meter.port,
            **identity_data(identity),
            "meter_lfdi": meter.lfdi,
        },
    )


# The virtual meter: sensors another integration provides.

TOTAL = "sensor.grid_power"
ENERGY = "sensor.grid_energy"
HEAT_PUMP = "sensor.heat_pump_power"
OVEN = "sensor.oven_power"
VIRTUAL_PREFIX = "virtual_meter_grid_power"


def set_power(hass: HomeAssistant, entity_id: str, value: str, unit: str = "W") -> None:
    """A power sensor of another integration reads ``value``."""
    name = entity_id.split(".")[1].replace("_", " ").capitalize()
    hass.states.async_set(
        entity_id,
        value,
        {"unit_of_measurement": unit, "device_class": "power", "friendly_name": name},
    )


def set_energy(hass: HomeAssistant, entity_id: str, value: str) -> None:
    """An energy sensor of another integration reads ``value`` kWh."""
    hass.states.async_set(
        entity_id, value, {"unit_of_measurement": "kWh", "device_class": "energy"}
    )


async def async_add_virtual_meter(hass: HomeAssistant, **extra: object) -> ConfigEntry:
    """Add a virtual meter on ``TOTAL`` (and ``extra`` fields), as a user does."""
    result = await async_pick_kind(hass, "virtual")
    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {"power_entity": TOTAL, **extra}
        )
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    await hass.async_block_till_done()
    return result["result"]


def virtual_entry(hass: HomeAssistant) -> MockConfigEntry:
    """A saved virtual meter on ``TOTAL`` and ``ENERGY``, the heat pump a circuit.

    The source sensors read 2.5 kW, 1234.5 kWh and 1500 W.
    """
    set_power(hass, TOTAL, "2.5", "kW")
    set_energy(hass, ENERGY, "1234.5")
    set_power(hass, HEAT_PUMP, "1500")
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHVIRTUALENTRY00000001",
        unique_id=f"virtual_{TOTAL}",
        title="Virtual meter Grid power",
        version=1,
        minor_version=2,
        data={
            CONF_METER_TYPE: "virtual",
            "power_entity": TOTAL,
            "energy_entity": ENERGY,
        },
        options={"circuits": [HEAT_PUMP]},
    )
