"""ARNs of things the stack points at but does not own: existing groups and the stack's alarms."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from constructs import IConstruct


def group_arn(scope: IConstruct, group_name: str) -> str:
    """An existing Auto Scaling group by name; its UUID segment is unknown, hence `*` there only."""
    return Stack.of(scope).format_arn(
        service="autoscaling",
        resource="autoScalingGroup",
        resource_name=f"*:autoScalingGroupName/{group_name}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


def alarm_arn(scope: IConstruct, alarm_name: str) -> str:
    """A CloudWatch alarm by name; `f"{prefix}/*"` matches every alarm of one Surgeguard stack."""
    return Stack.of(scope).format_arn(
        service="cloudwatch",
        resource="alarm",
        resource_name=alarm_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )
