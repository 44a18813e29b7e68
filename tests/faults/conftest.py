"""What the fault matrix shares: the clock, the simulated meters, polls and the log.

Every case runs through Home Assistant: the meter's poll timer fires because time
passes (``freezer`` and ``async_fire_time_changed``), never by calling the coordinator.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_HOST, CONF_PORT, STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed
from homeassistant.helpers.update_coordinator import UpdateFailed
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from custom_components.smart_meter_hub.const import CONF_METER_TYPE, DOMAIN
from custom_components.smart_meter_hub.meters import MeterError
from meter_sim.obis_http import SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from tests.helpers import async_poll

# The simulated OBIS meter of tests/conftest.py's entry, and its entities' prefix.
OBIS_SERIAL = "SMH-OBIS-0001"
OBIS = "smh_obis_0001"
START = "2026-11-21T09:00:00+00:00"
OWN_LOGGERS = ("custom_components.smart_meter_hub",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every case starts at ``START`` unless it says otherwise (tests/conftest.py's
    ``freezer`` then keeps the event loop's clock running, moved with the frozen one)."""
    for item in items:
        if "faults" in item.path.parts and not item.get_closest_marker("freeze_time"):
            item.add_marker(pytest.mark.freeze_time(START))


@pytest.fixture
def meter(freezer: FrozenDateTimeFactory) -> SimulatedObisMeter:
    """tests/conftest.py's meter on the test's clock: counters move as time is moved."""
    return SimulatedObisMeter(serial=OBIS_SERIAL, clock=time.time)


@pytest.fixture
async def gateway(
    freezer: FrozenDateTimeFactory, socket_enabled: None
) -> AsyncGenerator[Sdm630Gateway]:
    """A Modbus TCP gateway with two SDM630 (units 1 and 2) on the test's clock."""
    gw = Sdm630Gateway(
        {
            1: SimulatedSdm630(serial=1001, seed=1, clock=time.time),
            2: SimulatedSdm630(serial=1002, seed=2, clock=time.time),
        }
    )
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture
async def eastron_entry(hass: HomeAssistant, gateway: Sdm630Gateway) -> MockConfigEntry:
    """The gateway's entry, set up; its meters answer."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHFAULTSEASTRON0000001",
        unique_id="1001",
        title="SDM630 gateway 127.0.0.1",
        version=1,
        minor_version=2,
        data={
            CONF_METER_TYPE: "sdm630",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: gateway.port,
            "framing": gateway.framing,
            "meters": [
                {"unit": unit, "serial": str(sim.serial), "model": "SDM630"}
                for unit, sim in sorted(gateway.units.items())
            ],
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


# Let an interval pass: the meter's poll timer fires, and its poll ends.
next_poll = async_poll


def number(hass: HomeAssistant, entity_id: str) -> float | None:
    """The entity's value, None while it is unavailable; it must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    if state.state == STATE_UNAVAILABLE:
        return None
    return float(state.state)


def _typed_failure(record: logging.LogRecord) -> bool:
    """Home Assistant's own debug line with a failed poll's cause (2025.9 and later).

    Its exception is the translated failure of a typed meter error, not a traceback of
    an unexpected one; it is only written with debug logging on.
    """
    error = record.exc_info[1] if record.exc_info else None
    return (
        record.levelno == logging.DEBUG
        and isinstance(error, UpdateFailed | ConfigEntryAuthFailed)
        and isinstance(error.__cause__, MeterError)
    )


def assert_clean_log(caplog: pytest.LogCaptureFixture) -> None:
    """No traceback and no "Unexpected error": every fault was a typed, expected one."""
    for record in caplog.records:
        ours = record.name.startswith(OWN_LOGGERS)
        message = record.getMessage()
        assert not (ours and record.exc_info and not _typed_failure(record)), (
            record.name,
            message,
        )
        assert "Unexpected error" not in message, (record.name, message)
        assert "Traceback" not in message, (record.name, message)
        # Nothing of ours escaped into Home Assistant's task or job handlers ("Error
        # doing job", "Task exception was never retrieved").
        assert not (
            record.levelno >= logging.ERROR
            and record.exc_info
            and record.name.startswith(("homeassistant", "asyncio"))
        ), (record.name, message)
        assert not (record.levelno >= logging.ERROR and ours and record.exc_text), (
            record.name,
            message,
        )
