"""A small AWS account under moto holding one managed group, set up right or wrong in named ways.

moto gaps filled here, each with the seam the CLI's adapter offers (a client per service):
- Service Quotas: moto 5.2.5 answers only for `vpc` (NoSuchResourceException for ec2), so the quota
  comes from `FakeQuotas`, shaped like GetServiceQuota's answer.
- SNS: moto confirms every email subscription at once. AWS lists an unconfirmed one with
  SubscriptionArn "PendingConfirmation" (ListSubscriptionsByTopic, as in AWS's SNS API reference and
  the Subscribe docs: "the string 'pending confirmation' if the subscription requires confirmation");
  `PendingSns` answers that for the addresses it is told are unconfirmed.
- EC2: moto launches the group's instances with monitoring "disabled" even when the launch template
  enables it, and has no MonitorInstances. AWS applies the template's Monitoring.Enabled at launch
  (DescribeInstances then says Monitoring.State "enabled"), so `LaunchedMonitoring` answers that.
- Auto Scaling: moto attaches only target groups its ELBv2 created, each with a random ID, while the
  config names its target group by the CloudWatch dimension (`targetgroup/shop-web/1`).
  `AttachedTargetGroups` answers DescribeAutoScalingGroups with that group attached, as AWS does after
  AttachTrafficSources.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.exceptions import ClientError

from surgeguard.adapters.audit_store import create_local_table
from surgeguard.config import ScalerConfig, parse_config
from surgeguard.domain.sales import plan_event
from surgeguard_cli.aws import Aws, StackInfo

GROUP = "shop-web"
EVENT = "doorbuster"
STACK = "Surgeguard"
EMAIL = "oncall@example.com"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
VCPUS_PER_INSTANCE = 2  # c7g.large
RUNNING = 4
PEAK = 15  # 15,000 requests/min at 1,000 per instance
RIGHT_QUOTA = 64.0  # 8 running + 11 x 2 to add = 30 vCPUs


def sale_item(event: str, original_max: int, *, restored: bool = False, days_ago: int = 1) -> dict[str, Any]:
    """A sale's event item as its pre-warm saves it (MaxSize `original_max` before the raise), for the
    group; restored: its restore marked it."""
    item = {
        "pk": {"S": f"GROUP#{GROUP}"},
        "sk": {"S": f"EVENT#{event}"},
        "event": {"S": event},
        "target": {"N": "24"},
        "why": {"S": "absolute peak"},
        "set_at": {"S": (NOW - timedelta(days=days_ago)).isoformat()},
        "original_max": {"N": str(original_max)},
    }
    if restored:
        item["restored_at"] = {"S": (NOW - timedelta(days=days_ago - 1)).isoformat()}
    return item


def config_data(**group: Any) -> dict[str, Any]:
    return {
        "notify_emails": [EMAIL],
        "groups": [
            {
                "name": GROUP,
                "min": 2,
                "max": 20,
                "signals": [
                    {"kind": "cpu", "target": 50},
                    {
                        "kind": "requests_per_target",
                        "target": 1000,
                        "load_balancer": "app/shop-alb/1",
                        "target_group": "targetgroup/shop-web/1",
                    },
                ],
                "events": [
                    {
                        "name": EVENT,
                        "start": "2026-12-04T00:00:00",
                        "end": "2026-12-04T02:00:00",
                        "timezone": "America/New_York",
                        "peak_requests_per_minute": 15000,
                    }
                ],
                **group,
            }
        ],
    }


def config() -> ScalerConfig:
    return parse_config(config_data())


class FakeQuotas:
    """service-quotas, as AWS answers GetServiceQuota for L-1216C47A (moto has only `vpc`)."""

    def __init__(self, value: float) -> None:
        self.value = value

    def get_service_quota(self, ServiceCode: str, QuotaCode: str) -> dict[str, Any]:  # noqa: N803
        assert (ServiceCode, QuotaCode) == ("ec2", "L-1216C47A")
        return {"Quota": {"ServiceCode": "ec2", "QuotaCode": QuotaCode, "Value": self.value, "Unit": "None"}}


class PendingSns:
    """moto's SNS, except that `pending` addresses are listed as AWS lists an unconfirmed subscription."""

    def __init__(self, real: Any, pending: Iterable[str]) -> None:
        self._real = real
        self._pending = set(pending)

    def list_subscriptions_by_topic(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.list_subscriptions_by_topic(**kwargs)
        for subscription in answer["Subscriptions"]:
            if subscription["Endpoint"] in self._pending:
                subscription["SubscriptionArn"] = "PendingConfirmation"
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class LaunchedMonitoring:
    """moto's EC2, except that instances show the monitoring their launch template asked for."""

    def __init__(self, real: Any, enabled: bool) -> None:
        self._real = real
        self._state = "enabled" if enabled else "disabled"

    def describe_instances(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.describe_instances(**kwargs)
        for reservation in answer["Reservations"]:
            for instance in reservation["Instances"]:
                instance["Monitoring"] = {"State": self._state}
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


TARGET_GROUP_ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/1"


class AttachedTargetGroups:
    """moto's Auto Scaling, except that the groups serve the given target groups."""

    def __init__(self, real: Any, arns: list[str]) -> None:
        self._real = real
        self._arns = arns

    def describe_auto_scaling_groups(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.describe_auto_scaling_groups(**kwargs)
        for group in answer["AutoScalingGroups"]:
            group["TargetGroupARNs"] = list(self._arns)
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class WeightedInstances:
    """moto's Auto Scaling, except that each group weighs its c7g.large `weight` capacity units through a
    mixed-instances policy, as AWS answers DescribeAutoScalingGroups for such a group: each instance's
    WeightedCapacity, the override's, and DesiredCapacity in units (moto keeps no weights)."""

    def __init__(self, real: Any, weight: int) -> None:
        self._real = real
        self._weight = weight

    def describe_auto_scaling_groups(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.describe_auto_scaling_groups(**kwargs)
        for group in answer["AutoScalingGroups"]:
            group["DesiredCapacity"] = self._weight * len(group["Instances"])
            group["MixedInstancesPolicy"] = {
                "LaunchTemplate": {
                    "LaunchTemplateSpecification": group.pop("LaunchTemplate"),
                    "Overrides": [{"InstanceType": "c7g.large", "WeightedCapacity": str(self._weight)}],
                }
            }
            for instance in group["Instances"]:
                instance["WeightedCapacity"] = str(self._weight)
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class UnansweredQueries:
    """moto's CloudWatch, except that GetMetricData answers the call but not its queries: each result's
    StatusCode Forbidden with a message and no datapoints, as AWS answers a query it could not run."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.get_metric_data(**kwargs)
        for result in answer["MetricDataResults"]:
            result.update(
                StatusCode="Forbidden",
                Timestamps=[],
                Values=[],
                Messages=[{"Code": "Forbidden", "Value": "not authorized"}],
            )
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


class NotYetDescribed:
    """EC2 (`real`), except that one instance Auto Scaling lists is not known to DescribeInstances
    yet: AWS answers InvalidInstanceID.NotFound for the whole call naming it (EC2's eventual
    consistency, documented for an instance just launched: a pre-warm's or a scale-out's)."""

    def __init__(self, real: Any, unknown: str) -> None:
        self._real = real
        self._unknown = unknown

    def describe_instances(self, **kwargs: Any) -> dict[str, Any]:
        if self._unknown in kwargs.get("InstanceIds", []):
            raise ClientError(
                {
                    "Error": {
                        "Code": "InvalidInstanceID.NotFound",
                        "Message": f"The instance ID '{self._unknown}' does not exist",
                    }
                },
                "DescribeInstances",
            )
        return dict(self._real.describe_instances(**kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@dataclass
class World:
    """What `build` made: the adapter to hand the CLI, and the stack it should see."""

    aws: Aws
    stack: StackInfo
    config: ScalerConfig
    clients: dict[str, Any] = field(default_factory=dict)


def build(
    *,
    quota: float = RIGHT_QUOTA,
    max_size: int = 20,
    detailed_monitoring: bool = True,
    stray_policy: bool = False,
    missing_phase: str | None = None,
    unconfirmed: bool = False,
    stray_target_group: bool = False,
) -> World:
    """The account inside an active `mock_aws()`; each keyword sets up one thing wrong."""
    cfg = config()
    ec2 = boto3.client("ec2")
    autoscaling = boto3.client("autoscaling")
    # Our own image: moto's default AMIs are not loaded in a process where another test switched them off.
    image = ec2.register_image(Name="shop-web", RootDeviceName="/dev/xvda")["ImageId"]
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    ec2.create_launch_template(
        LaunchTemplateName="shop-web-lt",
        LaunchTemplateData={
            "ImageId": image,
            "InstanceType": "c7g.large",
            "Monitoring": {"Enabled": detailed_monitoring},
        },
    )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP,
        MinSize=2,
        MaxSize=max_size,
        DesiredCapacity=RUNNING,
        LaunchTemplate={"LaunchTemplateName": "shop-web-lt", "Version": "$Default"},
        VPCZoneIdentifier=subnet,
    )
    if stray_policy:
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=GROUP,
            PolicyName="legacy-cpu-tracking",
            PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": 60.0,
            },
        )

    create_local_table(boto3.client("dynamodb"), "surgeguard-audit")
    sns = boto3.client("sns")
    topic = sns.create_topic(Name="surgeguard-notifications")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=EMAIL)
    queue = boto3.client("sqs").create_queue(QueueName="surgeguard-failures")["QueueUrl"]
    cloudwatch = boto3.client("cloudwatch")
    for spec in cfg.alarms(STACK):
        cloudwatch.put_metric_alarm(
            AlarmName=spec.name,
            Namespace="AWS/EC2",
            MetricName="CPUUtilization",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=50,
            ComparisonOperator="GreaterThanThreshold",
        )
    scheduler = boto3.client("scheduler")
    scheduler.create_schedule_group(Name="surgeguard-sales")
    group_cfg = cfg.groups[0]
    event = group_cfg.events[0]
    for phase, when in plan_event(group_cfg, event).phase_times().items():
        if phase == missing_phase:
            continue
        scheduler.create_schedule(
            Name=f"{EVENT}-{phase}",
            GroupName="surgeguard-sales",
            ScheduleExpression=f"at({when.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={
                "Arn": "arn:aws:lambda:us-east-1:123456789012:function:sales",
                "RoleArn": "arn:aws:iam::123456789012:role/scheduler",
                "Input": (
                    f'{{"group": "{GROUP}", "event": "{EVENT}", "phase": "{phase}", '
                    '"scheduled_time": "<aws.scheduler.scheduled-time>"}'
                ),
            },
        )
    clients = {
        "service-quotas": FakeQuotas(quota),
        "sns": PendingSns(sns, [EMAIL] if unconfirmed else []),
        "ec2": LaunchedMonitoring(ec2, detailed_monitoring),
        "autoscaling": AttachedTargetGroups(
            autoscaling,
            [TARGET_GROUP_ARN.replace("shop-web/1", "shop-web/2")]
            if stray_target_group
            else [TARGET_GROUP_ARN],
        ),
    }
    stack = StackInfo(
        name=STACK,
        table="surgeguard-audit",
        notify_topic_arn=topic,
        schedule_group="surgeguard-sales",
        functions=("Surgeguard-Reactive", "Surgeguard-Sales"),
        queues=(queue,),
    )
    return World(Aws(clients=clients), stack, cfg, clients)
