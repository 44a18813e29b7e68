"""Saving what must survive a restart: on a cadence a busy meter cannot postpone.

One file per kind of state for every entry, written a minute after a start, then every
15 minutes: a thousand meters make one write per kind, not a thousand a minute (#17),
and one meter does not write three files a minute.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import CONF_SCAN_INTERVAL
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.storage import (
    SAVE_EVERY,
    SAVE_FIRST,
    CadencedStore,
    async_remove_stored,
)

from .helpers import SERIAL, START, async_poll, async_saved, setup_integration


@pytest.mark.freeze_time(START)
async def test_a_meter_polled_every_few_seconds_is_saved_on_the_cadence(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_SCAN_INTERVAL: 10}
    )
    await setup_integration(hass, config_entry)
    counters, analytics = f"{DOMAIN}.energy", f"{DOMAIN}.analytics"
    entry_id = config_entry.entry_id
    # Every poll changes what is to be saved; the first change sets the moment. The
    # first save after a start comes within a minute (a new meter's baseline).
    assert (SAVE_FIRST, SAVE_EVERY) == (60, 900)
    for _ in range(5):
        await async_poll(hass, freezer, timedelta(seconds=10))
    assert counters not in hass_storage
    assert analytics not in hass_storage
    await async_poll(hass, freezer, timedelta(seconds=10))
    assert f"{SERIAL}:1-0:1.8.0.255" in hass_storage[counters]["data"][entry_id]
    assert SERIAL in hass_storage[analytics]["data"][entry_id]
    # Then every 15 minutes, not every minute.
    del hass_storage[counters], hass_storage[analytics]
    for _ in range(89):
        await async_poll(hass, freezer, timedelta(seconds=10))
    assert counters not in hass_storage
    assert analytics not in hass_storage
    await async_poll(hass, freezer, timedelta(seconds=10))
    assert f"{SERIAL}:1-0:1.8.0.255" in hass_storage[counters]["data"][entry_id]
    assert SERIAL in hass_storage[analytics]["data"][entry_id]


async def test_entries_share_one_file_and_removing_forgets_only_theirs(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    first = CadencedStore(hass, "test", "first", 1, 60.0, lambda: {"kept": 1})
    second = CadencedStore(hass, "test", "second", 1, 60.0, lambda: {"kept": 2})
    assert await first.async_load() == {}
    assert await second.async_load() == {}
    first.changed()
    second.changed()
    await async_saved(hass)
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {
        "first": {"kept": 1},
        "second": {"kept": 2},
    }
    await async_remove_stored(hass, "test", "first")
    await async_saved(hass)
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {"second": {"kept": 2}}
    second.changed()  # pending when the last entry goes: dropped with the file
    await async_remove_stored(hass, "test", "second")
    assert f"{DOMAIN}.test" not in hass_storage  # no entry left: no file
    # A meter added afterwards is saved again.
    third = CadencedStore(hass, "test", "third", 1, 60.0, lambda: {"kept": 3})
    await third.async_load()
    third.changed()
    await async_saved(hass)
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {"third": {"kept": 3}}


async def test_an_unloaded_entry_keeps_its_last_state_for_a_reload(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    state = {"value": 1}
    store = CadencedStore(hass, "test", "entry", 1, 60.0, lambda: dict(state))
    await store.async_load()
    state["value"] = 2
    await store.async_save()  # unloaded: the value of that moment is kept
    state["value"] = 3  # (the unloaded entry's objects no longer count)
    reloaded = CadencedStore(hass, "test", "entry", 1, 60.0, dict)
    assert await reloaded.async_load() == {"value": 2}
    await async_saved(hass)
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {"entry": {}}


async def test_an_entrys_own_file_of_an_earlier_version_is_taken_over(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    hass_storage[f"{DOMAIN}.entry.test"] = {
        "version": 1,
        "key": f"{DOMAIN}.entry.test",
        "data": {"kept": True},
    }
    store = CadencedStore(hass, "test", "entry", 1, 60.0, lambda: {"kept": True})
    assert await store.async_load() == {"kept": True}
    assert hass_storage[f"{DOMAIN}.test"]["data"] == {"entry": {"kept": True}}
    assert f"{DOMAIN}.entry.test" not in hass_storage
