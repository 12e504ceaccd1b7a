"""The group's EC2 warm pool, sized from the forecast and the sale calendar (pure).

A warm pool holds instances launched, initialised and stopped beside the group; a scale-out draws on
it first and serves in about a minute instead of a full launch and warm-up. Its size is
MaxGroupPreparedCapacity minus the desired capacity (EC2 Auto Scaling user guide, "Warm pools for
Amazon EC2 Auto Scaling"; unset, the group's MaxSize). AWS leaves that number static; Surgeguard's
forecaster sets it to what the next hours could need, so the pool is no larger than it pays to hold.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from surgeguard.domain.forecast import CEIL_TOLERANCE

# A smaller pool is applied only once it is less than half the current one. Shrinking terminates
# stopped instances and a later growth boots new ones at full price for a launch and warm-up: at 3 %
# of a running instance's price to hold one stopped (README's benchmark protocol), four minutes of
# boot cost as much as two hours stopped, so a pool that shrinks and grows with every hourly forecast
# costs more than it saves (measured: README, "Warm pools").
SHRINK_BELOW = 0.5


@dataclass(frozen=True)
class WarmPool:
    """A group's warm pool as DescribeWarmPool returns it (PutWarmPool's parameters)."""

    # None: unset (-1 in the API), i.e. the group's MaxSize.
    max_group_prepared_capacity: int | None
    min_size: int = 0
    pool_state: str = "Stopped"
    reuse_on_scale_in: bool = True

    def prepared(self, group_max: int) -> int:
        return group_max if self.max_group_prepared_capacity is None else self.max_group_prepared_capacity


@dataclass(frozen=True)
class PoolSizing:
    """The MaxGroupPreparedCapacity to put, and why (for the audit record)."""

    max_group_prepared_capacity: int
    why: str


def size_warm_pool(
    *,
    steps: Sequence[int],
    burst_rises: Sequence[float],
    week_peak_requests: float | None,
    per_instance: float,
    event_targets: Sequence[tuple[str, int]],
    group_max: int,
    current: WarmPool | None,
    shrink_below: float = SHRINK_BELOW,
    asg_max: int | None = None,
) -> PoolSizing | None:
    """The prepared capacity (group + pool) the next hours could need, or None to leave the pool as is.

    The largest of: the forecast's floors over its horizon times the largest burst rise it
    anticipates; the busiest minute of the last week at `per_instance` requests each (what a burst the
    forecast does not see has asked lately); the target of each sale event whose window is near
    (`event_targets`). Never above the group's max (no scale-out can use more), and a pool above it is
    brought down to it. Otherwise a smaller value than the pool's current one is applied only below
    `shrink_below` of it (see SHRINK_BELOW). `asg_max`: the group's MaxSize in AWS, which a pool whose
    prepared capacity is unset prepares for (AWS's meaning of -1); None: `group_max`.
    """
    if per_instance <= 0:
        raise ValueError("per_instance must be > 0")
    rise = max((r for r in burst_rises if r > 1.0), default=1.0)
    forecast = math.ceil(max(steps, default=0) * rise - CEIL_TOLERANCE)
    week = 0 if week_peak_requests is None else math.ceil(week_peak_requests / per_instance - CEIL_TOLERANCE)
    parts = [f"forecast {forecast}" + (f" (floors x burst rise {rise:.2f})" if rise > 1.0 else "")]
    parts.append(f"last week's peak {week}" if week_peak_requests is not None else "no week of history")
    need = max(forecast, week)
    for event, target in event_targets:
        parts.append(f"event {event} {target}")
        need = max(need, target)
    capped = min(group_max, need)
    why = f"prepared capacity {capped}: the largest of {', '.join(parts)}" + (
        f", capped at the group's max {group_max}" if need > group_max else ""
    )
    if current is not None:
        held = current.prepared(group_max if asg_max is None else asg_max)
        if capped == held:
            return None
        # Kept when it shrinks little, unless it holds more than the group may reach (a sale's temporary
        # max, restored since): no scale-out can draw those instances, held stopped at a cost.
        if shrink_below * held <= capped < held <= group_max:
            return None
    return PoolSizing(capped, why)
