"""Auto Scaling adapter: read a group's size and instances, set its desired capacity."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from surgeguard.adapters.clients import client, error_code
from surgeguard.adapters.errors import AwsCallError, GroupNotFoundError
from surgeguard.domain.model import AsgSize, GroupSnapshot

_PENDING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "Warmed:Pending")


class AutoScalingFleet:
    def __init__(self, autoscaling: Any = None) -> None:
        self._client = autoscaling

    @property
    def _api(self) -> Any:
        if self._client is None:
            self._client = client("autoscaling")
        return self._client

    def describe(self, name: str) -> GroupSnapshot:
        try:
            groups = self._api.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError("DescribeAutoScalingGroups", *error_code(error)) from error
        if not groups or groups[0].get("Status") == "Delete in progress":
            raise GroupNotFoundError(f"Auto Scaling group {name!r} not found")
        group = groups[0]
        states = [i.get("LifecycleState", "") for i in group.get("Instances", [])]
        return GroupSnapshot(
            name=name,
            size=AsgSize(group["MinSize"], group["DesiredCapacity"], group["MaxSize"]),
            in_service=sum(1 for s in states if s == "InService"),
            pending=sum(1 for s in states if s in _PENDING_STATES),
        )

    def set_desired_capacity(self, name: str, desired: int) -> None:
        # HonorCooldown=False: our own windows are the cooldown; the group's default cooldown is
        # for simple scaling policies and would silently swallow a scale-out mid-surge.
        try:
            self._api.set_desired_capacity(
                AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False
            )
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError("SetDesiredCapacity", *error_code(error)) from error
