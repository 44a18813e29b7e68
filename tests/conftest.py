"""Fixtures: simulated meters on loopback, a configured Smart Meter Hub, the clock.

Helpers that are not fixtures (reading states, moving time, setting up each kind of
meter) live in tests/helpers.py.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator
from pathlib import Path
from types import SimpleNamespace
from unittest.mock import PropertyMock, patch

import freezegun.api
import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import MAJOR_VERSION, MINOR_VERSION
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component import patch_time
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

# Import our package before the harness puts its own custom_components on sys.path.
import custom_components.smart_meter_hub  # noqa: F401
from custom_components.smart_meter_hub.meters import Identity, generate_identity
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630
from meter_sim.xcel import FakeXcelMeter

from .helpers import (
    SERIAL,
    eastron_entry,
    frozen_clock,
    obis_http_entry,
    setup_integration,
    virtual_entry,
    xcel_entry,
    xcel_meter_identity,
)

HA_VERSION = f"{MAJOR_VERSION}.{MINOR_VERSION}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A ``freeze_time`` marker freezes time after the test's other fixtures.

    pytest-freezer freezes first. Home Assistant would then start under a frozen
    clock, and cryptography (on the newest Home Assistant) would refuse every
    certificate made outside a frozen clock afterwards ("not an instance of
    HAFakeDatetime"). Simulators made before the clock is frozen count from its
    first reading on: their values are the same on every run all the same.
    """
    for item in items:
        names = getattr(item, "fixturenames", None)
        if item.get_closest_marker("freeze_time") and names and "freezer" in names:
            names.remove("freezer")
            names.append("freezer")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Let Home Assistant load integrations from custom_components."""
    return


@pytest.fixture(autouse=True, scope="session")
def certificates_know_the_real_datetime() -> None:
    """Make a certificate before any test freezes time.

    cryptography (on the newest Home Assistant) remembers the datetime class it first
    makes a certificate with: first made under a frozen clock, every certificate made
    outside one afterwards would be refused ("not an instance of HAFakeDatetime").
    """
    generate_identity()


@pytest.fixture
def entity_registry_enabled_by_default() -> Generator[None]:
    """Create entities that are disabled by default as enabled."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def freezer(request: pytest.FixtureRequest) -> Generator[FrozenDateTimeFactory]:
    """The wall clock stands still until the test moves it; the event loop's runs on.

    pytest-freezer's fixture (a ``freeze_time`` marker sets the moment), with one
    change: the simulators answer over real sockets, and their pauses, the Modbus
    pacing and the integration's timeouts run on the event loop's clock. That clock
    keeps running in real time, and moves with the frozen one too: after
    ``freezer.tick(interval)`` and ``async_fire_time_changed(hass)`` every timer due
    within the interval has fired, as in Home Assistant's own tests.
    """
    marker = request.node.get_closest_marker("freeze_time")
    args = marker.args if marker else ()
    kwargs = marker.kwargs if marker else {}
    with freeze_time(*args, **kwargs) as factory:
        frozen_at = factory.time_to_freeze

        def loop_clock() -> float:
            moved = factory.time_to_freeze - frozen_at
            return freezegun.api.real_monotonic() + moved.total_seconds()

        # The harness gives Home Assistant's loop this module's clock, which
        # freezegun would stop.
        with patch.object(patch_time, "time", SimpleNamespace(monotonic=loop_clock)):
            yield factory


class VersionedSnapshotExtension(HomeAssistantSnapshotExtension):
    """Snapshots in ``snapshots/<Home Assistant major.minor>/`` beside the test.

    Entity registry entries, states and config entries carry other fields in other
    Home Assistant versions: each version we test keeps its own snapshots.
    """

    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        """The harness' ``snapshots`` folder, one subfolder per version."""
        return str(Path(super().dirname(test_location=test_location)) / HA_VERSION)


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """The harness' snapshot assertion, kept per Home Assistant version."""
    return snapshot.use_extension(VersionedSnapshotExtension)


# OBIS HTTP: the meter most tests of the shared parts use.


@pytest.fixture
def meter() -> SimulatedObisMeter:
    """The simulated meter, before it listens (tests may change it first)."""
    return SimulatedObisMeter(serial=SERIAL, clock=frozen_clock)


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
    return obis_http_entry(port)


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Smart Meter Hub set up with the simulated meter."""
    await setup_integration(hass, config_entry)
    return config_entry


# The other kinds' simulators.


@pytest.fixture
async def gateway(socket_enabled: None) -> AsyncGenerator[Sdm630Gateway]:
    """A Modbus TCP gateway with two SDM630 behind it (units 1 and 2)."""
    gw = Sdm630Gateway(
        {
            1: SimulatedSdm630(serial=1001, seed=1, clock=frozen_clock),
            2: SimulatedSdm630(serial=1002, seed=2, clock=frozen_clock),
        }
    )
    await gw.start()
    yield gw
    await gw.stop()


@pytest.fixture(scope="session")
def client_identity() -> Identity:
    """An identity for Smart Meter Hub that a simulated Xcel meter may approve.

    Made before any test freezes time: the simulated meter checks certificates against
    the real clock, whatever moment a test froze.
    """
    return generate_identity()


@pytest.fixture
async def xcel(socket_enabled: None) -> AsyncGenerator[FakeXcelMeter]:
    """An Xcel (Itron Gen5 Riva) meter over mutual TLS, with a fixed SFDI."""
    meter = FakeXcelMeter(identity=xcel_meter_identity())
    await meter.start()
    yield meter
    await meter.stop()


@pytest.fixture(params=["obis_http", "sdm630", "xcel", "virtual"])
def kind_entry(request: pytest.FixtureRequest, hass: HomeAssistant) -> MockConfigEntry:
    """An entry of each kind of meter, its meter answering; not set up yet."""
    kind: str = request.param
    if kind == "obis_http":
        return obis_http_entry(request.getfixturevalue("port"))
    if kind == "sdm630":
        return eastron_entry(request.getfixturevalue("gateway"))
    if kind == "xcel":
        meter: FakeXcelMeter = request.getfixturevalue("xcel")
        identity: Identity = request.getfixturevalue("client_identity")
        meter.register(identity.certificate_pem)
        return xcel_entry(meter, identity)
    return virtual_entry(hass)
