"""`surgeguard bench`: arguments, registry, text and JSON output."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from gameday import baselines, bench
from gameday.baselines import POLICIES, register_policy, target_tracking_cpu
from gameday.engine import PolicyContext, PolicyView
from gameday.fleet import FleetParams


def small_trace(tmp_path: Path) -> Path:
    rows = [100] * 30 + [400] * 30 + [100] * 30
    path = tmp_path / "small.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    return path


def test_parse_event() -> None:
    event = bench.parse_event("2026-11-27T00:00-05:00,240,4")
    assert event.start == datetime(2026, 11, 27, tzinfo=timezone(timedelta(hours=-5)))
    assert (event.duration_minutes, event.peak_multiplier) == (240, 4.0)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("2026-11-27T00:00-05:00,240", "3 fields"),
        ("2026-11-27T00:00-05:00,240,4,1", "3 fields"),
        ("2026-11-27T00:00,240,4", "UTC offset"),
        ("tomorrow,240,4", "ISO 8601"),
        ("2026-11-27T00:00Z,4.5,4", "integer"),
        ("2026-11-27T00:00Z,0,4", "> 0"),
        ("2026-11-27T00:00Z,60,x", "number"),
        ("2026-11-27T00:00Z,60,-2", "> 0"),
        ("2026-11-27T00:00Z,60,nan", "> 0"),
        # Surgeguard's own config refuses these: they once crashed its policy after the others had run
        ("2026-11-27T00:00Z,60,150", "<= 100"),
        ("1900-01-01T00:00Z,60,2", "years 1970-2999"),
    ],
)
def test_parse_event_is_strict(text: str, fragment: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=fragment):
        bench.parse_event(text)


def test_an_event_in_a_trace_of_1995_runs_through_surgeguard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # nasa-aug95 at its real date: Surgeguard's sale config once refused a year before 2000, a traceback
    args = [
        "--policy",
        "surgeguard",
        "--start",
        "1995-08-01T00:00-04:00",
        "--event",
        "1995-08-01T01:00-04:00,30,2",
    ]
    assert bench.main([str(small_trace(tmp_path)), *args]) == 0
    assert "surgeguard" in capsys.readouterr().out


def test_bad_event_exits_with_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        bench.main([str(small_trace(tmp_path)), "--event", "2026-11-27,3"])
    assert caught.value.code == 2
    assert "--event" in capsys.readouterr().err


def test_runs_every_baseline_and_writes_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    assert bench.main([str(small_trace(tmp_path)), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "fleet model: pending 2 min, warming 2 min" in text
    assert "c = 20 req/min per instance" in text
    document = json.loads(out.read_text(encoding="utf-8"))
    [entry] = document["traces"]
    assert entry["trace"] == "small"
    assert list(entry["policies"]) == list(POLICIES)
    assert set(entry["policies"]["seed-rule"]) == {
        "dropped_pct",
        "overload_minutes",
        "instance_hours",
        "cost_vs_oracle",
        "actions",
    }
    assert entry["policies"]["oracle"]["cost_vs_oracle"] == 1.0


def test_policy_filter_and_fleet_flags(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(small_trace(tmp_path)), "--policy", "seed-rule", "--pending-minutes", "3", "--min-size", "1"]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "seed-rule" in text and "aws-step-scaling" not in text
    assert "pending 3 min" in text and "min size 1" in text


def test_a_metric_export_is_benched_as_it_is(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A CloudWatch-style export (5-minute sums, one period missing), judged with the same command; the
    # missing period is a gap: left out of the metrics, so the same minutes as the rows hold
    start = datetime(2014, 4, 10, 0, 4)
    sums = [500, 500, 2000, 2000, 500, 500] * 3
    rows = [(start + timedelta(minutes=5 * i), value) for i, value in enumerate(sums) if i != 7]
    path = tmp_path / "elb.csv"
    path.write_text(
        "timestamp,value,label\n" + "".join(f"{when:%Y-%m-%d %H:%M:%S},{value},0\n" for when, value in rows),
        encoding="utf-8",
    )
    out = tmp_path / "elb.json"
    assert bench.main([str(path), "--policy", "aws-target-tracking-cpu", "--json", str(out)]) == 0
    assert "elb: 90 minutes (5 in gaps, left out)" in capsys.readouterr().out
    assert json.loads(out.read_text())["traces"][0]["trace"] == "elb"


def test_unknown_policy_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        bench.main([str(small_trace(tmp_path)), "--policy", "nope"])
    assert "known: oracle" in capsys.readouterr().err


def test_malformed_trace_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("minute,requests\n0,1\n1,oops\n", encoding="utf-8")
    assert bench.main([str(bad)]) == 2
    assert "bad.csv:3:" in capsys.readouterr().err


class EventAware:
    """Stands in for the project's policy: target tracking, plus what it was told."""

    name = "surgeguard"

    def __init__(self) -> None:
        self.inner = target_tracking_cpu()
        self.events_seen: int = 0

    def reset(self, ctx: PolicyContext) -> None:
        self.inner.reset(ctx)
        EventAware.last_context = ctx

    def decide(self, view: PolicyView) -> int | None:
        return self.inner.decide(view)

    last_context: PolicyContext | None = None


def test_registered_policy_runs_gets_events_and_ratios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real Surgeguard policy registers itself on import; this test registers a stand-in.
    monkeypatch.setattr(baselines, "POLICIES", {k: v for k, v in POLICIES.items() if k != "surgeguard"})
    monkeypatch.setattr(bench, "POLICIES", baselines.POLICIES)
    register_policy("surgeguard", EventAware)
    with pytest.raises(ValueError):
        register_policy("surgeguard", EventAware)
    argv = [
        str(small_trace(tmp_path)),
        "--start",
        "2026-11-27T00:00-05:00",
        "--event",
        "2026-11-27T00:30-05:00,30,4",
    ]
    assert bench.main(argv) == 0
    text = capsys.readouterr().out
    assert "surgeguard / policy" in text
    assert "aws-target-tracking-cpu" in text.split("surgeguard / policy")[1]
    ctx = EventAware.last_context
    assert ctx is not None and len(ctx.events) == 1
    assert ctx.minute_of(ctx.events[0].start) == 30.0
    assert ctx.params == FleetParams()


def test_compare_picks_the_policy_whose_ratios_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([str(small_trace(tmp_path)), "--compare", "clairvoyant"]) == 0
    footer = capsys.readouterr().out.split("clairvoyant / policy:")[1]
    assert "aws-step-scaling" in footer and "seed-rule" in footer


def test_the_report_ends_with_the_wall_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(small_trace(tmp_path)), "--policy", "aws-target-tracking-cpu", "--policy", "oracle"]
    assert bench.main(argv) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("2 policies on 1 trace(s), 180 simulated minutes: ") and last.endswith(
        " s wall time"
    )


def test_worker_processes_give_the_same_report_as_one_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Three days: long enough for Surgeguard's forecaster to run (and report its error) in each worker.
    minutes = 3 * 1440
    rows = [200 + 150 * ((m // 90) % 3) + (400 if m % 1440 in range(600, 615) else 0) for m in range(minutes)]
    path = tmp_path / "days.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    policies = ["--policy", "surgeguard", "--policy", "aws-target-tracking-cpu", "--policy", "oracle"]
    outputs = []
    for jobs in ("1", "2"):
        assert bench.main([str(path), str(small_trace(tmp_path)), *policies, "--jobs", jobs]) == 0
        text = capsys.readouterr().out
        assert text.rstrip().endswith(" s wall time")
        outputs.append(text.rstrip().rsplit("\n", 1)[0])  # all but the wall time
    assert outputs[0] == outputs[1]
    assert "surgeguard" in outputs[0] and "days" in outputs[0] and "small" in outputs[0]


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--compare", "nosuch"], "--compare nosuch: unknown policy"),  # the ratio tables just vanished
        (["--frontier", "--policy", "aws-target-tracking-cpu"], "--frontier sweeps every family"),
        (["--json", "/no/such/folder/out.json"], "--json /no/such/folder/out.json: its folder"),
        # A folder, or a picture format matplotlib cannot write, once failed after the whole sweep
        (["--json", "{tmp}"], "is a folder"),
        (["--frontier", "--json", "{tmp}"], "is a folder"),
        (["--frontier", "--png", "{tmp}/frontier.xyz"], "--png {tmp}/frontier.xyz: name a file ending in"),
        # Accepted and silently ignored: --setting moves only the surgeguard families
        (["--setting", "46", "--policy", "aws-target-tracking-cpu"], "--policy runs neither"),
        # Overflowed the calendar: tracebacks, the second after the run had begun
        (["--event", "2026-11-27T00:00-05:00,99999999999,4"], "past the calendar's end"),
    ],
)
def test_a_flag_that_would_be_ignored_or_fail_after_the_run_is_refused_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    # An unwritable --json once crashed with a traceback after the whole run, its numbers lost
    flags = [flag.replace("{tmp}", str(tmp_path)) for flag in flags]
    with pytest.raises(SystemExit) as caught:
        bench.main([str(small_trace(tmp_path)), *flags])
    assert caught.value.code == 2
    assert said.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("rows", "flags", "said"),
    [
        # c overflowed to inf (the median of two huge values): a pydantic traceback from surgeguard
        ([1e308] * 10, [], "no fleet fits it"),
        ([100] * 10, ["--capacity-divisor", "1e308"], "no fleet fits it"),
        ([100] * 10, ["--start", "9999-12-31T23:55+00:00"], "past the calendar's end"),
    ],
)
def test_values_past_the_floats_or_the_calendars_limits_are_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rows: list[float], flags: list[str], said: str
) -> None:
    path = tmp_path / "edge.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    assert bench.main([str(path), "--policy", "aws-target-tracking-cpu", *flags]) == 2
    assert said in capsys.readouterr().err


def test_the_frontier_warns_of_an_event_outside_the_replay_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import gameday.frontier

    monkeypatch.setattr(gameday.frontier, "frontier_main", lambda *args, **kwargs: 0)
    assert bench.main([str(small_trace(tmp_path)), "--frontier", "--event", "2030-01-01T00:00Z,60,4"]) == 0
    assert "lies outside small's replay" in capsys.readouterr().err


def test_goals_judged_for_another_policy_name_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # --compare oracle once printed "milestone: met" with no word that it was the oracle's, not surgeguard's
    minutes = 1440
    rows = [200 + (400 if m % 360 in range(100, 130) else 0) for m in range(minutes)]
    path = tmp_path / "day.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    anchors = [f"--policy={name}" for name in ("aws-target-tracking-cpu", "aws-target-tracking-requests")]
    assert (
        bench.main(
            [str(path), *anchors, "--policy=aws-target-tracking-hires", "--policy=oracle", "--compare=oracle"]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "  oracle: milestone: met" in out and "\n  milestone:" not in out


def test_an_event_outside_the_replay_is_said_not_silently_ignored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A trace stamped 2024 replays from the default start, 2026-11-27: an event in the file's own time was
    # given to no policy, without a word
    policy = ["--policy", "aws-target-tracking-cpu"]
    assert bench.main([str(small_trace(tmp_path)), *policy, "--event", "2024-01-01T12:00Z,60,5"]) == 0
    assert "lies outside small's replay" in capsys.readouterr().err


def _flat_trace(tmp_path: Path, requests: str) -> Path:
    path = tmp_path / "flat.csv"
    path.write_text("minute,requests\n" + "".join(f"{i},{requests}\n" for i in range(30)), encoding="utf-8")
    return path


@pytest.mark.parametrize("requests", ["1e12", "1e-300"])
@pytest.mark.parametrize(
    "flags", [["--policy", "surgeguard"], ["--frontier"], ["--show-config"], ["--setting", "46"]]
)
def test_a_trace_beyond_what_surgeguards_config_holds_is_refused_in_one_line(
    requests: str, flags: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A median of 1e12 requests a minute gives c = 2e11 per instance, past requests_per_instance's
    # 1e9; 1e-300 a requests target below CloudWatch's smallest value. Both died with a pydantic
    # traceback in the first surgeguard run (or while printing the config).
    assert bench.main([str(_flat_trace(tmp_path, requests)), *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("surgeguard bench: error: trace 'flat' sizes a group beyond")
    assert err.count("\n") == 1


def test_a_spike_that_sizes_the_group_past_its_max_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A minute of 1e11 among minutes of 100 sizes a group up to 7.5e9 instances: past the config's
    # 2,147,483,647, MaxSize's API Integer (the message once blamed c, 20, which is fine). Until 2026-12-06
    # the config stopped at 10,000, and a minute of 1e6 (75,000 instances) was enough.
    path = tmp_path / "spike.csv"
    rows = [100] * 30 + [100_000_000_000] + [100] * 29
    path.write_text("minute,requests\n" + "".join(f"{i},{r}\n" for i, r in enumerate(rows)), encoding="utf-8")
    assert bench.main([str(path), "--policy", "surgeguard"]) == 2
    err = capsys.readouterr().err
    assert "2..7,500,000,000 instances" in err and "GroupConfig.max" in err


def test_a_trace_beyond_surgeguards_config_still_runs_the_aws_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only Surgeguard's config has those bounds: the AWS policies' numbers are still the trace's.
    assert bench.main([str(_flat_trace(tmp_path, "1e12")), "--policy", "aws-target-tracking-cpu"]) == 0


def test_the_game_day_refuses_a_trace_beyond_surgeguards_config_before_starting_aws(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It printed the fleet, started moto, and died in the deploy with a pydantic traceback.
    from gameday import demo

    assert demo.main(["--trace", str(_flat_trace(tmp_path, "1e12"))]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("surgeguard gameday: error: trace 'flat' sizes a group beyond")
    assert captured.err.count("\n") == 1 and "moto" not in captured.out


def test_the_game_day_refuses_a_start_whose_replay_ends_past_the_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It deployed onto moto and died in the replay with an OverflowError traceback.
    from gameday import demo

    argv = ["--trace", str(small_trace(tmp_path)), "--start", "9999-12-31T23:00Z"]
    assert demo.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("surgeguard gameday: error: --start 9999-12-31T23:00:00+00:00: small's")
    assert captured.err.count("\n") == 1 and "moto" not in captured.out


@pytest.mark.parametrize(
    ("flag", "where", "fragment"),
    [
        ("--json", "missing/gd.json", "its folder does not exist or cannot be written"),
        ("--json", ".", "is a folder"),
        ("--out", "small.csv", "cannot be made a folder"),
    ],
)
def test_the_game_day_refuses_an_output_it_cannot_write_before_starting_aws(
    flag: str, where: str, fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --out naming a file died with FileExistsError once the stack was deployed; --json in a missing
    # folder with FileNotFoundError after the whole replay, its numbers lost.
    from gameday import demo

    argv = ["--trace", str(small_trace(tmp_path)), flag, str(tmp_path / where)]
    assert demo.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"surgeguard gameday: error: {flag} ") and fragment in captured.err
    assert captured.err.count("\n") == 1 and "moto" not in captured.out
