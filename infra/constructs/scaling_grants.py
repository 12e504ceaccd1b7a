"""IAM shared by every Lambda that scales: change only groups carrying the managed tag, read on `*`.

Scoped by tag, not by listing group ARNs: one ARN per group passes IAM's policy size limits near 57
groups (managed policy 6,144 characters, a role's inline policies 10,240 together, whitespace not
counted: IAM and AWS STS quotas, https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html),
and a tag condition keeps every policy the same size for 3 groups or 300. SetDesiredCapacity and
UpdateAutoScalingGroup both take the `autoScalingGroup` resource type with the
`autoscaling:ResourceTag/${TagKey}` condition key (Service Authorization Reference, Amazon EC2 Auto
Scaling; the user guide's "Tags for security" uses it the same way). The Lambdas still act only on
the groups the config names: the tag is the IAM fence around them, the config the list inside it.

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
from surgeguard.config import ManagedTag

IAM5 = "AwsSolutions-IAM5"
# DescribeScalingActivities names the cause of a capacity change Surgeguard did not make (other writers).
READ_ONLY_ACTIONS = (
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeScalingActivities",
    "cloudwatch:GetMetricData",
)
RESIZE_ACTIONS = ("autoscaling:UpdateAutoScalingGroup",)


def tag_condition(tag: ManagedTag) -> dict[str, dict[str, str]]:
    return {"StringEquals": {f"autoscaling:ResourceTag/{tag.key}": tag.value}}


def _tagged_groups_acknowledgment(scope: IConstruct, arn: str, tag: ManagedTag) -> Acknowledgment:
    return Acknowledgment(
        id=resource_finding(scope, IAM5, arn),
        reason=(
            f"Any Auto Scaling group of this account and region, but only under the condition "
            f"autoscaling:ResourceTag/{tag.key} = {tag.value}: the tag the platform team puts on the "
            "groups Surgeguard manages (an ARN per group outgrows IAM's policy size limits)."
        ),
    )


def grant_group_actions(
    scope: IConstruct, role: iam.IRole, *, sid: str, actions: Sequence[str], tag: ManagedTag
) -> list[Acknowledgment]:
    """`actions` on the groups that carry the managed tag."""
    arn = group_arn(scope, "*")
    role.add_to_principal_policy(
        iam.PolicyStatement(sid=sid, actions=list(actions), resources=[arn], conditions=tag_condition(tag))
    )
    return [_tagged_groups_acknowledgment(scope, arn, tag)]


def grant_bounded_resize(
    scope: IConstruct, role: iam.IRole, *, sid: str, tag: ManagedTag, max_size: int
) -> list[Acknowledgment]:
    """UpdateAutoScalingGroup on tagged groups, never setting MinSize and MaxSize at most `max_size`
    (the largest bound any event needs; each group's own bound is the config's, which the Lambda
    applies). Conditions, keys from the request (Service Authorization Reference):
    - autoscaling:MaxSize <= max_size, and present (no IfExists): every call must set MaxSize;
    - autoscaling:MinSize absent (Null): the Lambda never sets MinSize;
    - DesiredCapacity has no condition key for this action, but Auto Scaling rejects a desired
      capacity above the MaxSize it sets, so the MaxSize bound bounds it too.
    """
    arn = group_arn(scope, "*")
    role.add_to_principal_policy(
        iam.PolicyStatement(
            sid=sid,
            actions=list(RESIZE_ACTIONS),
            resources=[arn],
            conditions={
                **tag_condition(tag),
                "NumericLessThanEquals": {"autoscaling:MaxSize": str(max_size)},
                "Null": {"autoscaling:MinSize": "true"},
            },
        )
    )
    return [_tagged_groups_acknowledgment(scope, arn, tag)]


def grant_read_groups_and_metrics(role: iam.IRole) -> list[Acknowledgment]:
    role.add_to_principal_policy(
        iam.PolicyStatement(sid="ReadGroupsAndMetrics", actions=list(READ_ONLY_ACTIONS), resources=["*"])
    )
    return [
        Acknowledgment(
            id=f"{IAM5}[Resource::*]",
            reason=(
                "autoscaling:DescribeAutoScalingGroups, autoscaling:DescribeScalingActivities and "
                "cloudwatch:GetMetricData do not support resource-level permissions; all are read-only."
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
