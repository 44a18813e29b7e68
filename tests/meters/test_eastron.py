"""The Modbus client and the Eastron reader against the simulated gateway, over sockets."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable

import pytest

from custom_components.smart_meter_hub.meters import (
    EASTRON_MODEL_CODES,
    MeterConnectionError,
    MeterResponseError,
    ObisCode,
    eastron_model_named,
    obis,
)
from custom_components.smart_meter_hub.meters.eastron import (
    EastronMeter,
    decode_floats,
    identify,
)
from custom_components.smart_meter_hub.meters.modbus import ModbusConnection
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630, crc16

IMPORT = ObisCode.parse("1-0:1.8.0")
NET = ObisCode.parse("1-0:16.7.0")
ABSOLUTE = ObisCode.parse("1-0:15.8.0")
VOLTAGE_L1 = ObisCode.parse("1-0:32.7.0")
VOLTAGE, CURRENT, POWER_IMPORT = obis.VOLTAGE, obis.CURRENT, obis.POWER_IMPORT


@pytest.fixture
async def gateway(
    socket_enabled: None,
) -> AsyncGenerator[Callable[..., object]]:
    started: list[tuple[Sdm630Gateway, ModbusConnection]] = []

    async def _start(framing: str = "tcp", units: int = 2, **kwargs: object):
        gw = Sdm630Gateway(
            {n: SimulatedSdm630(serial=1000 + n, seed=n) for n in range(1, units + 1)},
            framing=framing,
            **kwargs,  # type: ignore[arg-type]
        )
        await gw.start()
        connection = ModbusConnection(
            "127.0.0.1", gw.port, framing, timeout=0.5, spacing=0.0
        )  # type: ignore[arg-type]
        started.append((gw, connection))
        return gw, connection

    yield _start
    for gw, connection in started:
        await connection.close()
        await gw.stop()


def reader(connection: ModbusConnection, unit: int, **kwargs: object) -> EastronMeter:
    return EastronMeter(connection, unit, serial=str(1000 + unit), **kwargs)  # type: ignore[arg-type]


def test_crc_of_the_textbook_frame() -> None:
    assert crc16(bytes.fromhex("01030000000A")) == bytes.fromhex("C5CD")


def test_word_orders() -> None:
    assert decode_floats([0x4366, 0x0000]) == [230.0]
    assert decode_floats([0x0000, 0x4366], "swapped") == [230.0]


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_two_meters_two_transactions_each(gateway, framing: str) -> None:
    gw, connection = await gateway(framing)
    for unit in (1, 2):
        serial, model_code = await identify(connection, unit)
        assert serial == str(1000 + unit)
        assert model_code == 0x0070
        meter = EastronMeter(connection, unit, serial=serial)
        before = gw.transactions
        readings = (await meter.read()).readings
        assert gw.transactions - before == 2
        assert readings[IMPORT].value == pytest.approx(
            gw.units[unit].import_kwh, abs=0.01
        )
        assert 225 < readings[VOLTAGE_L1].value < 235
        assert readings[NET].value == pytest.approx(2300, rel=0.1)
        # "Total" is import + export: kept apart from consumption.
        assert readings[ABSOLUTE].value >= readings[IMPORT].value
    assert gw.connections == 1  # one connection for every meter behind the gateway


async def test_swapped_word_order(gateway) -> None:
    gw, connection = await gateway()
    gw.units[1].word_order = "swapped"
    readings = (await reader(connection, 1, word_order="swapped").read()).readings
    assert 225 < readings[VOLTAGE_L1].value < 235


async def test_silent_unit_fails_alone(gateway) -> None:
    gw, connection = await gateway("rtu")
    gw.units[1].fault = "silent"
    with pytest.raises(MeterConnectionError, match="unit 1"):
        await reader(connection, 1).read()
    readings = (await reader(connection, 2).read()).readings  # reconnected, unaffected
    assert readings[IMPORT].value is not None


@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_late_reply_is_never_taken_for_the_next_answer(
    gateway, framing: str
) -> None:
    gw, connection = await gateway(framing)
    gw.units[1].fault = "slow"  # answers after 1 s; the client gives up at 0.5 s
    with pytest.raises(MeterConnectionError):
        await reader(connection, 1).read()
    gw.units[1].fault = None
    serial, _model = await identify(connection, 2)
    assert serial == "1002"  # not unit 1's late answer


async def test_nan_fails_the_poll(gateway) -> None:
    gw, connection = await gateway()
    gw.units[1].fault = "nan"
    with pytest.raises(MeterResponseError, match="not a number"):
        await reader(connection, 1).read()


async def test_exception_code_fails_the_poll(gateway) -> None:
    gw, connection = await gateway("rtu")
    gw.units[1].fault = "exception"
    with pytest.raises(MeterResponseError, match="exception 04"):
        await reader(connection, 1).read()


async def test_refused_block_is_split(gateway) -> None:
    gw, connection = await gateway()
    meter = gw.units[1]
    original = meter.registers
    # A firmware that refuses the second half of the first block.
    meter.registers = (
        lambda start, count: 2
        if start + count > 0x30 and start < 0x50 and count > 2 and start < 0x30
        else original(start, count)
    )  # type: ignore[method-assign]
    readings = (await reader(connection, 1).read()).readings
    assert readings[IMPORT].value is not None
    assert readings[VOLTAGE_L1].value is not None


async def test_unreachable_gateway(socket_enabled: None) -> None:
    connection = ModbusConnection("127.0.0.1", 1, "tcp", timeout=0.5)
    with pytest.raises(MeterConnectionError, match="cannot connect"):
        await identify(connection, 1)


@pytest.mark.parametrize(
    "model_code",
    [None, 0x0079, 0x1234],
)
async def test_model_register_where_it_answers(gateway, model_code: int | None) -> None:
    gw, connection = await gateway(units=1)
    gw.units[1].model_code = model_code
    assert await identify(connection, 1) == ("1001", model_code)


async def test_a_meter_that_refuses_every_block_fails_the_poll(gateway) -> None:
    gw, connection = await gateway(units=1)
    gw.units[1].registers = lambda start, count: 2  # type: ignore[method-assign]
    with pytest.raises(MeterResponseError, match="no register could be read"):
        await reader(connection, 1).read()


async def test_gateway_gone_mid_session_then_back(gateway) -> None:
    gw, connection = await gateway(units=1)
    assert (await identify(connection, 1))[0] == "1001"
    port = gw.port
    await gw.stop()
    with pytest.raises(MeterConnectionError):
        await reader(connection, 1).read()
    await gw.start(port)  # the gateway restarts: the next poll reconnects
    readings = (await reader(connection, 1).read()).readings
    assert readings[IMPORT].value is not None


@pytest.mark.parametrize(
    ("model", "code", "shown", "transactions"),
    [
        ("SDM120", 0x0020, "SDM120", 2),
        ("SDM230", None, None, 2),
        ("SDM72D-M", 0x0089, "SDM72D-M v2", 3),
    ],
)
async def test_each_model_reads_its_own_register_map(
    gateway, model: str, code: int | None, shown: str | None, transactions: int
) -> None:
    gw, connection = await gateway(units=1)
    gw.units[1] = simulated = SimulatedSdm630(serial=1001, model=model)
    serial, model_code = await identify(connection, 1)
    assert model_code == code
    detected = EASTRON_MODEL_CODES.get(model_code) if model_code else None
    assert (detected[1] if detected else None) == shown
    meter = EastronMeter(connection, 1, serial=serial, model=eastron_model_named(model))
    before = gw.transactions
    data = await meter.read()
    # Within the model's limits (the SDM72D-M takes 60 registers a request at most):
    # never a refused block split into more requests.
    assert gw.transactions - before == transactions
    readings = data.readings
    assert readings[IMPORT].value == pytest.approx(simulated.import_kwh, abs=0.01)
    assert readings[NET].value == pytest.approx(2300, rel=0.1)
    assert readings[POWER_IMPORT].value == readings[NET].value
    assert readings[ABSOLUTE].value >= readings[IMPORT].value
    if model in ("SDM120", "SDM230"):
        # One phase: its voltage and current, no per-phase codes.
        assert 225 < readings[VOLTAGE].value < 235
        assert readings[CURRENT].value == pytest.approx(10, rel=0.1)
        assert VOLTAGE_L1 not in readings
    else:
        assert 225 < readings[VOLTAGE_L1].value < 235
    assert data.model == model
    assert data.manufacturer == "Eastron"


def test_models_saved_by_the_name_they_show() -> None:
    # Entries from before other models were read name SDM630 variants, or nothing.
    for name in (None, "SDM630", "SDM630MCT V2", "SDM630 (model code 0x1234)"):
        assert eastron_model_named(name).name == "SDM630"
    assert eastron_model_named("SDM72D-M v2").name == "SDM72D-M"
    assert eastron_model_named("SDM120").name == "SDM120"


# Hostile register blocks (issue #12): readings or a typed MeterError, never a value
# that is no measurement. Nothing here waits for a silent unit: the connection may take
# its time on a busy machine (5 s instead of the fixture's 0.5 s).

PATIENT = 5.0


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        ("absurd", "0x0000 reads 1e\\+30 V"),
        ("garbage", "which no meter measures"),
        ("short", "registers for"),
    ],
)
@pytest.mark.parametrize("framing", ["tcp", "rtu"])
async def test_absurd_or_broken_blocks_fail_the_poll(
    gateway, framing: str, fault: str, match: str
) -> None:
    gw, connection = await gateway(framing)
    connection.timeout = PATIENT
    gw.units[1].fault = fault
    with pytest.raises(MeterResponseError, match=match):
        await reader(connection, 1).read()
    gw.units[1].fault = None
    readings = (await reader(connection, 1).read()).readings
    assert 225 < readings[VOLTAGE_L1].value < 235


async def test_the_wrong_word_order_is_never_read_as_values(gateway) -> None:
    # The gateway swaps the words, the entry says "normal": 180.1 kWh would read
    # 1.6e-23 kWh, 230 V about 1e-41 V.
    gw, connection = await gateway()
    connection.timeout = PATIENT
    gw.units[1].word_order = "swapped"
    with pytest.raises(MeterResponseError, match="word order"):
        await reader(connection, 1).read()


@pytest.mark.parametrize("fault", ["glitch_zero", "glitch_nan"])
async def test_counter_glitches_once(gateway, fault: str) -> None:
    gw, connection = await gateway(units=1)
    connection.timeout = PATIENT
    gw.units[1].fault = fault
    if fault == "glitch_nan":
        with pytest.raises(MeterResponseError, match="0x0048 is not a number"):
            await reader(connection, 1).read()
    else:
        # A true 0 is a float like any other: the counters' guard judges it.
        assert (await reader(connection, 1).read()).readings[IMPORT].value == 0.0
    readings = (await reader(connection, 1).read()).readings
    assert readings[IMPORT].value == pytest.approx(180.1, abs=0.1)


@pytest.mark.parametrize("code", [1, 3, 4, 6, 0x0B])
async def test_every_exception_code_is_a_response_error(gateway, code: int) -> None:
    gw, connection = await gateway(units=1)
    connection.timeout = PATIENT
    gw.units[1].fault = "exception"
    gw.units[1].exception_code = code
    with pytest.raises(MeterResponseError, match=f"exception {code:02d}"):
        await reader(connection, 1).read()


async def test_power_factor_out_of_range_is_no_value_alone() -> None:
    class Transport:
        transactions = 0
        spacing = 0.0

        async def read_registers(
            self, unit: int, function: int, address: int, count: int
        ) -> list[int]:
            words = [0x4366, 0x0000] * (count // 2)  # 230.0 everywhere
            if address == 0:
                words[0x3E:0x40] = [0x42BE, 0x0000]  # power factor 95.0
            return words

        async def close(self) -> None:
            return None

    data = await reader(Transport(), 1).read()  # type: ignore[arg-type]
    assert data.readings[obis.POWER_FACTOR].value is None
    assert data.readings[VOLTAGE_L1].value == 230.0


@pytest.mark.parametrize(
    "registers", [[1, 2, 3], [0x4366, 70_000], [0x4366, -1], [0x4366, True]]
)
def test_words_that_are_no_registers_are_refused(registers: list[int]) -> None:
    with pytest.raises(MeterResponseError):
        decode_floats(registers)
