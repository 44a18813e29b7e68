"""The read_obis and write_obis actions."""

from __future__ import annotations

import pytest
from homeassistant.auth.models import User
from homeassistant.core import Context, HomeAssistant
from homeassistant.exceptions import (
    HomeAssistantError,
    ServiceValidationError,
    Unauthorized,
)
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway

from .helpers import async_add_gateway


async def test_read_obis_returns_values(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    response = await hass.services.async_call(
        DOMAIN,
        "read_obis",
        {
            "config_entry_id": init_integration.entry_id,
            "obis_codes": ["1.8.0", "1-0:32.7.0*255", "1-0:1.8.1"],
        },
        blocking=True,
        return_response=True,
    )
    assert response is not None
    readings = response["readings"]
    assert readings["1-0:1.8.0"]["unit"] == "kWh"
    assert readings["1-0:1.8.0"]["value"] == pytest.approx(meter.import_kwh, abs=1e-3)
    assert readings["1-0:32.7.0"]["unit"] == "V"
    assert response["missing"] == ["1-0:1.8.1"]


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"config_entry_id": "nope", "obis_codes": ["1.8.0"]}, "entry_not_found"),
        ({"obis_codes": ["not a code"]}, "invalid_obis_code"),
    ],
)
async def test_read_obis_bad_input(
    hass: HomeAssistant, init_integration: MockConfigEntry, data: dict, key: str
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "read_obis",
            {"config_entry_id": init_integration.entry_id, **data},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == key


async def test_read_obis_unloaded_meter(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "read_obis",
            {"config_entry_id": init_integration.entry_id, "obis_codes": ["1.8.0"]},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "entry_not_loaded"


async def test_read_obis_is_for_obis_meters(
    hass: HomeAssistant, gateway: Sdm630Gateway
) -> None:
    entry = await async_add_gateway(hass, gateway, "1")
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "read_obis",
            {"config_entry_id": entry.entry_id, "obis_codes": ["1.8.0"]},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "not_obis_meter"


async def test_read_obis_meter_fails(
    hass: HomeAssistant, init_integration: MockConfigEntry, server: ObisMeterServer
) -> None:
    await server.stop()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "read_obis",
            {"config_entry_id": init_integration.entry_id, "obis_codes": ["1.8.0"]},
            blocking=True,
            return_response=True,
        )
    assert err.value.translation_key == "read_failed"


async def test_write_obis(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    await hass.services.async_call(
        DOMAIN,
        "write_obis",
        {
            "config_entry_id": init_integration.entry_id,
            "obis_code": "1-0:0.8.0",
            "value": 900,
        },
        blocking=True,
    )
    assert meter.written == {"1-0:0.8.0": 900}
    await hass.services.async_call(
        DOMAIN,
        "write_obis",
        {
            "config_entry_id": init_integration.entry_id,
            "obis_code": "1-0:0.8.0",
            "value": "2.5",
        },
        blocking=True,
    )
    assert meter.written == {"1-0:0.8.0": 2.5}


async def test_write_obis_refused_by_meter(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "write_obis",
            {
                "config_entry_id": init_integration.entry_id,
                "obis_code": "1-0:1.8.0",
                "value": 0,
            },
            blocking=True,
        )
    assert err.value.translation_key == "write_refused"
    assert "read-only" in str(err.value.translation_placeholders)


async def test_write_obis_meter_unreachable(
    hass: HomeAssistant, init_integration: MockConfigEntry, server: ObisMeterServer
) -> None:
    await server.stop()
    with pytest.raises(HomeAssistantError) as err:
        await hass.services.async_call(
            DOMAIN,
            "write_obis",
            {
                "config_entry_id": init_integration.entry_id,
                "obis_code": "1-0:0.8.0",
                "value": 1,
            },
            blocking=True,
        )
    assert err.value.translation_key == "write_failed"


async def test_write_obis_rejects_non_finite_values(
    hass: HomeAssistant, init_integration: MockConfigEntry, meter: SimulatedObisMeter
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await hass.services.async_call(
            DOMAIN,
            "write_obis",
            {
                "config_entry_id": init_integration.entry_id,
                "obis_code": "1-0:0.8.0",
                "value": "nan",
            },
            blocking=True,
        )
    assert err.value.translation_key == "invalid_value"
    assert meter.write_requests == 0


async def test_write_obis_is_for_admins_only(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    meter: SimulatedObisMeter,
    hass_read_only_user: User,
) -> None:
    with pytest.raises(Unauthorized):
        await hass.services.async_call(
            DOMAIN,
            "write_obis",
            {
                "config_entry_id": init_integration.entry_id,
                "obis_code": "1-0:0.8.0",
                "value": 1,
            },
            blocking=True,
            context=Context(user_id=hass_read_only_user.id),
        )
    assert meter.write_requests == 0
