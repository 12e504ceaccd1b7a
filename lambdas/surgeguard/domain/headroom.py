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


@dataclass(frozen=True)
class NoiseFloor:
    mean: float  # requests per minute over the window
    spread: float  # the minute-to-minute spread (one sigma)
    capacity: int  # instances for mean + sigmas x spread at full load


def minute_spread(minutes: Sequence[float]) -> float:
    """The noise of a per-minute series, from the median of its successive differences: a trend or a
    burst moves the mean and a few differences, not their median (a plain standard deviation over a
    window holding a burst is the burst's size, and would hold its capacity after it)."""
    if len(minutes) < 2:
        return 0.0
    return (
        statistics.median(abs(b - a) for a, b in zip(minutes, minutes[1:], strict=False))
        / _MEDIAN_ABS_DIFFERENCE
    )


def noise_floor(
    minutes: Sequence[float | None], sigmas: float, per_instance: float, window: int
) -> NoiseFloor | None:
    """The capacity the last `window` minutes' noise calls for; None when fewer than half are known
    (None or NaN: no datapoint)."""
    known = [v for v in minutes[-window:] if v is not None and v == v and v >= 0]
    if len(known) * 2 < window or per_instance <= 0:
        return None
    mean = sum(known) / len(known)
    spread = minute_spread(known)
    capacity = max(0, math.ceil((mean + sigmas * spread) / per_instance - CEIL_TOLERANCE))
    return NoiseFloor(mean, spread, capacity)
