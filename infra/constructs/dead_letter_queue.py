"""An encrypted, TLS-only SQS queue that keeps what could not be delivered or processed."""

from __future__ import annotations

import jsii
from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

RETENTION = Duration.days(14)  # the SQS maximum: time to notice, inspect and redrive


class DeadLetterQueue(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, holds: str) -> None:
        """`holds` says what lands here; it becomes part of the nag acknowledgment's reason."""
        super().__init__(scope, construct_id)
        self.queue = sqs.Queue(
            self,
            "Queue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=RETENTION,
        )
        Validations.of(self.queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason=(
                    f"This queue is itself a dead-letter queue ({holds}); a dead-letter queue "
                    "for it would only move the same messages one hop further."
                ),
            )
        )


@jsii.implements(lambda_.IDestination)
class SendOnlyQueueDestination:
    """A queue as a function's on-failure destination, with sqs:SendMessage on it for the function's
    role and nothing more: Lambda delivers the invocation record with the execution role's SendMessage.
    CDK's SqsDestination grants GetQueueAttributes and GetQueueUrl too, which nothing calls."""

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        _scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,  # noqa: A002 (jsii's name for it)
    ) -> lambda_.DestinationConfig:
        arn = self.queue.queue_arn
        fn.add_to_role_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[arn]))
        return lambda_.DestinationConfig(destination=arn)
