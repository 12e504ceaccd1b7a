"""The per-minute re-evaluation's shards: every group in exactly one, none over 50, balanced."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from surgeguard.config import REEVALUATION_GROUPS_PER_SHARD, ScalerConfig, parse_config


def _config(groups: int) -> ScalerConfig:
    return parse_config(
        {
            "groups": [
                {"name": f"g{i:03d}", "min": 1, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}
                for i in range(groups)
            ]
        }
    )


@given(st.integers(min_value=1, max_value=320))
def test_every_group_in_exactly_one_shard_of_at_most_fifty(groups: int) -> None:
    config = _config(groups)
    shards = [config.reevaluation_shard(k) for k in range(config.reevaluation_shards)]
    assert sum(len(s) for s in shards) == groups
    assert frozenset().union(*shards) == {g.name for g in config.groups}
    assert all(0 < len(s) <= REEVALUATION_GROUPS_PER_SHARD for s in shards)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_up_to_fifty_groups_is_one_schedule_as_before() -> None:
    assert _config(50).reevaluation_shards == 1
    assert _config(51).reevaluation_shards == 2
    assert _config(300).reevaluation_shards == 6
