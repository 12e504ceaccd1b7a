"""What every EventBridge Scheduler -> Lambda path here shares: a schedule group of our own, a role
that trusts only that group's schedules, a dead-letter queue, and the target with its retry policy.

Used by the sale schedules (one-time `at()` phases), the forecaster and the per-minute re-evaluation
(recurring `rate()`s), so all dead-letter into the same kind of queue.

Scheduler invokes a Lambda target asynchronously: its retry policy covers only the delivery (the
Invoke call failing: throttled, Lambda unavailable, no permission). Once Lambda has accepted the event,
a failing function gets Lambda's own two async retries (about 1, then 2 minutes apart) and then its
on-failure destination (ScalerFunction), within minutes; Scheduler does not retry it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from infra.constructs.dead_letter_queue import DeadLetterQueue
from infra.constructs.nag import resource_finding
from infra.constructs.scaling_grants import IAM5

# Delivery to Lambda (see above): three more tries within an hour, then the schedules' dead-letter
# queue. A pre-warm an hour late is still worth doing (the event's floor holds until the release).
RETRY_ATTEMPTS = 3
MAX_EVENT_AGE = Duration.hours(1)


class SchedulerPlumbing:
    """Created in the caller's scope with fixed ids (Group, SchedulerRole, FailedSchedules)."""

    def __init__(
        self,
        scope: Construct,
        *,
        function: lambda_.IFunction,
        invokes: str,
        holds: str,
        retry_attempts: int = RETRY_ATTEMPTS,
        max_event_age: Duration = MAX_EVENT_AGE,
    ) -> None:
        self.function = function
        self.retry_attempts = retry_attempts
        self.max_event_age = max_event_age
        # A group of our own (name generated): the scheduler role trusts only this group's schedules,
        # and deleting the stack deletes every schedule with it.
        self.group = scheduler.ScheduleGroup(scope, "Group", removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(
            scope,
            "SchedulerRole",
            description=f"Surgeguard: {invokes}",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": Stack.of(scope).account},
                    "ArnLike": {"aws:SourceArn": self.group.schedule_group_arn},
                },
            ),
        )
        self.dead_letter_queue = DeadLetterQueue(scope, "FailedSchedules", holds=holds)
        self._acknowledged = False

    def schedule(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        expression: scheduler.ScheduleExpression,
        payload: Mapping[str, Any],
    ) -> scheduler.Schedule:
        """A schedule in our group that invokes the function with `payload` as its Input JSON."""
        schedule = scheduler.Schedule(
            scope,
            construct_id,
            description=description,
            schedule_group=self.group,
            schedule=expression,
            time_window=scheduler.TimeWindow.off(),
            target=targets.LambdaInvoke(
                self.function,
                input=scheduler.ScheduleTargetInput.from_object(dict(payload)),
                role=self.role,
                retry_attempts=self.retry_attempts,
                max_event_age=self.max_event_age,
                dead_letter_queue=self.dead_letter_queue.queue,
            ),
        )
        # The L2 writes the group's (generated) name as a literal, which orders nothing.
        schedule.node.add_dependency(self.group)
        # The target's grants (lambda:InvokeFunction, sqs:SendMessage on the dead-letter queue) go into
        # the role's default policy, a resource of its own that the schedule never references: without
        # this, CloudFormation creates both at once, and a schedule due at once (the per-minute
        # re-evaluation) fires before its role may invoke, into the dead-letter queue. Depending on the
        # role depends on everything under it, the default policy (and any overflow policy) included;
        # in a nested stack, CDK lifts it onto the nested stack's resource.
        schedule.node.add_dependency(self.role)
        self._acknowledge_invoke_wildcard()
        return schedule

    def _acknowledge_invoke_wildcard(self) -> None:
        # LambdaInvoke grants invoke on the function and on `<function arn>:*` (its versions and
        # aliases); only once some schedule exists.
        if self._acknowledged:
            return
        self._acknowledged = True
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id=resource_finding(self.role, IAM5, f"{self.function.function_arn}:*"),
                reason=(
                    "Added by the Scheduler LambdaInvoke target (grant_invoke): the wildcard covers "
                    "only versions and aliases of this one scheduled function."
                ),
            )
        )
