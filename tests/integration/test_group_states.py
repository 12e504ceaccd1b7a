"""Group states moto does not model, as DescribeAutoScalingGroups reports them (the EC2 Auto Scaling
User Guide, "Suspend and resume processes", "Use instance scale-in protection"; API reference,
AutoScalingGroup.Status and Instance.WeightedCapacity), put into moto's real answer at botocore's
after-call hook on the handlers' own client. AWS accepts a change of desired capacity that a suspended
process or scale-in protection then leaves undone; Surgeguard says so instead of auditing `applied`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest

from surgeguard.adapters import clients
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError
from surgeguard.service import RetryableFailureError

from .alarm_events import SNS, alarm_event
from .support import alarm_for, at, desired, set_alarm_state, set_desired, set_desired_fails_once
from .test_sale_events import EVENT, PREWARM, RESTORE, declare, fire, max_size, phase

CPU_OUT = alarm_for("web", "cpu", "out")
CPU_IN = alarm_for("web", "cpu", "in")
HOOK = "after-call.auto-scaling.DescribeAutoScalingGroups"
Edit = Callable[[dict[str, Any]], None]


@pytest.fixture
def describe_hook() -> Iterator[Callable[[Edit], None]]:
    registered: list[Any] = []

    def install(edit: Edit) -> None:
        def handler(parsed: dict[str, Any], **_: Any) -> None:
            for group in parsed.get("AutoScalingGroups", []):
                if group["AutoScalingGroupName"] == "web":
                    edit(group)

        clients.client("autoscaling").meta.events.register(HOOK, handler)
        registered.append(handler)

    yield install
    for handler in registered:
        clients.client("autoscaling").meta.events.unregister(HOOK, handler)


def _instances_as_now(protect: int = 0) -> Edit:
    """The group's instances as they are now, whatever desired says later (nothing launches or
    terminates), the first `protect` of them protected from scale-in."""
    described = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["web"])
    kept = copy.deepcopy(described["AutoScalingGroups"][0]["Instances"])
    for index, instance in enumerate(kept):
        instance["ProtectedFromScaleIn"] = index < protect

    def edit(group: dict[str, Any]) -> None:
        group["Instances"] = copy.deepcopy(kept)

    return edit


def _alarm(invoke: Any, audit: Any, cpu_metric: Any, name: str, seconds: float, cpu: float) -> dict[str, Any]:
    cpu_metric(cpu, at(seconds) - timedelta(minutes=1))
    set_alarm_state(name, "ALARM")
    invoke(alarm_event(SNS, name, at(seconds), metric="CPUUtilization"))
    record: dict[str, Any] = audit("web")[-1]
    return record


def _reevaluate(invoke: Any, audit: Any, seconds: float) -> dict[str, Any]:
    when = at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")
    invoke({"action": "reevaluate", "scheduled_time": when, "execution_id": f"tick-{seconds}"})
    record: dict[str, Any] = audit("web")[-1]
    return record


def test_a_scale_out_with_launch_suspended_is_skipped_and_told(
    invoke: Any, audit: Any, cpu_metric: Any, describe_hook: Any, notifications: Any
) -> None:
    # GIVEN a team suspended Launch for maintenance (SetDesiredCapacity succeeds, nothing launches)
    boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    describe_hook(_instances_as_now())
    # WHEN CPU breaches (80 against a target of 50 on 2)
    record = _alarm(invoke, audit, cpu_metric, CPU_OUT, 40, 80.0)
    # THEN no `applied` 2 -> 4 that launches nothing: skipped, saying why and how to resume, and told
    assert (record["outcome"], record["skip_cause"], desired()) == ("skipped", "suspended", 2)
    assert "Launch is suspended" in record["reason"] and "resume-processes" in record["reason"]
    assert [n["Subject"] for n in notifications.read()] == ["Surgeguard skipped: web"]
    # AND the per-minute re-evaluation says so each minute in its record, without telling again
    cpu_metric(80.0, at(160) - timedelta(minutes=1))
    again = _reevaluate(invoke, audit, 160)
    assert (again["outcome"], again["skip_cause"]) == ("skipped", "suspended")
    assert notifications.read() == []


@pytest.mark.parametrize("why", ["protected", "terminate_suspended"])
def test_a_scale_in_that_could_terminate_nothing_is_not_applied(
    why: str, invoke: Any, audit: Any, cpu_metric: Any, describe_hook: Any
) -> None:
    # GIVEN 10 instances, every one protected from scale-in, or Terminate suspended
    set_desired("web", 10)
    if why == "terminate_suspended":
        boto3.client("autoscaling").suspend_processes(
            AutoScalingGroupName="web", ScalingProcesses=["Terminate"]
        )
    describe_hook(_instances_as_now(protect=10 if why == "protected" else 0))
    # WHEN the load falls (CPU 20 against 50)
    record = _alarm(invoke, audit, cpu_metric, CPU_IN, 40, 20.0)
    # THEN desired stays 10 (AWS would lower it and terminate nothing): held or skipped, saying why
    assert desired() == 10
    if why == "protected":
        assert record["outcome"] == "unchanged"
        assert "10 in service are protected from scale-in" in record["reason"]
    else:
        assert (record["outcome"], record["skip_cause"]) == ("skipped", "suspended")
        assert "Terminate is suspended" in record["reason"]


def test_a_prewarm_with_launch_suspended_says_so_and_tells_people(
    config_file: Any, alarms: Any, describe_hook: Any, notifications: Any
) -> None:
    # GIVEN maintenance left Launch suspended before a sale
    declare(EVENT)
    boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    describe_hook(_instances_as_now())
    # WHEN the pre-warm fires
    (record,) = fire(phase("prewarm", PREWARM))["records"]
    # THEN its MaxSize raise stands (told, applied), but the capacity it would launch is not set and
    # the record says why: it once read `applied ... scale out 2 -> 24` for a sale opening on 2
    assert max_size() == 30 and desired() == 2
    assert "Launch is suspended" in record["reason"]
    assert notifications.read(), "nobody was told"


def test_a_group_being_deleted_is_skipped_as_such(
    invoke: Any, audit: Any, cpu_metric: Any, describe_hook: Any
) -> None:
    describe_hook(lambda group: group.update(Status="Delete in progress"))
    record = _alarm(invoke, audit, cpu_metric, CPU_OUT, 40, 80.0)
    # not `rejected: not found`: the group is there, going away
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "group_deleting")
    assert "is being deleted" in record["reason"]


class _Weighted:
    def __init__(self, weights: list[str]) -> None:
        self.weights = weights

    def describe_auto_scaling_groups(self, **_: Any) -> dict[str, Any]:
        instances = [
            {"InstanceId": f"i-{n}", "LifecycleState": "InService", "WeightedCapacity": weight}
            for n, weight in enumerate(self.weights)
        ]
        group = {"AutoScalingGroupName": "web", "MinSize": 1, "MaxSize": 40, "DesiredCapacity": 8}
        return {"AutoScalingGroups": [{**group, "Instances": instances}]}


def test_a_weight_is_counted_as_given_or_refused() -> None:
    # "2.0" is 2 (it was counted as 1: 4 instances of weight 2 at desired 8 read as 7, and scaled in)
    assert AutoScalingFleet(api=_Weighted(["2", "2", "2", "2.0"])).describe("web").in_service == 8
    # a group whose DesiredCapacityType is memory-mib counts each instance as its MiB: 2 of 16 GiB at
    # desired 32768 are all of it (refused as over 999, every decision of such a group failed)
    assert AutoScalingFleet(api=_Weighted(["16384", "16384"])).describe("web").in_service == 32768
    # a weight that is no whole number of units DesiredCapacity can hold leaves the capacity uncounted
    for bad in ("two", "0", "1.5", "inf", "2147483648"):
        with pytest.raises(AwsCallError, match="WeightedCapacity"):
            AutoScalingFleet(api=_Weighted(["2", "2", "2", bad])).describe("web")


def test_a_commit_is_not_put_in_place_while_launch_is_suspended(
    invoke: Any, audit: Any, cpu_metric: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN alarm A committed 2 -> 4 and its SetDesiredCapacity failed, then a person suspended Launch
    set_desired_fails_once(monkeypatch)
    cpu_metric(80.0)
    set_alarm_state(CPU_OUT, "ALARM")
    clock.pin(at(45))
    with pytest.raises(RetryableFailureError):
        invoke(alarm_event(SNS, CPU_OUT, at(40), metric="CPUUtilization"))
    boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    # WHEN the re-evaluation (no fresh datapoint: it holds) would put the commit in place
    clock.pin(at(120))
    record = _reevaluate(invoke, audit, 120)
    # THEN nothing is set: skipped, suspended (it was `applied`, launching nothing)
    assert desired() == 2
    assert (record["outcome"], record["skip_cause"]) == ("skipped", "suspended")


def test_the_moto_game_days_fleet_keeps_the_groups_states(invoke: Any) -> None:
    from types import SimpleNamespace

    from gameday.moto_path import EngineTimedFleet

    autoscaling = boto3.client("autoscaling")
    autoscaling.suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    size = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"][0]
    view = SimpleNamespace(desired=size["DesiredCapacity"], serving=2, warming=0, pending=0)
    assert EngineTimedFleet(lambda: view, autoscaling).describe("web").suspended == frozenset({"Launch"})


@pytest.mark.parametrize("why", ["terminate_suspended", "protected"])
def test_a_restore_that_lowers_desired_says_what_it_leaves_running(
    why: str, config_file: Any, alarms: Any, describe_hook: Any, audit: Any
) -> None:
    # GIVEN the pre-warm took web to 24 under a temporary MaxSize 30 (its original 20), then Terminate
    # was suspended, or 22 of the 24 were protected from scale-in
    declare(EVENT)
    fire(phase("prewarm", PREWARM))
    assert (desired(), max_size()) == (24, 30)
    if why == "terminate_suspended":
        boto3.client("autoscaling").suspend_processes(
            AutoScalingGroupName="web", ScalingProcesses=["Terminate"]
        )
    describe_hook(_instances_as_now(protect=22 if why == "protected" else 0))
    # WHEN the restore puts MaxSize back to 20 and desired with it
    (record,) = fire(phase("restore", RESTORE))["records"]
    # THEN the record does not say 24 -> 20 as if done: AWS accepts it and terminates none of the 4
    # (or only 2 of them)
    assert (record["outcome"], max_size(), desired()) == ("applied", 20, 20)
    assert "desired 24 -> 20" in record["reason"]
    if why == "terminate_suspended":
        assert "Terminate is suspended" in record["reason"]
    else:
        assert "22 in service are protected from scale-in" in record["reason"]


def _without(field: str) -> Edit:
    return lambda group: group.pop(field)


def _first_instance_without(field: str) -> Edit:
    return lambda group: group["Instances"][0].pop(field)


@pytest.mark.parametrize(
    ("edit", "said"),
    [
        (_without("MinSize"), "DescribeAutoScalingGroups answer for web lacks MinSize"),
        (_without("DesiredCapacity"), "DescribeAutoScalingGroups answer for web lacks DesiredCapacity"),
        (_without("MaxSize"), "DescribeAutoScalingGroups answer for web lacks MaxSize"),
        (
            lambda group: group.update(MaxSize="20"),
            "DescribeAutoScalingGroups answer for web has MaxSize '20', not a whole number",
        ),
        (_without("Instances"), "DescribeAutoScalingGroups answer for web lacks Instances"),
        (
            _first_instance_without("LifecycleState"),
            "DescribeAutoScalingGroups answer for web has instance i-",
        ),
        (
            lambda group: group.update(DesiredCapacityType="gpus"),
            "DescribeAutoScalingGroups answer for web has DesiredCapacityType 'gpus'",
        ),
    ],
    ids=["MinSize", "DesiredCapacity", "MaxSize", "MaxSize-text", "Instances", "LifecycleState", "type"],
)
def test_a_describe_answer_missing_what_the_decision_needs_fails_saying_what(
    edit: Edit, said: str, invoke: Any, audit: Any, cpu_metric: Any, describe_hook: Any
) -> None:
    # GIVEN DescribeAutoScalingGroups answers web without a field the decision reads (or with one of
    # a shape AWS does not send)
    describe_hook(edit)
    # WHEN CPU breaches
    cpu_metric(80.0, at(40) - timedelta(minutes=1))
    set_alarm_state(CPU_OUT, "ALARM")
    with pytest.raises(RetryableFailureError):
        invoke(alarm_event(SNS, CPU_OUT, at(40), metric="CPUUtilization"))
    record = audit("web")[-1]
    # THEN nothing is set, and the record says which field (it once read "internal"-style
    # "KeyError: 'MinSize'", or counted an instance of no state as not serving and scaled on it)
    assert desired() == 2
    assert record["outcome"] == "failed" and said in record["reason"], record["reason"]
    assert "KeyError" not in record["reason"]
