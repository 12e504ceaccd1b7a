"""One ALARM transition, then a climb that never lets up: the per-minute re-evaluation keeps the
scaler in the loop.

CloudWatch notifies on state CHANGE only. moto evaluates no alarm, so the test plays CloudWatch: each
minute it publishes the datapoint and, when the metric breaches while the alarm is not in ALARM, moves
the alarm to ALARM and delivers the SNS notification. The alarm then stays in ALARM (the Lambda does
not re-arm it: AWS documents SetAlarmState as a testing aid, and the alarm would bounce back within
seconds); the stack's `rate(1 minute)` schedule, played here too, re-evaluates every group with an
alarm in ALARM.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from typing import Any

import boto3

from surgeguard import keys
from surgeguard.config import ScalerConfig, parse_config

from .alarm_events import SNS, alarm_event
from .support import (
    API_TARGET_GROUP,
    CONFIG,
    alarm_for,
    alarm_state,
    at,
    desired,
    reevaluation,
    set_alarm_state,
    write_config,
)

THRESHOLD = 50.0


def test_a_sustained_climb_keeps_raising_capacity(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
) -> None:
    # GIVEN the real scale-out alarm on the group's CPU, threshold 50, and a group of 2
    name = alarm_for("web", "cpu")
    (alarm,) = boto3.client("cloudwatch").describe_alarms(AlarmNames=[name])["MetricAlarms"]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (THRESHOLD, "GreaterThanThreshold")
    assert alarm_state(name) != "ALARM"
    history = [desired()]
    notifications = invocations = 0
    # WHEN CPU climbs 55, 60, ... 100 over ten minutes
    for minute in range(10):
        cpu = 55.0 + 5 * minute
        cpu_metric(cpu, at(60 * minute))
        if minute:  # the schedule fires at the top of every minute
            invoke(reevaluation(minute))
            invocations += 1
        if cpu > THRESHOLD and alarm_state(name) != "ALARM":  # CloudWatch: notify on change only
            set_alarm_state(name, "ALARM")
            event = alarm_event(
                SNS, name, at(60 * minute + 30), event_id=str(uuid.uuid4()), metric="CPUUtilization"
            )
            invoke(event)
            notifications += 1
            invocations += 1
        history.append(desired())
    # THEN one notification started it, the re-evaluation heard every later minute, and capacity kept
    # rising with the load
    assert notifications == 1
    assert alarm_state(name) == "ALARM"
    rises = sum(1 for before, after in zip(history, history[1:], strict=False) if after > before)
    assert rises >= 3, history
    assert history == sorted(history)
    assert history[-1] == 20  # the config max, reached while CPU still climbs
    # AND every invocation left exactly one audit item, none of them failed: about one per minute
    items = audit("web")
    assert len(items) == invocations == 10
    # (the re-evaluation 30 s after the alarm's own decision is within its period: one decision per
    # group per period, so it is skipped as rate limited)
    outcomes = [(i["outcome"], i.get("skip_cause")) for i in items]
    assert set(outcomes) <= {("applied", None), ("unchanged", None), ("skipped", "rate_limited")}, outcomes
    assert outcomes.count(("skipped", "rate_limited")) == 1


def _with_extra_groups(count: int) -> ScalerConfig:
    """The test config plus `count` CPU-only groups (never in ALARM), written where the Lambda reads it."""
    data = copy.deepcopy(CONFIG)
    data["groups"] += [
        {"name": f"extra-{i:03d}", "min": 1, "max": 4, "signals": [{"kind": "cpu", "target": 50}]}
        for i in range(count)
    ]
    write_config(data)
    return parse_config(data)


def test_a_large_stack_is_re_evaluated_shard_by_shard(
    invoke: Callable[..., dict[str, Any]], cpu_metric: Callable[..., None]
) -> None:
    # GIVEN a stack of more than 50 groups (two re-evaluation schedules) and web's alarm in ALARM
    config = _with_extra_groups(60)
    assert config.reevaluation_shards == 2
    web_shard = next(k for k in range(2) if "web" in config.reevaluation_shard(k))
    name = alarm_for("web", "cpu")
    cpu_metric(95.0, at(60))
    set_alarm_state(name, "ALARM")
    before = desired()

    # WHEN the other shard's schedule fires, THEN web is not its to decide
    other = invoke({**reevaluation(2), "shard": 1 - web_shard})["records"]
    assert [r["outcome"] for r in other] == ["skipped"]
    assert other[0]["reason"].endswith(f"for the groups of shard {1 - web_shard}")
    assert desired() == before
    # WHEN web's shard fires, THEN web is decided (scaled out on the breach)
    mine = invoke({**reevaluation(2), "shard": web_shard})["records"]
    assert [(r["group"], r["outcome"]) for r in mine] == [("web", "applied")]
    assert desired() > before


def test_a_shard_must_be_one_of_the_stacks(invoke: Callable[..., dict[str, Any]]) -> None:
    _with_extra_groups(60)  # two shards: 0 and 1
    for shard in (2, -1, True, "0", 0.0):
        (record,) = invoke({**reevaluation(1), "shard": shard})["records"]
        assert record["outcome"] == "rejected", shard
        assert "shard" in record["reason"], record["reason"]
    # and a large stack's re-evaluation must say which shard it is
    (record,) = invoke(reevaluation(1))["records"]
    assert (record["outcome"], "without a shard" in record["reason"]) == ("rejected", True)


def test_a_small_stack_takes_no_shard_but_shard_zero(invoke: Callable[..., dict[str, Any]]) -> None:
    (record,) = invoke({**reevaluation(1), "shard": 1})["records"]
    assert record["outcome"] == "rejected"
    (record,) = invoke({**reevaluation(1), "shard": 0})["records"]
    assert (record["outcome"], record["reason"]) == (
        "skipped",
        "re-evaluation: no alarm of this stack is in ALARM and no learned burst is due",
    )


def test_one_groups_damaged_state_item_in_a_reevaluation_is_renumbered_and_both_are_decided(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    make_asg: Callable[..., str],
) -> None:
    # GIVEN web and api both breaching, and web's state item with a version no Surgeguard writes: it
    # once took the whole re-evaluation down, api included, and then failed web's every decision
    import os

    from surgeguard import keys

    make_asg("api")
    for group in ("web", "api"):
        cpu_metric(90.0, at(0), group=group)
        set_alarm_state(alarm_for(group, "cpu"), "ALARM")
    boto3.client("dynamodb").put_item(
        TableName=os.environ["TABLE_NAME"],
        Item={
            keys.PARTITION_KEY: {"S": keys.group_pk("web")},
            keys.SORT_KEY: {"S": keys.STATE_SORT_KEY},
            "version": {"N": "1.5"},
            "memory": {"S": '{"launches": [], "recommendations": []}'},
        },
    )
    # WHEN the re-evaluation runs
    result = invoke(reevaluation(1))
    # THEN both are decided, and web's record says its state item was renumbered and started afresh
    outcomes = {r["group"]: r["outcome"] for r in result["records"]}
    assert outcomes["web"] == "applied" and outcomes["api"] in ("applied", "unchanged"), result
    (decided,) = audit("web")
    assert decided["state_item"].startswith("malformed, started afresh: version {'N': '1.5'} renumbered")


def test_an_unexpected_error_in_one_group_leaves_the_others_decided(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    make_asg: Callable[..., str],
    monkeypatch: Any,
) -> None:
    # An answer of a shape nobody expected (a bug of ours, or of an API) for one group once failed the
    # whole shard's run at the handler's boundary: every group undecided, minute after minute.
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    describe = AutoScalingFleet.describe

    def surprising(self: AutoScalingFleet, name: str) -> Any:
        if name == "web":
            raise KeyError("DesiredCapacity")
        return describe(self, name)

    make_asg("api")
    for group in ("web", "api"):
        cpu_metric(90.0, at(0), group=group)
        set_alarm_state(alarm_for(group, "cpu"), "ALARM")
    monkeypatch.setattr(AutoScalingFleet, "describe", surprising)
    result = invoke(reevaluation(1))
    outcomes = {r["group"]: r["outcome"] for r in result["records"]}
    assert outcomes["web"] == "failed" and outcomes["api"] in ("applied", "unchanged"), result
    (failed,) = audit("web")
    assert "KeyError" in failed["reason"] and "DesiredCapacity" in failed["reason"]


def _both_breaching_one_apply_throttled(
    throttled: str,
    invoke: Callable[..., dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    make_asg: Callable[..., str],
    monkeypatch: Any,
) -> dict[str, Any]:
    """api and web breaching (api's composite: CPU and requests), and `throttled`'s SetDesiredCapacity
    throttled after its change was stashed: the re-evaluation's run ends there, so that its retry finds
    what was stashed. Returns the event, for Lambda's retry."""
    import pytest

    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.errors import AwsCallError
    from surgeguard.service import RetryableFailureError

    apply = AutoScalingFleet.set_desired_capacity

    def throttled_for(self: AutoScalingFleet, name: str, value: int) -> None:
        if name == throttled:
            raise AwsCallError("SetDesiredCapacity", "Throttling", "Rate exceeded")
        apply(self, name, value)

    make_asg("api")
    for group in ("api", "web"):
        cpu_metric(95.0, at(0), group=group)
        set_alarm_state(alarm_for(group, "cpu"), "ALARM")
    requests_metric(3000.0, at(0), target_group=API_TARGET_GROUP)
    event = reevaluation(1)
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_desired_capacity", throttled_for)
        with pytest.raises(RetryableFailureError, match="Throttling"):
            invoke(event)
    return event


def test_a_change_that_may_have_landed_in_one_group_fails_that_groups_own_record(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    make_asg: Callable[..., str],
    monkeypatch: Any,
) -> None:
    # GIVEN api's SetDesiredCapacity throttled (api is decided first)
    event = _both_breaching_one_apply_throttled(
        "api", invoke, cpu_metric, requests_metric, make_asg, monkeypatch
    )
    # THEN the failure is api's own record (it was filed under no group at all)
    (failed,) = audit("api")
    assert failed["outcome"] == "failed" and "Throttling" in failed["reason"]
    assert audit(keys.UNKNOWN_GROUP) == []
    # AND Lambda's retry decides api again (its change never landed) and web, once each
    invoke(event)
    assert sorted(r["outcome"] for r in audit("api")) == ["applied", "failed"]
    assert [r["outcome"] for r in audit("web")] == ["applied"]


def test_a_retry_audits_the_group_whose_change_landed_and_decides_the_one_whose_apply_failed(
    invoke: Callable[..., dict[str, Any]],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    make_asg: Callable[..., str],
    monkeypatch: Any,
) -> None:
    # GIVEN api's scale-out landing, then web's SetDesiredCapacity throttled, in one re-evaluation
    event = _both_breaching_one_apply_throttled(
        "web", invoke, cpu_metric, requests_metric, make_asg, monkeypatch
    )
    landed = desired("api")
    assert landed > 2 and audit("api") == []  # its record waits in the claim's stash
    # WHEN Lambda retries the re-evaluation
    invoke(event)
    # THEN api's change has its applied record from the stash (the retry once decided it afresh:
    # "unchanged", and its scale-out never audited), and web is decided, once each
    (api,) = audit("api")
    assert (api["outcome"], api["new_desired"], api["recovered_from"] is not None) == (
        "applied",
        landed,
        True,
    )
    assert sorted(r["outcome"] for r in audit("web")) == ["applied", "failed"]
