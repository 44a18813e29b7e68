"""The energy guard: what reaches the Energy Dashboard never goes backwards or spikes."""

import math

import pytest

from custom_components.smart_meter_hub.meters.guard import EnergyGuard, Rejection

HOUR = 3600.0


@pytest.fixture
def guard() -> EnergyGuard:
    return EnergyGuard(max_power_w=10_000, confirm_polls=3)


def test_increasing_counter_is_published(guard: EnergyGuard) -> None:
    assert guard.check("import", 100.0, 0).value == 100.0
    assert guard.check("import", 100.1, 60).value == 100.1
    assert guard.check("import", 100.1, 120).value == 100.1


def test_counter_that_always_read_zero_is_a_true_zero(guard: EnergyGuard) -> None:
    assert guard.check("export", 0.0, 0).value == 0.0
    assert guard.check("export", 0.0, 60).value == 0.0


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0])
def test_invalid_values_are_rejected(guard: EnergyGuard, bad: float) -> None:
    guard.check("import", 100.0, 0)
    verdict = guard.check("import", bad, 60)
    assert verdict.value is None
    assert verdict.rejected is Rejection.INVALID
    assert guard.last("import") == 100.0


def test_invalid_first_value_is_rejected(guard: EnergyGuard) -> None:
    verdict = guard.check("import", math.nan, 0)
    assert verdict.value is None
    assert verdict.first
    assert guard.check("import", 5.0, 10).value == 5.0


def test_drop_to_zero_is_rejected_and_logged_once(guard: EnergyGuard) -> None:
    guard.check("import", 1000.0, 0)
    first = guard.check("import", 0.0, 60)
    second = guard.check("import", 0.0, 120)
    assert (first.value, first.rejected, first.first) == (
        None,
        Rejection.DECREASE,
        True,
    )
    assert (second.value, second.first) == (None, False)
    back = guard.check("import", 1000.1, 180)
    assert back.value == 1000.1
    assert back.recovered
    assert guard.rejections["import"] == {"decrease": 2}


def test_a_zero_that_stays_is_never_taken_for_a_reset(guard: EnergyGuard) -> None:
    guard.check("import", 1000.0, 0)
    for poll in range(1, 20):
        assert guard.check("import", 0.0, poll * 60).value is None


def test_reported_glitch_never_reaches_statistics(guard: EnergyGuard) -> None:
    # The SDM630 field report: 180.1 -> 5000 -> 180.4 kWh, one poll a minute.
    assert guard.check("import", 180.1, 0).value == 180.1
    spike = guard.check("import", 5000.0, 60)
    assert spike.value is None
    assert spike.rejected is Rejection.JUMP
    assert guard.check("import", 180.4, 120).value == 180.4


def test_jump_allowance_grows_with_time(guard: EnergyGuard) -> None:
    # 10 kW at most: 10 kWh in one hour is possible, 10 kWh in a minute is not.
    guard.check("import", 100.0, 0)
    assert guard.check("import", 110.0, 60).value is None
    assert guard.check("import", 110.0, HOUR).value == 110.0


def test_genuine_reset_is_confirmed_over_several_polls(guard: EnergyGuard) -> None:
    guard.check("import", 5000.0, 0)
    assert guard.check("import", 0.1, 60).value is None
    assert guard.check("import", 0.2, 120).value is None
    confirmed = guard.check("import", 0.3, 180)
    assert confirmed.value == 0.3
    assert confirmed.recovered
    assert guard.check("import", 0.4, 240).value == 0.4


def test_reset_candidates_restart_when_they_go_backwards(guard: EnergyGuard) -> None:
    guard.check("import", 5000.0, 0)
    guard.check("import", 0.5, 60)
    guard.check("import", 0.6, 120)
    assert guard.check("import", 0.1, 180).value is None  # not counting: start over
    assert guard.check("import", 0.2, 240).value is None
    assert guard.check("import", 0.3, 300).value == 0.3


def test_counters_are_independent(guard: EnergyGuard) -> None:
    guard.check("import", 100.0, 0)
    guard.check("export", 0.0, 0)
    assert guard.check("export", 0.0, 60).value == 0.0
    assert guard.check("import", 50.0, 60).value is None


def test_state_survives_a_restart(guard: EnergyGuard) -> None:
    guard.check("import", 1000.0, 0)
    restored = EnergyGuard(max_power_w=10_000)
    restored.load(guard.dump())
    assert restored.last("import") == 1000.0
    assert restored.check("import", 0.0, 60).value is None
    assert restored.check("import", 1000.2, 120).value == 1000.2


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {"import": "garbage"},
        {"import": {"value": "1", "timestamp": 0}},
        {"import": {"value": -5.0, "timestamp": 0}},
        {"import": {"value": math.nan, "timestamp": 0}},
        {"import": {"value": 5.0}},
    ],
)
def test_malformed_saved_state_is_ignored(data: object) -> None:
    guard = EnergyGuard()
    guard.load(data)
    assert guard.last("import") is None
    assert guard.check("import", 3.0, 0).value == 3.0


@pytest.mark.parametrize("garbage", [1.5e-23, 3e-6, 2e12, 1e38])
def test_implausible_first_value_never_becomes_the_baseline(
    guard: EnergyGuard, garbage: float
) -> None:
    # A gateway with the wrong word order: the import counter reads as 1e-23 kWh (or
    # 1e38). It is not published, and the real counter, once decoded right, is.
    verdict = guard.check("import", garbage, 0)
    assert verdict.value is None
    assert verdict.first
    assert guard.last("import") is None
    assert guard.check("import", 180.1, 10).value == 180.1


def test_garbage_above_any_meter_is_rejected_later_too(guard: EnergyGuard) -> None:
    guard.check("import", 100.0, 0)
    assert guard.check("import", 2e12, 1e12).rejected is Rejection.INVALID


def test_forget_after_the_decoding_changed(guard: EnergyGuard) -> None:
    # Decoded the wrong way, a plausible-looking value was accepted; the user fixes the
    # word order: new readings are not judged against the old decoding.
    guard.check("sdm:1-0:1.8.0", 5_000.0, 0)
    guard.check("sdm:1-0:2.8.0", 20.0, 0)
    guard.check("other:1-0:1.8.0", 7.0, 0)
    guard.forget("sdm:")
    assert guard.check("sdm:1-0:1.8.0", 180.1, 10).value == 180.1
    assert guard.last("other:1-0:1.8.0") == 7.0


def test_saved_garbage_is_not_restored(guard: EnergyGuard) -> None:
    guard.load(
        {"a": {"value": 1e30, "timestamp": 0}, "b": {"value": 5, "timestamp": 0}}
    )
    assert guard.last("a") is None
    assert guard.last("b") == 5.0
