"""Constants and small helpers over the moto resources, shared by the integration tests."""

from __future__ import annotations

import copy
import json
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3

PREFIX = "sg"
TABLE = "surgeguard-audit"
# A fixed minute: every trigger, datapoint and audit time in a test derives from it.
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
WEB_TARGET_GROUP = "targetgroup/web/73e2d6bc24d8a067"
API_TARGET_GROUP = "targetgroup/api/2b4e6a1c9f0d3e57"
LOAD_BALANCER = "app/shop-alb/50dc6c495c0c9188"

CONFIG: dict[str, Any] = {
    "audit_retention_days": 30,
    "groups": [
        {
            # Warm-up plus the one-minute datapoint shorter than two alarm minutes: moto shows new
            # instances InService at once, so a launch two decisions back already produces datapoints.
            # One-minute CPU (detailed monitoring), as the tests put it; basic monitoring's 5-minute
            # datapoints have their own tests (test_basic_monitoring.py).
            "name": "web",
            "min": 1,
            "max": 20,
            "warmup_seconds": 50,
            "monitoring": "detailed",
            "signals": [
                {"kind": "cpu", "target": 50},
                {
                    "kind": "requests_per_target",
                    "target": 1000,
                    "load_balancer": LOAD_BALANCER,
                    "target_group": WEB_TARGET_GROUP,
                },
            ],
            "scale_out": {"max_step_percent": 100},
            "scale_in": {
                "datapoints_to_alarm": 3,
                "evaluation_periods": 3,
                "max_step_percent": 50,
                "stabilization_seconds": 300,
            },
        },
        {
            "name": "api",
            "min": 1,
            "max": 20,
            "warmup_seconds": 90,
            "monitoring": "detailed",
            "signals": [
                {"kind": "cpu", "target": 50},
                {
                    "kind": "requests_per_target",
                    "target": 1000,
                    "load_balancer": LOAD_BALANCER,
                    "target_group": API_TARGET_GROUP,
                },
            ],
            "composites": [{"id": "busy", "all_of": ["cpu", "requests_per_target"]}],
        },
        {
            "name": "rehearsal",
            "min": 1,
            "max": 10,
            "dry_run": True,
            "signals": [{"kind": "cpu", "target": 50}],
        },
    ],
}


def alarm_for(group: str, rule: str, direction: str = "out") -> str:
    return f"{PREFIX}/{group}/{rule}/{direction}"


@dataclass
class LambdaContext:
    """The attributes Powertools reads from the real Lambda context."""

    function_name: str = "surgeguard-alarm"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:surgeguard-alarm"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_millis: int = 60_000  # the scaler Lambdas' timeout

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def desired(group: str = "web") -> int:
    described = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[group])
    return int(described["AutoScalingGroups"][0]["DesiredCapacity"])


def set_desired(group: str, capacity: int) -> None:
    boto3.client("autoscaling").set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=capacity)


def alarm_state(name: str) -> str:
    found = boto3.client("cloudwatch").describe_alarms(AlarmNames=[name])
    return str((found["MetricAlarms"] + found["CompositeAlarms"])[0]["StateValue"])


def set_alarm_state(name: str, state: str) -> None:
    boto3.client("cloudwatch").set_alarm_state(AlarmName=name, StateValue=state, StateReason="test")


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def write_config(config: dict[str, Any]) -> None:
    """Replace the bundled config the Lambda reads (the `config_file` fixture put it there)."""
    path = Path(os.environ["LAMBDA_TASK_ROOT"]) / os.environ["CONFIG_FILE"]
    path.write_text(json.dumps(config), encoding="utf-8")


def put_request_counts(points: Iterable[tuple[datetime, float]]) -> None:
    """web's ALB RequestCount (LoadBalancer + TargetGroup, what the forecaster, pre-warms, bursts and the
    noise headroom read), one datapoint per (time, value), in PutMetricData's batches of at most 1,000."""
    data = [
        {
            "MetricName": "RequestCount",
            "Dimensions": [
                {"Name": "LoadBalancer", "Value": LOAD_BALANCER},
                {"Name": "TargetGroup", "Value": WEB_TARGET_GROUP},
            ],
            "Timestamp": when,
            "Value": value,
            "Unit": "Count",
        }
        for when, value in points
    ]
    cloudwatch = boto3.client("cloudwatch")
    for start in range(0, len(data), 1000):
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[start : start + 1000])


def configure_web(**fields: Any) -> dict[str, Any]:
    """The test config with `fields` set on the web group, written where the Lambda reads it."""
    config = copy.deepcopy(CONFIG)
    config["groups"][0] = {**config["groups"][0], **fields}
    write_config(config)
    return config


def reevaluation(minute: int) -> dict[str, str]:
    """The per-minute re-evaluation schedule's Input, `minute` minutes after T0."""
    return {
        "action": "reevaluate",
        "scheduled_time": (T0 + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "execution_id": str(uuid.uuid4()),
    }


def set_desired_fails_once(
    monkeypatch: Any, code: str = "Throttling", message: str = "Rate exceeded"
) -> None:
    """The next SetDesiredCapacity fails with `code` (as after the SDK's and the adapter's own retries);
    the ones after it go through."""
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.errors import AwsCallError

    real = AutoScalingFleet.set_desired_capacity
    failures = [1]

    def fails_once(self: AutoScalingFleet, name: str, desired_capacity: int) -> None:
        if failures[0]:
            failures[0] -= 1
            raise AwsCallError("SetDesiredCapacity", code, message)
        real(self, name, desired_capacity)

    monkeypatch.setattr(AutoScalingFleet, "set_desired_capacity", fails_once)


def audit_write_throttled_once(monkeypatch: Any) -> None:
    """The next audit record's PutItem is throttled (as after the SDK's retries); the ones after it are
    written."""
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.errors import AwsCallError

    write = AuditStore.write_audit
    throttled = [1]

    def throttled_once(self: AuditStore, record: dict[str, Any]) -> None:
        if throttled and throttled.pop():
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    monkeypatch.setattr(AuditStore, "write_audit", throttled_once)
