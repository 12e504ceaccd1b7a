"""Sale events: the plan in UTC from local time, lead time, targets, the floor's timeline, ramps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from surgeguard.config import ConfigError, GroupConfig, parse_config
from surgeguard.domain.sales import floor_at, lead_time, plan_event, target_capacity

from .core_builders import REQUESTS


def group_with(event: dict[str, Any], **overrides: Any) -> GroupConfig:
    data: dict[str, Any] = {
        "name": "web",
        "min": 2,
        "max": 60,
        "warmup_seconds": 240,
        "launch_seconds": 120,
        "signals": [{"kind": "cpu", "target": 50}, REQUESTS],
        "events": [event],
    }
    data.update(overrides)
    return parse_config({"groups": [data]}).groups[0]


DOORBUSTER = {
    "name": "doorbuster",
    "start": "2026-11-27T00:00:00",
    "end": "2026-11-27T02:00:00",
    "timezone": "America/New_York",
    "peak_multiplier": 4,
    "temporary_max": 80,
}


def test_the_plan_is_in_utc_from_the_events_own_zone_with_the_lead_broken_down() -> None:
    group = group_with(DOORBUSTER)
    plan = plan_event(group, group.events[0])
    lead = lead_time(group)
    # EST is UTC-5 on Black Friday; lead = 2 min launch + 4 min warm-up + 2 min lateness + 5 min margin
    assert lead.total == timedelta(minutes=13)
    assert plan.start == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    assert plan.prewarm == datetime(2026, 11, 27, 4, 47, tzinfo=UTC)
    assert plan.release == plan.end + timedelta(minutes=30)
    assert list(plan.phase_times()) == ["prewarm", "release", "restore"]


def test_a_summer_event_uses_daylight_time() -> None:
    group = group_with({**DOORBUSTER, "start": "2026-07-04T12:00:00", "end": "2026-07-04T13:00:00"})
    assert plan_event(group, group.events[0]).start == datetime(2026, 7, 4, 16, 0, tzinfo=UTC)


def test_the_floor_holds_the_target_then_steps_down_ten_percent_per_five_minutes() -> None:
    group = group_with(DOORBUSTER)
    plan = plan_event(group, group.events[0])
    assert floor_at(plan, 40, plan.prewarm - timedelta(seconds=1)) is None
    assert floor_at(plan, 40, plan.prewarm) == 40
    assert floor_at(plan, 40, plan.release - timedelta(seconds=1)) == 40
    assert floor_at(plan, 40, plan.release) == 36
    assert floor_at(plan, 40, plan.release + timedelta(minutes=5)) == 32
    assert floor_at(plan, 40, plan.release + timedelta(hours=5)) is None
    assert plan.active(plan.prewarm) and not plan.active(plan.release)


def test_an_early_release_ends_the_freeze_after_the_doors_and_steps_down_every_minute() -> None:
    # (no temporary max: restored an hour after this release, it would be before the end, refused)
    group = group_with({**DOORBUSTER, "temporary_max": None, "release_after_doors_minutes": 15})
    plan = plan_event(group, group.events[0])
    assert plan.release == plan.start + timedelta(minutes=15)
    assert list(plan.phase_times()) == ["prewarm", "release", "restore"]
    assert floor_at(plan, 40, plan.release - timedelta(seconds=1)) == 40
    assert floor_at(plan, 40, plan.release) == 36
    assert floor_at(plan, 40, plan.release + timedelta(minutes=1)) == 32
    assert plan.active(plan.start) and not plan.active(plan.release)
    # An event shorter than the doors window keeps its own end (plus the hold) as the release.
    short = group_with({**DOORBUSTER, "end": "2026-11-27T00:05:00", "release_after_doors_minutes": 60})
    short_plan = plan_event(short, short.events[0])
    assert short_plan.release == short_plan.end + timedelta(minutes=30)


def test_targets_from_an_absolute_peak_a_multiplier_or_the_running_capacity() -> None:
    absolute = group_with({**DOORBUSTER, "peak_multiplier": None, "peak_requests_per_minute": 45_000})
    assert target_capacity(absolute, absolute.events[0], None, 10)[0] == 45  # 45,000 / 1,000
    multiplied = group_with(DOORBUSTER)
    assert target_capacity(multiplied, multiplied.events[0], 12_000, 10)[0] == 48  # 4 x 12,000 / 1,000
    # Without history, the multiplier applies to the capacity the group runs; clamped to the max.
    assert target_capacity(multiplied, multiplied.events[0], None, 30)[0] == 80


def test_a_ramp_raises_the_floor_in_stages_each_with_its_own_phase_ahead_of_its_demand() -> None:
    ramp = [{"minutes_before_start": 60, "fraction": 0.25}, {"minutes_before_start": 20, "fraction": 0.5}]
    group = group_with({**DOORBUSTER, "ramp": ramp})
    plan = plan_event(group, group.events[0])
    phases = plan.phase_times()
    assert list(phases) == ["ramp-1", "ramp-2", "prewarm", "release", "restore"]
    assert phases["ramp-1"] == plan.start - timedelta(minutes=60 + 13)
    assert phases["ramp-2"] == plan.start - timedelta(minutes=20 + 13)
    assert floor_at(plan, 40, phases["ramp-1"] - timedelta(seconds=1)) is None
    assert floor_at(plan, 40, phases["ramp-1"]) == 10
    assert floor_at(plan, 40, phases["ramp-2"]) == 20
    assert floor_at(plan, 40, plan.prewarm) == 40
    # scale-in is frozen from the first stage
    assert plan.active(phases["ramp-1"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"end": "2026-11-26T23:00:00"}, "is not after start"),
        ({"peak_requests_per_minute": 1000}, "exactly one of"),
        ({"timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        ({"start": "2026-11-27T00:00:00-05:00"}, "without an offset"),
        ({"temporary_max": 10}, "is below max"),
        ({"peak_multiplier": None, "peak_requests_per_minute": 90_000}, "raise temporary_max"),
        # New York's clocks skip 02:00-03:00 on 2026-03-08: a start then read as 03:30, after its end
        (
            {"start": "2026-03-08T02:30:00", "end": "2026-03-08T03:15:00"},
            "start 2026-03-08T02:30:00 does not exist",
        ),
        (
            {"start": "2026-03-08T01:00:00", "end": "2026-03-08T02:15:00"},
            "end 2026-03-08T02:15:00 does not exist",
        ),
        (
            {
                "ramp": [
                    {"minutes_before_start": 20, "fraction": 0.5},
                    {"minutes_before_start": 60, "fraction": 0.2},
                ]
            },
            "earliest first",
        ),
        (
            {
                "ramp": [
                    {"minutes_before_start": 60, "fraction": 0.5},
                    {"minutes_before_start": 20, "fraction": 0.2},
                ]
            },
            "must not fall",
        ),
    ],
)
def test_bad_events_are_named_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        group_with({**DOORBUSTER, **change})


def test_an_absolute_peak_needs_a_requests_signal_to_size_instances() -> None:
    # It once validated, and then every pre-warm failed (retried, notified) and never raised MaxSize
    absolute = {**DOORBUSTER, "peak_multiplier": None, "peak_requests_per_minute": 45_000}
    with pytest.raises(ConfigError, match="peak_requests_per_minute needs a requests_per_target signal"):
        group_with(absolute, signals=[{"kind": "cpu", "target": 50}])


def test_a_time_the_clocks_show_twice_is_accepted_as_its_first_showing() -> None:
    # 01:30 on 2026-11-01 in New York comes twice; the first is daylight time (UTC-4)
    plan = plan_event(*_web_and_event({"start": "2026-11-01T01:30:00", "end": "2026-11-01T03:00:00"}))
    assert plan.start == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def _web_and_event(change: dict[str, Any]) -> tuple[GroupConfig, Any]:
    group = group_with({**DOORBUSTER, **change})
    return group, group.events[0]


@pytest.mark.parametrize(
    ("start", "zone", "expected"),
    [
        # the Saturday after the US clocks fell back: last Saturday 10:00 was daylight time (UTC-4)
        ("2026-11-07T10:00:00", "America/New_York", datetime(2026, 10, 31, 14, 0, tzinfo=UTC)),
        # the Saturday after they sprang forward: last Saturday 10:00 was standard time (UTC-5)
        ("2026-03-14T10:00:00", "America/New_York", datetime(2026, 3, 7, 15, 0, tzinfo=UTC)),
        ("2026-11-27T00:00:00", "America/New_York", datetime(2026, 11, 20, 5, 0, tzinfo=UTC)),
        ("2026-11-27T00:00:00", "UTC", datetime(2026, 11, 20, 0, 0, tzinfo=UTC)),
    ],
)
def test_normal_demand_is_last_weeks_at_the_same_local_time(
    start: str, zone: str, expected: datetime
) -> None:
    from surgeguard.domain.sales import normal_demand_time

    end = (datetime.fromisoformat(start) + timedelta(hours=2)).isoformat()
    event = group_with({**DOORBUSTER, "start": start, "end": end, "timezone": zone}).events[0]
    assert normal_demand_time(event) == expected


def test_a_temporary_max_restored_before_the_sale_ends_is_refused() -> None:
    # Released 15 minutes after the doors of a 2-hour sale, the max was restored an hour later, at 01:15,
    # with 45 minutes of the sale to go: the restore cut desired to the old max and no decision could
    # pass it for the rest of the sale, which the temporary max was declared for
    with pytest.raises(
        ConfigError,
        match=r"temporary_max \(80\) would be restored at 2026-11-27T01:15:00, before the sale ends at "
        r"2026-11-27T02:00:00.*release_after_doors_minutes of at least 60",
    ):
        group_with({**DOORBUSTER, "release_after_doors_minutes": 15})
    # ... released an hour after the doors, it is restored as the sale ends; without a temporary max
    # nothing is restored at all
    assert group_with({**DOORBUSTER, "release_after_doors_minutes": 60}).events[0].temporary_max == 80
    no_max = {**DOORBUSTER, "temporary_max": None, "release_after_doors_minutes": 15}
    assert group_with(no_max).events[0].release_after_doors_minutes == 15
