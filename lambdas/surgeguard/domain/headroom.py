"""Headroom where the demand's own noise calls for it (pure).

A fixed utilization target keeps headroom in proportion to the load. Noise does not scale so: at a few
requests a minute it is most of the load (Poisson noise is the square root of the count), at thousands
it is a few percent. Scale-in keeps capacity for the recent mean plus a few times the minute-to-minute
spread, at what an instance serves at full load (`floor:noise`).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

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
    changes = [v for i, v in enumerate(minutes) if i == 0 or v != minutes[i - 1]]
    if len(changes) <= MIN_CHANGES:
        return 0.0
    return (
        statistics.median(abs(b - a) for a, b in zip(changes, changes[1:], strict=False))
        / _MEDIAN_ABS_DIFFERENCE
    )


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
    known = [v for v in minutes[-window:] if v is not None and v == v and v >= 0]
    if len(known) * 2 < window or per_instance <= 0:
        return None
    mean = sum(known) / len(known)
    spread = minute_spread(known)
    headroom = sigmas * spread
    if max_share_of_mean is not None:
        headroom = min(headroom, max_share_of_mean * mean)
    capacity = max(0, math.ceil((mean + headroom) / per_instance - CEIL_TOLERANCE))
    return NoiseFloor(mean, spread, capacity)


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
