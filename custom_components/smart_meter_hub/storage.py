"""Saving what must survive a restart, on a cadence a busy meter cannot postpone.

Each kind of state (the counters' guard, the analytics, the learned appliances) is one
file under ``.storage`` for every entry, keyed by entry id: a thousand meters make one
write per kind every :data:`SAVE_EVERY`, not a thousand a minute (the first write after
a start comes sooner, :data:`SAVE_FIRST`). Until this version each entry had files of
its own (``smart_meter_hub.<entry id>.<kind>``); an entry's file is taken into the
shared one when the entry first loads, then removed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Final

from homeassistant.const import EVENT_HOMEASSISTANT_FINAL_WRITE
from homeassistant.core import CALLBACK_TYPE, CoreState, HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util.hass_dict import HassKey

from .const import DOMAIN

type Dump = Callable[[], dict[str, Any]]
# Seconds: what a crash may lose. Home Assistant's own restored states (the last
# states of entities, helpers.restore_state) are written on the same cadence. Each
# write costs about half a millisecond of CPU; at one a minute per kind, a single
# meter's three files cost more than its poll, and an SD card takes 4,300 writes a day.
SAVE_EVERY: Final = 15 * 60.0
# Seconds: the first write of a file after Home Assistant starts comes this soon, so a
# new meter's first accepted counters (the guard's baseline: without one a glitch to 0
# would pass as a counter that never counted) and a Home Assistant that crashes again
# soon after each start still get to the disk.
SAVE_FIRST: Final = 60.0
_STOPPING: Final = frozenset(
    {CoreState.stopping, CoreState.final_write, CoreState.stopped}
)
_FILES: HassKey[dict[str, _SharedFile]] = HassKey(f"{DOMAIN}_stores")


def _legacy(hass: HomeAssistant, what: str, entry_id: str) -> Store[dict[str, Any]]:
    """The file an entry had of its own before the shared files."""
    return Store(hass, 1, f"{DOMAIN}.{entry_id}.{what}")


class _SharedFile:
    """One kind of state of every entry, in one file, written ``every`` after a change.

    Home Assistant's delayed save starts its delay again on every call, so a meter
    polled more often than the delay would only ever be saved at a clean shutdown. Here
    the first change schedules the save and later changes join it: a crash loses at
    most ``every`` seconds. The first save after a start comes :data:`SAVE_FIRST`
    after the first change (or ``every``, if that is sooner). What is written is taken
    in the event loop (Home Assistant 2025.4 would call a delayed save's function in a
    worker thread, while the meters' state changes); a pending save is written when
    Home Assistant stops.
    """

    def __init__(
        self, hass: HomeAssistant, what: str, version: int, every: float
    ) -> None:
        self.hass = hass
        self.store: Store[dict[str, Any]] = Store(hass, version, f"{DOMAIN}.{what}")
        self.every = every
        self.parts: dict[str, Dump] = {}  # the loaded entries: what they save now
        self.saved: dict[str, Any] | None = None  # every entry's last saved part
        self._timer: asyncio.TimerHandle | None = None  # the save at the cadence
        self._final: CALLBACK_TYPE | None = None  # the save when Home Assistant stops
        self._final_written = False
        self._written = False  # by the cadence, since Home Assistant started
        self._loading = asyncio.Lock()

    async def async_load(self) -> dict[str, Any]:
        async with self._loading:
            if self.saved is None:
                self.saved = dict(await self.store.async_load() or {})
        return self.saved

    def changed(self) -> None:
        if self._final is None:
            self._final = self.hass.bus.async_listen_once(
                EVENT_HOMEASSISTANT_FINAL_WRITE, self._async_final
            )
        # Home Assistant stopping: the final write saves it (as its own stores do).
        # Once it has written, nothing is timed any more: an entry's setup cancelled by
        # the stop would leave a timer behind.
        if (
            self._timer is None
            and not self._final_written
            and self.hass.state not in _STOPPING
        ):
            delay = self.every if self._written else min(SAVE_FIRST, self.every)
            self._timer = self.hass.loop.call_later(delay, self._due)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._final is not None:
            self._final()
            self._final = None

    @callback
    def _due(self) -> None:
        self._timer = None  # fired
        self._written = True
        self.hass.async_create_task(self.async_save_now(), f"{DOMAIN} saving")

    @callback
    def _async_final(self, _event: object) -> None:
        self._final = None  # fired (a listener that has fired cannot be removed)
        self._final_written = True
        self._cancel()  # at once: the stop may cancel the save before it starts
        self.hass.async_create_task(self.async_save_now(), f"{DOMAIN} final save")

    def _data(self) -> dict[str, Any]:
        saved = self.saved if self.saved is not None else {}
        for entry_id, dump in self.parts.items():
            saved[entry_id] = dump()
        return dict(saved)

    async def async_save_now(self) -> None:
        self._cancel()
        await self.store.async_save(self._data())

    async def async_remove(self) -> None:
        """No entry left: no file (a pending save is dropped with it)."""
        self._cancel()
        await self.store.async_remove()


def _shared(hass: HomeAssistant, what: str, version: int, every: float) -> _SharedFile:
    files = hass.data.setdefault(_FILES, {})
    if (found := files.get(what)) is None:
        found = files[what] = _SharedFile(hass, what, version, every)
    return found


class CadencedStore:
    """One entry's part of a shared file (``what``: its kind of state)."""

    def __init__(
        self,
        hass: HomeAssistant,
        what: str,
        entry_id: str,
        version: int,
        every: float,
        dump: Dump,
    ) -> None:
        """``dump`` gives what the entry saves, when the file is written."""
        self._hass = hass
        self._file = _shared(hass, what, version, every)
        self._what = what
        self._entry_id = entry_id
        self._dump = dump

    async def async_load(self) -> dict[str, Any]:
        """What the entry saved, or an empty dict; from now on its part is saved."""
        saved = await self._file.async_load()
        if self._entry_id not in saved:
            legacy = _legacy(self._hass, self._what, self._entry_id)
            if (mine := await legacy.async_load()) is not None:
                saved[self._entry_id] = mine
                await self._file.async_save_now()  # in the shared file, then gone
                await legacy.async_remove()
        self._file.parts[self._entry_id] = self._dump
        part: dict[str, Any] = saved.get(self._entry_id) or {}
        return part

    def changed(self) -> None:
        """Schedule a save, unless one is already scheduled."""
        self._file.changed()

    async def async_save(self) -> None:
        """The entry unloads: keep its last state; the file follows at its cadence.

        Kept in memory too, so a reload takes it from there; Home Assistant stopping
        writes a pending save.
        """
        if self._file.parts.get(self._entry_id) is self._dump:
            del self._file.parts[self._entry_id]
            if self._file.saved is not None:
                self._file.saved[self._entry_id] = self._dump()
            self._file.changed()


async def async_remove_stored(hass: HomeAssistant, what: str, entry_id: str) -> None:
    """Forget what a removed entry saved of ``what``; the file goes with the last one."""
    shared = _shared(hass, what, 1, SAVE_EVERY)
    saved = await shared.async_load()
    shared.parts.pop(entry_id, None)
    saved.pop(entry_id, None)
    if saved:
        shared.changed()
    else:
        await shared.async_remove()
    await _legacy(hass, what, entry_id).async_remove()
