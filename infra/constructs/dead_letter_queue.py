"""An encrypted, TLS-only SQS queue that keeps what could not be delivered or processed."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
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
