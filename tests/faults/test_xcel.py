"""The Xcel (IEEE 2030.5) fault matrix, through Home Assistant, against the fake meter.

Every case: the meter answers, then the fault comes and one poll passes, then the
fault clears and one more poll passes. While the fault lasts, what it touches is
unavailable and no entity shows a wrong value (a counter shows the meter's count or
nothing, power is the meter's demand or nothing); the log has no traceback and no
"Unexpected error"; one poll after the fault clears, every entity shows the meter's
values again. Time moves with ``freezer`` and ``async_fire_time_changed``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_OFF, STATE_ON
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.smart_meter_hub.const import DOMAIN
from custom_components.smart_meter_hub.meters import Identity, generate_identity
from meter_sim.xcel import FakeXcelMeter
from tests.helpers import xcel_entry as saved_xcel_entry

from .conftest import assert_clean_log, next_poll, number

POLL = timedelta(seconds=10)  # the Xcel kind's default interval
TIMEOUT = timedelta(seconds=11)  # past the client's 10 s


@pytest.fixture
def identity(freezer: FrozenDateTimeFactory) -> Identity:
    """Smart Meter Hub's identity, valid from the frozen moment on."""
    return generate_identity()


@pytest.fixture
async def xcel(
    identity: Identity, socket_enabled: None
) -> AsyncGenerator[FakeXcelMeter]:
    """The fake meter, approving the identity, counting along the frozen clock."""
    meter = FakeXcelMeter(idle_timeout=60)
    meter.register(identity.certificate_pem)
    await meter.start()
    yield meter
    await meter.stop()


@pytest.fixture
async def xcel_entry(
    hass: HomeAssistant, xcel: FakeXcelMeter, identity: Identity
) -> MockConfigEntry:
    """The meter's entry, set up; it answers."""
    entry = saved_xcel_entry(xcel, identity)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


def entity(meter: FakeXcelMeter, key: str, platform: str = "sensor") -> str:
    return f"{platform}.xcel_meter_{meter.identity.sfdi}_{key}"


def assert_no_wrong_value(hass: HomeAssistant, meter: FakeXcelMeter) -> None:
    """Counters show the meter's count or nothing; power its demand or nothing."""
    for key, wh in (
        ("energy_import", meter.delivered_wh),
        ("energy_export", meter.received_wh),
    ):
        shown = number(hass, entity(meter, key))
        assert shown is None or shown == pytest.approx(wh / 1000, abs=0.01), key
    shown = number(hass, entity(meter, "net_power"))
    assert shown is None or shown == pytest.approx(meter.demand_w, rel=0.06)


def assert_recovered(hass: HomeAssistant, meter: FakeXcelMeter) -> None:
    """Every entity shows the meter's values again."""
    connectivity = hass.states.get(entity(meter, "connectivity", "binary_sensor"))
    assert connectivity is not None
    assert connectivity.state == STATE_ON
    for key, wh in (
        ("energy_import", meter.delivered_wh),
        ("energy_export", meter.received_wh),
    ):
        assert number(hass, entity(meter, key)) == pytest.approx(wh / 1000, abs=0.01)
    for key in ("net_power", "power_import", "power_export", "power_factor"):
        assert number(hass, entity(meter, key)) is not None, key
    assert number(hass, entity(meter, "net_power")) == pytest.approx(
        meter.demand_w, rel=0.06
    )


async def _other_identity(meter: FakeXcelMeter) -> None:
    meter.register(generate_identity().certificate_pem)  # ours is no longer approved


@dataclass(frozen=True)
class Case:
    """A fault of the fake meter, and what it takes away while it lasts."""

    name: str
    apply: Callable[[FakeXcelMeter], Awaitable[None]]
    clear: Callable[[FakeXcelMeter, Identity], Awaitable[None]]
    # "meter": the poll fails, every reading is unavailable and the meter offline;
    # "import": the energy import counter is unavailable, the rest is live;
    # "nothing": the poll succeeds (the fault is absorbed).
    lost: str
    unanswered: bool = False
    issue: str | None = None  # the repair issue it raises while it lasts


def fault(name: str) -> Callable[[FakeXcelMeter], Awaitable[None]]:
    async def apply(meter: FakeXcelMeter) -> None:
        meter.fault = name

    return apply


async def no_fault(meter: FakeXcelMeter, identity: Identity) -> None:
    meter.fault = None


async def answers_again(meter: FakeXcelMeter, identity: Identity) -> None:
    meter.fault = None
    meter.slow_seconds = 0.0
    meter.wait_idle(5)  # a late answer still being sent has gone out


async def back_on_the_network(meter: FakeXcelMeter, identity: Identity) -> None:
    await meter.come_back()


async def approved_again(meter: FakeXcelMeter, identity: Identity) -> None:
    meter.register(identity.certificate_pem)


async def slow(meter: FakeXcelMeter) -> None:
    meter.fault, meter.slow_seconds = "slow", 1.0


async def counter_zero(meter: FakeXcelMeter) -> None:
    meter.extra_saved = meter.delivered_wh  # type: ignore[attr-defined]
    meter.delivered_wh = 0.0  # the summation reads 0 for a poll


async def counter_jump(meter: FakeXcelMeter) -> None:
    meter.extra_saved = meter.delivered_wh  # type: ignore[attr-defined]
    meter.delivered_wh += 5e9  # 5 GWh more in ten seconds


async def counter_back(meter: FakeXcelMeter, identity: Identity) -> None:
    meter.delivered_wh = meter.extra_saved  # type: ignore[attr-defined]


CASES = [
    Case("meter down", FakeXcelMeter.go_down, back_on_the_network, "meter"),
    Case("agent hangs", fault("hang"), no_fault, "meter", unanswered=True),
    Case("slow past the timeout", slow, answers_again, "meter", unanswered=True),
    Case("garbage, not HTTP", fault("garbage"), no_fault, "meter"),
    Case("answer over the size cap", fault("oversize"), no_fault, "meter"),
    Case("readings without values", fault("missing_values"), no_fault, "meter"),
    Case(
        "TLS refusal of our certificate",
        _other_identity,
        approved_again,
        "meter",
        issue="not_approved",
    ),
    Case("HTTP 403", fault("forbidden"), no_fault, "meter", issue="not_approved"),
    Case("idle close under a request", fault("drop_next"), no_fault, "nothing"),
    Case("counter reads 0", counter_zero, counter_back, "import"),
    Case("counter jumps", counter_jump, counter_back, "import"),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_fault_then_recovery_within_one_poll(
    hass: HomeAssistant,
    xcel: FakeXcelMeter,
    xcel_entry: MockConfigEntry,
    identity: Identity,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
    case: Case,
) -> None:
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, xcel)
    connections = xcel.connections

    await case.apply(xcel)
    requests, stalled = xcel.requests, xcel.stalled

    def unanswered() -> bool:
        """The meter has the poll's request (or connection) and will not answer it."""
        return (
            xcel.stalled > stalled
            or xcel.requests > requests
            or xcel.connections > connections
        )

    await next_poll(
        hass,
        freezer,
        POLL,
        unanswered=unanswered if case.unanswered else None,
        timeout=TIMEOUT,
    )
    assert not case.unanswered or unanswered()
    assert_no_wrong_value(hass, xcel)
    connectivity = hass.states.get(entity(xcel, "connectivity", "binary_sensor"))
    assert connectivity is not None
    if case.lost == "meter":
        assert connectivity.state == STATE_OFF
        for key in ("energy_import", "energy_export", "net_power", "power_factor"):
            assert number(hass, entity(xcel, key)) is None, key
    elif case.lost == "import":
        assert connectivity.state == STATE_ON
        assert number(hass, entity(xcel, "energy_import")) is None
        assert number(hass, entity(xcel, "net_power")) is not None
    else:
        assert_recovered(hass, xcel)
    issue_id = f"{case.issue}_{xcel_entry.entry_id}"
    if case.issue:
        assert issue_registry.async_get_issue(DOMAIN, issue_id)

    await case.clear(xcel, identity)
    await next_poll(hass, freezer, POLL)
    assert_recovered(hass, xcel)
    if case.issue:
        assert not issue_registry.async_get_issue(DOMAIN, issue_id)
    assert_clean_log(caplog)
