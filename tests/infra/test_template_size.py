"""CloudFormation's 1 MB template body, checked on the written templates (infra/constructs/template_size.py).

One small nested synth with the limit lowered (so that no 300-group synth is needed to cross it), and
unit tests of the check and its advice on fake sizes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from synth_support import FORECAST_NOW, STACK_NAME, forecast_config, synthesize

from infra.constructs import template_size
from infra.constructs.shards import GroupPlacement, shard_of
from infra.constructs.template_size import (
    TEMPLATE_BODY_LIMIT,
    TemplateFile,
    advice,
    group_bytes,
    oversized,
)
from surgeguard.config import ScalerConfig, parse_config


def test_the_limit_is_cloudformations_1_mb() -> None:
    assert TEMPLATE_BODY_LIMIT == 1_000_000  # CloudFormation quotas; below 1 MiB to be safe


def test_a_synth_with_a_template_over_the_limit_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a 300-group nested synth with 255-character names did at 1 MB (1.06 MB nested templates,
    # exit 0): the limit is lowered here so that a 3-group synth crosses it.
    limit = 10_000
    monkeypatch.setattr(template_size, "TEMPLATE_BODY_LIMIT", limit)
    result = synthesize(tmp_path, forecast_config(), now=FORECAST_NOW, layout="nested")
    error = result["validation_error"]
    assert error is not None and "Surgeguard-TemplateSize" in error
    sizes = {path.name: path.stat().st_size for path in tmp_path.glob("*.template.json")}
    over = {name for name, size in sizes.items() if size > limit}
    assert f"{STACK_NAME}.template.json" in over and len(over) < len(sizes)  # a nested one over, others not
    for name, size in sizes.items():  # each template over the limit by name and its size on disk
        assert (name in error) == (name in over), name
        assert (f"is {size:,} bytes" in error) == (name in over), name
    assert re.search(rf"{STACK_NAME}/Groups\d\d: its template", error)
    assert "notify_emails" in error  # the stack's own advice (nested already)
    # the nested template's advice: its group is too large for any count of nested stacks at this limit
    assert "no count up to" in error


def _config(groups: int, name_length: int) -> ScalerConfig:
    signals = [{"kind": "cpu", "target": 50}, {"kind": "cpu", "id": "cpu2", "target": 60}]
    return parse_config(
        {
            "groups": [
                {"name": f"shop-{i:04d}-".ljust(name_length, "x"), "min": 1, "max": 9, "signals": signals}
                for i in range(groups)
            ]
        }
    )


def test_oversized_is_strictly_over_the_limit() -> None:
    templates = [
        TemplateFile("S", "/out/S.template.json", 400_000),
        TemplateFile("S/Groups03", "/out/SGroups03.nested.template.json", 1_000_000),
        TemplateFile("S/Groups05", "/out/SGroups05.nested.template.json", 1_057_411),
    ]
    assert [t.construct_path for t in oversized(templates)] == ["S/Groups05"]
    assert [t.construct_path for t in oversized(templates, limit=399_999)] == [
        "S",
        "S/Groups03",
        "S/Groups05",
    ]


def test_an_oversized_shard_is_told_the_count_at_which_every_nested_stack_fits() -> None:
    # 300 groups of 4 alarms with 255-character names; fake sizes: each shard at 45,000 bytes a group,
    # so the largest (about 25 groups) is over 1 MB at about 100 resources
    config = _config(300, 255)
    stack = Stack(App(), "S")
    placement = GroupPlacement(stack, config, {}, "nested")
    list(placement.subsets(config))  # the nested stacks
    sizes = {
        placement.shards[n].node.path: 45_000 * len(groups) for n, groups in placement.shard_groups.items()
    }
    largest = max(placement.shard_groups, key=lambda n: len(placement.shard_groups[n]))
    assert sizes[placement.shards[largest].node.path] > TEMPLATE_BODY_LIMIT
    shares = group_bytes(placement, sizes)
    assert sum(shares.values()) == pytest.approx(sum(sizes.values()))
    template = TemplateFile(
        placement.shards[largest].node.path, "x.json", sizes[placement.shards[largest].node.path]
    )
    text = advice(template, stack.node.path, placement, sizes)
    needed = int(re.search(r"-c surgeguard_shards=(\d+)", text).group(1))  # type: ignore[union-attr]
    per_shard: dict[int, int] = {}
    for group in config.groups:
        per_shard[shard_of(group.name, needed)] = per_shard.get(shard_of(group.name, needed), 0) + 1
    assert max(per_shard.values()) * 45_000 <= 0.9 * TEMPLATE_BODY_LIMIT  # under 90% of the limit
    assert 16 < needed < 48
    # the stack itself, nested already: its own content; a flat stack: the nested layout
    parent = TemplateFile("S", "S.template.json", 1_200_000)
    assert "notify_emails" in advice(parent, "S", placement, sizes)
    flat = GroupPlacement(Stack(App(), "F"), config, {}, "flat")
    assert "-c surgeguard_layout=nested" in advice(
        TemplateFile("F", "F.template.json", 1_200_000), "F", flat, {}
    )
