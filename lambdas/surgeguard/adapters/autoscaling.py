"""Auto Scaling adapter: read a group's size and instances, set its desired capacity and its warm pool."""

from __future__ import annotations

import math
from datetime import datetime

from surgeguard.adapters.clients import AwsAdapter
from surgeguard.adapters.errors import AwsCallError, GroupDeletingError, GroupNotFoundError
from surgeguard.domain.model import AsgSize, GroupSnapshot
from surgeguard.domain.warm_pool import WarmPool
from surgeguard.domain.writers import Activity

_PENDING_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "Warmed:Pending")


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
        groups = self._call("DescribeAutoScalingGroups", AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not groups:
            raise GroupNotFoundError(f"Auto Scaling group {name!r} not found")
        group = groups[0]
        if group.get("Status") == "Delete in progress":
            raise GroupDeletingError(f"Auto Scaling group {name!r} is being deleted: nothing to decide")
        # Counted in the units DesiredCapacity is in: an instance's WeightedCapacity where the group
        # weighs its instance types (a mixed-instances policy), else one each. Counted in instances, a
        # group of 4 instances of weight 2 at desired 8 read as half as big as it is.
        instances = group.get("Instances", [])
        units = [(i.get("LifecycleState", ""), _weight(i)) for i in instances]
        return GroupSnapshot(
            name=name,
            size=AsgSize(group["MinSize"], group["DesiredCapacity"], group["MaxSize"]),
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
        groups = self._call("DescribeAutoScalingGroups", AutoScalingGroupNames=[name])["AutoScalingGroups"]
        if not groups:
            raise GroupNotFoundError(f"Auto Scaling group {name!r} not found")
        return frozenset(m["Metric"] for m in groups[0].get("EnabledMetrics", []) if m.get("Metric"))

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
