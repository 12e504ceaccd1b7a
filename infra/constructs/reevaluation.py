"""The safety net for a lasting breach: one EventBridge Scheduler schedule for the whole stack that
invokes the reactive (alarm) Lambda every minute to re-read this stack's alarms. Alarms notify on state
change only, so an alarm that stays in ALARM never notifies again; without a re-arm (SetAlarmState is
documented as a testing aid, and a failed one would silence the breach) this is how it is still heard.

Input JSON (the handler's contract): `{"action": "reevaluate", "scheduled_time", "execution_id"}`, the
last two filled in by Scheduler. A stack of more than 50 groups runs one schedule per shard of groups
(`ScalerConfig.reevaluation_shards`), each input adding `"shard": k`: one invocation decides its groups
one after another, and 300 groups in ALARM at once would not fit in one.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.constructs.scaling_grants import IAM5
from infra.constructs.scheduler_plumbing import SchedulerPlumbing

EVERY_MINUTE = scheduler.ScheduleExpression.rate(Duration.minutes(1))  # renders `rate(1 minute)`
ALARM_ACTIONS = ("cloudwatch:DescribeAlarms",)
# Delivery retries (scheduler_plumbing) kept inside a minute: a re-evaluation that late is superseded
# by the next one, so it is dead-lettered (for the record) rather than delivered late.
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.seconds(60)  # Scheduler's minimum


def reevaluate_input(shard: int | None = None) -> dict[str, str | int]:
    payload: dict[str, str | int] = {
        "action": "reevaluate",
        "scheduled_time": scheduler.ContextAttribute.scheduled_time,
        "execution_id": scheduler.ContextAttribute.execution_id,
    }
    if shard is not None:
        payload["shard"] = shard
    return payload


class Reevaluation(Construct):
    """A `rate(1 minute)` schedule in a schedule group of its own (so the sale Lambda, which may delete
    its own group's schedules, cannot delete this one), and DescribeAlarms for the reactive Lambda."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        function: lambda_.IFunction,
        role: iam.IRole,
        shards: int = 1,
    ) -> None:
        super().__init__(scope, construct_id)
        self.plumbing = SchedulerPlumbing(
            self,
            function=function,
            invokes="the per-minute re-evaluation invokes the reactive Lambda",
            holds="per-minute re-evaluations Scheduler could not deliver to the Lambda",
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
        self.group = self.plumbing.group
        # Shard 0 keeps the one-schedule stack's logical id, so growing past 50 groups adds schedules
        # without replacing the first.
        self.schedules = [
            self.plumbing.schedule(
                self,
                "EveryMinute" if shard == 0 else f"EveryMinuteShard{shard}",
                description="Surgeguard: re-evaluate this stack's alarms every minute (a lasting breach "
                "is heard again)" + (f"; shard {shard} of {shards}" if shards > 1 else ""),
                expression=EVERY_MINUTE,
                payload=reevaluate_input(shard if shards > 1 else None),
            )
            for shard in range(shards)
        ]
        self.schedule = self.schedules[0]

        # "*", not this stack's alarm ARNs: DescribeAlarms returns composite alarms (a group's
        # `composite` rules) only to a permission scoped to "*" (API reference), and the handler asks
        # for metric and composite alarms by name prefix, not by name.
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="ReadAlarmStates", actions=list(ALARM_ACTIONS), resources=["*"])
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"{IAM5}[Resource::*]",
                reason=(
                    "cloudwatch:DescribeAlarms (read-only) returns composite alarms only when the "
                    "permission is scoped to '*' (DescribeAlarms API reference); the per-minute "
                    "re-evaluation reads this stack's metric and composite alarms."
                ),
            )
        )
