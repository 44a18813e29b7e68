"""OBIS code parsing: every textual form a meter sends names the same quantity."""

import pytest

from custom_components.smart_meter_hub.meters.obis import (
    CLOCK,
    ENERGY_IMPORT,
    SERIAL,
    ObisCode,
)


@pytest.mark.parametrize(
    "text",
    [
        "1-0:1.8.0*255",
        "1-0:1.8.0.255",
        "1-0:1.8.0",
        "1.8.0",
        "1.0.1.8.0.255",
        "0100010800FF",
        "0100010800ff",
        " 1-0:1.8.0 ",
        "1-0:1.8.0&255",
    ],
)
def test_every_textual_form_is_the_same_code(text: str) -> None:
    assert ObisCode.parse(text) == ENERGY_IMPORT


def test_edis_short_form_of_abstract_objects() -> None:
    # `96.1.0` and `1.0.0` in short form are the serial number and the clock.
    assert ObisCode.parse("96.1.0") == SERIAL
    assert ObisCode.parse("1.0.0") == CLOCK
    assert ObisCode.parse("32.7.0") == ObisCode(1, 0, 32, 7, 0)


def test_billing_period_is_kept() -> None:
    code = ObisCode.parse("1-0:1.8.0*101")
    assert code != ENERGY_IMPORT
    assert code.f == 101
    assert code.short == "1-0:1.8.0*101"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "abc",
        "1-0:1.8",
        "1.8",
        "1.2.3.4",
        "1-0:1.8.0*256",
        "010001080",
        "1-0:999.8.0",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="OBIS"):
        ObisCode.parse(text)


def test_string_forms() -> None:
    assert str(ENERGY_IMPORT) == "1-0:1.8.0.255"
    assert ENERGY_IMPORT.short == "1-0:1.8.0"
    assert ObisCode.parse(str(ENERGY_IMPORT)) == ENERGY_IMPORT


@pytest.mark.parametrize(
    "text",
    [
        "\u0661-\u0660:\u0661.\u0668.\u0660",  # Arabic-Indic digits: no OBIS code
        "1-0:1.8.0" + " " * 10_000 + "x",
        "1" * 1_000_000,
        "1-0:1.8.0\x00",
        "1-0:1.8.0\n1",
    ],
)
def test_odd_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="OBIS"):
        ObisCode.parse(text)


def test_a_final_newline_is_whitespace() -> None:
    assert ObisCode.parse("1-0:1.8.0\n") == ENERGY_IMPORT


@pytest.mark.parametrize("value", [None, 180, b"1-0:1.8.0", ["1-0:1.8.0"]])
def test_what_is_no_text_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="OBIS"):
        ObisCode.parse(value)  # type: ignore[arg-type]


def test_power_factor_codes() -> None:
    assert ObisCode.parse("13.7.0").is_power_factor
    assert ObisCode.parse("1-0:53.7.0").is_power_factor
    assert not ObisCode.parse("1-0:13.8.0").is_power_factor
    assert not ObisCode.parse("1-0:32.7.0").is_power_factor
