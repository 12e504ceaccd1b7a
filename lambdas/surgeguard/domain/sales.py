"""Sale events: when to pre-warm, to what, and the floor the reactive path keeps; pure, no I/O.

A pre-warm starts `lead` before the doors open: launch (pending) + warm-up + the scheduler's possible
lateness + a margin. An optional ramp raises the floor in stages before that (each stage `lead` ahead of
the demand it expects). From the first stage until `hold_after_minutes` past the end (or, if set and
sooner, `release_after_doors_minutes` past the doors opening) the group has a floor and scale-in is
frozen; after that the floor steps down 10% every 5 minutes, so capacity follows the load down
gradually (the reactive path never goes below what the current load needs anyway).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from surgeguard.config import GroupConfig, SaleEvent
from surgeguard.domain.model import EventState

# EventBridge Scheduler fires a one-time schedule within about a minute of its time with no flexible
# window; we plan for two, as BENCHMARK.md does for scheduled actions.
SCHEDULER_LATENESS = timedelta(minutes=2)
MARGIN = timedelta(minutes=5)
RELEASE_STEP = timedelta(minutes=5)
# Released early (`release_after_doors_minutes`), the floor may still stand far above a demand that did
# not come or has passed (a 20-minute flash sale): it steps down every minute instead, 10x to 1x in 22
# minutes. A demand that did come holds its capacity through the reactive path, not the floor.
EARLY_RELEASE_STEP = timedelta(minutes=1)
RELEASE_FACTOR = 0.9
# A temporary max is restored this long after the release, once the floor has mostly stepped down.
RESTORE_AFTER = timedelta(hours=1)
PHASES = ("prewarm", "release", "restore")  # plus "ramp-1", "ramp-2", ... when the event has a ramp
RAMP_PREFIX = "ramp-"
# A peak multiplier multiplies what the group served a week before the doors (the same weekday and hour).
NORMAL_LOOKBACK = timedelta(days=7)


@dataclass(frozen=True)
class LeadTime:
    launch: timedelta
    warmup: timedelta
    scheduler_lateness: timedelta
    margin: timedelta

    @property
    def total(self) -> timedelta:
        return self.launch + self.warmup + self.scheduler_lateness + self.margin


@dataclass(frozen=True)
class EventPlan:
    """One event's timeline in UTC (converted once, from the event's own zone)."""

    group: str
    event: str
    start: datetime
    end: datetime
    prewarm: datetime
    release: datetime  # scale-in unfreezes and the floor starts stepping down
    lead: LeadTime
    temporary_max: int | None
    ramp: tuple[tuple[datetime, float], ...] = ()  # (when the stage fires, fraction of the target)
    release_step: timedelta = RELEASE_STEP  # the floor's step-down interval after the release

    @property
    def first_phase(self) -> datetime:
        return self.ramp[0][0] if self.ramp else self.prewarm

    def fraction_at(self, now: datetime) -> float:
        """Share of the target the floor holds at `now` (1 from the pre-warm on)."""
        if now >= self.prewarm:
            return 1.0
        return max((f for when, f in self.ramp if when <= now), default=0.0)

    @property
    def restore(self) -> datetime:
        return self.release + RESTORE_AFTER

    @property
    def opened(self) -> tuple[datetime, datetime]:
        """When the sale's own demand may come: from its first opening (early access included) to its
        end or its release, whichever is later (a floor released minutes after the doors leaves the sale
        on). Before it, the pre-warm's lead is everyday demand."""
        return self.first_phase + self.lead.total, max(self.end, self.release)

    def phase_times(self) -> dict[str, datetime]:
        """When each scheduled phase fires (UTC), in order; the stack schedules exactly these."""
        ramp = {f"{RAMP_PREFIX}{i}": when for i, (when, _) in enumerate(self.ramp, start=1)}
        return {**ramp, "prewarm": self.prewarm, "release": self.release, "restore": self.restore}

    def active(self, now: datetime) -> bool:
        return self.first_phase <= now < self.release

    def raised_max(self, now: datetime) -> int | None:
        """The temporary max in effect at `now` (from the first phase, a ramp stage or the pre-warm,
        both of which raise it, until the restore), if any."""
        return self.temporary_max if self.first_phase <= now < self.restore else None

    def to_local(self, when: datetime, event: SaleEvent) -> datetime:
        return when.astimezone(event.local(event.start).tzinfo)


def lead_time(group: GroupConfig) -> LeadTime:
    return LeadTime(
        launch=timedelta(seconds=group.launch_seconds),
        warmup=timedelta(seconds=group.warmup_seconds),
        scheduler_lateness=SCHEDULER_LATENESS,
        margin=MARGIN,
    )


def learned_launch_seconds(durations: Sequence[float], minimum_samples: int = 3) -> int | None:
    """The 90th percentile (nearest rank) of real launch durations, or None with too few of them."""
    if len(durations) < minimum_samples:
        return None
    ordered = sorted(durations)
    rank = math.ceil(0.9 * len(ordered)) - 1
    return math.ceil(ordered[rank])


def plan_event(group: GroupConfig, event: SaleEvent) -> EventPlan:
    lead = lead_time(group)
    start = event.local(event.start).astimezone(UTC)
    end = event.local(event.end).astimezone(UTC)
    return EventPlan(
        group=group.name,
        event=event.name,
        start=start,
        end=end,
        prewarm=start - lead.total,
        release=_release_time(start, end, event),
        release_step=RELEASE_STEP if event.release_after_doors_minutes is None else EARLY_RELEASE_STEP,
        lead=lead,
        temporary_max=event.temporary_max,
        ramp=tuple(
            (start - timedelta(minutes=step.minutes_before_start) - lead.total, step.fraction)
            for step in event.ramp
        ),
    )


# An event item is written by its sale's first phase. One written before this edition's first phase (less
# this margin for a phase run early) is an earlier edition's: last year's Black Friday, or the sale
# before it was moved, whose target, original MaxSize and base capacity are not this one's.
EDITION_MARGIN = timedelta(hours=1)


def this_editions(group: GroupConfig, states: Sequence[EventState]) -> list[EventState]:
    """`states` without those an earlier edition of their sale wrote (events no longer configured stay:
    what reads them decides what they mean)."""
    kept = []
    for state in states:
        event = group.event(state.event)
        if event is None or state.set_at >= plan_event(group, event).first_phase - EDITION_MARGIN:
            kept.append(state)
    return kept


def normal_demand_time(event: SaleEvent) -> datetime:
    """When the demand a peak multiplier multiplies was served (UTC): a week before the doors at the same
    wall-clock time in the sale's own zone. A week in UTC is an hour off it in the week after a
    daylight-saving change: 11:00 last Saturday for a sale at 10:00."""
    return (event.local(event.start) - NORMAL_LOOKBACK).astimezone(UTC)


def _release_time(start: datetime, end: datetime, event: SaleEvent) -> datetime:
    """`hold_after_minutes` past the end, or `release_after_doors_minutes` past the doors if sooner."""
    release = end + timedelta(minutes=event.hold_after_minutes)
    if event.release_after_doors_minutes is not None:
        release = min(release, start + timedelta(minutes=event.release_after_doors_minutes))
    return release


def target_capacity(
    group: GroupConfig, event: SaleEvent, normal_requests_per_minute: float | None, normal_capacity: int
) -> tuple[int, str]:
    """Instances that serve the expected peak at the group's requests target, and how we got there.

    The peak is absolute, or `peak_multiplier` x the normal demand at that time of day. Without a
    requests signal (or history), the multiplier applies to the capacity the group normally runs.
    """
    ceiling = event.temporary_max or group.max
    per_instance = group.requests_target()
    if event.peak_requests_per_minute is not None:
        peak = event.peak_requests_per_minute
        why = f"absolute peak {peak:g} requests/min"
    elif normal_requests_per_minute is not None and per_instance is not None:
        assert event.peak_multiplier is not None
        peak = normal_requests_per_minute * event.peak_multiplier
        why = f"{event.peak_multiplier:g} x normal {normal_requests_per_minute:g} requests/min"
    else:
        assert event.peak_multiplier is not None
        needed = math.ceil(normal_capacity * event.peak_multiplier - 1e-9)
        why = f"{event.peak_multiplier:g} x normal capacity {normal_capacity}"
        return min(max(needed, group.min), ceiling), why
    if per_instance is None:
        raise ValueError(f"group {group.name}: an absolute peak needs a requests_per_target signal")
    needed = math.ceil(peak / per_instance - 1e-9)
    return min(max(needed, group.min), ceiling), f"{why} / {per_instance:g} per instance = {needed}"


def floor_at(plan: EventPlan, target: int, now: datetime) -> int | None:
    """The event's floor at `now`: none before the first phase, the ramp's share of `target` during
    the ramp, `target` from the pre-warm until the release, then -10% per `release_step` (5 minutes,
    1 when released early; None once it has stepped down to nothing worth holding)."""
    if now < plan.first_phase:
        return None
    if now < plan.prewarm:
        return math.ceil(target * plan.fraction_at(now) - 1e-9)
    if now < plan.release:
        return target
    steps = int((now - plan.release) / plan.release_step) + 1
    floor = math.floor(target * RELEASE_FACTOR**steps)
    return floor if floor >= 1 else None
