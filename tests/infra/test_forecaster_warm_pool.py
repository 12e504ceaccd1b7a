"""A group whose forecast sizes its warm pool: the forecaster may PutWarmPool on the managed groups only,
read DescribeWarmPool (no resource type), and the stack still passes cdk-nag."""

from __future__ import annotations

import json
from typing import Any

import pytest
from synth_support import FORECAST_NOW, STACK_NAME, Synth, forecast_config, synthesize

from infra.constructs import forecaster
from infra.constructs.scaling_grants import tag_condition


@pytest.fixture(scope="module")
def pool_synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    config = forecast_config()
    groups = [
        group.model_copy(update={"forecast": group.forecast.model_copy(update={"size_warm_pool": True})})
        if group.name == "api" and group.forecast is not None
        else group
        for group in config.groups
    ]
    config = config.model_copy(update={"groups": groups})
    outdir = tmp_path_factory.mktemp("warm-pool-synth")
    result = synthesize(outdir, config=config, now=FORECAST_NOW)
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    return Synth(outdir, template, result["validation_error"], result["seconds"], result.get("stderr", ""))


def _forecaster_statements(synth: Synth) -> list[dict[str, Any]]:
    _, function = synth.function(forecaster.HANDLER)
    role_id = function["Properties"]["Role"]["Fn::GetAtt"][0]
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_put_warm_pool_only_on_groups_carrying_the_managed_tag(pool_synth: Synth) -> None:
    assert pool_synth.validation_error is None
    statements = {s.get("Sid"): s for s in _forecaster_statements(pool_synth)}
    write = statements["SizeWarmPools"]
    assert write["Action"] == "autoscaling:PutWarmPool"
    assert write["Condition"] == tag_condition(forecast_config().managed_tag)
    assert "autoScalingGroup:*:autoScalingGroupName/*" in json.dumps(write["Resource"])
    assert sorted(statements["ReadMetrics"]["Action"]) == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeWarmPool",
        "cloudwatch:GetMetricData",
    ]
    assert statements["ReadMetrics"]["Resource"] == "*"
    every = {
        a
        for s in statements.values()
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert {a for a in every if a.startswith("autoscaling:")} == {
        "autoscaling:PutWarmPool",
        "autoscaling:DescribeWarmPool",
        "autoscaling:DescribeAutoScalingGroups",
    }


def test_the_forecaster_may_read_the_groups_max_size_that_an_unset_pool_is_judged_at(
    pool_synth: Synth,
) -> None:
    # forecast_service reads the group (DescribeAutoScalingGroups) when the pool's prepared capacity is
    # unset: without the grant every such run was AccessDenied on real AWS and the pool never sized.
    read = _forecaster_statements(pool_synth)
    statements = {s.get("Sid"): s for s in read}
    assert "autoscaling:DescribeAutoScalingGroups" in statements["ReadMetrics"]["Action"]
