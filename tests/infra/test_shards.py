"""Where per-group resources go (infra/constructs/shards.py), decided without a synth."""

from __future__ import annotations

import hashlib
import re
from collections import Counter

import pytest
from aws_cdk import App, CfnResource, Stack

from infra.constructs.shards import (
    PARENT_BUDGET,
    RESOURCE_LIMIT,
    SHARD_BUDGET,
    SHARD_COUNT,
    GroupPlacement,
    check_resource_limits,
    shard_of,
)
from surgeguard.config import ScalerConfig, parse_config


def _config(groups: int) -> ScalerConfig:
    signals = [{"kind": "cpu", "target": 50}, {"kind": "cpu", "id": "cpu2", "target": 60}]
    return parse_config(
        {"groups": [{"name": f"g{i:03d}", "min": 1, "max": 9, "signals": signals} for i in range(groups)]}
    )


def _placement(config: ScalerConfig, layout: str = "auto") -> GroupPlacement:
    return GroupPlacement(Stack(App(), "S"), config, {}, layout)


def test_auto_stays_flat_while_it_fits_and_an_explicit_layout_is_obeyed() -> None:
    # 4 alarms a group: about 90 groups fit the parent's budget
    assert not _placement(_config(60)).nested
    assert _placement(_config(120), "nested").nested
    assert _placement(_config(3), "nested").nested and not _placement(_config(120), "flat").nested
    with pytest.raises(ValueError, match="surgeguard_layout"):
        _placement(_config(3), "sideways")


def test_auto_never_moves_named_alarms_it_fails_at_the_line_and_names_the_choice() -> None:
    # The last size `auto` keeps flat, then one group more: nesting then would move every group's
    # fixed-name alarms into nested stacks (CloudFormation creates the new before deleting the old,
    # under the same AlarmName); so the synth stops and says what to choose instead.
    fits = max(n for n in range(1, 200) if _estimate_fits(n))
    assert 80 < fits < 120 and not _placement(_config(fits)).nested
    with pytest.raises(ValueError) as raised:
        _placement(_config(fits + 1))
    message = str(raised.value)
    assert "-c surgeguard_layout=nested" in message and "auto" in message
    assert "stack_name" in message and "redeployed" in message  # an existing flat deployment's way
    assert str(PARENT_BUDGET) in message
    # an explicit choice still works at that size: nested as asked, flat (its own resource check later)
    assert _placement(_config(fits + 1), "nested").nested
    assert not _placement(_config(fits + 1), "flat").nested


def _estimate_fits(groups: int) -> bool:
    try:
        _placement(_config(groups))
    except ValueError:
        return False
    return True


def test_a_groups_shard_depends_on_its_name_only() -> None:
    small, large = _placement(_config(100), "nested"), _placement(_config(300), "nested")
    where = {g.name: n for n, groups in small.shard_groups.items() for g in groups}
    assert all(
        where[g.name] == n for n, groups in large.shard_groups.items() for g in groups if g.name in where
    )
    assert {shard_of(f"g{i:03d}") for i in range(300)} == set(range(SHARD_COUNT))
    assert shard_of("shop-web") == shard_of("shop-web") and 0 <= shard_of("shop-web") < SHARD_COUNT


def test_a_shard_over_its_budget_fails_the_synth_with_what_to_change() -> None:
    signals = [{"kind": "cpu", "id": f"c{i}", "target": 50} for i in range(20)]  # 40 alarms a group
    config = parse_config(
        {"groups": [{"name": f"g{i:03d}", "min": 1, "max": 9, "signals": signals} for i in range(400)]}
    )
    with pytest.raises(ValueError, match="-c surgeguard_shards="):
        _placement(config, "nested")


# Placement as it was before the count became a setting: every nested deployment's groups are here.
def _legacy_shard(name: str) -> int:
    return int(hashlib.sha256(name.encode()).hexdigest(), 16) % 16


SAMPLE_NAMES = [
    *(f"g{i:03d}" for i in range(300)),
    *(f"prod-eu-west-1-shop-{i:04d}-".ljust(255, "x") for i in range(200)),
    "shop-web",
    "a",
    "team/payments:api_v2",
    "bestellung-übersicht",
]


def _in_context(config: ScalerConfig, context: dict[str, object]) -> GroupPlacement:
    return GroupPlacement(Stack(App(context=context), "S"), config, {}, "nested")


def test_existing_16_shard_deployments_keep_every_group_where_it_is() -> None:
    assert SHARD_COUNT == 16
    assert all(shard_of(name) == shard_of(name, 16) == _legacy_shard(name) for name in SAMPLE_NAMES)
    config = _config(300)
    for context in ({}, {"surgeguard_shards": 16}, {"surgeguard_shards": "16"}):
        placement = _in_context(config, context)
        assert placement.count == 16
        assert all(
            _legacy_shard(g.name) == number
            for number, groups in placement.shard_groups.items()
            for g in groups
        )


def test_the_number_of_nested_stacks_is_a_setting() -> None:
    config = _config(300)
    placement = _in_context(config, {"surgeguard_shards": "24"})  # -c gives a string, cdk.json a number
    assert placement.count == 24 and set(placement.shard_groups) == set(range(24))
    assert all(shard_of(g.name, 24) == n for n, groups in placement.shard_groups.items() for g in groups)
    assert sorted(s.node.id for s, _ in placement.subsets(config))[-1] == "Groups23"
    for bad in ("lots", 0, -3, True, 401):
        with pytest.raises(ValueError, match="surgeguard_shards"):
            _in_context(config, {"surgeguard_shards": bad})


@pytest.mark.parametrize("old,new", [(16, 17), (16, 20), (16, 32), (20, 24), (8, 16)])
def test_more_nested_stacks_move_groups_only_into_the_new_ones(old: int, new: int) -> None:
    # A move is a named alarm CloudFormation cannot move in one update: growing the count moves the
    # fewest groups a balanced placement can ((new - old) / new of them), and none between old stacks.
    names = [f"prod-shop-{i:04d}" for i in range(2000)]
    moved = [n for n in names if shard_of(n, new) != shard_of(n, old)]
    assert all(shard_of(n, new) >= old for n in moved)
    assert abs(len(moved) / len(names) - (new - old) / new) < 0.04, len(moved)
    per_shard = Counter(shard_of(n, new) for n in names)
    assert set(per_shard) == set(range(new)) and max(per_shard.values()) < 1.4 * len(names) / new


def test_a_full_shard_names_the_count_that_fits_and_what_raising_it_moves() -> None:
    # 1,000 groups of 7 resources (the reviewer's case): at 16 a shard is over its budget
    config = _config(1000)  # 4 alarms a group
    pending = {g.name: 3 for g in config.groups}  # and three sale phases
    with pytest.raises(ValueError) as raised:
        GroupPlacement(Stack(App(), "S"), config, pending, "nested")
    message = str(raised.value)
    match = re.search(r"-c surgeguard_shards=(\d+)", message)
    assert match and "SHARD_COUNT" not in message, message
    needed = int(match.group(1))
    assert 16 < needed <= 32 and "cdk.json" in message and "stack_name" in message
    moved = sum(shard_of(g.name, needed) != shard_of(g.name) for g in config.groups)
    assert f"moves {moved} of its 1000 groups" in message
    fits = GroupPlacement(Stack(App(context={"surgeguard_shards": needed}), "S"), config, pending, "nested")
    assert max(fits.resources_of(groups) for groups in fits.shard_groups.values()) <= SHARD_BUDGET
    with pytest.raises(ValueError):  # the fewest: one less does not fit
        GroupPlacement(Stack(App(context={"surgeguard_shards": needed - 1}), "S"), config, pending, "nested")


def _stack_of(resources: int) -> Stack:
    stack = Stack(App(), "Full")
    for index in range(resources):
        CfnResource(stack, f"Handle{index}", type="AWS::CloudFormation::WaitConditionHandle")
    return stack


def test_a_stack_of_exactly_cloudformations_500_resources_passes_and_501_fails() -> None:
    # CloudFormation's quota is a maximum of 500 resources declared in a template ("Number of resources,
    # N, is greater than maximum allowed"): a stack of exactly 500 deploys, and the synth refused it
    assert check_resource_limits(_stack_of(RESOURCE_LIMIT), []) == {"Full": RESOURCE_LIMIT}
    with pytest.raises(ValueError, match=r"over CloudFormation's 500 resources: \{'Full': 501\}"):
        check_resource_limits(_stack_of(RESOURCE_LIMIT + 1), [])
