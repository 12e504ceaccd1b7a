"""The forecaster's pure model: seasonality, gaps that are outages, the upper bound and the floor."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from surgeguard.domain.forecast import ForecastState, fit_forecast, floor_steps, mark_gaps

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
    assert state.floor_at(t0 - timedelta(minutes=1)) is None


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
