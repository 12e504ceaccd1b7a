"""`surgeguard bench --warm-pool`: one pool for every policy, its own numbers, the default untouched."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from gameday import bench
from gameday.engine import simulate
from gameday.fleet import FleetSizing
from gameday.surgeguard_policy import SurgeguardPolicy
from gameday.traces import Trace
from gameday.warm_pool import WarmPoolConfig, WarmPoolParams


def _trace(tmp_path: Path) -> Path:
    # Quiet, then bursts 3x for 20 minutes every 90: scale-outs the pool can serve, scale-ins it refills.
    rows = [300.0 if (minute % 90) >= 70 else 100.0 for minute in range(900)]
    path = tmp_path / "bursts.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    return path


def test_every_policy_gets_the_pool_and_its_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace, out = _trace(tmp_path), tmp_path / "pool.json"
    policies = ["--policy", "oracle", "--policy", "aws-target-tracking-hires", "--policy", "aws-step-scaling"]
    assert bench.main([str(trace), *policies, "--json", str(out)]) == 0
    plain = json.loads(out.read_text(encoding="utf-8"))
    assert "warm_pool" not in plain and "warm_pool_hours" not in capsys.readouterr().out
    assert bench.main([str(trace), *policies, "--warm-pool", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        "warm pool (Stopped): MaxGroupPreparedCapacity the group's max, MinSize 0, ReuseOnScaleIn yes" in text
    )
    assert "warm_pool_hours" in text and "warm_starts" in text
    pooled = json.loads(out.read_text(encoding="utf-8"))
    assert pooled["warm_pool"]["config"]["reuse_on_scale_in"] is True
    assert pooled["warm_pool"]["stopped_cost_fraction"] == 0.03
    before = plain["traces"][0]["policies"]
    after = pooled["traces"][0]["policies"]
    # The oracle is computed, not simulated: no pool. The simulated policies all draw on it and
    # serve the bursts sooner, paying for the stopped instances.
    assert after["oracle"] == before["oracle"]
    for name in ("aws-target-tracking-hires", "aws-step-scaling"):
        assert after[name]["warm_starts"] > 0 and after[name]["warm_pool_hours"] > 0
        assert after[name]["dropped_pct"] < before[name]["dropped_pct"]


def test_pool_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, out = _trace(tmp_path), tmp_path / "pool.json"
    argv = [str(trace), "--policy", "aws-target-tracking-cpu", "--json", str(out), "--warm-pool"]
    more = ["--warm-pool-max-prepared", "7", "--warm-pool-min-size", "2", "--no-warm-pool-reuse-on-scale-in"]
    assert (
        bench.main([*argv, *more, "--warm-pool-stopped-cost", "0.5", "--warm-start-warming-minutes", "0"])
        == 0
    )
    pool = json.loads(out.read_text(encoding="utf-8"))["warm_pool"]
    assert pool["config"] == {"min_size": 2, "max_group_prepared_capacity": 7, "reuse_on_scale_in": False}
    assert (pool["stopped_cost_fraction"], pool["warm_start_warming_minutes"]) == (0.5, 0)
    assert "MaxGroupPreparedCapacity 7, MinSize 2, ReuseOnScaleIn no" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--warm-pool-min-size", "3"], "--warm-pool-min-size needs --warm-pool"),
        (["--warm-pool", "--warm-pool-stopped-cost", "1.5"], "must lie in [0, 1]"),
        (["--warm-pool", "--frontier"], "the frontier is judged on the default fleet"),
    ],
)
def test_pool_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main([str(_trace(tmp_path)), *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_the_static_pool_by_default_and_sized_on_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "pool.json"
    argv = [str(_trace(tmp_path)), "--policy", "aws-step-scaling", "--warm-pool", "--json", str(out)]
    assert bench.main(argv) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["warm_pool"]["resizable"] is False
    assert "no policy resizes it" in capsys.readouterr().out
    assert bench.main([*argv, "--warm-pool-sized"]) == 0
    assert json.loads(out.read_text(encoding="utf-8"))["warm_pool"]["resizable"] is True
    assert "a policy may resize it (Surgeguard does)" in capsys.readouterr().out


def test_surgeguard_sizes_the_pool_through_its_forecaster() -> None:
    """Three days of a daily wave in a group whose max (200) is far above what the days ask: once the
    forecaster has two days of history it shrinks the pool (PutWarmPool through the in-memory adapter)
    to the week's peak, and the stopped pool hours fall against the static pool's."""
    demand = [6000 + 3000 * math.sin(2 * math.pi * minute / 1440) for minute in range(3 * 1440)]
    trace = Trace.from_demand("wave", demand)
    sizing = FleetSizing(capacity_per_instance=1000.0, min_size=2, max_size=200, initial_size=12)
    pool = WarmPoolParams(WarmPoolConfig(reuse_on_scale_in=True))
    sized = SurgeguardPolicy(keep_records=True)
    resized = simulate(trace, sized, sizing=sizing, warm_pool=replace(pool, resizable=True)).metrics
    static = simulate(trace, SurgeguardPolicy(), sizing=sizing, warm_pool=pool).metrics
    put = [r["warm_pool"] for r in sized.aws.records if r.get("warm_pool", {}).get("applied")]  # type: ignore[union-attr]
    assert put and all(p["max_group_prepared_capacity"] < 100 for p in put)
    assert resized.warm_pool_hours is not None and static.warm_pool_hours is not None
    assert resized.warm_pool_hours < static.warm_pool_hours
    assert resized.dropped_pct == static.dropped_pct == 0
