"""The OBIS meter's options: codes picked by name from the list, or typed in any form."""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.kinds.obis_http import CONF_OBIS_CODES


async def test_codes_are_offered_by_name_and_saved_as_codes(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "obis_http"
    selector = next(
        field for field in result["data_schema"].schema if str(field) == CONF_OBIS_CODES
    )
    config = result["data_schema"].schema[selector].config
    # Each known code is a choice the translations name ("1-0:1.8.0 · Energy import").
    assert config["translation_key"] == CONF_OBIS_CODES
    assert "1_0_1_8_0_255" in config["options"]
    assert config["custom_value"] is True
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {"scan_interval": 30, CONF_OBIS_CODES: ["1_0_1_8_0_255", "2.8.0", "1-0:1.8.0"]},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_OBIS_CODES] == [
        "1-0:1.8.0.255",
        "1-0:2.8.0.255",
    ]
    # Opened again: what was saved is shown as the list's choices.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    defaults = {str(field): field.default() for field in result["data_schema"].schema}
    assert defaults[CONF_OBIS_CODES] == ["1_0_1_8_0_255", "1_0_2_8_0_255"]
