"""Smart Meter Hub: electricity meters on the local network as Home Assistant devices."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    issue_registry as ir,
)
from homeassistant.helpers.typing import ConfigType

from .analytics import STORE as ANALYTICS_STORE
from .appliances import STORE as APPLIANCES_STORE
from .const import CONF_METER_TYPE, DOMAIN, LOGGER
from .coordinator import SmartMeterConfigEntry, SmartMeterCoordinator, issue_ids
from .counters import STORE as COUNTERS_STORE
from .kinds import KINDS, LEGACY_KIND, kind_of
from .options import interval
from .services import async_setup_services
from .storage import async_remove_stored

PLATFORMS: list[Platform] = [Platform.BINARY_SENSOR, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the actions, once for every meter."""
    async_setup_services(hass)
    return True


async def async_migrate_entry(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> bool:
    """1.1 -> 1.2: every entry names its kind of meter."""
    if entry.version > 1:
        return False
    if entry.minor_version < 2:
        data = {CONF_METER_TYPE: LEGACY_KIND, **entry.data}
        hass.config_entries.async_update_entry(entry, data=data, minor_version=2)
        LOGGER.debug("Migrated %s to version 1.2", entry.title)
    return True


async def async_setup_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> bool:
    """Read the meter once, then create its entities."""
    kind = kind_of(entry)
    backend = await kind.create_backend(hass, entry)
    coordinator = SmartMeterCoordinator(
        hass, entry, kind, backend, interval(entry.options, kind.default_interval)
    )
    try:
        await coordinator.async_config_entry_first_refresh()
    except ConfigEntryNotReady:
        if not coordinator.waiting:
            raise
        # Waiting for an approval is no failure: loaded, offline, the repair explains.
        coordinator.async_wait_for_approval()
    stop = backend.subscribe(
        lambda: entry.async_create_background_task(
            hass, coordinator.async_refresh(), f"{DOMAIN} {entry.title} refresh"
        )
    )
    if stop is not None:
        entry.async_on_unload(stop)
    _async_remove_stale_devices(hass, entry, set(coordinator.data.devices))
    entry.runtime_data = coordinator
    entry.async_on_unload(entry.add_update_listener(_async_entry_updated))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


@callback
def _async_remove_stale_devices(
    hass: HomeAssistant, entry: SmartMeterConfigEntry, shown: set[str]
) -> None:
    """Remove the devices of meters the entry no longer has (a gateway's unit removed)."""
    owned = kind_of(entry).meter_ids(entry.data, entry.unique_id) | shown
    registry = dr.async_get(hass)
    for device in dr.async_entries_for_config_entry(registry, entry.entry_id):
        if not any(
            domain == DOMAIN and ident in owned for domain, ident in device.identifiers
        ):
            registry.async_update_device(
                device.id, remove_config_entry_id=entry.entry_id
            )


async def _async_entry_updated(
    hass: HomeAssistant, entry: SmartMeterConfigEntry
) -> None:
    """New settings reload the entry; new options apply to the running meter.

    Settings change in a reconfigure, a re-authentication, or when a meter is found at
    a new address; options apply without a reload: no connection is lost.
    """
    coordinator = entry.runtime_data
    if coordinator.settings_of(entry.data) != coordinator.settings:
        hass.config_entries.async_schedule_reload(entry.entry_id)
        return
    if coordinator.options == entry.options:
        return  # a new title, or what the backend learned
    coordinator.apply_options(entry.options)
    coordinator.update_interval = interval(
        entry.options, coordinator.kind.default_interval
    )
    await coordinator.async_request_refresh()


async def async_unload_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> bool:
    """Stop polling the meter and remove its entities."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.backend.async_close()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: SmartMeterConfigEntry) -> None:
    """Forget what the entry saved: counters, analytics, appliances, repair issues."""
    for what in (COUNTERS_STORE, ANALYTICS_STORE, APPLIANCES_STORE):
        await async_remove_stored(hass, what, entry.entry_id)
    if (kind := KINDS.get(entry.data.get(CONF_METER_TYPE, ""))) is not None:
        for issue_id in issue_ids(kind, entry.entry_id):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


async def async_remove_config_entry_device(
    hass: HomeAssistant, entry: SmartMeterConfigEntry, device: dr.DeviceEntry
) -> bool:
    """Let the user delete a device only when it is no longer a configured meter."""
    owned = kind_of(entry).meter_ids(entry.data, entry.unique_id)
    return not any(ident in owned for _domain, ident in device.identifiers)
