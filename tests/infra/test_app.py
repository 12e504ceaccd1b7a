"""app.py as the CDK CLI runs it: a bad config fails with the field path; a good one synthesizes
environment-agnostic (no account, no region) with cdk-nag on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from synth_support import ROOT, cdk_context

BAD_FIELD_CONFIG = """
groups:
  - name: web
    min: 2
    max: 0
    signals:
      - kind: cpu
        target: 50
"""


def _run_app(tmp_path: Path, **context: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDK_")}
    env.update(
        CDK_CONTEXT_JSON=json.dumps({**cdk_context(), **context}),  # what the CLI passes
        CDK_OUTDIR=str(tmp_path / "cdk.out"),
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
    )
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_bad_field_fails_with_its_path_and_no_traceback(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(BAD_FIELD_CONFIG)
    result = _run_app(tmp_path, config=str(config))
    assert result.returncode != 0
    assert "groups[0].max" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_config_file_fails_with_a_clear_message(tmp_path: Path) -> None:
    result = _run_app(tmp_path, config=str(tmp_path / "nope.yaml"))
    assert result.returncode != 0
    assert "cannot read config" in result.stderr
    assert "Traceback" not in result.stderr


def test_app_synthesizes_environment_agnostic_with_context_stack_name(tmp_path: Path) -> None:
    result = _run_app(tmp_path, stack_name="SurgeguardStaging")
    assert result.returncode == 0, result.stderr[-4000:]
    template = json.loads((tmp_path / "cdk.out" / "SurgeguardStaging.template.json").read_text())
    names = sorted(
        r["Properties"]["AlarmName"]
        for r in template["Resources"].values()
        if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
    )
    assert names and all(n.startswith("SurgeguardStaging/") for n in names)
    (function,) = [
        r
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"]["Handler"] == "surgeguard.handlers.alarm.lambda_handler"
    ]
    assert function["Properties"]["Environment"]["Variables"]["ALARM_PREFIX"] == "SurgeguardStaging"
    # the layer: the SSM public parameter in whatever region the stack is deployed to
    (layer,) = function["Properties"]["Layers"]
    assert template["Parameters"][layer["Ref"]]["Type"] == "AWS::SSM::Parameter::Value<String>"


STAGES_CONFIG = {
    "deployments": [
        {"name": "Prod-eu", "account": "111111111111", "region": "eu-west-1"},
        {"name": "Prod-us", "account": "222222222222", "region": "us-east-1"},
    ],
    "groups": [{"name": "web", "min": 2, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}],
}


def test_deployments_become_one_stage_each_in_its_account_and_region(tmp_path: Path) -> None:
    import aws_cdk as cdk

    from infra.application import build
    from surgeguard.config import parse_config

    app = cdk.App(outdir=str(tmp_path), context=cdk_context())
    stacks = build(app, parse_config(STAGES_CONFIG), stack_name="Surgeguard")
    app.synth()
    assert [s.node.path for s in stacks] == ["Prod-eu/Surgeguard", "Prod-us/Surgeguard"]
    for name, account, region in (
        ("Prod-eu", "111111111111", "eu-west-1"),
        ("Prod-us", "222222222222", "us-east-1"),
    ):
        manifest = json.loads((tmp_path / f"assembly-{name}" / "manifest.json").read_text())
        (stack,) = [a for a in manifest["artifacts"].values() if a["type"] == "aws:cloudformation:stack"]
        # `cdk deploy 'Prod-eu/*'` selects it; CloudFormation names it <stage>-<stack>
        assert stack["displayName"] == f"{name}/Surgeguard"
        assert stack["environment"] == f"aws://{account}/{region}"
        assert stack["properties"]["stackName"] == f"{name}-Surgeguard"
        template = json.loads(
            (tmp_path / f"assembly-{name}" / stack["properties"]["templateFile"]).read_text()
        )
        alarms = [
            r["Properties"]["AlarmName"]
            for r in template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"
        ]
        assert alarms and all(a.startswith(f"{name}-Surgeguard/") for a in alarms)


def test_cdk_nag_checks_stacks_inside_stages_and_nested_stacks(tmp_path: Path) -> None:
    # The design relies on this (cdk-nag 3 is a validation plugin): a finding in a stage's stack or
    # in a nested stack fails the synth like one in a top-level stack.
    import aws_cdk as cdk
    import pytest
    from aws_cdk import aws_sqs as sqs
    from cdk_nag import AwsSolutionsChecks

    for where in ("stage", "nested"):
        app = cdk.App(outdir=str(tmp_path / where))
        if where == "stage":
            stage = cdk.Stage(app, "Prod-eu", env=cdk.Environment(account="111111111111", region="eu-west-1"))
            sqs.Queue(cdk.Stack(stage, "S"), "PlainQueue")
            cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage))
        else:
            sqs.Queue(cdk.NestedStack(cdk.Stack(app, "S"), "N"), "PlainQueue")
            cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
        with pytest.raises(Exception, match="AwsSolutions-SQS4"):
            app.synth()


def _groups_yaml(groups: int, signals: int, email: str | None = None, emails_on: int = 0) -> str:
    lines = ["groups:"]
    for i in range(groups):
        lines += [f"  - name: g{i:03d}", "    min: 1", "    max: 9", "    signals:"]
        lines += [f"      - {{kind: cpu, id: c{k}, target: 50}}" for k in range(signals)]
        if email and i < emails_on:
            lines.append(f"    notify_emails: [{email}]")
    return "\n".join(lines) + "\n"


def test_a_config_the_stack_cannot_hold_as_asked_fails_the_synth_with_the_choice_and_no_traceback(
    tmp_path: Path,
) -> None:
    # app.py turns the synth's ValueErrors into one line: `auto` past its line (it never moves the
    # named alarms into nested stacks by itself), and an address on more groups than an SNS filter
    # policy holds.
    cases = {
        "auto": (_groups_yaml(120, 2), "-c surgeguard_layout=nested"),
        "sns": (_groups_yaml(151, 1, "oncall@example.com", 151), "oncall@example.com"),
    }
    for name, (text, expected) in cases.items():
        config = tmp_path / f"{name}.yaml"
        config.write_text(text)
        result = _run_app(tmp_path / name, config=str(config))
        assert result.returncode != 0, name
        assert "surgeguard: " in result.stderr and expected in result.stderr, result.stderr[-2000:]
        assert "Traceback" not in result.stderr, result.stderr[-2000:]
