"""The team's config file: the example loads, and every mistake is named by its field path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from surgeguard.config import (
    ConfigError,
    Direction,
    ScalerConfig,
    alarm_name,
    config_json,
    load_config,
    parse_config,
)

from .core_builders import REPO_ROOT, REQUESTS


def _config(**group_changes: Any) -> dict[str, Any]:
    group: dict[str, Any] = {"name": "web", "min": 2, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}
    group.update(group_changes)
    return {"groups": [group]}


def _error(data: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, source="surgeguard.yaml")
    return str(raised.value)


def test_the_example_config_loads() -> None:
    # GIVEN the example config at the repo root
    # WHEN loading it
    config = load_config(REPO_ROOT / "surgeguard.yaml")
    # THEN its groups, signals and policies are there, defaults filled in
    assert [g.name for g in config.groups] == ["shop-web", "shop-checkout"]
    web, checkout = config.groups
    assert [s.id for s in web.signals] == ["cpu", "requests_per_target"]
    assert web.scale_in.stabilization_seconds == 300
    assert checkout.gated_signal_ids() == {"latency", "backlog"}
    assert config.is_dry_run(checkout) and not config.is_dry_run(web)
    assert checkout.warmup_seconds == 240


def test_the_example_config_names_its_alarms_prefix_group_rule_direction() -> None:
    config = load_config(REPO_ROOT / "surgeguard.yaml")
    specs = {s.name: s for s in config.alarms("sg")}
    assert "sg/shop-web/cpu/out" in specs and "sg/shop-web/cpu/in" in specs
    busy = specs["sg/shop-checkout/latency-and-backlog/out"]
    assert busy.composite_of == ("sg/shop-checkout/latency/out", "sg/shop-checkout/backlog/out")
    # a gated signal's high alarm feeds its composite and notifies nobody
    assert not specs["sg/shop-checkout/latency/out"].notifies
    assert specs["sg/shop-checkout/latency/in"].notifies
    assert alarm_name("sg", "web", "cpu", Direction.IN) == "sg/web/cpu/in"


def test_the_bundled_json_round_trips(tmp_path: Path) -> None:
    config = load_config(REPO_ROOT / "surgeguard.yaml")
    bundled = tmp_path / "surgeguard_config.json"
    bundled.write_text(config_json(config), encoding="utf-8")
    assert load_config(bundled) == config


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config .*nope.yaml"):
        load_config(tmp_path / "nope.yaml")


def test_invalid_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("groups: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.yaml is not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (_config(max=0), "groups[0].max"),
        (_config(min=-1), "groups[0].min"),
        (_config(signals=[{"kind": "cpu", "target": 150}]), "groups[0].signals[0].cpu.target"),
        (_config(signals=[{"kind": "gpu", "target": 5}]), "groups[0].signals[0]"),
        (_config(scale_out={"period_seconds": 15}), "groups[0].scale_out.period_seconds"),
        (_config(scale_in={"max_step_percent": 0}), "groups[0].scale_in.max_step_percent"),
        (_config(warmup_seconds=7200), "groups[0].warmup_seconds"),
        (_config(colour="blue"), "groups[0].colour"),
        ({"groups": []}, "groups"),
        ({"groups": [_config()["groups"][0]], "audit_retention_days": 0}, "audit_retention_days"),
    ],
)
def test_errors_name_the_field_path(data: dict[str, Any], path: str) -> None:
    message = _error(data)
    assert message.startswith("surgeguard.yaml is invalid:")
    assert f"  {path}: " in message


def test_every_bad_field_is_listed_at_once() -> None:
    message = _error(_config(max=0, warmup_seconds=-1))
    assert "groups[0].max: " in message and "groups[0].warmup_seconds: " in message


def test_min_above_max() -> None:
    assert "groups[0]: Value error, min (5) is above max (3)" in _error(_config(min=5, max=3))


def test_datapoints_to_alarm_above_evaluation_periods() -> None:
    message = _error(_config(scale_in={"datapoints_to_alarm": 5, "evaluation_periods": 3}))
    assert (
        "groups[0].scale_in: Value error, datapoints_to_alarm (5) cannot exceed evaluation_periods (3)"
        in (message)
    )


def test_unknown_composite_member() -> None:
    message = _error(
        _config(
            signals=[{"kind": "cpu", "target": 50}, REQUESTS],
            composites=[{"id": "busy", "all_of": ["cpu", "latency"]}],
        )
    )
    assert "groups[0]: Value error, composite 'busy' names unknown signals ['latency']" in message


def test_composite_id_colliding_with_a_signal() -> None:
    message = _error(
        _config(
            signals=[{"kind": "cpu", "target": 50}, REQUESTS],
            composites=[{"id": "cpu", "all_of": ["cpu", "requests_per_target"]}],
        )
    )
    assert "collides with a signal id" in message


def test_duplicate_signal_ids() -> None:
    message = _error(_config(signals=[{"kind": "cpu", "target": 50}, {"kind": "cpu", "target": 60}]))
    assert "groups[0]: Value error, signal ids must be unique, repeated: ['cpu']" in message


def test_duplicate_group() -> None:
    group = _config()["groups"][0]
    message = _error({"groups": [group, dict(group)]})
    assert "(root): Value error, group names must be unique, repeated: ['web']" in message


@pytest.mark.parametrize("direction", ["scale_out", "scale_in"])
def test_ten_second_period_on_one_minute_ec2_cpu_is_rejected(direction: str) -> None:
    message = _error(_config(**{direction: {"period_seconds": 10}}))
    assert f"groups[0]: Value error, {direction}.period_seconds=10 needs high-resolution metrics" in message
    assert "['cpu']" in message and "CWAgent" in message


def test_ten_second_period_is_allowed_on_cwagent_cpu() -> None:
    config = parse_config(
        _config(
            monitoring="high_resolution",
            signals=[
                {"kind": "cpu", "target": 50, "namespace": "CWAgent", "metric_name": "cpu_usage_active"}
            ],
            scale_out={"period_seconds": 10, "datapoints_to_alarm": 3, "evaluation_periods": 6},
        )
    )
    assert isinstance(config, ScalerConfig)
    assert config.groups[0].scale_out.period_seconds == 10


def test_ten_second_period_is_rejected_when_any_signal_is_one_minute() -> None:
    message = _error(
        _config(
            signals=[{"kind": "cpu", "target": 50, "namespace": "CWAgent"}, REQUESTS],
            scale_out={"period_seconds": 10},
        )
    )
    assert "['requests_per_target']" in message


def test_signal_ids_default_to_their_kind() -> None:
    config = parse_config(_config(signals=[{"kind": "cpu", "target": 50}, REQUESTS]))
    assert [s.id for s in config.groups[0].signals] == ["cpu", "requests_per_target"]


def test_group_dry_run_overrides_the_global_one() -> None:
    config = parse_config({**_config(dry_run=False), "dry_run": True})
    assert not config.is_dry_run(config.groups[0])
    config = parse_config({**_config(), "dry_run": True})
    assert config.is_dry_run(config.groups[0])


def test_step_limit_combines_instances_and_percent() -> None:
    out = (
        parse_config(_config(scale_out={"max_step_instances": 3, "max_step_percent": 50})).groups[0].scale_out
    )
    assert out.step_limit(4) == 2  # 50% of 4
    assert out.step_limit(10) == 3  # 3 instances
    assert out.step_limit(0) == 1  # never below one instance
    unlimited = parse_config(_config(scale_out={})).groups[0].scale_out
    assert unlimited.step_limit(10) is None


def test_by_default_scale_out_takes_the_whole_need_and_scale_in_a_quarter() -> None:
    # A spike of 10-100x (tweets about a stock) met 3x per action was lost for minutes (README).
    group = parse_config(_config()).groups[0]
    assert group.scale_out.step_limit(4) is None and group.scale_out.datapoints_to_alarm == 1
    assert group.scale_in.step_limit(100) == 25 and group.scale_in.stabilization_seconds == 300


def test_config_json_is_plain_json() -> None:
    config = parse_config(_config())
    assert json.loads(config_json(config))["groups"][0]["name"] == "web"


def test_duplicate_composite_ids() -> None:
    # Two alarms of one name: the synth crashed with a construct-id traceback
    busy = {"id": "busy", "all_of": ["cpu", "requests_per_target"]}
    message = _error(_config(signals=[{"kind": "cpu", "target": 50}, REQUESTS], composites=[busy, busy]))
    assert "composite ids must be unique, repeated: ['busy']" in message


def test_a_composite_listing_one_signal_twice_is_refused() -> None:
    # ["cpu", "cpu"] passed the two-signal minimum: a composite of one alarm, scaling out on CPU alone
    # where "every listed signal at once" was asked (a typo for a second signal)
    busy = {"id": "busy", "all_of": ["cpu", "cpu"]}
    message = _error(_config(signals=[{"kind": "cpu", "target": 50}, REQUESTS], composites=[busy]))
    assert "composite 'busy' lists signals more than once: ['cpu']" in message


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_a_number_that_is_not_finite_is_refused(value: float) -> None:
    # `.inf` passed `gt=0`, then came out of the bundled config as null and failed every Lambda's start
    message = _error(_config(signals=[{"kind": "cpu", "target": 50}, {**REQUESTS, "target": value}]))
    assert "signals.1.requests_per_target.target" in message.replace("[", ".").replace("]", "")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min", False),
        ("max", True),
        ("warmup_seconds", False),
        ("signals", [{"kind": "cpu", "target": True}]),
    ],
)
def test_a_yaml_boolean_is_not_a_number(field: str, value: Any) -> None:
    # YAML reads no/yes/off/on as booleans; pydantic took them as 0 and 1 (`target: yes` a 1 % CPU target)
    assert "a number, not" in _error(_config(**{field: value}))


@pytest.mark.parametrize("zone", ["localtime", "posixrules", "right/UTC", "posix/America/New_York"])
def test_a_zone_the_lambdas_do_not_ship_is_refused(zone: str) -> None:
    # These exist in the build machine's zone files, not in the tzdata the Lambdas read: every start failed
    event = {
        "name": "sale",
        "start": "2027-03-01T10:00:00",
        "end": "2027-03-01T12:00:00",
        "timezone": zone,
        "peak_multiplier": 2,
    }
    assert f"unknown IANA time zone {zone!r}" in _error(_config(events=[event]))


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00", "9999-12-31T16:00:00"])
def test_a_sale_at_the_ends_of_time_is_refused(start: str) -> None:
    # Its plan's times left datetime's range: an OverflowError traceback at load or at synth
    end = start[:11] + "18:00:00" if start.startswith("9999") else "0001-01-01T02:00:00"
    event = {"name": "sale", "start": start, "end": end, "timezone": "Asia/Tokyo", "peak_multiplier": 2}
    assert "is not in a year a sale can be in" in _error(_config(events=[event]))


# DesiredCapacity and MaxSize are API Integers (32-bit): AWS documents no smaller cap on them for a group that
# weighs its instances, and a memory-mib group counts each instance as its MiB (16 GiB is 16,384 units).
API_INTEGER_MAX = 2**31 - 1


def _sale_raising_max_to(units: int) -> dict[str, object]:
    return {
        "name": "sale",
        "start": "2027-03-01T10:00:00",
        "end": "2027-03-01T12:00:00",
        "timezone": "Asia/Tokyo",
        "peak_multiplier": 2,
        "temporary_max": units,
    }


@pytest.mark.parametrize("units", [655_360, API_INTEGER_MAX])
def test_max_and_temporary_max_reach_what_a_memory_weighted_group_needs(units: int) -> None:
    # 40 instances of 16 GiB in a memory-mib group is 655,360 units: refused at 10,000 until 2026-12
    event = _sale_raising_max_to(units)
    group = parse_config(_config(min=16_384, max=units, events=[event])).groups[0]
    assert (group.max, group.events[0].temporary_max) == (units, units)


def test_max_and_temporary_max_past_the_api_integer_are_refused() -> None:
    event = _sale_raising_max_to(API_INTEGER_MAX + 1)
    message = _error(_config(max=API_INTEGER_MAX + 1, events=[event]))
    assert "groups[0].max: " in message and "groups[0].events[0].temporary_max: " in message
    assert f"less than or equal to {API_INTEGER_MAX}" in message


@pytest.mark.parametrize(("children", "refused"), [(100, False), (101, True)])
def test_a_composite_names_at_most_the_hundred_alarms_cloudwatch_allows(children: int, refused: bool) -> None:
    # PutCompositeAlarm: an AlarmRule "can specify as many as 100 children alarms"; 101 passed synth
    ids = [f"c{i}" for i in range(children)]
    signals = [{"kind": "cpu", "id": signal_id, "target": 50} for signal_id in ids]
    data = _config(signals=signals, composites=[{"id": "all", "all_of": ids}])
    if refused:
        assert "groups[0].composites[0].all_of: List should have at most 100 items" in _error(data)
    else:
        assert len(parse_config(data).groups[0].composites[0].all_of) == children
