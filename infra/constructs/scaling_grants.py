"""IAM shared by every Lambda that scales: change only the configured groups (by ARN), read on `*`.

Each helper adds its statement and returns the cdk-nag acknowledgments it makes necessary, so the
caller acknowledges them on the role they concern.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment
from aws_cdk import aws_iam as iam
from constructs import IConstruct

from infra.constructs.arns import group_arn
from infra.constructs.nag import resource_finding

IAM5 = "AwsSolutions-IAM5"
READ_ONLY_ACTIONS = ("autoscaling:DescribeAutoScalingGroups", "cloudwatch:GetMetricData")


def grant_group_actions(
    scope: IConstruct, role: iam.IRole, *, sid: str, actions: Sequence[str], group_names: Sequence[str]
) -> list[Acknowledgment]:
    """`actions` on exactly these Auto Scaling groups (by name; the UUID segment is `*`)."""
    arns = [group_arn(scope, name) for name in group_names]
    role.add_to_principal_policy(iam.PolicyStatement(sid=sid, actions=list(actions), resources=arns))
    return [
        Acknowledgment(
            id=resource_finding(scope, IAM5, arn),
            reason=(
                f"Auto Scaling group '{name}' by exact name; the wildcard stands only "
                "for the group's UUID, which an existing group's name does not give us."
            ),
        )
        for name, arn in zip(group_names, arns, strict=True)
    ]


def grant_read_groups_and_metrics(role: iam.IRole) -> list[Acknowledgment]:
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="ReadGroupsAndMetrics", actions=list(READ_ONLY_ACTIONS), resources=["*"])
    )
    return [
        Acknowledgment(
            id=f"{IAM5}[Resource::*]",
            reason=(
                "autoscaling:DescribeAutoScalingGroups and cloudwatch:GetMetricData do not "
                "support resource-level permissions; both are read-only."
            ),
        )
    ]


def publish_to_encrypted_topic() -> Acknowledgment:
    """What `grant_publish` on a KMS-encrypted topic leaves for cdk-nag."""
    return Acknowledgment(
        id=f"{IAM5}[Action::kms:GenerateDataKey*]",
        reason=(
            "Added by notifications topic grant_publish: publishing to a KMS-encrypted "
            "topic needs GenerateDataKey* on the topics' key, and only that key."
        ),
    )
