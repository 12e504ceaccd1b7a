"""Seasonal forecast of the request rate and the capacity floor it implies; pure Python, no I/O.

History is per-minute requests (None in gaps, oldest first, the last minute just before now). Runs of
20 or more zero minutes are outages, not demand (BENCHMARK.md): they become gaps and never enter the fit.

Model (seasonal naive with level, on 5-minute buckets): a future bucket is forecast from the same slot
1..7 days earlier (median: one odd day does not move it) and 1..2 weeks earlier (mean), each scaled by
how the last hour compares with the same hour that many days earlier (clamped to [0.5, 2]); daily and
weekly estimates are averaged when both exist. A backtest over the last day (rolling origins, the same
horizon) gives the MAPE and the relative error of the busiest minute of each bucket against its
forecast; the requested percentile of that error turns the point forecast into an upper bound.
One fit is O(history): prefix sums for the level windows, a few lags per bucket.
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # headroom and anchors import this module
    from surgeguard.domain.anchors import AnchorVerdict
    from surgeguard.domain.headroom import HeadroomVerdict

BUCKET_MINUTES = 5
DAY = 1440 // BUCKET_MINUTES
WEEK = 7 * DAY
ZERO_RUN_GAP_MINUTES = 20
LEVEL_BUCKETS = 60 // BUCKET_MINUTES
# No floor until this much non-gap history exists (two days: one to fit from, one to backtest on).
MIN_HISTORY_BUCKETS = 2 * DAY
_DAILY_LAGS = tuple(d * DAY for d in range(1, 8))
_WEEKLY_LAGS = (WEEK, 2 * WEEK)
_LEVEL_CLAMP = (0.5, 2.0)
# A week-term bucket this far from the median of the 7 buckets around it (15 minutes each side) is
# taken for a glitch, and read as that median.
_GLITCH_RATIO = 2.0
_GLITCH_REACH = 3


def _median_of_sorted(values: Sequence[float]) -> float:
    """The median of `values`, already sorted and not empty (as `statistics.median` takes it)."""
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def _unglitched(means: Sequence[float | None], index: int, origin: int) -> float | None:
    """Bucket `index`, unless it stands over `_GLITCH_RATIO` x, or under 1 / `_GLITCH_RATIO` of, the
    median of the buckets within `_GLITCH_REACH` of it (before `origin`): then that median. With 14
    days of history the week term is one bucket, and a glitch of one to three buckets in it (a retry
    storm, a load test, a short outage) once set a floor of 306 beside a need of 3, a week later; a
    weekly batch lasts longer, and the median around it rises with it. (A clamp of the week term to a
    multiple of the days' median halved a weekly batch's floor, and wiped a job on a quiet slot.)"""
    value = means[index]
    if value is None:
        return None
    around = sorted(
        v
        for k in range(index - _GLITCH_REACH, index + _GLITCH_REACH + 1)
        if 0 <= k < origin and (v := means[k]) is not None
    )
    if len(around) < _GLITCH_REACH * 2:
        return value
    median = _median_of_sorted(around)
    if value > _GLITCH_RATIO * median or value * _GLITCH_RATIO < median:
        return median
    return value


_MIN_BACKTEST = 12
CEIL_TOLERANCE = 1e-9


def mark_gaps(minutes: Sequence[float | None]) -> list[float | None]:
    """None for missing, non-finite or negative minutes and for every run of >= 20 zero minutes."""
    out: list[float | None] = [
        v if v is not None and 0 <= v < math.inf else None  # NaN fails both comparisons
        for v in minutes
    ]
    position, length = 0, len(out)
    while True:
        try:
            first = out.index(0.0, position)  # jumps in C to the next zero: zeros are rare
        except ValueError:
            return out
        last = first
        while last < length and out[last] == 0:
            last += 1
        if last - first >= ZERO_RUN_GAP_MINUTES:
            out[first:last] = [None] * (last - first)
        position = last


def bucketize(minutes: Sequence[float | None]) -> tuple[list[float | None], list[float | None]]:
    """(mean, busiest minute) per 5-minute bucket, aligned to the end; a bucket with fewer than 3
    known minutes is a gap. A leading partial bucket is dropped."""
    means: list[float | None] = []
    peaks: list[float | None] = []
    for start in range(len(minutes) % BUCKET_MINUTES, len(minutes), BUCKET_MINUTES):
        chunk = minutes[start : start + BUCKET_MINUTES]
        if None not in chunk:
            means.append(sum(chunk) / BUCKET_MINUTES)  # type: ignore[arg-type]
            peaks.append(max(chunk))  # type: ignore[type-var]
            continue
        known = [v for v in chunk if v is not None]
        if len(known) * 2 > BUCKET_MINUTES:
            means.append(sum(known) / len(known))
            peaks.append(max(known))
        else:
            means.append(None)
            peaks.append(None)
    return means, peaks


@dataclass
class _Bucketed:
    minutes: list[float | None]  # the history as given: its very objects, compared by identity
    marked: list[float | None]  # mark_gaps(minutes)
    means: list[float | None]
    peaks: list[float | None]


class _BucketCache:
    """`bucketize(mark_gaps(history))` that reuses the previous fit's work when the history is the
    previous one moved on by whole buckets (a refit every hour of a sliding 14-day window): only the
    buckets at either end are recomputed. The result is the same list, value for value: the overlap
    must hold the very same objects (identity, not equality: 0.0 == -0.0 and 3 == 3.0 would not do),
    and a zero run cut by either end of the overlap is marked again from the raw minutes."""

    _KEEP = 4  # one entry per group the process forecasts; a few groups share one simulator

    def __init__(self) -> None:
        self._entries: list[_Bucketed] = []

    def of(self, history: Sequence[float | None]) -> tuple[list[float | None], list[float | None]]:
        minutes = list(history)
        for entry in self._entries:
            found = self._moved_on(entry, minutes)
            if found is not None:
                self._entries.remove(entry)
                break
        else:
            marked = mark_gaps(minutes)
            found = _Bucketed(minutes, marked, *bucketize(marked))
        self._entries = [found, *self._entries][: self._KEEP]
        return list(found.means), list(found.peaks)

    @staticmethod
    def _moved_on(old: _Bucketed, minutes: list[float | None]) -> _Bucketed | None:
        n = len(minutes)
        if n < 2 * BUCKET_MINUTES:
            return None
        window = moved_window(old.minutes, minutes, BUCKET_MINUTES)
        if window is None:
            return None
        shift, lo, hi = window
        start = n % BUCKET_MINUTES
        first = max(0, -(-(lo - start) // BUCKET_MINUTES))  # first bucket wholly at or after lo
        end = (hi - start) // BUCKET_MINUTES  # buckets before this one end at or before hi
        if first >= end:
            return None
        moved = shift // BUCKET_MINUTES
        head_end, tail_start = start + first * BUCKET_MINUTES, start + end * BUCKET_MINUTES
        head, kept, tail = _moved_marking(minutes, old.marked, window)
        marked = head + kept + tail
        head_means, head_peaks = bucketize(marked[start:head_end])
        tail_means, tail_peaks = bucketize(marked[tail_start:])
        return _Bucketed(
            minutes,
            marked,
            head_means + old.means[first + moved : end + moved] + tail_means,
            head_peaks + old.peaks[first + moved : end + moved] + tail_peaks,
        )


# How many shifts `moved_window` checks whose end matches but whose overlap may not: an hourly row's
# minutes match at up to 60, and a failed check usually stops within a row (the next row's object).
_SHIFT_TRIES = 64


def moved_window(
    old: Sequence[float | None], minutes: Sequence[float | None], step: int
) -> tuple[int, int, int] | None:
    """(shift, lo, hi) when `minutes` is `old` moved on by `shift` minutes (a multiple of `step`): the
    overlap holds the very same objects (identity, not equality: 0.0 == -0.0 and 3 == 3.0 would not do),
    minute i here being minute i + shift there. Within [lo, hi) the gap marking is the same as before:
    the zero runs either end of the overlap cuts (or the new minutes may lengthen) are outside it."""
    n = len(minutes)
    if len(old) != n or n < 2:
        return None
    last = old[-1]
    # The old last minute is now `shift` minutes before the end. A value repeated as one object is met
    # at several shifts: a trace of 5-minute or hourly rows repeats each row's object over its minutes,
    # and None every gap minute. Taking only the first, every hourly refit of worldcup98 and appserver
    # was a full fit (the nearest shift, one minute short, failed the identity check below); a few
    # candidates find the true one, and past them a full fit is still never a wrong one.
    tries = _SHIFT_TRIES
    for shift in range(0, n - 1, step):
        if minutes[n - 1 - shift] is not last:
            continue
        overlap = n - shift
        if all(map(operator.is_, itertools.islice(minutes, overlap), itertools.islice(old, shift, None))):
            break
        tries -= 1
        if not tries:
            return None
    else:
        return None
    lo = 0  # the end of a zero run the window's start cuts: its gap marking may differ from before
    while lo < overlap and _is_zero(minutes[lo]):
        lo += 1
    hi = overlap  # the start of a zero run the new minutes may lengthen
    while hi > lo and _is_zero(minutes[hi - 1]):
        hi -= 1
    return shift, lo, hi


def _moved_marking(
    minutes: Sequence[float | None], old_marked: list[float | None], moved: tuple[int, int, int]
) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """`mark_gaps(minutes)` in three parts (head, kept, tail) for `minutes` that are the old window moved
    on as `moved_window` found: runs wholly inside [lo, hi) have the same neighbours as before, so their
    marking is kept; the ends are marked again from the raw minutes."""
    shift, lo, hi = moved
    return mark_gaps(minutes[:lo]), old_marked[lo + shift : hi + shift], mark_gaps(minutes[hi:])


def _is_zero(value: float | None) -> bool:
    return value is not None and 0 <= value < math.inf and value == 0


_BUCKETS = _BucketCache()


@dataclass(frozen=True)
class Forecast:
    """Per-minute point and upper-bound forecasts for the horizon, starting at the minute after history."""

    point: tuple[float, ...]
    upper: tuple[float, ...]
    multiplier: float  # upper / point: the percentile of the backtest's relative errors
    percentile: float
    mape: float | None  # mean absolute percentage error of the last day's backtest (5-minute buckets)
    history_buckets: int  # non-gap 5-minute buckets the fit used


class _Model:
    def __init__(self, means: Sequence[float | None]) -> None:
        self.means = means
        # The same additions in the same order as a running loop, at C speed: the sums stay bit-equal.
        self.sums = list(itertools.accumulate([v or 0.0 for v in means], initial=0.0))
        self.counts = list(itertools.accumulate([v is not None for v in means], initial=0))

    def _level(self, end: int) -> float | None:
        start = max(0, end - LEVEL_BUCKETS)
        if end <= 0:
            return None
        count = self.counts[end] - self.counts[start]
        return (self.sums[end] - self.sums[start]) / count if count * 2 >= end - start else None

    def forecast(self, origin: int, steps: int) -> list[float | None]:
        """Point forecasts of buckets origin..origin+steps-1 from buckets before `origin` only."""
        recent = self._level(origin)
        scale: dict[int, float] = {}
        for lag in {*_DAILY_LAGS, *_WEEKLY_LAGS}:
            if origin - lag < LEVEL_BUCKETS:
                continue
            past = self._level(origin - lag)
            ratio = 1.0
            if recent is not None and past is not None and past > 0:
                ratio = min(_LEVEL_CLAMP[1], max(_LEVEL_CLAMP[0], recent / past))
            scale[lag] = ratio
        out: list[float | None] = []
        means = self.means
        # The usable lags and their scales, bound once: a bucket needs 9 lookups a step.
        daily_lags = [(lag, scale[lag]) for lag in _DAILY_LAGS if lag in scale]
        weekly_lags = [(lag, scale[lag]) for lag in _WEEKLY_LAGS if lag in scale]
        for j in range(origin, origin + steps):
            daily = [v * s for lag, s in daily_lags if j - lag < origin and (v := means[j - lag]) is not None]
            weekly = [
                v * s
                for lag, s in weekly_lags
                if j - lag < origin and (v := _unglitched(means, j - lag, origin)) is not None
            ]
            estimates = []
            if daily:
                daily.sort()
                estimates.append(_median_of_sorted(daily))
            if weekly:
                estimates.append(sum(weekly) / len(weekly))
            out.append(sum(estimates) / len(estimates) if estimates else None)
        return out


def quantile(values: Sequence[float], q: float) -> float:
    """The q-quantile with linear interpolation between order statistics."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fit_forecast(
    history: Sequence[float | None],
    horizon_minutes: int,
    percentile: float,
    counted: Sequence[float | None] | None = None,
) -> Forecast | None:
    """Fit on per-minute history and forecast `horizon_minutes` ahead; None without enough history (under
    two days of non-gap buckets of `counted`, the history itself unless given: the history read, before
    the minutes left out of the fit). A slot of the horizon with no history of its own is forecast as
    zero."""
    means, peaks = _BUCKETS.of(history)
    counted_means = means if counted is None else _BUCKETS.of(counted)[0]
    known = len(counted_means) - counted_means.count(None)
    if known < MIN_HISTORY_BUCKETS or len(means) < MIN_HISTORY_BUCKETS:
        return None
    model = _Model(means)
    steps = math.ceil(horizon_minutes / BUCKET_MINUTES)
    # Backtest: the last day, forecast from rolling origins `steps` buckets apart, as the service would.
    errors: list[float] = []
    ratios: list[float] = []
    n = len(means)
    for origin in range(n - DAY, n, steps):
        predicted = model.forecast(origin, min(steps, n - origin))
        for offset, guess in enumerate(predicted):
            actual, peak = means[origin + offset], peaks[origin + offset]
            if guess is None or actual is None or peak is None:
                continue
            if actual > 0:
                errors.append(abs(actual - guess) / actual)
            if guess > 0:
                ratios.append(peak / guess)
    ahead = model.forecast(n, steps)
    # A slot with no history of its own (a gap on every day and week looked back at: the ALB publishes no
    # RequestCount while no request flows, and a run of 20+ zero minutes is a gap too) has no demand to
    # forecast: zero, no floor there. Never a neighbouring slot's level: a night without requests is not
    # the evening's. A horizon all such still gets its item (all zero), so an older one goes out of effect.
    filled = [0.0 if v is None else max(0.0, v) for v in ahead]
    multiplier = max(1.0, quantile(ratios, percentile)) if len(ratios) >= _MIN_BACKTEST else 1.5
    point = tuple(v for v in filled for _ in range(BUCKET_MINUTES))[:horizon_minutes]
    return Forecast(
        point=point,
        upper=tuple(v * multiplier for v in point),
        multiplier=multiplier,
        percentile=percentile,
        mape=sum(errors) / len(errors) if errors else None,
        history_buckets=known,
    )


def floor_steps(
    upper: Sequence[float], per_instance: float, step_minutes: int, lead_minutes: int
) -> tuple[int, ...]:
    """Instances needed in each step of the horizon: the busiest upper-bound minute from the step's
    start to its end plus the lead time (launch + warm-up), divided by the requests target."""
    floors = []
    for start in range(0, len(upper), step_minutes):
        window = upper[start : start + step_minutes + lead_minutes]
        floors.append(max(0, math.ceil(max(window) / per_instance - CEIL_TOLERANCE)))
    return tuple(floors)


@dataclass(frozen=True)
class ForecastState:
    """The group's FORECAST item: floors by step from `issued_at`, valid until `valid_until`."""

    mode: str
    issued_at: datetime
    valid_until: datetime
    step_minutes: int
    steps: tuple[int, ...]
    percentile: float
    multiplier: float
    mape: float | None
    # The minutes of the horizon (offsets from `issued_at`) where a burst that recurred at that minute of
    # the day is due, with the rise to meet: only those, so the item stays small. Negative offsets: the
    # minutes, before `issued_at`, of a run of due minutes that goes on into this item's first minute
    # (`carry_burst_run`): they say when that anticipation began, and are due (`burst_at`) to a decision
    # stamped in them (a late alarm handled after the run that replaced the item it would have read).
    bursts: tuple[tuple[int, float], ...] = ()
    # The latest judgement of the group's noise headroom (None: not judged, or not asked to be).
    headroom: HeadroomVerdict | None = None
    # The latest choice of the noise headroom's multiple against AWS's anchors (None: not made, or not
    # asked for).
    anchor: AnchorVerdict | None = None

    @property
    def floor(self) -> int:
        return max(self.steps, default=0)

    def _minute(self, now: datetime) -> int | None:
        """`now`'s minute in `bursts`' offsets; None outside the item's validity. A decision stamped
        before `issued_at` (an alarm that changed state before the run that replaced the item it would
        have read, handled after it) reads the run of due minutes carried into this item, which is what
        the item it replaced had due then: the minute before `issued_at`, and any carried minute (only
        the minute before once, and an alarm stamped two minutes before the run lost its burst floor)."""
        if now >= self.valid_until:
            return None
        minute = math.floor((now - self.issued_at) / timedelta(minutes=1))
        if minute < -1 and all(at != minute for at, _ in self.bursts):
            return None
        return minute

    def burst_at(self, now: datetime) -> float:
        """The rise to anticipate at `now` (1.0: none, or outside the forecast's validity)."""
        minute = self._minute(now)
        if minute is None:
            return 1.0
        return next((rise for at, rise in self.bursts if at == minute), 1.0)

    def burst_run_start(self, now: datetime) -> datetime | None:
        """The first minute of the run of consecutive due minutes that holds `now` (None: no burst is
        due now): when the anticipation of the burst due now began."""
        minute = self._minute(now)
        if minute is None:
            return None
        due = {at for at, _ in self.bursts}
        if minute not in due:
            return None
        while minute - 1 in due:
            minute -= 1
        return self.issued_at + timedelta(minutes=minute)

    @property
    def horizon_bursts(self) -> tuple[tuple[int, float], ...]:
        """`bursts` of the horizon only: without the minutes carried from before `issued_at`."""
        return tuple((at, rise) for at, rise in self.bursts if at >= 0)

    def floor_at(self, now: datetime) -> int | None:
        """The floor in effect at `now`, or None outside the forecast's validity (or for a step of under
        a minute, which no forecaster writes: no step can be told)."""
        if self.step_minutes < 1:
            return None
        step = timedelta(minutes=self.step_minutes)
        # Within a step before `issued_at`, the first step's: a decision stamped just before the run that
        # replaced the item it would have read (and handled after it) has no other floor to read.
        if not self.issued_at - step <= now < self.valid_until:
            return None
        index = max(0, int((now - self.issued_at) / step))
        return self.steps[index] if index < len(self.steps) else None


@dataclass(frozen=True)
class BurstSettings:
    """How bursts that recur at the same minute of the day are learned and anticipated."""

    # A burst must be met this many minutes ahead: launch + warm-up of the instances that serve it.
    lead_minutes: int = 5
    # The level a rise is measured against: the mean of the minutes just before the decision.
    level_minutes: int = 10
    # Past days that teach the pattern.
    days: int = 7
    # The rise anticipated at a minute of the day is the rank-th largest of those days' rises there:
    # 2 = seen on at least two of the last seven days, so one odd spike does not buy capacity.
    rank: int = 2
    # Rises below this are the ordinary minute-to-minute noise: no anticipation.
    threshold: float = 1.3
    # ... and so are rises within this factor of the group's ordinary rise (the median over the learning
    # days): at a few requests a minute, noise alone makes the busiest of eight minutes 1.5x the mean.
    over_ordinary: float = 1.3
    # The ordinary rise is the median of the rises at every this-many minutes (cheap, and enough).
    ordinary_every_minutes: int = 10
    # Anticipate nothing unless the learned bursts foretold the most recent day with a burst (below):
    # where they were anticipated, a burst came at least this many times as often as on an ordinary
    # minute (the backtest's lift).
    # Noise alone (a few requests a minute) teaches "bursts" that recur no more than chance: lift ~1.
    min_lift: float = 1.2
    # A day without any burst neither confirms the rule nor disproves it (a pattern of every other day,
    # or of weekdays): the lift is that of the most recent of this many days that had a burst, alone.
    # Judged on the last day, a rule that a day had disproved was trusted again the next, quiet, day: a
    # job's bursts that stopped were pre-warmed for days after (ec2 NetworkIn, README).
    judged_days: int = 7
    # ... and nothing either where more than this share of the minutes that day rose past the threshold:
    # a burst that common is the traffic's noise, and a lift of 1.2 over so high a base rate is a day's
    # chance. A few tweets per 5 minutes (NAB's PFE) burst in a quarter to a third of the minutes, and a
    # third of its runs trusted noise at 1.2; AAPL, GOOG and nasa, whose bursts pay, 0.17-0.19 (README,
    # "PFE's milestone").
    max_burst_share: float = 0.25
    # The backtest looks at every this-many minutes of the day it judges.
    backtest_every_minutes: int = 2
    # Bursts that recur at a minute of the hour (twitter's start at :02 and :32 in every hour of the day,
    # on a fraction of the hours: too few days each to recur at that minute of the day). A minute of the
    # hour is due when at least this share of the learning days' hours rose at it above the threshold
    # (0: the hourly rule is off), and the rise anticipated is the one that share of them reached.
    hourly_share: float = 0.3
    # ... judged on at least this many known hours (a day: with two, the held-out judgement needed three
    # days of history, and twitter's :32 bursts of its second and third days, 15 % of its drops at the
    # default, went unanticipated; a day cut them to 2.613 % at 1.924x from 2.786 % at 1.915x, and left
    # the other traces as they were, README) ...
    hourly_min_hours: int = 24
    # ... and acting only where, learned from the days before the last, it foretold the last day's
    # bursts at least this many times as often as chance (60 minutes of the hour are 60 chances to fit
    # noise, where the daily rule has one per minute of the day and a rank of two days). 0: no gate.
    hourly_min_lift: float = 2.0
    # An anticipated burst that has not come when due is let go: it came when demand reached the level
    # before the anticipation times 1 + this share of the rise over it (0: every floor is held through
    # its window). Most anticipations are of a burst that comes in a fraction of the hours.
    no_show_share: float = 0.5


def _known(value: float | None) -> bool:
    return value is not None and value == value  # None or NaN: no datapoint


# A rise not worked out yet (a real rise is a ratio of non-negative counts, or None).
_UNWORKED = -1.0
# Up to this many rises not worked out yet are found one by one (`_Rises.span`); more, in one loop.
_FEW_UNWORKED = 120


def _peaks(minutes: Sequence[float | None]) -> list[float]:
    """Each minute as a rise's busiest-minute term: its value, or -inf where it is unknown."""
    # Inline tests, not `_known`: a call per minute would cost more than the lookups it saves.
    return [v if v is not None and v == v else -math.inf for v in minutes]


def _summable(peaks: list[float]) -> list[float]:
    """Each minute as a term of a level's sum: its value, or 0 where it is unknown."""
    return [0 if v == -math.inf else v for v in peaks]


class _Rises:
    """`burst_rise` at many minutes of one series. The series is scanned once, so each minute costs two
    C-level slice reductions instead of two filtered Python lists: the forecaster asks for thousands of
    minutes per run, and the simulator runs it every simulated hour. Same arithmetic, same order, so
    the same floats as the filtered lists (adding a 0 in place of a gap is exact)."""

    def __init__(
        self,
        minutes: Sequence[float | None],
        settings: BurstSettings,
        peaks: list[float] | None = None,
        summable: list[float] | None = None,
        rises: list[float | None] | None = None,
    ) -> None:
        """`peaks`, `summable` and `rises`: the series' own, carried over by `_RiseCache` from a previous
        run."""
        self.width, self.lead, self.length = settings.level_minutes, settings.lead_minutes, len(minutes)
        self.peaks = _peaks(minutes) if peaks is None else peaks
        self.summable = _summable(self.peaks) if summable is None else summable
        known = map(operator.ne, self.peaks, itertools.repeat(-math.inf))
        self.known = list(itertools.accumulate(known, initial=0))
        # The rise at each minute index, once worked out (here, or by the previous run: `_RiseCache`).
        self.rises: list[float | None] = [_UNWORKED] * self.length if rises is None else rises

    def at(self, t: int) -> float | None:
        return self.many((t,))[0]

    def many(self, ts: Iterable[int]) -> list[float | None]:
        """`at` for each of `ts`, in one loop with its lookups bound once (a call per minute costs
        as much as the arithmetic)."""
        width, lead, length = self.width, self.lead, self.length
        known, summable, peaks, memo = self.known, self.summable, self.peaks, self.rises
        ts = list(ts)
        last = length - lead - 2  # the last minute whose rise the minutes hold
        # Worked-out rises in one comprehension: the backtest reads each minute again every run.
        out = [memo[t] if width <= t <= last else None for t in ts]
        if _UNWORKED not in out:
            return out
        for i, t in enumerate(ts):
            if out[i] != _UNWORKED:
                continue
            count = known[t] - known[t - width]
            if count * 2 < width:
                rise = None
            else:
                base = sum(summable[t - width : t]) / count
                peak = max(peaks[t - 1 : t + lead + 2])
                rise = None if base <= 0 or peak == -math.inf else peak / base
            memo[t] = rise
            out[i] = rise
        return out

    def span(self, first: int, end: int) -> list[float | None]:
        """`many(range(first, end))` as a slice of the worked-out rises: only those not worked out yet
        (after the previous run, the last hour's) cost a Python step each."""
        low, high = max(first, self.width), min(end, self.length - self.lead - 1)
        if low >= high:
            return [None] * max(0, end - first)
        memo, t = self.rises, low
        if memo[low:high].count(_UNWORKED) > _FEW_UNWORKED:
            self.many(range(low, high))  # a fresh window: one loop over it all
        while True:
            try:
                t = memo.index(_UNWORKED, t, high)
            except ValueError:
                break
            self.many((t,))
            t += 1
        return [None] * (low - first) + memo[low:high] + [None] * (end - high)


class _RiseCache:
    """`_Rises(mark_gaps(minutes), settings)` that keeps what a previous run worked out when the
    minutes are that run's moved on (the simulator's hourly refit of a sliding window; `_BucketCache`'s
    rule): where the gap marking is unchanged, a minute's marking and peak, and a rise whose minutes
    all lie there, are the same floats at their index minus the shift (list slices, no per-minute
    Python). Any other input is a fresh start."""

    _KEEP = 4  # one entry per group the process forecasts, as `_BucketCache`

    def __init__(self) -> None:
        self._entries: list[tuple[list[float | None], BurstSettings, list[float | None], _Rises]] = []

    def of(self, minutes: list[float | None], settings: BurstSettings) -> tuple[list[float | None], _Rises]:
        found: tuple[list[float | None], _Rises] | None = None
        for entry in self._entries:
            old_minutes, old_settings, old_marked, old_rises = entry
            moved = moved_window(old_minutes, minutes, 1) if old_settings == settings else None
            if moved is not None:
                self._entries.remove(entry)
                found = self._moved_on(minutes, settings, moved, old_marked, old_rises)
                break
        if found is None:
            marked = mark_gaps(minutes)
            found = marked, _Rises(marked, settings)
        self._entries = [(minutes, settings, *found), *self._entries][: self._KEEP]
        return found

    @staticmethod
    def _moved_on(
        minutes: list[float | None],
        settings: BurstSettings,
        moved: tuple[int, int, int],
        old_marked: list[float | None],
        old: _Rises,
    ) -> tuple[list[float | None], _Rises]:
        shift, lo, hi = moved
        if lo >= hi:
            # The overlap is one zero run: its marking depends on the new minutes beside it.
            marked = mark_gaps(minutes)
            return marked, _Rises(marked, settings)
        head, kept, tail = _moved_marking(minutes, old_marked, moved)
        marked = head + kept + tail
        head_peaks, tail_peaks = _peaks(head), _peaks(tail)
        peaks = head_peaks + old.peaks[lo + shift : hi + shift] + tail_peaks
        summable = _summable(head_peaks) + old.summable[lo + shift : hi + shift] + _summable(tail_peaks)
        # A rise reads minutes t-width .. t+lead+1: those wholly inside [lo, hi) are kept.
        rises: list[float | None] = [_UNWORKED] * len(minutes)
        first, last = lo + settings.level_minutes, hi - settings.lead_minutes - 2
        if first <= last:
            rises[first : last + 1] = old.rises[first + shift : last + 1 + shift]
        return marked, _Rises(marked, settings, peaks, summable, rises)


_RISES = _RiseCache()


def burst_rise(
    minutes: Sequence[float | None], t: int, settings: BurstSettings = BurstSettings()
) -> float | None:
    """How far demand rose within the lead time after minute `t`: the busiest of minutes
    t-1 .. t+lead+1 (one minute of slack either side: a burst a minute early or late still counts)
    over the mean of the `level_minutes` before t. None when it cannot be told: the level is unknown
    or zero, or the window is not complete (missing values, None or NaN, are gaps)."""
    first = max(0, t - settings.level_minutes)
    return _Rises(minutes[first : t + settings.lead_minutes + 2], settings).at(t - first)


def burst_factor(
    rises: Sequence[float | None], settings: BurstSettings = BurstSettings(), threshold: float | None = None
) -> float:
    """The rise to anticipate from the same minute of the day on past days (None: unknown that day):
    the rank-th largest, or 1.0 (none) below the threshold (the settings', unless given) or with fewer
    known days than the rank."""
    known = sorted((r for r in rises if r is not None), reverse=True)
    if len(known) < settings.rank:
        return 1.0
    rise = known[settings.rank - 1]
    return rise if rise >= (settings.threshold if threshold is None else threshold) else 1.0


def ordinary_rise(
    minutes: Sequence[float | None], now: int, settings: BurstSettings = BurstSettings()
) -> float:
    """The group's ordinary rise: the median of the rises over the learning days before minute `now`,
    sampled every `ordinary_every_minutes` (1.0 when none can be told). What noise alone gives."""
    return _ordinary_rise(_Rises(minutes, settings), now, settings)


def _ordinary_rise(rises: _Rises, now: int, settings: BurstSettings) -> float:
    first = max(0, now - settings.days * 1440)
    sampled = [
        rise for rise in rises.many(range(first, now, settings.ordinary_every_minutes)) if rise is not None
    ]
    if not sampled:
        return 1.0
    sampled.sort()
    return _median_of_sorted(sampled)


@dataclass(frozen=True)
class BurstLearning:
    """What the forecaster learned of the recurring bursts: the rise to anticipate in each minute of
    the horizon, and how well the same learning foretold the most recent day with a burst (None:
    nothing to judge it by, as it anticipated nothing that day or no burst came in `judged_days`)."""

    factors: tuple[float, ...]
    lift: float | None
    distrusted: bool = False  # the lift fell short, or bursts were too common: nothing anticipated
    # The share of the judged day's minutes that rose past the threshold (None with the lift).
    burst_share: float | None = None
    # The minute-of-the-hour rule: its holdout lift over the last day (None: nothing to judge it by, or
    # off), and whether it fell short (then it anticipates nothing).
    hourly_lift: float | None = None
    hourly_distrusted: bool = False


def learn_bursts(
    history: Sequence[float | None], horizon_minutes: int, settings: BurstSettings = BurstSettings()
) -> BurstLearning:
    """The rise to anticipate for each of the next `horizon_minutes` minutes (index 0: the minute right
    after the history), from the same minute of the day on each of the last `days` days; all 1.0 when
    the same rule, backtested over the most recent day with a burst, foretold bursts no better than
    `min_lift` x chance. Runs of 20+ zero minutes are outages (gaps), as everywhere here. Only 1440-minute
    lags are used, so the history may start at any time of day. One scan of the last `days` +
    `judged_days` - 1 days, then O(days x (horizon + backtest))."""
    n = len(history)
    reach = (settings.days + settings.judged_days - 1) * 1440 + settings.level_minutes + ZERO_RUN_GAP_MINUTES
    offset = max(0, n - reach)
    _, rises = _RISES.of(list(history[offset:]), settings)
    now = n - offset
    threshold = max(settings.threshold, _ordinary_rise(rises, now, settings) * settings.over_ordinary)
    lift, burst_share = _backtest_lift(rises, now, settings, threshold)
    hourly, hourly_lift = _hourly_rule(rises, now, settings, threshold)
    hourly_distrusted = hourly_lift is not None and hourly_lift < settings.hourly_min_lift
    if hourly_distrusted or (hourly_lift is None and settings.hourly_min_lift > 0):
        # Unlike the daily rule, never on trust: 60 minutes of the hour are 60 chances to fit noise, so
        # the rule acts only once the last day has confirmed it (a few requests a minute in 5-minute
        # counts, the ELB trace, otherwise bought capacity at noise whenever the last day was judged
        # on nothing).
        hourly = [1.0] * 60
    distrusted = lift is not None and (
        lift < settings.min_lift or (burst_share is not None and burst_share > settings.max_burst_share)
    )
    if distrusted:
        factors = (1.0,) * horizon_minutes
    else:
        # Each minute of the horizon: the rises at that minute of the day on each learning day (one loop).
        days = settings.days
        rows = rises.many(
            [now + f - 1440 * day for f in range(horizon_minutes) for day in range(1, days + 1)]
        )
        factors = tuple(
            burst_factor(rows[start : start + days], settings, threshold)
            for start in range(0, len(rows), days)
        )
    # Either rule may name a minute; the larger rise is met.
    factors = tuple(max(factor, hourly[f % 60]) for f, factor in enumerate(factors))
    return BurstLearning(factors, lift, distrusted, burst_share, hourly_lift, hourly_distrusted)


def _known_rises(rises: Sequence[float | None]) -> list[float]:
    return list(itertools.compress(rises, map(operator.is_not, rises, itertools.repeat(None))))  # type: ignore[arg-type]


def _hourly_factor(known: list[float], cleared: int, settings: BurstSettings) -> float:
    """The rise to anticipate at a minute of the hour from its known rises in past hours, `cleared` of
    which reach the threshold: the one reached by `hourly_share` of them, when that clears the threshold
    and at least `hourly_min_hours` are known; else 1.0."""
    if not settings.hourly_share or len(known) < settings.hourly_min_hours:
        return 1.0
    rank = math.ceil(settings.hourly_share * len(known))
    # The rank-th largest clears the threshold exactly when rank of them do: count first, and sort only
    # the few minutes of the hour that pass (the learner asks 120 times a run).
    return 1.0 if cleared < rank else sorted(known, reverse=True)[rank - 1]


def _hourly_rule(
    rises: _Rises, now: int, settings: BurstSettings, threshold: float
) -> tuple[list[float], float | None]:
    """The minute-of-the-hour rule: the rise to anticipate at each minute of the hour (index m: the
    minutes now + m + 60j), learned from the hours of the learning days, and its lift over the last day
    when learned from the days before it only (precision over base rate, as `_backtest_lift`; None when
    it anticipated nothing there or no burst came)."""
    if not settings.hourly_share:
        return [1.0] * 60, None
    hours, day_hours = settings.days * 24, 24
    learned: list[float] = []
    anticipated = bursts = hits = judged = 0
    # The last `hours` hours' rises, oldest first: minute now + m - 60k sits at hours*60 + m - 60k.
    flat = rises.span(now - hours * 60, now)
    reached = threshold.__le__
    for m in range(60):
        # The rises at now + m - 60k for k = 1..hours, newest first (k <= 24: the last day).
        row = flat[hours * 60 - 60 + m :: -60]
        last_day, earlier = _known_rises(row[:day_hours]), _known_rises(row[day_hours:])
        came, cleared_earlier = sum(map(reached, last_day)), sum(map(reached, earlier))
        learned.append(_hourly_factor(last_day + earlier, came + cleared_earlier, settings))
        # Held out: learned without the last day, judged on it.
        judged += len(last_day)
        bursts += came
        if _hourly_factor(earlier, cleared_earlier, settings) > 1.0:
            anticipated += len(last_day)
            hits += came
    if not anticipated or not bursts:
        return learned, None
    return learned, (hits / anticipated) / (bursts / judged)


def _backtest_lift(
    rises: _Rises, now: int, settings: BurstSettings, threshold: float
) -> tuple[float | None, float | None]:
    """How much likelier a burst was, over the most recent day with one (of the last `judged_days`), at
    the minutes the rule (learned from the days before each) anticipated one than at any minute of that
    day: precision over base rate; and that base rate, the share of the day's minutes with a burst. None
    when there is nothing to judge by: the rule anticipated nothing that day, or no burst came in all
    those days. The quiet days after it count for nothing either way (a pattern of every other day, or of
    weekdays, is not disproved by its quiet days)."""
    end = now - settings.lead_minutes - 2  # a later minute's burst may not have come yet
    for back in range(1, settings.judged_days + 1):
        anticipated, bursts, hits, judged = _backtest_day(rises, now - 1440 * back, end, settings, threshold)
        if bursts:
            if not anticipated:
                return None, None
            return (hits / anticipated) / (bursts / judged), bursts / judged
        end = now - 1440 * back
    return None, None


def _backtest_day(
    rises: _Rises, start: int, end: int, settings: BurstSettings, threshold: float
) -> tuple[int, int, int, int]:
    """(anticipated, bursts, hits, judged) over the minutes [start, end) of the backtest: at each, did
    the rule, learned from the days before it, anticipate a burst, and did one come."""
    anticipated = bursts = hits = judged = 0
    times = [
        t for t in range(start, end, settings.backtest_every_minutes) if t - 1440 * (settings.days - 1) >= 0
    ]
    # Each row: the rise at t, then at the same minute on each learning day before it (one loop for all).
    width = settings.days
    rows = rises.many([t - 1440 * day for t in times for day in range(width)])
    reached = [rise is not None and rise >= threshold for rise in rows]
    for start_row in range(0, len(rows), width):
        actual = rows[start_row]
        if actual is None:
            continue
        # `burst_factor(past, settings, threshold) > 1.0`, without the sort: the rank-th largest known
        # rise reaches the threshold (which is above 1) when at least `rank` of them do.
        seen = sum(reached[start_row + 1 : start_row + width])
        foretold = seen >= settings.rank
        came = actual >= threshold
        judged += 1
        anticipated += foretold
        bursts += came
        hits += foretold and came
    return anticipated, bursts, hits, judged


def burst_factors(
    history: Sequence[float | None], horizon_minutes: int, settings: BurstSettings = BurstSettings()
) -> tuple[float, ...]:
    """`learn_bursts(...).factors`."""
    return learn_bursts(history, horizon_minutes, settings).factors


def due_bursts(factors: Sequence[float]) -> tuple[tuple[int, float], ...]:
    """`burst_factors` as the FORECAST item keeps them: (minute offset, rise) where a rise is due."""
    return tuple((minute, round(rise, 4)) for minute, rise in enumerate(factors) if rise > 1.0)


# A run of due minutes carried into the next FORECAST item keeps at most this many of its minutes before
# the item's issue time (a run that long was judged come or not long since; the item stays small).
CARRIED_RUN_MAX_MINUTES = 1440


def carry_burst_run(
    previous: ForecastState | None, issued_at: datetime, bursts: Sequence[tuple[int, float]]
) -> tuple[tuple[int, float], ...]:
    """A new FORECAST item's `bursts` (issued at `issued_at`), preceded by the minutes of the previous
    item's run of due minutes that holds the minute before `issued_at`, at their (negative) offsets from
    `issued_at`, when the new item's first minute is due too: the anticipation goes on across the
    forecaster run, and began when that run began. Without them `burst_run_start` would restart the
    no-show clock at every run (a burst due from 11:56 for 12:02 held its floor until 12:07, not 12:03)."""
    due = tuple(bursts)
    before = issued_at - timedelta(minutes=1)
    if previous is None or all(at != 0 for at, _ in due):
        return due
    if not previous.issued_at <= before < previous.valid_until:
        return due
    rises = dict(previous.bursts)
    last = int((before - previous.issued_at) / timedelta(minutes=1))  # the minute before, in its offsets
    if last not in rises:
        return due
    first = last
    while first - 1 in rises and last - first + 1 < CARRIED_RUN_MAX_MINUTES:
        first -= 1
    return tuple((at - last - 1, rises[at]) for at in range(first, last + 1)) + due


# How long a minute's RequestCount may take to appear after the minute ends (ALB: "reports metrics to
# CloudWatch only when requests are flowing ... in 60-second intervals", delivered after the interval).
PUBLICATION_ALLOWANCE_MINUTES = 2


def burst_no_show_after(settings: BurstSettings) -> int:
    """Minutes into an anticipation after which a burst that has not come is let go. A minute's rise is
    learned from the busiest of the minutes up to lead + 1 ahead, so the run of due minutes begins lead + 1
    minutes before the burst, and the burst's first minute is seen a minute after it."""
    return settings.lead_minutes + 2


def burst_judgeable(run_minutes: int, settings: BurstSettings = BurstSettings()) -> bool:
    """Whether an anticipation `run_minutes` old can be judged come or not (`burst_came`): the burst
    should have shown by now, and a no-show is judged at all (a share above 0)."""
    return settings.no_show_share > 0 and run_minutes >= burst_no_show_after(settings)


def burst_came(
    minutes: Sequence[float | None], run_minutes: int, rise: float, settings: BurstSettings = BurstSettings()
) -> bool | None:
    """Whether the burst anticipated for the last `run_minutes` minutes has come: some minute since the
    anticipation began reached the level before it (the mean of its `level_minutes`) times
    1 + `no_show_share` x (rise - 1). `minutes`: from `level_minutes` before the anticipation began up to
    now, oldest first. None when it cannot be told yet (fewer than `burst_no_show_after` minutes in, a
    minute of the burst not yet published within the allowance, or the share is 0) or at all (the level
    before, or every minute since, unknown)."""
    if not burst_judgeable(run_minutes, settings):
        return None
    width = settings.level_minutes
    level = recent_level(minutes[:width], width)
    since = [v for v in minutes[width:] if v is not None and _known(v)]
    if level is None or not since:
        return None
    if max(since) >= level * (1 + settings.no_show_share * (rise - 1)):
        return True
    # The ALB publishes a minute's RequestCount after the minute ends: a minute of the burst with no
    # datapoint yet may be unpublished rather than quiet, so a no-show waits for it, as long as the
    # publication allowance (after that, a minute without a datapoint had no requests).
    from_the_burst = minutes[width + settings.lead_minutes + 1 :]
    if any(v is None for v in from_the_burst) and run_minutes < burst_no_show_after(settings) + (
        PUBLICATION_ALLOWANCE_MINUTES
    ):
        return None
    return False


def burst_capacity(level: float, rise: float, per_instance: float) -> int:
    """Instances that serve `level` x `rise` requests per minute at `per_instance` each: a burst is
    short, so it is met at what an instance serves, not at the steady state's target."""
    return max(0, math.ceil(level * rise / per_instance - CEIL_TOLERANCE))


def recent_level(history: Sequence[float | None], minutes: int) -> float | None:
    """Mean of the known minutes among the last `minutes` (None if fewer than half are known)."""
    window = [v for v in history[-minutes:] if _known(v)]
    if len(window) * 2 < minutes:
        return None
    return sum(window) / len(window)  # type: ignore[arg-type]
