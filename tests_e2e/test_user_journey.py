"""The user journey in a real browser against a real Home Assistant and simulated meters.

Starts the simulated meters and Home Assistant (frontend included) the way
`scripts/develop` does, on ports of its own, onboards Home Assistant, then drives the
frontend in headless Chromium (Debian's package, driven by Playwright): log in, add an
OBIS HTTP meter through the config flow, an SDM630 gateway with two meters and an Xcel
meter that waits for the (simulated) utility's approval, see the devices with live values,
add the OBIS meter's counters to the Energy Dashboard and wait until Home Assistant's
validation is clean, change an option, remove the meters. Screenshots of every step go to artifacts/e2e/.

Run with `scripts/e2e`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import Page, async_playwright, expect

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "e2e"
HA_PORT = 18123
BASE = f"http://127.0.0.1:{HA_PORT}"
SIM_PORT = 38081  # first simulated OBIS meter: SMH-DEMO-0001, with solar export
METER = "OBIS meter SMH-DEMO-0001"
SDM630_PORT = 35020  # two SDM630 (unit ids 1 and 2) behind a Modbus TCP gateway
XCEL_PORT = 38091  # the fake Xcel meter
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


async def _wait_for_http(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


@contextlib.asynccontextmanager
async def environment(tmp_path: Path) -> AsyncIterator[None]:
    """Simulated meters and Home Assistant in a fresh configuration folder."""
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
        subprocess.Popen(
            [sys.executable, "-m", "homeassistant", "--config", str(config)],
            cwd=ROOT,
            stdout=logs[1],
            stderr=subprocess.STDOUT,
        ),
    ]
    try:
        await _wait_for_http(f"{BASE}/api/onboarding", 180)
        yield
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
    """Create the owner account through the onboarding API; return an access token."""
    client = f"{BASE}/"
    async with aiohttp.ClientSession() as session:
        user = {
            "client_id": client,
            "name": "E2E",
            "username": USER,
            "password": PASSWORD,
            "language": "en",
        }
        async with session.post(f"{BASE}/api/onboarding/users", json=user) as response:
            code = (await response.json())["auth_code"]
        body = {"grant_type": "authorization_code", "code": code, "client_id": client}
        async with session.post(f"{BASE}/auth/token", data=body) as response:
            token: str = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for step, payload in (
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": client, "redirect_uri": client}),
        ):
            async with session.post(
                f"{BASE}/api/onboarding/{step}", headers=headers, json=payload
            ):
                pass
    return token


async def energy_validation(token: str) -> dict[str, object]:
    """Ask Home Assistant's energy validator (the one the Energy settings page shows)."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{BASE}/api/websocket") as ws,
    ):
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()
        await ws.send_json({"id": 1, "type": "energy/validate"})
        result: dict[str, object] = (await ws.receive_json())["result"]
        return result


async def shot(page: Page, name: str) -> None:
    """Save a screenshot of the current step."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.wait_for_timeout(600)  # let animations settle
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def pick(page: Page, box: str, text: str, option: str) -> None:
    """Choose an entity in one of the frontend's combo boxes."""
    await page.get_by_role("combobox", name=box).click()
    await page.keyboard.type(text)
    await page.get_by_role("option", name=option).first.click()


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
async def test_user_journey(tmp_path: Path) -> None:
    async with environment(tmp_path), async_playwright() as playwright:
        token = await onboard()
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30_000)
        try:
            await journey(page, token)
        except Exception:
            await shot(page, "failure")
            raise
        finally:
            await browser.close()


async def add_integration(page: Page, kind: str) -> None:
    """Settings > Devices & services > Add integration > Smart Meter Hub > ``kind``."""
    await page.goto(f"{BASE}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    search = page.get_by_role("textbox", name="Search for a brand name")
    await search.fill("Smart Meter Hub")
    await page.locator("ha-integration-list-item", has_text="Smart Meter Hub").click()
    await page.get_by_text(kind).click()


async def add_sdm630_gateway(page: Page) -> None:
    """Two SDM630 behind one gateway: each its own device."""
    await add_integration(page, "Eastron SDM630 behind a Modbus gateway")
    await page.get_by_label("Gateway host").fill("127.0.0.1")
    await page.get_by_label("Port").fill(str(SDM630_PORT))
    await page.get_by_label("Unit ids").fill("1, 2")
    await shot(page, "11-sdm630-flow")
    await page.get_by_role("button", name="Submit").click()
    title = f"SDM630 gateway 127.0.0.1:{SDM630_PORT}"
    await expect(page.get_by_text(f"Created configuration for {title}")).to_be_visible()
    await page.get_by_role("button", name="Finish").click()
    await page.goto(f"{BASE}/config/devices/dashboard")
    await expect(page.get_by_text("SDM630 21000101").first).to_be_visible()
    await expect(page.get_by_text("SDM630 21000102").first).to_be_visible()
    await shot(page, "12-sdm630-devices")


async def add_xcel_meter(page: Page) -> None:
    """A new identity, its LFDI shown for the utility, then finish and wait."""
    await add_integration(page, "Xcel Energy / Itron meter")
    await page.get_by_text("Create a new identity").click()
    await expect(
        page.get_by_text("Register this LFDI with Xcel Energy")
    ).to_be_visible()
    await shot(page, "13-xcel-lfdi")
    await page.get_by_role("button", name="Submit").click()
    await page.get_by_label("Host").fill("127.0.0.1")
    await page.get_by_label("Port").fill(str(XCEL_PORT))
    await page.get_by_role("button", name="Submit").click()
    waiting = page.get_by_text("The meter does not accept Smart Meter Hub yet")
    created = page.get_by_text("Created configuration for Xcel meter")
    await expect(waiting.or_(created)).to_be_visible()
    if await waiting.is_visible():  # the usual case: approval comes later
        await shot(page, "14-xcel-waiting")
        await page.get_by_role("button", name="Submit").click()
    await expect(created).to_be_visible()
    await page.get_by_role("button", name="Finish").click()


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


async def journey(page: Page, token: str) -> None:
    """Everything a user does, step by step, with a screenshot of each step."""

    # Log in.
    await page.goto(f"{BASE}/")
    await page.get_by_label("Username").fill(USER)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await shot(page, "01-login")
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/lovelace/**")

    # Add the meter through the config flow, with a mistake first.
    await page.goto(f"{BASE}/config/integrations/dashboard")
    await page.get_by_role("button", name="Add integration").click()
    search = page.get_by_role("textbox", name="Search for a brand name")
    await search.fill("Smart Meter Hub")
    await page.locator("ha-integration-list-item", has_text="Smart Meter Hub").click()
    await page.get_by_text("OBIS HTTP JSON meter").click()
    await page.get_by_label("Host").fill("127.0.0.1")
    await page.get_by_label("Port").fill(str(SIM_PORT - 1))  # nothing listens there
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Cannot reach the meter")).to_be_visible()
    await shot(page, "02-config-flow-error")
    await page.get_by_label("Port").fill(str(SIM_PORT))
    await shot(page, "03-config-flow")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text(f"Created configuration for {METER}")).to_be_visible()
    await shot(page, "04-created")
    await page.get_by_role("button", name="Finish").click()

    # An SDM630 gateway with two meters, and an Xcel meter that waits for approval.
    await add_sdm630_gateway(page)
    await add_xcel_meter(page)

    # The device page shows live values.
    await page.goto(f"{BASE}/config/devices/dashboard")
    await page.get_by_text(METER).first.click()
    await expect(page.get_by_text("Energy import").first).to_be_visible()
    await expect(page.get_by_text("kWh").first).to_be_visible()
    await shot(page, "05-device")

    # Energy Dashboard: grid consumption and return to grid from our counters.
    await page.goto(f"{BASE}/config/energy")
    await page.get_by_role("button", name="Add consumption").click()
    await pick(page, "Consumed energy", "Energy import", f"{METER} Energy import")
    await page.get_by_role("button", name="Save").click()
    # The dialog has closed and the source is listed before the next one is added.
    await expect(page.get_by_text(f"{METER} Energy import")).to_be_visible()
    await page.get_by_role("button", name="Add return").click()
    await pick(
        page, "Energy returned to the grid", "Energy export", f"{METER} Energy export"
    )
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_text(f"{METER} Energy export")).to_be_visible()
    await shot(page, "06-energy-settings")
    # Home Assistant compiles statistics every 5 minutes: until then the validator
    # says "statistics not defined". Wait for the first compile, then it must be clean.
    deadline = time.monotonic() + 7 * 60
    validation = await energy_validation(token)
    while validation != {"energy_sources": [[]], "device_consumption": []}:
        assert time.monotonic() < deadline, json.dumps(validation)
        issues = [i["type"] for s in validation["energy_sources"] for i in s]  # type: ignore[attr-defined]
        assert set(issues) <= {"statistics_not_defined"}, json.dumps(validation)
        await asyncio.sleep(10)
        validation = await energy_validation(token)
    await page.reload()
    await expect(page.get_by_text(f"{METER} Energy import")).to_be_visible()
    await expect(page.get_by_text("Statistics not defined")).to_have_count(0)
    await shot(page, "07-energy-validated")

    # Meanwhile the (simulated) utility approved the Xcel identity: data, no user action.
    await until_loaded(token, "Xcel meter")
    await page.goto(f"{BASE}/config/devices/dashboard")
    await page.get_by_text("Xcel meter").first.click()
    await expect(page.get_by_text("Net power").first).to_be_visible()
    await shot(page, "15-xcel-device")

    # Change an option.
    await page.goto(f"{BASE}/config/integrations/integration/smart_meter_hub")
    await page.get_by_role("button", name="Configure").first.click()
    await page.get_by_label("Poll interval").fill("30")
    await shot(page, "08-options")
    await page.get_by_role("button", name="Submit").click()
    await expect(page.get_by_text("Options successfully saved")).to_be_visible()
    await shot(page, "09-options-saved")
    await page.keyboard.press("Escape")

    # Remove the meters, one entry after the other.
    for _entry in range(3):
        await page.goto(f"{BASE}/config/integrations/integration/smart_meter_hub")
        await page.get_by_role("button", name="Menu").last.click()
        await page.get_by_role("menuitem", name="Delete").click()
        await page.get_by_role("button", name="Delete").click()
        await asyncio.sleep(1)
    await page.goto(f"{BASE}/config/integrations/dashboard")
    await expect(page.get_by_text("Smart Meter Hub")).to_have_count(0)
    await shot(page, "10-removed")
