"""The audit table: scaling decisions, per-group state and trigger claims (keys from surgeguard.keys)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from constructs import Construct

from surgeguard.keys import GROUP_PREFIX, PARTITION_KEY, SORT_KEY, TRIGGER_PREFIX, TTL_ATTRIBUTE

READ_ACTIONS = ("dynamodb:GetItem", "dynamodb:Query")
# The forecaster reads its items by key only (its forecast, the kill switch, its claims): never a Query.
KEY_READ_ACTIONS = ("dynamodb:GetItem",)
# Audit items, state, sale events and forecasts: all in `GROUP#<group>` partitions.
PUT_ACTIONS = ("dynamodb:PutItem",)
PUT_PARTITIONS = (f"{GROUP_PREFIX}*",)
# Trigger claims are leases: taken and renewed (UpdateItem), released (DeleteItem), in `TRIGGER#<id>`.
CLAIM_ACTIONS = ("dynamodb:UpdateItem", "dynamodb:DeleteItem")
CLAIM_PARTITIONS = (f"{TRIGGER_PREFIX}*",)


def _partitions(patterns: tuple[str, ...]) -> dict[str, dict[str, object]]:
    """Only items whose partition key matches one of `patterns`.

    dynamodb:LeadingKeys (the request's partition key values) is multivalued, hence ForAllValues,
    which is also true when the key is absent from the request: the Null check makes a request that
    carries no partition key fail closed instead of passing.
    """
    return {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(patterns)},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }


def grant_append_only(table: dynamodb.ITable, grantee: iam.IGrantable, *, query: bool = True) -> None:
    """What a Surgeguard Lambda may do to the table: read, add, and handle its own trigger claims.
    `query`: whether it reads with Query too (a group's sale events), or by key only.

    No BatchWriteItem, and DeleteItem/UpdateItem only on trigger claims, so no audit item can be
    deleted or rewritten field by field. IAM cannot require a ConditionExpression on PutItem (no
    condition key carries it), so a PutItem onto an existing audit item's key would still replace it:
    the Lambdas write audit items with `attribute_not_exists` (the code's side), and point-in-time
    recovery plus deletion protection (AuditTable) keep the history recoverable.
    """
    statements = [
        iam.PolicyStatement(
            sid="ReadAuditTable",
            actions=list(READ_ACTIONS if query else KEY_READ_ACTIONS),
            resources=[table.table_arn],
        ),
        iam.PolicyStatement(
            sid="PutGroupItems",
            actions=list(PUT_ACTIONS),
            resources=[table.table_arn],
            conditions=_partitions(PUT_PARTITIONS),
        ),
        iam.PolicyStatement(
            sid="LeaseTriggerClaims",
            actions=list(CLAIM_ACTIONS),
            resources=[table.table_arn],
            conditions=_partitions(CLAIM_PARTITIONS),
        ),
    ]
    for statement in statements:
        grantee.grant_principal.add_to_principal_policy(statement)


class AuditTable(Construct):
    """On-demand, point-in-time recoverable, encrypted, deletion-protected; retained when the stack
    goes away."""

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
            # The audit trail outlives the stack: deleting Surgeguard must not delete its history,
            # and neither may anyone's DeleteTable call (it fails until protection is turned off).
            removal_policy=RemovalPolicy.RETAIN,
            deletion_protection=True,
        )
