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
