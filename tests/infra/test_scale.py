"""300 groups of 3 signals with a sale calendar in one deployment (issue 8, "Scale").

One synth of a generated config (synth_support.scale_config; cdk-nag on, like `cdk synth`), shared by
every xdist worker (conftest.scale_synth): every template (the stack and each nested stack) under
CloudFormation's 500 resources and 1 MB, every IAM policy under IAM's size limits, every scaling alarm
present once, cfn-lint clean. The synth takes 75 s of CPU
(131 s wall on the shared 2-core sandbox; README, "Hundreds of groups"), so this module is marked slow.

Limits, as documented:
- 500 resources per stack (CloudFormation quotas); a nested stack is one resource of its parent.
- 1 MB template body from S3 (CloudFormation quotas): nested templates are uploaded as assets.
- IAM (IAM and AWS STS quotas), whitespace not counted: a managed policy 6,144 characters; a role's
  inline policies 10,240 characters together (CDK writes a role's grants as AWS::IAM::Policy, which
  IAM stores as inline policies of that role).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import lint_file
from synth_support import SCALE_GROUPS, STACK_NAME, Synth, scale_config

from infra.constructs.shards import RESOURCE_LIMIT
from surgeguard.config import ScalerConfig

pytestmark = pytest.mark.slow

TEMPLATE_BODY_LIMIT = 1_000_000
MANAGED_POLICY_LIMIT = 6_144
ROLE_INLINE_LIMIT = 10_240
# An intrinsic (Ref, Fn::GetAtt, Fn::Join part) resolves at deploy time; count it as a long ARN.
TOKEN_CHARS = 256
HARMLESS = {"W3005"}  # as in test_checks


@pytest.fixture(scope="module")
def config() -> ScalerConfig:
    return scale_config()


def _templates(synth: Synth) -> dict[str, Path]:
    files = {"parent": synth.outdir / f"{STACK_NAME}.template.json"}
    files.update({path.name: path for path in synth.outdir.glob("*.nested.template.json")})
    return files


def _size_without_whitespace(document: Any) -> int:
    def render(value: Any) -> str:
        if isinstance(value, dict):
            if len(value) == 1 and (next(iter(value)) == "Ref" or next(iter(value)).startswith("Fn::")):
                return "x" * TOKEN_CHARS
            return "{" + ",".join(f'"{k}":{render(v)}' for k, v in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ",".join(render(v) for v in value) + "]"
        return json.dumps(value)

    return len(re.sub(r"\s", "", render(document)))


def test_synth_passes_cdk_nag_and_splits_into_nested_stacks(scale_synth: Synth) -> None:
    assert scale_synth.validation_error is None, scale_synth.validation_error
    report_file = scale_synth.outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    assert all(r.get("conclusion") == "success" for r in report.get("pluginReports", []))
    nested = scale_synth.of_type("AWS::CloudFormation::Stack")
    assert len(nested) >= 2 and len(_templates(scale_synth)) == len(nested) + 1
    print(f"\n300-group synth: {scale_synth.seconds:.1f} s, {len(nested)} nested stacks")


def test_every_stack_under_500_resources_and_1_mb(scale_synth: Synth) -> None:
    for name, path in _templates(scale_synth).items():
        template = json.loads(path.read_text())
        assert len(template["Resources"]) < RESOURCE_LIMIT, (name, len(template["Resources"]))
        assert path.stat().st_size < TEMPLATE_BODY_LIMIT, (name, path.stat().st_size)


def test_every_iam_policy_under_its_size_limit(scale_synth: Synth) -> None:
    inline_by_role: dict[str, int] = defaultdict(int)
    checked = 0
    for path in _templates(scale_synth).values():
        for resource in json.loads(path.read_text())["Resources"].values():
            document = resource.get("Properties", {}).get("PolicyDocument")
            if resource["Type"] == "AWS::IAM::ManagedPolicy":
                assert _size_without_whitespace(document) < MANAGED_POLICY_LIMIT
                checked += 1
            elif resource["Type"] == "AWS::IAM::Policy":
                for role in resource["Properties"].get("Roles", []):
                    inline_by_role[json.dumps(role)] += _size_without_whitespace(document)
                checked += 1
            elif resource["Type"] == "AWS::IAM::Role":
                for policy in resource["Properties"].get("Policies", []):
                    inline_by_role[path.name + str(id(resource))] += _size_without_whitespace(
                        policy["PolicyDocument"]
                    )
    assert checked and inline_by_role
    assert max(inline_by_role.values()) < ROLE_INLINE_LIMIT, dict(inline_by_role)
    # the grants no longer grow with the groups: no policy names a group
    for path in _templates(scale_synth).values():
        for resource in json.loads(path.read_text())["Resources"].values():
            if resource["Type"] == "AWS::IAM::Policy":
                assert "autoScalingGroupName/shop-" not in json.dumps(resource)


def test_every_scaling_alarm_and_phase_exists_once(scale_synth: Synth, config: ScalerConfig) -> None:
    names: list[str] = []
    schedules = 0
    for path in _templates(scale_synth).values():
        for resource in json.loads(path.read_text())["Resources"].values():
            if resource["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
                names.append(resource["Properties"]["AlarmName"])
            schedules += resource["Type"] == "AWS::Scheduler::Schedule"
    scaling = [n for n in names if not n.startswith(f"{STACK_NAME}/watch/")]
    assert sorted(scaling) == sorted(spec.name for spec in config.alarms(STACK_NAME))
    assert len(names) == len(set(names))
    forecasting = sum(1 for g in config.groups if g.forecast)
    # black friday: prewarm, ramp-1, release, restore; cyber monday: prewarm, release, restore;
    # a forecast schedule per forecasting group; the per-minute re-evaluation, one per 50 groups
    assert schedules == SCALE_GROUPS * 7 + forecasting + config.reevaluation_shards
    assert sum(n.startswith(f"{STACK_NAME}/watch/forecast-stale-") for n in names) == forecasting


def test_the_per_minute_reevaluation_is_sharded_so_each_invocation_fits(
    scale_synth: Synth, config: ScalerConfig
) -> None:
    # One invocation decides its groups one after another (0.3-0.5 s each): 300 groups in ALARM
    # would outlast the 60 s timeout, and the same first ~130 would be the only ones re-evaluated.
    shards = sorted(
        json.loads(resource["Properties"]["Target"]["Input"]).get("shard")
        for resource in json.loads(_templates(scale_synth)["parent"].read_text())["Resources"].values()
        if resource["Type"] == "AWS::Scheduler::Schedule"
        and json.loads(resource["Properties"]["Target"]["Input"]).get("action") == "reevaluate"
    )
    assert shards == list(range(6)) == list(range(config.reevaluation_shards))
    assert max(len(config.reevaluation_shard(k)) for k in shards) <= 50


def test_cfn_lint_clean_on_the_stack_and_the_largest_nested_stack(scale_synth: Synth) -> None:
    # cfn-lint takes about 10 s of CPU per 400 KB nested template; the 16 come from the same code and
    # differ only in how many groups they hold, so the parent and the largest are linted here, and
    # test_checks lints every nested template of a small nested synth.
    templates = _templates(scale_synth)
    parent = templates.pop("parent")
    largest = max(templates.values(), key=lambda path: path.stat().st_size)
    for name, path in (("parent", parent), (largest.name, largest)):
        matches = lint_file(path)
        findings = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id not in HARMLESS]
        assert not findings, (name, findings[:5])
