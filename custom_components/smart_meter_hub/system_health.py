"""System health: the polling status of every meter, where Home Assistant users look."""

from __future__ import annotations

from typing import Any

from homeassistant.components import system_health
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, callback

from .const import DOMAIN
from .coordinator import SmartMeterConfigEntry
from .kinds import kind_of
from .polls import poll_log


@callback
def async_register(
    hass: HomeAssistant, register: system_health.SystemHealthRegistration
) -> None:
    """Register the info callback."""
    register.async_register_info(
        system_health_info, "/config/integrations/integration/smart_meter_hub"
    )


async def system_health_info(hass: HomeAssistant) -> dict[str, Any]:
    """Meters configured and online, the last hour's polls, failures and waits."""
    entries: list[SmartMeterConfigEntry] = hass.config_entries.async_entries(DOMAIN)
    configured = sum(
        len(kind_of(entry).meter_ids(entry.data, entry.unique_id)) for entry in entries
    )
    online = 0
    for entry in entries:
        if entry.state is not ConfigEntryState.LOADED:
            continue
        coordinator = entry.runtime_data
        if coordinator.last_update_success and coordinator.data:
            online += len(coordinator.data.online)
    last_hour = poll_log(hass).summary()
    return {
        "meters_configured": configured,
        "meters_online": online,
        "polls_last_hour": last_hour.polls,
        "failed_polls_last_hour": last_hour.failed,
        "slowest_poll": f"{last_hour.slowest_s:.2f} s",
        "longest_wait_for_a_poll_slot": f"{last_hour.longest_wait_s:.2f} s",
    }
