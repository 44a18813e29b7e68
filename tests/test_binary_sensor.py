"""Binary sensors: whether each meter answers, and its load analytics.

A snapshot of the platform per kind of meter; then which facts outlive an outage.
How the analytics turn on and off is tested in test_analytics.py.
"""

from __future__ import annotations

from datetime import timedelta
from unittest.mock import patch

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from meter_sim.obis_http import ObisMeterServer

from .helpers import OBIS_PREFIX, START, async_poll, setup_integration, state_of

P = f"binary_sensor.{OBIS_PREFIX}"


@pytest.mark.freeze_time(START)
@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_binary_sensors(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    kind_entry: MockConfigEntry,
) -> None:
    with patch("custom_components.smart_meter_hub.PLATFORMS", [Platform.BINARY_SENSOR]):
        await setup_integration(hass, kind_entry)
    await snapshot_platform(hass, entity_registry, snapshot, kind_entry.entry_id)


@pytest.mark.freeze_time(START)
async def test_what_outlives_an_outage(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    server: ObisMeterServer,
) -> None:
    assert state_of(hass, f"{P}_connectivity") == STATE_ON
    assert state_of(hass, f"{P}_high_consumption") == STATE_OFF
    assert state_of(hass, f"{P}_phantom_load") == STATE_UNKNOWN  # no night seen yet

    await server.stop()
    await async_poll(hass, freezer, timedelta(minutes=1))
    # Connectivity says the meter is away; last night's finding stays readable; the
    # live finding is not known while the meter is away.
    assert state_of(hass, f"{P}_connectivity") == STATE_OFF
    assert state_of(hass, f"{P}_phantom_load") == STATE_UNKNOWN
    assert state_of(hass, f"{P}_high_consumption") == STATE_UNAVAILABLE

    await server.restart()
    await async_poll(hass, freezer, timedelta(minutes=1))
    assert state_of(hass, f"{P}_connectivity") == STATE_ON
    assert state_of(hass, f"{P}_high_consumption") == STATE_OFF
