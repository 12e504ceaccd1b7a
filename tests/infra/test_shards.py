"""Where per-group resources go (infra/constructs/shards.py), decided without a synth."""

from __future__ import annotations

import pytest
from aws_cdk import App, Stack

from infra.constructs.shards import PARENT_BUDGET, SHARD_COUNT, GroupPlacement, shard_of
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
    with pytest.raises(ValueError, match="SHARD_COUNT"):
        _placement(config, "nested")
