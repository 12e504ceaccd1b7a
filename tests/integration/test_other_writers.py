"""Other writers: a desired capacity someone else set is noticed at the next decision, once.

A person in the console (SetDesiredCapacity), a deploy (UpdateAutoScalingGroup with DesiredCapacity),
a native scaling policy: the next decision compares the group with what Surgeguard last committed,
starts from the group's real capacity, names the change in its audit record (`other_writer`) and tells
the notifications topic once. Not flagged: Surgeguard's own commit still in flight, the group's own
clamping to [MinSize, MaxSize] (a restored max), a scheduled action, a commit of ours that never landed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from surgeguard import keys
from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError
from surgeguard.service import APPLY_GRACE, RetryableFailureError

from .alarm_events import EVENTBRIDGE, SNS, alarm_event
from .support import T0, TABLE, alarm_for, at, desired, set_alarm_state, set_desired

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
CPU_OUT = alarm_for("web", "cpu", "out")
ACTIVITIES = "before-call.auto-scaling.DescribeScalingActivities"


def _latest(audit: Audit) -> dict[str, Any]:
    return audit("web")[-1]


def _breach(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], when: datetime, cpu: float
) -> dict[str, Any]:
    """CPU `cpu` in the minute before `when`, and web's CPU scale-out alarm firing at `when`: its
    audit record."""
    cpu_metric(cpu, when - timedelta(minutes=1))
    set_alarm_state(CPU_OUT, "ALARM")
    invoke(alarm_event(SNS, CPU_OUT, when, metric="CPUUtilization"))
    return _latest(audit)


def _reevaluate(invoke: Invoke, audit: Audit, when: datetime, execution_id: str) -> dict[str, Any]:
    scheduled = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    invoke({"action": "reevaluate", "scheduled_time": scheduled, "execution_id": execution_id})
    return _latest(audit)


def _scaled_out_to_4(invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None]) -> None:
    # 2 instances at CPU 80 of 50: 4 (a 100% step); Surgeguard commits 4 and applies it
    record = _breach(invoke, audit, cpu_metric, at(40), 80.0)
    assert (record["outcome"], record["new_desired"], desired()) == ("applied", 4, 4)


def _commit_whose_apply_failed(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scale-out 2 -> 4 committed at 40 s whose SetDesiredCapacity is throttled past its retries, so
    its trigger's attempt fails unfinished; later applies go through."""
    throttling = [True]
    real = AutoScalingFleet.set_desired_capacity

    def throttled(self: AutoScalingFleet, name: str, desired: int) -> None:
        if throttling[0]:
            raise AwsCallError("SetDesiredCapacity", "Throttling", "Rate exceeded")
        real(self, name, desired)

    monkeypatch.setattr(AutoScalingFleet, "set_desired_capacity", throttled)
    with pytest.raises(RetryableFailureError, match="Throttling"):
        _breach(invoke, audit, cpu_metric, at(40), 80.0)
    throttling[0] = False


def _third_value_within_the_grace(
    value: int,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """A commit of 2 -> 4 whose apply failed (its attempt unfinished), the group then showing `value`,
    and the re-evaluation within the grace at CPU 50 (the target): its audit record."""
    _commit_whose_apply_failed(invoke, audit, cpu_metric, monkeypatch)
    notifications.read()
    set_desired("web", value)
    cpu_metric(50.0, at(100) - timedelta(minutes=1))
    return _reevaluate(invoke, audit, at(100), "tick-grace")


def _outside(notifications: Any) -> list[dict[str, str]]:
    return [n for n in notifications.read() if "changed outside Surgeguard" in n["Subject"]]


@pytest.fixture
def activities(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """DescribeScalingActivities' answer (moto records none): the real call through the real client,
    answered at botocore's `before-call` with what AWS would return."""
    answer: list[dict[str, Any]] = []

    def respond(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse("https://autoscaling.us-east-1.amazonaws.com/", 200, {}, None)
        return http, {"Activities": list(answer), "ResponseMetadata": {"HTTPStatusCode": 200}}

    events = clients.client("autoscaling").meta.events  # the handler's own (cached) client
    events.register(ACTIVITIES, respond)
    yield answer
    events.unregister(ACTIVITIES, respond)


def test_a_hand_set_capacity_is_noticed_once_and_the_decision_starts_from_it(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN Surgeguard scaled web out to 4, and then someone set 7 in the console
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 7)
    # WHEN the next decision comes, five minutes later (CPU at its target: nothing to change)
    noticed = _breach(invoke, audit, cpu_metric, at(5 * 60 + 40), 50.0)
    # THEN it starts from the group's 7, not the 4 it committed, and keeps it
    assert noticed["outcome"] == "unchanged"
    assert noticed["previous_desired"] == noticed["new_desired"] == 7
    assert desired() == 7
    (item,) = [i for i in audit("web") if "other_writer" in i]
    change = item["other_writer"]
    assert (change["before"], change["after"]) == (4, 7)
    assert change["committed_at"] == at(40).isoformat()
    assert change["noticed_at"] == at(5 * 60 + 40).isoformat()
    assert change["writer"] == "unknown"  # moto records no scaling activities
    assert item["inputs"]["group"]["desired"] == 7
    # AND the notifications topic hears of it once
    (told,) = _outside(notifications)
    assert told["Subject"] == "Surgeguard: web changed outside Surgeguard 4 -> 7"
    assert "desired capacity is 7, but Surgeguard had left it at 4" in told["Message"]
    # AND the decision after that does not notice it again
    later = _reevaluate(invoke, audit, T0 + timedelta(minutes=7), "tick-7")
    assert "other_writer" not in later
    assert _outside(notifications) == []
    assert [i for i in audit("web") if "other_writer" in i] == [item]


def test_a_deploy_resetting_desired_capacity_to_its_template_value_is_noticed(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN Surgeguard scaled web out 2 -> 4, then a deploy put the template's DesiredCapacity 2 back
    # (CloudFormation calls UpdateAutoScalingGroup): the very value the commit started from
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", DesiredCapacity=2)
    # WHEN the breach is decided again, three minutes later (an EventBridge-shaped delivery this time)
    cpu_metric(80.0, at(3 * 60 - 20))
    invoke(alarm_event(EVENTBRIDGE, CPU_OUT, at(3 * 60 + 40), metric="CPUUtilization"))
    record = _latest(audit)
    # THEN it is another writer (the commit's trigger completed: its change had landed), and the
    # decision starts from 2: CPU 80 on 2 needs 4 again
    assert record["other_writer"]["before"] == 4 and record["other_writer"]["after"] == 2
    assert (record["outcome"], record["previous_desired"], record["new_desired"]) == ("applied", 2, 4)
    assert desired() == 4
    assert [n["Subject"] for n in _outside(notifications)] == [
        "Surgeguard: web changed outside Surgeguard 4 -> 2"
    ]


def test_a_commit_still_in_flight_is_not_another_writer(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN a commit of 4 moments ago whose SetDesiredCapacity the group does not show yet
    _scaled_out_to_4(invoke, audit, cpu_metric)
    set_desired("web", 2)
    # WHEN a decision reads the group within APPLY_GRACE of that commit
    record = _reevaluate(invoke, audit, at(40) + APPLY_GRACE - timedelta(seconds=20), "tick-soon")
    # THEN it starts from the commit, and flags nothing
    assert "other_writer" not in record and "commit_not_landed" not in record
    assert record["inputs"]["group"]["desired"] == 4
    assert _outside(notifications) == []


def test_a_hand_set_capacity_within_the_grace_is_noticed_not_put_back(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN Surgeguard's 2 -> 4, applied and done, and a person setting 3 a minute later
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 3)
    # WHEN the per-minute re-evaluation decides within APPLY_GRACE of that commit (CPU at its target)
    cpu_metric(50.0, at(100) - timedelta(minutes=1))
    record = _reevaluate(invoke, audit, at(100), "tick-grace")
    # THEN the 3 is someone else's (the commit's own attempt had finished: nothing of ours was still
    # landing), the decision starts from it, and it stays: before this, the commit's 4 was put back
    assert record["other_writer"]["before"] == 4 and record["other_writer"]["after"] == 3
    assert record["inputs"]["group"]["desired"] == 3
    assert desired() == 3
    assert [n["Subject"] for n in _outside(notifications)] == [
        "Surgeguard: web changed outside Surgeguard 4 -> 3"
    ]


def test_a_third_value_while_the_commits_attempt_is_unfinished_is_not_called_another_writer(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a commit of 2 -> 4 whose apply failed (its trigger's attempt is unfinished: Lambda retries
    # it), and the group showing 3 within the grace: it may be an earlier decision of ours landing late
    # WHEN a decision reads the group within the grace
    record = _third_value_within_the_grace(3, invoke, audit, cpu_metric, notifications, monkeypatch)
    # THEN nothing is flagged: the commit stands and the decision starts from it, as before
    assert "other_writer" not in record
    assert record["inputs"]["group"]["desired"] == 4
    assert _outside(notifications) == []


def test_the_groups_own_clamping_to_a_lowered_max_is_not_another_writer(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN Surgeguard's 4, then MaxSize lowered to 3 (a restore after a sale, a scheduled action on
    # the bounds): AWS lowers DesiredCapacity with it ("If you specify a new value for MaxSize without
    # specifying a value for DesiredCapacity, and the new MaxSize is smaller than the current size of
    # the group, there is an implied change to DesiredCapacity", UpdateAutoScalingGroup API reference;
    # moto does not, so the test passes the implied 3 as Surgeguard's restore does)
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MaxSize=3, DesiredCapacity=3
    )
    # WHEN the next decision comes
    record = _breach(invoke, audit, cpu_metric, at(5 * 60 + 40), 50.0)
    # THEN the 3 is the group's bound at work, not someone else's capacity
    assert "other_writer" not in record
    assert record["inputs"]["group"]["desired"] == 3
    assert _outside(notifications) == []


def test_a_recent_commit_is_not_put_back_above_a_max_lowered_since(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Surgeguard's 4, then MaxSize lowered to 3 within the commit's 2-minute grace
    _scaled_out_to_4(invoke, audit, cpu_metric)
    boto3.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="web", MaxSize=3, DesiredCapacity=3
    )
    asked: list[int] = []
    set_desired_capacity = AutoScalingFleet.set_desired_capacity

    def recorded(self: AutoScalingFleet, name: str, value: int) -> None:
        asked.append(value)
        set_desired_capacity(self, name, value)

    monkeypatch.setattr(AutoScalingFleet, "set_desired_capacity", recorded)
    # WHEN another delivery for web comes 50 s after the commit (rate limited: the commit is its start)
    record = _breach(invoke, audit, cpu_metric, at(90), 80.0)
    # THEN no desired above the group's MaxSize is asked for (the commit's 4 once was: AWS refuses it)
    assert all(value <= 3 for value in asked), (asked, record["reason"])
    assert desired() == 3


def test_a_reset_noticed_after_the_commits_claim_has_expired_is_another_writer(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN Surgeguard's 4, applied and its claim completed; two days on, DynamoDB's TTL has deleted the
    # claim (moto runs no TTL: deleted here), and a deploy puts the template's 2 back
    _scaled_out_to_4(invoke, audit, cpu_metric)
    table, claim = boto3.client("dynamodb"), audit("web")[-1]["trigger"]["id"]
    key = {keys.PARTITION_KEY: {"S": keys.trigger_pk(claim)}, keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY}}
    table.delete_item(TableName=TABLE, Key=key)
    notifications.read()
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName="web", DesiredCapacity=2)
    # WHEN the next decision notices it
    record = _breach(invoke, audit, cpu_metric, at(2 * 86_400), 50.0)
    # THEN it is another writer's change, and told (it was called our own commit that "never landed")
    assert "commit_not_landed" not in record
    assert (record["other_writer"]["before"], record["other_writer"]["after"]) == (4, 2)
    assert len(_outside(notifications)) == 1


def test_a_commit_whose_apply_never_landed_is_not_another_writer(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a scale-out 2 -> 4 committed, whose SetDesiredCapacity failed (throttled past its retries)
    # and whose Lambda retries never got through: the group still shows 2
    _commit_whose_apply_failed(invoke, audit, cpu_metric, monkeypatch)
    assert desired() == 2
    notifications.read()
    # WHEN a later trigger decides, past APPLY_GRACE
    record = _breach(invoke, audit, cpu_metric, at(4 * 60 + 40), 80.0)
    # THEN that is our own change that never landed: no other writer, and the decision starts from 2
    assert "other_writer" not in record
    assert record["commit_not_landed"]["before"] == 4 and record["commit_not_landed"]["after"] == 2
    assert (record["previous_desired"], record["new_desired"], desired()) == (2, 4, 4)
    assert _outside(notifications) == []


def test_the_writer_is_named_from_the_groups_scaling_activities(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    activities: list[dict[str, Any]],
) -> None:
    # GIVEN Surgeguard's 4, then someone's SetDesiredCapacity 6, which AWS records as an activity
    # (the Cause wording of the DescribeScalingActivities examples in the API and CLI references)
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 6)
    cause = (
        f"At {at(90).strftime('%Y-%m-%dT%H:%M:%SZ')} a user request explicitly set group desired capacity "
        "changing the desired capacity from 4 to 6.  At 2026-11-20T12:01:32Z an instance was started in "
        "response to a difference between desired and actual capacity, increasing the capacity from 4 to 6."
    )
    activities += [
        {
            "ActivityId": "f9f2d65b-f1f2-43e7-b46d-d86756459699",
            "AutoScalingGroupName": "web",
            "Description": "Launching a new EC2 instance: i-0d44425630326060f",
            "Cause": cause,
            "StartTime": at(92),
            "StatusCode": "InProgress",
            "Progress": 30,
        }
    ]
    # WHEN the next decision comes
    record = _breach(invoke, audit, cpu_metric, at(5 * 60 + 40), 50.0)
    # THEN the audit and the notification say who: SetDesiredCapacity, in AWS's words
    change = record["other_writer"]
    assert change["writer"] == "set_desired_capacity"
    assert change["cause"].startswith(f"At {at(90).strftime('%Y-%m-%dT%H:%M:%SZ')} a user request explicitly")
    (told,) = _outside(notifications)
    assert (
        "SetDesiredCapacity" in told["Message"]
        and "changing the desired capacity from 4 to 6" in told["Message"]
    )


def test_a_scheduled_action_is_not_flagged_but_the_decision_starts_from_it(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    activities: list[dict[str, Any]],
) -> None:
    # GIVEN Surgeguard's 4, then the group's own scheduled action setting desired 8
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 8)
    activities.append(
        {
            "ActivityId": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
            "AutoScalingGroupName": "web",
            "Description": "Launching a new EC2 instance: i-0a1b2c3d4e5f60718",
            "Cause": "At 2026-11-20T12:02:00Z a scheduled action update of AutoScalingGroup constraints to "
            "min: 1, max: 20, desired: 8 changing the desired capacity from 4 to 8.",
            "StartTime": at(125),
            "StatusCode": "Successful",
            "Progress": 100,
        }
    )
    # WHEN the next decision comes
    record = _breach(invoke, audit, cpu_metric, at(5 * 60 + 40), 50.0)
    # THEN it starts from 8 and says why, without calling it another writer or notifying anyone
    assert "other_writer" not in record
    assert record["scheduled_change"]["after"] == 8
    assert record["inputs"]["group"]["desired"] == 8
    assert _outside(notifications) == []


def test_a_refused_describe_scaling_activities_does_not_fail_the_decision(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN a role without autoscaling:DescribeScalingActivities, and a hand-set capacity
    def denied(**_: Any) -> None:
        raise ClientError(
            {"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "DescribeScalingActivities"
        )

    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 9)
    events = clients.client("autoscaling").meta.events
    events.register(ACTIVITIES, denied)
    try:
        record = _breach(invoke, audit, cpu_metric, at(5 * 60 + 40), 50.0)
    finally:
        events.unregister(ACTIVITIES, denied)
    # THEN the decision is made and audited, the change named without a cause, and people told
    assert record["outcome"] == "unchanged"
    assert record["other_writer"]["writer"] == "unknown" and record["other_writer"]["cause"] is None
    assert len(_outside(notifications)) == 1


def _audit_write_throttled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next audit write (PutItem) is throttled past its retries; later ones go through."""
    real = AuditStore.write_audit
    failing = [True]

    def throttled(self: AuditStore, record: dict[str, Any]) -> None:
        if failing[0]:
            failing[0] = False
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "Rate exceeded")
        real(self, record)

    monkeypatch.setattr(AuditStore, "write_audit", throttled)


@pytest.mark.parametrize(
    ("cpu", "outcome", "after"),
    [(50.0, "unchanged", 7), (80.0, "applied", 12)],
    ids=["held", "scaled-out"],
)
def test_a_noticed_change_whose_audit_write_failed_is_told_by_the_retry(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
    cpu: float,
    outcome: str,
    after: int,
) -> None:
    # GIVEN Surgeguard scaled web out to 4, and then someone set 7 in the console
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 7)
    # WHEN the decision that notices it (and holds 7, or scales out from it) cannot write its audit
    # record: Lambda retries the delivery
    when = at(5 * 60 + 40)
    cpu_metric(cpu, when - timedelta(minutes=1))
    set_alarm_state(CPU_OUT, "ALARM")
    event = alarm_event(SNS, CPU_OUT, when, metric="CPUUtilization")
    _audit_write_throttled_once(monkeypatch)
    with pytest.raises(RetryableFailureError, match="audit write failed"):
        invoke(event)
    invoke(event)
    # THEN the retry's record names the other writer (the state item had already adopted the 7, so no
    # decision after this one would notice it again), and the topic hears of it once
    (item,) = [i for i in audit("web") if i.get("source_id") == event["Records"][0]["Sns"]["MessageId"]]
    assert (item["outcome"], item["new_desired"], desired()) == (outcome, after, after)
    assert (item["other_writer"]["before"], item["other_writer"]["after"]) == (4, 7)
    assert [n["Subject"] for n in _outside(notifications)] == [
        "Surgeguard: web changed outside Surgeguard 4 -> 7"
    ]


class _Killed(BaseException):  # noqa: N818 - named for what it simulates
    """The runtime ending the function (a timeout): no handler code runs after it."""


def test_a_change_adopted_by_an_attempt_that_died_before_its_record_is_named_by_the_retry(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN Surgeguard scaled web out to 4, and then someone set 7 in the console
    _scaled_out_to_4(invoke, audit, cpu_metric)
    notifications.read()
    set_desired("web", 7)
    # AND the next decision's attempt adopts 7 in the state item and is killed before it stashes or
    # writes its record (the only ones that named the change)
    real_stash = AuditStore.stash_pending

    def killed(self: AuditStore, claim: Any, record: dict[str, Any]) -> None:
        raise _Killed("the runtime ended the function")

    monkeypatch.setattr(AuditStore, "stash_pending", killed)
    when = at(5 * 60 + 40)
    cpu_metric(50.0, when - timedelta(minutes=1))
    set_alarm_state(CPU_OUT, "ALARM")
    event = alarm_event(SNS, CPU_OUT, when, metric="CPUUtilization")
    with pytest.raises(_Killed):
        invoke(event)
    assert [i for i in audit("web") if "other_writer" in i] == []
    monkeypatch.setattr(AuditStore, "stash_pending", real_stash)
    # WHEN Lambda delivers it again once the dead attempt's lease ran out (the state item now shows 7
    # as Surgeguard's own commit: nothing about the group looks changed any more)
    clock.pin(when + timedelta(minutes=3))
    invoke(event)
    # THEN the retry's record still names the change, and the topic hears of it once
    (item,) = [i for i in audit("web") if "other_writer" in i]
    assert (item["other_writer"]["before"], item["other_writer"]["after"]) == (4, 7)
    assert item["other_writer"]["noticed_at"] == when.isoformat()
    assert (item["outcome"], item["new_desired"], desired()) == ("unchanged", 7, 7)
    assert [n["Subject"] for n in _outside(notifications)] == [
        "Surgeguard: web changed outside Surgeguard 4 -> 7"
    ]
    # AND a later trigger does not name it again
    clock.pin(None)
    later = _reevaluate(invoke, audit, T0 + timedelta(minutes=9), "tick-9")
    assert "other_writer" not in later


def test_a_higher_third_value_while_the_commits_attempt_is_unfinished_is_not_scaled_in(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a commit of 2 -> 4 whose apply failed (its trigger's attempt is unfinished), and the group
    # showing 7 within the grace: someone scaled up by hand, or an earlier, higher decision of ours
    # landed late; which one cannot be told
    # WHEN a decision reads the group within the grace
    record = _third_value_within_the_grace(7, invoke, audit, cpu_metric, notifications, monkeypatch)
    # THEN the ambiguity costs capacity, never takes it away: the 7 is taken as someone else's and the
    # decision starts from it (before, the commit's 4 was: "scale out 4 -> 5" took the group 7 -> 5)
    assert desired() == 7, record["reason"]
    assert record["inputs"]["group"]["desired"] == 7
    assert (record["other_writer"]["before"], record["other_writer"]["after"]) == (4, 7)
    assert [n["Subject"] for n in _outside(notifications)] == [
        "Surgeguard: web changed outside Surgeguard 4 -> 7"
    ]
