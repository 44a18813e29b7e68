"""Adding, reconfiguring and re-authenticating an OBIS HTTP meter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import ConfigFlowResult
from homeassistant.const import CONF_HOST, CONF_PORT, CONF_TOKEN

from ...compat import vol
from ...coordinator import SmartMeterConfigEntry
from ...flow import PASSWORD_SELECTOR, FormError, MeterFlow, address
from .backend import client_from_data, title
from .const import CONF_PATH, KEY, SCHEMA


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise form input: integer port, no empty optional fields."""
    data: dict[str, Any] = address(user_input)
    for key in (CONF_TOKEN, CONF_PATH):
        if value := str(user_input.get(key) or "").strip():
            data[key] = value
    return data


class ObisHttpFlow(MeterFlow):
    """Add, reconfigure and re-authenticate an OBIS HTTP meter."""

    async def _async_serial(self, data: Mapping[str, Any]) -> str:
        """Read the meter once; its serial number, or a FormError."""
        reading = await self.checked(client_from_data(self.hass, data).read())
        if not reading.serial:
            raise FormError("no_serial")
        return reading.serial

    async def async_step_obis_http(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask where the meter answers, read it, and add it."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            try:
                serial = await self._async_serial(data)
            except FormError as err:
                errors = err.errors
            else:
                return await self.async_create_meter(
                    KEY,
                    title=title(serial),
                    data=data,
                    unique_id=serial,
                    updates={key: data[key] for key in (CONF_HOST, CONF_PORT)},
                )
        return self.async_show_form(
            step_id=KEY,
            data_schema=self.add_suggested_values_to_schema(SCHEMA, user_input),
            errors=errors,
        )

    async def _async_update(
        self, entry: SmartMeterConfigEntry, data: dict[str, Any]
    ) -> tuple[ConfigFlowResult | None, dict[str, str]]:
        """Save ``data`` if the entry's own meter answers with it; else form errors."""
        try:
            serial = await self._async_serial(data)
        except FormError as err:
            return None, err.errors
        return await self.async_update_meter(entry, data, unique_id=serial), {}

    async def async_step_obis_http_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the address or the token; the same meter must answer."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            result, errors = await self._async_update(entry, _clean(user_input))
            if result is not None:
                return result
        return self.async_show_form(
            step_id="obis_http_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                SCHEMA, user_input or entry.data
            ),
            errors=errors,
        )

    async def async_step_obis_http_reauth(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The meter refused the token: ask for the new one, and check it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean({**entry.data, CONF_TOKEN: user_input.get(CONF_TOKEN)})
            result, errors = await self._async_update(entry, data)
            if result is not None:
                return result
        return self.async_show_form(
            step_id="obis_http_reauth",
            data_schema=vol.Schema({vol.Optional(CONF_TOKEN): PASSWORD_SELECTOR}),
            description_placeholders={"host": entry.data[CONF_HOST]},
            errors=errors,
        )
