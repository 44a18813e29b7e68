"""Small helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntry
from homeassistant.core import HomeAssistant

from custom_components.smart_meter_hub.const import DOMAIN


def state_of(hass: HomeAssistant, entity_id: str) -> str:
    """The entity's state; the entity must exist."""
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


async def start_reconfigure(hass: HomeAssistant, entry: ConfigEntry) -> Any:
    """Open Reconfigure on ``entry``, as the entry's menu does; return the first step."""
    return await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
