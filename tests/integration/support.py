"""Constants and small helpers over the moto resources, shared by the integration tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
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
            "name": "web",
            "min": 1,
            "max": 20,
            "warmup_seconds": 50,
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
