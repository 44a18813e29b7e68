"""What the virtual meter's modules share."""

from __future__ import annotations

from typing import Final

from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import EntitySelector, EntitySelectorConfig
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter

from ...compat import vol

KEY: Final = "virtual"
CONF_POWER_ENTITY: Final = "power_entity"
CONF_ENERGY_ENTITY: Final = "energy_entity"
CONF_CIRCUITS: Final = "circuits"
MODEL: Final = "Virtual meter"

CIRCUITS_SELECTOR = EntitySelector(
    EntitySelectorConfig(domain="sensor", device_class="power", multiple=True)
)
SCHEMA = vol.Schema(
    {
        vol.Required(CONF_POWER_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class="power")
        ),
        vol.Optional(CONF_ENERGY_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class="energy")
        ),
        vol.Optional(CONF_CIRCUITS): CIRCUITS_SELECTOR,
    }
)


def state_in(hass: HomeAssistant, entity_id: str, unit: str) -> float | None:
    """A sensor's state converted to ``unit`` (W or kWh), or None if unusable."""
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    source = state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)
    converter = PowerConverter if unit == UnitOfPower.WATT else EnergyConverter
    if source not in converter.VALID_UNITS:
        return None
    return converter.convert(value, source, unit)
