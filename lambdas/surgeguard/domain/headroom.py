"""Headroom where the demand's own noise calls for it (pure).

A fixed utilization target keeps headroom in proportion to the load. Noise does not scale so: at a few
requests a minute it is most of the load (Poisson noise is the square root of the count), at thousands
it is a few percent. Scale-in keeps capacity for the recent mean plus a few times the minute-to-minute
spread, at what an instance serves at full load (`floor:noise`).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from surgeguard.domain.forecast import CEIL_TOLERANCE

# median(|x_t - x_t-1|) of independent normal noise of spread s is 0.6745 x sqrt(2) x s.
_MEDIAN_ABS_DIFFERENCE = 0.6745 * math.sqrt(2)
# Fewer changes of value than this in the window measure no noise: an hourly series changes once or twice
# in an hour, and that change is the load moving (a median of one difference would call it noise).
MIN_CHANGES = 5


@dataclass(frozen=True)
class NoiseFloor:
    mean: float  # requests per minute over the window
    spread: float  # the minute-to-minute spread (one sigma)
    capacity: int  # instances for mean + sigmas x spread at full load


def minute_spread(minutes: Sequence[float]) -> float:
    """The noise of a per-minute series, from the median of its successive differences: a trend or a
    burst moves the mean and a few differences, not their median (a plain standard deviation over a
    window holding a burst is the burst's size, and would hold its capacity after it).

    Differences are taken between changes of value: a series counted over 5 minutes (or an hour) and
    spread over its minutes repeats each value, and its many zero differences would read as no noise
    at all, however noisy the counts. Up to `MIN_CHANGES` changes measure nothing (0.0)."""
    if not minutes:
        return 0.0
    # At C speed (every decision of a group with noise headroom measures an hour): the first minute and
    # each that differs from the one before; then the sorted absolute differences' median, as
    # `statistics.median` takes it (the same floats).
    later = minutes[1:]
    changes = [minutes[0], *itertools.compress(later, map(operator.ne, later, minutes))]
    if len(changes) <= MIN_CHANGES:
        return 0.0
    differences = sorted(map(abs, map(operator.sub, changes[1:], changes)))
    middle = len(differences) // 2
    median = (
        differences[middle] if len(differences) % 2 else (differences[middle - 1] + differences[middle]) / 2
    )
    return median / _MEDIAN_ABS_DIFFERENCE


def noise_floor(
    minutes: Sequence[float | None],
    sigmas: float,
    per_instance: float,
    window: int,
    max_share_of_mean: float | None = None,
) -> NoiseFloor | None:
    """The capacity the last `window` minutes' noise calls for; None when fewer than half are known
    (None or NaN: no datapoint). The headroom above the mean is at most `max_share_of_mean` x the mean:
    noise that large (a handful of requests a minute) costs more to cover than the little it drops."""
    level = _noise_level(minutes[-window:], sigmas, window, max_share_of_mean)
    if level is None or per_instance <= 0:
        return None
    mean, spread, top = level
    return NoiseFloor(mean, spread, max(0, math.ceil(top / per_instance - CEIL_TOLERANCE)))


@dataclass(frozen=True)
class NoiseBand:
    latest: float  # the latest known minute's requests
    upper: float  # the band's top: the mean + band sigmas x the spread
    capacity: int  # the noise floor, and never less than the mean at the requests target


def noise_band(
    minutes: Sequence[float | None], floor: NoiseFloor, band_sigmas: float, per_target: float
) -> NoiseBand | None:
    """The capacity a signal may ask for while the latest minute is within `band_sigmas` spreads of
    the recent mean (None: above the band, no known minute, or no noise measured). A minute that high
    is noise: sized at the target, it buys instances that come after it, for minutes that do not
    repeat it."""
    latest = next((v for v in reversed(minutes) if v is not None and v == v and v >= 0), None)
    if latest is None or floor.spread <= 0:
        return None  # no noise measured: nothing is noise, the signals decide
    upper = floor.mean + band_sigmas * floor.spread
    if latest > upper:
        return None
    at_target = math.ceil(floor.mean / per_target - CEIL_TOLERANCE) if per_target > 0 else 0
    return NoiseBand(latest, upper, max(floor.capacity, at_target))


MIN_DROP_RATIO = 0.01
# The judge replays at least a week: a verdict that turns the noise headroom off must rest on more than
# a quiet spell (over 7-day windows it holds steadily on every trace of the benchmark; README).
JUDGE_MIN_MINUTES = 7 * 1440
# The noise headroom does not pay when it drops at least this much more than target headroom would at
# the same spend: a tenth of a percent of the demand, and a fiftieth of what target headroom drops.
UNPAID_MIN_POINTS = 0.1
UNPAID_MIN_SHARE = 0.02


def drops_more_by_a_margin(dropped_pct: float, bar_pct: float) -> bool:
    """Whether `dropped_pct` is over `bar_pct` by a difference that matters: `UNPAID_MIN_POINTS` points and
    `UNPAID_MIN_SHARE` of the bar. False for a figure that is not a number."""
    excess = dropped_pct - bar_pct
    return excess >= UNPAID_MIN_POINTS and excess >= UNPAID_MIN_SHARE * bar_pct


# The noise floor is refreshed this often in the replay: it moves with an hour's window, not a minute.
_JUDGE_REFRESH_MINUTES = 15


@dataclass(frozen=True)
class HeadroomVerdict:
    """Did the noise headroom buy more than the same spend on target headroom, over the recent past?

    A one-lead-ahead replay of the group's RequestCount: capacity set `lead` minutes before each minute
    from what was known then, at full load. The noise form holds the larger of the target's capacity
    for the latest minute and the noise floor; the target form holds the latest minute at a lower
    target (`target_share` of it), chosen to spend exactly what the noise form spent."""

    judged_at: datetime
    minutes: int  # minutes replayed
    noise_dropped_pct: float
    target_dropped_pct: float
    target_share: float  # the share of the target that spends what the noise headroom spent

    @property
    def noise_pays(self) -> bool:
        # Only a difference that matters turns it off: where the floor barely binds (a few % of the
        # spend), the two forms differ by hundredths of a point, and their sign is noise.
        # Written so that a figure that is not a number (a damaged item) keeps the headroom on.
        return not drops_more_by_a_margin(self.noise_dropped_pct, self.target_dropped_pct)

    def describe(self) -> str:
        verdict = "pays" if self.noise_pays else "does not pay"
        return (
            f"noise headroom {verdict}: over the last {self.minutes / 1440:.1f} days it would have dropped "
            f"{self.noise_dropped_pct:.3f} % where the same spend on target headroom (a target "
            f"{self.target_share:.3f} of this one) drops {self.target_dropped_pct:.3f} %"
        )


def judge_noise_headroom(
    minutes: Sequence[float | None],
    *,
    judged_at: datetime,
    target_fraction: float,
    sigmas: float,
    window: int,
    max_share_of_mean: float | None,
    lead: int,
) -> HeadroomVerdict | None:
    """Replay `minutes` (RequestCount per minute, oldest first; None: unknown) with capacity decided
    `lead` minutes ahead; `target_fraction` is the requests target as a share of full load. None
    with fewer than `JUDGE_MIN_MINUTES` minutes to replay.

    Where load moves like a random walk (each minute's best guess is the last, and a jump is as likely
    from a quiet spell as from a busy one), a floor around the recent mean holds capacity where it is
    not needed and too little where it is: the same instances at a lower target drop less."""
    if not 0 < target_fraction <= 1 or lead < 1:
        raise ValueError("need 0 < target_fraction <= 1 and lead >= 1")
    known_at = _known_minutes(minutes)
    if len(known_at) - known_at.count(None) < JUDGE_MIN_MINUTES:
        return None  # too little to replay: no need to try
    replay = _lead_ahead(known_at, window, lead)
    floors = [_with_headroom(mean, spread, sigmas, max_share_of_mean) for mean, spread in replay.levels]
    # (demand, latest known at decision, noise capacity)
    pairs = [
        (demand, latest, max(latest / target_fraction, floors[index] if index >= 0 else 0.0))
        for demand, latest, index in zip(replay.demands, replay.latests, replay.level_of_minute, strict=True)
    ]
    if len(pairs) < JUDGE_MIN_MINUTES:
        return None
    demand_total = sum(d for d, _, _ in pairs)
    target_spend = sum(latest for _, latest, _ in pairs)  # / the share: what target headroom spends
    noise_spend = sum(capacity for _, _, capacity in pairs)
    if demand_total <= 0 or target_spend <= 0 or noise_spend <= 0:
        return None  # nothing served or nothing held: nothing to judge
    share = target_spend / noise_spend / target_fraction
    matched = target_fraction * share
    noise_dropped = sum(max(0.0, d - capacity) for d, _, capacity in pairs)
    target_dropped = sum(max(0.0, d - latest / matched) for d, latest, _ in pairs)
    return HeadroomVerdict(
        judged_at,
        len(pairs),
        100 * noise_dropped / demand_total,
        100 * target_dropped / demand_total,
        share,
    )


def noise_multiple_curve(
    minutes: Sequence[float | None],
    multipliers: Sequence[float],
    *,
    target_fraction: float,
    sigmas: float,
    window: int,
    max_share_of_mean: float | None,
    lead: int,
    sigmas_max: float = math.inf,
    share_max: float = math.inf,
) -> dict[float, tuple[float, float]] | None:
    """What each multiple of the noise headroom (its sigmas and its cap) would have dropped and spent,
    relative to the configured headroom (1.0), in the judge's one-lead-ahead replay of `minutes`: capacity
    for each minute the larger of the latest known minute at the target and the noise floor. The anchor
    check reads a group's own response to the multiple from it, where a generic curve would promise a
    weak lever (noise that rarely binds) as much as a strong one. A multiple's sigmas and cap stop at
    `sigmas_max` and `share_max`, as the decision's do. None with under a day to replay, or without
    demand or spend; drops relative to none dropped are 1.0 (nothing to gain)."""
    if not 0 < target_fraction <= 1 or lead < 1 or 1.0 not in multipliers:
        raise ValueError("need 0 < target_fraction <= 1, lead >= 1 and the multiple 1.0")
    # Each multiple's sigmas and cap, as the decision runs them.
    settings = {
        m: (
            min(sigmas_max, sigmas * m),
            None if max_share_of_mean is None else min(share_max, max_share_of_mean * m),
        )
        for m in multipliers
    }
    # Run once a day over two weeks for every anchored group (the benchmark's month judged 30 times), so
    # each multiple is summed over lists, its floor worked out once per noise level. The same floats as
    # a minute-by-minute loop: max() spelt as a comparison that picks the same operand, and each total
    # added up in minute order from 0.0 (`reduce`, not `sum`, which compensates on 3.12).
    replay = _lead_ahead(_known_minutes(minutes), window, lead)
    at_targets = [latest / target_fraction for latest in replay.latests]
    if len(replay.demands) < 1440:
        return None
    dropped: dict[float, float] = {}
    spent: dict[float, float] = {}
    for multiplier, (m_sigmas, m_share) in settings.items():
        floors = [_with_headroom(mean, spread, m_sigmas, m_share) for mean, spread in replay.levels]
        capacities = [
            at_target if index < 0 or not floors[index] > at_target else floors[index]
            for at_target, index in zip(at_targets, replay.level_of_minute, strict=True)
        ]
        shortfalls = [demand - capacity for demand, capacity in zip(replay.demands, capacities, strict=True)]
        dropped[multiplier] = reduce(operator.add, [s if s > 0.0 else 0.0 for s in shortfalls], 0.0)
        spent[multiplier] = reduce(operator.add, capacities, 0.0)
    if spent[1.0] <= 0:
        return None
    # A multiple that would have dropped nothing is read as a hundredth of the configured drops, not none:
    # a day run at it is read back through the ratio, and a day's drops are never infinitely many.
    return {
        m: (
            max(MIN_DROP_RATIO, dropped[m] / dropped[1.0]) if dropped[1.0] > 0 else 1.0,
            spent[m] / spent[1.0],
        )
        for m in multipliers
    }


def _known_minutes(minutes: Sequence[float | None]) -> list[float | None]:
    """`minutes` with None for every one not a count (None, NaN or negative)."""
    return [v if v is not None and v == v and v >= 0 else None for v in minutes]


@dataclass(frozen=True)
class _LeadAhead:
    """The one-lead-ahead replay the judges share, one entry per minute whose demand is known and whose
    capacity, set `lead` minutes before, had a latest known minute to go on: its demand, that latest
    minute, and the index in `levels` of the (mean, spread) of the `window` before it as last refreshed
    (-1: too few known). The level changes only at a refresh, so a judge works out what it makes of
    each level once, not once a minute."""

    demands: list[float]
    latests: list[float]
    level_of_minute: list[int]
    levels: list[tuple[float, float]]


def _lead_ahead(known_at: Sequence[float | None], window: int, lead: int) -> _LeadAhead:
    replay = _LeadAhead([], [], [], [])
    current = -1
    for t in range(lead, len(known_at)):
        decided = t - lead + 1  # minutes [.. decided) are known when capacity for t is set
        if (t - lead) % _JUDGE_REFRESH_MINUTES == 0:
            noise = _noise_level(known_at[max(0, decided - window) : decided], 1.0, window, None)
            if noise is None:
                current = -1
            else:
                replay.levels.append((noise[0], noise[1]))
                current = len(replay.levels) - 1
        demand, latest = known_at[t], known_at[decided - 1]
        if demand is not None and latest is not None:
            replay.demands.append(demand)
            replay.latests.append(latest)
            replay.level_of_minute.append(current)
    return replay


def _with_headroom(mean: float, spread: float, sigmas: float, max_share_of_mean: float | None) -> float:
    """The mean plus `sigmas` spreads, that headroom at most `max_share_of_mean` x the mean."""
    headroom = sigmas * spread
    if max_share_of_mean is not None:
        headroom = min(headroom, max_share_of_mean * mean)
    return mean + headroom


def _noise_level(
    window_minutes: Sequence[float | None], sigmas: float, window: int, max_share_of_mean: float | None
) -> tuple[float, float, float] | None:
    """(mean, spread, mean + headroom) of one window's known minutes, in requests per minute; None when
    fewer than half of `window` are known (None or NaN: no datapoint)."""
    known = [v for v in window_minutes if v is not None and v == v and v >= 0]
    if len(known) * 2 < window:
        return None
    mean = sum(known) / len(known)
    spread = minute_spread(known)
    return mean, spread, _with_headroom(mean, spread, sigmas, max_share_of_mean)


def without_windows(
    minutes: Sequence[float | None], first: datetime, windows: Iterable[tuple[datetime, datetime]]
) -> list[float | None]:
    """`minutes` (one per minute from `first`) with every minute that starts inside a [start, end)
    window unknown: a declared sale's minutes are the sale's, met by its own floor, and would tell the
    judge about the sale, not about the group's everyday noise."""
    out = list(minutes)
    for start, end in windows:
        low = max(0, math.ceil((start - first) / timedelta(minutes=1)))
        high = min(len(out), math.ceil((end - first) / timedelta(minutes=1)))
        if low < high:
            out[low:high] = [None] * (high - low)
    return out
