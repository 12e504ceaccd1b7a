"""`surgeguard bench --frontier`: the sweep, the dominance rule, the table, the JSON shape and the PNG."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from gameday import bench
from gameday.baselines import (
    AWS_FRONTIER,
    AWS_FRONTIER_SETTINGS,
    PredictiveWithTargetTracking,
    target_tracking_cpu,
    target_tracking_hires,
    target_tracking_requests,
)
from gameday.frontier import (
    ANCHORS,
    AWS_DEFAULT_SETTING,
    CHALLENGER,
    CHALLENGER_DEFAULT_SETTING,
    CHALLENGERS,
    REFERENCES,
    FrontierPoint,
    TraceFrontier,
    default_families,
    format_frontier,
    frontier_json,
    judge_defaults,
    plot_frontier,
    run_frontier,
)
from gameday.goals import JUDGED_MINUTES, SHAPE_TEST, Verdict, judge
from gameday.surgeguard_policy import (
    ENDS_TARGET_SHARE_IF_UNPAID,
    HEADROOM_SETTINGS,
    LEAN_NOISE_MAX_SHARE_OF_MEAN,
    LEAN_NOISE_SIGMAS,
    LEAN_SETTING,
    REACTIVE,
    SETTING_FAMILIES,
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
    # The step anchor and the clairvoyant reference ran once each beside the sweep, and count among the
    # runs; the trace is a shape test.
    assert (
        set(entry["anchors"]) == {"aws-step-scaling"}
        and "setting" not in entry["anchors"]["aws-step-scaling"]
    )
    assert set(entry["references"]) == {CLAIRVOYANT} and entry["references"][CLAIRVOYANT]["dropped_pct"] == 0
    runs = len(AWS_FRONTIER) * len(AWS_FRONTIER_SETTINGS) + len(CHALLENGERS) * len(HEADROOM_SETTINGS) + 2
    assert f"frontier: {runs} runs on 1 trace(s)" in text
    assert entry["goals"] == [{"goal": "goals", "met": None, "detail": "a shape test: under a day long"}]


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
        "frontier-asg.json",
    ],
)
def test_the_published_frontiers_are_of_todays_knob_and_agree_with_their_points(name: str) -> None:
    """docs/ holds what the README quotes: it must be a sweep of the settings the code names (a change
    of `HEADROOM_SETTINGS` without a re-run fails here), and each stored undominated list must be what
    its own points say, and so must its goals, where the sweep judged them (step scaling, run beside the
    sweep since 2026-12-04, is one more AWS point)."""
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
        anchors, references = (
            {
                name: FrontierPoint(None, p["dropped_pct"], p["instance_hours"], p["cost_vs_oracle"])
                for name, p in entry.get(key, {}).items()
            }
            for key in ("anchors", "references")
        )
        recomputed = TraceFrontier(entry["trace"], points, anchors).undominated()
        assert [[family, p.setting] for family, p in recomputed] == entry["undominated"][CHALLENGER]
        if entry.get("goals") not in (None, [asdict(SHAPE_TEST)]):
            # Today's sweep runs clairvoyant beside it: a trace judged without it was judged before that.
            assert set(references) == set(REFERENCES), entry["trace"]
            judged = judge_defaults(points, anchors, JUDGED_MINUTES, references)
            assert [asdict(verdict) for verdict in judged] == entry["goals"], entry["trace"]


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


STEP = "aws-step-scaling"
CLAIRVOYANT = "clairvoyant"
MILESTONE_FAMILIES = ("aws-target-tracking-cpu", "aws-target-tracking-requests", "aws-target-tracking-hires")


def test_the_defaults_are_benchmarks_and_step_scaling_is_the_anchor_without_a_knob() -> None:
    # BENCHMARK.md: every AWS policy is judged at its default target, 50 %; Surgeguard at its own default.
    assert AWS_DEFAULT_SETTING == 50.0 and AWS_DEFAULT_SETTING in AWS_FRONTIER_SETTINGS
    assert CHALLENGER_DEFAULT_SETTING == bench.DEFAULT_SETTING == Tuning().cpu_target
    assert CHALLENGER_DEFAULT_SETTING in HEADROOM_SETTINGS
    assert list(ANCHORS) == [STEP] and STEP not in AWS_FRONTIER


def a_day() -> Trace:
    """A day of plateaus with a short burst every 4 hours: long enough for the goals to count."""
    return Trace.from_demand(
        "day",
        [
            200.0 + 150.0 * ((m // 90) % 3) + (400.0 if m % 240 in range(100, 110) else 0.0)
            for m in range(1440)
        ],
    )


def test_goals_at_the_defaults_are_the_plain_benchs_goals_on_the_same_runs() -> None:
    # GIVEN a day, every family the goals read at its default and one other setting, and the step anchor
    trace = a_day()
    families = {
        "aws-target-tracking-cpu": (target_tracking_cpu, (40.0, 50.0)),
        "aws-target-tracking-requests": (target_tracking_requests, (50.0,)),
        "aws-target-tracking-hires": (target_tracking_hires, (50.0, 60.0)),
        "aws-predictive+tt": (PredictiveWithTargetTracking, (50.0,)),
        CHALLENGER: (SETTING_FAMILIES[CHALLENGER], (46.0, 66.0)),
    }
    # WHEN the frontier runs, and the plain bench runs each policy at its default
    (tf,) = run_frontier([trace], families=families)
    (report,) = bench.run_bench([trace], [*families, STEP, CLAIRVOYANT])
    # THEN the anchor is the plain bench's step scaling run, and the goals are its goal lines, word for word
    step = report.policies[STEP]
    assert tf.anchors == {
        STEP: FrontierPoint(None, step.dropped_pct, step.instance_hours, step.cost_vs_oracle)
    }
    assert trace.minutes >= JUDGED_MINUTES
    assert [v.goal for v in tf.goals] == ["milestone", "box", "distance to clairvoyant", "frontier"]
    assert list(tf.goals[:3]) == judge(report.policies, trace.minutes)
    assert all(v.met is not None for v in tf.goals)
    # AND clairvoyant is the plain bench's, a reference beside the sweep and never an AWS point
    seer = report.policies[CLAIRVOYANT]
    assert tf.references == {
        CLAIRVOYANT: FrontierPoint(None, seer.dropped_pct, seer.instance_hours, seer.cost_vs_oracle)
    }
    # AND the frontier verdict counts the anchor among the AWS points: 6 swept and step scaling
    missed = tf.undominated()
    assert tf.goals[3].met is (not missed)
    assert tf.goals[3].detail.startswith(f"{7 - len(missed)} of 7 AWS points dominated")
    assert tf.goals == judge_defaults(tf.frontier, tf.anchors, trace.minutes, tf.references)


def hand_built(
    surgeguard: FrontierPoint, step: FrontierPoint
) -> tuple[dict[str, list[FrontierPoint]], dict[str, FrontierPoint]]:
    """Each milestone family at 30 and 50, predictive at 50, surgeguard at 30 (dominating the three
    at 30 and predictive) and at its default as given, and the step anchor as given."""
    frontier = {name: [point(30, 0.1, 300.0), point(50, 1.0, 100.0)] for name in MILESTONE_FAMILIES}
    frontier["aws-predictive+tt"] = [point(50, 0.5, 200.0)]
    frontier[CHALLENGER] = [point(30, 0.05, 200.0), surgeguard]
    return frontier, {STEP: step}


def test_an_undominated_step_anchor_fails_the_frontier_and_is_named() -> None:
    # GIVEN surgeguard dominating every swept AWS point but not step scaling, which drops less
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 0.01, 120.0, 12.0))
    # WHEN judged at the defaults on a day
    verdicts = {v.goal: v for v in judge_defaults(frontier, anchors, JUDGED_MINUTES)}
    # THEN the frontier is not met, the step anchor counted and named without a setting
    assert verdicts["frontier"] == Verdict("frontier", False, f"7 of 8 AWS points dominated; not: {STEP}")
    # AND the box, anchored on step's drops, fails too, while the milestone is met
    assert verdicts["box"].met is False and f"0.010 % ({STEP})" in verdicts["box"].detail
    assert verdicts["milestone"].met is True
    tf = TraceFrontier("t", frontier, anchors, list(verdicts.values()))
    assert [(family, p.setting) for family, p in tf.undominated()] == [(STEP, None)]


def test_an_undominated_swept_point_fails_the_frontier_with_its_setting() -> None:
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 2.0, 150.0, 15.0))
    frontier["aws-target-tracking-cpu"] = [point(30, 0.01, 280.0), point(50, 1.0, 100.0)]
    verdict = judge_defaults(frontier, anchors, JUDGED_MINUTES)[-1]
    assert verdict == Verdict(
        "frontier", False, "7 of 8 AWS points dominated; not: aws-target-tracking-cpu 30"
    )


def test_every_aws_point_dominated_meets_the_frontier() -> None:
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 2.0, 150.0, 15.0))
    verdicts = judge_defaults(frontier, anchors, JUDGED_MINUTES)
    assert verdicts[-1] == Verdict("frontier", True, "8 of 8 AWS points dominated")
    assert [v.met for v in verdicts] == [True, True, False, True]  # 90 h is not 60 % of predictive's 200


def test_a_cost_bound_even_clairvoyant_exceeds_is_noted_as_the_plain_bench_notes_it() -> None:
    # GIVEN surgeguard dropping less than every AWS default but costing more than the cheapest, TT at 50
    # (100 h, dropping 1 %), and clairvoyant, run beside the sweep, costing more than that bound too
    frontier, anchors = hand_built(point(66, 0.5, 110.0), FrontierPoint(None, 2.0, 150.0, 15.0))
    seer = {CLAIRVOYANT: FrontierPoint(None, 0.0, 105.0, 10.5)}
    # WHEN judged at the defaults with the reference, and without it
    noted = {v.goal: v for v in judge_defaults(frontier, anchors, JUDGED_MINUTES, seer)}
    bare = {v.goal: v for v in judge_defaults(frontier, anchors, JUDGED_MINUTES)}
    # THEN the milestone and the box say whose bound it is, what it drops, and what clairvoyant costs,
    # word for word as the plain bench says it on the same numbers
    note = (
        "; the cost bound is aws-target-tracking-cpu's, which drops 1.000 %, and even clairvoyant, "
        "knowing the next 4 minutes, costs 10.500x"
    )
    for goal in ("milestone", "box"):
        assert noted[goal].met is False and noted[goal].detail == bare[goal].detail + note
    plain = {name: points[-1] for name, points in frontier.items() if name != "aws-predictive+tt"}
    plain |= {"aws-predictive+tt": frontier["aws-predictive+tt"][0], **anchors, **seer}
    assert judge(plain, JUDGED_MINUTES) == list(noted.values())[:3]
    # AND a clairvoyant within the bound adds nothing: the bound was reachable
    within = {CLAIRVOYANT: FrontierPoint(None, 0.0, 95.0, 9.5)}
    assert judge_defaults(frontier, anchors, JUDGED_MINUTES, within) == list(bare.values())


def test_under_a_day_the_goals_are_a_shape_test_as_in_the_plain_bench() -> None:
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 0.01, 120.0, 12.0))
    verdicts = judge_defaults(frontier, anchors, JUDGED_MINUTES - 1)
    assert verdicts == [SHAPE_TEST] == judge({CHALLENGER: frontier[CHALLENGER][1]}, JUDGED_MINUTES - 1)


def test_a_default_setting_left_out_of_the_sweep_is_not_judged() -> None:
    # GIVEN TT-cpu swept without its default target, and surgeguard without its default setting
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 2.0, 150.0, 15.0))
    frontier["aws-target-tracking-cpu"] = [point(40, 1.0, 100.0)]
    # THEN the goals that need TT-cpu at 50 say so; the box and the frontier, which do not, are judged
    verdicts = {v.goal: v for v in judge_defaults(frontier, anchors, JUDGED_MINUTES)}
    assert verdicts["milestone"] == Verdict("milestone", None, "needs aws-target-tracking-cpu")
    assert verdicts["box"].met is None and verdicts["frontier"].met is True
    # AND without surgeguard at its default, no goal at the defaults is judged, the frontier still is
    frontier[CHALLENGER] = [point(46, 0.05, 50.0)]
    assert judge_defaults(frontier, anchors, JUDGED_MINUTES) == [
        Verdict("goals", None, f"needs {CHALLENGER} at setting {CHALLENGER_DEFAULT_SETTING:g}"),
        Verdict("frontier", True, "7 of 7 AWS points dominated"),
    ]


def test_the_anchor_and_the_goals_are_in_the_json_and_the_table() -> None:
    # GIVEN a hand-built frontier with its step anchor, judged on a day
    frontier, anchors = hand_built(point(66, 0.9, 90.0), FrontierPoint(None, 0.01, 120.0, 12.0))
    seer = {CLAIRVOYANT: FrontierPoint(None, 0.0, 60.0, 6.0)}
    tf = TraceFrontier("t", frontier, anchors, judge_defaults(frontier, anchors, JUDGED_MINUTES, seer), seer)
    # WHEN written as JSON (strict: an anchor's missing setting must not become NaN)
    entry = json.loads(json.dumps(frontier_json([tf]), allow_nan=False))["traces"][0]
    # THEN the anchor has its numbers and no setting, the frontier key is unchanged, and the goals are listed
    assert entry["anchors"] == {STEP: {"dropped_pct": 0.01, "instance_hours": 120.0, "cost_vs_oracle": 12.0}}
    assert entry["references"] == {
        CLAIRVOYANT: {"dropped_pct": 0.0, "instance_hours": 60.0, "cost_vs_oracle": 6.0}
    }
    assert entry["frontier"][CHALLENGER][1] == {
        "setting": 66,
        "dropped_pct": 0.9,
        "instance_hours": 90.0,
        "cost_vs_oracle": 9.0,
    }
    assert entry["undominated"][CHALLENGER] == [[STEP, None]]
    assert [(g["goal"], g["met"]) for g in entry["goals"]] == [
        ("milestone", True),
        ("box", False),
        ("distance to clairvoyant", False),
        ("frontier", False),
    ]
    assert entry["goals"][3]["detail"] == f"7 of 8 AWS points dominated; not: {STEP}"
    # AND the table has the anchor's line, its dominance, and the goal lines as the plain bench words them
    text = format_frontier([tf])
    assert f"  {STEP:<28}  0.010 / 12.000" in text
    assert f"  {STEP:<28}  no knob -> NOT DOMINATED" in text
    assert (
        f"  references, not AWS points (dropped_pct / cost_vs_oracle)\n  {CLAIRVOYANT:<28}  0.000 / 6.000"
        in text
    )
    assert f"{CHALLENGER}: 7 of 8 AWS points dominated" in text
    assert "  goals at the defaults (surgeguard 66, AWS at 50 %):\n    milestone: met (" in text
    assert f"    {tf.goals[1].line()}" in text and "    frontier: NOT MET (7 of 8" in text


def test_a_run_has_the_step_anchor_its_goals_and_a_plot_with_its_cross(tmp_path: Path) -> None:
    # GIVEN a short trace and one small family: the anchor runs beside it, on the same fleet
    trace = Trace.from_demand("wave", [100.0 + 80.0 * ((minute // 20) % 2) for minute in range(120)])
    families = {"aws-target-tracking-cpu": (target_tracking_cpu, (50.0,))}
    (tf,) = run_frontier([trace], families=families)
    (report,) = bench.run_bench([trace], [STEP])
    # THEN step scaling is there with the plain bench's numbers, and a shape test is all it judges
    assert tf.anchors[STEP].setting is None
    assert tf.anchors[STEP].instance_hours == report.policies[STEP].instance_hours
    assert tf.goals == [SHAPE_TEST]
    assert run_frontier([trace], families=families, anchors={})[0].anchors == {}
    # AND the plot draws it as one gray cross
    png = tmp_path / "frontier.png"
    plot_frontier([tf], png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
