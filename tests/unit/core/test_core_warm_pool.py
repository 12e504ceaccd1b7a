"""Sizing the group's warm pool from the forecast, the last week's peak and the sale calendar (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from surgeguard.domain.warm_pool import SHRINK_BELOW, WarmPool, size_warm_pool


def _size(**overrides: Any) -> int | None:
    arguments: dict[str, Any] = {
        "steps": (4, 6, 5),
        "burst_rises": (),
        "week_peak_requests": 5000.0,
        "per_instance": 1000.0,
        "event_targets": (),
        "group_max": 40,
        "current": None,
    }
    sizing = size_warm_pool(**{**arguments, **overrides})
    return None if sizing is None else sizing.max_group_prepared_capacity


def test_the_largest_need_wins() -> None:
    assert _size() == 6  # the forecast's busiest step over the week's 5
    assert _size(week_peak_requests=9000.0) == 9
    assert _size(week_peak_requests=None) == 6
    # A burst the forecaster anticipates multiplies the floors: 6 x 1.5 = 9.
    assert _size(burst_rises=(1.2, 1.5)) == 9
    assert _size(event_targets=(("black-friday", 25),)) == 25


def test_never_above_the_group_max() -> None:
    assert _size(week_peak_requests=90_000.0) == 40
    sizing = size_warm_pool(
        steps=(60,),
        burst_rises=(),
        week_peak_requests=None,
        per_instance=1000.0,
        event_targets=(),
        group_max=40,
        current=None,
    )
    assert sizing is not None and sizing.why.endswith("capped at the group's max 40")


@pytest.mark.parametrize(
    ("held", "expected"),
    [
        (None, 6),  # unset: the group's max, 40; 6 is under half of it
        (6, None),  # unchanged: nothing to put
        (4, 6),  # growing applies at once
        (12, None),  # 6 is half of 12, not under it: kept
        (13, 6),  # under half of 13: shrinks
    ],
)
def test_grows_at_once_and_shrinks_only_below_half(held: int | None, expected: int | None) -> None:
    assert SHRINK_BELOW == 0.5
    assert _size(current=WarmPool(held)) == expected


def test_the_why_names_every_part() -> None:
    sizing = size_warm_pool(
        steps=(4,),
        burst_rises=(2.0,),
        week_peak_requests=3000.0,
        per_instance=1000.0,
        event_targets=(("sale", 7),),
        group_max=40,
        current=None,
    )
    assert sizing is not None
    assert sizing.why == (
        "prepared capacity 8: the largest of forecast 8 (floors x burst rise 2.00), "
        "last week's peak 3, event sale 7"
    )


def test_a_pool_held_above_the_group_max_is_brought_down_to_it() -> None:
    # A sale's temporary max (30) sized it; the restore put MaxSize back to 20. Shrinking 30 -> 20 is not
    # below half, so it was kept: ten stopped instances no scale-out can draw, held at a cost
    sizing = size_warm_pool(
        steps=(6, 7),
        burst_rises=(),
        week_peak_requests=25_000.0,
        per_instance=1000.0,
        event_targets=(),
        group_max=20,
        current=WarmPool(30),
    )
    assert sizing is not None and sizing.max_group_prepared_capacity == 20


def test_an_unset_prepared_capacity_is_judged_at_the_groups_maxsize_in_aws() -> None:
    # AWS prepares an unset pool (-1) for the group's MaxSize. Judged at the config's max or a sale's
    # target instead, a pool preparing 20 passed for one preparing a sale's 30, and one preparing 50
    # (MaxSize raised by hand) for one within the config's 20.
    unset = WarmPool(None)
    assert _size(event_targets=(("black-friday", 30),), group_max=30, current=unset, asg_max=20) == 30
    assert _size(group_max=20, current=unset, asg_max=50, week_peak_requests=12_000.0) == 12
    # At the group's own max, an unset pool is the pool that max asks for: nothing to put.
    assert _size(week_peak_requests=40_000.0, current=unset, asg_max=40) is None
