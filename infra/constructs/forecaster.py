"""The forecaster: a recurring EventBridge Scheduler schedule per group with a `forecast` section,
invoking one Lambda (`surgeguard.handlers.forecast`) that reads the load metric's history and writes
the forecast floor to the audit table; the reactive path applies the floor. Its one Auto Scaling call,
only when a group opts in (`forecast.size_warm_pool`), is PutWarmPool on the groups carrying the
managed tag (and DescribeWarmPool and DescribeAutoScalingGroups, which have no resource type: Service
Authorization Reference, "Actions, resources, and condition keys for Amazon EC2 Auto Scaling").

Input JSON (the handler's contract): `{"group", "scheduled_time", "execution_id"}`, the last two
filled in by Scheduler. Delivery retries and the dead-letter queue are the sale schedules'
(scheduler_plumbing); a failing run gets Lambda's two async retries, then the on-failure queue.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.scaler_function import ScalerFunction
from infra.constructs.scaling_grants import IAM5, grant_group_actions, publish_to_encrypted_topic
from infra.constructs.scheduler_plumbing import SchedulerPlumbing
from surgeguard.config import ScalerConfig

HANDLER = "surgeguard.handlers.forecast.lambda_handler"
METRIC_ACTIONS = ("cloudwatch:GetMetricData",)
# Only when some group's forecast sizes its warm pool. DescribeAutoScalingGroups: a pool whose prepared
# capacity is unset prepares for the group's MaxSize, which the sizing reads (no resource type either).
WARM_POOL_READ_ACTIONS = ("autoscaling:DescribeWarmPool", "autoscaling:DescribeAutoScalingGroups")
WARM_POOL_WRITE_ACTIONS = ("autoscaling:PutWarmPool",)
# A failed run: Lambda's two async retries (about 1, then 2 minutes later; up to 60 s each), then the
# on-failure queue. Runs are at least 5 minutes apart and the next one supersedes a late one, so 15
# minutes leaves room for both retries without acting on a forecast much older than that.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.minutes(15)


def rate_expression(every_minutes: int) -> str:
    """Always in minutes, as configured (CDK's `rate()` helper would turn 60 minutes into `1 hour`)."""
    return f"rate({every_minutes} minutes)"


def forecast_input(group: str) -> dict[str, str]:
    return {
        "group": group,
        "scheduled_time": scheduler.ContextAttribute.scheduled_time,
        "execution_id": scheduler.ContextAttribute.execution_id,
    }


class Forecaster(Construct):
    """The forecast Lambda (shared defaults), read-only metric access, one recurring schedule per group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: ScalerConfig,
        code: lambda_.Code,
        table: dynamodb.ITable,
        notify_topic: sns.ITopic,
        alarm_prefix: str,
        group_scope: Callable[[str], Construct] | None = None,
    ) -> None:
        """`group_scope` places a group's schedule (a nested stack's scope); default: here."""
        super().__init__(scope, construct_id)
        self.handler = ScalerFunction(
            self,
            "Handler",
            code=code,
            handler=HANDLER,
            description="Surgeguard: forecasts each group's load from its history and writes the floor",
            table=table,
            notify_topic=notify_topic,
            alarm_prefix=alarm_prefix,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            queries_table=False,  # its forecast, the kill switch and its claims, all read by key
        )
        self.function = self.handler.function
        role = self.handler.role
        sizes_pools = any(group.forecast and group.forecast.size_warm_pool for group in config.groups)
        read = list(METRIC_ACTIONS) + (list(WARM_POOL_READ_ACTIONS) if sizes_pools else [])
        role.add_to_principal_policy(iam.PolicyStatement(sid="ReadMetrics", actions=read, resources=["*"]))
        acknowledgments = [
            Acknowledgment(
                id=f"{IAM5}[Resource::*]",
                reason=(
                    f"{' and '.join(read)}: no resource-level permissions, and read-only; the forecaster's "
                    + (
                        "only Auto Scaling write is PutWarmPool on the managed groups."
                        if sizes_pools
                        else "has no Auto Scaling permission at all."
                    )
                ),
            ),
            publish_to_encrypted_topic(),
        ]
        if sizes_pools:
            acknowledgments += grant_group_actions(
                self, role, sid="SizeWarmPools", actions=WARM_POOL_WRITE_ACTIONS, tag=config.managed_tag
            )
        Validations.of(role).acknowledge(*acknowledgments)

        self.plumbing = SchedulerPlumbing(
            self,
            function=self.function,
            invokes="forecast schedules invoke the forecast Lambda",
            holds="forecast runs Scheduler could not deliver to the Lambda",
        )
        self.schedules: dict[str, scheduler.Schedule] = {}
        for group in config.groups:
            if group.forecast is None:
                continue
            self.schedules[group.name] = self.plumbing.schedule(
                group_scope(group.name) if group_scope else self,
                f"Every-{group.name}",
                description=f"Surgeguard forecast: {group.name} every {group.forecast.every_minutes} min",
                expression=scheduler.ScheduleExpression.expression(
                    rate_expression(group.forecast.every_minutes)
                ),
                payload=forecast_input(group.name),
            )
