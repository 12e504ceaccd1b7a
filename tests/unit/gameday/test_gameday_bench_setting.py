"""`surgeguard bench --setting` runs Surgeguard at one point of its frontier knob, and `--show-config`
prints the config a team deploys to run at that point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from gameday import bench
from gameday.engine import simulate
from gameday.fleet import DEFAULT_PARAMS, size_fleet
from gameday.surgeguard_policy import HEADROOM_SETTINGS, config_at, surgeguard_at, tuning_at
from gameday.traces import load_trace
from surgeguard.config import NOISE_SIGMAS_MAX, parse_config


def _numbers(path: Path, tmp_path: Path, *flags: str) -> tuple[dict[str, dict[str, float]], float]:
    out = tmp_path / "out.json"
    policies = ["--policy", "surgeguard", "--policy", "aws-target-tracking-cpu"]
    assert bench.main([str(path), *policies, "--json", str(out), *flags]) == 0
    numbers = json.loads(out.read_text(encoding="utf-8"))
    return numbers["traces"][0]["policies"], numbers["surgeguard_setting"]


def test_the_default_setting_is_what_runs_without_one(
    days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plain, plain_setting = _numbers(days, tmp_path)
    at_default, setting = _numbers(days, tmp_path, "--setting", "66")
    assert plain == at_default
    assert plain_setting == setting == 66.0


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_setting_runs_that_point_of_the_knob_in_every_worker(
    days: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    default, _ = _numbers(days, tmp_path)
    generous, setting = _numbers(days, tmp_path, "--setting", "46", "--jobs", jobs)
    trace = load_trace(days)
    direct = simulate(trace, surgeguard_at(46.0)).metrics
    assert setting == 46.0
    assert generous["surgeguard"]["instance_hours"] == pytest.approx(direct.instance_hours, abs=1e-9)
    assert generous["surgeguard"]["dropped_pct"] == pytest.approx(direct.dropped_pct, abs=1e-12)
    # A lower target holds more instances; the AWS policy has no knob here and is left alone.
    assert generous["surgeguard"]["instance_hours"] > default["surgeguard"]["instance_hours"]
    assert generous["aws-target-tracking-cpu"] == default["aws-target-tracking-cpu"]
    assert "at headroom setting 46 (the default is 66" in capsys.readouterr().out


def test_show_config_prints_a_deployable_config_of_that_point_and_runs_nothing(
    days: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([str(days), "--show-config", "--setting", "46"]) == 0
    text = capsys.readouterr().out
    assert "dropped_pct" not in text and "wall time" not in text
    config = parse_config(yaml.safe_load(text), source="--show-config")
    sizing = size_fleet(load_trace(days), DEFAULT_PARAMS)
    assert config == config_at(46.0, sizing.min_size, sizing.max_size, sizing.capacity_per_instance)
    group = config.groups[0]
    assert [s.target for s in group.signals] == [46.0, pytest.approx(0.46 * sizing.capacity_per_instance)]
    assert group.requests_per_instance == sizing.capacity_per_instance


def test_show_config_without_a_setting_prints_the_default(
    days: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main([str(days), "--show-config"]) == 0
    config = parse_config(yaml.safe_load(capsys.readouterr().out), source="--show-config")
    assert config.groups[0].signals[0].target == 66.0


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        # The setting is the CPU target, which the schema keeps below 100 %.
        (["--setting", "100"], "setting 100 maps to a config the schema refuses (CpuSignal.target"),
        (["--setting", "0"], "must be a finite number > 0"),
        (["--setting", "46", "--frontier"], "--frontier sweeps the settings itself"),
        (["--show-config", "--frontier"], "--frontier sweeps the settings itself"),
        # --show-config runs nothing: these were accepted and did nothing (no JSON written, no pool in
        # the config printed)
        (["--show-config", "--json", "out.json"], "--show-config prints a config and runs nothing: --json"),
        (["--show-config", "--warm-pool"], "--show-config prints a config and runs nothing: --warm-pool"),
    ],
)
def test_a_setting_that_cannot_apply_is_a_usage_error(
    days: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        bench.main([str(days), *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_below_where_the_noise_headroom_reaches_the_schemas_most_only_the_target_falls() -> None:
    # 3 sigmas grow as 66 / setting below the default: 10 at 19.8. Below it the setting stays a valid
    # config (it was refused before), and the frontier's own settings are untouched.
    assert tuning_at(21.0).noise_sigmas == pytest.approx(3 * 66 / 21)
    assert min(HEADROOM_SETTINGS) * NOISE_SIGMAS_MAX > 3 * 66
    for setting in (19.8, 18.0, 10.0, 1.0):
        tuning = tuning_at(setting)
        assert tuning.noise_sigmas == pytest.approx(NOISE_SIGMAS_MAX)
        assert tuning.cpu_target == setting
        config = config_at(setting, 2, 10, 1.0)
        assert config.groups[0].noise_headroom.sigmas == pytest.approx(NOISE_SIGMAS_MAX)
