"""cdk-nag (AwsSolutions) and cfn-lint over the synthesized stack."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import lint_file
from synth_support import STACK_NAME, Synth

# CDK adds an explicit DependsOn on the function's role although Fn::GetAtt already orders them.
HARMLESS = {"W3005"}


@pytest.fixture(params=["synth", "sales_synth", "forecast_synth", "nested_synth"])
def any_synth(request: pytest.FixtureRequest) -> Synth:
    """The example config, the sale-events config (schedules, the second Lambda), the forecast one,
    and the forecast one in nested stacks (cdk-nag validates nested stacks too)."""
    synth: Synth = request.getfixturevalue(request.param)
    return synth


def test_cdk_nag_aws_solutions_has_no_unacknowledged_findings(any_synth: Synth) -> None:
    synth = any_synth
    report_file = synth.outdir / "validation-report.json"
    report = json.loads(report_file.read_text()) if report_file.exists() else {}
    failures = [r for r in report.get("pluginReports", []) if r.get("conclusion") != "success"]
    assert synth.validation_error is None and not failures, (
        f"{synth.validation_error}\n{json.dumps(failures, indent=1)}"
    )


def test_cfn_lint_finds_nothing_but_harmless_warnings(any_synth: Synth) -> None:
    synth = any_synth
    templates = [synth.outdir / f"{STACK_NAME}.template.json", *synth.outdir.glob("*.nested.template.json")]
    for template in templates:  # the stack and each nested stack
        matches = lint_file(template)
        findings = [
            f"{m.rule.id} {m.message} ({m.path_string})" for m in matches if m.rule.id not in HARMLESS
        ]
        assert not findings, "\n".join(findings)
        assert all(m.rule.id.startswith("W") for m in matches)
