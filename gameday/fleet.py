"""The simulated Auto Scaling group: sizing, instance life cycle and per-minute metrics."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from gameday.traces import Trace

# BENCHMARK.md: "ceil() uses a 1e-9 tolerance", so 20.000000000000004 instances is 20.
CEIL_TOLERANCE = 1e-9
# Initial instances are launched long before minute 0 so they are serving from the start.
_LAUNCHED_BEFORE_TRACE = -(10**9)


def ceil_tol(value: float) -> int:
    """ceil() that ignores floating-point noise below 1e-9."""
    return math.ceil(value - CEIL_TOLERANCE)


@dataclass(frozen=True)
class FleetParams:
    """Fleet-model knobs of BENCHMARK.md; each has a bench flag and is printed in the report."""

    pending_minutes: int = 2
    warming_minutes: int = 2
    min_size: int = 2
    max_factor: float = 1.5
    capacity_divisor: float = 5.0
    # Fraction of c each starting instance carries: start = ceil(max(d[0..4]) / (0.5 c)).
    initial_utilization: float = 0.5
    # AWS documents scheduled actions may run up to 2 minutes late; 0 = always on time.
    scheduled_action_delay_minutes: int = 0

    def __post_init__(self) -> None:
        if self.pending_minutes < 0 or self.warming_minutes < 0:
            raise ValueError("pending and warming minutes must be >= 0")
        if self.min_size < 0:
            raise ValueError("min size must be >= 0")
        if self.max_factor <= 0 or self.capacity_divisor <= 0 or self.initial_utilization <= 0:
            raise ValueError("max factor, capacity divisor and initial utilization must be > 0")
        if self.scheduled_action_delay_minutes < 0:
            raise ValueError("scheduled-action delay must be >= 0")

    @property
    def serving_age(self) -> int:
        """Age in minutes from which a launched instance serves."""
        return self.pending_minutes + self.warming_minutes


@dataclass(frozen=True)
class FleetSizing:
    """Per-trace fleet: capacity c of one instance (requests/minute at 100% CPU) and group limits."""

    capacity_per_instance: float
    min_size: int
    max_size: int
    initial_size: int

    def __post_init__(self) -> None:
        if self.capacity_per_instance <= 0:
            raise ValueError("capacity per instance must be > 0")
        if not 0 <= self.min_size <= self.max_size:
            raise ValueError("need 0 <= min size <= max size")
        if not self.min_size <= self.initial_size <= self.max_size:
            raise ValueError("initial size must lie within [min size, max size]")

    def clamp(self, desired: int) -> int:
        return min(self.max_size, max(self.min_size, desired))


DEFAULT_PARAMS = FleetParams()


def size_fleet(trace: Trace, params: FleetParams = DEFAULT_PARAMS) -> FleetSizing:
    """c = median(d)/5 over non-gap minutes (mean/5 if the median is 0), limits per BENCHMARK.md."""
    observed = [d for d, is_gap in zip(trace.demand, trace.gap, strict=True) if not is_gap]
    if not observed or max(observed) <= 0:
        raise ValueError(f"trace {trace.name!r} has no demand outside gaps")
    typical = statistics.median(observed)
    if typical <= 0:
        typical = statistics.fmean(observed)
    capacity = typical / params.capacity_divisor
    peak = max(observed)
    opening_peak = max(trace.demand[:5])
    # Values near the float's limits, or extreme fleet knobs, overflow c or the sizes: no fleet fits.
    out_of_range = ValueError(
        f"trace {trace.name!r}: no fleet fits it (c = {capacity:g} per instance): its values or the fleet "
        "knobs are out of range"
    )
    if not 0 < capacity < math.inf:
        raise out_of_range
    try:
        max_size = max(params.min_size, ceil_tol(params.max_factor * peak / capacity))
        initial = ceil_tol(opening_peak / (params.initial_utilization * capacity))
    except (OverflowError, ValueError, ZeroDivisionError):
        raise out_of_range from None
    return FleetSizing(
        capacity_per_instance=capacity,
        min_size=params.min_size,
        max_size=max_size,
        initial_size=min(max_size, max(params.min_size, initial)),
    )


def cpu_utilization(demand: float, serving: int, capacity: float) -> float:
    """Average CPU of the serving instances; it saturates at 100 like a real CPU does."""
    if serving <= 0:
        return 100.0 if demand > 0 else 0.0
    return 100.0 * min(1.0, demand / (serving * capacity))


def requests_per_target(demand: float, serving: int) -> float:
    """ALB RequestCountPerTarget: it counts requests offered, so unlike CPU it does not saturate."""
    if serving <= 0:
        # ALB divides by the healthy targets; with none we report the whole load on one.
        return demand
    return demand / serving


class Fleet:
    """The instances of the group as launch cohorts, youngest last.

    EC2 Auto Scaling terminates the newest instances first here (the protocol's simplification
    of the default termination policy), so a cohort stack gives O(1) scale-in and the instances
    still maturing are always the last few cohorts.
    """

    __slots__ = ("launch_minutes", "_counts", "total", "serving_age", "pending_minutes")

    def __init__(self, initial_size: int, params: FleetParams) -> None:
        self.launch_minutes: list[int] = [_LAUNCHED_BEFORE_TRACE] if initial_size else []
        self._counts: list[int] = [initial_size] if initial_size else []
        self.total = initial_size
        self.serving_age = params.serving_age
        self.pending_minutes = params.pending_minutes

    def set_desired(self, desired: int, minute: int) -> None:
        """Launch at `minute` (billed from now, serving after the warm-up) or terminate youngest first."""
        if desired > self.total:
            self.launch_minutes.append(minute)
            self._counts.append(desired - self.total)
        else:
            to_remove = self.total - desired
            launches, counts = self.launch_minutes, self._counts
            while to_remove:
                if counts[-1] > to_remove:
                    counts[-1] -= to_remove
                    break
                to_remove -= counts[-1]
                counts.pop()
                launches.pop()
        self.total = desired

    def not_serving(self, minute: int) -> int:
        """Instances still pending or warming at `minute`."""
        return self.launched_within(minute, self.serving_age)

    def serving(self, minute: int) -> int:
        return self.total - self.not_serving(minute)

    def pending(self, minute: int) -> int:
        return self.launched_within(minute, self.pending_minutes)

    def warming(self, minute: int) -> int:
        return self.not_serving(minute) - self.pending(minute)

    def launched_within(self, minute: int, minutes: int) -> int:
        """Instances still in the group that were launched less than `minutes` minutes before `minute`."""
        oldest_counted = minute - minutes
        launches, counts = self.launch_minutes, self._counts
        recent = 0
        i = len(launches) - 1
        while i >= 0 and launches[i] > oldest_counted:
            recent += counts[i]
            i -= 1
        return recent
