"""The OBIS HTTP fault matrix, through Home Assistant, against the simulated meter.

Every case: the meter answers, then the fault comes and one poll passes, then the
fault clears and one more poll passes. While the fault lasts, the entities it touches
are unavailable and no entity shows a wrong value (no 0 or spike for a counter, no
number under a unit it was not sent in); the log has no traceback and no "Unexpected
error"; one poll after the fault clears, every entity shows the meter's values again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_REAUTH
from homeassistant.const import CONF_TOKEN, STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

from .conftest import OBIS, assert_clean_log, next_poll, number

POLL = timedelta(seconds=60)  # the OBIS HTTP kind's default interval
COUNTERS = ("energy_import", "energy_export")
POWERS = ("power_import", "power_export", "net_power", "frequency", "power_factor")
CONNECTIVITY = f"binary_sensor.{OBIS}_connectivity"


def truth(meter: SimulatedObisMeter) -> dict[str, float]:
    """What the counters are, as the meter last counted them (kWh)."""
    return {"energy_import": meter.import_kwh, "energy_export": meter.export_kwh}


def assert_no_wrong_value(hass: HomeAssistant, meter: SimulatedObisMeter) -> None:
    """A counter shows the meter's count or nothing; every sensor keeps its unit."""
    for key, value in truth(meter).items():
        shown = number(hass, f"sensor.{OBIS}_{key}")
        assert shown is None or shown == pytest.approx(value, abs=0.01), key
        state = hass.states.get(f"sensor.{OBIS}_{key}")
        assert state is not None
        assert state.attributes["unit_of_measurement"] == "kWh"
    for key, unit in (("power_import", "W"), ("net_power", "W"), ("frequency", "Hz")):
        state = hass.states.get(f"sensor.{OBIS}_{key}")
        assert state is not None
        assert state.attributes["unit_of_measurement"] == unit
        shown = number(hass, f"sensor.{OBIS}_{key}")
        if key == "frequency":
            assert shown is None or 49 < shown < 51
        elif shown is not None:
            assert abs(shown) < 5000  # the simulated home draws about 850 W


def assert_recovered(hass: HomeAssistant, meter: SimulatedObisMeter) -> None:
    """Every entity shows the meter's values again."""
    assert hass.states.get(CONNECTIVITY).state == STATE_ON
    for key, value in truth(meter).items():
        assert number(hass, f"sensor.{OBIS}_{key}") == pytest.approx(value, abs=0.01)
    for key in POWERS:
        assert number(hass, f"sensor.{OBIS}_{key}") is not None, key


@dataclass(frozen=True)
class Case:
    """A fault of the simulated meter, and what it takes away while it lasts."""

    fault: str
    # "meter": the poll fails, every reading is unavailable and the meter offline;
    # "values": the meter answers without a usable value for any reading;
    # "counters": the energy counters are unavailable, the rest is live.
    lost: str
    unanswered: bool = False


CASES = [
    Case("http500", "meter"),
    Case("timeout", "meter", unanswered=True),  # slow past the 10 s timeout
    Case("invalid_json", "meter"),
    Case("html", "meter"),
    Case("truncated", "meter"),
    Case("deep", "meter"),
    Case("invalid_utf8", "meter"),
    Case("oversize", "meter"),
    Case("big_int", "meter"),
    Case("nan", "meter"),  # NaN literals: not JSON
    Case("empty", "meter"),
    Case("quality_bad", "values"),
    Case("huge_scaler", "counters"),
    Case("unknown_unit", "counters"),
    Case("duplicate", "counters"),
    Case("glitch_zero", "counters"),  # rejected by the counters' guard
    Case("glitch_spike", "counters"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.fault for case in CASES])
async def test_fault_then_recovery(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
    case: Case,
) -> None:
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, meter)

    requests = meter.read_requests
    meter.set_fault(case.fault)
    await next_poll(
        hass,
        freezer,
        POLL,
        unanswered=(lambda: meter.read_requests > requests)
        if case.unanswered
        else None,
    )
    assert meter.read_requests > requests
    assert_no_wrong_value(hass, meter)
    # The import counter is gone; export may stay (a true 0 glitching to 0 is 0).
    assert number(hass, f"sensor.{OBIS}_energy_import") is None
    live = [number(hass, f"sensor.{OBIS}_{key}") for key in POWERS]
    if case.lost == "counters":
        assert None not in live
    else:
        assert live == [None] * len(POWERS)
    online = STATE_OFF if case.lost == "meter" else STATE_ON
    assert hass.states.get(CONNECTIVITY).state == online
    # The fault lasts: still nothing wrong, and nothing new in the log.
    await next_poll(
        hass,
        freezer,
        POLL,
        unanswered=(lambda: meter.read_requests > requests + 1)
        if case.unanswered
        else None,
    )
    assert_no_wrong_value(hass, meter)
    assert init_integration.state.recoverable

    meter.set_fault(None)
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, meter)
    assert_clean_log(caplog)


async def test_meter_down_then_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    server: ObisMeterServer,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await server.stop()
    for _ in range(3):
        await next_poll(hass, freezer, POLL)
        assert hass.states.get(CONNECTIVITY).state == STATE_OFF
        for key in (*COUNTERS, *POWERS):
            assert hass.states.get(f"sensor.{OBIS}_{key}").state == STATE_UNAVAILABLE
    await server.restart()
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, meter)
    assert_clean_log(caplog)


@pytest.mark.parametrize("fault", ["unauthorized", "forbidden"])
async def test_refused_token_asks_for_a_new_one_then_recovers(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
    fault: str,
) -> None:
    meter.set_fault(fault)
    await next_poll(hass, freezer, POLL)
    assert hass.states.get(CONNECTIVITY).state == STATE_OFF
    for key in (*COUNTERS, *POWERS):
        assert hass.states.get(f"sensor.{OBIS}_{key}").state == STATE_UNAVAILABLE
    # Home Assistant asks the user for the token instead of polling on.
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == SOURCE_REAUTH

    meter.set_fault(None)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_TOKEN: "new-token"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, meter)
    assert_clean_log(caplog)


async def test_a_hostile_answer_in_the_config_flow_is_an_invalid_response(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    port: int,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """'Something answered, but not with OBIS readings', never 'unknown'."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": "user"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "obis_http"}
    )
    for fault in ("deep", "invalid_utf8", "big_int", "oversize", "truncated", "html"):
        meter.set_fault(fault)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"host": "127.0.0.1", "port": port}
        )
        assert result["errors"] == {"base": "invalid_response"}, fault
    meter.set_fault("huge_scaler")  # the serial number still answers: it is added
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert_clean_log(caplog)


async def test_counters_never_take_a_glitch_as_a_value_in_a_run_of_faults(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Faults one after the other, one poll each: the counter only ever moves up."""
    shown: list[float] = []
    for fault in (
        "glitch_zero",
        None,
        "huge_scaler",
        "glitch_spike",
        "deep",
        None,
        "duplicate",
        "unknown_unit",
        "nan",
        None,
    ):
        meter.set_fault(fault)
        await next_poll(hass, freezer, POLL)
        assert_no_wrong_value(hass, meter)
        if (value := number(hass, f"sensor.{OBIS}_energy_import")) is not None:
            shown.append(value)
    assert shown == sorted(shown)
    assert len(shown) == 3  # one value after each fault cleared
    assert_clean_log(caplog)
