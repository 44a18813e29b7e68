"""Night baseline and high consumption, through whole nights, DST changes and restarts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from custom_components.smart_meter_hub.analysis.baseline import (
    HighConsumption,
    NightBaseline,
    NightResult,
)

BERLIN = ZoneInfo("Europe/Berlin")


def feed(
    baseline: NightBaseline,
    start: datetime,
    end: datetime,
    power: float | None,
    step: timedelta = timedelta(minutes=1),
) -> list[NightResult]:
    closed = []
    when = start
    while when < end:
        if (result := baseline.add(when, power)) is not None:
            closed.append(result)
        when += step
    return closed


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def test_a_whole_night_gives_its_minimum() -> None:
    night = NightBaseline(BERLIN)
    feed(night, local(20, 22), local(21, 3, 30), 450.0)
    night.add(local(21, 3, 30), 180.0)  # the fridge is off for a moment
    feed(night, local(21, 3, 31), local(21, 5), 450.0)
    # Started in the evening: the night before was not seen, and is not made up.
    assert night.last == NightResult(date(2026, 11, 20), None, 0.0)
    closed = night.add(local(21, 5), 2000.0)  # morning: the window is over
    assert closed == NightResult(date(2026, 11, 21), 180.0, 1.0)
    # Daytime values do not touch it.
    feed(night, local(21, 5, 1), local(21, 23), 50.0)
    assert night.last.baseline_w == 180.0


def test_values_outside_the_window_are_ignored() -> None:
    night = NightBaseline(BERLIN)
    night.add(local(21, 0, 59), 10.0)
    feed(night, local(21, 1), local(21, 5, 1), 300.0)
    assert night.last == NightResult(date(2026, 11, 21), 300.0, 1.0)


def test_a_night_with_too_little_data_says_so() -> None:
    night = NightBaseline(BERLIN)
    feed(night, local(21, 1), local(21, 2), 300.0)  # one hour of four
    feed(night, local(21, 2), local(21, 5), None)  # then the meter was away
    night.add(local(21, 5, 1), 300.0)
    assert night.last.baseline_w is None
    assert night.last.coverage == pytest.approx(0.25, abs=0.01)


def test_a_night_home_assistant_missed_entirely_is_not_yesterdays() -> None:
    night = NightBaseline(BERLIN)
    feed(night, local(20, 1), local(20, 5, 1), 300.0)
    assert night.last.baseline_w == 300.0
    # Off from the 20th at 05:01 until the 21st at noon.
    closed = night.add(local(21, 12), 400.0)
    assert closed == NightResult(date(2026, 11, 21), None, 0.0)


def test_gaps_longer_than_ten_minutes_do_not_count_as_seen() -> None:
    night = NightBaseline(BERLIN)
    feed(night, local(21, 1), local(21, 5, 1), 300.0, step=timedelta(minutes=30))
    # Eight samples, each standing for ten minutes: 80 of 240 minutes.
    assert night.last.baseline_w is None
    assert night.last.coverage == pytest.approx(80 / 240, abs=0.01)


def test_restart_in_the_middle_of_the_night() -> None:
    before = NightBaseline(BERLIN)
    feed(before, local(21, 1), local(21, 2, 30), 250.0)
    before.add(local(21, 2, 30), 190.0)
    saved = before.dump()

    after = NightBaseline(BERLIN)  # Home Assistant restarted: two minutes away
    after.load(saved)
    feed(after, local(21, 2, 33), local(21, 5, 1), 260.0)
    assert after.last.baseline_w == 190.0
    assert after.last.coverage > 0.98


@pytest.mark.parametrize(
    "garbage", [None, [], {"night": "not a date"}, {"last": {"night": 5}}]
)
def test_broken_saved_state_starts_over(garbage: object) -> None:
    night = NightBaseline(BERLIN)
    night.load(garbage)
    assert night.last is None
    feed(night, local(21, 1), local(21, 5, 1), 300.0)
    assert night.last.baseline_w == 300.0


def test_spring_forward_night_is_three_hours_long() -> None:
    # 29 March 2026: 02:00 becomes 03:00 in Berlin.
    night = NightBaseline(BERLIN)
    start = datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN)
    when = start
    while when.astimezone(BERLIN) < datetime(2026, 3, 29, 5, 1, tzinfo=BERLIN):
        night.add(when, 220.0)
        when = (when.astimezone(ZoneInfo("UTC")) + timedelta(minutes=1)).astimezone(
            BERLIN
        )
    assert night.last == NightResult(date(2026, 3, 29), 220.0, 1.0)
    window_start, window_end = night.window(date(2026, 3, 29))
    assert window_end - window_start == timedelta(hours=3)


def test_fall_back_night_is_five_hours_long() -> None:
    # 25 October 2026: 03:00 becomes 02:00 again in Berlin.
    night = NightBaseline(BERLIN)
    utc = ZoneInfo("UTC")
    when = datetime(2026, 10, 25, 1, 0, tzinfo=BERLIN).astimezone(utc)
    end = datetime(2026, 10, 25, 5, 1, tzinfo=BERLIN).astimezone(utc)
    minimum_at = datetime(
        2026, 10, 25, 0, 30, tzinfo=utc
    )  # 02:30 summer time, the first pass
    while when < end:
        night.add(when, 150.0 if when == minimum_at else 400.0)
        when += timedelta(minutes=1)
    assert night.last.baseline_w == 150.0
    assert night.last.coverage == pytest.approx(1.0, abs=0.01)
    window_start, window_end = night.window(date(2026, 10, 25))
    assert window_end - window_start == timedelta(hours=5)


def test_window_across_midnight() -> None:
    night = NightBaseline(BERLIN, start=time(23, 0), end=time(4, 0))
    feed(night, local(20, 22), local(21, 4, 1), 333.0)
    assert night.last == NightResult(date(2026, 11, 20), 333.0, 1.0)


def test_high_consumption_needs_the_delay_and_does_not_flap() -> None:
    high = HighConsumption(threshold_w=10_000, delay_s=60, hysteresis_w=500)
    t0 = local(21, 18)
    assert high.add(t0, 12_000) is False
    assert high.add(t0 + timedelta(seconds=30), 12_000) is False
    assert high.add(t0 + timedelta(seconds=60), 12_000) is True
    # Noise around the threshold: just below it is not "below threshold minus hysteresis".
    for second in range(61, 400, 10):
        power = 9_800 if second % 20 else 10_200
        assert high.add(t0 + timedelta(seconds=second), power) is True
    # Clearly below for a minute: off.
    assert high.add(t0 + timedelta(seconds=400), 9_000) is True
    assert high.add(t0 + timedelta(seconds=460), 9_000) is False


def test_high_consumption_short_peaks_and_gaps_do_not_count() -> None:
    high = HighConsumption(threshold_w=10_000, delay_s=60, hysteresis_w=500)
    t0 = local(21, 18)
    high.add(t0, 12_000)
    high.add(t0 + timedelta(seconds=50), 8_000)  # the kettle is done
    assert high.add(t0 + timedelta(seconds=70), 12_000) is False
    high.add(t0 + timedelta(seconds=100), None)  # meter unavailable: the run restarts
    assert high.add(t0 + timedelta(seconds=140), 12_000) is False
    assert high.add(t0 + timedelta(seconds=200), 12_000) is True
