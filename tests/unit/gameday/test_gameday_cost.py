"""`surgeguard bench --explain-cost`: a run's instance-hours split into serving within the need,
launching, and serving over the need by what held it, read from Surgeguard's own audit records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gameday import bench
from gameday.cost import (
    AFTER_SCALE_IN_MINUTES,
    DROP_CAUSES,
    INITIAL,
    explain_cost,
    explain_drops,
    holding_layers,
)
from gameday.engine import simulate
from gameday.fleet import size_fleet
from gameday.surgeguard_policy import InMemoryAws, SurgeguardPolicy
from gameday.traces import load_trace


def _record(
    outcome: str = "applied", rule: str | None = "requests_per_target", desired: int = 15, clamps: Any = ()
) -> dict[str, Any]:
    return {"outcome": outcome, "winning_rule": rule, "new_desired": desired, "clamps": list(clamps)}


def test_a_rule_holds_up_to_its_ask_and_each_limit_that_held_more_above_it() -> None:
    # GIVEN a scale-in the rule asked down to 9, held at 12 by stabilization, then at 14 by the max step
    record = _record(
        clamps=[
            {"limit": "scale_in.stabilization", "before": 9, "after": 12},
            {"limit": "scale_in.max_step", "before": 12, "after": 14},
        ],
        desired=14,
    )
    # THEN each holds its own layer
    assert holding_layers(record) == (
        ("requests_per_target", 9),
        ("scale_in.stabilization", 12),
        ("scale_in.max_step", 14),
    )
    # AND an unchanged decision without limits is held by its rule alone
    assert holding_layers(_record("unchanged", "floor:noise", 20)) == (("floor:noise", 20),)
    # AND a limit that held less (the group's max) holds no layer
    capped = _record(rule="floor:burst", desired=30, clamps=[{"limit": "max", "before": 40, "after": 30}])
    assert holding_layers(capped) == (("floor:burst", 40),)


@pytest.mark.parametrize(
    "record",
    [
        _record("skipped", None),
        _record("rejected", None),
        _record("failed", "cpu"),
        # the forecaster's record: applied, with no rule and no capacity
        {"outcome": "applied", "winning_rule": None, "forecast": {}},
    ],
)
def test_a_record_that_decided_no_capacity_changes_nothing(record: dict[str, Any]) -> None:
    assert holding_layers(record) is None


def test_each_minute_splits_into_need_launching_and_what_held_the_rest() -> None:
    # GIVEN c = 10, a need of 3 then 2, a gap, and a rule that asked 4 held at 6 by stabilization
    demand = [30.0, 20.0, 20.0, 0.0, 20.0]
    gap = [False, False, False, True, False]
    serving = [3, 5, 6, 6, 8]
    billed = [5, 6, 6, 6, 8]
    held = (("requests_per_target", 4), ("scale_in.stabilization", 6))
    breakdown = explain_cost(demand, gap, serving, billed, 10.0, [(1, held)], oracle_minutes=9)
    # THEN minute 0 (before any decision): 3 in need, 2 launching
    # AND minute 1: 2 in need, 1 launching, 2 over it by the rule (up to 4), 1 by stabilization (to 5)
    # AND minute 2: 2 in need, 2 by the rule, 2 by stabilization; the gap minute counts for nothing
    # AND minute 4: 2 in need, 2 by the rule, 2 by stabilization, and the 2 over its top to the top layer
    assert breakdown.serving_in_need == 3 + 2 + 2 + 2
    assert breakdown.launching == 2 + 1
    assert breakdown.held_over == {"scale_in.stabilization": 1 + 2 + 4, "requests_per_target": 2 + 2 + 2}
    assert breakdown.billed == sum(b for b, g in zip(billed, gap, strict=True) if not g)
    assert breakdown.x_oracle(breakdown.billed) == pytest.approx(25 / 9)


def test_before_the_first_decision_the_initial_size_holds_what_is_over_the_need() -> None:
    breakdown = explain_cost([10.0], [False], [4], [4], 10.0, [], oracle_minutes=1)
    assert breakdown.held_over == {INITIAL[0][0]: 3}


_layer = st.tuples(st.sampled_from(["cpu", "floor:noise", "scale_in.max_step"]), st.integers(0, 30))


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.lists(
        st.tuples(st.floats(0, 300), st.booleans(), st.integers(0, 30), st.integers(0, 10)),
        min_size=1,
        max_size=30,
    ),
    holdings=st.lists(st.tuples(st.integers(0, 30), st.lists(_layer, min_size=1, max_size=3)), max_size=5),
)
def test_the_parts_add_up_to_the_billed_minutes_and_none_is_negative(
    minutes: list[tuple[float, bool, int, int]], holdings: list[tuple[int, list[tuple[str, int]]]]
) -> None:
    demand = [d for d, _, _, _ in minutes]
    gap = [g for _, g, _, _ in minutes]
    serving = [s for _, _, s, _ in minutes]
    billed = [s + extra for _, _, s, extra in minutes]
    ordered = sorted(((at, tuple(sorted(layers, key=lambda layer: layer[1]))) for at, layers in holdings))
    breakdown = explain_cost(demand, gap, serving, billed, 10.0, ordered, oracle_minutes=1)
    assert breakdown.billed == sum(b for b, g in zip(billed, gap, strict=True) if not g)
    assert min(breakdown.serving_in_need, breakdown.launching, *breakdown.held_over.values(), 0) == 0
    assert all(minutes > 0 for minutes in breakdown.held_over.values())


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_the_bench_explains_every_instance_hour_of_surgeguards_run(
    days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    out = tmp_path / "out.json"
    flags = [
        "--policy",
        "surgeguard",
        "--policy",
        "aws-target-tracking-cpu",
        "--explain-cost",
        "--jobs",
        jobs,
    ]
    assert bench.main([str(days), *flags, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    policies = json.loads(out.read_text(encoding="utf-8"))["traces"][0]["policies"]
    explained = policies["surgeguard"]["cost_explained"]
    # THEN the parts add up to the run's instance-hours, over the oracle's as the cost says
    parts = explained["serving_in_need_hours"] + explained["launching_hours"]
    parts += sum(explained["held_over_hours"].values())
    assert parts == pytest.approx(policies["surgeguard"]["instance_hours"], rel=1e-12)
    assert parts / explained["oracle_instance_hours"] == pytest.approx(
        policies["surgeguard"]["cost_vs_oracle"]
    )
    # AND what held capacity over the need is named in the records' own words
    assert "requests_per_target" in explained["held_over_hours"] or "cpu" in explained["held_over_hours"]
    assert f"where surgeguard's {policies['surgeguard']['instance_hours']:,.1f} instance-hours go" in text
    # AND an AWS policy keeps no records to explain
    assert "cost_explained" not in policies["aws-target-tracking-cpu"]


def test_the_explanation_reads_the_same_run_the_table_reports(days: Path) -> None:
    trace = load_trace(days)
    sizing = size_fleet(trace)
    policy = SurgeguardPolicy(keep_records=False)
    result = simulate(trace, policy, sizing=sizing)
    breakdown = policy.explain_cost(result.series, sizing.capacity_per_instance, 1)
    assert breakdown.billed / 60 == pytest.approx(result.metrics.instance_hours, rel=1e-12)
    # AND the holdings change only when what holds does (not once per decision)
    assert policy.aws is not None
    assert len(policy.aws.holdings) < policy.aws.audit_count


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--explain-cost", "--frontier"], "not with --frontier"),
        (["--explain-cost", "--warm-pool"], "not with --frontier or --warm-pool"),
        (["--explain-cost", "--policy", "aws-target-tracking-cpu"], "runs neither surgeguard family"),
        (["--explain-drops", "--frontier"], "--explain-drops explains the bench tables' runs"),
        (["--explain-drops", "--warm-pool"], "not with --frontier or --warm-pool"),
        # --show-config runs nothing: there would be no run to explain
        (["--explain-cost", "--show-config"], "--show-config runs nothing"),
        (["--explain-drops", "--show-config"], "--show-config runs nothing"),
    ],
)
def test_the_flag_refuses_runs_it_cannot_explain(
    days: Path, flags: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main([str(days), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_each_drop_is_put_down_to_the_state_the_group_was_in() -> None:
    # GIVEN c = 10, max 8, and a drop of 10 requests a minute in each of four states (the first that
    # holds, in DROP_CAUSES' order)
    minutes = [
        # (demand, serving, billed, desired)
        (50.0, 5, 5, 5),  # 0: served
        (60.0, 5, 5, 5),  # 1: a rise nothing has acted on yet
        (60.0, 5, 7, 7),  # 2: two instances launching
        (40.0, 4, 4, 4),  # 3: desired fell; served
        (50.0, 4, 4, 4),  # 4: dropped within the scale-in's window
        (90.0, 8, 8, 8),  # 5: at the group's max, all of it serving
        (99.0, 8, 8, 8),  # 6: a gap counts for nothing
        (90.0, 6, 8, 8),  # 7: at the max, but two still launching: late, not held by the max
    ]
    demand = [d for d, _, _, _ in minutes]
    gap = [False] * 6 + [True, False]
    serving, billed, desired = ([m[k] for m in minutes] for k in (1, 2, 3))
    drops = explain_drops(demand, gap, serving, billed, desired, 10.0, 8)
    point = 100 * 10 / (sum(demand[:6]) + demand[7])
    assert drops.points == {
        "launching": pytest.approx(point + 3 * point),  # minute 2's 10 and minute 7's 30
        "at the max": pytest.approx(point),
        "after a scale-in": pytest.approx(point),
        "not acted on": pytest.approx(point),
    }
    # AND a scale-in answers for a drop up to its window's last minute, and not after
    for after, cause in (
        (AFTER_SCALE_IN_MINUTES - 1, DROP_CAUSES[2]),
        (AFTER_SCALE_IN_MINUTES, DROP_CAUSES[3]),
    ):
        rising = [50.0] * (1 + after) + [60.0]  # desired falls at minute 1; the drop comes `after` later
        wanted = [6] + [5] * (1 + after)
        flat = [5] * len(rising)
        aged = explain_drops(rising, [False] * len(rising), flat, flat, wanted, 10.0, 8)
        assert aged.points[cause] == pytest.approx(100 * 10 / sum(rising))


def test_the_bench_puts_every_policys_drops_down_to_a_cause(
    days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.json"
    flags = ["--policy", "surgeguard", "--policy", "aws-target-tracking-cpu", "--explain-drops"]
    assert bench.main([str(days), *flags, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    policies = json.loads(out.read_text(encoding="utf-8"))["traces"][0]["policies"]
    for numbers in policies.values():
        # THEN the causes add up to the run's drops
        assert sum(numbers["drops_explained"].values()) == pytest.approx(numbers["dropped_pct"], abs=1e-9)
    assert "where the drops happen" in text


def test_a_record_written_outside_a_simulated_minute_is_kept_and_explains_nothing() -> None:
    # GIVEN the store the load test drives on a live fleet: no simulated minute, no view
    aws = InMemoryAws({}, keep_records=True)
    record = _record(clamps=[{"limit": "scale_in.stabilization", "before": 9, "after": 12}], desired=12)
    # WHEN a decision's record is written
    aws.write_audit(record)
    # THEN it is kept (the load test reads it back), and no minute is made up for it
    assert aws.records == [record]
    assert aws.holdings == []


def test_a_scale_in_held_back_holds_what_it_kept_over_the_rules_ask() -> None:
    # GIVEN a decision that held at 19 while its rule asked for 5: a scale-in held back (here by the
    # stabilization window after a scale-out), recorded with no clamp, as the decision code writes it
    record = {
        **_record("unchanged", desired=19),
        "reason": "scale-in held: last scale-out at 2026-11-29T09:05:00+00:00 is inside the 300s "
        "stabilization window",
        "candidates": [
            {"rule": "cpu", "needed": 5},
            {"rule": "requests_per_target", "needed": 5},
            {"rule": "floor:noise", "needed": 4},
        ],
    }
    # THEN the rule holds up to its ask, and the hold the 14 instances over it
    assert holding_layers(record) == (("requests_per_target", 5), ("scale-in held", 19))
    # AND a decision whose rule asked for what it kept is held by the rule alone, as before
    kept = {**record, "candidates": [{"rule": "requests_per_target", "needed": 19}]}
    assert holding_layers(kept) == (("requests_per_target", 19),)
