"""Metrics that arrive, at run time: a queue backlog without the group's metrics collection is named,
and a quiet ALB (no datapoint at all) reads as zero requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from surgeguard.adapters import clients
from surgeguard.adapters.cloudwatch import CloudWatchSignals
from surgeguard.config import parse_config

from .alarm_events import EVENTBRIDGE_MATH, SNS, alarm_event
from .support import CONFIG, T0, alarm_for, at, desired, set_alarm_state, set_desired

WORK = {
    "name": "work",
    "min": 1,
    "max": 10,
    "monitoring": "detailed",
    "signals": [
        {"kind": "cpu", "target": 50},
        {"id": "backlog", "kind": "queue_backlog", "queue_name": "orders", "target": 50},
    ],
}


@pytest.fixture
def work(monkeypatch: pytest.MonkeyPatch, make_asg: Callable[..., str]) -> str:
    # The shared test config plus a worker group fed by a queue (the config is read per test).
    monkeypatch.setitem(CONFIG, "groups", [*CONFIG["groups"], WORK])
    return make_asg("work", desired=3)


def _skip_causes(table: str) -> list[Any]:
    items = boto3.resource("dynamodb").Table(table).scan()["Items"]
    return [i.get("skip_cause") for i in items if i.get("group") == "work"]


def test_backlog_alarm_without_metrics_collection_is_skipped_with_the_fix(
    work: str, invoke: Callable[..., dict[str, Any]], audit_table: str
) -> None:
    # GIVEN a group whose metrics collection is off (the default: Auto Scaling publishes group metrics
    # only after EnableMetricsCollection), so the backlog's divisor GroupInServiceInstances never arrives
    # and its scale-in alarm (missing data = breaching) goes to ALARM
    # WHEN that alarm reaches the Lambda
    result = invoke(alarm_event(EVENTBRIDGE_MATH, alarm_for("work", "backlog", "in"), T0))
    # THEN one record says why nothing was done and how to fix it; capacity is untouched
    (record,) = result["records"]
    assert record["outcome"] == "skipped"
    assert "does not collect" in record["reason"]
    assert "enable-metrics-collection --auto-scaling-group-name work" in record["reason"]
    assert _skip_causes(audit_table) == ["metrics_collection"]
    group = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["work"])
    assert group["AutoScalingGroups"][0]["DesiredCapacity"] == 3


def test_backlog_alarm_is_decided_once_metrics_collection_is_on(
    work: str, invoke: Callable[..., dict[str, Any]], audit_table: str
) -> None:
    boto3.client("autoscaling").enable_metrics_collection(
        AutoScalingGroupName="work", Granularity="1Minute", Metrics=["GroupInServiceInstances"]
    )
    result = invoke(alarm_event(EVENTBRIDGE_MATH, alarm_for("work", "backlog", "in"), T0))
    (record,) = result["records"]
    assert "GroupInServiceInstances" not in record["reason"]
    assert "metrics_collection" not in _skip_causes(audit_table)


def test_a_quiet_alb_reads_as_zero_requests_and_missing_cpu_stays_unknown(
    moto: None, cpu_metric: Callable[..., None]
) -> None:
    # The ALB publishes RequestCountPerTarget only while requests flow: none at all in the window is
    # zero traffic (a night), which lets the scale-in decision happen. CPU without a datapoint is a
    # broken metric, never zero.
    config = parse_config(CONFIG)
    web = config.group("web")
    assert web is not None
    readings = {r.signal_id: r.value for r in CloudWatchSignals().read(web, T0)}
    assert readings == {"cpu": None, "requests_per_target": 0.0}
    cpu_metric(35.0, T0 - timedelta(minutes=1))
    readings = {r.signal_id: r.value for r in CloudWatchSignals().read(web, T0)}
    assert readings["cpu"] == 35.0


def _backlog_in_alarm_in_alarm() -> None:
    # the stack's backlog scale-in alarm (metric math), in ALARM as missing data makes it
    name = alarm_for("work", "backlog", "in")
    queries = [
        {
            "Id": "m1",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/SQS",
                    "MetricName": "ApproximateNumberOfMessagesVisible",
                    "Dimensions": [{"Name": "QueueName", "Value": "orders"}],
                },
                "Period": 60,
                "Stat": "Maximum",
            },
            "ReturnData": False,
        },
        {
            "Id": "m2",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/AutoScaling",
                    "MetricName": "GroupInServiceInstances",
                    "Dimensions": [{"Name": "AutoScalingGroupName", "Value": "work"}],
                },
                "Period": 60,
                "Stat": "Average",
            },
            "ReturnData": False,
        },
        {"Id": "e1", "Expression": "m1 / IF(m2 < 1, 1, m2)", "ReturnData": True},
    ]
    cloudwatch = boto3.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Metrics=queries,
        EvaluationPeriods=10,
        Threshold=25,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="missing data: breaching")


def _reevaluation() -> dict[str, str]:
    return {
        "action": "reevaluate",
        "scheduled_time": T0.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": "minute-1",
    }


def test_the_reevaluation_ignores_a_backlog_alarm_that_only_lacks_metrics_collection(
    work: str, invoke: Callable[..., dict[str, Any]], audit_table: str
) -> None:
    # GIVEN the backlog's scale-in alarm sitting in ALARM for want of GroupInServiceInstances
    _backlog_in_alarm_in_alarm()
    # WHEN the per-minute re-evaluation runs
    result = invoke(_reevaluation())
    # THEN the group is not decided on it (nothing in ALARM says anything about its load)
    assert [r["group"] for r in result["records"]] == [None]
    assert (
        boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["work"])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        == 3
    )
    # AND once metrics collection is on, the same alarm is decided again
    boto3.client("autoscaling").enable_metrics_collection(
        AutoScalingGroupName="work", Granularity="1Minute", Metrics=["GroupInServiceInstances"]
    )
    again = invoke({**_reevaluation(), "execution_id": "minute-2"})
    assert [r["group"] for r in again["records"]] == ["work"]


def test_a_query_cloudwatch_did_not_answer_is_unknown_and_holds_scale_in(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50) and 900 requests per target (of 1000): the requests hold all 8
    set_desired("web", 8)
    cpu_metric(20.0, at(39))
    requests_metric(900.0, at(39))

    def requests_unanswered(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        # GetMetricData succeeds while one of its queries fails on CloudWatch's side (API_MetricDataResult)
        results = [
            {"Id": "s0m1", "Timestamps": [at(39)], "Values": [20.0], "StatusCode": "Complete"},
            {"Id": "s1m1", "Timestamps": [], "Values": [], "StatusCode": "InternalError"},
        ]
        http = AWSResponse("https://monitoring.us-east-1.amazonaws.com/", 200, {}, None)
        return http, {
            "MetricDataResults": results,
            "Messages": [],
            "ResponseMetadata": {"HTTPStatusCode": 200},
        }

    events = clients.client("cloudwatch").meta.events
    events.register("before-call.monitoring.GetMetricData", requests_unanswered)
    try:
        set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")
        invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), at(40), metric="CPUUtilization"))
    finally:
        events.unregister("before-call.monitoring.GetMetricData", requests_unanswered)
    # THEN the requests signal is unknown, not zero, and no capacity is removed on it (it once scaled
    # 8 -> 4 on a read that had failed)
    record = audit("web")[-1]
    assert desired() == 8, record["reason"]
    assert record["outcome"] == "unchanged" and "requests_per_target could not be read" in record["reason"]
    (requests,) = [r for r in record["inputs"]["readings"] if r["signal_id"] == "requests_per_target"]
    assert requests["value"] is None and requests["unanswered"] is True
