"""Auto Scaling adapter: read a group's size and instances, set its desired capacity and its warm pool."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from surgeguard.adapters.clients import AwsAdapter
from surgeguard.adapters.errors import AwsCallError, GroupDeletingError, GroupNotFoundError
from surgeguard.domain.model import AsgSize, GroupSnapshot
from surgeguard.domain.warm_pool import WarmPool
from surgeguard.domain.writers import Activity

_PENDING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "Warmed:Pending")
# DesiredCapacityType: the unit DesiredCapacity is in (API_AutoScalingGroup); instances' WeightedCapacity
# is in the same unit, so each is counted as given.
_CAPACITY_TYPES = frozenset({"units", "vcpu", "memory-mib"})


def _odd_answer(name: str, what: str) -> AwsCallError:
    """An answer that lacks, or misshapes, something a decision reads: failed by name (a KeyError once
    said only 'MinSize'), never guessed (an answer without Instances read as nothing in service)."""
    return AwsCallError(
        "DescribeAutoScalingGroups",
        "UnexpectedResponse",
        f"DescribeAutoScalingGroups answer for {name[:255]} {what}: the group cannot be read",
    )


def _whole(group: dict[str, Any], name: str, field: str) -> int:
    if field not in group:
        raise _odd_answer(name, f"lacks {field}")
    value = group[field]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _odd_answer(name, f"has {field} {str(value)[:40]!r}, not a whole number")
    return value


def _instances(group: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The group's instances, each with its lifecycle state: counted without one, it served nothing."""
    instances = group.get("Instances")
    if not isinstance(instances, list):
        raise _odd_answer(name, "lacks Instances" if instances is None else "has Instances that is no list")
    for instance in instances:
        if not isinstance(instance, dict) or not isinstance(instance.get("LifecycleState"), str):
            described = instance.get("InstanceId") if isinstance(instance, dict) else instance
            raise _odd_answer(name, f"has instance {str(described)[:64]} without a LifecycleState")
    return instances


# The most units one instance can count: DesiredCapacity is an API Integer, and a weight past it is no
# count. Not 999, the most a mixed-instances override may set: a group whose DesiredCapacityType is
# memory-mib counts each instance as its memory in MiB (16384 for 16 GiB), and vcpu as its vCPUs.
MAX_INSTANCE_UNITS = 2**31 - 1


def _weight(instance: dict[str, object]) -> int:
    """An instance's capacity units (DescribeAutoScalingGroups' WeightedCapacity, a whole number given as
    a string); 1 where the group does not weigh its instances. Anything else is no count to decide on:
    counted as 1, "2.0" once made 4 instances of weight 2 at desired 8 read as 7 and scale in."""
    raw = instance.get("WeightedCapacity")
    if raw is None:
        return 1
    try:
        weight = float(str(raw))
    except ValueError:
        weight = math.nan
    if not (weight.is_integer() and 1 <= weight <= MAX_INSTANCE_UNITS):
        raise AwsCallError(
            "DescribeAutoScalingGroups",
            "UnexpectedResponse",
            f"instance {str(instance.get('InstanceId'))[:64]} has WeightedCapacity {str(raw)[:40]!r}, not a "
            f"whole number of 1-{MAX_INSTANCE_UNITS}: the group's capacity cannot be counted",
        )
    return int(weight)


class AutoScalingFleet(AwsAdapter):
    service = "autoscaling"

    def describe(self, name: str) -> GroupSnapshot:
        group = self._group(name)
        if group.get("Status") == "Delete in progress":
            raise GroupDeletingError(f"Auto Scaling group {name!r} is being deleted: nothing to decide")
        capacity_type = group.get("DesiredCapacityType", "units")
        if capacity_type not in _CAPACITY_TYPES:
            raise _odd_answer(
                name,
                f"has DesiredCapacityType {str(capacity_type)[:40]!r}, not one of units, vcpu, memory-mib",
            )
        size = AsgSize(
            _whole(group, name, "MinSize"),
            _whole(group, name, "DesiredCapacity"),
            _whole(group, name, "MaxSize"),
        )
        # Counted in the units DesiredCapacity is in: an instance's WeightedCapacity where the group
        # weighs its instance types (a mixed-instances policy), else one each. Counted in instances, a
        # group of 4 instances of weight 2 at desired 8 read as half as big as it is.
        instances = _instances(group, name)
        units = [(i["LifecycleState"], _weight(i)) for i in instances]
        return GroupSnapshot(
            name=name,
            size=size,
            in_service=sum(w for state, w in units if state == "InService"),
            pending=sum(w for state, w in units if state in _PENDING_STATES),
            suspended=frozenset(
                str(p["ProcessName"]) for p in group.get("SuspendedProcesses", []) if p.get("ProcessName")
            ),
            protected=sum(
                _weight(i)
                for i in instances
                if i.get("LifecycleState") == "InService" and i.get("ProtectedFromScaleIn") is True
            ),
        )

    def enabled_metrics(self, name: str) -> frozenset[str]:
        """The group metrics Auto Scaling publishes for the group (EnableMetricsCollection)."""
        return frozenset(m["Metric"] for m in self._group(name).get("EnabledMetrics", []) if m.get("Metric"))

    def _group(self, name: str) -> dict[str, Any]:
        groups = self._call("DescribeAutoScalingGroups", AutoScalingGroupNames=[name]).get(
            "AutoScalingGroups"
        )
        if not isinstance(groups, list):
            raise _odd_answer(name, "lacks AutoScalingGroups")
        if not groups:
            raise GroupNotFoundError(f"Auto Scaling group {name!r} not found")
        group: dict[str, Any] = groups[0]
        return group

    def set_desired_capacity(self, name: str, desired: int) -> None:
        # HonorCooldown=False: our own windows are the cooldown; the group's default cooldown is
        # for simple scaling policies and would silently swallow a scale-out mid-surge.
        self._call(
            "SetDesiredCapacity", AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False
        )

    def set_max_size(self, name: str, max_size: int, desired: int | None = None) -> None:
        """Raise (a sale's temporary max) or restore the group's MaxSize; desired moves with it if given."""
        extra = {} if desired is None else {"DesiredCapacity": desired}
        self._call("UpdateAutoScalingGroup", AutoScalingGroupName=name, MaxSize=max_size, **extra)

    def warm_pool(self, name: str) -> WarmPool | None:
        """The group's warm pool configuration (DescribeWarmPool), or None if it has none."""
        # One page is enough: the configuration is in every page; the instances are not needed.
        found = self._call("DescribeWarmPool", AutoScalingGroupName=name, MaxRecords=1)
        config = found.get("WarmPoolConfiguration")
        if not config or config.get("Status") == "PendingDelete":
            return None
        prepared = config.get("MaxGroupPreparedCapacity")
        return WarmPool(
            # -1 (or absent) is the API's "unset": the group's MaxSize (API_PutWarmPool).
            max_group_prepared_capacity=None if prepared is None or prepared < 0 else int(prepared),
            min_size=int(config.get("MinSize", 0)),
            pool_state=str(config.get("PoolState", "Stopped")),
            reuse_on_scale_in=bool(config.get("InstanceReusePolicy", {}).get("ReuseOnScaleIn", False)),
        )

    def put_warm_pool(self, name: str, pool: WarmPool) -> None:
        """PutWarmPool with every parameter given, so an update keeps what it does not mean to change."""
        self._call(
            "PutWarmPool",
            AutoScalingGroupName=name,
            MaxGroupPreparedCapacity=-1
            if pool.max_group_prepared_capacity is None
            else pool.max_group_prepared_capacity,
            MinSize=pool.min_size,
            PoolState=pool.pool_state,
            InstanceReusePolicy={"ReuseOnScaleIn": pool.reuse_on_scale_in},
        )

    def scaling_activities(self, name: str, since: datetime, max_records: int = 20) -> list[Activity]:
        """The group's scaling activities started since `since`, newest first (one page: the newest
        `max_records`; a change worth naming is recent)."""
        page = self._call("DescribeScalingActivities", AutoScalingGroupName=name, MaxRecords=max_records)
        return [
            Activity(activity["StartTime"], str(activity.get("Cause", "")))
            for activity in page.get("Activities", [])
            if activity.get("StartTime") is not None and activity["StartTime"] >= since
        ]

    def launch_durations(self, name: str, max_activities: int = 100) -> list[float]:
        """Seconds from start to end of the group's recent successful instance launches (newest first)."""
        durations: list[float] = []
        token: str | None = None
        seen = 0
        while seen < max_activities:
            page = self._call(
                "DescribeScalingActivities",
                AutoScalingGroupName=name,
                MaxRecords=min(100, max_activities - seen),
                **({"NextToken": token} if token else {}),
            )
            for activity in page.get("Activities", []):
                seen += 1
                launched = str(activity.get("Description", "")).startswith("Launching a new EC2 instance")
                if launched and activity.get("StatusCode") == "Successful" and activity.get("EndTime"):
                    durations.append((activity["EndTime"] - activity["StartTime"]).total_seconds())
            token = page.get("NextToken")
            if not token:
                break
        return durations
