"""The pure rules that tell another writer's desired capacity from Surgeguard's own."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from surgeguard.domain.decision import decide
from surgeguard.domain.model import Launch, ScalerMemory
from surgeguard.domain.writers import Activity, OutsideChange, attribute, outside_change

from .core_builders import T0, cpu, group, inputs

GRACE = timedelta(minutes=2)
LATER = T0 + timedelta(minutes=5)
COMMITTED = ScalerMemory(committed_desired=10, committed_at=T0, committed_from=4, committed_by="alarm-1")


def test_a_capacity_changing_decision_remembers_where_it_started_and_who_made_it() -> None:
    decision = decide(replace(inputs(group_=group(2), readings=(cpu(80.0),)), trigger_id="alarm-9"))
    memory = decision.memory
    assert (memory.committed_desired, memory.committed_from, memory.committed_by) == (4, 2, "alarm-9")


@pytest.mark.parametrize(
    ("desired", "bounds", "memory", "now", "why"),
    [
        (7, (0, 100), ScalerMemory(), LATER, "nothing committed yet"),
        (4, (0, 100), COMMITTED, T0 + GRACE - timedelta(seconds=1), "the commit may still be in flight"),
        (10, (0, 100), COMMITTED, T0 + timedelta(seconds=5), "the commit landed"),
        (5, (5, 100), COMMITTED, T0 + timedelta(seconds=5), "still landing, and lifted by a new min"),
        (10, (0, 100), COMMITTED, LATER, "the group shows the commit"),
        (8, (0, 8), COMMITTED, LATER, "a lowered max clamped it"),
        (12, (12, 20), COMMITTED, LATER, "a raised min clamped it"),
    ],
)
def test_not_another_writer(
    desired: int, bounds: tuple[int, int], memory: ScalerMemory, now: datetime, why: str
) -> None:
    low, high = bounds
    assert outside_change(group(desired, min=low, max=high), memory, now, GRACE) is None, why


def test_a_third_value_within_the_grace_is_a_change_the_shell_must_confirm() -> None:
    # 10 committed from 4 a minute ago; the group shows 7, neither: a person's hand, unless an earlier
    # decision of ours is still landing (the shell asks whether the commit's own attempt is done)
    soon = T0 + timedelta(minutes=1)
    change = outside_change(group(7), COMMITTED, soon, GRACE)
    assert change == OutsideChange(10, 7, T0, soon, reverts_commit=False, within_grace=True)


def test_another_writer_after_the_grace() -> None:
    change = outside_change(group(7), COMMITTED, T0 + GRACE, GRACE)
    assert change == OutsideChange(10, 7, T0, T0 + GRACE, reverts_commit=False)


def test_a_group_back_at_the_commits_start_may_be_a_commit_that_never_landed() -> None:
    change = outside_change(group(4), COMMITTED, LATER, GRACE)
    assert change is not None and change.reverts_commit


def test_before_is_the_commit_within_the_groups_bounds() -> None:
    # MaxSize lowered to 8 clamps the commit of 10 to 8; then someone set 5
    change = outside_change(group(5, max=8), COMMITTED, LATER, GRACE)
    assert change is not None and (change.before, change.after) == (8, 5)


def test_the_adopted_state_notices_the_change_once() -> None:
    change = outside_change(group(7), COMMITTED, LATER, GRACE)
    assert change is not None
    adopted = change.adopted(COMMITTED)
    assert (adopted.committed_desired, adopted.committed_at, adopted.committed_by) == (7, LATER, None)
    assert outside_change(group(7), adopted, LATER + timedelta(hours=1), GRACE) is None


def _cause(who: str, before: int, after: int) -> str:
    return (
        f"At 2026-11-20T12:03:00Z {who} changing the desired capacity from {before} to {after}.  At "
        "2026-11-20T12:03:05Z an instance was started in response to a difference between desired and "
        "actual capacity, increasing the capacity from 10 to 12."
    )


@pytest.mark.parametrize(
    ("who", "kind"),
    [
        ("a user request explicitly set group desired capacity", "set_desired_capacity"),
        (
            "a user request update of AutoScalingGroup constraints to min: 1, max: 20, desired: 12",
            "update_auto_scaling_group",
        ),
        (
            "a scheduled action update of AutoScalingGroup constraints to min: 1, max: 20, desired: 12",
            "scheduled_action",
        ),
        ("a monitor alarm web-high in state ALARM triggered policy web-out", "scaling_policy"),
        ("something new AWS says", "unknown"),
    ],
)
def test_the_writer_is_named_from_the_activity_cause(who: str, kind: str) -> None:
    change = OutsideChange(10, 12, T0, LATER, reverts_commit=False)
    activity = Activity(T0 + timedelta(minutes=3), _cause(who, 10, 12))
    found, sentence = attribute(change, [activity])
    assert found == kind
    assert sentence is not None and sentence.endswith("from 10 to 12")


def test_activities_before_the_commit_or_to_another_capacity_name_nobody() -> None:
    change = OutsideChange(10, 12, T0, LATER, reverts_commit=False)
    older = Activity(
        T0 - timedelta(minutes=1), _cause("a user request explicitly set group desired capacity", 4, 12)
    )
    other = Activity(
        T0 + timedelta(minutes=1), _cause("a user request explicitly set group desired capacity", 4, 10)
    )
    assert attribute(change, [older, other]) == ("unknown", None)


def test_a_commit_that_never_landed_leaves_no_phantom_launch() -> None:
    # GIVEN a scale-out 4 -> 10 committed (its launch of 6 remembered) whose apply never landed
    memory = replace(COMMITTED, launches=(Launch(T0 - timedelta(minutes=30), 2), Launch(T0, 6)))
    change = outside_change(group(4), memory, LATER, GRACE)
    assert change is not None and change.reverts_commit
    # THEN adopting the group's 4 forgets that launch (nothing is warming), and keeps the older one
    assert change.adopted(memory, landed=False).launches == (Launch(T0 - timedelta(minutes=30), 2),)
    assert change.adopted(memory).launches == memory.launches
