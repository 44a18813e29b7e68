"""Onboard a fresh development Home Assistant and add the simulated meters through its API.

Used by `scripts/develop --prefill`: creates the owner account dev / dev (only on a fresh
config/ folder), then runs Smart Meter Hub's real config flow for each simulated meter,
so the dashboard is populated at once. Talks to http://127.0.0.1:8123 only.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp

BASE = "http://127.0.0.1:8123"
CLIENT = f"{BASE}/"
LOCAL = "127.0.0.1"
# Each simulated meter: the steps of its config flow, after "add integration".
FLOWS: list[list[dict[str, Any]]] = [
    [{"next_step_id": "obis_http"}, {"host": LOCAL, "port": 18081}],
    [{"next_step_id": "obis_http"}, {"host": LOCAL, "port": 18082}],
    [
        {"next_step_id": "obis_http"},
        {"host": LOCAL, "port": 18083, "token": "demo-token"},
    ],
    [
        {"next_step_id": "sdm630"},
        {"host": LOCAL, "port": 15020, "framing": "tcp", "unit_ids": "1, 2"},
    ],
    [
        {"next_step_id": "sdm630"},
        {"host": LOCAL, "port": 15021, "framing": "rtu", "unit_ids": "1, 2, 3"},
        {"model": "SDM230"},  # unit 3 does not tell its model
    ],
    # The Xcel meter: identity, its LFDI, then its address; the flow finishes while it
    # waits for the (simulated) utility to approve the identity.
    [
        {"next_step_id": "xcel"},
        {"next_step_id": "xcel_generate"},
        {},
        {"host": LOCAL, "port": 18091},
        {},
    ],
]
XCEL_NOTE = " (the simulated utility approves its LFDI after about 20 s)"


async def _wait_until_up(session: aiohttp.ClientSession) -> None:
    for _ in range(240):
        try:
            async with session.get(f"{BASE}/api/onboarding") as response:
                if response.status in (200, 401, 404):
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.5)
    raise SystemExit("Home Assistant did not start on port 8123")


async def _token(session: aiohttp.ClientSession) -> str | None:
    async with session.get(f"{BASE}/api/onboarding") as response:
        steps = await response.json() if response.status == 200 else []
    if not any(step["step"] == "user" and not step["done"] for step in steps):
        return None  # already onboarded: the user logs in with their own account
    user = {
        "client_id": CLIENT,
        "name": "Developer",
        "username": "dev",
        "password": "dev",
        "language": "en",
    }
    async with session.post(f"{BASE}/api/onboarding/users", json=user) as response:
        code = (await response.json())["auth_code"]
    token_request = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT,
    }
    async with session.post(f"{BASE}/auth/token", data=token_request) as response:
        token: str = (await response.json())["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for step, body in (
        ("core_config", {}),
        ("analytics", {}),
        ("integration", {"client_id": CLIENT, "redirect_uri": CLIENT}),
    ):
        async with session.post(
            f"{BASE}/api/onboarding/{step}", headers=headers, json=body
        ):
            pass
    return token


async def main() -> int:
    """Onboard and add every simulated meter; print what happened."""
    async with aiohttp.ClientSession() as session:
        await _wait_until_up(session)
        token = await _token(session)
        if token is None:
            print(
                "prefill: Home Assistant is already onboarded; add meters from the UI."
            )
            return 0
        headers = {"Authorization": f"Bearer {token}"}
        flows = f"{BASE}/api/config/config_entries/flow"
        for steps in FLOWS:
            async with session.post(
                flows, headers=headers, json={"handler": "smart_meter_hub"}
            ) as response:
                flow_id = (await response.json())["flow_id"]
            result: dict[str, Any] = {}
            for step in steps:
                if result.get("type") == "create_entry":
                    break
                async with session.post(
                    f"{flows}/{flow_id}", headers=headers, json=step
                ) as response:
                    result = await response.json()
            outcome = (
                result.get("title") or result.get("errors") or result.get("reason")
            )
            note = XCEL_NOTE if steps[0].get("next_step_id") == "xcel" else ""
            print(f"prefill: {outcome}{note}")
        print("prefill: log in at http://localhost:8123 as dev / dev")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
