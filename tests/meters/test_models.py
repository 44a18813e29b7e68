"""Shared models: derived net power and unit conversion."""

import pytest

from custom_components.smart_meter_hub.meters.models import Reading, with_net_power
from custom_components.smart_meter_hub.meters.obis import (
    POWER_EXPORT,
    POWER_IMPORT,
    POWER_NET,
)
from custom_components.smart_meter_hub.meters.units import canonical


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
