"""Shared models: derived net power and unit conversion."""

import pytest

from custom_components.smart_meter_hub.meters.models import Reading, with_net_power
from custom_components.smart_meter_hub.meters.obis import (
    POWER_EXPORT,
    POWER_IMPORT,
    POWER_NET,
)
from custom_components.smart_meter_hub.meters.units import canonical, plausible


def test_net_power_is_import_minus_export() -> None:
    readings = {POWER_IMPORT: Reading(0.0, "W"), POWER_EXPORT: Reading(450.0, "W")}
    assert with_net_power(readings)[POWER_NET] == Reading(-450.0, "W")


def test_net_power_without_a_usable_part_is_no_value() -> None:
    readings = {POWER_IMPORT: Reading(None, "W"), POWER_EXPORT: Reading(450.0, "W")}
    result = with_net_power(readings)
    assert result[POWER_NET].value is None


def test_meter_net_power_wins_and_missing_parts_derive_nothing() -> None:
    own = {
        POWER_NET: Reading(10.0, "W"),
        POWER_IMPORT: Reading(20.0, "W"),
        POWER_EXPORT: Reading(0.0, "W"),
    }
    assert with_net_power(own)[POWER_NET].value == 10.0
    only_import = {POWER_IMPORT: Reading(20.0, "W")}
    assert POWER_NET not in with_net_power(only_import)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("Wh", ("kWh", 1e-3)),
        ("MWh", ("kWh", 1e3)),
        (" kW ", ("W", 1e3)),
        ("mA", ("A", 1e-3)),
        (30, ("kWh", 1e-3)),
        (255, (None, 1.0)),
        (99, None),
        ("furlong", None),
        (None, None),
    ],
)
def test_units_become_canonical(unit: object, expected: object) -> None:
    assert canonical(unit) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("unit", "expected"), [("GWh", ("kWh", 1e6)), ("GW", ("W", 1e9))]
)
def test_giga_units_become_canonical(unit: str, expected: object) -> None:
    assert canonical(unit) == expected


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (230.1, "V", True),
        (0.0, "V", True),
        (-1.0, "V", False),
        (1e30, "V", False),
        (2.4e-41, "V", False),  # 230 V read in the wrong word order
        (180.1, "kWh", True),
        (1.6e-23, "kWh", False),  # 180.1 kWh read in the wrong word order
        (-0.001, "kWh", False),
        (1e38, "kWh", False),
        (-4200.0, "W", True),
        (1e11, "W", False),
        (49.98, "Hz", True),
        (-0.5, "A", True),
        (float("nan"), "W", False),
        (float("inf"), None, False),
        (-1e30, None, True),  # no unit, no range: only finite
        (1e30, "%", True),
    ],
)
def test_plausible_values(value: float, unit: str | None, expected: bool) -> None:
    assert plausible(value, unit) is expected


@pytest.mark.parametrize(
    ("value", "expected"), [(0.96, True), (-1.0, True), (1.05, True), (95.0, False)]
)
def test_plausible_power_factors(value: float, expected: bool) -> None:
    assert plausible(value, None, power_factor=True) is expected
