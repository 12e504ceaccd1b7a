"""The synthetic Black Friday matches the seed's numbers, and the same seed gives the same day."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from statistics import fmean

import pytest

from gameday.synthetic import (
    BLACK_FRIDAY,
    DEMO_WINDOW_MINUTES,
    FLASH_MINUTES,
    MINUTES_PER_DAY,
    PEAK_REQUESTS_PER_MINUTE,
    BlackFriday,
    black_friday,
    demo_window,
    write_csv,
)
from gameday.traces import load_trace


@pytest.fixture(scope="module")
def day() -> BlackFriday:
    return black_friday(seed=0)


def test_peak_is_37200_requests_per_second_at_the_flash_sale(day: BlackFriday) -> None:
    timeline = day.timeline
    assert PEAK_REQUESTS_PER_MINUTE == 37_200 * 60 == 2_232_000
    assert max(timeline) == PEAK_REQUESTS_PER_MINUTE
    peak_minute = timeline.index(max(timeline))
    assert day.flash_sale_minute <= peak_minute < day.flash_sale_minute + FLASH_MINUTES


def test_black_friday_averages_plus_103_percent_over_the_normal_day(day: BlackFriday) -> None:
    assert len(day.normal_day) == len(day.black_friday) == MINUTES_PER_DAY
    assert sum(day.black_friday) / sum(day.normal_day) == pytest.approx(2.03, abs=0.002)


def test_doorbuster_quadruples_demand_within_minutes_of_midnight(day: BlackFriday) -> None:
    timeline = day.timeline
    midnight = day.doorbuster_minute
    before = fmean(timeline[midnight - 10 : midnight])
    # 4x within 3 minutes of going live; not before midnight.
    assert timeline[midnight - 1] < 1.3 * before
    assert timeline[midnight + 2] / before == pytest.approx(4.0, rel=0.1)
    # ... and it holds for a while before decaying.
    held = timeline[midnight + 2 : midnight + 30]
    assert min(held) / before > 3.5
    assert timeline[midnight + 240] / before < 2.5


def test_flash_sale_is_ten_times_normal_for_twenty_minutes(day: BlackFriday) -> None:
    start = day.flash_sale_minute_of_day
    friday, normal = day.black_friday, day.normal_day
    ratios = [friday[m] / normal[m] for m in range(start, start + FLASH_MINUTES)]
    assert fmean(ratios) == pytest.approx(10.0, rel=0.05)
    assert all(8.5 < r < 11.5 for r in ratios)
    # Sharp edges: the sale is 20 minutes, not a ramp.
    assert friday[start - 2] / normal[start - 2] < 3
    assert friday[start + FLASH_MINUTES] / normal[start + FLASH_MINUTES] < 3
    assert 9 * 60 <= start <= 17 * 60, "a daytime hour"


def test_normal_day_is_diurnal(day: BlackFriday) -> None:
    normal = day.normal_day

    def hour(h: float) -> float:
        m = int(h * 60)
        return fmean(normal[m - 15 : m + 15])

    trough, plateau, evening = hour(4), hour(13), hour(20.5)
    assert trough < 0.3 * plateau
    assert evening > 1.15 * plateau
    # Mild noise: neighbouring minutes differ by a few percent, not more.
    jumps = [abs(b / a - 1) for a, b in zip(normal, normal[1:], strict=False)]
    assert fmean(jumps) < 0.03


def test_same_seed_same_day_other_seed_other_noise() -> None:
    first, again, other = black_friday(seed=7), black_friday(seed=7), black_friday(seed=8)
    assert first == again
    assert first.timeline != other.timeline
    assert max(other.timeline) == PEAK_REQUESTS_PER_MINUTE
    assert sum(other.black_friday) / sum(other.normal_day) == pytest.approx(2.03, abs=0.002)


def test_demo_window_holds_the_doorbuster_and_the_flash_sale() -> None:
    window = demo_window(seed=0)
    assert window.trace.minutes == DEMO_WINDOW_MINUTES == 720
    assert window.start == BLACK_FRIDAY - timedelta(hours=1)
    assert window.start.utcoffset() == timedelta(hours=-5)
    starts = sorted(int(e.start_minute(window.start)) for e in window.events)
    assert starts == [60, 660]
    assert max(window.trace.demand) == PEAK_REQUESTS_PER_MINUTE
    assert not any(window.trace.gap)
    assert demo_window(seed=0, minutes=90).trace.minutes == 90


def test_written_csv_reads_back_as_the_same_trace(tmp_path: Path) -> None:
    trace = demo_window(seed=3, minutes=120).trace
    loaded = load_trace(write_csv(trace, tmp_path / "bf.csv"))
    assert loaded.demand == trace.demand
