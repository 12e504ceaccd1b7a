"""One moto world for many fault cases: built once, reset between cases in milliseconds.

The world is the integration tests' (support.CONFIG, three groups, the stack's alarms) with group web
also declaring the doorbuster sale (test_sale_events) and a forecast in floor mode that sizes the group's
warm pool (test_forecast, test_forecast_warm_pool), so
the three handlers each have a real path to walk. Building it costs seconds (the forecaster's three
days of per-minute history); resetting it (a new table, the groups' sizes, the alarms' states) costs
milliseconds, so hundreds of cases fit in a minute.

The Lambdas judge times against `surgeguard.service.utc_now()`; `Clock` replaces it (per thread when
asked: two deciders of one race can live at different minutes).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from surgeguard import keys
from surgeguard.adapters.audit_store import create_local_table
from surgeguard.config import Direction, parse_config
from surgeguard.signals import alarm_threshold, signal_metric

from ..support import CONFIG, LOAD_BALANCER, PREFIX, T0, TABLE, WEB_TARGET_GROUP, LambdaContext, plain

SCHEDULE_GROUP = "Surgeguard-Sales-Group-TEST"
TOPIC = "surgeguard-notify"
# Doors open at T0 (07:00 New York) for two hours; lead 10 minutes; restore an hour after the release.
SALE = {
    "name": "doorbuster",
    "start": "2026-11-20T07:00:00",
    "end": "2026-11-20T09:00:00",
    "timezone": "America/New_York",
    "peak_multiplier": 4,
    "temporary_max": 30,
    "hold_after_minutes": 30,
}
PREWARM = T0 - timedelta(minutes=10)
RESTORE = T0 + timedelta(hours=3, minutes=30)
FORECAST_HISTORY_DAYS = 3  # the least forecast.history_days allows
FORECAST = {
    "mode": "floor",
    "history_days": FORECAST_HISTORY_DAYS,
    "horizon_hours": 1,
    "percentile": 0.9,
    "size_warm_pool": True,
}
# (min, desired, max) each group starts every case with.
SIZES = {"web": (1, 2, 20), "api": (1, 2, 20), "rehearsal": (1, 2, 10)}
ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    # moto's 6,500 default AMIs make every instance launch scan them all (0.1 s each): none are needed.
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


def world_config() -> dict[str, Any]:
    config = copy.deepcopy(CONFIG)
    config["groups"][0] = {
        **config["groups"][0],
        "launch_seconds": 130,
        "events": [SALE],
        "forecast": FORECAST,
        # The noise headroom reads the recent RequestCount on every decision (a refinement: unreadable,
        # the signals decide alone), so that read is on the alarm paths too.
        "noise_headroom": {"sigmas": 3, "band_sigmas": 3},
    }
    return config


@dataclass
class Context(LambdaContext):
    """The fake Lambda context, with the remaining time a lease is measured by (a 60 s function)."""

    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Clock:
    """Stands in for `surgeguard.service.utc_now`: a settable time, optionally per thread."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now
        self._local = threading.local()

    def __call__(self) -> datetime:
        return getattr(self._local, "now", None) or self.now

    def set(self, now: datetime) -> None:
        self.now = now

    def set_for_this_thread(self, now: datetime | None) -> None:
        self._local.now = now

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Replace `surgeguard.service.utc_now` (and any module's alias of the same function)."""
        import surgeguard.service as service

        original = getattr(service, "utc_now", None)
        monkeypatch.setattr(service, "utc_now", self, raising=False)
        for name, module in list(sys.modules.items()):
            alias = name.startswith("surgeguard.") and module is not service and original is not None
            if alias and getattr(module, "utc_now", None) is original:
                monkeypatch.setattr(module, "utc_now", self)


def _put_metric(
    cloudwatch: Any,
    namespace: str,
    name: str,
    dimensions: dict[str, str],
    points: list[tuple[datetime, float]],
) -> None:
    data = [
        {
            "MetricName": name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
            "Timestamp": at,
            "Value": value,
        }
        for at, value in points
    ]
    for start in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])


@dataclass
class World:
    """The moto resources of one world, and the environment the Lambdas read."""

    task_root: Path
    config: dict[str, Any] = field(default_factory=world_config)
    topic_arn: str = ""
    told_queue_url: str = ""  # an SQS queue subscribed to the topic: what people were told
    alarm_names: list[str] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def api(self, service: str) -> Any:
        """The test's own client (made once: boto3.client() costs tens of milliseconds)."""
        if service not in self._clients:
            self._clients[service] = boto3.client(service)
        return self._clients[service]

    # --- building -----------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        return {
            "LAMBDA_TASK_ROOT": str(self.task_root),
            "CONFIG_FILE": "surgeguard_config.json",
            "TABLE_NAME": TABLE,
            "ALARM_PREFIX": PREFIX,
            "NOTIFY_TOPIC_ARN": self.topic_arn,
        }

    def build(self, *, history: bool = True) -> None:
        self.task_root.mkdir(parents=True, exist_ok=True)
        (self.task_root / "surgeguard_config.json").write_text(json.dumps(self.config), encoding="utf-8")
        self.api("ec2").create_launch_template(
            LaunchTemplateName="surgeguard-test",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        autoscaling = self.api("autoscaling")
        for name, (low, desired, high) in SIZES.items():
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=name,
                LaunchTemplate={"LaunchTemplateName": "surgeguard-test", "Version": "$Latest"},
                MinSize=low,
                MaxSize=high,
                DesiredCapacity=desired,
                AvailabilityZones=["us-east-1a"],
            )
        create_local_table(self.api("dynamodb"), TABLE)
        self.topic_arn = self.api("sns").create_topic(Name=TOPIC)["TopicArn"]
        self.told_queue_url = self.api("sqs").create_queue(QueueName=f"{TOPIC}-reader")["QueueUrl"]
        queue_arn = self.api("sqs").get_queue_attributes(
            QueueUrl=self.told_queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.api("sns").subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=queue_arn)
        self.api("scheduler").create_schedule_group(Name=SCHEDULE_GROUP)
        self._alarms()
        self._metrics(history)

    def _alarms(self) -> None:
        config = parse_config(self.config)
        cloudwatch = self.api("cloudwatch")
        for spec in config.alarms(PREFIX):
            group = config.group(spec.group)
            assert group is not None
            signal = group.signal(spec.rule)
            if signal is None:
                continue  # a composite: moto 5.2.5 does not implement PutCompositeAlarm
            metric = signal_metric(group, signal)
            if metric.is_math:
                continue
            stat = metric.stats[0]
            cloudwatch.put_metric_alarm(
                AlarmName=spec.name,
                Namespace=stat.namespace,
                MetricName=stat.metric_name,
                Dimensions=[{"Name": k, "Value": v} for k, v in stat.dimensions],
                Statistic=stat.statistic,
                Period=60,
                EvaluationPeriods=1,
                Threshold=alarm_threshold(signal, spec.direction),
                ComparisonOperator="GreaterThanThreshold"
                if spec.direction is Direction.OUT
                else "LessThanThreshold",
            )
            self.alarm_names.append(spec.name)

    def put_metric(
        self, namespace: str, name: str, dimensions: dict[str, str], points: list[tuple[datetime, float]]
    ) -> None:
        _put_metric(self.api("cloudwatch"), namespace, name, dimensions, points)

    def _metrics(self, history: bool) -> None:
        # CPU 80 over the web group's 2 instances at T0: the alarm path's need is 4 (one doubling).
        _put_metric(
            self.api("cloudwatch"), "AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": "web"}, [(T0, 80.0)]
        )
        requests = {"LoadBalancer": LOAD_BALANCER, "TargetGroup": WEB_TARGET_GROUP}
        # Normal demand a week before the doors open: 1500 requests/min -> 4 x 1500 / 1000 = 6
        # (small, so moto launches few instances: every case is cheap).
        week_ago = [(T0 - timedelta(days=7, minutes=m), 1500.0) for m in range(-7, 8)]
        _put_metric(self.api("cloudwatch"), "AWS/ApplicationELB", "RequestCount", requests, week_ago)
        if history:
            # The forecast's days of per-minute requests up to T0 (a daily wave): enough for the forecaster.
            minutes = FORECAST_HISTORY_DAYS * 1440
            wave = [
                (T0 - timedelta(minutes=minutes - i), 6000 + 2000 * math.sin(2 * math.pi * i / 1440))
                for i in range(minutes)
            ]
            _put_metric(self.api("cloudwatch"), "AWS/ApplicationELB", "RequestCount", requests, wave)

    # --- between cases ------------------------------------------------------------------------------
    def reset(self) -> None:
        """Every case starts here: an empty table, the groups at their sizes, every alarm OK."""
        dynamodb = self.api("dynamodb")
        dynamodb.delete_table(TableName=TABLE)
        create_local_table(dynamodb, TABLE)
        autoscaling = self.api("autoscaling")
        sizes = self.sizes()
        for name, (low, desired, high) in SIZES.items():
            if sizes[name] != (low, desired, high):
                autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=name, MinSize=low, MaxSize=high, DesiredCapacity=desired
                )
        for name in self.alarms_in("ALARM"):
            self.set_alarm(name, "OK")
        if self.warm_pool() is not None:
            autoscaling.delete_warm_pool(AutoScalingGroupName="web", ForceDelete=True)
        self.told()

    # --- reading ------------------------------------------------------------------------------------
    def size(self, group: str = "web") -> tuple[int, int, int]:
        found = self.api("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
        g = found["AutoScalingGroups"][0]
        return int(g["MinSize"]), int(g["DesiredCapacity"]), int(g["MaxSize"])

    def warm_pool(self, group: str = "web") -> int | None:
        """The group's warm pool's MaxGroupPreparedCapacity (-1: unset, the group's max); None: no pool."""
        found = self.api("autoscaling").describe_warm_pool(AutoScalingGroupName=group)
        config = found.get("WarmPoolConfiguration")
        return None if config is None else int(config.get("MaxGroupPreparedCapacity", -1))

    def original_max(self, group: str = "web") -> int | None:
        """The MaxSize the sale's restore puts back (the event item's `original_max`); None: none saved."""
        found = self.api("dynamodb").get_item(
            TableName=TABLE,
            Key={
                keys.PARTITION_KEY: {"S": keys.group_pk(group)},
                keys.SORT_KEY: {"S": f"{keys.EVENT_SORT_PREFIX}{SALE['name']}"},
            },
            ConsistentRead=True,
        )
        value = found.get("Item", {}).get("original_max")
        return None if value is None else int(value["N"])

    def told(self) -> list[str]:
        """The subjects of every notification published since the last call, sorted."""
        sqs = self.api("sqs")
        subjects: list[str] = []
        while batch := sqs.receive_message(QueueUrl=self.told_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                subjects.append(json.loads(message["Body"]).get("Subject", ""))
                sqs.delete_message(QueueUrl=self.told_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(subjects)

    def told_messages(self) -> list[tuple[str, str]]:
        """(subject, message) of every notification published since the last call, sorted."""
        sqs = self.api("sqs")
        told: list[tuple[str, str]] = []
        while batch := sqs.receive_message(QueueUrl=self.told_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in batch:
                body = json.loads(message["Body"])
                told.append((body.get("Subject", ""), body.get("Message", "")))
                sqs.delete_message(QueueUrl=self.told_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return sorted(told)

    def sizes(self) -> dict[str, tuple[int, int, int]]:
        """Every group's (min, desired, max), in one call."""
        found = self.api("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=list(SIZES))
        return {
            g["AutoScalingGroupName"]: (int(g["MinSize"]), int(g["DesiredCapacity"]), int(g["MaxSize"]))
            for g in found["AutoScalingGroups"]
        }

    def alarms_in(self, state: str) -> list[str]:
        found = self.api("cloudwatch").describe_alarms(StateValue=state)
        return [a["AlarmName"] for a in found["MetricAlarms"] + found["CompositeAlarms"]]

    def audit_items(self) -> list[dict[str, Any]]:
        """Every audit item in the table, whatever its group, ordered by key."""
        items: list[dict[str, Any]] = []
        request: dict[str, Any] = {
            "TableName": TABLE,
            "FilterExpression": "begins_with(#sk, :audit)",
            "ExpressionAttributeNames": {"#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {":audit": {"S": keys.AUDIT_SORT_PREFIX}},
            "ConsistentRead": True,
        }
        while True:
            page = self.api("dynamodb").scan(**request)
            items += [_plain_item(i) for i in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: (i[keys.PARTITION_KEY], i[keys.SORT_KEY]))
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def raw_item(self, pk: str, sk: str) -> dict[str, Any] | None:
        item = (
            self.api("dynamodb")
            .get_item(
                TableName=TABLE,
                Key={keys.PARTITION_KEY: {"S": pk}, keys.SORT_KEY: {"S": sk}},
                ConsistentRead=True,
            )
            .get("Item")
        )
        return None if item is None else _plain_item(item)

    def committed_desired(self, group: str = "web") -> int | None:
        """The newest committed decision's desired capacity, as the group's state item keeps it."""
        item = self.raw_item(keys.group_pk(group), keys.STATE_SORT_KEY)
        if item is None:
            return None
        memory = json.loads(item["memory"]) if isinstance(item.get("memory"), str) else {}
        committed = memory.get("committed_desired")
        return None if committed is None else int(committed)

    def set_alarm(self, name: str, state: str) -> None:
        self.api("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")

    def alarm_state(self, name: str) -> str:
        found = self.api("cloudwatch").describe_alarms(AlarmNames=[name])
        return str((found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"])

    def create_schedule(self, phase: str) -> str:
        api = self.api("scheduler")
        name = f"doorbuster-{phase}-{uuid.uuid4().hex[:8]}"
        api.create_schedule(
            Name=name,
            GroupName=SCHEDULE_GROUP,
            ScheduleExpression="at(2026-11-20T06:50:00)",
            ScheduleExpressionTimezone="America/New_York",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:surgeguard-schedule",
                "RoleArn": "arn:aws:iam::123456789012:role/surgeguard-scheduler",
                "Input": json.dumps({"group": "web", "event": "doorbuster", "phase": phase}),
            },
        )
        return str(api.get_schedule(Name=name, GroupName=SCHEDULE_GROUP)["Arn"])


_DESERIALIZER = TypeDeserializer()


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return dict(plain({k: _DESERIALIZER.deserialize(v) for k, v in item.items()}))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_id_of(event: dict[str, Any]) -> str:
    """The delivery's id, as the contract names it: SNS MessageId, EventBridge id, Scheduler execution_id."""
    if "Records" in event:
        return str(event["Records"][0]["Sns"]["MessageId"])
    if "detail" in event and "id" in event:
        return str(event["id"])
    return str(event["execution_id"])


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]
