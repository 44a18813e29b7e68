"""The automation blueprints: valid for Home Assistant, and they notify on the real sensors."""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse
from zoneinfo import ZoneInfo

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import AUTOMATION_BLUEPRINT_SCHEMA
from homeassistant.components.blueprint.importer import fetch_blueprint_from_url
from homeassistant.components.blueprint.models import Blueprint
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant, ServiceCall
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_mock_service,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import (
    AiohttpClientMocker,
)

from meter_sim.obis_http import SimulatedObisMeter

from .conftest import SERIAL
from .helpers import state_of

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "blueprints" / "automation" / "smart_meter_hub"
PHANTOM = "phantom_load_notification.yaml"
HIGH = "high_consumption_notification.yaml"
REPOSITORY = "https://github.com/smart-meter-hub/smart_meter_hub"
RAW = "https://raw.githubusercontent.com/smart-meter-hub/smart_meter_hub/main"
P = "smh_obis_0001"
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def meter() -> SimulatedObisMeter:
    """A home drawing about 12 kW: high consumption, and a night far above 200 W."""
    return SimulatedObisMeter(serial=SERIAL, base_power_w=12_000)


@pytest.fixture
def notifications(hass: HomeAssistant, tmp_path: Path) -> list[ServiceCall]:
    """The blueprints in a configuration folder of their own, and a notify action."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "smart_meter_hub"
    target.mkdir(parents=True)
    for name in (PHANTOM, HIGH):
        shutil.copy(FOLDER / name, target / name)
    return async_mock_service(hass, "notify", "phone")


async def set_up_meter(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    await hass.config.async_set_time_zone("Europe/Berlin")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def use_blueprint(hass: HomeAssistant, name: str, **inputs: str) -> None:
    assert await async_setup_component(
        hass,
        "automation",
        {
            "automation": {
                "alias": name,
                "use_blueprint": {
                    "path": f"smart_meter_hub/{name}",
                    "input": {"notify_action": "notify.phone", **inputs},
                },
            }
        },
    )
    await hass.async_block_till_done()
    automations = hass.states.async_all("automation")
    assert [state.state for state in automations] == [STATE_ON]


async def next_poll(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, step: timedelta
) -> None:
    """Let ``step`` pass: the meter's own poll timer fires, and its request completes."""
    freezer.tick(step)
    async_fire_time_changed(hass)
    # The poll runs as a background task: wait for its answer before time moves on.
    await hass.async_block_till_done(wait_background_tasks=True)


@pytest.mark.parametrize("name", [PHANTOM, HIGH])
def test_blueprint_is_valid_for_home_assistant(name: str) -> None:
    data = load_yaml_dict(FOLDER / name)
    blueprint = Blueprint(
        data, expected_domain="automation", schema=AUTOMATION_BLUEPRINT_SCHEMA
    )
    assert blueprint.domain == "automation"
    assert blueprint.metadata["source_url"] == (
        f"{RAW}/blueprints/automation/smart_meter_hub/{name}"
    )
    assert blueprint.metadata["homeassistant"]["min_version"] == "2025.4.0"
    sensor_input = next(iter(blueprint.inputs.values()))
    (entity_filter,) = sensor_input["selector"]["entity"]["filter"]
    assert entity_filter["integration"] == "smart_meter_hub"
    assert entity_filter["domain"] in ("binary_sensor", ["binary_sensor"])


async def test_readme_buttons_import_the_blueprints(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """Each README button imports one blueprint, from its source_url."""
    readme = (ROOT / "README.md").read_text()
    buttons = re.findall(
        r"https://my\.home-assistant\.io/redirect/blueprint_import/\?blueprint_url=(\S+?)\)",
        readme,
    )
    urls = sorted(
        parse_qs(urlparse(f"?blueprint_url={button}").query)["blueprint_url"][0]
        for button in buttons
    )
    assert urls == sorted(
        f"{RAW}/blueprints/automation/smart_meter_hub/{name}"
        for name in (PHANTOM, HIGH)
    )
    for url in urls:
        aioclient_mock.get(url, text=(FOLDER / url.rsplit("/", 1)[1]).read_text())
        imported = await fetch_blueprint_from_url(hass, url)
        assert imported.blueprint.domain == "automation"
        assert imported.blueprint.metadata["source_url"] == url
    assert REPOSITORY in readme


async def test_phantom_load_notifies_once_after_the_night(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    notifications: list[ServiceCall],
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 0, 50, tzinfo=BERLIN))
    await set_up_meter(hass, config_entry)
    phantom = f"binary_sensor.{P}_phantom_load"
    await use_blueprint(hass, PHANTOM, phantom_load_sensor=phantom)

    while freezer.time_to_freeze.astimezone(BERLIN).hour < 5:  # the night, 01:00-05:00
        assert state_of(hass, phantom) != STATE_ON
        await next_poll(hass, freezer, timedelta(minutes=5))
    await next_poll(hass, freezer, timedelta(minutes=5))

    state = hass.states.get(phantom)
    assert state is not None
    assert state.state == STATE_ON
    assert len(notifications) == 1
    message = notifications[0].data["message"]
    assert f"never drew less than {round(state.attributes['baseline'])} W" in message
    assert f"threshold of {round(state.attributes['threshold'])} W" in message
    assert state.attributes["window"] in message
    assert f"{SERIAL}" in message
    assert notifications[0].data["title"] == "Standby load too high"

    # The sensor coming back after a restart is no new finding.
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    await next_poll(hass, freezer, timedelta(minutes=5))
    assert state_of(hass, phantom) == STATE_ON
    assert len(notifications) == 1


async def test_high_consumption_notifies_with_the_power(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    notifications: list[ServiceCall],
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 18, 0, tzinfo=BERLIN))
    await set_up_meter(hass, config_entry)
    high = f"binary_sensor.{P}_high_consumption"
    power = f"sensor.{P}_net_power"
    await use_blueprint(
        hass, HIGH, high_consumption_sensor=high, power_sensor=power, title="Oven?"
    )
    assert state_of(hass, high) == STATE_OFF

    for _ in range(5):
        await next_poll(hass, freezer, timedelta(seconds=61))
        if state_of(hass, high) == STATE_ON:
            break
    assert state_of(hass, high) == STATE_ON
    assert len(notifications) == 1
    message = notifications[0].data["message"]
    quoted = re.fullmatch(
        f"{SERIAL}: the home has drawn more than the high consumption"
        r" threshold for longer than the delay, now (\d+) W\.",
        message,
    )
    assert quoted, message
    # The power sensor as it stood when the binary sensor turned on (it may have been
    # updated by the same poll a moment later).
    assert int(quoted[1]) > 10_000
    assert notifications[0].data["title"] == "Oven?"


async def test_high_consumption_message_without_a_power_sensor(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    config_entry: MockConfigEntry,
    notifications: list[ServiceCall],
) -> None:
    freezer.move_to(datetime(2026, 11, 21, 18, 0, tzinfo=BERLIN))
    await set_up_meter(hass, config_entry)
    high = f"binary_sensor.{P}_high_consumption"
    await use_blueprint(hass, HIGH, high_consumption_sensor=high)
    for _ in range(5):
        await next_poll(hass, freezer, timedelta(seconds=61))
    assert state_of(hass, high) == STATE_ON
    assert [call.data for call in notifications] == [
        {
            "title": "High consumption",
            "message": f"{SERIAL}: the home has drawn more than the high"
            " consumption threshold for longer than the delay.",
        }
    ]
