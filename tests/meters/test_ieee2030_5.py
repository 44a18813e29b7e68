"""IEEE 2030.5 identity and client against the fake Itron meter, over real TLS (CCM8)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import xml.etree.ElementTree as ET
from collections.abc import AsyncGenerator

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from custom_components.smart_meter_hub.meters import (
    MeterConnectionError,
    MeterIdentityError,
    MeterResponseError,
    ObisCode,
)
from custom_components.smart_meter_hub.meters.ieee2030_5 import (
    DELIVERED,
    DEMAND,
    INTERVAL_DELIVERED,
    INTERVAL_RECEIVED,
    MAX_DELIVERED,
    POWER_FACTOR,
    RECEIVED,
    TOU_DELIVERED,
    TOU_RECEIVED,
    Ieee2030Client,
    Ieee2030Meter,
    IntervalSource,
    MeterNotApprovedError,
    ReadingType,
    _href,
    _int,
    _text,
    classify,
)
from custom_components.smart_meter_hub.meters.sep2_identity import (
    Identity,
    IdentityError,
    client_ssl_context,
    generate_identity,
    grouped,
    load_identity,
    sfdi_of,
)
from meter_sim.xcel import CAPTURE_LFDI, FakeXcelMeter

NET = ObisCode.parse("1-0:16.7.0")
IMPORT_KWH = ObisCode.parse("1-0:1.8.0")
EXPORT_KWH = ObisCode.parse("1-0:2.8.0")
PF = ObisCode.parse("1-0:13.7.0")
TIER_1 = ObisCode.parse("1-0:1.8.1")


@pytest.fixture(scope="module")
def identity() -> Identity:
    return generate_identity()


@pytest.fixture
async def meter(
    socket_enabled: None, identity: Identity
) -> AsyncGenerator[FakeXcelMeter]:
    fake = FakeXcelMeter(idle_timeout=30)
    fake.register(identity.certificate_pem)
    await fake.start()
    yield fake
    await fake.stop()


def _client(
    meter: FakeXcelMeter, identity: Identity, **kwargs: object
) -> Ieee2030Client:
    return Ieee2030Client(
        "127.0.0.1", meter.port, client_ssl_context(identity), timeout=1.0, **kwargs
    )  # type: ignore[arg-type]


def test_sfdi_and_grouping_of_the_captured_meter() -> None:
    lfdi = "F289A6F0493D756E057A2B5B59538112697B5A15"
    assert sfdi_of(lfdi) == 651057190448
    assert grouped(lfdi) == "F289A-6F049-3D756-E057A-2B5B5-95381-12697-B5A15"


def test_generated_identity_has_the_profile(identity: Identity) -> None:
    certificate = x509.load_pem_x509_certificate(identity.certificate_pem.encode())
    assert certificate.subject.rfc4514_string() == "CN=MeterReaderHanClient"
    assert len(identity.lfdi) == 40
    assert str(identity.sfdi).startswith(str(int(identity.lfdi[:9], 16)))
    assert "PRIVATE KEY" not in repr(identity)
    # Imported again, the same LFDI: a saved identity never changes its registration.
    assert (
        load_identity(identity.certificate_pem, identity.key_pem).lfdi == identity.lfdi
    )


def _certificate(
    key, *, issuer: str = "MeterReaderHanClient", policy: bool = True, days: int = 1094
) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "MeterReaderHanClient")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=abs(days) + 1))
        .not_valid_after(
            now - datetime.timedelta(days=1)
            if days < 0
            else now + datetime.timedelta(days=days)
        )
    )
    if policy:
        builder = builder.add_extension(
            x509.CertificatePolicies(
                [
                    x509.PolicyInformation(
                        x509.ObjectIdentifier("1.3.6.1.4.1.40732.2.2"), None
                    )
                ]
            ),
            critical=True,
        )
    return (
        builder.sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
        .decode()
    )


def _key_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    "problem",
    [
        "invalid_pem",
        "wrong_curve",
        "not_self_signed",
        "missing_policy",
        "key_mismatch",
        "expired",
    ],
)
def test_each_unusable_certificate_is_named(problem: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate, key_pem = _certificate(key), _key_pem(key)
    if problem == "invalid_pem":
        certificate = "-----BEGIN CERTIFICATE-----\nnot a certificate\n"
    elif problem == "wrong_curve":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        certificate, key_pem = _certificate(other), _key_pem(other)
    elif problem == "not_self_signed":
        certificate = _certificate(key, issuer="Some CA")
    elif problem == "missing_policy":
        certificate = _certificate(key, policy=False)
    elif problem == "key_mismatch":
        key_pem = _key_pem(ec.generate_private_key(ec.SECP256R1()))
    else:
        certificate = _certificate(key, days=-1)
    with pytest.raises(IdentityError) as err:
        load_identity(certificate, key_pem)
    assert err.value.reason == problem


async def test_walk_once_then_three_gets_on_one_connection(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    profile = await client.discover()
    assert profile.lfdi == meter.lfdi
    assert profile.sfdi == meter.identity.sfdi
    assert profile.software == "3.2.50"
    assert {
        DEMAND,
        DELIVERED,
        RECEIVED,
        POWER_FACTOR,
        TOU_DELIVERED,
        TOU_RECEIVED,
        MAX_DELIVERED,
    } <= set(profile.readings)
    reader = Ieee2030Meter(client, profile)
    data = await reader.read()  # the first poll also reads the slow readings
    assert data.readings[PF].value == pytest.approx(0.918)
    assert data.readings[TIER_1].value == pytest.approx(5745.743)  # as captured
    requests, handshakes = meter.requests, meter.handshakes
    data = await reader.read()
    assert meter.requests - requests == 3
    assert meter.handshakes == handshakes == 1  # one connection, kept alive
    assert data.readings[NET].value == pytest.approx(2439, abs=200)
    assert data.readings[IMPORT_KWH].value == pytest.approx(42239.863, abs=1)
    assert data.readings[EXPORT_KWH].value == pytest.approx(8783.719, abs=1)
    assert data.readings[PF].value == pytest.approx(0.918)  # kept between slow reads
    assert data.serial == str(meter.identity.sfdi)
    await client.close()


async def test_unregistered_client_is_told_to_wait_for_approval(
    meter: FakeXcelMeter,
) -> None:
    stranger = generate_identity()
    client = _client(meter, stranger)
    with pytest.raises(MeterNotApprovedError):
        await client.discover()
    meter.register(stranger.certificate_pem)  # the utility approves the LFDI
    assert (await client.discover()).lfdi == meter.lfdi
    await client.close()


async def test_http_403_means_not_approved(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.fault = "forbidden"
    with pytest.raises(MeterNotApprovedError):
        await _client(meter, identity).get("/dcap")


async def test_transient_handshake_failure_is_retried_once(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.fault = "handshake_once"
    client = _client(meter, identity)
    assert (await client.get("/dcap")).tag.endswith("DeviceCapability")
    assert client.stats.handshakes == 2
    await client.close()


async def test_another_meter_at_the_address_is_refused(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity, pinned_lfdi="0" * 40)
    with pytest.raises(MeterIdentityError):
        await client.get("/dcap")


async def test_idle_connection_closed_by_the_meter_is_reopened_once(
    socket_enabled: None, identity: Identity
) -> None:
    fake = FakeXcelMeter(idle_timeout=0.2)
    fake.register(identity.certificate_pem)
    await fake.start()
    try:
        client = _client(fake, identity)
        await client.get("/dcap")
        # The meter drops the idle connection (after 0.2 s, however busy the machine).
        assert await asyncio.to_thread(fake.wait_idle, 5)
        assert (await client.get("/tm")).tag.endswith("Time")
        assert fake.handshakes == 2
        await client.close()
    finally:
        await fake.stop()


async def test_hung_agent_is_a_connection_error_not_a_wait_forever(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.fault = "hang"
    with pytest.raises(MeterConnectionError):
        await _client(meter, identity).get("/dcap")


async def test_missing_values_and_stale_readings_are_not_live(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    now = [0.0]
    reader = Ieee2030Meter(client, await client.discover(), clock=lambda: now[0])
    await reader.read()
    meter.fault = "missing_values"
    now[0] = 10.0
    with pytest.raises(MeterResponseError, match="no current value"):
        await reader.read()
    meter.fault = "frozen"  # timePeriod/start stops advancing
    now[0] = 20.0
    data = await reader.read()  # a new start, seen for the first time: live
    assert NET in data.readings
    now[0] = 20.0 + 299
    assert NET in (await reader.read()).readings
    # timePeriod/start has not advanced for 5 minutes: an old value, not a live one.
    now[0] = 20.0 + 301
    with pytest.raises(MeterResponseError, match="no current value"):
        await reader.read()
    meter.fault = None
    now[0] = 20.0 + 310
    assert NET in (await reader.read()).readings
    await client.close()


async def test_older_agent_profile(meter: FakeXcelMeter, identity: Identity) -> None:
    meter.older_agent = True
    client = _client(meter, identity)
    profile = await client.discover()
    # Summation and TOU share a ReadingType: told apart by description, never mixed up.
    assert profile.readings[DELIVERED] == "/upt/1/mr/3/r"
    assert profile.readings[TOU_DELIVERED].startswith("/upt/1/mr/9/rs")
    data = await Ieee2030Meter(client, profile).read()
    assert data.readings[IMPORT_KWH].value == pytest.approx(42239.863, abs=1)
    assert TIER_1 not in data.readings  # no <touTier>: no tier, no crash
    await client.close()


async def test_second_client_competes_for_the_one_connection(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    first = _client(meter, identity)
    await first.get("/dcap")
    with pytest.raises(MeterConnectionError):
        await _client(meter, identity).get("/dcap")
    assert meter.refused == 2  # tried twice (a failed handshake is retried once)
    await first.close()


async def test_connection_closed_under_a_request_is_retried_once_on_a_new_one(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    await client.get("/dcap")
    meter.fault = "drop_next"  # the meter drops the kept-alive connection
    assert (await client.get("/tm")).tag.endswith("Time")
    assert client.stats.handshakes == 2
    await client.close()


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (None, "HTTP 404"),
        ("this is not XML", "not XML"),
        ('<!DOCTYPE t [<!ENTITY a "aaaa">]><Time>&a;</Time>', "DTD"),
        ("x" * 1_000_001, "too large"),
    ],
)
async def test_bad_answers_are_rejected(
    meter: FakeXcelMeter, identity: Identity, body: str | None, error: str
) -> None:
    if body is None:
        meter.capture.pop("/tm")
    else:
        meter.capture["/tm"] = body
    client = _client(meter, identity)
    with pytest.raises(MeterResponseError, match=error):
        await client.get("/tm")
    await client.close()


async def test_a_meter_listing_no_energy_reading_is_refused(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.capture["/upt/1/mr?s=0&l=25"] = (
        '<MeterReadingList xmlns="urn:ieee:std:2030.5:ns" all="0" results="0"/>'
    )
    client = _client(meter, identity)
    with pytest.raises(MeterResponseError, match="no demand or energy"):
        await client.discover()
    await client.close()


@pytest.mark.parametrize(
    ("reading_type", "description", "role"),
    [
        (ReadingType(uom=38, accumulation=12, flow=1), "Instantaneous Demand", DEMAND),
        (ReadingType(uom=38, accumulation=3), "something", None),
        (
            ReadingType(uom=38, qualifier=8, flow=19),
            "Max Demand Received",
            "max_demand_received",
        ),
        (
            ReadingType(uom=72, accumulation=9, flow=1),
            "Current Summation Delivered",
            DELIVERED,
        ),
        (ReadingType(uom=72, accumulation=9, flow=19), "", RECEIVED),
        (ReadingType(uom=72, accumulation=9), "TOU WH Delivered", TOU_DELIVERED),
        (ReadingType(uom=72, accumulation=9), "net", None),
        (ReadingType(uom=72, accumulation=4, flow=1), "WH Delivered (Interval)", None),
        (ReadingType(uom=65, flow=0), "Power Factor", POWER_FACTOR),
        (ReadingType(uom=65, flow=0), "Power Factor PhaseA", None),
        (ReadingType(uom=71, accumulation=9, flow=1), "VAh Delivered", None),
    ],
)
def test_readings_are_classified_by_reading_type(
    reading_type: ReadingType, description: str, role: str | None
) -> None:
    assert classify(reading_type, description) == role


def test_reading_type_fields_that_are_absent_or_garbled_are_none() -> None:
    element = ET.fromstring(  # noqa: S314 - a literal written here
        '<ReadingType xmlns="urn:ieee:std:2030.5:ns"><uom>x</uom><kind></kind>'
        "<powerOfTenMultiplier>-3</powerOfTenMultiplier></ReadingType>"
    )
    assert ReadingType.parse(element) == ReadingType(multiplier=-3)


def test_an_identity_in_use_stays_usable_after_its_certificate_expires() -> None:
    identity = generate_identity()
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=2000)
    with pytest.raises(IdentityError, match="expired"):
        load_identity(identity.certificate_pem, identity.key_pem, later)
    kept = load_identity(
        identity.certificate_pem, identity.key_pem, later, check_validity=False
    )
    assert kept.lfdi == identity.lfdi


# The transport on aiohttp: sessions resumed, connections it cannot trust closed.


async def test_reconnects_resume_the_tls_session(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity, pinned_lfdi=meter.lfdi)
    await client.get("/dcap")
    for _ in range(3):
        await client.close()  # released after a poll: the next one reconnects
        assert (await client.get("/tm")).tag.endswith("Time")
    assert (meter.full_handshakes, meter.resumed_handshakes) == (1, 3)
    assert (client.stats.connections, client.stats.resumed) == (4, 3)
    assert client.peer_lfdi == meter.lfdi  # pinned on resumed sessions too
    await client.close()


async def test_a_meter_that_forgets_sessions_gets_full_handshakes(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    await client.get("/dcap")
    await client.close()
    meter.register(identity.certificate_pem)  # a new server context: no session cache
    await client.get("/dcap")
    assert (meter.full_handshakes, meter.resumed_handshakes) == (2, 0)
    await client.close()


@pytest.mark.parametrize("chunked", [False, True])
async def test_an_oversize_answer_leaves_no_body_on_the_connection(
    meter: FakeXcelMeter, identity: Identity, chunked: bool
) -> None:
    meter.chunked = chunked  # with a length, or chunked (no length to refuse early)
    client = _client(meter, identity)
    reader = Ieee2030Meter(client, await client.discover())
    await reader.read()
    meter.fault = "oversize"
    with pytest.raises(MeterResponseError, match=r"too large|over"):
        await reader.read()
    meter.fault = None
    data = await reader.read()  # the next poll reads, on a new connection
    assert data.readings[IMPORT_KWH].value == pytest.approx(42239.863, abs=1)
    assert client.stats.connections == 2
    await client.close()


async def test_garbage_instead_of_http_is_a_response_error(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    await client.get("/dcap")
    meter.fault = "garbage"
    with pytest.raises(MeterResponseError, match="not an HTTP answer"):
        await client.get("/tm")
    meter.fault = None
    assert (await client.get("/tm")).tag.endswith("Time")
    await client.close()


async def test_an_answer_slower_than_the_timeout_is_a_connection_error(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    client.timeout = 0.3
    await client.get("/dcap")
    meter.fault, meter.slow_seconds = "slow", 0.6
    with pytest.raises(MeterConnectionError, match="did not answer"):
        await client.get("/tm")
    meter.fault = None
    # The meter finishes its late answer to nobody, and frees its one connection.
    assert await asyncio.to_thread(meter.wait_idle, 5)
    assert (await client.get("/tm")).tag.endswith("Time")
    await client.close()


async def test_nothing_listening_is_a_connection_error(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    await meter.go_down()
    client = _client(meter, identity)
    with pytest.raises(MeterConnectionError, match="nothing answers"):
        await client.get("/dcap")
    assert client.stats.handshakes == 0  # refused: no handshake was tried
    await meter.come_back()
    assert (await client.get("/dcap")).tag.endswith("DeviceCapability")
    await client.close()


async def test_a_shut_client_never_reconnects(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    await client.get("/dcap")
    await client.shutdown()
    with pytest.raises(MeterConnectionError, match="shut down"):
        await client.get("/dcap")
    assert meter.connections == 1


@pytest.mark.parametrize(
    ("value", "multiplier"),
    [
        ("9" * 300, "0"),  # several hundred digits
        ("12", "400"),  # 10^400 overflows a float
        ("12", "-400"),
        ("1e3", "0"),
        ("99999999999", "9"),  # 10^20 W: no meter measures that
    ],
)
async def test_absurd_numbers_give_no_value(
    meter: FakeXcelMeter, identity: Identity, value: str, multiplier: str
) -> None:
    meter.capture["/rt/1"] = meter.capture["/rt/1"].replace(
        "<powerOfTenMultiplier>0</powerOfTenMultiplier>",
        f"<powerOfTenMultiplier>{multiplier}</powerOfTenMultiplier>",
    )
    meter.capture["/absurd"] = (
        f'<Reading xmlns="urn:ieee:std:2030.5:ns"><value>{value}</value></Reading>'
    )
    client = _client(meter, identity)
    reader = Ieee2030Meter(client, await client.discover())
    reader.profile.readings = {DEMAND: "/absurd"}
    with pytest.raises(MeterResponseError, match="no current value"):
        await reader.read()
    await client.close()


async def test_deeply_nested_xml_is_refused(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.capture["/tm"] = "<a>" * 5000 + "</a>" * 5000
    client = _client(meter, identity)
    with pytest.raises(MeterResponseError, match="nested deeper"):
        await client.get("/tm")
    await client.close()


# Interval data: the 15-minute history, read on demand.


def _frozen_meter(identity: Identity, now: list[float]) -> FakeXcelMeter:
    fake = FakeXcelMeter(idle_timeout=30, clock=lambda: now[0])
    fake.register(identity.certificate_pem)
    return fake


async def test_interval_data_agrees_with_the_counters(
    socket_enabled: None, identity: Identity
) -> None:
    now = [1_800_000_000.0]
    fake = _frozen_meter(identity, now)
    await fake.start()
    try:
        client = _client(fake, identity)
        reader = Ieee2030Meter(client, await client.discover())
        before = (await reader.read()).readings[IMPORT_KWH].value
        now[0] += 5 * 3600
        after = (await reader.read()).readings[IMPORT_KWH].value
        assert isinstance(before, float)
        assert isinstance(after, float)
        start = 1_800_000_000 // 900 * 900 + 900
        until = int(now[0] // 900 * 900)
        series = await reader.intervals(INTERVAL_DELIVERED, start, until, now[0])
        assert series is not None
        assert not series.problems
        assert len(series.slots) == (until - start) // 900
        assert all(wh == fake.interval_wh(slot) for slot, wh in series.slots.items())
        # What the intervals add up to is what the counter counted (to the Wh).
        counted = (after - before) * 1000
        partial = counted - sum(series.slots.values())
        assert 0 <= partial <= 2 * 900 * fake.demand_w * 1.1 / 3600 + 2
        received = await reader.intervals(INTERVAL_RECEIVED, start, until, now[0])
        assert received is not None
        assert set(received.slots.values()) == {0}
        await client.close()
    finally:
        await fake.stop()


async def test_interval_data_the_meter_spoils_is_left_out_and_named(
    socket_enabled: None, identity: Identity
) -> None:
    now = [1_800_000_000.0]
    fake = _frozen_meter(identity, now)
    await fake.start()
    try:
        client = _client(fake, identity)
        reader = Ieee2030Meter(client, await client.discover())
        hour = int(now[0] // 3600 * 3600) - 3600
        faults = ["missing", "negative", "absurd", "duplicate", "empty"]
        fake.interval_faults = {
            hour - 3 * 3600 + n * 900: fault for n, fault in enumerate(faults)
        }
        fake.future_interval = True
        series = await reader.intervals(
            INTERVAL_DELIVERED, hour - 4 * 3600, now[0], now[0]
        )
        assert series is not None
        for slot in fake.interval_faults:
            assert slot not in series.slots
        assert hour in series.slots
        assert series.problems == {
            "an interval without a value",
            "an interval in the future",
            "a negative or impossible interval value",
            "an interval listed twice with other values",
        }
        await client.close()
    finally:
        await fake.stop()


async def test_agents_without_interval_data(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.intervals = False  # the meter lists no interval ReadingSets at all
    client = _client(meter, identity)
    reader = Ieee2030Meter(client, await client.discover())
    assert await reader.intervals(INTERVAL_DELIVERED, 0, 1e10, 1e10) is None
    await client.close()
    meter.intervals, meter.older_agent = True, True  # listed, but the list is gone
    reader = Ieee2030Meter(client, await client.discover())
    with pytest.raises(MeterResponseError, match="HTTP 404"):
        await reader.intervals(INTERVAL_DELIVERED, 0, 1e10, 1e10)
    await client.close()


async def test_a_meter_that_drops_every_request_is_a_connection_error(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    await client.get("/dcap")
    meter.fault = "drop"  # even the retry on a new connection gets no answer
    with pytest.raises(MeterConnectionError, match="closed the connection"):
        await client.get("/tm")
    await client.close()


async def test_a_shutdown_during_a_request_keeps_no_connection(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    client = _client(meter, identity)
    meter.fault, meter.slow_seconds = "slow", 0.3
    request = asyncio.create_task(client.get("/tm"))
    async with asyncio.timeout(5):
        while not meter.requests:  # the meter has the request, and answers late
            await asyncio.sleep(0.01)
    await client.shutdown()
    with contextlib.suppress(MeterConnectionError):
        await request
    # The meter's one connection is free again for the next client.
    assert await asyncio.to_thread(meter.wait_idle, 5)


async def test_an_lfdi_that_is_not_the_certificates_is_refused(
    meter: FakeXcelMeter, identity: Identity
) -> None:
    meter.capture["/sdev/sdi"] = meter.capture["/sdev/sdi"].replace(
        CAPTURE_LFDI, "0" * 40
    )
    client = _client(meter, identity)
    with pytest.raises(MeterResponseError, match="does not match its TLS"):
        await client.discover()
    await client.close()


async def test_intervals_outside_the_window_and_odd_lengths(
    socket_enabled: None, identity: Identity
) -> None:
    now = [1_800_000_000.0]
    fake = _frozen_meter(identity, now)
    await fake.start()
    try:
        client = _client(fake, identity)
        reader = Ieee2030Meter(client, await client.discover())
        newest = int(now[0] // 43200 * 43200)  # the set in progress starts here
        series = await reader.intervals(
            INTERVAL_DELIVERED, newest - 7200, newest - 3600, now[0]
        )
        assert series is not None
        assert len(series.slots) == 4  # one hour, from an older set only
        reader.profile.intervals[INTERVAL_DELIVERED] = IntervalSource("/x", 7, 0)
        series = await reader.intervals(INTERVAL_DELIVERED, 0, now[0], now[0])
        assert series is not None
        assert series.problems == {"an interval length of 7 s"}
        await client.close()
    finally:
        await fake.stop()


def test_absent_elements_read_as_nothing() -> None:
    assert _int(None, "value") is None
    assert _text(None, "lFDI") is None
    assert _href(None, "ReadingLink") is None
