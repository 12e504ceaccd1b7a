"""Fixture chain for the handlers under moto, in-process:
credentials (root, autouse) -> moto -> audit_table -> asg -> config_file -> alarms -> invoke.

The Lambdas judge event times by their own clock (`surgeguard.service.utc_now`). The autouse `clock`
makes it the time the event says it happened (a Lambda that runs the moment its alarm fires), so
tests can replay a fixed day; a test that is about time pins it with `clock.pin(...)`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer
from moto import mock_aws

from surgeguard import forecast_service, keys, schedule_service, service
from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import create_local_table
from surgeguard.config import Direction, ScalerConfig, parse_config
from surgeguard.domain.triggers import BadInputError, parse_alarm_event, parse_time
from surgeguard.handlers import alarm
from surgeguard.signals import alarm_threshold, signal_metric

from . import fast_metric_data
from .support import CONFIG, PREFIX, T0, TABLE, WEB_TARGET_GROUP, LambdaContext, plain

# moto scans every stored datapoint for each period it answers; days of minutes took minutes a read.
fast_metric_data.install()


# --- the Lambda's clock ---------------------------------------------------------------------------
class Clock:
    """`surgeguard.service.utc_now` in tests: the event's own time, unless a test pins it."""

    def __init__(self) -> None:
        self.pinned: datetime | None = None
        self.followed: datetime = T0

    def __call__(self) -> datetime:
        return self.pinned or self.followed

    def pin(self, when: datetime) -> None:
        self.pinned = when

    def follow(self, event: Any) -> None:
        when = _event_time(event)
        if when is not None:
            self.followed = when


def _event_time(event: Any) -> datetime | None:
    try:
        return parse_alarm_event(event).timestamp
    except BadInputError:
        pass
    if isinstance(event, dict) and isinstance(event.get("scheduled_time"), str):
        try:
            return parse_time(event["scheduled_time"], "scheduled_time")
        except BadInputError:
            return None
    return None


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(service, "utc_now", fake)
    real_guarded = service.guarded

    def guarded(handle: Any, event: Any, *args: Any) -> Any:
        fake.follow(event)
        return real_guarded(handle, event, *args)

    for module in (service, schedule_service, forecast_service):
        monkeypatch.setattr(module, "guarded", guarded)
    return fake


# --- the chain ------------------------------------------------------------------------------------
@pytest.fixture
def moto() -> Iterator[None]:
    # Clients and wiring are cached per container; a test is a fresh container.
    _fresh_container()
    with mock_aws():
        yield
    _fresh_container()


def _fresh_container() -> None:
    # A test may have replaced these (monkeypatch restores them after this fixture's teardown).
    getattr(clients.client, "cache_clear", lambda: None)()
    getattr(clients.last_call_client, "cache_clear", lambda: None)()
    getattr(alarm._wiring, "cache_clear", lambda: None)()


@pytest.fixture
def audit_table(moto: None) -> str:
    create_local_table(boto3.client("dynamodb"), TABLE)
    return TABLE


@pytest.fixture
def make_asg(moto: None) -> Callable[..., str]:
    """Create an Auto Scaling group (moto starts its instances InService at once)."""
    boto3.client("ec2").create_launch_template(
        LaunchTemplateName="surgeguard-test",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )

    def make(name: str, *, min_size: int = 1, max_size: int = 20, desired: int = 2) -> str:
        boto3.client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": "surgeguard-test", "Version": "$Latest"},
            MinSize=min_size,
            MaxSize=max_size,
            DesiredCapacity=desired,
            AvailabilityZones=["us-east-1a"],
        )
        return name

    return make


@pytest.fixture
def asg(make_asg: Callable[..., str]) -> str:
    return make_asg("web")


@dataclass
class Notifications:
    topic_arn: str
    queue_url: str

    def read(self) -> list[dict[str, str]]:
        """Every notification published since the last read: [{"Subject", "Message"}]."""
        sqs = boto3.client("sqs")
        found: list[dict[str, str]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                body = json.loads(message["Body"])
                found.append({"Subject": body.get("Subject", ""), "Message": body["Message"]})
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def notifications(moto: None) -> Notifications:
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic_arn = sns.create_topic(Name="surgeguard-notify")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="surgeguard-notify-reader")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return Notifications(topic_arn, queue_url)


@pytest.fixture
def config_file(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    audit_table: str,
    asg: str,
    notifications: Notifications,
) -> ScalerConfig:
    """The bundled config JSON beside a fake task root, and the Lambda's environment."""
    task_root = tmp_path / "task"
    task_root.mkdir()
    (task_root / "surgeguard_config.json").write_text(json.dumps(CONFIG), encoding="utf-8")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(task_root))
    monkeypatch.setenv("CONFIG_FILE", "surgeguard_config.json")
    monkeypatch.setenv("TABLE_NAME", audit_table)
    monkeypatch.setenv("ALARM_PREFIX", PREFIX)
    monkeypatch.setenv("NOTIFY_TOPIC_ARN", notifications.topic_arn)
    return parse_config(CONFIG)


@pytest.fixture
def alarms(config_file: ScalerConfig) -> list[str]:
    """Every metric alarm the stack would create, so re-arming (SetAlarmState) finds them."""
    cloudwatch = boto3.client("cloudwatch")
    names = []
    for spec in config_file.alarms(PREFIX):
        group = config_file.group(spec.group)
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
        names.append(spec.name)
    return names


@pytest.fixture
def invoke(alarms: list[str]) -> Callable[..., dict[str, Any]]:
    """Call the real Lambda entry point in-process; the context is kept on the result."""

    def call(event: dict[str, Any], context: LambdaContext | None = None) -> dict[str, Any]:
        return alarm.lambda_handler(event, context or LambdaContext())

    return call


# --- helpers over the moto resources --------------------------------------------------------------
def _put(
    namespace: str, name: str, dimensions: dict[str, str], value: float, at: datetime, stat: str
) -> None:
    boto3.client("cloudwatch").put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": at,
                "Value": value,
                "Unit": stat,
            }
        ],
    )


@pytest.fixture
def cpu_metric(moto: None) -> Callable[..., None]:
    """Put one CPUUtilization datapoint for a group, as EC2 publishes it (AWS/EC2, per ASG)."""

    def put(value: float, at: datetime = T0, group: str = "web") -> None:
        _put("AWS/EC2", "CPUUtilization", {"AutoScalingGroupName": group}, value, at, "Percent")

    return put


@pytest.fixture
def requests_metric(moto: None) -> Callable[..., None]:
    """Put one ALB RequestCountPerTarget datapoint for a target group."""

    def put(value: float, at: datetime = T0, target_group: str = WEB_TARGET_GROUP) -> None:
        _put("AWS/ApplicationELB", "RequestCountPerTarget", {"TargetGroup": target_group}, value, at, "Count")

    return put


@pytest.fixture
def audit(audit_table: str) -> Callable[[str], list[dict[str, Any]]]:
    """The audit items of one group (keys.UNKNOWN_GROUP for events naming none), oldest first."""
    deserializer = TypeDeserializer()

    def items(group: str) -> list[dict[str, Any]]:
        response = boto3.client("dynamodb").query(
            TableName=audit_table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :audit)",
            ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": keys.group_pk(group)},
                ":audit": {"S": keys.AUDIT_SORT_PREFIX},
            },
        )
        return [
            plain({k: deserializer.deserialize(v) for k, v in item.items()}) for item in response["Items"]
        ]

    return items


@pytest.fixture
def state_item(audit_table: str) -> Callable[[str], dict[str, Any] | None]:
    def get(group: str) -> dict[str, Any] | None:
        item = (
            boto3.client("dynamodb")
            .get_item(
                TableName=audit_table,
                Key={
                    keys.PARTITION_KEY: {"S": keys.group_pk(group)},
                    keys.SORT_KEY: {"S": keys.STATE_SORT_KEY},
                },
            )
            .get("Item")
        )
        if item is None:
            return None
        return {"version": int(item["version"]["N"]), "memory": json.loads(item["memory"]["S"])}

    return get


@pytest.fixture
def stack_iam(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Lambdas' table policy, which moto does not enforce: each write action only on the partitions
    the stack grants it (dynamodb:LeadingKeys, infra/constructs/audit_table.py), else AccessDenied."""
    from fnmatch import fnmatchcase

    from infra.constructs.audit_table import CLAIM_ACTIONS, CLAIM_PARTITIONS, PUT_ACTIONS, PUT_PARTITIONS
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.errors import AwsCallError

    granted = {action.removeprefix("dynamodb:"): PUT_PARTITIONS for action in PUT_ACTIONS}
    granted.update({action.removeprefix("dynamodb:"): CLAIM_PARTITIONS for action in CLAIM_ACTIONS})
    call = AuditStore._table_call

    def as_the_lambda(self: AuditStore, operation: str, **kwargs: Any) -> Any:
        if operation in granted:
            item = kwargs.get("Key") or kwargs.get("Item") or {}
            partition = item.get(keys.PARTITION_KEY, {}).get("S", "")
            if not any(fnmatchcase(partition, pattern) for pattern in granted[operation]):
                raise AwsCallError(operation, "AccessDeniedException", f"not authorized on {partition}")
        return call(self, operation, **kwargs)

    monkeypatch.setattr(AuditStore, "_table_call", as_the_lambda)
