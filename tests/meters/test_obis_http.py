"""The OBIS HTTP client against the simulated meter, over real loopback sockets."""

from __future__ import annotations

import asyncio
import gzip
import socket
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable

import pytest
from aiohttp import web

from custom_components.smart_meter_hub.meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterRefusedError,
    MeterResponseError,
    MeterServerError,
    NoAnswerError,
    ObisCode,
    Reading,
    obis as codes,
)
from custom_components.smart_meter_hub.meters.obis_http import (
    MAX_BODY,
    LogOnce,
    ObisHttpClient,
    decode_body,
    parse_body,
    parse_response,
)
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter
from tests.meters.bounds import cpu_spent

type ClientFactory = Callable[..., ObisHttpClient]

ALL = codes.DEFAULT_CODES


@pytest.fixture
async def start(
    socket_enabled: None,
) -> AsyncGenerator[Callable[..., object]]:
    servers: list[ObisMeterServer] = []

    async def _start(
        **meter_kwargs: object,
    ) -> tuple[SimulatedObisMeter, ObisHttpClient]:
        meter = SimulatedObisMeter(serial="SIM-1", **meter_kwargs)  # type: ignore[arg-type]
        server = ObisMeterServer([meter])
        await server.start()
        servers.append(server)
        token = meter_kwargs.get("token")
        client = ObisHttpClient(
            "127.0.0.1",
            server.ports[0],
            token=token if isinstance(token, str) else None,
        )
        return meter, client

    yield _start
    for server in servers:
        await server.stop()


@pytest.mark.parametrize("response_format", ["wrapped", "bare", "flat"])
@pytest.mark.parametrize("code_style", ["dotted", "star", "short", "edis", "hex"])
async def test_every_format_and_code_style_gives_the_same_readings(
    start, response_format: str, code_style: str
) -> None:
    meter, client = await start(response_format=response_format, code_style=code_style)
    data = await client.read()
    assert data.serial == "SIM-1"
    energy = data.readings[codes.ENERGY_IMPORT]
    assert energy.unit == "kWh"
    assert energy.value == pytest.approx(meter.import_kwh, abs=1e-3)
    power = data.readings[codes.POWER_IMPORT]
    assert power.unit == "W"
    assert power.value == pytest.approx(meter.net_power_w(), abs=1)
    voltage = data.readings[codes.VOLTAGE_L1].value
    assert isinstance(voltage, float)
    assert 225 < voltage < 235
    assert data.readings[codes.FREQUENCY].value == pytest.approx(50, abs=0.1)


async def test_meter_units_win_wh_and_kw_are_converted(start) -> None:
    # The simulator sends Wh with scaler 1 (tens of Wh) and power in kW.
    meter, client = await start(energy_unit="Wh", power_unit="kW")
    data = await client.read()
    assert data.readings[codes.ENERGY_IMPORT].unit == "kWh"
    assert data.readings[codes.ENERGY_IMPORT].value == pytest.approx(
        meter.import_kwh, abs=0.01
    )
    assert data.readings[codes.POWER_IMPORT].unit == "W"
    assert data.readings[codes.POWER_IMPORT].value == pytest.approx(
        meter.net_power_w(), abs=1
    )


async def test_numeric_strings_are_scaled(start) -> None:
    meter, client = await start(numeric_strings=True)
    data = await client.read()
    assert data.readings[codes.ENERGY_IMPORT].value == pytest.approx(
        meter.import_kwh, abs=1e-3
    )
    assert data.readings[codes.POWER_FACTOR].value == pytest.approx(0.95, abs=0.01)


async def test_codes_the_meter_does_not_know_are_absent(start) -> None:
    meter, client = await start()
    meter.missing = {"1-0:2.8.0", "1-0:52.7.0"}
    data = await client.read()
    assert codes.ENERGY_EXPORT not in data.readings
    assert codes.VOLTAGE_L2 not in data.readings
    assert codes.VOLTAGE_L1 in data.readings


async def test_bad_quality_is_not_a_value(start) -> None:
    meter, client = await start()
    meter.set_fault("quality_bad")
    data = await client.read()
    assert data.readings[codes.ENERGY_IMPORT].value is None
    assert data.readings[codes.POWER_IMPORT].value is None


async def test_token_is_sent(start) -> None:
    _meter, client = await start(token="s3cret")
    assert (await client.read_codes([codes.SERIAL])).serial == "SIM-1"


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("unauthorized", MeterAuthError),
        ("forbidden", MeterAuthError),
        ("http500", MeterServerError),
        ("invalid_json", MeterResponseError),
        ("empty", MeterResponseError),
    ],
)
async def test_faults_raise_typed_errors(
    start, fault: str, error: type[Exception]
) -> None:
    meter, client = await start()
    meter.set_fault(fault, count=1)
    with pytest.raises(error):
        await client.read()
    assert (await client.read()).serial == "SIM-1"


async def test_wrong_path_is_an_invalid_response(socket_enabled: None) -> None:
    server = ObisMeterServer([SimulatedObisMeter(serial="X")])
    await server.start()
    other = ObisHttpClient("127.0.0.1", server.ports[0], path="nope")
    try:
        with pytest.raises(MeterResponseError):
            await other.read()
    finally:
        await server.stop()


async def test_a_meter_too_slow_to_answer_is_no_answer(start) -> None:
    meter, client = await start(slow_seconds=2)
    meter.set_fault("timeout", count=1)
    client.timeout = 0.2
    with pytest.raises(NoAnswerError, match=r"no answer within 0\.2 s"):
        await client.read()


async def test_an_http_5xx_is_the_meters_own_error_not_a_connection_error(
    start,
) -> None:
    """The meter answered: it is there, and failed (not "cannot reach")."""
    meter, client = await start()
    meter.set_fault("http500", count=1)
    with pytest.raises(MeterServerError, match="HTTP 500") as caught:
        await client.read()
    assert not isinstance(caught.value, MeterConnectionError)


async def _tcp_server(handle) -> tuple[asyncio.Server, int]:
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_a_server_that_takes_the_request_and_never_answers_is_no_answer(
    socket_enabled: None,
) -> None:
    """Another protocol's server (a Modbus port) takes the connection and the request
    and waits: no answer in time, told from "nothing accepts connections"."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(1024)

    server, port = await _tcp_server(hold)
    client = ObisHttpClient("127.0.0.1", port, timeout=0.5)
    try:
        started = time.monotonic()
        with pytest.raises(NoAnswerError, match=r"no answer within 0\.5 s"):
            await client.read()
        assert time.monotonic() - started < 2
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_hangs_up_on_the_request_is_no_answer(
    socket_enabled: None,
) -> None:
    async def hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(10)
        writer.close()

    server, port = await _tcp_server(hang_up)
    try:
        with pytest.raises(NoAnswerError):
            await ObisHttpClient("127.0.0.1", port, timeout=2).read()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_server_that_answers_not_in_http_is_an_invalid_response(
    socket_enabled: None,
) -> None:
    async def modbus_exception(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(10)
        writer.write(b"\x50\x4f\x00\x00\x00\x03\x01\x83\x02")  # no HTTP
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server, port = await _tcp_server(modbus_exception)
    try:
        with pytest.raises(MeterResponseError, match="not an HTTP answer"):
            await ObisHttpClient("127.0.0.1", port, timeout=2).read()
    finally:
        server.close()
        await server.wait_closed()


async def test_refused_connection_is_a_connection_error(socket_enabled: None) -> None:
    server = ObisMeterServer([SimulatedObisMeter(serial="X")])
    await server.start()
    port = server.ports[0]
    await server.stop()
    with pytest.raises(MeterConnectionError) as caught:
        await ObisHttpClient("127.0.0.1", port).read()
    assert not isinstance(caught.value, NoAnswerError)


async def test_a_token_with_a_line_break_is_refused_before_anything_is_sent(
    socket_enabled: None,
) -> None:
    # Sent as it is, it would add a header of its own to the request.
    asked: list[bytes] = []

    async def record(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        asked.append(await reader.read(1024))
        writer.close()

    server, port = await _tcp_server(record)
    client = ObisHttpClient("127.0.0.1", port, token="secret\r\nX-Admin: 1")
    try:
        with pytest.raises(MeterAuthError, match="characters no request can carry"):
            await client.read()
        with pytest.raises(MeterAuthError):
            await client.write(codes.ENERGY_IMPORT, 1)
    finally:
        server.close()
        await server.wait_closed()
    assert asked == []


@pytest.mark.parametrize("host", ["meter\r\nX-Admin: 1", "\x00", "zähler..local"])
async def test_a_host_that_is_no_name_is_no_connection(host: str) -> None:
    # Not a token problem (the form would ask for a new token), and nothing is sent
    # or looked up.
    client = ObisHttpClient(host, 80)
    for _ in range(2):  # the same answer every time
        with pytest.raises(MeterConnectionError) as caught:
            await client.read()
        assert not isinstance(caught.value, NoAnswerError)


def test_the_serial_number_is_always_asked_for() -> None:
    client = ObisHttpClient("127.0.0.1", codes=(codes.ENERGY_IMPORT,))
    assert client.codes == (codes.ENERGY_IMPORT, codes.SERIAL)


async def test_write_is_accepted_and_read_back(start) -> None:
    meter, client = await start()
    await client.write(ObisCode.parse("1-0:0.8.0"), 900)
    assert meter.written == {"1-0:0.8.0": 900}
    data = await client.read_codes([ObisCode.parse("1-0:0.8.0")])
    assert data.readings[ObisCode.parse("1-0:0.8.0")].value == 900.0


async def test_write_refused_by_the_meter(start) -> None:
    _meter, client = await start()
    with pytest.raises(MeterRefusedError, match="read-only"):
        await client.write(codes.ENERGY_IMPORT, 0)


def test_parse_dlms_unit_numbers_and_scaler_zero() -> None:
    readings = parse_response(
        [
            {"obisCode": "1-0:1.8.0.255", "value": 1234567, "unit": 30, "scaler": 0},
            {"obisCode": "1-0:1.7.0.255", "value": 2, "unit": 27, "scaler": 3},
            {"obisCode": "1-0:13.7.0.255", "value": 0, "unit": 255, "scaler": 0},
            {"obisCode": "1-0:31.7.0.255", "value": 1, "unit": "A", "scaler": 0},
            {"obisCode": "1-0:99.99.0", "value": 7, "unit": "°C"},
            {"obisCode": "not-a-code", "value": 1},
        ]
    )
    assert readings[codes.ENERGY_IMPORT].value == pytest.approx(1234.567)
    assert readings[codes.ENERGY_IMPORT].unit == "kWh"
    assert readings[codes.POWER_IMPORT].value == 2000.0
    assert readings[codes.POWER_IMPORT].unit == "W"
    assert readings[codes.POWER_FACTOR].value == 0.0
    # scaler 0 is a scaler, not "missing": 1 A stays 1 A.
    assert readings[codes.CURRENT_L1].value == 1.0
    assert readings[ObisCode.parse("1-0:99.99.0")].unit == "°C"
    assert len(readings) == 5


@pytest.mark.parametrize("value", [None, "abc", True, [1], "nan", float("inf")])
def test_unusable_values_are_not_values(value: object) -> None:
    readings = parse_response(
        [{"obisCode": "1-0:1.8.0", "value": value, "unit": "kWh"}]
    )
    assert readings[codes.ENERGY_IMPORT].value is None


@pytest.mark.parametrize("payload", ["text", 5, {"readings": []}, [], {}])
def test_payloads_without_readings_are_refused(payload: object) -> None:
    with pytest.raises(MeterResponseError):
        parse_response(payload)


def test_absolute_energy_is_its_own_quantity() -> None:
    readings = parse_response({"1-0:15.8.0": 300.0, "1-0:1.8.0": 200.0})
    assert readings[codes.ENERGY_ABSOLUTE].value == 300.0
    assert readings[codes.ENERGY_IMPORT].value == 200.0


# Hostile answers: bounded before any work is done on them (issue #12).


def test_a_huge_scaler_is_no_value_and_costs_no_time() -> None:
    # It used to compute 10 ** 10_000_000: seconds of a blocked event loop.
    with cpu_spent() as spent:
        readings = parse_response(
            [
                {
                    "obisCode": "1-0:1.8.0",
                    "value": 5,
                    "unit": "kWh",
                    "scaler": 10_000_000,
                },
                {
                    "obisCode": "1-0:2.8.0",
                    "value": 5,
                    "unit": "kWh",
                    "scaler": -(10**9),
                },
                {"obisCode": "1-0:15.8.0", "value": 5, "unit": "kWh", "scaler": 1.5},
                {"obisCode": "1-0:1.7.0", "value": 5, "unit": "W", "scaler": "20"},
            ]
        )
    assert spent.seconds < 0.5
    assert readings[codes.ENERGY_IMPORT].value is None
    assert readings[codes.ENERGY_EXPORT].value is None
    assert readings[codes.ENERGY_ABSOLUTE].value is None
    assert readings[codes.POWER_IMPORT].value is None  # 5e20 W: no meter measures it


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than orjson goes
        b'{"readings": ' + b"[" * 30 + b"]" * 30 + b"}",  # deeper than we accept
        b'{"1-0:1.8.0": "\xff\xfe"}',  # not UTF-8
        b'{"1-0:1.8.0": 1' + b"0" * 400 + b"}",  # beyond the float range
        b'{"1-0:1.8.0": NaN}',
        b'{"1-0:1.8.0": -Infinity}',
        b'{"1-0:1.8.0": 1e999}',
        b'{"readings": [{"obisCode": "1-0:1.8.0", "value": 1}',  # truncated
        b"<html><body>router login</body></html>",
        b"x" * (MAX_BODY + 1),
    ],
)
def test_hostile_bodies_are_invalid_responses(body: bytes) -> None:
    with cpu_spent() as spent, pytest.raises(MeterResponseError):
        parse_body(body)
    assert spent.seconds < 1


def test_utf8_bom_and_an_empty_body() -> None:
    readings = parse_body(b'\xef\xbb\xbf{"1-0:1.8.0": 1.5}')
    assert readings[codes.ENERGY_IMPORT] == Reading(1.5, "kWh")
    assert decode_body(b"  \n") is None


def test_too_many_items_are_refused() -> None:
    with pytest.raises(MeterResponseError, match="items"):
        parse_response({f"1-0:1.8.{n % 256}*{n // 256}": 1 for n in range(2000)})


@pytest.mark.parametrize(
    ("unit", "value", "expected"),
    [
        ("GWh", 2, 2e6),
        ("MWh", 2, 2000.0),
        ("Wh", 2000, 2.0),
        ("furlong", 2, None),
        ("V", 2, None),  # a unit of another quantity
        (["kWh"], 2, None),
        (True, 2, None),
    ],
)
def test_an_energy_counter_is_converted_or_not_published(
    unit: object, value: int, expected: float | None, caplog: pytest.LogCaptureFixture
) -> None:
    item = {"obisCode": "1-0:1.8.0", "value": value, "unit": unit}
    log = LogOnce("test meter")
    for _ in range(3):
        reading = parse_response([item], log)[codes.ENERGY_IMPORT]
        assert reading.unit == "kWh"  # never the number under the unit it was sent in
        assert reading.value == expected
    warnings = [r for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == (0 if expected is not None else 1)  # once, not per poll


def test_power_in_gw_and_an_unknown_power_unit() -> None:
    readings = parse_response(
        [
            {"obisCode": "1-0:1.7.0", "value": 1, "unit": "GW", "scaler": -6},
            {"obisCode": "1-0:2.7.0", "value": 1, "unit": "horsepower"},
        ]
    )
    assert readings[codes.POWER_IMPORT] == Reading(1000.0, "W")
    assert readings[codes.POWER_EXPORT] == Reading(None, "W")


def test_a_quantity_without_a_description_keeps_the_unit_it_was_sent_in() -> None:
    code = ObisCode.parse("1-0:99.97.0")
    readings = parse_response(
        [{"obisCode": "1-0:99.97.0", "value": 3, "unit": "x" * 100}]
    )
    assert readings[code].value == 3.0
    assert readings[code].unit == "x" * 32


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"obisCode": "1-0:32.7.0", "value": 1, "unit": "V", "scaler": 30}, None),
        ({"obisCode": "1-0:32.7.0", "value": -230, "unit": "V"}, None),
        ({"obisCode": "1-0:1.8.0", "value": -5, "unit": "kWh"}, None),
        ({"obisCode": "1-0:1.8.0", "value": 16, "unit": "kWh", "scaler": -20}, None),
        ({"obisCode": "1-0:14.7.0", "value": 5000, "unit": "Hz", "scaler": -2}, 50.0),
        ({"obisCode": "1-0:13.7.0", "value": -950, "scaler": -3}, -0.95),
        ({"obisCode": "1-0:13.7.0", "value": 95, "scaler": 0}, None),
        ({"obisCode": "1-0:16.7.0", "value": -4200, "unit": "W"}, -4200.0),
        ({"obisCode": "1-0:2.8.0", "value": 0, "unit": "kWh"}, 0.0),
    ],
)
def test_values_no_meter_measures_are_not_published(
    item: dict[str, object], expected: float | None
) -> None:
    code = ObisCode.parse(str(item["obisCode"]))
    value = parse_response([item])[code].value
    assert value == (None if expected is None else pytest.approx(expected))


def test_the_same_code_twice_with_different_values_is_not_published(
    caplog: pytest.LogCaptureFixture,
) -> None:
    answer = {
        "1-0:1.8.0*255": 100.0,
        "1.8.0": 105.0,
        "1-0:2.8.0": 7.0,
        "2.8.0": "7",  # the same value, twice: kept
        "1-0:16.7.0": 5.0,
    }
    log = LogOnce("test meter")
    for _ in range(3):
        readings = parse_response(answer, log)
        assert readings[codes.ENERGY_IMPORT] == Reading(None, "kWh")
        assert readings[codes.ENERGY_EXPORT] == Reading(7.0, "kWh")
        assert readings[codes.POWER_NET] == Reading(5.0, "W")
    duplicates = [r for r in caplog.records if "more than once" in r.getMessage()]
    assert len(duplicates) == 1
    assert "1-0:1.8.0" in duplicates[0].getMessage()


def test_text_values_are_bounded() -> None:
    readings = parse_response(
        {
            "0-0:96.1.0": "S" * 300,
            "0-0:1.0.0": [[["2026"]]],
            "0-0:96.1.1": 12345,
            "0-0:96.1.2": True,
        }
    )
    assert readings[codes.SERIAL].value is None
    assert readings[codes.CLOCK].value is None
    assert readings[ObisCode.parse("0-0:96.1.1")].value == "12345"
    assert readings[ObisCode.parse("0-0:96.1.2")].value is None


def test_codes_that_are_no_text_are_skipped() -> None:
    readings = parse_response(
        [
            {"obisCode": ["1-0:1.8.0"], "value": 1},
            {"obisCode": 180, "value": 1},
            {"obisCode": "1-0:2.8.0", "value": 1, "quality": ["good"]},
            {"obisCode": "1-0:1.7.0", "value": 1, "quality": " Good "},
        ]
    )
    assert set(readings) == {codes.ENERGY_EXPORT, codes.POWER_IMPORT}
    assert readings[codes.ENERGY_EXPORT].value is None
    assert readings[codes.POWER_IMPORT].value == 1.0


def test_a_meter_that_keeps_sending_new_odd_units_cannot_flood_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = LogOnce("test meter")
    for n in range(200):
        parse_response([{"obisCode": "1-0:1.8.0", "value": 1, "unit": f"u{n}"}], log)
    assert len(caplog.records) == LogOnce.LIMIT


@pytest.mark.parametrize(
    "fault",
    ["html", "truncated", "deep", "invalid_utf8", "oversize", "big_int", "nan"],
)
async def test_hostile_answers_over_http_are_invalid_responses(
    start, fault: str
) -> None:
    meter, client = await start()
    meter.set_fault(fault, count=1)
    with pytest.raises(MeterResponseError):
        await client.read()
    # The connection is not left with half an answer on it: the next poll reads.
    assert (await client.read()).serial == "SIM-1"


@pytest.mark.parametrize(
    ("fault", "expected"), [("huge_scaler", None), ("unknown_unit", None)]
)
async def test_hostile_counters_over_http_are_not_values(
    start, fault: str, expected: object
) -> None:
    meter, client = await start()
    meter.set_fault(fault, count=1)
    data = await client.read()
    assert data.readings[codes.ENERGY_IMPORT] == Reading(expected, "kWh")
    assert isinstance(data.readings[codes.POWER_IMPORT].value, float)


class _RawServer:
    """A loopback HTTP server answering every request with one canned response."""

    def __init__(self, respond: Callable[[], web.StreamResponse]) -> None:
        self.respond = respond
        self.requests: list[web.Request] = []

    async def __aenter__(self) -> int:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.requests.append(request)
            await request.read()
            return self.respond()

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", handler)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        listening = socket.socket()
        listening.bind(("127.0.0.1", 0))
        await web.SockSite(self.runner, listening).start()
        return int(listening.getsockname()[1])

    async def __aexit__(self, *exc_info: object) -> None:
        await self.runner.cleanup()


async def test_a_compressed_answer_is_not_inflated(socket_enabled: None) -> None:
    # A small gzip body can inflate to gigabytes: the cap must hold for what is parsed.
    bomb = gzip.compress(b'{"readings": [' + b" " * 5_000_000 + b"]}")
    server = _RawServer(
        lambda: web.Response(
            body=bomb,
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
    )
    async with server as port:
        with pytest.raises(MeterResponseError, match="compressed"):
            await ObisHttpClient("127.0.0.1", port).read()
    assert server.requests[0].headers["Accept-Encoding"] == "identity"


async def test_a_redirect_is_not_followed(socket_enabled: None) -> None:
    server = _RawServer(
        lambda: web.Response(status=307, headers={"Location": "http://127.0.0.2/"})
    )
    async with server as port:
        with pytest.raises(MeterResponseError):
            await ObisHttpClient("127.0.0.1", port).read()
    assert len(server.requests) == 1


async def test_an_oversize_answer_without_a_length_is_cut_off(
    socket_enabled: None,
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"readings": ['
        for _ in range(64):
            yield b" " * 16_384

    async with _RawServer(lambda: web.Response(body=chunks())) as port:
        with pytest.raises(MeterResponseError, match="more than"):
            await ObisHttpClient("127.0.0.1", port).read()


async def test_a_refusal_that_is_no_utf8_is_still_told(socket_enabled: None) -> None:
    async with _RawServer(
        lambda: web.Response(status=400, body=b"bad \xff request")
    ) as port:
        client = ObisHttpClient("127.0.0.1", port)
        with pytest.raises(MeterRefusedError, match="bad \ufffd request"):
            await client.write(codes.ENERGY_IMPORT, 1)


@pytest.mark.parametrize(
    ("code", "unit", "value", "expected"),
    [
        ("1-0:3.8.0", "varh", 2000, Reading(2.0, "kvarh")),
        ("1-0:9.8.0", "kVAh", 2, Reading(2.0, "kVAh")),
        ("1-0:3.7.0", "kvar", 2, Reading(2000.0, "var")),
        ("1-0:29.7.0", "kVA", 2, Reading(2000.0, "VA")),  # L1 apparent power
        ("1-0:3.8.0", "kWh", 2, Reading(None, "kvarh")),  # active energy is no reactive
        ("1-0:17.8.0", "kWh", 2, Reading(2.0, "kWh")),  # a quantity without a rule
        ("1-0:17.7.0", "W", 2, Reading(2.0, "W")),
    ],
)
def test_every_quantity_has_its_canonical_unit(
    code: str, unit: str, value: int, expected: Reading
) -> None:
    readings = parse_response([{"obisCode": code, "value": value, "unit": unit}])
    assert readings[ObisCode.parse(code)] == expected


def test_a_duplicate_without_a_log_is_still_not_published() -> None:
    readings = parse_response({"1.8.0": 1.0, "1-0:1.8.0": 2.0})
    assert readings[codes.ENERGY_IMPORT] == Reading(None, "kWh")
