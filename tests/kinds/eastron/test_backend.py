"""Reading the Eastron meters of a gateway: one connection, each meter on its own.

Real Modbus framing over loopback sockets, the gateway simulated.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.smart_meter_hub.kinds.eastron.backend import EastronBackend
from custom_components.smart_meter_hub.meters import ModbusConnection
from meter_sim.sdm630 import Sdm630Gateway
from tests.helpers import START, async_add_gateway, async_poll, state_of

INTERVAL = timedelta(seconds=10)


@pytest.mark.freeze_time(START)
async def test_every_meter_is_polled_over_one_connection(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: Sdm630Gateway
) -> None:
    await async_add_gateway(hass, gateway, "1, 2")
    connections = gateway.connections
    requests = {unit: sim.requests for unit, sim in gateway.units.items()}
    for _ in range(3):
        await async_poll(hass, freezer, INTERVAL)
    assert gateway.connections == connections
    for unit, sim in gateway.units.items():
        assert sim.requests > requests[unit]
    for serial in ("1001", "1002"):
        assert state_of(hass, f"binary_sensor.sdm630_{serial}_connectivity") == STATE_ON
        assert state_of(hass, f"sensor.sdm630_{serial}_net_power") != STATE_UNAVAILABLE


@pytest.mark.freeze_time(START)
async def test_one_silent_meter_does_not_take_the_other_down(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await async_add_gateway(hass, gateway, "1, 2")
    # Unit 1 says nothing: the poll waits for it as long as it waits for any
    # answer (the gateway shows nothing that could tell the test when to move on).
    gateway.units[1].fault = "silent"
    await async_poll(hass, freezer, INTERVAL)
    assert state_of(hass, "sensor.sdm630_1001_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.sdm630_1001_connectivity") == STATE_OFF
    assert state_of(hass, "sensor.sdm630_1002_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, "binary_sensor.sdm630_1002_connectivity") == STATE_ON
    assert "SDM630 1001 (unit 1) stopped answering" in caplog.text

    gateway.units[1].fault = None
    await async_poll(hass, freezer, INTERVAL)
    assert state_of(hass, "sensor.sdm630_1001_energy_import") != STATE_UNAVAILABLE
    assert "SDM630 1001 (unit 1) answers again" in caplog.text


@pytest.mark.freeze_time(START)
async def test_reported_glitch_never_reaches_the_statistics(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: Sdm630Gateway
) -> None:
    # 180.1 -> 5000 -> 180.4 kWh, as a user reported it.
    await async_add_gateway(hass, gateway, "1")
    before = float(state_of(hass, "sensor.sdm630_1001_energy_import"))
    gateway.units[1].fault = "glitch"
    await async_poll(hass, freezer, INTERVAL)
    assert state_of(hass, "sensor.sdm630_1001_energy_import") == STATE_UNAVAILABLE
    await async_poll(hass, freezer, INTERVAL)
    after = float(state_of(hass, "sensor.sdm630_1001_energy_import"))
    assert before <= after < before + 1


@pytest.mark.freeze_time(START)
async def test_nan_makes_the_meter_unavailable_not_zero(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: Sdm630Gateway
) -> None:
    await async_add_gateway(hass, gateway, "1")
    gateway.units[1].fault = "nan"
    await async_poll(hass, freezer, INTERVAL)
    assert state_of(hass, "sensor.sdm630_1001_net_power") == STATE_UNAVAILABLE


@pytest.mark.freeze_time(START)
async def test_options_apply_to_the_running_gateway(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, gateway: Sdm630Gateway
) -> None:
    entry = await async_add_gateway(hass, gateway, "1, 2")
    coordinator = entry.runtime_data
    gateway.units[2].word_order = "swapped"
    await async_poll(hass, freezer, INTERVAL)
    # Unit 2's words swapped, read the normal way: nothing like its 2.3 kW.
    before = state_of(hass, "sensor.sdm630_1002_net_power")
    assert before == STATE_UNAVAILABLE or float(before) != pytest.approx(2300, rel=0.2)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["step_id"] == "sdm630"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 5, "word_order": "swapped", "request_spacing": 20},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.runtime_data is coordinator  # not reloaded
    # Unit 2 now sends swapped words, and the option says so: plausible values again.
    requests = gateway.units[2].requests
    await async_poll(hass, freezer, timedelta(seconds=5))
    assert gateway.units[2].requests > requests  # every 5 seconds now
    assert float(state_of(hass, "sensor.sdm630_1002_net_power")) == pytest.approx(
        2300, rel=0.2
    )


def test_options_reach_every_meter_and_the_connection() -> None:
    connection = ModbusConnection("127.0.0.1", 502)
    data = {
        "meters": [
            {"unit": 1, "serial": "1001", "model": "SDM630"},
            {"unit": 2, "serial": "1002", "model": "SDM630"},
        ]
    }
    backend = EastronBackend(data, {}, connection)
    assert connection.spacing == 0.06  # Modbus TCP's own pause
    backend.apply_options({"word_order": "swapped", "request_spacing": 20})
    assert connection.spacing == 0.02
    assert [meter.word_order for meter in backend.meters] == ["swapped", "swapped"]


@pytest.mark.freeze_time(START)
async def test_the_wrong_word_order_is_named_and_fixing_it_starts_afresh(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    gateway: Sdm630Gateway,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Set up with the wrong word order: nothing is published, the reason is named.

    Decoded the wrong way the counters read ~1e-23 kWh: they never become a baseline.
    Once the word order is right, the real counter shows at once; each change of how
    values are decoded makes the counters' guard start afresh.
    """
    gateway.units[1].word_order = "swapped"
    entry = await async_add_gateway(hass, gateway, "1")
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert "word order" in str(entry.reason)
    assert hass.states.get("sensor.sdm630_1001_energy_import") is None
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 10, "word_order": "swapped"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await async_poll(hass, freezer, timedelta(minutes=1))  # the next setup attempt
    assert entry.state is ConfigEntryState.LOADED
    energy = "sensor.sdm630_1001_energy_import"
    assert float(state_of(hass, energy)) == pytest.approx(
        gateway.units[1].import_kwh, abs=0.01
    )

    # The meter is set back to high word first, and so is the option.
    gateway.units[1].word_order = "normal"
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 10, "word_order": "normal"}
    )
    await async_poll(hass, freezer, INTERVAL)
    assert "word_order changed, the energy counters start afresh" in caplog.text
    assert float(state_of(hass, energy)) == pytest.approx(
        gateway.units[1].import_kwh, abs=0.01
    )
