"""The Eastron fault matrix, through Home Assistant, against a simulated gateway.

Two SDM630 behind one Modbus TCP gateway (units 1 and 2). Every case: both meters
answer, then a fault comes (on unit 1, or the whole gateway) and one poll passes, then
the fault clears and one more poll passes. While the fault lasts, the entities it
touches are unavailable and no entity shows a wrong value (no 0, NaN or spike for a
counter, no value decoded in the wrong word order); the other meter is unaffected; the
log has no traceback and no "Unexpected error"; one poll after the fault clears, every
entity shows the meters' values again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.kinds.eastron.modbus_link import (
    shared_connection,
)
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630

from .conftest import assert_clean_log, next_poll, number

POLL = timedelta(seconds=10)  # the Eastron kind's default interval
# How long the integration waits for a unit: 1 s on its own connection (3 s unless
# set; connecting included, on a busy test machine too), so that the cases run fast.
# Core Modbus' shared connection (Home Assistant 2026.9+) holds each unit with the
# timeout it was first asked for: there it stays 3 s.
SHARED = shared_connection() is not None
TIMEOUT = 3.0 if SHARED else 1.0
LIVE = ("net_power", "power_import", "voltage_l1", "current_l1", "frequency")


def assert_meter_shows_the_truth(
    hass: HomeAssistant, sim: SimulatedSdm630, *, available: bool | None = None
) -> None:
    """Every entity of the meter shows its value or nothing, never a wrong one.

    ``available``: True, every entity must show a value; False, none may.
    """
    prefix = f"sdm630_{sim.serial}"
    for key, truth in (
        ("energy_import", sim.import_kwh),
        ("energy_export", sim.export_kwh),
    ):
        shown = number(hass, f"sensor.{prefix}_{key}")
        assert shown is None or shown == pytest.approx(truth, abs=0.01), key
        state = hass.states.get(f"sensor.{prefix}_{key}")
        assert state is not None
        assert state.attributes["unit_of_measurement"] == "kWh"
    voltage = number(hass, f"sensor.{prefix}_voltage_l1")
    assert voltage is None or 225 < voltage < 235
    frequency = number(hass, f"sensor.{prefix}_frequency")
    assert frequency is None or 49.9 < frequency < 50.1
    power = number(hass, f"sensor.{prefix}_net_power")
    assert power is None or 1000 < power < 4000  # about 2300 W
    values = [number(hass, f"sensor.{prefix}_{key}") for key in LIVE]
    online = hass.states.get(f"binary_sensor.{prefix}_connectivity").state
    if available is True:
        assert None not in values
        assert number(hass, f"sensor.{prefix}_energy_import") is not None
        assert online == STATE_ON
    elif available is False:
        assert values == [None] * len(LIVE)
        assert number(hass, f"sensor.{prefix}_energy_import") is None
        assert online == STATE_OFF


@pytest.fixture
async def entry(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry_enabled_by_default: None,
    eastron_entry: MockConfigEntry,
    gateway: Sdm630Gateway,
) -> MockConfigEntry:
    """The gateway set up (every entity enabled), both meters read once more.

    Requests follow each other without the bus' pause, and on the integration's own
    connection a silent unit is given up on after 1 s: the cases run in real time.
    """
    connection = eastron_entry.runtime_data.backend.connection
    connection.spacing = 0.0
    if not SHARED:
        connection.timeout = TIMEOUT
        await connection.close()  # the next request opens it with the new timeout
    await next_poll(hass, freezer, POLL)
    for sim in gateway.units.values():
        assert_meter_shows_the_truth(hass, sim, available=True)
    return eastron_entry


@dataclass(frozen=True)
class Case:
    """A fault of unit 1, and what it takes away while it lasts."""

    fault: str
    # "meter": unit 1's poll fails, all its entities are unavailable;
    # "counter": only its import counter is unavailable (the counters' guard).
    lost: str
    exception_code: int = 4


CASES = [
    Case("silent", "meter"),  # no answer within the timeout
    Case("slow", "meter"),  # a late reply: it must never be taken for the next one
    Case("exception", "meter", 1),  # illegal function
    Case("exception", "meter", 2),  # illegal address: every block refused
    Case("exception", "meter", 3),
    Case("exception", "meter", 4),  # device failure
    Case("exception", "meter", 6),  # busy
    Case("exception", "meter", 11),  # the gateway's target did not answer
    Case("nan", "meter"),
    Case("glitch_nan", "meter"),  # the import counter alone reads NaN
    Case("absurd", "meter"),  # a voltage of 1e30 V
    Case("garbage", "meter"),
    Case("short", "meter"),  # one register fewer than asked
    Case("glitch", "counter"),  # a jump of 5000 kWh
    Case("glitch_zero", "counter"),  # the import counter reads 0
]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=[
        f"{case.fault}_{case.exception_code:02d}"
        if case.fault == "exception"
        else case.fault
        for case in CASES
    ],
)
async def test_fault_of_one_meter_then_recovery(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
    case: Case,
) -> None:
    faulty, other = gateway.units[1], gateway.units[2]
    faulty.fault = case.fault
    faulty.exception_code = case.exception_code
    faulty.slow_seconds = 2 * TIMEOUT
    await next_poll(hass, freezer, POLL)
    if case.lost == "meter":
        assert_meter_shows_the_truth(hass, faulty, available=False)
    else:
        assert number(hass, f"sensor.sdm630_{faulty.serial}_energy_import") is None
        assert number(hass, f"sensor.sdm630_{faulty.serial}_net_power") is not None
    assert_meter_shows_the_truth(hass, other, available=True)
    # The counters glitch once; the other faults last: still nothing wrong.
    await next_poll(hass, freezer, POLL)
    assert_meter_shows_the_truth(hass, faulty)
    assert_meter_shows_the_truth(hass, other, available=True)

    faulty.fault = None
    await next_poll(hass, freezer, POLL)
    assert_meter_shows_the_truth(hass, faulty, available=True)
    assert_meter_shows_the_truth(hass, other, available=True)
    assert_clean_log(caplog)


async def test_gateway_down_then_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = gateway.port
    await gateway.stop()
    for _ in range(3):
        await next_poll(hass, freezer, POLL)
        for sim in gateway.units.values():
            assert_meter_shows_the_truth(hass, sim, available=False)
    await gateway.start(port)
    await next_poll(hass, freezer, POLL)
    for sim in gateway.units.values():
        assert_meter_shows_the_truth(hass, sim, available=True)
    assert_clean_log(caplog)


async def test_word_order_change_is_never_read_as_values(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The gateway starts swapping words: unavailable, until the option says so."""
    faulty = gateway.units[1]
    faulty.word_order = "swapped"
    for _ in range(3):
        await next_poll(hass, freezer, POLL)
        assert_meter_shows_the_truth(hass, faulty, available=False)
        assert_meter_shows_the_truth(hass, gateway.units[2], available=True)

    # The gateway goes back to normal: the next poll reads again.
    faulty.word_order = "normal"
    await next_poll(hass, freezer, POLL)
    assert_meter_shows_the_truth(hass, faulty, available=True)

    # Both meters now swap, and the user sets the option: both read again.
    for sim in gateway.units.values():
        sim.word_order = "swapped"
    await next_poll(hass, freezer, POLL)
    for sim in gateway.units.values():
        assert_meter_shows_the_truth(hass, sim, available=False)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 10, "word_order": "swapped", "request_spacing": 60},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    await next_poll(hass, freezer, POLL)
    for sim in gateway.units.values():
        assert_meter_shows_the_truth(hass, sim, available=True)
    assert_clean_log(caplog)


async def test_late_replies_in_a_row_are_never_taken_for_the_next_answer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entry: MockConfigEntry,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Unit 1 answers late poll after poll; unit 2 is read in between, correctly.

    The polls follow each other without a pause in real time (the test moves the
    clock), so each late answer arrives while later requests are on the way.
    """
    faulty = gateway.units[1]
    faulty.fault = "slow"
    faulty.slow_seconds = 1.5 * TIMEOUT  # arrives after unit 1 was given up on
    for _ in range(4):
        await next_poll(hass, freezer, POLL)
        assert_meter_shows_the_truth(hass, faulty, available=False)
        assert_meter_shows_the_truth(hass, gateway.units[2], available=True)
    faulty.fault = None
    await next_poll(hass, freezer, POLL)
    for sim in gateway.units.values():
        assert_meter_shows_the_truth(hass, sim, available=True)
    assert_clean_log(caplog)
