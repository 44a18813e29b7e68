"""Adding a virtual meter: sensors already in Home Assistant, their units checked."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import UnitOfEnergy, UnitOfPower

from ...flow import MeterFlow
from .const import (
    CONF_CIRCUITS,
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    KEY,
    SCHEMA,
    state_in,
)


class VirtualFlow(MeterFlow):
    """A meter made of sensors already in Home Assistant."""

    async def async_step_virtual(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Pick the whole-home power sensor (and energy, circuits); check their units."""
        errors: dict[str, str] = {}
        if user_input is not None:
            power = user_input[CONF_POWER_ENTITY]
            energy = user_input.get(CONF_ENERGY_ENTITY)
            if state_in(self.hass, power, UnitOfPower.WATT) is None:
                errors[CONF_POWER_ENTITY] = "invalid_power_sensor"
            elif (
                energy
                and state_in(self.hass, energy, UnitOfEnergy.KILO_WATT_HOUR) is None
            ):
                errors[CONF_ENERGY_ENTITY] = "invalid_energy_sensor"
            else:
                state = self.hass.states.get(power)
                data = {CONF_POWER_ENTITY: power}
                if energy:
                    data[CONF_ENERGY_ENTITY] = energy
                circuits = [
                    c for c in user_input.get(CONF_CIRCUITS) or [] if c != power
                ]
                return await self.async_create_meter(
                    KEY,
                    title=f"Virtual meter {state.name if state else power}",
                    data=data,
                    unique_id=f"virtual_{power}",
                    options={CONF_CIRCUITS: circuits},
                )
        return self.async_show_form(
            step_id=KEY,
            data_schema=self.add_suggested_values_to_schema(SCHEMA, user_input),
            errors=errors,
        )
