"""The forecaster's pure model: seasonality, gaps that are outages, the upper bound and the floor."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from surgeguard.domain.forecast import (
    BurstSettings,
    ForecastState,
    _BucketCache,
    _RiseCache,
    _Rises,
    bucketize,
    burst_came,
    burst_capacity,
    burst_factor,
    burst_factors,
    burst_judgeable,
    burst_no_show_after,
    burst_rise,
    carry_burst_run,
    due_bursts,
    fit_forecast,
    floor_steps,
    learn_bursts,
    mark_gaps,
    moved_window,
    ordinary_rise,
)

DAY = 1440


def daily_sine(start: int, minutes: int, base: float = 1000, swing: float = 500) -> list[float | None]:
    return [base + swing * math.sin(2 * math.pi * (start + i) / DAY) for i in range(minutes)]


def test_a_pure_daily_sine_is_forecast_within_a_few_percent() -> None:
    history = daily_sine(0, 3 * DAY)
    fit = fit_forecast(history, 180, 0.9)
    assert fit is not None
    truth = daily_sine(3 * DAY, 180)
    assert all(abs(p - t) / t < 0.03 for p, t in zip(fit.point, truth, strict=True) if t)
    assert fit.mape is not None and fit.mape < 0.03
    assert all(u >= p for u, p in zip(fit.upper, fit.point, strict=True))


def test_runs_of_twenty_zero_minutes_are_gaps_and_shorter_ones_demand() -> None:
    marked = mark_gaps([5.0, *[0.0] * 20, 5.0, *[0.0] * 19, 5.0, float("nan"), None, -1.0])
    assert marked[1:21] == [None] * 20
    assert marked[22:41] == [0.0] * 19
    assert marked[-3:] == [None, None, None]


def test_an_outage_of_zeros_does_not_drag_the_forecast_down() -> None:
    history = daily_sine(0, 4 * DAY)
    # Yesterday, over the very hours being forecast, the site was down: zeros, not demand.
    history[3 * DAY : 3 * DAY + 240] = [0.0] * 240
    fit = fit_forecast(history, 180, 0.9)
    assert fit is not None
    truth = daily_sine(4 * DAY, 180)
    assert all(abs(p - t) / t < 0.03 for p, t in zip(fit.point, truth, strict=True) if t)


def test_hours_without_requests_get_no_floor_from_the_hours_beside_them() -> None:
    # No request from 00:00 to 05:59 (the ALB publishes no RequestCount then: gaps), 6000/min otherwise.
    history: list[float | None] = [None if m % DAY < 360 else 6000.0 for m in range(14 * DAY)]
    # Issued at 23:00 for 3 hours: the evening's floor until midnight (and its lead), none after.
    evening = fit_forecast(history[:-60], 180, 0.9)
    assert evening is not None
    assert set(evening.point[:60]) == {6000.0} and set(evening.point[60:]) == {0.0}
    assert floor_steps(evening.upper, 1000.0, 15, 3) == (6,) * 4 + (0,) * 8
    # Issued at midnight: nothing flows in the horizon, which is what it says (not "no forecast", which
    # would leave the 23:00 item in effect)
    night = fit_forecast(history, 180, 0.9)
    assert night is not None and set(night.point) == set(night.upper) == {0.0}
    # Issued at 05:00: nothing until 06:00, then the slots' own level
    dawn = fit_forecast(history[: -DAY + 300], 120, 0.9)
    assert dawn is not None and set(dawn.point[:60]) == {0.0} and set(dawn.point[60:]) == {6000.0}


def test_not_enough_history_gives_no_forecast() -> None:
    assert fit_forecast(daily_sine(0, DAY + 600), 180, 0.9) is None
    gappy: list[float | None] = daily_sine(0, 3 * DAY)
    gappy[: 2 * DAY] = [None] * (2 * DAY)
    assert fit_forecast(gappy, 180, 0.9) is None


def test_the_floor_is_the_busiest_upper_minute_of_each_step_plus_lead_over_the_target() -> None:
    upper = [100.0] * 30 + [250.0] * 30
    assert floor_steps(upper, 100, 15, 5) == (1, 3, 3, 3)


def test_the_state_gives_the_floor_of_the_step_in_effect_until_it_expires() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    state = ForecastState("floor", t0, t0 + timedelta(hours=1), 15, (2, 5, 3, 4), 0.9, 1.2, 0.1)
    assert state.floor == 5
    assert state.floor_at(t0 + timedelta(minutes=20)) == 5
    assert state.floor_at(t0 + timedelta(hours=1)) is None
    assert state.floor_at(t0 - timedelta(minutes=16)) is None


def test_a_decision_stamped_just_before_the_item_was_issued_reads_its_first_step() -> None:
    # An alarm that changed state at 12:59:57, handled after the 13:00 run replaced the item it would
    # have read: it once got no floor at all (and scaled a floored group in), not the first step's.
    t0 = datetime(2026, 1, 1, 13, tzinfo=UTC)
    state = ForecastState("floor", t0, t0 + timedelta(hours=1), 15, (10, 5, 3, 4), 0.9, 1.2, 0.1)
    assert state.floor_at(t0 - timedelta(seconds=3)) == 10
    assert state.floor_at(t0 - timedelta(minutes=15)) == 10
    assert state.floor_at(t0 - timedelta(minutes=15, seconds=1)) is None


def test_a_decision_stamped_in_the_minute_before_the_item_reads_the_burst_run_carried_into_it() -> None:
    t0 = datetime(2026, 1, 1, 13, tzinfo=UTC)
    # due from 12:58 (carried: -2, -1) to 13:01, at a rise of 3
    state = ForecastState(
        "forecast_only",
        t0,
        t0 + timedelta(hours=1),
        15,
        (1,),
        0.9,
        1.0,
        None,
        bursts=((-2, 3.0), (-1, 3.0), (0, 3.0)),
    )
    assert state.burst_at(t0 - timedelta(seconds=3)) == 3.0
    assert state.burst_run_start(t0 - timedelta(seconds=3)) == t0 - timedelta(minutes=2)
    # ... and so does a decision stamped two minutes back (a late alarm): the carried run is what the
    # replaced item had due then; before the run, nothing is
    assert state.burst_at(t0 - timedelta(minutes=1, seconds=1)) == 3.0
    assert state.burst_run_start(t0 - timedelta(minutes=1, seconds=1)) == t0 - timedelta(minutes=2)
    assert state.burst_at(t0 - timedelta(minutes=2, seconds=1)) == 1.0


def test_a_step_of_under_a_minute_gives_no_floor_rather_than_failing() -> None:
    # No forecaster writes one (a damaged item): the floor cannot be told, and nothing divides by zero.
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for step in (0, -15):
        state = ForecastState("floor", t0, t0 + timedelta(hours=1), step, (2, 5, 3, 4), 0.9, 1.2, 0.1)
        assert state.floor_at(t0 + timedelta(minutes=20)) is None


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.floats(min_value=0, max_value=1e6), st.just(0.0)), min_size=1, max_size=60
    ),
    st.floats(min_value=0.51, max_value=0.99),
)
def test_forecasts_and_floors_are_never_negative(pattern: list[float | None], percentile: float) -> None:
    # Any minute pattern (gaps, zero runs, spikes) repeated over three days.
    history = [pattern[i % len(pattern)] for i in range(3 * DAY)]
    fit = fit_forecast(history, 120, percentile)
    if fit is None:
        return
    assert all(p >= 0 and math.isfinite(p) for p in fit.point)
    assert all(u >= p for u, p in zip(fit.upper, fit.point, strict=True))
    assert min(floor_steps(fit.upper, 50.0, 15, 6)) >= 0


@settings(max_examples=15, deadline=None)
@given(st.floats(min_value=10, max_value=1e5), st.floats(min_value=0, max_value=0.9), st.integers(0, DAY - 1))
def test_any_daily_sine_is_forecast_within_a_few_percent(base: float, swing: float, phase: int) -> None:
    history = daily_sine(phase, 3 * DAY, base, base * swing)
    fit = fit_forecast(history, 120, 0.9)
    assert fit is not None
    truth = daily_sine(phase + 3 * DAY, 120, base, base * swing)
    assert max(abs(p - t) / t for p, t in zip(fit.point, truth, strict=True)) < 0.05


# Burst anticipation: rises that recur at the same minute of the day.
def test_a_rise_is_the_busiest_lead_minute_over_the_level_before() -> None:
    minutes: list[float | None] = [100.0] * 10 + [100.0, 150.0, 100.0, 400.0, 100.0, 100.0, 100.0, 100.0]
    burst = BurstSettings(lead_minutes=5, level_minutes=10)
    assert burst_rise(minutes, 10, burst) == 4.0  # minutes 9..16 seen from minute 10
    assert burst_rise(minutes, 12, burst) is None  # its lead window has not happened yet
    assert burst_rise(minutes, 5, burst) is None  # no full level window before it
    gappy: list[float | None] = [math.nan] * 6 + [100.0] * 4 + [400.0] * 8
    assert burst_rise(gappy, 10, burst) is None  # fewer than half of the level minutes known


def _rise_by_definition(minutes: list[float | None], t: int, burst: BurstSettings) -> float | None:
    """`burst_rise` as its docstring defines it, with filtered lists: the fast table must agree."""
    width, lead = burst.level_minutes, burst.lead_minutes
    if t < width or t + lead + 2 > len(minutes):
        return None
    level = [v for v in minutes[t - width : t] if v is not None and v == v]
    ahead = [v for v in minutes[t - 1 : t + lead + 2] if v is not None and v == v]
    if len(level) * 2 < width or not ahead or sum(level) <= 0:
        return None
    return max(ahead) / (sum(level) / len(level))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32), st.floats(min_value=0, max_value=0.4))
def test_burst_factors_agree_with_the_definition_minute_by_minute(seed: int, gap_share: float) -> None:
    rng = random.Random(seed)
    # The definition has no backtest gate.
    burst = BurstSettings(days=2, rank=1, min_lift=0.0, max_burst_share=1.0, hourly_min_lift=0.0)
    history: list[float | None] = [
        None if rng.random() < gap_share else math.nan if rng.random() < 0.05 else rng.choice([0, 1, 7.5, 40])
        for _ in range(2 * 1440 + 60)
    ]
    horizon = 40
    marked = mark_gaps(history)
    now = len(history)
    for t in [*range(0, now + horizon), *rng.sample(range(now), 50)]:
        assert burst_rise(marked, t, burst) == _rise_by_definition(marked, t, burst)
    threshold = max(burst.threshold, ordinary_rise(marked, now, burst) * burst.over_ordinary)
    expected = tuple(
        max(
            burst_factor(
                [_rise_by_definition(marked, now + f - 1440 * d, burst) for d in (1, 2)], burst, threshold
            ),
            _hourly_by_definition(
                [_rise_by_definition(marked, now + f % 60 - 60 * k, burst) for k in range(1, 49)],
                burst,
                threshold,
            ),
        )
        for f in range(horizon)
    )
    assert burst_factors(history, horizon, burst) == expected


def _hourly_by_definition(rises: list[float | None], burst: BurstSettings, threshold: float) -> float:
    """The minute-of-the-hour rule as `BurstSettings` words it: the rise that `hourly_share` of the known
    hours reached, if it clears the threshold and enough hours are known."""
    known = [r for r in rises if r is not None]
    if len(known) < burst.hourly_min_hours:
        return 1.0
    reached = [r for r in known if sum(other >= r for other in known) >= burst.hourly_share * len(known)]
    rise = max(reached)
    return rise if rise >= threshold else 1.0


def test_the_factor_needs_the_rise_on_rank_days_and_above_the_noise() -> None:
    burst = BurstSettings(rank=2, threshold=1.3)
    assert burst_factor([4.0, None, 3.5, 1.0, 1.1, None, 1.0], burst) == 3.5
    assert burst_factor([4.0, 1.1, 1.0, 1.0, 1.1, 1.0, 1.0], burst) == 1.0  # one odd day
    assert burst_factor([1.2, 1.25, 1.1], burst) == 1.0  # noise
    assert burst_factor([None, 4.0], burst) == 1.0  # fewer known days than the rank


def daily_burst_history(days: int, burst_at: int, burst_days: set[int]) -> list[float | None]:
    history: list[float | None] = []
    for day in range(days):
        for minute in range(1440):
            burst = day in burst_days and burst_at <= minute < burst_at + 6
            history.append(400.0 if burst else 100.0)
    return history


def test_factors_anticipate_a_burst_that_recurs_at_the_same_minute_of_the_day() -> None:
    # Eight days with a 4x burst at 10:30 on three of the last seven; the history ends at midnight.
    history = daily_burst_history(8, 630, {2, 4, 6})
    factors = burst_factors(history, 720)
    assert factors[630] == 4.0 and factors[630 - 5] == 4.0  # lead minutes ahead of it
    # Nothing long before it, nor once its minutes have left the level window.
    assert set(factors[: 630 - 6]) == {1.0} and set(factors[630 + 6 + 10 :]) == {1.0}
    # Seen on one day only: an odd spike, not a pattern.
    assert set(burst_factors(daily_burst_history(8, 630, {6}), 720)) == {1.0}


def test_bursts_the_last_day_did_not_bring_where_due_are_not_anticipated() -> None:
    # Due at 10:30 on the last day by the rule (seen on two of the days before it), but that day's burst
    # came at 15:00: backtested on that day, the learning foretold nothing, so nothing is anticipated.
    history = daily_burst_history(8, 630, {2, 4, 6})
    history[7 * 1440 + 900 : 7 * 1440 + 906] = [400.0] * 6
    missed = learn_bursts(history, 720)
    assert missed.distrusted and missed.lift == 0.0 and set(missed.factors) == {1.0}
    # Present where due: a burst came at nearly every minute the rule named, and at few others.
    kept = learn_bursts(daily_burst_history(8, 630, {3, 5, 7}), 720)
    assert not kept.distrusted and kept.lift is not None and kept.lift > 50
    assert kept.factors[630] == 4.0
    # A last day with no burst at all is passed over for the day before, which had one where due: every
    # other day is a pattern too.
    quiet_day = learn_bursts(daily_burst_history(8, 630, {2, 4, 6}), 720)
    assert quiet_day.lift is not None and quiet_day.lift > 50
    assert not quiet_day.distrusted and quiet_day.factors[630] == 4.0
    # Nothing ever anticipated: nothing to judge, nothing withheld.
    assert learn_bursts(daily_burst_history(8, 630, set()), 720).lift is None


def test_a_rule_a_day_disproved_is_not_trusted_again_on_the_quiet_days_after() -> None:
    # The bursts at 10:30 stop: the last day with one brought it at 15:00 (where the rule foretold
    # nothing), and the two days since were quiet. Judged on the last day alone, quiet, the rule was
    # trusted again, and the stopped job's bursts pre-warmed for a week (ec2 NetworkIn).
    history = daily_burst_history(10, 630, {2, 4, 6})
    history[7 * 1440 + 900 : 7 * 1440 + 906] = [400.0] * 6
    learned = learn_bursts(history, 720)
    assert learned.lift == 0.0 and learned.distrusted and set(learned.factors) == {1.0}
    # ... and a day that confirmed it still counts after quiet days: bursts on weekdays, the last two
    # days a weekend; the rule is judged on Friday, where it foretold the burst.
    weekdays = {0, 1, 2, 3, 4, 7, 8, 9, 10, 11}
    monday = learn_bursts(daily_burst_history(14, 630, weekdays), 720)
    assert not monday.distrusted and monday.lift is not None and monday.lift > 50
    assert monday.factors[630] == 4.0
    # The day with a burst is judged alone: the quiet day after it neither raises its lift (a day that
    # foretold one of its 21 bursts, 0.86x chance, stays distrusted) nor lowers it (a day that foretold
    # its 10:00 burst, among 20 others new that day, stays trusted).
    flat = BurstSettings(hourly_share=0.0)
    disproving = [100.0] * (14 * 1440)
    confirming = [100.0] * (14 * 1440)
    for minute in range(60, 601, 60):
        disproving[6 * 1440 + minute] = disproving[9 * 1440 + minute] = 500.0
    disproving[12 * 1440 + 60] = 500.0
    for day in (10, 11, 12):
        confirming[day * 1440 + 60] = 500.0
    for k in range(20):
        disproving[12 * 1440 + 700 + 30 * k] = 500.0
        confirming[11 * 1440 + 700 + 30 * k] = confirming[12 * 1440 + 700 + 30 * k] = 500.0
    for history, distrusted in ((disproving, True), (confirming, False)):
        on_the_day = learn_bursts(history[: 13 * 1440], 1440, flat)
        after_a_quiet_day = learn_bursts(history, 1440, flat)
        assert on_the_day.distrusted is after_a_quiet_day.distrusted is distrusted
        # (its last few minutes, too recent to judge on the day, are judged the day after)
        assert after_a_quiet_day.lift == pytest.approx(on_the_day.lift, rel=0.01)
    # No burst in all the days judged: nothing to judge by, nothing withheld.
    judged_two = BurstSettings(judged_days=2)
    assert learn_bursts(daily_burst_history(14, 630, weekdays), 720, judged_two).lift is None


def few_requests_counted_over_5_minutes(seed: int) -> list[float | None]:
    """Eight days of a few requests a minute counted over 5 minutes (NAB's ELB and sparse tweet traces):
    each count a fresh draw, held for its 5 minutes."""
    rng = random.Random(seed)
    history: list[float | None] = []
    for _ in range(8 * 1440 // 5):
        history += [rng.choice([1.0, 2.0, 3.0, 6.0, 12.0])] * 5
    return history


def test_bursts_that_recur_no_more_than_chance_are_not_anticipated() -> None:
    # A few requests a minute counted over 5 minutes (the ELB trace): each count a fresh draw, so
    # "rises" clear the threshold at random minutes, some on two of seven days by chance alone.
    history = few_requests_counted_over_5_minutes(seed=5)
    ungated = learn_bursts(history, 720, BurstSettings(min_lift=0.0, max_burst_share=1.0))
    assert any(f > 1.0 for f in ungated.factors)  # without the backtest, noise buys capacity
    learned = learn_bursts(history, 720)
    assert learned.lift is not None and learned.lift < BurstSettings().min_lift
    assert learned.distrusted and set(learned.factors) == {1.0}


def test_bursts_as_common_as_a_quarter_of_the_minutes_are_noise_whatever_the_lift() -> None:
    # GIVEN a few requests a minute counted over 5 minutes (NAB's PFE tweets), a draw whose backtest foretold
    # the last day's "bursts" 1.3x as often as chance, where 29 % of that day's minutes burst
    history = few_requests_counted_over_5_minutes(seed=42)
    lax = learn_bursts(history, 720, BurstSettings(max_burst_share=1.0))
    assert lax.lift is not None and lax.lift >= BurstSettings().min_lift and not lax.distrusted
    assert any(f > 1.0 for f in lax.factors)  # the lift alone would buy capacity at noise
    # WHEN learned as the forecaster learns
    learned = learn_bursts(history, 720)
    # THEN a burst that common is the noise: set aside, with the same lift and the share that set it aside
    assert learned.burst_share is not None and learned.burst_share > BurstSettings().max_burst_share
    assert learned.lift == lax.lift and learned.burst_share == lax.burst_share
    assert learned.distrusted and set(learned.factors) == {1.0}
    # AND a burst that recurs where due, in a few minutes of the day, keeps its trust
    kept = learn_bursts(daily_burst_history(8, 630, {3, 5, 7}), 720)
    assert kept.burst_share is not None and kept.burst_share < BurstSettings().max_burst_share
    assert not kept.distrusted and kept.factors[630] == 4.0


def test_noise_alone_is_not_a_burst_however_low_the_counts() -> None:
    # A few requests a minute (nasa-aug95 per instance): Poisson noise makes the busiest of eight
    # minutes 1.5x the mean and more on most days, but no minute rises above the group's ordinary rise.
    rng = random.Random(7)

    def poisson(mean: float) -> float:
        count, threshold, product = 0, math.exp(-mean), rng.random()
        while product > threshold:
            count, product = count + 1, product * rng.random()
        return float(count)

    quiet = [poisson(20.0) for _ in range(8 * 1440)]
    ordinary = ordinary_rise(mark_gaps(quiet), len(quiet))
    assert 1.3 < ordinary < 2.0
    factors = burst_factors(quiet, 720)
    assert sum(f > 1.0 for f in factors) <= 0.02 * len(factors)  # the old fixed 1.3 flagged most
    # The same noise with a 4x burst at 10:30 on three of the last seven days: that still stands out.
    for day in (2, 4, 6):
        for minute in range(630, 636):
            quiet[day * 1440 + minute] = poisson(80.0)
    assert burst_factors(quiet, 720)[630 - 3] > 2.5


def test_the_forecast_item_keeps_only_the_due_minutes_and_answers_by_the_clock() -> None:
    issued = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    bursts = due_bursts([1.0, 1.0, 2.5, 3.0, 1.0])
    assert bursts == ((2, 2.5), (3, 3.0))
    state = ForecastState(
        "forecast_only", issued, issued + timedelta(hours=1), 15, (4,), 0.9, 1.2, None, bursts
    )
    assert state.burst_at(issued + timedelta(minutes=2, seconds=30)) == 2.5
    assert state.burst_at(issued + timedelta(minutes=4)) == 1.0
    assert state.burst_at(issued - timedelta(days=1, minutes=-3)) == 1.0  # outside its validity
    # 600 requests/min x 2.5 at 200 per instance: 7.5 -> 8 instances; exact products do not round up.
    assert burst_capacity(600.0, 2.5, 200.0) == 8 and burst_capacity(400.0, 2.5, 200.0) == 5


def test_the_forecast_item_tells_when_the_anticipation_of_a_due_burst_began() -> None:
    issued = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    bursts = due_bursts([1.0, 2.0, 2.5, 3.0, 1.0, 1.0, 2.0])
    state = ForecastState(
        "forecast_only", issued, issued + timedelta(hours=1), 15, (4,), 0.9, 1.2, None, bursts
    )
    minute = timedelta(minutes=1)
    assert state.burst_run_start(issued + 3 * minute + timedelta(seconds=20)) == issued + minute
    assert state.burst_run_start(issued + minute) == issued + minute
    assert state.burst_run_start(issued + 6 * minute) == issued + 6 * minute  # a run of its own
    assert state.burst_run_start(issued + 4 * minute) is None  # nothing due
    assert state.burst_run_start(issued + timedelta(hours=1, minutes=1)) is None  # outside its validity


def test_a_run_of_due_minutes_that_goes_on_across_a_forecaster_run_began_under_the_last_item() -> None:
    # A burst at 12:02 every day, lead 5: due from 11:56. The 11:00 run's item holds 11:56-11:59, the
    # 12:00 run's 12:00 on: the anticipation began at 11:56 all the same, and its burst is judged come or
    # not lead + 2 minutes later, at 12:03 (it was 12:07: the new item restarted the clock).
    settings = BurstSettings(lead_minutes=5)
    day = datetime(2026, 11, 27, tzinfo=UTC)
    history = [3000.0 if 722 <= m % DAY < 728 else 1000.0 for m in range(9 * DAY)]

    def item(hour: int, previous: ForecastState | None = None) -> ForecastState:
        issued = day.replace(hour=hour)
        learned = learn_bursts(history[: 8 * DAY + hour * 60], 60, settings)
        bursts = carry_burst_run(previous, issued, due_bursts(learned.factors))
        return ForecastState(
            "forecast_only", issued, issued + timedelta(hours=1), 15, (1,) * 4, 0.9, 1.0, None, bursts
        )

    eleven = item(11)
    noon = item(12, eleven)
    began = day.replace(hour=11, minute=56)
    assert eleven.burst_run_start(day.replace(hour=11, minute=59)) == began
    for minute in range(0, 4):
        assert noon.burst_run_start(day.replace(hour=12, minute=minute)) == began
    assert burst_judgeable(int((day.replace(hour=12, minute=3) - began) / timedelta(minutes=1)), settings)
    # The carried minutes are due to a decision stamped in them (what the replaced item said then), and
    # the horizon's due minutes are as learned
    assert noon.burst_at(day.replace(hour=11, minute=58)) == eleven.burst_at(day.replace(hour=11, minute=58))
    assert noon.burst_at(day.replace(hour=11, minute=58)) > 1.0
    assert noon.horizon_bursts == item(12).bursts and noon.horizon_bursts[0][0] == 0
    assert [at for at, _ in noon.bursts if at < 0] == [-4, -3, -2, -1]
    # Nothing is carried when the new item's first minute is not due, or the run ended before it
    assert carry_burst_run(eleven, day.replace(hour=12), ((1, 2.0),)) == ((1, 2.0),)
    assert carry_burst_run(eleven, day.replace(hour=11, minute=55), ((0, 2.0),)) == ((0, 2.0),)
    # ... or the last item is not in effect the minute before
    assert carry_burst_run(eleven, day.replace(hour=13, minute=1), ((0, 2.0),)) == ((0, 2.0),)
    assert carry_burst_run(None, day.replace(hour=12), ((0, 2.0),)) == ((0, 2.0),)


LEVEL_BEFORE = [100.0] * 10  # the ten minutes before the anticipation began


def test_a_burst_minute_not_yet_published_is_no_no_show_until_the_allowance_has_passed() -> None:
    # The ALB publishes a minute's RequestCount after it ends: at 7 minutes in, the burst's first minute
    # (the 7th) may have no datapoint yet. Judged a no-show then, its floor was let go as it arrived.
    settings = BurstSettings(lead_minutes=5)
    unpublished = LEVEL_BEFORE + [105.0] * 6 + [None]
    assert burst_came(unpublished, 7, 3.0, settings) is None
    assert burst_came(unpublished + [None], 8, 3.0, settings) is None
    # ... its datapoint in: judged on it
    assert burst_came(LEVEL_BEFORE + [105.0] * 6 + [200.0], 7, 3.0, settings) is True
    # ... none within the allowance (2 minutes): a minute with no datapoint had no requests
    assert burst_came(unpublished + [None, None], 9, 3.0, settings) is False
    # a pre-burst minute missing says nothing of the burst: judged as before
    assert burst_came(LEVEL_BEFORE + [None] + [105.0] * 6, 7, 3.0, settings) is False


def test_a_burst_came_when_demand_reached_half_its_rise_over_the_level_before() -> None:
    settings = BurstSettings(lead_minutes=5)  # its first minute shows 7 minutes in
    assert burst_no_show_after(settings) == 7
    quiet = LEVEL_BEFORE + [105.0] * 7
    # 3x anticipated: it came at 200 a minute (1 + 0.5 x 2 = 2x the level before), not at 190
    assert burst_came(quiet[:-1] + [200.0], 7, 3.0, settings) is True
    assert burst_came(quiet[:-1] + [190.0], 7, 3.0, settings) is False
    assert burst_came(quiet, 7, 3.0, settings) is False
    # a burst a few minutes early is the burst all the same
    assert burst_came(LEVEL_BEFORE + [250.0] + [105.0] * 8, 9, 3.0, settings) is True
    # too early to tell: the burst's first minute has not shown yet
    assert burst_came(quiet[:-1], 6, 3.0, settings) is None
    # nothing to tell by: the level before unknown (fewer than half its minutes), or every minute since
    assert burst_came([None] * 6 + [100.0] * 4 + [105.0] * 7, 7, 3.0, settings) is None
    assert burst_came(LEVEL_BEFORE + [None] * 7, 7, 3.0, settings) is None
    # and never with the share at 0 (every anticipated floor held through its window)
    assert burst_came(quiet, 7, 3.0, BurstSettings(lead_minutes=5, no_show_share=0.0)) is None


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(min_value=0, max_value=1e4), min_size=10, max_size=10),
    st.lists(st.floats(min_value=0, max_value=1e4), min_size=7, max_size=30),
    st.floats(min_value=1.01, max_value=10),
    st.floats(min_value=0, max_value=1e4),
)
def test_more_demand_since_never_turns_a_burst_that_came_into_one_that_did_not(
    before: list[float], since: list[float], rise: float, more: float
) -> None:
    settings = BurstSettings(lead_minutes=5)
    came = burst_came(before + since, len(since), rise, settings)
    more_since = [value + more for value in since]
    if came:
        assert burst_came(before + more_since, len(since), rise, settings)
    # and a lower level before never does either
    if came and sum(before) > 0:
        assert burst_came([value / 2 for value in before] + since, len(since), rise, settings)


def test_an_outage_of_zeros_is_neither_a_level_nor_a_rise() -> None:
    history = daily_burst_history(8, 630, set())
    for day in (5, 6):  # two outages from 10:00 to 11:00 that end in a normal level
        start = day * 1440 + 600
        history[start : start + 60] = [0.0] * 60
    assert set(burst_factors(history, 720)) == {1.0}


@given(
    st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e6)), min_size=0, max_size=3000),
    st.integers(min_value=1, max_value=90),
)
@settings(max_examples=30, deadline=None)
def test_factors_are_one_or_a_rise_above_the_threshold(history: list[float | None], horizon: int) -> None:
    factors = burst_factors(history, horizon, BurstSettings(days=2))
    assert len(factors) == horizon
    assert all(f == 1.0 or f >= BurstSettings().threshold for f in factors)


# Sliding windows over runs of zeros, gaps of every kind and values, moved on by whole buckets or not.
given_sliding_windows = given(
    runs=st.lists(
        st.tuples(
            st.sampled_from([0.0, 7.0, None, -1.0, math.nan, 3]),
            st.integers(min_value=1, max_value=45),
        ),
        min_size=30,
        max_size=60,
    ),
    width=st.integers(min_value=10, max_value=200),
    moves=st.lists(st.sampled_from([0, 1, 5, 10, 15, 60]), min_size=2, max_size=12),
)


def _sliding_windows(source: list[float | None], width: int, moves: list[int]) -> list[list[float | None]]:
    windows, end = [], width
    for move in moves:
        windows.append(source[end - width : end])
        end += move
    return windows


@settings(max_examples=40, deadline=None)
@given_sliding_windows
def test_refits_of_a_sliding_window_bucket_as_a_fresh_fit_would(
    runs: list[tuple[float | None, int]], width: int, moves: list[int]
) -> None:
    # The refit cache reuses the previous window's buckets: zero runs cut by either end of the overlap,
    # moves that are not whole buckets and gaps of every kind must still give the fresh answer.
    source = [float(i % 97) if value == 7.0 else value for value, length in runs for i in range(length)]
    source += [float(i % 50) for i in range(width + sum(moves))]
    cache = _BucketCache()
    for window in _sliding_windows(source, width, moves):
        assert repr(cache.of(window)) == repr(bucketize(mark_gaps(window)))


@settings(max_examples=40, deadline=None)
@given_sliding_windows
def test_refits_of_a_sliding_window_rise_as_a_fresh_run_would(
    runs: list[tuple[float | None, int]], width: int, moves: list[int]
) -> None:
    # The burst learner keeps the previous run's rises where the window's gap marking is unchanged:
    # every minute, the window's edges and zero runs cut by them included, must give the fresh rise.
    source = [float(i % 97) if value == 7.0 else value for value, length in runs for i in range(length)]
    source += [float(i % 50) for i in range(width + sum(moves))]
    cache, burst = _RiseCache(), BurstSettings()
    every = range(-2, width + 2)
    for window in _sliding_windows(source, width, moves):
        marked, rises = cache.of(window, burst)
        assert repr(marked) == repr(mark_gaps(window))
        fresh = _Rises(mark_gaps(window), burst).many(every)
        # A span of the carried-over rises (the hourly rule's read), then every minute one by one.
        assert repr(rises.span(every.start, every.stop)) == repr(fresh)
        assert repr(rises.many(every)) == repr(fresh)


def test_a_window_of_hourly_rows_moved_on_an_hour_is_found_moved_on() -> None:
    # A trace of hourly (or 5-minute) rows repeats each row's object over its minutes, so the old last
    # minute's object ends the new window at several shifts. Only the true one holds the whole overlap:
    # taking the first, every hourly refit of appserver's five years was a full fit.
    rows = [float(1000 + 7 * (row % 24)) + row / 1e6 for row in range(12)]
    source: list[float | None] = [value for value in rows for _ in range(60)]
    old, moved = source[30:630], source[90:690]  # a window ending mid-row, moved on an hour
    assert moved_window(old, moved, 1) == (60, 0, 540)
    cache, burst = _RiseCache(), BurstSettings()
    cache.of(old, burst)
    _, rises = cache.of(moved, burst)
    assert repr(rises.many(range(600))) == repr(_Rises(mark_gaps(moved), burst).many(range(600)))


def test_the_refit_cache_reuses_the_very_same_minutes_only() -> None:
    # -0.0 == 0.0, but the busiest of five -0.0 minutes is -0.0: equal values are not the same input.
    window: list[float | None] = [0.0] * 5 + [float(i) for i in range(1, 96)]
    cache = _BucketCache()
    cache.of(window)
    signed = [-0.0] * 5 + window[5:]
    fresh = bucketize(mark_gaps(signed))
    assert repr(fresh[1][0]) == "-0.0"
    assert repr(cache.of(signed)) == repr(fresh)


def hourly_burst_history(days: int, minute: int, share: float, seed: int = 3) -> list[float | None]:
    """A level of 100 a minute with a 4x burst of 5 minutes starting at `minute` past the hour, in a
    random `share` of the hours: too seldom at any one minute of the day to recur there on two days."""
    rng = random.Random(seed)
    history: list[float | None] = [100.0] * (days * 1440)
    for hour in range(days * 24):
        if rng.random() < share:
            start = hour * 60 + minute
            history[start : start + 5] = [400.0] * 5
    return history


def test_a_burst_at_the_same_minute_of_many_hours_is_anticipated_every_hour() -> None:
    # Twitter's surges start at :02 and :32 in every hour of the day, each in a fraction of the hours.
    history = hourly_burst_history(8, 32, 0.4)
    daily_only = learn_bursts(history, 180, BurstSettings(hourly_share=0.0))
    learned = learn_bursts(history, 180)
    assert learned.hourly_lift is not None and learned.hourly_lift > 3 and not learned.hourly_distrusted
    # The history ends on the hour: due a lead ahead of :32 in each of the next three hours, not between.
    for hour in range(3):
        assert learned.factors[hour * 60 + 32 - 5] == 4.0
        assert learned.factors[hour * 60 + 10] == 1.0
    # ... where the minute-of-the-day rule alone misses some of those hours.
    assert any(daily_only.factors[hour * 60 + 32 - 5] == 1.0 for hour in range(3))


def test_an_hourly_burst_is_anticipated_from_the_third_day_on() -> None:
    # A day of hours to learn from and the last day to confirm on: two days of history are enough (at 48
    # hours it took three, and twitter's second and third days went unanticipated at :32).
    history = hourly_burst_history(2, 32, 0.4)
    learned = learn_bursts(history, 180)
    assert learned.hourly_lift is not None and not learned.hourly_distrusted
    assert [learned.factors[hour * 60 + 32 - 5] for hour in range(3)] == [4.0] * 3
    daily_only = learn_bursts(history, 180, BurstSettings(hourly_share=0.0))
    assert learned.factors != daily_only.factors
    at_two_days = learn_bursts(history, 180, BurstSettings(hourly_min_hours=48))
    assert at_two_days.hourly_lift is None and at_two_days.factors == daily_only.factors
    # A day alone has nothing to confirm on: the hourly rule is off.
    one_day = hourly_burst_history(1, 32, 0.4)
    assert (
        learn_bursts(one_day, 180).factors
        == learn_bursts(one_day, 180, BurstSettings(hourly_share=0.0)).factors
    )


def test_an_hourly_burst_too_rare_or_gone_on_the_last_day_is_not_anticipated() -> None:
    # In a tenth of the hours: under the share, the hourly rule adds nothing to the daily one's.
    rare = hourly_burst_history(8, 32, 0.1)
    assert burst_factors(rare, 180) == burst_factors(rare, 180, BurstSettings(hourly_share=0.0))
    assert burst_factors(rare, 180, BurstSettings(hourly_share=0.05))[32 - 5] > 1.0  # but at a twentieth
    # The pattern moved to :47 on the last day: learned without that day, the rule foretold :32 there.
    history = hourly_burst_history(7, 32, 0.4) + hourly_burst_history(1, 47, 0.6, seed=4)
    learned = learn_bursts(history, 180)
    assert learned.hourly_lift is not None and learned.hourly_distrusted
    assert learned.factors[32 - 5] == 1.0


def test_noise_at_random_minutes_teaches_no_minute_of_the_hour() -> None:
    # 5-minute counts of a few requests (the ELB trace): every minute of the hour is as likely to rise.
    history = few_requests_counted_over_5_minutes(seed=9)
    learned = learn_bursts(history, 180)
    assert learned.hourly_lift is None or learned.hourly_distrusted or set(learned.factors) == {1.0}
    assert set(learned.factors) == {1.0}


def test_a_weekly_batch_keeps_its_week_term() -> None:
    # Every week the same hour runs at 5x (a batch: its neighbouring buckets rise with it). A clamp of
    # the week term to 2x the days' median once halved its floor; the glitch filter keeps it whole.
    n = 14 * 1440
    history = [1000.0] * n
    for i in range(n - 7 * 1440, n - 7 * 1440 + 60):  # a week before the forecast's first hour
        history[i] = 5000.0
    fit = fit_forecast(history, 60, 0.9)
    assert fit is not None
    # the days' median (1000) and the week (5000) in equal parts
    assert min(fit.upper) >= 2900


@pytest.mark.parametrize(
    "minutes",
    [(10,), (14, 15), (12, 13, 14, 15, 16, 17)],
    ids=["one", "two-across-buckets", "six-minute-storm"],
)
def test_a_short_glitch_a_week_ago_does_not_move_the_floor(minutes: tuple[int, ...]) -> None:
    # A glitch across a bucket boundary raises both buckets: a filter on each bucket's two neighbours
    # let 2 minutes through (a floor of 1012 beside a need of 11); the median of 15 minutes each side
    # does not
    n = 14 * 1440
    clean = [1000 + 300 * math.sin(2 * math.pi * i / 1440) for i in range(n)]
    glitched = list(clean)
    for minute in minutes:
        glitched[n - 7 * 1440 + minute] = 1_000_000.0
    fits = [fit_forecast(history, 60, 0.9) for history in (clean, glitched)]
    assert fits[0] is not None and fits[1] is not None
    assert floor_steps(fits[1].upper, 100.0, 15, 5) == floor_steps(fits[0].upper, 100.0, 15, 5)


def test_one_glitch_minute_a_week_ago_does_not_move_the_floor() -> None:
    # With 14 days of history the week term is one 5-minute bucket: a 1,000,000 minute a week ago (a
    # retry storm, a load test) once set a floor of 1012 beside a need of 11, a week later.
    n = 14 * 1440
    clean = [1000 + 300 * math.sin(2 * math.pi * i / 1440) for i in range(n)]
    glitched = list(clean)
    glitched[n - 7 * 1440 + 10] = 1_000_000.0
    fits = [fit_forecast(history, 60, 0.9) for history in (clean, glitched)]
    assert fits[0] is not None and fits[1] is not None
    calm, after = (floor_steps(fit.upper, 100.0, 15, 5) for fit in fits)
    # the glitch bucket stands over 2x both its neighbours: taken for one, and the floor stays the calm one
    assert after == calm
