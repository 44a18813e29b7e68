"""Saving what must survive a restart, on a cadence a busy meter cannot postpone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store

from .const import DOMAIN


class CadencedStore:
    """One entry's saved state: written at most ``every`` seconds after a change.

    Home Assistant's delayed save starts its delay again on every call, so a meter
    polled more often than the delay would only ever be saved at a clean shutdown. Here
    the first change schedules the save and later changes join it: a crash loses at
    most ``every`` seconds.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        name: str,
        version: int,
        every: float,
        dump: Callable[[], dict[str, Any]],
    ) -> None:
        """``name`` is the file under .storage (prefixed with the domain)."""
        self._store: Store[dict[str, Any]] = Store(hass, version, f"{DOMAIN}.{name}")
        self._every = every
        self._dump = dump
        self._pending = False

    async def async_load(self) -> dict[str, Any]:
        """What was saved, or an empty dict."""
        return await self._store.async_load() or {}

    def changed(self) -> None:
        """Schedule a save, unless one is already scheduled."""
        if not self._pending:
            self._pending = True
            self._store.async_delay_save(self._data, self._every)

    def _data(self) -> dict[str, Any]:
        self._pending = False
        return self._dump()

    async def async_save(self) -> None:
        """Save now (the entry unloads)."""
        self._pending = False
        await self._store.async_save(self._dump())


async def async_remove_stored(hass: HomeAssistant, name: str) -> None:
    """Forget what a removed entry saved under ``name`` (its file under .storage)."""
    await Store[dict[str, Any]](hass, 1, f"{DOMAIN}.{name}").async_remove()
