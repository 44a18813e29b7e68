"""Saving what must survive a restart: on a cadence a busy meter cannot postpone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.storage import (
    CadencedStore,
    async_remove_stored,
)

from .helpers import SERIAL, START, async_poll, setup_integration


@pytest.mark.freeze_time(START)
async def test_a_meter_polled_every_few_seconds_is_saved_every_minute(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    hass_storage: dict,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SCAN_INTERVAL: 10}
    )
    await setup_integration(hass, config_entry)
    counters = f"{DOMAIN}.{config_entry.entry_id}.energy"
    analytics = f"{DOMAIN}.{config_entry.entry_id}.analytics"
    # Every poll changes what is to be saved; the first change sets the moment.
    for _ in range(5):
        await async_poll(hass, freezer, timedelta(seconds=10))
    assert counters not in hass_storage
    assert analytics not in hass_storage
    await async_poll(hass, freezer, timedelta(seconds=10))
    assert f"{SERIAL}:1-0:1.8.0.255" in hass_storage[counters]["data"]
    assert SERIAL in hass_storage[analytics]["data"]


async def test_removing_forgets_what_was_saved(
    hass: HomeAssistant, hass_storage: dict
) -> None:
    await CadencedStore(hass, "test", 1, 60.0, lambda: {"kept": True}).async_save()
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {"kept": True}
    store = CadencedStore(hass, "test", 1, 60.0, dict)
    assert await store.async_load() == {"kept": True}
    await async_remove_stored(hass, "test")
    assert f"{DOMAIN}.test" not in hass_storage
    assert await CadencedStore(hass, "test", 1, 60.0, dict).async_load() == {}
