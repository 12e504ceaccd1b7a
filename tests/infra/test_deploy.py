"""What a first real `cdk deploy` needs, pinned against the template and README's deploy section."""

from __future__ import annotations

import re

from synth_support import ROOT, Synth

from infra.constructs.lambda_code import POWERTOOLS_LAYER_CONTEXT


def test_template_requires_cdk_bootstrap_version_6_or_later(synth: Synth) -> None:
    # The default synthesizer's guard (as every CDK v2 template shows it): a BootstrapVersion
    # parameter read from SSM `/cdk-bootstrap/hnb659fds/version`, and a rule rejecting versions 1-5
    # with "CDK bootstrap stack version 6 required. Please run 'cdk bootstrap' ...".
    parameter = synth.template["Parameters"]["BootstrapVersion"]
    assert parameter["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert parameter["Default"] == "/cdk-bootstrap/hnb659fds/version"
    (assertion,) = synth.template["Rules"]["CheckBootstrapVersion"]["Assertions"]
    rejected, _ = assertion["Assert"]["Fn::Not"][0]["Fn::Contains"]
    assert rejected == ["1", "2", "3", "4", "5"]
    assert "version 6 required" in assertion["AssertDescription"]


def test_readme_deploy_section_bootstraps_before_deploying() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Deploying to an AWS account", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^npx cdk (\w+)", section, flags=re.MULTILINE)
    assert commands.index("bootstrap") < commands.index("deploy")
    assert "bootstrap version 6" in section
    assert f"-c {POWERTOOLS_LAYER_CONTEXT}=" in section
