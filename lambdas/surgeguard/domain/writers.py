"""Other writers: a desired capacity someone else set (console, a scaling policy, a deploy), told apart
from Surgeguard's own changes. Pure; no I/O."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from surgeguard.domain.model import GroupSnapshot, ScalerMemory

# What DescribeScalingActivities' Cause says of a desired-capacity change, by who made it. The texts
# are AWS's (API reference examples, e.g. "At 2020-10-30T19:35:51Z a user request update of
# AutoScalingGroup constraints to min: 0, max: 16, desired: 16 changing the desired capacity from 0
# to 16."); SetDesiredCapacity is "a user request explicitly set group desired capacity", a scheduled
# action "a scheduled action update of AutoScalingGroup constraints", a scaling policy "a monitor
# alarm ... triggered policy ...".
_WRITERS = (
    ("scheduled_action", re.compile(r"\bscheduled action\b", re.IGNORECASE)),
    ("scaling_policy", re.compile(r"\b(monitor alarm|triggered policy|target tracking)\b", re.IGNORECASE)),
    ("set_desired_capacity", re.compile(r"explicitly set group desired capacity", re.IGNORECASE)),
    ("update_auto_scaling_group", re.compile(r"update of AutoScalingGroup constraints", re.IGNORECASE)),
)
_CHANGE = re.compile(
    r"At (?P<at>\S+) (?P<who>[^.]*?)changing the desired capacity from (?P<before>\d+) to (?P<after>\d+)"
)


@dataclass(frozen=True)
class OutsideChange:
    """The group's desired capacity differs from what Surgeguard last committed, and not by its own doing."""

    before: int  # what Surgeguard left (its commit, within the group's bounds)
    after: int  # what the group shows
    committed_at: datetime  # when Surgeguard committed `before`
    noticed_at: datetime
    # The group shows what it had before that commit: the commit's own SetDesiredCapacity may never have
    # landed (a failed apply), or someone put the old value back; the shell asks the trigger's claim.
    reverts_commit: bool
    # Noticed within the commit's grace: someone else's only once the commit's own apply is done (the
    # shell asks the trigger's claim); until then it may be a value an earlier decision of ours is still
    # putting in place.
    within_grace: bool = False

    def adopted(self, memory: ScalerMemory, *, landed: bool = True) -> ScalerMemory:
        """The state item taking the group's capacity as the truth, so the change is noticed once.

        A commit that never `landed` launched nothing: its launch is forgotten too, or later decisions
        would count instances that do not exist as warming (and hold capacity back for them)."""
        launches = memory.launches
        step = (memory.committed_desired or 0) - (memory.committed_from or 0)
        if not landed and step > 0:
            newest = next((x for x in reversed(launches) if x.count == step), None)
            launches = tuple(x for x in launches if x is not newest)
        return replace(
            memory,
            committed_desired=self.after,
            committed_at=self.noticed_at,
            committed_from=self.before,
            committed_by=None,
            launches=launches,
        )


def outside_change(
    group: GroupSnapshot, memory: ScalerMemory, now: datetime, in_flight: timedelta
) -> OutsideChange | None:
    """Compare the group's desired capacity with Surgeguard's latest commit.

    Not a change by someone else: the group's own clamping of the commit to its [MinSize, MaxSize] (a
    restored or scheduled min/max moves desired with it), nor, within `in_flight` of the commit, the
    value it started from (its SetDesiredCapacity may not show yet; the shell decides from the commit
    then). Any other value within that grace is a change `within_grace`: a person who set capacity a
    minute after Surgeguard did must not see it put back.
    """
    committed, at = memory.committed_desired, memory.committed_at
    if committed is None or at is None:
        return None
    expected = within_bounds(committed, group)
    if group.size.desired == expected:
        return None
    if now - at < in_flight:
        started = memory.committed_from
        if started is not None and group.size.desired == within_bounds(started, group):
            return None
        return OutsideChange(expected, group.size.desired, at, now, reverts_commit=False, within_grace=True)
    reverts = memory.committed_from is not None and group.size.desired == memory.committed_from
    return OutsideChange(expected, group.size.desired, at, now, reverts)


def within_bounds(desired: int, group: GroupSnapshot) -> int:
    """`desired` clamped to the group's [MinSize, MaxSize] as they are now (what AWS would hold)."""
    return min(max(desired, group.size.min), group.size.max)


@dataclass(frozen=True)
class Activity:
    """One scaling activity's cause, as DescribeScalingActivities reports it."""

    start: datetime
    cause: str


def attribute(change: OutsideChange, activities: list[Activity]) -> tuple[str, str | None]:
    """Who made the change (`writer` kind) and AWS's own words for it, from the group's activities
    since the commit: the newest whose cause changed desired capacity to what the group shows.
    ("unknown", None) when none says so (moto records no activities; a change that launched or
    terminated nothing leaves none)."""
    for activity in sorted(activities, key=lambda a: a.start, reverse=True):
        if activity.start < change.committed_at:
            continue
        for match in _CHANGE.finditer(activity.cause):
            if int(match["after"]) != change.after:
                continue
            sentence = match.group(0)
            kind = next((name for name, pattern in _WRITERS if pattern.search(match["who"])), "unknown")
            return kind, sentence
    return "unknown", None
