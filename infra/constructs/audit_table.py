"""The audit table: scaling decisions, per-group state and trigger claims (keys from surgeguard.keys)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from surgeguard.keys import PARTITION_KEY, SORT_KEY, TTL_ATTRIBUTE


class AuditTable(Construct):
    """On-demand, point-in-time recoverable, encrypted; retained when the stack goes away."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            time_to_live_attribute=TTL_ATTRIBUTE,
            # The audit trail outlives the stack: deleting Surgeguard must not delete its history.
            removal_policy=RemovalPolicy.RETAIN,
        )
