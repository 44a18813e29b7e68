"""Appliance learning through Home Assistant: what a user sees, from options to energy.

A virtual meter follows a whole-home power sensor that this module sets every 2 s (base
load, the appliances that are on, noise); input_booleans are the appliances. Time is
simulated: the wall clock is frozen and moved one second at a time, the event loop's
clock moves with it, and due timers are fired.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Generator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

import freezegun.api
import pytest
from freezegun import freeze_time
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.energy import data as energy_data
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component import patch_time
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.smart_meter_hub.appliances import (
    CONF_APPLIANCES,
    REFEED_S,
    EntryAppliances,
    appliance_on,
)
from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds import KINDS
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

from .helpers import async_energy_validation, async_saved

TOTAL = "sensor.grid_power"
P = "sensor.virtual_meter_grid_power"
DEVICE = f"virtual_{TOTAL}"
KETTLE = "input_boolean.kettle"
LAMP = "input_boolean.lamp"
PLUG = "input_boolean.empty_socket"
WATTS = {KETTLE: 2000.0, LAMP: 60.0, PLUG: 0.0}
BASE_W = 300.0
START = "2026-11-21T09:00:00+00:00"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(request: pytest.FixtureRequest) -> None:
    """As everywhere; a test asking for the recorder gets it before Home Assistant."""
    if "recorder_mock" in request.fixturenames:
        logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
        request.getfixturevalue("recorder_mock")
    request.getfixturevalue("enable_custom_integrations")


def _tolerance(watts: float) -> float:
    """The quality bar of #16: ±5 %, ±10 W under 200 W."""
    return 10.0 if watts < 200 else 0.05 * watts


@pytest.fixture
def clock() -> Generator[FrozenDateTimeFactory]:
    """The wall clock frozen at ``START``; the event loop's clock moves with it."""
    with freeze_time(START) as factory:
        frozen_at = factory.time_to_freeze

        def loop_clock() -> float:
            moved = factory.time_to_freeze - frozen_at
            return freezegun.api.real_monotonic() + moved.total_seconds()

        # Home Assistant's loop reads this module's clock, which freezegun stops.
        with patch.object(patch_time, "time", SimpleNamespace(monotonic=loop_clock)):
            yield factory


class Home:
    """A home: base load, the input_booleans that are on, ±``noise`` W per report."""

    def __init__(
        self,
        hass: HomeAssistant,
        clock: FrozenDateTimeFactory,
        *,
        seed: int = 16,
        noise: float = 20.0,
        report_every: float = 2.0,
    ) -> None:
        """Nothing reported yet."""
        self.hass = hass
        self.clock = clock
        self.rng = random.Random(seed)  # noqa: S311 (a simulation, nothing secret)
        self.noise = noise
        self.report_every = report_every
        self.reporting = True
        self.t = 0.0
        self._next_report = 0.0

    def power(self) -> float:
        """What the home draws now."""
        on = sum(
            watts
            for entity_id, watts in WATTS.items()
            if (state := self.hass.states.get(entity_id)) and state.state == "on"
        )
        return BASE_W + on + self.rng.uniform(-self.noise, self.noise)

    def report(self) -> None:
        """The whole-home power sensor reports (another integration's)."""
        self.hass.states.async_set(
            TOTAL,
            f"{self.power():.1f}",
            {
                "unit_of_measurement": "W",
                "device_class": "power",
                "friendly_name": "Grid power",
            },
        )

    async def run(self, seconds: float) -> None:
        """Let ``seconds`` pass, one second at a time."""
        for _ in range(round(seconds)):
            self.clock.tick(timedelta(seconds=1))
            self.t += 1
            if self.reporting and self.t >= self._next_report:
                self.report()
                self._next_report = self.t + self.report_every
            async_fire_time_changed(self.hass, dt_util.utcnow())
            await self.hass.async_block_till_done(wait_background_tasks=True)

    async def switch(self, entity_id: str, on: bool) -> None:
        """Turn an appliance on or off, as a user or an automation does."""
        await self.hass.services.async_call(
            "input_boolean",
            "turn_on" if on else "turn_off",
            {"entity_id": entity_id},
            blocking=True,
        )
        await self.hass.async_block_till_done()

    async def cycles(self, entity_ids: list[str], count: int, gap: float = 60) -> None:
        """Each entity on, then off, ``count`` times, one switch every ``gap`` s."""
        for _ in range(count):
            for entity_id in entity_ids:
                for on in (True, False):
                    await self.switch(entity_id, on)
                    await self.run(gap)


async def _setup(
    hass: HomeAssistant,
    clock: FrozenDateTimeFactory,
    appliances: list[str] | None = None,
    **home: Any,
) -> tuple[MockConfigEntry, Home]:
    """Input_booleans, the power sensor and a virtual meter learning ``appliances``."""
    assert await async_setup_component(
        hass,
        "input_boolean",
        {
            "input_boolean": {
                "kettle": {"name": "Kettle"},
                "lamp": {"name": "Lamp"},
                "empty_socket": {"name": "Empty socket"},
            }
        },
    )
    house = Home(hass, clock, **home)
    house.report()
    entry = MockConfigEntry(
        domain=DOMAIN,
        entry_id="01JSMHAPPLIANCES0000000001",
        unique_id=DEVICE,
        title="Virtual meter Grid power",
        version=1,
        minor_version=2,
        data={"meter_type": "virtual", "power_entity": TOTAL},
        options={
            "circuits": [],
            CONF_APPLIANCES: [KETTLE, LAMP] if appliances is None else appliances,
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await house.run(60)  # readings before the first switch
    return entry, house


def _number(hass: HomeAssistant, entity_id: str) -> float | None:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    if state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        return None
    return float(state.state)


def _learned(hass: HomeAssistant, name: str) -> float | None:
    return _number(hass, f"{P}_{name}_learned_power")


async def _choose(
    hass: HomeAssistant, entry: MockConfigEntry, chosen: list[str]
) -> Any:
    """Save the virtual meter's options with these appliances, as a user does."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"circuits": [], CONF_APPLIANCES: chosen}
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    return result


# The options form.


def _entry_of(kind: str) -> MockConfigEntry:
    """A saved entry of ``kind`` (the form needs no answering meter)."""
    data: dict[str, Any] = {"meter_type": kind, "host": "127.0.0.1", "port": 1}
    if kind == "sdm630":
        data |= {"framing": "tcp", "meters": []}
    if kind == "virtual":
        data = {"meter_type": kind, "power_entity": TOTAL}
    return MockConfigEntry(
        domain=DOMAIN, unique_id=f"{kind}-1", data=data, version=1, minor_version=2
    )


@pytest.mark.parametrize("kind", list(KINDS))
async def test_every_kind_offers_the_appliances_empty_by_default(
    hass: HomeAssistant, kind: str
) -> None:
    entry = _entry_of(kind)
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.FORM
    fields = {str(field): field for field in result["data_schema"].schema}
    assert list(fields)[-1] == CONF_APPLIANCES  # after the load analytics
    assert fields[CONF_APPLIANCES].default() == []
    selector = result["data_schema"].schema[fields[CONF_APPLIANCES]]
    config = selector.config
    assert config["multiple"] is True
    assert config["domain"] == [
        "switch",
        "light",
        "fan",
        "climate",
        "water_heater",
        "media_player",
        "input_boolean",
        "humidifier",
        "vacuum",
    ]


async def test_a_slow_meter_says_so_and_refuses_appliances(hass: HomeAssistant) -> None:
    # An OBIS meter is read every 60 s by default: too slow.
    entry = _entry_of("obis_http")
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["errors"] == {CONF_APPLIANCES: "too_slow_to_learn"}
    assert result["description_placeholders"] == {
        "interval": "60",
        "max_interval": "15",
    }
    user_input = {"scan_interval": 60, CONF_APPLIANCES: [KETTLE]}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], user_input
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_APPLIANCES: "too_slow_to_learn"}
    # Read every 10 s it can learn: the same form is accepted.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**user_input, "scan_interval": 10}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options["scan_interval"] == 10
    assert entry.options[CONF_APPLIANCES] == [KETTLE]
    # Fast enough now: no remark.
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["errors"] == {}
    # Slower again, with no appliance: fine (nothing to learn).
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 60, CONF_APPLIANCES: []}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_APPLIANCES] == []


def test_states_map_to_on_and_off() -> None:
    def on(entity_id: str, state: str, **attributes: Any) -> bool | None:
        return appliance_on(State(entity_id, state, attributes))

    assert on("switch.kettle", "on") is True
    assert on("switch.kettle", "off") is False
    for state in ("off", "idle", "standby", "paused"):
        assert on("media_player.tv", state) is False
    assert on("media_player.tv", "playing") is True
    assert on("vacuum.robot", "docked") is False
    assert on("vacuum.robot", "cleaning") is True
    assert on("water_heater.boiler", "eco") is True
    # Climate and humidifiers: what they do now, not their mode.
    assert on("climate.heater", "heat", hvac_action="heating") is True
    assert on("climate.heater", "heat", hvac_action="idle") is False
    assert on("climate.heater", "heat") is True
    assert on("climate.heater", "off") is False
    assert on("humidifier.dryer", "on", action="drying") is True
    assert on("humidifier.dryer", "on", action="idle") is False
    for state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        assert on("switch.kettle", state) is None
    assert appliance_on(None) is None


async def test_what_is_not_there_is_nothing(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    unit = EntryAppliances(
        hass, "entry", "Meter", {CONF_APPLIANCES: KETTLE}, timedelta(seconds=2)
    )
    assert unit.watched == ()  # not a list of entities
    await unit.async_save()  # nothing was loaded: nothing is overwritten
    assert f"{DOMAIN}.appliances" not in hass_storage
    assert unit.add("meter", {}) == {}  # no whole-home power: nothing to learn from
    assert unit.views("meter") == {}
    unit.apply_options({CONF_APPLIANCES: []})  # the same entities: nothing changes
    assert unit.watched == ()


async def test_saved_data_is_taken_for_the_entities_still_chosen(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, hass_storage: dict[str, Any]
) -> None:
    observations = [2001.0, 1999.0, 2000.5, 2000.0]
    # Saved in the entry's own file, as before the shared files: taken over.
    hass_storage[f"{DOMAIN}.01JSMHAPPLIANCES0000000001.appliances"] = {
        "version": 1,
        "key": f"{DOMAIN}.01JSMHAPPLIANCES0000000001.appliances",
        "data": {
            "devices": {
                DEVICE: {
                    "learner": {
                        "version": 1,
                        "entities": {
                            entity_id: {
                                "powers": observations,
                                "uncertainties": [4.0] * 4,
                                "observations": 4,
                            }
                            for entity_id in (KETTLE, "switch.no_longer_chosen")
                        },
                    },
                    "energy": {
                        KETTLE: 1.5,
                        "switch.no_longer_chosen": 2.0,
                        LAMP: "a lot",
                        PLUG: -1,
                    },
                },
                "another meter": {"learner": None},
            }
        },
    }
    entry, _home = await _setup(hass, clock, [KETTLE, LAMP, PLUG])
    assert _learned(hass, "kettle") == pytest.approx(2000.1, abs=0.1)
    assert _number(hass, f"{P}_kettle_estimated_energy") == 1.5
    assert _number(hass, f"{P}_lamp_estimated_energy") == 0.0
    assert _number(hass, f"{P}_empty_socket_estimated_energy") == 0.0
    assert f"{DOMAIN}.{entry.entry_id}.appliances" not in hass_storage
    await async_saved(hass)
    saved = hass_storage[f"{DOMAIN}.appliances"]["data"][entry.entry_id]["devices"]
    assert list(saved[DEVICE]["learner"]["entities"]) == [KETTLE]
    assert "another meter" in saved  # a meter not seen yet keeps what it had


# Learning, and what the entities show.


async def test_learns_each_appliance_and_estimates_its_power_and_energy(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    entry, home = await _setup(hass, clock, [KETTLE, LAMP, PLUG])
    registry = er.async_get(hass)
    # Every chosen entity has its sensors on the meter's device, named after it.
    kettle = registry.async_get(f"{P}_kettle_learned_power")
    assert kettle is not None
    assert kettle.unique_id == f"{DEVICE}_appliance_{KETTLE}_learned_power"
    device = registry.async_get(f"{P}_net_power")
    assert device is not None
    assert kettle.device_id == device.device_id
    for name in ("kettle", "lamp", "empty_socket"):
        assert _learned(hass, name) is None  # unknown until learned
        assert hass.states.get(f"{P}_{name}_estimated_power").state == STATE_UNKNOWN
        assert _number(hass, f"{P}_{name}_estimated_energy") == 0.0
        # Observations and spread: diagnostics, disabled by default.
        for diagnostic in ("observations", "learned_power_spread"):
            item = registry.async_get(f"{P}_{name}_{diagnostic}")
            assert item is not None, diagnostic
            assert item.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    assert hass.states.get(f"{P}_kettle_learned_power").name == (
        "Virtual meter Grid power Kettle learned power"
    )

    energy: list[float] = []

    def record(event: Event[EventStateChangedData]) -> None:
        new = event.data["new_state"]
        if new is not None and new.state not in (STATE_UNKNOWN, STATE_UNAVAILABLE):
            energy.append(float(new.state))

    async_track_state_change_event(hass, f"{P}_kettle_estimated_energy", record)

    await home.cycles([KETTLE, LAMP, PLUG], 4)

    for name, entity_id in (("kettle", KETTLE), ("lamp", LAMP), ("empty_socket", PLUG)):
        learned = _learned(hass, name)
        assert learned is not None, name
        assert abs(learned - WATTS[entity_id]) <= _tolerance(WATTS[entity_id]), name
    kettle_w = _learned(hass, "kettle")
    assert kettle_w is not None

    # Estimated power: the learned power while on, 0 while off.
    assert _number(hass, f"{P}_kettle_estimated_power") == 0.0
    await home.switch(KETTLE, True)
    assert _number(hass, f"{P}_kettle_estimated_power") == kettle_w
    # What nothing explains: the base load, not the kettle.
    await home.run(10)
    unmeasured = _number(hass, f"{P}_unmeasured_power")
    assert unmeasured is not None
    assert abs(unmeasured - BASE_W) < 60
    # Half an hour of kettle: 1 kWh more (the event loop's clock also runs in real
    # time while the test computes: a few seconds more).
    before = _number(hass, f"{P}_kettle_estimated_energy")
    assert before is not None
    await home.run(1800)
    after = _number(hass, f"{P}_kettle_estimated_energy")
    assert after is not None
    assert after - before == pytest.approx(kettle_w / 2000, rel=0.05)
    await home.switch(KETTLE, False)
    assert _number(hass, f"{P}_kettle_estimated_power") == 0.0
    await home.run(120)
    assert _number(hass, f"{P}_kettle_estimated_energy") == after
    # The counter only ever grew.
    assert energy
    assert energy == sorted(energy)
    assert entry.state is ConfigEntryState.LOADED


async def test_estimated_energy_is_an_individual_device_of_the_energy_dashboard(
    recorder_mock: Any, hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    _entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 3)
    await home.switch(KETTLE, True)
    await home.run(300)
    energy = f"{P}_kettle_estimated_energy"
    assert await async_setup_component(hass, "energy", {})
    manager = await energy_data.async_get_manager(hass)
    await manager.async_update({"device_consumption": [{"stat_consumption": energy}]})
    result = await async_energy_validation(hass)

    assert result["device_consumption"] == [[]], result
    value = _number(hass, energy)
    assert value is not None
    assert value > 0


async def test_learned_values_and_energy_survive_a_restart(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 4)
    await home.switch(KETTLE, True)
    await home.run(600)
    learned = _learned(hass, "kettle")
    energy = _number(hass, f"{P}_kettle_estimated_energy")
    assert learned is not None
    assert energy is not None
    assert energy > 0.3

    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    # Known again as soon as the meter answers: nothing to learn anew.
    assert _learned(hass, "kettle") == learned
    assert _number(hass, f"{P}_kettle_estimated_power") == learned
    after = _number(hass, f"{P}_kettle_estimated_energy")
    assert after is not None
    assert after >= energy
    await home.run(60)
    later = _number(hass, f"{P}_kettle_estimated_energy")
    assert later is not None
    assert later > after


async def test_choosing_and_unchoosing_applies_without_a_reload(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    entry, home = await _setup(hass, clock, [KETTLE])
    coordinator = entry.runtime_data
    registry = er.async_get(hass)
    assert registry.async_get(f"{P}_lamp_learned_power") is None
    # No appliance: no unmeasured power without circuits... until one is chosen.
    result = await _choose(hass, entry, [KETTLE, LAMP])
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.runtime_data is coordinator  # not reloaded
    assert _learned(hass, "lamp") is None
    assert hass.states.get(f"{P}_lamp_estimated_energy") is not None
    await home.cycles([KETTLE, LAMP], 3)
    assert _learned(hass, "lamp") is not None

    await home.switch(LAMP, True)
    await home.run(120)
    energy = _number(hass, f"{P}_lamp_estimated_energy")
    assert energy
    await home.switch(LAMP, False)

    # Un-chosen: its entities go, and what was learned is forgotten.
    await _choose(hass, entry, [KETTLE])
    assert entry.runtime_data is coordinator
    assert registry.async_get(f"{P}_lamp_learned_power") is None
    assert hass.states.get(f"{P}_lamp_learned_power") is None
    assert registry.async_get(f"{P}_kettle_learned_power") is not None
    # Chosen again: learned afresh; its energy counter goes on from where it was
    # (Home Assistant's last state): it never goes back.
    await _choose(hass, entry, [KETTLE, LAMP])
    assert _learned(hass, "lamp") is None
    assert _number(hass, f"{P}_lamp_estimated_energy") == energy

    # None at all: no appliance entity is left.
    await _choose(hass, entry, [])
    assert not [
        item
        for item in er.async_entries_for_config_entry(registry, entry.entry_id)
        if "_appliance_" in item.unique_id
    ]


async def test_unmeasured_power_appears_with_the_first_appliance(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    entry, home = await _setup(hass, clock, [])
    assert hass.states.get(f"{P}_unmeasured_power") is None
    await _choose(hass, entry, [KETTLE])
    await home.run(4)
    unmeasured = _number(hass, f"{P}_unmeasured_power")
    assert unmeasured is not None
    # Nothing learned yet: nothing is explained.
    assert abs(unmeasured - BASE_W) <= 20


async def test_store_goes_with_the_entry(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, hass_storage: dict[str, Any]
) -> None:
    entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 2)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await async_saved(hass)
    saved = hass_storage[f"{DOMAIN}.appliances"]["data"][entry.entry_id]
    assert KETTLE in saved["devices"][DEVICE]["learner"]["entities"]
    assert await hass.config_entries.async_remove(entry.entry_id)
    await hass.async_block_till_done()
    assert f"{DOMAIN}.appliances" not in hass_storage  # the only entry: no file left


# Bad input.


async def test_power_sensor_unavailable_mid_window(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 3)
    learned = _learned(hass, "kettle")
    assert learned is not None
    for _ in range(3):
        await home.switch(KETTLE, True)
        await home.run(10)
        # The whole-home sensor goes away for 10 s, in the window after the switch.
        home.reporting = False
        hass.states.async_set(TOTAL, STATE_UNAVAILABLE)
        await home.run(10)
        home.reporting = True
        await home.run(40)
        await home.switch(KETTLE, False)
        await home.run(60)
    # The windows with missed readings were not used (those with one or two missed
    # were): the learned value holds.
    outcomes = entry.runtime_data.appliances.meters[DEVICE].learner.outcome_counts
    assert outcomes["missing"] >= 3
    again = _learned(hass, "kettle")
    assert again is not None
    assert abs(again - learned) < 2
    assert _number(hass, f"{P}_kettle_estimated_power") == 0.0


async def test_an_entity_flapping_every_second(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 3)
    learned = _learned(hass, "kettle")
    assert learned is not None
    caplog.clear()
    for _ in range(2):
        for second in range(60):
            await home.switch(KETTLE, second % 2 == 0)
            await home.run(1)
        await home.run(60)
    assert _learned(hass, "kettle") == learned
    flapping = [r for r in caplog.records if "switches too often" in r.getMessage()]
    assert len([r for r in flapping if r.levelno == logging.WARNING]) == 1
    # Learning goes on once it calms down.
    await home.cycles([KETTLE], 2)
    again = _learned(hass, "kettle")
    assert again is not None
    assert abs(again - WATTS[KETTLE]) <= _tolerance(WATTS[KETTLE])


async def test_clock_jumps(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 3)
    learned = _learned(hass, "kettle")
    assert learned is not None
    await home.switch(KETTLE, True)
    await home.run(30)
    energy = _number(hass, f"{P}_kettle_estimated_energy")
    assert energy is not None
    caplog.clear()
    for _ in range(2):
        # The clock is set back an hour mid-window (twice), then runs on.
        clock.tick(timedelta(hours=-1))
        await home.run(20)
        await home.switch(KETTLE, False)
        await home.run(60)
        await home.switch(KETTLE, True)
        await home.run(30)
    assert _learned(hass, "kettle") == learned
    later = _number(hass, f"{P}_kettle_estimated_energy")
    assert later is not None
    assert later >= energy
    went_back = [r for r in caplog.records if "Clock went back" in r.getMessage()]
    assert [r.levelno for r in went_back].count(logging.WARNING) == 1
    # And forward by a day: no day of kettle is counted, nothing breaks.
    clock.tick(timedelta(days=1))
    await home.run(10)
    jumped = _number(hass, f"{P}_kettle_estimated_energy")
    assert jumped is not None
    assert jumped - later < 0.1


async def test_an_entity_removed_from_home_assistant(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    entry, home = await _setup(hass, clock)
    await home.cycles([KETTLE], 3)
    learned = _learned(hass, "kettle")
    assert learned is not None
    await home.switch(KETTLE, True)
    await home.run(10)
    caplog.clear()
    for _ in range(2):
        hass.states.async_remove(KETTLE)
        await home.run(60)
        # Unknown while it is gone; the rest of the meter carries on.
        assert _number(hass, f"{P}_kettle_estimated_power") is None
        assert _number(hass, f"{P}_net_power") is not None
        hass.states.async_set(KETTLE, "off", {"friendly_name": "Kettle"})
        await home.run(60)
        assert _number(hass, f"{P}_kettle_estimated_power") == 0.0
        # A change of attributes only is no switch.
        hass.states.async_set(KETTLE, "off", {"friendly_name": "Kettle", "icon": "x"})
        await home.run(1)
    removed = [r for r in caplog.records if "was removed" in r.getMessage()]
    assert [r.levelno for r in removed].count(logging.WARNING) == 1
    assert _learned(hass, "kettle") == learned
    assert entry.state is ConfigEntryState.LOADED


async def test_steady_power_reported_once_is_not_missed(
    hass: HomeAssistant, clock: FrozenDateTimeFactory
) -> None:
    # A sensor that reports only on change: exact and steady, so silent in between.
    _entry, home = await _setup(hass, clock, noise=0.0, report_every=3600)
    assert REFEED_S <= 2
    for _ in range(4):
        for on in (True, False):
            await home.switch(KETTLE, on)
            await home.run(2)
            home.report()  # the change is reported once
            await home.run(58)
    assert _learned(hass, "kettle") == pytest.approx(WATTS[KETTLE], abs=1)


# A polled meter: read every 5 s, failing now and then.


def _now() -> float:
    """The (frozen) wall clock, looked up at each call."""
    return dt_util.utcnow().timestamp()


class _HomeMeter(SimulatedObisMeter):
    """The OBIS simulator, its net power the home's (with noise) when it is read."""

    home: Home

    def advance(self) -> None:
        """Count energy as the simulator does, then take the home's power now."""
        super().advance()
        self._power = self.home.power()


async def test_a_polled_meter_learns_and_shrugs_off_failed_polls(
    hass: HomeAssistant, clock: FrozenDateTimeFactory, socket_enabled: None
) -> None:
    _entry, home = await _setup(hass, clock, [])
    meter = _HomeMeter(serial="SMH-APPLIANCES-1", clock=_now)
    meter.home = home
    server = ObisMeterServer([meter])
    await server.start()
    try:
        entry = MockConfigEntry(
            domain=DOMAIN,
            entry_id="01JSMHAPPLIANCESOBIS000001",
            unique_id=meter.serial,
            title=f"OBIS meter {meter.serial}",
            data={
                "meter_type": "obis_http",
                "host": "127.0.0.1",
                "port": server.ports[0],
            },
            options={"scan_interval": 5, CONF_APPLIANCES: [KETTLE]},
        )
        entry.add_to_hass(hass)
        assert await hass.config_entries.async_setup(entry.entry_id)
        await home.run(60)
        registry = er.async_get(hass)
        learned = registry.async_get_entity_id(
            "sensor", DOMAIN, f"{meter.serial}_appliance_{KETTLE}_learned_power"
        )
        assert learned is not None
        await home.cycles([KETTLE], 4, gap=120)
        value = _number(hass, learned)
        assert value is not None
        assert abs(value - WATTS[KETTLE]) <= _tolerance(WATTS[KETTLE])

        # Three polls fail right after a switch: that step is not used, nothing breaks.
        await home.switch(KETTLE, True)
        meter.set_fault("http500", count=3)
        await home.run(120)
        await home.switch(KETTLE, False)
        await home.run(120)
        unit = entry.runtime_data.appliances
        assert unit.meters[meter.serial].learner.outcome_counts["missing"] >= 1
        assert _number(hass, learned) == pytest.approx(value, abs=5)
    finally:
        for each in hass.config_entries.async_entries(DOMAIN):
            await hass.config_entries.async_unload(each.entry_id)
        await server.stop()
