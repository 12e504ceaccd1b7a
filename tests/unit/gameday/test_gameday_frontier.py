"""`surgeguard bench --frontier`: the sweep, the dominance rule, the table, the JSON shape and the PNG."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from gameday import bench
from gameday.baselines import AWS_FRONTIER, AWS_FRONTIER_SETTINGS, target_tracking_cpu
from gameday.frontier import (
    CHALLENGER,
    CHALLENGERS,
    FrontierPoint,
    TraceFrontier,
    default_families,
    format_frontier,
    frontier_json,
    run_frontier,
)
from gameday.surgeguard_policy import (
    ENDS_TARGET_SHARE_IF_UNPAID,
    HEADROOM_SETTINGS,
    LEAN_NOISE_MAX_SHARE_OF_MEAN,
    LEAN_NOISE_SIGMAS,
    LEAN_SETTING,
    REACTIVE,
    Tuning,
    benchmark_config,
    tuning_at,
)
from gameday.traces import Trace


def point(setting: float, dropped: float, hours: float) -> FrontierPoint:
    return FrontierPoint(setting, dropped, hours, hours / 10)


def test_dominance_needs_both_no_more_drops_and_no_more_cost() -> None:
    aws = point(50, 1.0, 100.0)
    assert point(1, 1.0, 100.0).dominates(aws)  # equal on both counts is enough
    assert point(1, 0.5, 90.0).dominates(aws)
    assert not point(1, 0.5, 101.0).dominates(aws)  # fewer drops at a higher cost is a trade, not a win
    assert not point(1, 1.1, 50.0).dominates(aws)


def test_dominator_is_the_cheapest_winning_point_and_misses_are_listed() -> None:
    tf = TraceFrontier(
        "t",
        {
            "aws-target-tracking-cpu": [point(30, 0.2, 300.0), point(70, 2.0, 100.0)],
            CHALLENGER: [point(40, 0.1, 250.0), point(80, 0.15, 280.0)],
        },
    )
    winner = tf.dominator(tf.frontier["aws-target-tracking-cpu"][0])
    assert winner is not None and winner.setting == 40
    assert [(family, p.setting) for family, p in tf.undominated()] == [("aws-target-tracking-cpu", 70)]
    text = format_frontier([tf])
    assert "30 -> 40" in text and "70 -> NOT DOMINATED" in text and "1 of 2 AWS points dominated" in text


def test_families_follow_the_protocol() -> None:
    families = default_families()
    assert list(families) == [*AWS_FRONTIER, *CHALLENGERS]
    assert all(
        tuple(settings) == AWS_FRONTIER_SETTINGS
        for name, (_, settings) in families.items()
        if name not in CHALLENGERS
    )
    # BENCHMARK.md: Surgeguard's own knob over at most 7 settings it names; the default is one of them.
    assert len(HEADROOM_SETTINGS) <= 7 and Tuning().cpu_target in HEADROOM_SETTINGS


def test_the_lean_settings_give_up_the_headroom_for_bursts_and_most_of_the_noise() -> None:
    default = Tuning()
    assert tuning_at(default.cpu_target) == default
    assert tuning_at(85.0).bursts and tuning_at(85.0).noise_sigmas == default.noise_sigmas
    lean = tuning_at(LEAN_SETTING)
    assert (lean.cpu_target, lean.requests_target_fraction) == (LEAN_SETTING, LEAN_SETTING / 100)
    assert not lean.bursts and lean.noise_sigmas == LEAN_NOISE_SIGMAS < default.noise_sigmas
    # Where noise is most of the load, the cap on its share of the mean is what makes the setting lean.
    assert default.noise_max_share_of_mean is not None
    assert lean.noise_max_share_of_mean == LEAN_NOISE_MAX_SHARE_OF_MEAN < default.noise_max_share_of_mean
    uncapped = tuning_at(LEAN_SETTING, replace(default, noise_max_share_of_mean=None))
    assert uncapped.noise_max_share_of_mean == LEAN_NOISE_MAX_SHARE_OF_MEAN
    assert LEAN_SETTING in HEADROOM_SETTINGS
    # Judged not to pay, the noise headroom at either end of the knob leaves the setting itself as the
    # target (the ends buy or give up headroom by their target alone); the default's share in between,
    # rising in step with the setting toward each end.
    default_share = default.noise_target_share_if_unpaid
    assert default_share is not None and default_share < 1
    assert lean.noise_target_share_if_unpaid == ENDS_TARGET_SHARE_IF_UNPAID == 1.0
    shares = [tuning_at(s).noise_target_share_if_unpaid or 0 for s in HEADROOM_SETTINGS]
    assert shares[0] == shares[-1] == 1.0 and shares[3] == default_share
    assert shares[0] > shares[1] > shares[2] > shares[3] < shares[4] < shares[5] < shares[6]
    halfway = (default.cpu_target + LEAN_SETTING) / 2
    assert tuning_at(halfway).noise_target_share_if_unpaid == pytest.approx((default_share + 1.0) / 2)
    assert tuning_at(10.0).noise_target_share_if_unpaid == 1.0  # past an end: the end's
    unjudged = replace(default, noise_target_share_if_unpaid=None)
    assert tuning_at(LEAN_SETTING, unjudged).noise_target_share_if_unpaid is None
    # The reactive family stays reactive at every setting: lean never adds headroom.
    reactive = tuning_at(LEAN_SETTING, REACTIVE)
    assert reactive.noise_sigmas == 0 and not reactive.bursts


def test_which_settings_the_frontier_names_does_not_move_the_curve(monkeypatch: pytest.MonkeyPatch) -> None:
    # The knob's curve is one; the frontier samples it at up to 7 points (docs/benchmark-history.md,
    # "The knob's whole curve"). Re-placing those points must leave every point of the curve where it was.
    import gameday.surgeguard_policy as policy

    curve = {setting: tuning_at(setting) for setting in (18.0, 21.0, 26.0, 35.5, 50.0, 66.0, 80.0, 95.0)}
    monkeypatch.setattr(policy, "HEADROOM_SETTINGS", (18.0, 26.0, 35.5, 50.0, 70.0, 82.0, 95.0))
    assert {setting: tuning_at(setting) for setting in curve} == curve


def test_the_generous_settings_buy_noise_headroom_in_proportion_to_the_target() -> None:
    default = Tuning()
    generous = tuning_at(33.0)  # half the default's utilization: twice its headroom, noise included
    assert generous.noise_sigmas == pytest.approx(2 * default.noise_sigmas)
    assert default.noise_max_share_of_mean is not None
    assert generous.noise_max_share_of_mean == pytest.approx(2 * default.noise_max_share_of_mean)
    # Not the band (what counts as noise), and nothing above the default.
    assert generous.noise_band_sigmas == default.noise_band_sigmas
    assert tuning_at(70.0).noise_sigmas == default.noise_sigmas
    assert tuning_at(33.0, replace(default, noise_max_share_of_mean=None)).noise_max_share_of_mean is None
    assert tuning_at(33.0, REACTIVE).noise_sigmas == 0


def test_sweep_runs_each_setting_and_the_knob_moves_the_cost() -> None:
    trace = Trace.from_demand("wave", [100.0 + 80.0 * ((minute // 20) % 2) for minute in range(240)])
    families = {"aws-target-tracking-cpu": (target_tracking_cpu, (30.0, 70.0))}
    (tf,) = run_frontier([trace], families=families)
    low, high = tf.frontier["aws-target-tracking-cpu"]
    assert (low.setting, high.setting) == (30.0, 70.0)
    assert low.instance_hours > high.instance_hours  # a lower target holds more capacity


def test_json_has_the_shape_the_issue_gives() -> None:
    tf = TraceFrontier("t", {"aws-predictive+tt": [point(50, 0.5, 10.0)], CHALLENGER: [point(55, 0.1, 9.0)]})
    data = json.loads(json.dumps(frontier_json([tf])))
    (entry,) = data["traces"]
    assert entry["trace"] == "t"
    assert entry["frontier"]["aws-predictive+tt"] == [
        {"setting": 50, "dropped_pct": 0.5, "instance_hours": 10.0, "cost_vs_oracle": 1.0}
    ]
    assert entry["undominated"] == {CHALLENGER: []}


def test_cli_frontier_prints_tables_time_and_writes_json_and_png(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [100] * 40 + [300] * 20 + [100] * 40
    trace = tmp_path / "small.csv"
    trace.write_text(
        "minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8"
    )
    out, png = tmp_path / "frontier.json", tmp_path / "frontier.png"
    assert bench.main([str(trace), "--frontier", "--json", str(out), "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "dominance" in text and "s wall time" in text
    entry = json.loads(out.read_text(encoding="utf-8"))["traces"][0]
    assert set(entry["frontier"]) == {*AWS_FRONTIER, *CHALLENGERS}
    assert [p["setting"] for p in entry["frontier"][CHALLENGER]] == list(HEADROOM_SETTINGS)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_png_without_frontier_is_a_usage_error(tmp_path: Path) -> None:
    trace = tmp_path / "small.csv"
    trace.write_text("minute,requests\n0,100\n1,100\n", encoding="utf-8")
    with pytest.raises(SystemExit) as caught:
        bench.main([str(trace), "--png", str(tmp_path / "x.png")])
    assert caught.value.code == 2


def test_worker_processes_give_the_same_numbers() -> None:
    trace = Trace.from_demand("wave", [100.0 + 80.0 * ((minute // 20) % 2) for minute in range(180)])
    families = {"aws-target-tracking-cpu": (target_tracking_cpu, (30.0, 50.0, 70.0))}
    assert run_frontier([trace], families=families, jobs=2) == run_frontier([trace], families=families)


DOCS = Path(__file__).resolve().parents[3] / "docs"


@pytest.mark.parametrize(
    "name",
    [
        "frontier.json",
        "frontier-unseen.json",
        "frontier-fresh.json",
        "frontier-fb-ibm-ko.json",
        "frontier-more.json",
    ],
)
def test_the_published_frontiers_are_of_todays_knob_and_agree_with_their_points(name: str) -> None:
    """docs/ holds what the README quotes: it must be a sweep of the settings the code names (a change
    of `HEADROOM_SETTINGS` without a re-run fails here), and each stored undominated list must be what
    its own points say."""
    data = json.loads((DOCS / name).read_text(encoding="utf-8"))
    for entry in data["traces"]:
        families = entry["frontier"]
        for family in CHALLENGERS:
            assert [p["setting"] for p in families[family]] == list(HEADROOM_SETTINGS), (
                entry["trace"],
                family,
            )
        for family in AWS_FRONTIER:
            assert tuple(p["setting"] for p in families[family]) == AWS_FRONTIER_SETTINGS
        points = {
            family: [
                FrontierPoint(p["setting"], p["dropped_pct"], p["instance_hours"], p["cost_vs_oracle"])
                for p in pts
            ]
            for family, pts in families.items()
        }
        recomputed = TraceFrontier(entry["trace"], points).undominated()
        assert [[family, p.setting] for family, p in recomputed] == entry["undominated"][CHALLENGER]


def test_the_default_and_two_named_settings_are_anchored_to_aws_each_at_its_own_target() -> None:
    # Anchoring aims at target tracking's operating point; a setting named off the default asks for another:
    # its own where one pays, else none
    default = Tuning()
    assert default.noise_anchored and tuning_at(default.cpu_target).noise_anchor_target == 50.0
    assert {s: tuning_at(s).noise_anchor_target for s in (46.0, 95.0)} == {46.0: 40.0, 95.0: 70.0}
    assert all(tuning_at(s).noise_anchored for s in (46.0, 95.0))
    assert not any(tuning_at(s).noise_anchored for s in (21.0, 30.0, 70.0, 85.0))
    # AND the benchmark's config carries the target to the forecaster's judge
    config = benchmark_config(1, 100, 100.0, tuning_at(95.0))
    (group,) = config.groups
    assert group.noise_headroom.anchored and group.noise_headroom.anchor_target == 70.0
