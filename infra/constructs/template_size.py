"""CloudFormation's template size limit, checked on the templates as the synth wrote them.

A template body read from S3 may be at most 1 MB (CloudFormation quotas, "Template body size in an
Amazon S3 object"); every template of this app reaches CloudFormation that way (the stack's and each
nested stack's are file assets). CDK only warns past it (`@aws-cdk/core:Stack.templateSize`, exit 0),
and the resource budget of a nested stack (shards.py) says nothing of bytes: 300 groups with 255-character
names fit 434 resources in 1.06 MB. Bytes are only known once written, so this is a validation plugin,
run by `app.synth()` after every template is on disk: it measures each file (the stack's and each nested
stack's, which the plugin context does not list), and a template over the limit fails the synth by its
construct path and file, with what to do: for a shard of the nested layout the `-c surgeguard_shards`
count at which every nested stack would fit, from the bytes this synth measured for each group's shard.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import aws_cdk as cdk
import jsii

from infra.constructs.shards import GroupPlacement

TEMPLATE_BODY_LIMIT = 1_000_000  # bytes; 1 MB as CDK's own warning counts it (below 1 MiB, to be safe)
BYTE_FRACTION = 0.9  # a suggested shard count aims every nested template under 90% of the limit
RULE = "TemplateBodySize"


@dataclass(frozen=True)
class TemplateFile:
    construct_path: str  # the stack's, e.g. Surgeguard/Groups05
    path: str  # the file as the synth wrote it
    size: int  # bytes on disk: what is uploaded and what CloudFormation reads


def stack_templates(stack: cdk.Stack) -> list[TemplateFile]:
    """The stack's template and every nested stack's below it, as written in its assembly directory."""
    stage = cdk.Stage.of(stack)
    assert stage is not None, "a stack is always in a stage (the app is one)"
    stacks: list[cdk.Stack] = [stack]
    stacks += [c for c in stack.node.find_all() if isinstance(c, cdk.NestedStack)]
    files = []
    for each in stacks:
        path = os.path.join(stage.outdir, each.template_file)
        files.append(TemplateFile(each.node.path, path, os.path.getsize(path)))
    return files


def oversized(templates: Iterable[TemplateFile], limit: int | None = None) -> list[TemplateFile]:
    limit = TEMPLATE_BODY_LIMIT if limit is None else limit
    return [t for t in templates if t.size > limit]


def group_bytes(placement: GroupPlacement, sizes: Mapping[str, int]) -> dict[str, float]:
    """Each group's share of its nested template's measured bytes (`sizes` by construct path), in
    proportion to its estimated resources: summed over the groups of a shard at the current count, the
    shard's size exactly; over another count's shards, near enough to choose that count by."""
    shares: dict[str, float] = {}
    for number, shard in placement.shards.items():
        groups = placement.shard_groups[number]
        resources = sum(placement.per_group[g.name] for g in groups)
        for group in groups:
            weight = placement.per_group[group.name] / resources if resources else 1 / len(groups)
            shares[group.name] = sizes[shard.node.path] * weight
    return shares


def advice(
    template: TemplateFile, parent: str, placement: GroupPlacement | None, sizes: Mapping[str, int]
) -> str:
    """What to change for one template over the limit (`sizes`: every template's bytes, by construct path)."""
    if placement is None or not placement.nested:
        return (
            "put the per-group resources in nested stacks: synthesize with -c surgeguard_layout=nested "
            "(a deployed flat stack moves to nested as a stack of a new name, -c stack_name=..., see "
            "infra/constructs/shards.py)"
        )
    if template.construct_path == parent:
        return (
            "the per-group resources are in nested stacks already, so what stays in the stack is too "
            "large: fewer notify_emails addresses heard only by their groups (each is a subscription whose "
            "filter policy lists those group names)"
        )
    return placement.advice(group_bytes(placement, sizes), BYTE_FRACTION * TEMPLATE_BODY_LIMIT)


@jsii.implements(cdk.IPolicyValidationPlugin)
class TemplateSizeCheck:
    """Fails the synth when a template (the stack's or a nested stack's) is over TEMPLATE_BODY_LIMIT."""

    def __init__(self, stacks: Sequence[cdk.Stack]) -> None:
        self._stacks = list(stacks)

    @property
    def name(self) -> str:
        return "Surgeguard-TemplateSize"

    @property
    def version(self) -> str:
        return "1.0.0"

    @property
    def rule_ids(self) -> list[str]:
        return [RULE]

    def validate(self, context: cdk.IPolicyValidationContext) -> cdk.PolicyValidationPluginReport:
        violations = []
        for stack in self._stacks:
            templates = stack_templates(stack)
            placement = getattr(stack, "placement", None)
            sizes = {t.construct_path: t.size for t in templates}
            for template in oversized(templates):
                violations.append(
                    cdk.PolicyViolation(
                        rule_name=RULE,
                        description=(
                            f"{template.construct_path}: its template {os.path.basename(template.path)} is "
                            f"{template.size:,} bytes, over CloudFormation's {TEMPLATE_BODY_LIMIT:,}-byte "
                            "template body limit, so the deploy would fail"
                        ),
                        fix=advice(template, stack.node.path, placement, sizes),
                        severity="error",
                        violating_resources=[
                            cdk.PolicyViolatingResource(
                                locations=["(template size)"],
                                construct_path=template.construct_path,
                                template_path=template.path,
                            )
                        ],
                    )
                )
        return cdk.PolicyValidationPluginReport(success=not violations, violations=violations)
