"""Smart Meter Hub: electricity meters on the local network as Home Assistant devices."""

from __future__ import annotations

from datetime import timedelta

from homeassistant.const import CONF_SCAN_INTERVAL, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, device_registry as dr
from homeassistant.helpers.typing import ConfigType

from .backend import async_create_backend
from .const import CONF_METER_TYPE, DEFAULT_SCAN_INTERVAL, DOMAIN, METER_OBIS_HTTP
from .coordinator import SmartMeterConfigEntry, SmartMeterCoordinator, guard_store
from .sdm630 import Sdm630Backend, async_remove_stale_meters
from .services import async_setup_services
from .virtual import VirtualBackend

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, once for every meter."""
    async_setup_services(hass)
    return True


def _interval(entry: SmartMeterConfigEntry) -> timedelta | None:
    meter_type = entry.data.get(CONF_METER_TYPE, METER_OBIS_HTTP)
    default = DEFAULT_SCAN_INTERVAL.get(meter_type)
    seconds = entry.options.get(CONF_SCAN_INTERVAL)
    return timedelta(seconds=seconds) if seconds and default else default


async def async_setup_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> bool:
    """Read the meter once, then create its entities."""
    coordinator = SmartMeterCoordinator(
        hass, entry, await async_create_backend(hass, entry), _interval(entry)
    )
    await coordinator.async_config_entry_first_refresh()
    if isinstance(coordinator.backend, VirtualBackend):
        # Event driven: each state change of a source sensor refreshes the meter.
        coordinator.backend.async_start(
            lambda: entry.async_create_background_task(
                hass, coordinator.async_refresh(), "smart_meter_hub virtual refresh"
            )
        )
    if isinstance(coordinator.backend, Sdm630Backend):
        async_remove_stale_meters(hass, entry, coordinator.backend)
    entry.runtime_data = coordinator
    entry.async_on_unload(entry.add_update_listener(_async_options_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_options_updated(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> None:
    """Apply new options to the running meter: no reload, no lost connection."""
    coordinator = entry.runtime_data
    if coordinator.options == entry.options:
        return  # a change of data (reconfigure): the entry reloads by itself
    coordinator.apply_options(entry.options)
    coordinator.update_interval = _interval(entry)
    await coordinator.async_request_refresh()


async def async_unload_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> bool:
    """Stop polling the meter and remove its entities."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.backend.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> None:
    """Forget the meter's persisted energy counters."""
    await guard_store(hass, entry.entry_id).async_remove()


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SmartMeterConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device only when it is no longer a configured meter."""
    backend = entry.runtime_data.backend
    if not isinstance(backend, Sdm630Backend):
        return False
    return not any(ident in backend.serials for _domain, ident in device.identifiers)
