"""A group that weighs its instance types (a mixed-instances policy with WeightedCapacity): its
DesiredCapacity is in capacity units, and so is what Surgeguard counts as serving."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.config import Direction, parse_config
from surgeguard.domain.decision import DecisionInput, decide
from surgeguard.domain.model import Reading, ScalerMemory

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
GROUP = parse_config(
    {"groups": [{"name": "web", "min": 1, "max": 40, "signals": [{"kind": "cpu", "target": 50}]}]}
).groups[0]


class FourInstancesOfWeightTwo:
    """DescribeAutoScalingGroups' answer for 4 m5.xlarge of WeightedCapacity "2": desired 8 units."""

    def describe_auto_scaling_groups(self, **_: Any) -> dict[str, Any]:
        instance = {"LifecycleState": "InService", "InstanceType": "m5.xlarge", "WeightedCapacity": "2"}
        overrides = [{"InstanceType": "m5.xlarge", "WeightedCapacity": "2"}]
        return {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": "web",
                    "MinSize": 1,
                    "MaxSize": 40,
                    "DesiredCapacity": 8,
                    "DesiredCapacityType": "units",
                    "MixedInstancesPolicy": {"LaunchTemplate": {"Overrides": overrides}},
                    "Instances": [dict(instance, InstanceId=f"i-{n:017x}") for n in range(4)],
                }
            ]
        }


@pytest.mark.parametrize(
    ("cpu", "direction", "desired"),
    [
        (50.0, Direction.IN, 8),  # at the target: nothing to remove (it once scaled in 8 -> 6)
        (90.0, Direction.OUT, 15),  # 8 units x 90 / 50 (it once held at 8)
    ],
)
def test_serving_capacity_is_counted_in_the_groups_units(
    cpu: float, direction: Direction, desired: int
) -> None:
    snapshot = AutoScalingFleet(api=FourInstancesOfWeightTwo()).describe("web")
    assert (snapshot.in_service, snapshot.size.desired) == (8, 8)
    decision = decide(
        DecisionInput(
            group=snapshot,
            memory=ScalerMemory(),
            readings=[Reading("cpu", "cpu", cpu, 50.0)],
            policy=GROUP,
            now=NOW,
            trigger_direction=direction,
        )
    )
    assert decision.desired == desired, decision.reason


class FortyInstancesOfSixteenGiB:
    """DescribeAutoScalingGroups' answer for a memory-mib group of 40 instances of 16 GiB: 655,360 units."""

    def describe_auto_scaling_groups(self, **_: Any) -> dict[str, Any]:
        instance = {"LifecycleState": "InService", "InstanceType": "r6i.large", "WeightedCapacity": "16384"}
        return {
            "AutoScalingGroups": [
                {
                    "AutoScalingGroupName": "cache",
                    "MinSize": 16_384,
                    "MaxSize": 1_310_720,
                    "DesiredCapacity": 655_360,
                    "DesiredCapacityType": "memory-mib",
                    "Instances": [dict(instance, InstanceId=f"i-{n:017x}") for n in range(40)],
                }
            ]
        }


def test_a_memory_weighted_group_scales_in_mib_past_ten_thousand_units() -> None:
    # Its max (80 instances of 16 GiB) was refused at load: `max` stopped at 10,000 units until 2026-12-06
    policy = parse_config(
        {
            "groups": [
                {"name": "cache", "min": 16_384, "max": 1_310_720, "signals": [{"kind": "cpu", "target": 50}]}
            ]
        }
    ).groups[0]
    snapshot = AutoScalingFleet(api=FortyInstancesOfSixteenGiB()).describe("cache")
    decision = decide(
        DecisionInput(
            group=snapshot,
            memory=ScalerMemory(),
            readings=[Reading("cpu", "cpu", 90.0, 50.0)],
            policy=policy,
            now=NOW,
            trigger_direction=Direction.OUT,
        )
    )
    assert decision.desired == 1_179_648, decision.reason  # 655,360 units x 90 / 50
