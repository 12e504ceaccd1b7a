"""A group whose decisions keep failing, minute after minute (the per-minute re-evaluation is a new
trigger each minute, so Lambda's retries of one trigger are not the whole story): every trigger still
leaves its `failed` audit item, but people hear of the standing failure when it starts, again when its
cause changes or the reminder interval has passed, and once when the group is decided again."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from surgeguard.domain.failures import FAILURE_REMINDER
from surgeguard.service import RetryableFailureError

from .harness import Harness, audit_keys, new_items, quiet_world
from .injector import Call, Rule, fault_error
from .scenarios import ALARM, SCENARIOS, sns_alarm
from .world import iso

MINUTE = timedelta(minutes=1)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with quiet_world(tmp_path_factory.mktemp("standing") / "task") as world:
        yield world


@pytest.fixture
def fresh(harness: Harness) -> Harness:
    """web's CPU alarm in ALARM, the clock at the first re-evaluation, nothing audited or told yet."""
    harness.world.reset()
    harness.injector.reset()
    SCENARIOS["reevaluate"].prepare(harness.world, harness.clock)
    return harness


def _failing(label: str, kind: str = "5xx") -> Rule:
    """Every call labelled `label` fails with `kind`, until the rule is taken away."""

    def action(call: Call, model: Any) -> None:
        raise fault_error(kind, call, model)

    return Rule("before", lambda call, _: call.label == label, action, times=1_000)


def _reevaluate(harness: Harness, when: datetime) -> list[dict[str, Any]]:
    """The per-minute re-evaluation scheduled at `when`, run five seconds later."""
    harness.clock.set(when + timedelta(seconds=5))
    event = {"action": "reevaluate", "scheduled_time": iso(when), "execution_id": str(uuid.uuid4())}
    with harness.injector.armed():
        result = SCENARIOS["reevaluate"].invoke(event)
    records: list[dict[str, Any]] = result["records"]
    return records


def _reevaluate_minutes(harness: Harness, start: datetime, minutes: range) -> None:
    """The per-minute re-evaluations of `minutes` after `start`, in turn."""
    for minute in minutes:
        _reevaluate(harness, start + minute * MINUTE)


def _web_outcomes(harness: Harness, before: set[tuple[str, str]]) -> list[str]:
    return [i["outcome"] for i in new_items(harness.world, before) if i.get("group") == "web"]


def test_a_failure_on_five_consecutive_reevaluations_is_audited_each_minute_and_told_once(
    fresh: Harness,
) -> None:
    # GIVEN web's metrics unreadable (GetMetricData answering 5xx) minute after minute
    start, before = fresh.clock.now, audit_keys(fresh.world)
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    # WHEN five re-evaluations decide web in turn
    _reevaluate_minutes(fresh, start, range(5))
    # THEN each left its `failed` record
    assert _web_outcomes(fresh, before) == ["failed"] * 5
    # AND people heard of the failure once
    assert fresh.world.told() == ["Surgeguard failed: web"]


def test_a_failure_whose_cause_changes_is_told_again(fresh: Harness) -> None:
    # GIVEN web's metrics unreadable for three minutes
    start, before = fresh.clock.now, audit_keys(fresh.world)
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate_minutes(fresh, start, range(3))
    assert fresh.world.told() == ["Surgeguard failed: web"]
    # WHEN the metrics come back but DescribeAutoScalingGroups now fails, two minutes running
    fresh.injector.reset()
    fresh.injector.add(_failing("autoscaling.DescribeAutoScalingGroups"))
    _reevaluate_minutes(fresh, start, range(3, 5))
    # THEN every minute is audited `failed`, and people hear once of the new cause
    assert _web_outcomes(fresh, before) == ["failed"] * 5
    assert fresh.world.told() == ["Surgeguard failed: web"]


def test_a_group_decided_again_after_failing_is_told_recovered_once(fresh: Harness) -> None:
    # GIVEN web failing three minutes running (told once)
    start, before = fresh.clock.now, audit_keys(fresh.world)
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate_minutes(fresh, start, range(3))
    assert fresh.world.told() == ["Surgeguard failed: web"]
    # WHEN the fault clears and two more re-evaluations decide web
    fresh.injector.reset()
    _reevaluate_minutes(fresh, start, range(3, 5))
    # THEN the first decision after the failures tells the recovery (besides its own change), once
    outcomes = _web_outcomes(fresh, before)
    assert outcomes[:3] == ["failed"] * 3 and "failed" not in outcomes[3:], outcomes
    told = fresh.world.told()
    assert told.count("Surgeguard recovered: web") == 1, told
    assert "Surgeguard failed: web" not in told, told


def test_the_recovery_says_how_long_and_how_many_attempts_failed(fresh: Harness) -> None:
    start = fresh.clock.now
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate_minutes(fresh, start, range(4))
    fresh.injector.reset()
    fresh.world.told()
    _reevaluate(fresh, start + 4 * MINUTE)
    messages = fresh.world.told_messages()
    recovered = [m for subject, m in messages if subject == "Surgeguard recovered: web"]
    assert len(recovered) == 1, messages
    assert "4 failed attempts" in recovered[0] and "over 3 minutes" in recovered[0], recovered[0]


def test_a_standing_failure_is_told_again_once_the_reminder_is_due(fresh: Harness) -> None:
    # GIVEN web failing two minutes running (told once)
    start = fresh.clock.now
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate_minutes(fresh, start, range(2))
    assert fresh.world.told() == ["Surgeguard failed: web"]
    # WHEN it is still failing just before the reminder is due, and then once it is
    _reevaluate(fresh, start + FAILURE_REMINDER - MINUTE)
    assert fresh.world.told() == []
    _reevaluate(fresh, start + FAILURE_REMINDER)
    # THEN people are reminded once
    assert fresh.world.told() == ["Surgeguard failed: web"]
    _reevaluate(fresh, start + FAILURE_REMINDER + MINUTE)
    assert fresh.world.told() == []


def test_a_failure_whose_memory_cannot_be_read_is_told_again(fresh: Harness) -> None:
    # GIVEN web failing, told by the first re-evaluation
    start = fresh.clock.now
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate(fresh, start)
    assert fresh.world.told() == ["Surgeguard failed: web"]
    # WHEN the next one cannot read what people were told (its GetItem throttled)
    unreadable = fresh.injector.add(_failing("dynamodb.GetItem.FAILING", "throttle"))
    _reevaluate(fresh, start + MINUTE)
    # THEN it tells them again (twice rather than never)
    assert unreadable.fired, "the failure's memory was never read"
    assert fresh.world.told() == ["Surgeguard failed: web"]


def test_an_alarm_failing_as_the_reevaluation_told_is_not_told_again(fresh: Harness) -> None:
    # GIVEN a re-evaluation told people web fails (GetMetricData 5xx)
    start, before = fresh.clock.now, audit_keys(fresh.world)
    fresh.injector.add(_failing("cloudwatch.GetMetricData"))
    _reevaluate(fresh, start)
    assert fresh.world.told() == ["Surgeguard failed: web"]
    # WHEN web's alarm fires again a minute later and fails the same way
    fresh.world.set_alarm(ALARM, "OK")
    fresh.world.set_alarm(ALARM, "ALARM")
    fresh.clock.set(start + MINUTE + timedelta(seconds=20))
    event = sns_alarm(ALARM, start + MINUTE, cloudwatch=fresh.world.api("cloudwatch"))
    with fresh.injector.armed(), pytest.raises(RetryableFailureError):
        SCENARIOS["alarm"].invoke(event)
    # THEN it is audited `failed`, and people hear nothing more
    assert _web_outcomes(fresh, before) == ["failed"] * 2
    assert fresh.world.told() == []


@contextmanager
def _vanished(group: str) -> Iterator[None]:
    """DescribeAutoScalingGroups no longer finds `group` (deleted, renamed) for the handlers' client."""
    from surgeguard.adapters import clients

    def without(parsed: dict[str, Any], **_: Any) -> None:
        found = parsed.get("AutoScalingGroups", [])
        found[:] = [g for g in found if g.get("AutoScalingGroupName") != group]

    hook = "after-call.auto-scaling.DescribeAutoScalingGroups"
    events = clients.client("autoscaling").meta.events
    events.register(hook, without)
    try:
        yield
    finally:
        events.unregister(hook, without)


def test_a_configured_group_that_vanished_is_told_once_and_its_return_once(fresh: Harness) -> None:
    # GIVEN web, a configured group, no longer found by Auto Scaling (deleted, renamed)
    start, before = fresh.clock.now, audit_keys(fresh.world)
    sizes = fresh.world.sizes()
    with _vanished("web"):
        # WHEN three re-evaluations decide web in turn
        _reevaluate_minutes(fresh, start, range(3))
    # THEN each left its `rejected` record, no capacity changed, and people heard once that it is gone
    assert _web_outcomes(fresh, before) == ["rejected"] * 3
    assert fresh.world.sizes() == sizes
    told = fresh.world.told_messages()
    assert [subject for subject, _ in told] == ["Surgeguard rejected: web"], told
    assert "'web' not found" in told[0][1], told[0][1]
    # WHEN the group is found again
    _reevaluate(fresh, start + 3 * MINUTE)
    # THEN its return is told once
    assert fresh.world.told().count("Surgeguard recovered: web") == 1
    _reevaluate(fresh, start + 4 * MINUTE)
    assert "Surgeguard recovered: web" not in fresh.world.told()


def test_an_alarm_on_a_vanished_group_is_told_once_with_the_reevaluations(fresh: Harness) -> None:
    # GIVEN web no longer found, and its alarm firing again
    start, before = fresh.clock.now, audit_keys(fresh.world)
    fresh.world.set_alarm(ALARM, "OK")
    fresh.world.set_alarm(ALARM, "ALARM")
    fresh.clock.set(start + timedelta(seconds=20))
    event = sns_alarm(ALARM, start, cloudwatch=fresh.world.api("cloudwatch"))
    with _vanished("web"):
        # WHEN the alarm is handled, then a re-evaluation a minute later meets the same
        with fresh.injector.armed():
            SCENARIOS["alarm"].invoke(event)  # rejected for good: returned, not raised for a retry
        _reevaluate(fresh, start + MINUTE)
    # THEN both are audited `rejected`, and people hear once that web is not found
    assert _web_outcomes(fresh, before) == ["rejected"] * 2
    assert fresh.world.told() == ["Surgeguard rejected: web"]


def test_a_sale_phase_for_a_vanished_group_is_told(fresh: Harness) -> None:
    # GIVEN web, a configured group with a sale, no longer found by Auto Scaling (renamed the week of
    # the sale: its pre-warm would scale nobody)
    before = audit_keys(fresh.world)
    sizes = fresh.world.sizes()
    event = SCENARIOS["prewarm"].prepare(fresh.world, fresh.clock)
    with _vanished("web"):
        # WHEN its pre-warm fires
        SCENARIOS["prewarm"].invoke(event)  # rejected for good: returned, not raised for a retry
    # THEN it is audited `rejected`, no capacity changed, and people hear that web is not found (a
    # phase fires once: there is no flood to hold back, and a pre-warm not done is news before a sale)
    assert _web_outcomes(fresh, before) == ["rejected"]
    assert fresh.world.sizes() == sizes
    told = fresh.world.told_messages()
    assert [subject for subject, _ in told] == ["Surgeguard rejected: web"], told
    assert "'web' not found" in told[0][1], told[0][1]
