"""A real Home Assistant process for the end-to-end tests: start it, onboard it, ask it."""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp


async def wait_for_http(url: str, seconds: float) -> None:
    """Wait until ``url`` answers (anything but a server error)."""
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


async def onboard(base: str, username: str, password: str) -> str:
    """Create the owner account through the onboarding API; return an access token."""
    client = f"{base}/"
    async with aiohttp.ClientSession() as session:
        user = {
            "client_id": client,
            "name": "E2E",
            "username": username,
            "password": password,
            "language": "en",
        }
        async with session.post(f"{base}/api/onboarding/users", json=user) as response:
            code = (await response.json())["auth_code"]
        body = {"grant_type": "authorization_code", "code": code, "client_id": client}
        async with session.post(f"{base}/auth/token", data=body) as response:
            token: str = (await response.json())["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for step, payload in (
            ("core_config", {}),
            ("analytics", {}),
            ("integration", {"client_id": client, "redirect_uri": client}),
        ):
            async with session.post(
                f"{base}/api/onboarding/{step}", headers=headers, json=payload
            ):
                pass
    return token


async def ws_command(
    base: str, token: str, command: dict[str, object]
) -> dict[str, object]:
    """Send one command over Home Assistant's websocket API; return its answer."""
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{base}/api/websocket") as ws,
    ):
        await ws.receive_json()
        await ws.send_json({"type": "auth", "access_token": token})
        await ws.receive_json()
        await ws.send_json({"id": 1, **command})
        answer: dict[str, object] = await ws.receive_json()
        return answer
