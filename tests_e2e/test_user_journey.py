"""The user journey in a real browser against a real Home Assistant and simulated meters.

Starts the simulated meters and Home Assistant (frontend included) the way
`scripts/develop` does, on ports of its own, onboards Home Assistant, then drives the
frontend in headless Chromium (Debian's package, driven by Playwright): log in, add an
OBIS HTTP meter through the config flow, an SDM630 gateway with two meters and an Xcel
meter that waits for the (simulated) utility's approval, see the devices with live values,
add the OBIS meter's counters (and, where Home Assistant has it, its net power as grid
power) to the Energy Dashboard and wait until Home Assistant's validation is clean, change
an option, remove the meters. Screenshots of every step go to artifacts/e2e-python<version>/.

Run with `scripts/e2e` (Home Assistant 2025.4 on Python 3.13), or with
`../shared/tools/with-python314 scripts/e2e` (the newest Home Assistant and frontend).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import aiohttp
import pytest
from playwright.async_api import (
    Error as PlaywrightError,
    Locator,
    Page,
    TimeoutError as PlaywrightTimeoutError,
    async_playwright,
    expect,
)

from . import _ha

ROOT = Path(__file__).resolve().parents[1]
# One folder per Python (so per Home Assistant version, see requirements_test.txt).
ARTIFACTS = (
    ROOT / "artifacts" / f"e2e-python{sys.version_info[0]}.{sys.version_info[1]}"
)
HA_PORT = 18123
BASE = f"http://127.0.0.1:{HA_PORT}"
SIM_PORT = 38081  # first simulated OBIS meter: SMH-DEMO-0001, with solar export
METER = "OBIS meter SMH-DEMO-0001"  # the entry
DEVICE = "SMH-DEMO-0001"  # its device: named by the serial number
NET_POWER = "sensor.smh_demo_0001_net_power"
SDM630_PORT = 35020  # two SDM630 (unit ids 1 and 2) behind a Modbus TCP gateway
XCEL_PORT = 38091  # the fake Xcel meter
COUNTER_KEYS = ("energy_import", "energy_export")

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
USER, PASSWORD = "e2e", "e2e-password"


type Restart = Callable[[Callable[[Path], Awaitable[None]]], Awaitable[None]]


def _home_assistant(config: Path, log: IO[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "homeassistant", "--config", str(config)],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


@contextlib.asynccontextmanager
async def environment(tmp_path: Path) -> AsyncIterator[Restart]:
    """Simulated meters and Home Assistant in a fresh configuration folder.

    Yields how to restart Home Assistant: stop it, run a step on its configuration
    folder while it is stopped, start it again.
    """
    config = tmp_path / "config"
    (config / "custom_components").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "configuration.yaml", config / "configuration.yaml")
    with (config / "configuration.yaml").open("a") as yaml:
        yaml.write(f"\nhttp:\n  server_port: {HA_PORT}\n")
    (config / "custom_components" / "smart_meter_hub").symlink_to(
        ROOT / "custom_components" / "smart_meter_hub"
    )
    logs = (
        (tmp_path / "meter_sim.log").open("w"),
        (tmp_path / "home-assistant.log").open("w"),
    )
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "meter_sim",
                "--obis-port",
                str(SIM_PORT),
                "--sdm630-port",
                str(SDM630_PORT),
                "--xcel-port",
                str(XCEL_PORT),
                # The simulated utility approves the identity 20 s after it is saved.
                "--xcel-approve-from",
                str(config / ".storage" / "smart_meter_hub.xcel_identity"),
            ],
            cwd=ROOT,
            stdout=logs[0],
            stderr=subprocess.STDOUT,
        ),
        _home_assistant(config, logs[1]),
    ]

    async def restart(while_stopped: Callable[[Path], Awaitable[None]]) -> None:
        processes[1].terminate()
        await asyncio.to_thread(processes[1].wait, 60)
        await while_stopped(config)
        processes[1] = _home_assistant(config, logs[1])
        await _ha.wait_for_http(f"{BASE}/api/", 180)

    try:
        await _ha.wait_for_http(f"{BASE}/api/onboarding", 180)
        yield restart
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for log in logs:
            log.close()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shutil.copy(tmp_path / "home-assistant.log", ARTIFACTS / "home-assistant.log")


async def onboard() -> str:
    """Create the owner account; return an access token."""
    return await _ha.onboard(BASE, USER, PASSWORD)


async def ws_command(token: str, command: dict[str, object]) -> dict[str, object]:
    """Send one command over Home Assistant's websocket API; return its answer."""
    return await _ha.ws_command(BASE, token, command)


async def energy_validation(token: str) -> list[object]:
    """What Home Assistant's energy validator (shown by Energy settings) finds wrong."""
    answer = await ws_command(token, {"type": "energy/validate"})
    result: dict[str, list[list[object]]] = answer["result"]  # type: ignore[assignment]
    return [issue for part in result.values() for issues in part for issue in issues]


async def shot(page: Page, name: str) -> None:
    """Save a screenshot of the current step."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(600)  # let animations settle
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def form_field(page: Page, label: str) -> Locator:
    """A config or options flow's text or number field, by its label."""
    return (
        page.get_by_label(label)
        .or_(page.get_by_role("textbox", name=label))
        .or_(page.get_by_role("spinbutton", name=label))
        .first
    )


async def open_dialog(page: Page, button: str, field: str) -> None:
    """Click ``button`` until the dialog with ``field`` shows.

    The 2025 frontend sometimes swallows a click on a button just after another dialog
    closed (seen in CI under load: the button takes the focus, no dialog): again, at
    most twice more.
    """
    opened = page.get_by_role("combobox", name=field).or_(page.get_by_label(field))
    for _attempt in range(3):
        await page.get_by_role("button", name=button).click()
        with contextlib.suppress(AssertionError):
            await expect(opened.first).to_be_visible(timeout=5_000)
            return
    await expect(opened.first).to_be_visible()


async def pick(page: Page, box: str, name: str, device: str) -> None:
    """Choose the entity ``name`` of ``device`` in one of the frontend's pickers.

    Until 2025 a combo box to type into; the newest frontend opens a list with a
    search field of its own (typing elsewhere would open the quick bar).
    """
    combo = page.get_by_role("combobox", name=box)
    field = page.get_by_label(box)
    await expect(combo.or_(field).first).to_be_visible()  # the dialog has opened
    if await combo.count():
        await combo.first.click()
        await page.keyboard.type(name)
        await page.get_by_role("option", name=f"{device} {name}").first.click()
        return
    await field.first.click()
    popup = page.get_by_role("dialog", name=box)
    await popup.get_by_placeholder("Search").fill(name)
    # The search leaves the entities called ``name``: the one of ``device``.
    await popup.get_by_text(device, exact=True).first.click()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
async def test_user_journey(tmp_path: Path) -> None:
    async with environment(tmp_path) as restart, async_playwright() as playwright:
        token = await onboard()
        # The newest Home Assistant moves the http: YAML (our test port) into its
        # storage as a trial it reverts after 5 minutes unless confirmed: confirm it,
        # as the dialog it shows would ask the user to. Older ones lack the command.
        answer = await ws_command(token, {"type": "http/config/promote"})
        assert answer["success"] or answer["error"]["code"] == "unknown_command", answer  # type: ignore[index]
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            await journey(page, token, restart)
        except Exception:
            await shot(page, "failure")
            # What the page offered to a user (and to the locators): roles and names.
            aria = await page.locator("body").aria_snapshot()
            (ARTIFACTS / "failure-aria.yaml").write_text(aria)
            raise
        finally:
            await browser.close()


async def visit(page: Page, url: str) -> None:
    """Open ``url``; again if the frontend's own navigation cancelled ours.

    Closing a dialog moves back in the browser's history a moment later: a page opened
    in that moment is aborted (net::ERR_ABORTED), with nothing wrong in the product.
    """
    for attempt in range(3):
        try:
            await page.goto(url)
            return
        except PlaywrightError as err:
            if "ERR_ABORTED" not in str(err) or attempt == 2:
                raise
            await page.wait_for_load_state()


async def add_integration(page: Page, kind: str) -> None:
    """Settings > Devices & services > Add integration > Smart Meter Hub > ``kind``."""
    await visit(page, f"{BASE}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    brand = "Search for a brand name"
    search = page.get_by_role("textbox", name=brand).or_(page.get_by_placeholder(brand))
    await search.first.fill("Smart Meter Hub")
    await page.locator("ha-integration-list-item", has_text="Smart Meter Hub").click()
    # Anchored: "OBIS HTTP JSON meter" is also inside "Many OBIS HTTP JSON meters...".
    await page.get_by_text(re.compile("^" + re.escape(kind))).click()


async def flow_created(page: Page, title: str, devices: tuple[str, ...] = ()) -> None:
    """The flow's last step: the entry ``title`` exists, with these devices.

    Until 2025 "Created configuration for <title>"; the newest Home Assistant asks
    instead to name each new device and assign it an area ("Name and assign").
    """
    created = page.get_by_text(f"Created configuration for {title}")
    named = page.get_by_text("Name and assign")
    await expect(created.or_(named).first).to_be_visible()
    for device in devices:
        listed = page.get_by_text(device).or_(page.get_by_placeholder(device))
        await expect(listed.first).to_be_visible()


async def finish_flow(page: Page) -> None:
    """Close the flow's last step without naming devices or assigning areas."""
    finish = page.get_by_role("button", name="Finish")
    skip = page.get_by_role("button", name="Skip and finish")
    await finish.or_(skip).first.click()


async def add_sdm630_gateway(page: Page) -> None:
    """Two SDM630 behind one gateway: each its own device."""
    await add_integration(page, "Eastron SDM meters behind a Modbus gateway")
    await form_field(page, "Gateway host").fill("127.0.0.1")
    await form_field(page, "Port").fill(str(SDM630_PORT))
    await form_field(page, "Unit ids").fill("1, 2")
    await shot(page, "11-sdm630-flow")
    await page.get_by_role("button", name="Submit").click()
    await flow_created(
        page,
        f"SDM630 gateway 127.0.0.1:{SDM630_PORT}",
        devices=("SDM630 21000101", "SDM630 21000102"),
    )
    await finish_flow(page)
    await visit(page, f"{BASE}/config/devices/dashboard")
    await expect(page.get_by_text("SDM630 21000101").first).to_be_visible()
    await expect(page.get_by_text("SDM630 21000102").first).to_be_visible()
    await shot(page, "12-sdm630-devices")
    # One meter's own page, with live values.
    await page.get_by_text("SDM630 21000102").first.click()
    await expect(page.get_by_text("Energy import").first).to_be_visible()
    await expect(page.get_by_text("Net power").first).to_be_visible()
    await expect(page.get_by_text(" kWh").first).to_be_visible()
    await shot(page, "16-sdm630-device")


async def add_xcel_meter(page: Page) -> None:
    """A new identity, its LFDI shown for the utility, then finish and wait."""
    await add_integration(page, "Xcel Energy / Itron meter")
    await page.get_by_text("Create a new identity").click()
    await expect(
        page.get_by_text("Register this LFDI with Xcel Energy")
    ).to_be_visible()
    await shot(page, "13-xcel-lfdi")
    await page.get_by_role("button", name="Submit").click()
    await form_field(page, "Host").fill("127.0.0.1")
    await form_field(page, "Port").fill(str(XCEL_PORT))
    await page.get_by_role("button", name="Submit").click()
    waiting = page.get_by_text("The meter does not accept Smart Meter Hub yet")
    await expect(waiting.or_(page.get_by_role("button", name="Finish"))).to_be_visible()
    if await waiting.is_visible():  # the usual case: approval comes later
        await shot(page, "14-xcel-waiting")
        await page.get_by_role("button", name="Submit").click()
    await flow_created(page, "Xcel meter")
    await finish_flow(page)


async def calm_waiting(page: Page) -> None:
    """An Xcel entry waiting for the utility is no failed setup, retried and red."""
    xcel = page.get_by_text("Xcel meter").first
    # The newest frontend, opened right after a flow, sometimes lists "No entries" until
    # the page is loaded again.
    for _attempt in range(3):
        await visit(page, f"{BASE}/config/integrations/integration/smart_meter_hub")
        with contextlib.suppress(AssertionError):
            await expect(xcel).to_be_visible(timeout=10_000)
            break
    await expect(xcel).to_be_visible()
    await expect(
        page.get_by_text(re.compile("retry|failed", re.IGNORECASE))
    ).to_have_count(0)
    await shot(page, "14a-xcel-waiting-entry")


async def night_baseline_page(page: Page) -> None:
    """The night baseline's entity page: its window and how much of it was seen."""
    await visit(page, f"{BASE}/config/devices/dashboard")
    await page.get_by_text(DEVICE).first.click()
    await page.get_by_text("Night baseline").first.click()
    # The more-info dialog: its attributes are collapsed under "Attributes" until 2025,
    # under the dialog's menu > Details in the newest frontend.
    attributes = page.get_by_text("Attributes", exact=True)
    menu = page.locator("ha-more-info-dialog").get_by_role("button", name="Menu")
    await expect(attributes.or_(menu).first).to_be_visible()
    if await attributes.is_visible():
        await attributes.click()
    else:
        await menu.click()
        await page.get_by_role("menuitem", name="Details").click()
    await expect(page.get_by_text("Night window", exact=True)).to_be_visible()
    await expect(page.get_by_text("Share of the window seen (%)")).to_be_visible()
    await expect(page.get_by_text("Next baseline at")).to_be_visible()
    await shot(page, "18-night-baseline")
    await page.keyboard.press("Escape")


async def quiet_logbook(page: Page, token: str) -> None:
    """After minutes of polling every 10 s, the Logbook has no entry per poll (#14).

    Sensors with a unit are never in the Logbook; what could flood it are the ones
    without (a timestamp, a state): each may change a few times, not at every poll.
    """
    start = datetime.fromtimestamp(time.time() - 3600, UTC).isoformat()
    answer = await ws_command(
        token, {"type": "logbook/get_events", "start_time": start}
    )
    events: list[dict[str, object]] = answer["result"]  # type: ignore[assignment]
    ours = Counter(
        str(event.get("entity_id"))
        for event in events
        if "smh_demo_0001" in str(event.get("entity_id"))
    )
    assert max(ours.values(), default=0) <= 3, ours
    await visit(page, f"{BASE}/logbook")
    await expect(page.get_by_text("Last reading")).to_have_count(0)
    await shot(page, "19-logbook")


async def german_first_step(page: Page) -> None:
    """The config flow's first step in German, for a user whose browser is German (#13)."""
    german = json.loads(
        (ROOT / "custom_components/smart_meter_hub/translations/de.json").read_text()
    )["config"]["step"]["user"]
    browser = page.context.browser
    assert browser is not None
    context = await browser.new_context(
        locale="de-DE",
        storage_state=await page.context.storage_state(),
        viewport={"width": 1280, "height": 900},
    )
    # The frontend takes the browser's language unless the profile chose one.
    await context.add_init_script(
        "localStorage.setItem('selectedLanguage', JSON.stringify('de'))"
    )
    try:
        german_page = await context.new_page()
        german_page.set_default_timeout(30_000)
        # The "add integration" link Home Assistant's my-links use.
        await visit(
            german_page,
            f"{BASE}/config/integrations/dashboard/add?domain=smart_meter_hub",
        )
        # "Möchtest du Smart Meter Hub einrichten?": the frontend's own question, in
        # German too.
        await german_page.get_by_role("button", name="OK").click()
        await expect(german_page.get_by_text(german["description"])).to_be_visible()
        await expect(
            german_page.get_by_text(german["menu_options"]["obis_http"], exact=True)
        ).to_be_visible()
        await shot(german_page, "20-config-flow-german")
    finally:
        await context.close()


def grid_sources(page: Page) -> Locator:
    """The Electricity grid card of Energy settings: what it lists as configured.

    Not the whole page: a closed picker's options, with the same text, may linger.
    """
    return page.locator("ha-energy-grid-settings")


async def add_grid_flows(page: Page) -> None:
    """Energy settings until 2025.11: consumption and return added one at a time.

    Grid power did not exist yet in those versions.
    """
    await open_dialog(page, "Add consumption", "Consumed energy")
    await pick(page, "Consumed energy", "Energy import", DEVICE)
    await page.get_by_role("button", name="Save").click()
    # The dialog has closed and the source is listed before the next one is added.
    await expect(
        grid_sources(page).get_by_text(f"{DEVICE} Energy import")
    ).to_be_visible()
    await open_dialog(page, "Add return", "Energy returned to the grid")
    await pick(page, "Energy returned to the grid", "Energy export", DEVICE)
    await page.get_by_role("button", name="Save").click()
    await expect(
        grid_sources(page).get_by_text(f"{DEVICE} Energy export")
    ).to_be_visible()


async def add_grid_connection(page: Page) -> None:
    """Energy settings of the newest Home Assistant: one grid connection.

    Import, export and a power sensor: our net power, positive while importing and
    negative while exporting, which is what the "Standard" type expects.
    """
    await page.get_by_role("button", name="Add grid connection").click()
    await pick(page, "Energy imported from grid", "Energy import", DEVICE)
    await pick(page, "Energy exported to grid", "Energy export", DEVICE)
    await page.get_by_role("radio", name="Standard").check()
    await pick(page, "Power measurement", "Net power", DEVICE)
    await shot(page, "06a-grid-connection")
    await page.get_by_role("button", name="Save").click()
    await expect(
        grid_sources(page).get_by_text(f"{DEVICE} Energy import")
    ).to_be_visible()
    await expect(
        grid_sources(page).get_by_text(f"{DEVICE} Energy export")
    ).to_be_visible()


async def delete_last_entry(page: Page) -> None:
    """Entry menu > Delete > confirm, for the last Smart Meter Hub entry listed."""
    await visit(page, f"{BASE}/config/integrations/integration/smart_meter_hub")
    await expect(page.get_by_role("button", name="Configure").first).to_be_visible()
    confirm = page.get_by_role("button", name="Delete")
    # The 2025 frontend's menu sometimes swallows a click while it opens (seen in CI
    # under load: the menu stays open, no dialog; or it does not open at all): open it
    # again, at most twice more.
    for _attempt in range(3):
        # The newest frontend lists each entry's devices (each with a menu of its
        # own) under the entry: the entry's own menu comes first in its row.
        rows = page.locator("ha-config-entry-row")
        if await rows.count():
            await rows.last.get_by_role("button", name="Menu").first.click()
        else:
            await page.get_by_role("button", name="Menu").last.click()
        with contextlib.suppress(PlaywrightTimeoutError, AssertionError):
            await page.get_by_role("menuitem", name="Delete").click(timeout=5_000)
            await expect(confirm).to_be_visible(timeout=5_000)
            break
        await page.keyboard.press("Escape")
    await confirm.click()
    await expect(confirm).to_have_count(0)


async def until_loaded(token: str, title: str, seconds: float = 300) -> None:
    """Wait until the entry titled ``title…`` is loaded (set up retries by itself)."""
    deadline = time.monotonic() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{BASE}/api/config/config_entries/entry?domain=smart_meter_hub"
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(url, headers=headers) as response:
                entries = await response.json()
            states = [e["state"] for e in entries if e["title"].startswith(title)]
            if states == ["loaded"]:
                return
            assert time.monotonic() < deadline, entries
            await asyncio.sleep(5)


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


async def xcel_entry(token: str) -> tuple[str, str]:
    """The Xcel entry's id, and its meter's SFDI."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{BASE}/api/config/config_entries/entry?domain=smart_meter_hub"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers=headers) as response,
    ):
        entries = await response.json()
    (entry,) = [e for e in entries if e["title"].startswith("Xcel meter")]
    return entry["entry_id"], entry["title"].rsplit(" ", 1)[1]


async def until_xcel_reads(token: str, seconds: float = 300) -> None:
    """Wait until the Xcel entry has read its meter: its title names the meter's SFDI.

    While it waits for the approval its title is the address ("Xcel meter 127.0.0.1").
    """
    deadline = time.monotonic() + seconds
    while not (await xcel_entry(token))[1].isdigit():
        assert time.monotonic() < deadline, "the Xcel meter was never read"
        await asyncio.sleep(2)


async def hourly_energy(
    token: str, statistic_id: str, start: float, end: float, period: str = "hour"
) -> list[dict[str, float]]:
    """The recorder's rows, as the Energy Dashboard asks for them."""
    answer = await ws_command(
        token,
        {
            "type": "recorder/statistics_during_period",
            "start_time": _iso(start),
            "end_time": _iso(end),
            "statistic_ids": [statistic_id],
            "period": period,
            "types": ["change", "state", "sum"],
        },
    )
    rows: list[dict[str, float]] = answer["result"].get(statistic_id, [])  # type: ignore[union-attr]
    return rows


async def meter_counters_at(config: Path, moment: float) -> dict[str, float]:
    """The fake Xcel meter's energy delivered and received at ``moment`` (kWh).

    Each counter now, less its 15-minute intervals since ``moment`` and the part of the
    current interval (at the demand it reads now: the fake meter's demand is constant
    within an interval). Read from the meter with Home Assistant's identity, while Home
    Assistant is stopped (the meter serves one connection).
    """
    from custom_components.smart_meter_hub.meters import (  # noqa: PLC0415
        INTERVAL_DELIVERED,
        INTERVAL_RECEIVED,
        Ieee2030Client,
        Ieee2030Meter,
        client_ssl_context,
        load_identity,
    )
    from custom_components.smart_meter_hub.meters.ieee2030_5 import (  # noqa: PLC0415
        DELIVERED,
        DEMAND,
        NS,
        RECEIVED,
    )

    stored = json.loads(
        (config / ".storage" / "smart_meter_hub.xcel_identity").read_text()
    )["data"]
    identity = load_identity(
        stored["certificate"], stored["private_key"], check_validity=False
    )
    context = await asyncio.to_thread(client_ssl_context, identity)
    client = Ieee2030Client("127.0.0.1", XCEL_PORT, context)
    result: dict[str, float] = {}
    try:
        profile = await client.discover()
        meter = Ieee2030Meter(client, profile)
        demand = await client.get(profile.readings[DEMAND])
        power = int(demand.findtext(NS + "value") or 0)
        for key, role, intervals, sign in (
            ("energy_import", DELIVERED, INTERVAL_DELIVERED, 1),
            ("energy_export", RECEIVED, INTERVAL_RECEIVED, -1),
        ):
            counter = await client.get(profile.readings[role])
            now = time.time()
            series = await meter.intervals(intervals, moment, now, now)
            assert series is not None
            value = int(counter.findtext(NS + "value") or 0)
            at = int(counter.findtext(f"{NS}timePeriod/{NS}start") or 0)
            slots = [slot for slot in series.slots if slot + 900 <= at]
            current = max(slots) + 900
            partial = max(sign * power, 0) * (at - current) / 3600
            counted = sum(series.slots[slot] for slot in slots)
            result[key] = (value - counted - partial) / 1000
    finally:
        await client.close()
    return result


async def xcel_missed_hours(page: Page, token: str, restart: Restart) -> None:
    """Home Assistant was down for three hours: the Energy Dashboard still shows them.

    Home Assistant is stopped, its saved state set to what it would be after an outage
    of three hours that ended a minute into an hour (hours this run's Home Assistant
    recorded little or nothing of), and started again: Smart Meter Hub reads the meter's
    15-minute intervals for those hours and writes them into the energy sensors'
    statistics. The rows before the outage are imported with the counters the meter had
    then, as the recorder would have compiled them.
    """
    entry_id, sfdi = await xcel_entry(token)
    sensors = {key: f"sensor.xcel_meter_{sfdi}_{key}" for key in COUNTER_KEYS}
    energy = sensors["energy_import"]
    answer = await ws_command(
        token,
        {
            "type": "energy/save_prefs",
            "device_consumption": [{"stat_consumption": energy}],
        },
    )
    assert answer["success"], answer
    # The recorder's first compile of each counter: its sum - state from then on.
    deadline = time.monotonic() + 7 * 60
    now = time.time()
    offsets: dict[str, float] = {}
    for key, sensor in sensors.items():
        while not (
            rows := await hourly_energy(token, sensor, now - 3600, now + 600, "5minute")
        ):
            assert time.monotonic() < deadline, sensor
            await asyncio.sleep(10)
        offsets[key] = rows[-1]["sum"] - rows[-1]["state"]
    # Three hours missed, first to after. Once the current hour is 15 minutes old,
    # the outage ends in it (the hour after the outage has live readings, and all
    # its hours are on today's chart after 03:00); before, it ends in the last hour.
    hour = int(time.time() // 3600 * 3600)
    after = hour if time.time() >= hour + 15 * 60 else hour - 3600
    first = after - 3 * 3600
    before: dict[str, float] = {}

    async def outage(config: Path) -> None:
        before.update(await meter_counters_at(config, first))
        path = config / ".storage" / "smart_meter_hub.xcel_backfill"
        saved = json.loads(path.read_text())
        saved["data"][entry_id] = {
            "last": time.time(),
            "gaps": [[first + 20 * 60, after + 60]],
        }
        path.write_text(json.dumps(saved))

    await restart(outage)
    await until_loaded(token, "Xcel meter")
    for key, sensor in sensors.items():
        row = {"start": _iso(first - 3600), "state": before[key]}
        answer = await ws_command(
            token,
            {
                "type": "recorder/import_statistics",
                "metadata": {
                    "has_mean": False,
                    "has_sum": True,
                    "name": None,
                    "source": "recorder",
                    "statistic_id": sensor,
                    "unit_of_measurement": "kWh",
                },
                "stats": [{**row, "sum": before[key] + offsets[key]}],
            },
        )
        assert answer["success"], answer
    # The next poll fills the three hours (each with the meter's ~2.4 kWh).
    deadline = time.monotonic() + 3 * 60
    while True:
        rows = await hourly_energy(token, energy, first, after)
        if len(rows) == 3 and all(row["change"] > 1.5 for row in rows):
            break
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(5)
    # The Energy Dashboard's hourly bars of the device: not empty for those hours.
    # Until 2025 one page; the newest frontend has the chart on its Electricity tab.
    await visit(page, f"{BASE}/energy")
    title = page.get_by_text(re.compile(r"^Individual devices detail( usage)?$"))
    electricity = page.get_by_role("tab", name="Electricity")
    await expect(title.or_(electricity).first).to_be_visible()
    if not await title.count():
        await electricity.click()
    await expect(title.first).to_be_visible()
    card = page.locator("ha-card", has=title).first
    await card.evaluate("card => card.scrollIntoView({block: 'center'})")
    await page.wait_for_timeout(3000)  # the chart draws
    await shot(page, "17-energy-missed-hours-filled")
    await card.screenshot(path=str(ARTIFACTS / "17-energy-missed-hours-card.png"))


async def journey(page: Page, token: str, restart: Restart) -> None:
    """Everything a user does, step by step, with a screenshot of each step."""

    # Log in.
    await visit(page, f"{BASE}/")
    await page.get_by_label("Username").fill(USER)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await shot(page, "01-login")
    await page.keyboard.press("Enter")
    # The default dashboard: "Overview" (/lovelace) until 2025, "Home" (/home) later.
    await page.wait_for_url(re.compile(r"/(lovelace|home)(/|$)"))

    # Add the meter through the config flow, with a mistake first.
    await add_integration(page, "OBIS HTTP JSON meter")
    await form_field(page, "Host").fill("127.0.0.1")
    await form_field(page, "Port").fill(str(SIM_PORT - 1))  # nothing listens there
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Cannot reach the meter")).to_be_visible()
    await shot(page, "02-config-flow-error")
    await form_field(page, "Port").fill(str(SIM_PORT))
    await shot(page, "03-config-flow")
    await page.get_by_role("button", name="Submit").click()
    await flow_created(page, METER, devices=(DEVICE,))
    await shot(page, "04-created")
    await finish_flow(page)

    # An SDM630 gateway with two meters, and an Xcel meter that waits for approval.
    await add_sdm630_gateway(page)
    await add_xcel_meter(page)
    await calm_waiting(page)

    # The device page shows live values.
    await visit(page, f"{BASE}/config/devices/dashboard")
    await page.get_by_text(DEVICE).first.click()
    await expect(page.get_by_text("Energy import").first).to_be_visible()
    await expect(page.get_by_text("kWh").first).to_be_visible()
    await shot(page, "05-device")

    # Energy Dashboard: grid consumption, return to grid and grid power from our sensors.
    await visit(page, f"{BASE}/config/energy")
    connection = page.get_by_role("button", name="Add grid connection")
    consumption = page.get_by_role("button", name="Add consumption")
    await expect(connection.or_(consumption)).to_be_visible()
    if await connection.is_visible():
        await add_grid_connection(page)
        # The list shows the energy counters only: the power sensor is in the saved
        # settings (and, until statistics exist, in the validator's warning).
        prefs = await ws_command(token, {"type": "energy/get_prefs"})
        (grid,) = prefs["result"]["energy_sources"]  # type: ignore[index]
        assert grid["power_config"] == {"stat_rate": NET_POWER}, grid
    else:
        await add_grid_flows(page)
    await shot(page, "06-energy-settings")
    # Home Assistant compiles statistics every 5 minutes: until then the validator
    # says "statistics not defined". Wait for the first compile, then it must be clean.
    deadline = time.monotonic() + 7 * 60
    while problems := await energy_validation(token):
        assert time.monotonic() < deadline, json.dumps(problems)
        kinds = {problem["type"] for problem in problems}  # type: ignore[index]
        assert kinds <= {"statistics_not_defined"}, json.dumps(problems)
        await asyncio.sleep(10)
    await page.reload()
    await expect(
        grid_sources(page).get_by_text(f"{DEVICE} Energy import")
    ).to_be_visible()
    await expect(page.get_by_text("Statistics not defined")).to_have_count(0)
    await shot(page, "07-energy-validated")

    # Meanwhile the (simulated) utility approved the Xcel identity: data, no user action.
    # (A waiting entry is loaded already; it names its meter once it has read it.)
    await until_loaded(token, "Xcel meter")
    await until_xcel_reads(token)
    await visit(page, f"{BASE}/config/devices/dashboard")
    await page.get_by_text("Xcel meter").first.click()
    await expect(page.get_by_text("Net power").first).to_be_visible()
    await shot(page, "15-xcel-device")

    # Home Assistant missed three hours of the Xcel meter: filled from its history.
    await xcel_missed_hours(page, token, restart)

    # Change an option.
    await visit(page, f"{BASE}/config/integrations/integration/smart_meter_hub")
    await page.get_by_role("button", name="Configure").first.click()
    await form_field(page, "Poll interval").fill("30")
    # The OBIS codes read are named, not bare codes.
    await expect(page.get_by_text("1-0:1.8.0 · Energy import")).to_be_visible()
    await shot(page, "08-options")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Options successfully saved")).to_be_visible()
    await shot(page, "09-options-saved")
    await page.keyboard.press("Escape")

    # What the analytics measure, since when and against what, on the entity's page;
    # minutes of polling left nothing per poll in the Logbook; the first step of the
    # config flow in German for a German browser.
    await night_baseline_page(page)
    await quiet_logbook(page, token)
    await german_first_step(page)

    # Remove the meters, one entry after the other.
    for _entry in range(3):
        await delete_last_entry(page)
    await visit(page, f"{BASE}/config/integrations/dashboard")
    await expect(page.get_by_text("Smart Meter Hub")).to_have_count(0)
    await shot(page, "10-removed")
