"""The OBIS HTTP client against the simulated meter, over real loopback sockets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import aiohttp
import pytest

from custom_components.smart_meter_hub.meters import (
    MeterAuthError,
    MeterConnectionError,
    MeterRefusedError,
    MeterResponseError,
    ObisCode,
    obis as codes,
)
from custom_components.smart_meter_hub.meters.obis_http import (
    ObisHttpClient,
    parse_response,
)
from meter_sim.obis_http import ObisMeterServer, SimulatedObisMeter

type ClientFactory = Callable[..., ObisHttpClient]

ALL = codes.DEFAULT_CODES


@pytest.fixture
async def session(socket_enabled: None) -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def start(
    session: aiohttp.ClientSession,
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
            session,
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
        ("http500", MeterConnectionError),
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


async def test_wrong_path_is_an_invalid_response(session) -> None:
    server = ObisMeterServer([SimulatedObisMeter(serial="X")])
    await server.start()
    other = ObisHttpClient(session, "127.0.0.1", server.ports[0], path="nope")
    try:
        with pytest.raises(MeterResponseError):
            await other.read()
    finally:
        await server.stop()


async def test_timeout_is_a_connection_error(start) -> None:
    meter, client = await start(slow_seconds=2)
    meter.set_fault("timeout", count=1)
    client.timeout = 0.2
    with pytest.raises(MeterConnectionError, match="Timeout"):
        await client.read()


async def test_refused_connection_is_a_connection_error(session) -> None:
    server = ObisMeterServer([SimulatedObisMeter(serial="X")])
    await server.start()
    port = server.ports[0]
    await server.stop()
    with pytest.raises(MeterConnectionError):
        await ObisHttpClient(session, "127.0.0.1", port).read()


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
