"""Whatever bytes a meter sends, IEEE 2030.5 parsing ends in readings or a typed error.

Property-based (hypothesis): any body given to the XML parser, to a poll's Reading
parsing, to the walk of the resource tree and to the interval data's parsing gives
readings (every number finite, within physical bounds) or a ``MeterError``, within a
bounded time, never another exception. The client's transport is replaced by answers
made of those bytes, so every example runs without I/O.
"""

from __future__ import annotations

import math
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.smart_meter_hub.meters import MeterError, MeterResponseError
from custom_components.smart_meter_hub.meters.ieee2030_5 import (
    DELIVERED,
    DEMAND,
    INTERVAL_DELIVERED,
    MAX_BODY,
    MAX_POWER_W,
    POWER_FACTOR,
    RECEIVED,
    TOU_DELIVERED,
    Ieee2030Client,
    Ieee2030Meter,
    IntervalSource,
    MeterProfile,
    ReadingType,
    parse_xml,
)
from custom_components.smart_meter_hub.meters.sep2_identity import MeterTlsContext
from tests.meters.bounds import cpu_spent

NS = "urn:ieee:std:2030.5:ns"
FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def run[T](coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never waits for I/O (the answers are in memory)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise AssertionError("the coroutine waited for I/O")


class Answers(Ieee2030Client):
    """A client whose GETs answer from memory, parsed as the real client parses."""

    def __init__(self, answer: Callable[[str], bytes]) -> None:
        super().__init__("192.0.2.1", 8081, MeterTlsContext(ssl.PROTOCOL_TLS_CLIENT))
        self.answer = answer

    async def get(self, path: str) -> ET.Element:
        return parse_xml(self.answer(path), path)


def _finite(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def outcome(check: Callable[[], Awaitable[Any]] | Callable[[], Any]) -> Any:
    """The result, or None for a MeterError; any other exception fails the test."""
    try:
        result = check()
        if isinstance(result, Coroutine):
            return run(result)
        return result
    except MeterError:
        return None


# Text of the kinds a meter's answer is made of, and garbage around them.
NUMBERS = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.integers(min_value=-(10**6), max_value=10**6).map(str),
    st.integers(min_value=1_799_900_000, max_value=1_800_000_000).map(str),
    st.integers(min_value=0, max_value=255).map(lambda n: f"{n:02X}"),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " ", "0x1F", "1_000", "١٢٣", "-0", "+5", "9" * 4400, "NaN"]),
    st.text(max_size=30),
)
TAGS = st.sampled_from(
    ["Reading", "value", "timePeriod", "start", "duration", "touTier", "localID",
     "ReadingSet", "ReadingListLink", "MeterReading", "ReadingType", "uom",
     "powerOfTenMultiplier", "intervalLength", "x"]
)  # fmt: skip


@st.composite
def xml_documents(draw: st.DrawFn) -> bytes:
    """Nearly-XML: elements of the standard's names, numbers, DTDs and entities."""
    depth = draw(st.integers(min_value=0, max_value=40))
    opened = [draw(TAGS) for _ in range(depth)]
    inner = "".join(
        f'<{tag} href="{draw(st.text(max_size=5))}">{draw(NUMBERS)}</{tag}>'
        for tag in draw(st.lists(TAGS, max_size=6))
    )
    prefix = draw(
        st.sampled_from(
            [
                "",
                '<?xml version="1.0"?>',
                '<?xml version="1.0" encoding="utf-16"?>',
                '<?xml version="1.0" encoding="no-such-codec"?>',
                '<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">]>',
                '<!DOCTYPE r SYSTEM "http://192.0.2.1/x.dtd">',
                "\ufeff",
            ]
        )
    )
    body = (
        prefix
        + "".join(f'<{tag} xmlns="{NS}">' for tag in opened)
        + inner
        + draw(st.sampled_from(["", "&a;", "&#0;", "&lt;", "]]>", "<![CDATA[x]]>"]))
        + "".join(f"</{tag}>" for tag in reversed(opened))
    )
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1"]))
    return body.encode(encoding, errors="replace")


ANY_BODY = st.one_of(st.binary(max_size=4000), xml_documents())


@FUZZ
@given(ANY_BODY)
def test_any_body_parses_to_an_element_or_a_response_error(body: bytes) -> None:
    try:
        element = parse_xml(body)
    except MeterResponseError:
        return
    assert isinstance(element, ET.Element)
    ReadingType.parse(element)  # every field absent or garbled is None, never a crash


def reading(value: str, start: str, tier: str = "1") -> bytes:
    return (
        f'<Reading xmlns="{NS}"><timePeriod><start>{start}</start></timePeriod>'
        f"<value>{value}</value><touTier>{tier}</touTier></Reading>"
    ).encode()


def profile(multiplier: int | None = 0) -> MeterProfile:
    roles = {
        DEMAND: "/d",
        DELIVERED: "/e",
        RECEIVED: "/r",
        POWER_FACTOR: "/pf",
        TOU_DELIVERED: "/tou",
    }
    return MeterProfile(
        lfdi="0" * 40,
        sfdi=1,
        software=None,
        manufacturer_id=None,
        readings=roles,
        multipliers=dict.fromkeys(roles, multiplier),
        intervals={INTERVAL_DELIVERED: IntervalSource("/rs", 900, multiplier)},
    )


def assert_readings_are_sane(meter: Ieee2030Meter) -> None:
    data = outcome(meter.read)
    if data is None:
        return
    for code, found in data.readings.items():
        assert _finite(found.value), (code, found)
        if isinstance(found.value, float) and found.unit == "W":
            assert abs(found.value) <= MAX_POWER_W


@FUZZ
@given(st.dictionaries(st.sampled_from(["/d", "/e", "/r", "/pf", "/tou"]), ANY_BODY))
def test_any_answer_to_a_poll_gives_sane_readings_or_a_meter_error(
    bodies: dict[str, bytes],
) -> None:
    meter = Ieee2030Meter(Answers(lambda path: bodies.get(path, b"")), profile())
    assert_readings_are_sane(meter)


@FUZZ
@given(
    NUMBERS,
    NUMBERS,
    NUMBERS,
    st.one_of(st.none(), st.integers(min_value=-9, max_value=9)),
)
def test_any_numbers_in_a_reading_give_sane_readings_or_a_meter_error(
    value: str, start: str, tier: str, multiplier: int | None
) -> None:
    body = reading(value, start, tier)
    meter = Ieee2030Meter(Answers(lambda _path: body), profile(multiplier))
    assert_readings_are_sane(meter)
    assert_readings_are_sane(meter)  # a second poll compares timestamps


@FUZZ
@given(st.lists(ANY_BODY, min_size=1, max_size=8))
def test_any_resource_tree_gives_a_profile_or_a_meter_error(
    bodies: list[bytes],
) -> None:
    answers = iter(bodies * 20)
    client = Answers(lambda _path: next(answers, b""))
    found = outcome(client.discover)
    if found is not None:
        assert isinstance(found, MeterProfile)


def interval_list(
    sets: list[tuple[str, str]], readings: list[tuple[str, str]]
) -> bytes:
    items = "".join(
        f'<ReadingSet href="/rs/{n}"><timePeriod><duration>{duration}</duration>'
        f'<start>{start}</start></timePeriod><ReadingListLink href="/rs/{n}/r"/>'
        "</ReadingSet>"
        for n, (start, duration) in enumerate(sets)
    )
    rows = "".join(
        f"<Reading><value>{value}</value><localID>{local}</localID></Reading>"
        for local, value in readings
    )
    return f'<List xmlns="{NS}" all="{len(sets)}">{items}{rows}</List>'.encode()


@FUZZ
@given(
    st.lists(st.tuples(NUMBERS, NUMBERS), max_size=4),
    st.lists(st.tuples(NUMBERS, NUMBERS), max_size=12),
    st.one_of(st.none(), st.integers(min_value=-9, max_value=9)),
    st.one_of(st.just(b""), ANY_BODY),
)
def test_any_interval_data_gives_bounded_intervals_or_a_meter_error(
    sets: list[tuple[str, str]],
    readings: list[tuple[str, str]],
    multiplier: int | None,
    noise: bytes,
) -> None:
    body = interval_list(sets, readings)
    calls = iter([body, body, noise] * 40)
    meter = Ieee2030Meter(Answers(lambda _path: next(calls, body)), profile(multiplier))
    now = 1_800_000_000.0
    series = outcome(lambda: meter.intervals(INTERVAL_DELIVERED, 0, now, now))
    if series is None:
        return
    for slot, wh in series.slots.items():
        assert math.isfinite(wh)
        assert 0 <= wh <= MAX_POWER_W * 900 / 3600
        assert slot + 900 <= now


@pytest.mark.parametrize(
    "body",
    [
        b"<a>" * (MAX_BODY // 7) + b"</a>" * (MAX_BODY // 7),  # deep
        b'<r xmlns="' + NS.encode() + b'">' + b"<x/>" * (MAX_BODY // 4 - 20) + b"</r>",
        b"<r>" + b"9" * (MAX_BODY - 10) + b"</r>",  # one huge number
        b"<r>" + b"&#x41;" * (MAX_BODY // 6 - 2) + b"</r>",
    ],
)
def test_the_largest_answers_parse_in_bounded_time(body: bytes) -> None:
    assert len(body) <= MAX_BODY
    with cpu_spent() as spent:
        outcome(lambda: parse_xml(body))
    assert spent.seconds < 2.0
