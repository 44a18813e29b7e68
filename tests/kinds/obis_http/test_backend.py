"""Reading an OBIS HTTP meter: what its answers become, and its faults.

Every fault makes the meter's entities unavailable, never 0, and the next good answer
brings them back.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from meter_sim.obis_http import SimulatedObisMeter
from tests.helpers import OBIS_PREFIX, START, async_poll, setup_integration, state_of

P = f"sensor.{OBIS_PREFIX}"
CONNECTIVITY = f"binary_sensor.{OBIS_PREFIX}_connectivity"
MINUTE = timedelta(minutes=1)


async def test_net_power_derived_from_import_and_export(
    hass: HomeAssistant, meter: SimulatedObisMeter, config_entry: MockConfigEntry
) -> None:
    meter.missing = {"1-0:16.7.0"}
    meter.solar = True
    await setup_integration(hass, config_entry)
    imported = float(state_of(hass, f"{P}_power_import"))
    exported = float(state_of(hass, f"{P}_power_export"))
    assert float(state_of(hass, f"{P}_net_power")) == pytest.approx(imported - exported)


@pytest.mark.parametrize("fault", ["http500", "invalid_json", "empty"])
@pytest.mark.freeze_time(START)
async def test_every_fault_makes_entities_unavailable_never_zero(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    fault: str,
) -> None:
    meter.set_fault(fault, count=1)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_OFF
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_ON


@pytest.mark.freeze_time(START)
async def test_a_meter_answering_too_late_is_unavailable_never_zero(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    requests = meter.read_requests
    meter.set_fault("timeout", count=1)  # answers after 30 s; we wait 10 s
    await async_poll(
        hass, freezer, MINUTE, unanswered=lambda: meter.read_requests > requests
    )
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_OFF
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") != STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_ON


@pytest.mark.freeze_time(START)
async def test_bad_quality_is_unavailable_not_zero(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
) -> None:
    meter.set_fault("quality_bad", count=1)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_power_import") == STATE_UNAVAILABLE
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert state_of(hass, CONNECTIVITY) == STATE_ON
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_power_import") != STATE_UNAVAILABLE


@pytest.mark.freeze_time(START)
async def test_an_http_500_is_logged_as_the_meters_own_error(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The meter answered: "answered with an error", never "cannot reach"."""
    meter.set_fault("http500", count=1)
    await async_poll(hass, freezer, MINUTE)
    assert state_of(hass, f"{P}_energy_import") == STATE_UNAVAILABLE
    assert "The meter answered with an error: HTTP 500" in caplog.text
    assert "Cannot reach the meter" not in caplog.text
