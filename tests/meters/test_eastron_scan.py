"""Scanning a bus for Eastron meters, on the protocol side: what each unit id answers."""

from __future__ import annotations

import pytest

from custom_components.smart_meter_hub.meters import (
    EASTRON_SCAN_TIMEOUT,
    MeterConnectionError,
    ModbusConnection,
    scan_eastron_bus,
)
from custom_components.smart_meter_hub.meters.eastron import FoundMeter
from meter_sim.sdm630 import Sdm630Gateway, SimulatedSdm630


async def test_each_unit_id_is_asked_once_and_sorted(socket_enabled: None) -> None:
    gateway = Sdm630Gateway(
        {
            2: SimulatedSdm630(serial=1002, model="SDM120"),
            3: SimulatedSdm630(serial=9, fault="exception", exception_code=1),
            5: SimulatedSdm630(serial=1005, model="SDM230"),
        }
    )
    await gateway.start()
    link = ModbusConnection(
        "127.0.0.1", gateway.port, timeout=EASTRON_SCAN_TIMEOUT, spacing=0.0
    )
    asked: list[int] = []
    try:
        scan = await scan_eastron_bus(link, range(1, 7), asked.append)
    finally:
        await link.close()
        await gateway.stop()
    assert scan.outcome == "done"
    assert scan.meters == [FoundMeter(2, "1002", 0x0020), FoundMeter(5, "1005", None)]
    assert scan.strangers == [3]
    assert (scan.last, asked) == (6, [1, 2, 3, 4, 5, 6])


async def test_a_gateway_gone_stops_the_scan(socket_enabled: None) -> None:
    gateway = Sdm630Gateway({})
    await gateway.start()
    port = gateway.port
    await gateway.stop()
    link = ModbusConnection("127.0.0.1", port, timeout=EASTRON_SCAN_TIMEOUT)
    asked: list[int] = []
    with pytest.raises(MeterConnectionError):
        await scan_eastron_bus(link, range(1, 248), asked.append)
    assert asked == []
