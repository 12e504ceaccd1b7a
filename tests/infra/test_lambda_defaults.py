"""The shared Lambda defaults: newest Python, and the Powertools layer resolved at deploy time."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from synth_support import ACCOUNT, ROOT, Synth, cdk_context

from infra.constructs.lambda_code import (
    LAYER_VERSION_ARN,
    POWERTOOLS_LAYER_CONTEXT,
    POWERTOOLS_VERSION,
    powertools_layer_arn,
    powertools_parameter_name,
)
from infra.constructs.scaler_function import ARCHITECTURE, RUNTIME

# Powertools for AWS Lambda (Python), "Installation > Lambda Layer > Using SSM Parameter Store"
# (aws-powertools/powertools-lambda-python docs/getting-started/install.md): the layer ARNs are
# published as SSM public parameters /aws/service/powertools/python/{arch}/{python_version}/{version|latest},
# {arch} x86_64 or arm64, {python_version} like python3.13; the value is the layer version ARN
# arn:aws:lambda:{region}:017000801446:layer:AWSLambdaPowertoolsPythonV3-{python314}-{arch}:{N}.
PARAMETER = "/aws/service/powertools/python/arm64/python3.14/3.37.0"
SSM_STRING = "AWS::SSM::Parameter::Value<String>"


def _python_version(runtime: lambda_.Runtime) -> tuple[int, ...]:
    return tuple(int(part) for part in runtime.name.removeprefix("python").split("."))


def test_runtime_is_the_newest_python_this_cdk_knows() -> None:
    pythons = [r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON]
    assert RUNTIME.name == max(pythons, key=_python_version).name


def test_layer_parameter_names_the_pinned_release_for_runtime_and_architecture() -> None:
    assert powertools_parameter_name(RUNTIME, ARCHITECTURE) == PARAMETER
    assert powertools_parameter_name(lambda_.Runtime.PYTHON_3_13, lambda_.Architecture.X86_64) == (
        "/aws/service/powertools/python/x86_64/python3.13/3.37.0"
    )


def test_layer_release_is_the_one_requirements_pin() -> None:
    pins = dict(
        line.split("==", 1)
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    )
    assert pins["aws-lambda-powertools"].split()[0] == POWERTOOLS_VERSION


def test_every_function_takes_its_layer_from_the_ssm_public_parameter_at_deploy_time(synth: Synth) -> None:
    parameters = synth.template["Parameters"]
    (name,) = [k for k, v in parameters.items() if v.get("Default") == PARAMETER]
    assert parameters[name]["Type"] == SSM_STRING
    functions = synth.of_type("AWS::Lambda::Function")
    assert functions
    for function in functions.values():
        assert function["Properties"]["Layers"] == [{"Ref": name}]
    # no layer version number anywhere in the template
    assert "AWSLambdaPowertoolsPythonV3" not in str(synth.template)


def _probe(context: dict[str, str]) -> tuple[cdk.Stack, str]:
    app = cdk.App(context={**cdk_context(), **context})
    stack = cdk.Stack(app, "LayerProbe", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    return stack, powertools_layer_arn(stack, RUNTIME, ARCHITECTURE)


def test_an_explicit_layer_arn_overrides_ssm_for_pinned_or_air_gapped_deploys() -> None:
    pinned = "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:41"
    stack, arn = _probe({POWERTOOLS_LAYER_CONTEXT: pinned})
    assert stack.resolve(arn) == pinned
    assert not [c for c in stack.node.find_all() if isinstance(c, cdk.CfnParameter)]


@pytest.mark.parametrize(
    "bad",
    [
        "41",  # a bare layer version (the old -c powertools_layer_version form)
        "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64",
        "arn:aws:lambda:us-west-2:017000801446:function:surgeguard",
        "/aws/service/powertools/python/arm64/python3.14/latest",
    ],
)
def test_an_override_that_is_not_a_layer_version_arn_fails_synth(bad: str) -> None:
    with pytest.raises(ValueError, match="not a layer version ARN"):
        _probe({POWERTOOLS_LAYER_CONTEXT: bad})


def test_layer_arn_shape_accepts_other_partitions() -> None:
    # Powertools docs list China and GovCloud layers under their own partitions and publishers.
    for arn in (
        "arn:aws-cn:lambda:cn-north-1:498634801083:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:37",
        "arn:aws-us-gov:lambda:us-gov-west-1:165093116878:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:27",
    ):
        assert LAYER_VERSION_ARN.fullmatch(arn)
    assert re.fullmatch(
        r"/aws/service/powertools/python/(x86_64|arm64)/python3\.\d+/\d+\.\d+\.\d+", PARAMETER
    )
