"""The Xcel option "connection": keep the meter's one connection, or share the meter (#15.3).

Kept (the default), polls cost the meter no handshake and no other program gets in;
released after each poll, every poll resumes the TLS session (an abbreviated handshake)
and another program reads the meter between polls.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.kinds.xcel.identity import async_stored_identity
from custom_components.smart_meter_hub.meters import (
    Identity,
    Ieee2030Client,
    MeterConnectionError,
    client_ssl_context,
)
from meter_sim.xcel import FakeXcelMeter
from tests.helpers import async_poll


@pytest.fixture
async def xcel(socket_enabled: None) -> AsyncGenerator[FakeXcelMeter]:
    meter = FakeXcelMeter()
    await meter.start()
    yield meter
    await meter.stop()


async def _add(
    hass: HomeAssistant, meter: FakeXcelMeter
) -> tuple[MockConfigEntry, Identity]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "xcel_generate"}
    )
    identity = await async_stored_identity(hass)
    assert identity is not None
    meter.register(identity.certificate_pem)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"host": "127.0.0.1", "port": meter.port}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    return result["result"], identity


async def _poll(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    # The entry polls at its own moment of the interval: a fixed 10 s could end just
    # before it (a missed poll, in about one run of twenty).
    await async_poll(hass, freezer, timedelta(seconds=10))


async def _another_program_reads(meter: FakeXcelMeter, identity: Identity) -> bool:
    """Whether another client (xcel_itron2mqtt, say) gets an answer from the meter."""
    other = Ieee2030Client(
        "127.0.0.1", meter.port, client_ssl_context(identity), timeout=2.0
    )
    try:
        await other.get("/tm")
    except MeterConnectionError:
        return False
    finally:
        await other.close()
    return True


async def test_kept_by_default_released_on_request(
    hass: HomeAssistant, xcel: FakeXcelMeter, freezer: FrozenDateTimeFactory
) -> None:
    entry, identity = await _add(hass, xcel)
    backend = entry.runtime_data.backend
    handshakes = xcel.handshakes  # the flow's check and the entry's first poll
    for _ in range(3):
        await _poll(hass, freezer)
    assert xcel.handshakes == handshakes  # every poll on the entry's one connection
    assert xcel.resumed_handshakes == 0
    assert not await _another_program_reads(xcel, identity)

    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["data_schema"]({"scan_interval": 10})["connection"] == "keep"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"scan_interval": 10, "connection": "release"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert entry.options["connection"] == "release"
    assert entry.runtime_data.backend is backend  # applied without a reload
    stats = backend.client.stats
    connections, resumed = stats.connections, stats.resumed
    resumed_by_meter = xcel.resumed_handshakes
    polls = 0
    for _ in range(6):  # three polls
        requests = stats.requests
        await _poll(hass, freezer)
        if stats.requests == requests:
            # No poll in this step: the entry's moment fell just past it (the next
            # step reads it). Counted are polls, not steps.
            continue
        polls += 1
        assert await _another_program_reads(xcel, identity)  # between two polls
        # It is done, and the meter has seen it go (our next poll comes an interval
        # later; here, at once).
        assert await asyncio.to_thread(xcel.wait_idle, 5)
        if polls == 3:
            break
    assert polls == 3
    assert entry.runtime_data.last_update_success
    # Each poll reconnected and resumed the session of the poll before.
    assert (stats.connections - connections, stats.resumed - resumed) == (3, 3)
    assert xcel.resumed_handshakes - resumed_by_meter == 3
