"""Fixtures: simulated meters on loopback, and a configured Smart Meter Hub."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import pytest
from homeassistant.const import CONF_HOST, CONF_PORT
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

# Import our package before the harness puts its own custom_components on sys.path.
import custom_components.smart_meter_hub  # noqa: F401
from custom_components.smart_meter_hub.const import CONF_METER_TYPE, DOMAIN
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

SERIAL = "SMH-OBIS-0001"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Let Home Assistant load integrations from custom_components."""
    return


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled."""
    from unittest.mock import PropertyMock, patch  # noqa: PLC0415

    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def meter() -> SimulatedObisMeter:
    """The simulated meter, before it listens (tests may change it first)."""
    return SimulatedObisMeter(serial=SERIAL)


@pytest.fixture
async def server(
    meter: SimulatedObisMeter, socket_enabled: None
) -> AsyncGenerator[ObisMeterServer]:
    """The meter listening on a loopback port (real sockets, loopback only)."""
    server = ObisMeterServer([meter])
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def port(server: ObisMeterServer) -> int:
    """The meter's port."""
    return server.ports[0]


@pytest.fixture
def config_entry(port: int) -> MockConfigEntry:
    """A config entry for the simulated meter."""
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHOBISENTRY000000000001",
        unique_id=SERIAL,
        title=f"OBIS meter {SERIAL}",
        data={
            CONF_METER_TYPE: "obis_http",
            CONF_HOST: "127.0.0.1",
            CONF_PORT: port,
        },
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Smart Meter Hub set up with the simulated meter."""
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry
