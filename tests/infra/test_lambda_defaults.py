"""The shared Lambda defaults: newest Python, and the matching Powertools layer in the stack's region."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from synth_support import ACCOUNT, cdk_context

from infra.constructs.scaler_function import RUNTIME, powertools_layer_arn, powertools_layer_name


def _python_version(runtime: lambda_.Runtime) -> tuple[int, ...]:
    return tuple(int(part) for part in runtime.name.removeprefix("python").split("."))


def test_runtime_is_the_newest_python_this_cdk_knows() -> None:
    pythons = [r for r in lambda_.Runtime.ALL if r.family == lambda_.RuntimeFamily.PYTHON]
    assert RUNTIME.name == max(pythons, key=_python_version).name


def test_layer_matches_runtime_and_architecture() -> None:
    assert powertools_layer_name() == "AWSLambdaPowertoolsPythonV3-python314-arm64"


def test_layer_follows_the_region_and_its_version_can_be_overridden_by_context() -> None:
    app = cdk.App(context={**cdk_context(), "powertools_layer_version": "41"})
    stack = cdk.Stack(app, "LayerProbe", env=cdk.Environment(account=ACCOUNT, region="us-west-2"))
    assert stack.resolve(powertools_layer_arn(stack)) == (
        "arn:aws:lambda:us-west-2:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:41"
    )
