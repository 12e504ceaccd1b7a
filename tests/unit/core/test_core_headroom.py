"""Noise headroom (pure): the minute-to-minute spread, robust to a burst, and the capacity it calls for."""

from __future__ import annotations

import math
import random
import statistics
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surgeguard.domain.headroom import (
    JUDGE_MIN_MINUTES,
    UNPAID_MIN_POINTS,
    HeadroomVerdict,
    judge_noise_headroom,
    minute_spread,
    noise_band,
    noise_floor,
    without_windows,
)


def poisson(rng: random.Random, mean: float) -> float:
    count, threshold, product = 0, math.exp(-mean), rng.random()
    while product > threshold:
        count, product = count + 1, product * rng.random()
    return float(count)


def test_the_spread_of_poisson_noise_is_about_its_square_root() -> None:
    rng = random.Random(11)
    for mean in (9.0, 100.0):
        minutes = [poisson(rng, mean) for _ in range(600)]
        assert 0.8 * math.sqrt(mean) < minute_spread(minutes) < 1.25 * math.sqrt(mean)
    assert minute_spread([50.0] * 15) == 0.0
    assert minute_spread([50.0]) == 0.0


def _spread_by_definition(minutes: list[float]) -> float:
    changes = [v for i, v in enumerate(minutes) if i == 0 or v != minutes[i - 1]]
    if len(changes) <= 5:
        return 0.0
    return statistics.median(abs(b - a) for a, b in zip(changes, changes[1:], strict=False)) / (
        0.6745 * math.sqrt(2)
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([0.0, -0.0, 1.0, 7.5]), st.floats(0, 1e6, allow_nan=False)),
        max_size=90,
    )
)
def test_the_spread_is_the_median_of_the_changes_as_defined(minutes: list[float]) -> None:
    # Computed at C speed (each decision measures an hour): the same float as the plain definition.
    assert repr(minute_spread(minutes)) == repr(_spread_by_definition(minutes))


def test_a_burst_in_the_window_barely_moves_the_spread() -> None:
    # A plain standard deviation of this window is the burst's size (about 1,400 here) and would
    # hold the burst's capacity after it; the successive differences see two big steps among many.
    rng = random.Random(3)
    quiet = [1000 + rng.gauss(0, 30) for _ in range(15)]
    burst = quiet[:5] + [v * 3 for v in quiet[5:9]] + quiet[9:]
    assert minute_spread(burst) < 1.5 * minute_spread(quiet)


def test_a_series_counted_over_5_minutes_shows_its_noise() -> None:
    # A 5-minute count spread over its minutes repeats each value five times: four zero differences
    # in five, whose median read as no noise at all however noisy the counts.
    rng = random.Random(5)
    counts = [poisson(rng, 20.0) for _ in range(120)]
    counts = [v for i, v in enumerate(counts) if i == 0 or v != counts[i - 1]]  # no repeats of its own
    spread = minute_spread(counts)
    assert spread > 0.8 * math.sqrt(20.0)
    assert minute_spread([v for v in counts for _ in range(5)]) == spread
    # An hourly series changes once or twice in an hour: that is the load moving, not noise.
    assert minute_spread([10.0] * 60 + [30.0] * 60) == 0.0
    assert minute_spread([10.0] * 30 + [30.0] * 60 + [12.0] * 30) == 0.0


def test_the_headroom_above_the_mean_is_capped_at_a_share_of_it() -> None:
    minutes: list[float | None] = [2.0, 9.0] * 30  # mean 5.5, spread 7.34: 3 sigmas are 4x the mean
    floor = noise_floor(minutes, 3.0, 1.0, 60)
    capped = noise_floor(minutes, 3.0, 1.0, 60, max_share_of_mean=1.25)
    assert floor is not None and capped is not None
    assert floor.capacity == math.ceil(5.5 + 3 * floor.spread) == 28
    assert capped.capacity == math.ceil(5.5 * 2.25) == 13
    assert capped.spread == floor.spread  # what the note shows is still the measured noise
    # Small noise is not touched by the cap.
    calm = noise_floor([100.0, 104.0] * 30, 3.0, 1.0, 60, max_share_of_mean=1.25)
    assert calm == noise_floor([100.0, 104.0] * 30, 3.0, 1.0, 60)


def test_a_minute_within_the_band_asks_for_the_noise_headroom_only() -> None:
    minutes: list[float | None] = [20.0, 28.0] * 8  # the last 15: mean 24.27, spread 8.39
    floor = noise_floor(minutes, 1.0, 6.4, 15)
    assert floor is not None and floor.capacity == math.ceil((floor.mean + floor.spread) / 6.4) == 6
    band = noise_band(minutes, floor, 3.0, 6.4 * 0.66)
    # 28 is within 24.27 + 3 x 8.39: the noise floor, or the mean at the target if more (5.75 -> 6).
    assert band is not None and band.latest == 28.0 and band.upper == floor.mean + 3 * floor.spread
    assert band.capacity == 6
    assert noise_band(minutes, floor, 3.0, 1.0) == replace(band, capacity=25)  # a low target: the mean at it
    # A minute above the band is no noise: the signals decide, as without it.
    assert noise_band([*minutes[:-1], 60.0], floor, 3.0, 6.4 * 0.66) is None
    # The latest known minute is the one judged; none known, no band.
    assert noise_band([*minutes, None, math.nan], floor, 3.0, 6.4 * 0.66) == band
    assert noise_band([None, math.nan], floor, 3.0, 6.4 * 0.66) is None
    # No noise measured (too few changes, as in an hourly series): nothing is noise.
    steady = noise_floor([10.0] * 60 + [30.0] * 15, 1.0, 6.4, 15)
    assert steady is not None and steady.spread == 0
    assert noise_band([10.0] * 60 + [30.0] * 15, steady, 3.0, 6.4 * 0.66) is None


def test_the_floor_serves_the_mean_plus_sigmas_spreads_at_full_load() -> None:
    minutes: list[float | None] = [20.0, 28.0] * 8  # mean 24, every difference 8 -> spread 8.39
    floor = noise_floor(minutes, 3.0, 6.4, 15)
    assert floor is not None
    assert floor.mean == (8 * 28 + 7 * 20) / 15  # the last 15: 28, 20, 28, ... , 28
    assert floor.capacity == math.ceil((floor.mean + 3 * floor.spread) / 6.4)
    assert noise_floor(minutes, 0.0, 6.4, 15).capacity == math.ceil(floor.mean / 6.4)  # type: ignore[union-attr]
    # Fewer than half of the window known: no floor (None and NaN are gaps).
    assert noise_floor([None] * 8 + [20.0] * 7, 3.0, 6.4, 15) is None
    assert noise_floor([math.nan] * 8 + [20.0] * 7, 3.0, 6.4, 15) is None


@given(
    st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)), min_size=0, max_size=60),
    st.floats(min_value=0, max_value=10),
    st.floats(min_value=0.1, max_value=1e4),
)
@settings(max_examples=60, deadline=None)
def test_the_floor_never_sits_below_the_mean_and_grows_with_sigmas(
    minutes: list[float | None], sigmas: float, per_instance: float
) -> None:
    floor = noise_floor(minutes, sigmas, per_instance, 15)
    if floor is None:
        return
    assert floor.capacity >= math.ceil(floor.mean / per_instance - 1e-9)
    more = noise_floor(minutes, sigmas + 1, per_instance, 15)
    assert more is not None and more.capacity >= floor.capacity


# --- the daily judgement of the noise headroom (judge_noise_headroom) ---

JUDGED_AT = datetime(2026, 11, 27, tzinfo=UTC)
WEEK_AND_A_DAY = 8 * 1440


def _judge(minutes: list[float | None], **overrides: Any) -> HeadroomVerdict | None:
    settings: dict[str, Any] = {
        "judged_at": JUDGED_AT,
        "target_fraction": 0.66,
        "sigmas": 3.0,
        "window": 60,
        "max_share_of_mean": 1.25,
        "lead": 5,
    }
    return judge_noise_headroom(minutes, **{**settings, **overrides})


def _five_minute_counts(levels: list[float]) -> list[float]:
    """A 5-minute series spread over its minutes, as the benchmark spreads NAB's tweet counts."""
    return [level for level in levels for _ in range(5)]


def test_a_random_walk_is_judged_not_to_pay_for_its_noise_headroom() -> None:
    # GIVEN 5-minute counts whose log moves as a random walk held near a level (AAPL's tweets): the
    # best guess of the next count is the last one, not the recent mean
    rng = random.Random(7)
    level, levels = math.log(40.0), []
    for _ in range(WEEK_AND_A_DAY // 5):
        level += rng.gauss(0, 0.45) - 0.05 * (level - math.log(40.0))
        levels.append(math.exp(level))
    verdict = _judge(_five_minute_counts(levels))
    # THEN the same spend at a lower target drops materially less than the floor around the mean
    assert verdict is not None and not verdict.noise_pays
    assert verdict.noise_dropped_pct - verdict.target_dropped_pct >= UNPAID_MIN_POINTS
    assert 0.5 < verdict.target_share < 1 and verdict.minutes >= JUDGE_MIN_MINUTES
    assert "does not pay" in verdict.describe()


def test_independent_noise_around_a_steady_mean_pays_for_its_noise_headroom() -> None:
    # GIVEN Poisson-like counts around a steady 40 a minute: the mean is the best guess, and the
    # last minute's value, sized at the target, chases the noise
    rng = random.Random(11)
    minutes = [max(0.0, rng.gauss(40.0, 6.3)) for _ in range(WEEK_AND_A_DAY)]
    verdict = _judge(minutes)
    assert verdict is not None and verdict.noise_pays
    assert verdict.noise_dropped_pct < verdict.target_dropped_pct


def test_a_floor_that_never_binds_is_a_tie_and_keeps_the_noise_headroom() -> None:
    # A steady load: the floor (mean + 0 spread) is below the target's capacity every minute
    verdict = _judge([100.0] * WEEK_AND_A_DAY)
    assert verdict is not None and verdict.noise_pays
    assert verdict.target_share == pytest.approx(1.0) and verdict.noise_dropped_pct == 0


def test_a_difference_within_the_dead_band_keeps_the_noise_headroom() -> None:
    def verdict(noise: float, target: float) -> HeadroomVerdict:
        return HeadroomVerdict(JUDGED_AT, WEEK_AND_A_DAY, noise, target, 0.9)

    # Hundredths of a point (a floor that binds a few % of the time) are noise, not a verdict.
    assert verdict(7.047, 7.021).noise_pays
    # A tenth of a point is not enough where target headroom drops 7 % (2 % of it is 0.14).
    assert verdict(7.13, 7.0).noise_pays
    assert not verdict(7.15, 7.0).noise_pays
    # Where drops are tiny, the tenth of a point is what binds.
    assert verdict(0.09, 0.0).noise_pays and not verdict(0.1, 0.0).noise_pays
    # A figure that is not a number (a damaged item) keeps the configured headroom.
    assert verdict(math.nan, 7.0).noise_pays and verdict(9.0, math.nan).noise_pays


def test_under_a_week_of_known_minutes_is_not_judged() -> None:
    rng = random.Random(3)
    week_less_a_minute = [rng.uniform(10, 50) for _ in range(JUDGE_MIN_MINUTES - 1)]
    assert _judge(week_less_a_minute) is None
    # Unknown minutes (gaps, NaN) do not count toward the week.
    assert _judge(week_less_a_minute + [None] * 1440 + [math.nan] * 10) is None


@pytest.mark.parametrize(
    ("field", "value"), [("target_fraction", 0.0), ("target_fraction", 1.5), ("lead", 0)]
)
def test_the_judge_refuses_settings_it_cannot_replay(field: str, value: float) -> None:
    with pytest.raises(ValueError):
        _judge([1.0] * WEEK_AND_A_DAY, **{field: value})


@settings(max_examples=25, deadline=None)
@given(scale=st.floats(min_value=0.01, max_value=1000.0), seed=st.integers(min_value=0, max_value=10_000))
def test_the_verdict_does_not_depend_on_the_units_of_the_load(scale: float, seed: int) -> None:
    # Drops are shares of the demand and the share a ratio of spends: requests per minute or per
    # second, one group or a hundred times its size, the same load gets the same verdict.
    rng = random.Random(seed)
    level, levels = math.log(40.0), []
    for _ in range(WEEK_AND_A_DAY // 5):
        level += rng.gauss(0, 0.3) - 0.1 * (level - math.log(40.0))
        levels.append(math.exp(level))
    minutes = _five_minute_counts(levels)
    base, scaled = _judge(minutes), _judge([v * scale for v in minutes])
    assert base is not None and scaled is not None
    assert scaled.noise_dropped_pct == pytest.approx(base.noise_dropped_pct, rel=1e-6, abs=1e-9)
    assert scaled.target_dropped_pct == pytest.approx(base.target_dropped_pct, rel=1e-6, abs=1e-9)
    assert scaled.target_share == pytest.approx(base.target_share, rel=1e-9)


def test_a_declared_sale_is_left_out_of_the_replay() -> None:
    first = datetime(2026, 11, 20, tzinfo=UTC)
    minutes: list[float | None] = [float(i) for i in range(10)]
    # A window from 2.5 minutes in to 5 minutes in: the minutes starting at 3 and 4 are the sale's.
    sale = (first + timedelta(minutes=2, seconds=30), first + timedelta(minutes=5))
    assert without_windows(minutes, first, [sale]) == [0, 1, 2, None, None, 5, 6, 7, 8, 9]
    # Windows before, after or around the minutes are clipped; the input is left as it was.
    before = (first - timedelta(days=1), first + timedelta(minutes=1))
    after = (first + timedelta(minutes=9), first + timedelta(days=1))
    assert without_windows(minutes, first, [before, after]) == [None, 1, 2, 3, 4, 5, 6, 7, 8, None]
    assert (
        without_windows(minutes, first, [(first - timedelta(days=2), first - timedelta(days=1))]) == minutes
    )
    assert minutes[3] == 3.0
