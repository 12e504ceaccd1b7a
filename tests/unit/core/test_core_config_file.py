"""The config file read as written: what YAML 1.1 or a JSON object would silently change or drop is
refused with its line, and every value AWS would refuse at deploy (or never publish under) is refused
at load, naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from surgeguard.config import ConfigError, load_config, parse_config

from .core_builders import REQUESTS

SALE = """
      - name: {name}
        start: "2026-11-27T00:00"
        end: "2026-11-27T06:00"
        timezone: America/New_York
        peak_multiplier: 3
"""


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "surgeguard.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _group_yaml(extra: str = "", min_size: str = "2") -> str:
    return f"""
groups:
  - name: web
    min: {min_size}
    max: 40
    signals:
      - kind: cpu
        target: 50
{extra}"""


def test_a_second_events_key_is_refused_not_a_sale_dropped(tmp_path: Path) -> None:
    # GIVEN a group whose next sale was added under a second `events:` key lower down
    text = _group_yaml(
        "    events:" + SALE.format(name="black-friday") + "    events:" + SALE.format(name="cyber-monday")
    )
    # WHEN loading it THEN it is refused, naming the key and both lines, instead of keeping cyber-monday alone
    with pytest.raises(ConfigError, match=r"surgeguard.yaml line 15: key 'events' appears twice .*line 9"):
        load_config(_yaml(tmp_path, text))


def test_one_events_key_with_both_sales_loads(tmp_path: Path) -> None:
    text = _group_yaml("    events:" + SALE.format(name="black-friday") + SALE.format(name="cyber-monday"))
    config = load_config(_yaml(tmp_path, text))
    assert [event.name for event in config.groups[0].events] == ["black-friday", "cyber-monday"]


def test_a_repeated_groups_key_is_refused(tmp_path: Path) -> None:
    text = _group_yaml() + _group_yaml().replace("name: web", "name: api")
    with pytest.raises(ConfigError, match="key 'groups' appears twice"):
        load_config(_yaml(tmp_path, text))


def test_an_override_of_a_merged_key_is_no_repeat(tmp_path: Path) -> None:
    text = """
defaults: &defaults
  min: 2
  max: 40
  signals: [{kind: cpu, target: 50}]
groups:
  - <<: *defaults
    name: web
    max: 60
"""
    # `defaults` is no config field: the merge itself is what is under test, so read the data only
    from surgeguard.config_yaml import load_yaml

    assert load_yaml(text)["groups"][0]["max"] == 60


@pytest.mark.parametrize(
    ("written", "read_as"), [("050", "an octal number \\(40\\)"), ("1:30", "a base-60 number \\(90\\)")]
)
def test_a_number_yaml_1_1_reads_otherwise_is_refused(tmp_path: Path, written: str, read_as: str) -> None:
    # GIVEN min: 050 (octal 40 in YAML 1.1) or 1:30 (base 60: 90)
    with pytest.raises(ConfigError, match=f"line 4: '{written}' is read by YAML as {read_as}"):
        load_config(_yaml(tmp_path, _group_yaml(min_size=written)))


def test_a_base_60_float_is_refused_as_the_base_60_integer_is(tmp_path: Path) -> None:
    # YAML 1.1 reads 1:30.0 as 90.0 too: a CPU target of 1:30.0 loaded as 90 %
    extra = "        target: 1:30.0\n"
    text = _group_yaml().replace("        target: 50\n", extra)
    with pytest.raises(ConfigError, match=r"line 8: '1:30.0' is read by YAML as a base-60 number \(90.0\)"):
        load_config(_yaml(tmp_path, text))
    plain = _group_yaml().replace("        target: 50\n", "        target: 62.5\n")
    assert load_config(_yaml(tmp_path, plain)).groups[0].signals[0].target == 62.5


def test_a_quoted_or_plain_number_still_loads(tmp_path: Path) -> None:
    assert load_config(_yaml(tmp_path, _group_yaml(min_size="0"))).groups[0].min == 0
    assert load_config(_yaml(tmp_path, _group_yaml(min_size="12"))).groups[0].min == 12


def test_a_key_that_is_a_list_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    # The repeated-key check once met it first, and a TypeError escaped every command (exit 1, a traceback)
    with pytest.raises(ConfigError, match="line 2: a key that is a list or a mapping"):
        load_config(_yaml(tmp_path, "groups: []\n? [a, b]\n: 1\n"))


@pytest.mark.parametrize(("key", "read_as"), [("on", "True"), ("no", "False"), ("1", "1"), ("~", "None")])
def test_a_key_yaml_reads_as_no_text_is_refused_with_its_line(tmp_path: Path, key: str, read_as: str) -> None:
    # `on:` is YAML 1.1's true: the message said "groups[0][1]: Keys should be strings", a list index
    # and no line, for a key the file shows as text
    text = _group_yaml().replace("    min: 2\n", f"    min: 2\n    {key}: 3\n")
    with pytest.raises(ConfigError, match=f"line 5: key {key!r} is read by YAML as {read_as}, not text"):
        load_config(_yaml(tmp_path, text))


@pytest.mark.parametrize(
    ("name", "text"), [("surgeguard.yaml", "groups: "), ("surgeguard.json", '{"groups": ')]
)
def test_a_file_nested_past_pythons_recursion_is_a_config_error_not_a_crash(
    tmp_path: Path, name: str, text: str
) -> None:
    # 5,000 nested lists: the reader's RecursionError escaped every command as a traceback
    path = tmp_path / name
    path.write_text(text + "[" * 5000 + "]" * 5000 + ("}" if name.endswith(".json") else ""), "utf-8")
    with pytest.raises(ConfigError, match=f"{name} nests lists or mappings too deep to read"):
        load_config(path)


def test_merges_that_double_at_each_level_are_refused_before_they_fill_memory(tmp_path: Path) -> None:
    # Each level merges the one before twice: 30 such lines expand to 2**30 entries, more than memory
    # holds (21 took 3.6 s to read). 16 levels stand in for them here (65,536 entries, read before).
    levels = ["l0: &l0 {a: 1}"] + [f"l{i}: &l{i} {{<<: [*l{i - 1}, *l{i - 1}]}}" for i in range(1, 17)]
    with pytest.raises(ConfigError, match=r"line 11: a mapping of more than 1000 keys once its merges"):
        load_config(_yaml(tmp_path, "\n".join(levels) + "\n"))


def test_a_merged_mapping_that_overrides_its_own_merge_is_no_repeat(tmp_path: Path) -> None:
    from surgeguard.config_yaml import load_yaml

    text = """
base: &base {target: 50}
cpu: &cpu
  <<: *base
  target: 60
groups:
  - <<: *cpu
    kind: cpu
"""
    assert load_yaml(text)["groups"][0] == {"target": 60, "kind": "cpu"}


def test_a_repeated_json_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "surgeguard.json"
    path.write_text('{"groups": [], "groups": [{"name": "web"}]}', encoding="utf-8")
    with pytest.raises(ConfigError, match="surgeguard.json has key 'groups' twice"):
        load_config(path)


def _with_signal(signal: dict[str, Any]) -> dict[str, Any]:
    signals = [{"kind": "cpu", "target": 50}, signal]
    return {"groups": [{"name": "web", "min": 2, "max": 10, "signals": signals}]}


def _error(data: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, source="surgeguard.yaml")
    return str(raised.value)


def test_an_alb_arn_is_refused_naming_the_full_name() -> None:
    # GIVEN the load balancer's ARN pasted where CloudWatch's dimension (its full name) goes
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/shop-alb/50dc6c495c0c9188"
    message = _error(_with_signal({**REQUESTS, "load_balancer": arn}))
    # THEN the error gives the value to write instead
    assert "is an ARN; CloudWatch's dimension is the full name: 'app/shop-alb/50dc6c495c0c9188'" in message


def test_a_target_group_arn_is_refused_naming_the_full_name() -> None:
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/shop-web/73e2d6bc24d8a067"
    message = _error(_with_signal({**REQUESTS, "target_group": arn}))
    assert "full name: 'targetgroup/shop-web/73e2d6bc24d8a067'" in message


@pytest.mark.parametrize("bad", ["shop-alb", "app/shop-alb", "app/shop alb/50dc6c495c0c9188", "app/x/ZZ"])
def test_a_load_balancer_that_is_no_full_name_is_refused(bad: str) -> None:
    assert "is not a full name such as" in _error(_with_signal({**REQUESTS, "load_balancer": bad}))


@pytest.mark.parametrize(
    ("signal", "field"),
    [
        ({"kind": "cpu", "target": 60, "id": "agent", "namespace": ""}, "namespace"),
        ({"kind": "cpu", "target": 60, "id": "agent", "namespace": ":agent"}, "namespace"),
        ({"kind": "cpu", "target": 60, "id": "agent", "namespace": "A" * 256}, "namespace"),
        ({"kind": "cpu", "target": 60, "id": "agent", "metric_name": ""}, "metric_name"),
        ({"kind": "queue_backlog", "target": 10, "queue_name": "q" * 81}, "queue_name"),
        (
            {
                "kind": "queue_backlog",
                "target": 10,
                "queue_name": "https://sqs.us-east-1.amazonaws.com/1/orders",
            },
            "queue_name",
        ),
    ],
)
def test_names_cloudwatch_or_sqs_refuse_are_refused_at_load(signal: dict[str, Any], field: str) -> None:
    # CloudFormation would refuse these at deploy (or, for a queue URL, no datapoint is ever published)
    assert field in _error(_with_signal(signal))


def test_a_fifo_queue_name_loads() -> None:
    config = parse_config(_with_signal({"kind": "queue_backlog", "target": 10, "queue_name": "orders.fifo"}))
    assert config.groups[0].signals[1].queue_name == "orders.fifo"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "bad",
    [
        "oncall at example dot com",
        "ops@example.com;dev@example.com",
        "a@b, c@d.com",
        # a control character ("\0" in a double-quoted YAML string) is part of no address
        "ops\x00@example.com",
        "ops@example.com\x7f",
    ],
)
def test_a_notify_email_that_is_no_one_address_is_refused(bad: str) -> None:
    assert "notify_emails" in _error({"notify_emails": [bad], "groups": _with_signal(REQUESTS)["groups"]})
    group = {**_with_signal(REQUESTS)["groups"][0], "notify_emails": [bad]}
    assert "notify_emails" in _error({"groups": [group]})


def test_a_peak_too_large_to_count_is_a_config_error_not_a_crash() -> None:
    # GIVEN a tiny requests target under a huge declared peak (the ratio overflows to infinity)
    signal = {**REQUESTS, "target": 1e-100}
    sale = {
        "name": "bf",
        "start": "2026-11-27T00:00",
        "end": "2026-11-27T06:00",
        "timezone": "UTC",
        "peak_requests_per_minute": 1e300,
    }
    data = _with_signal(signal)
    data["groups"][0]["events"] = [sale]
    # THEN a ConfigError naming the event, not an OverflowError
    assert "needs more instances at the requests target, above the 10 allowed" in _error(data)


@pytest.mark.parametrize("name", ["web\tblue", "web\n", "web\x7f"])
def test_a_group_name_with_a_control_character_is_refused(name: str) -> None:
    # Auto Scaling takes it; CloudWatch refuses it in an alarm name, so the deploy once failed instead
    assert "holds an ASCII control character" in _error(
        {"groups": [{**_with_signal(REQUESTS)["groups"][0], "name": name}]}
    )


def test_a_non_ascii_group_name_is_refused_where_a_dimension_holds_it() -> None:
    # CPU alarms on AutoScalingGroupName, whose value CloudWatch takes in ASCII only
    group = {"name": "tienda-señal", "min": 1, "max": 4, "signals": [{"kind": "cpu", "target": 50}]}
    assert "is not ASCII, and CloudWatch dimension values are ASCII only: cpu" in _error({"groups": [group]})
    # ... an ALB signal alone, dimensioned by its target group, serves it
    alb_only = {**group, "signals": [REQUESTS]}
    assert parse_config({"groups": [alb_only]}).groups[0].name == "tienda-señal"


def test_a_forecaster_slower_than_its_horizon_is_refused() -> None:
    # Its floor lapsed between runs (1 hour in 4) and no alarm said so: runs kept arriving
    group = {**_with_signal(REQUESTS)["groups"][0], "forecast": {"every_minutes": 240, "horizon_hours": 1}}
    assert "every_minutes (240) is longer than the horizon (1 h)" in _error({"groups": [group]})
    group["forecast"] = {"every_minutes": 60, "horizon_hours": 1}
    assert parse_config({"groups": [group]}).groups[0].forecast is not None


def test_two_deployments_to_one_account_and_region_are_refused() -> None:
    # Each stage is the whole stack for the same groups: two in one account and region were two scalers
    # (alarms, Lambdas, audit tables) changing the same groups, each taking the other for an outside writer
    stages = [
        {"name": "blue", "account": "111111111111", "region": "us-east-1"},
        {"name": "green", "account": "111111111111", "region": "us-east-1"},
    ]
    data = {**_with_signal(REQUESTS), "deployments": stages}
    assert "deployments blue and green are both in account 111111111111, us-east-1" in _error(data)
    stages[1]["region"] = "eu-west-1"
    assert len(parse_config(data).deployments) == 2


@pytest.mark.parametrize(
    ("name", "taken_by"),
    [("*", "the kill switch of every group"), ("-", "triggers that name no known group")],
)
def test_a_group_named_as_a_key_the_audit_table_keeps_for_itself_is_refused(name: str, taken_by: str) -> None:
    # Auto Scaling takes both names; the table stores the global kill switch under "*" (so pausing the
    # group "*" paused every group) and the records of triggers naming no known group under "-"
    group = {**_with_signal(REQUESTS)["groups"][0], "name": name}
    assert f"name {name!r} is the audit table's key for {taken_by}" in _error({"groups": [group]})


@pytest.mark.parametrize(
    ("signal", "field"),
    [
        ({"kind": "cpu", "target": 1e-307}, "signals[1].cpu.target"),
        ({**REQUESTS, "target": 1e-200}, "signals[1].requests_per_target.target"),
        (
            {"kind": "queue_backlog", "queue_name": "jobs", "target": 5e-324},
            "signals[1].queue_backlog.target",
        ),
    ],
)
def test_a_target_below_cloudwatchs_smallest_value_is_refused(signal: dict[str, Any], field: str) -> None:
    # A reading over it overflowed to infinity, and every decision of the group crashed the Lambda
    # (OverflowError in math.ceil); CloudWatch holds no value that small either
    message = _error(_with_signal(signal))
    assert f"groups[0].{field}: Value error" in message
    assert "below CloudWatch's smallest value" in message


def test_a_requests_per_instance_below_cloudwatchs_smallest_value_is_refused() -> None:
    group = {**_with_signal(REQUESTS)["groups"][0], "requests_per_instance": 1e-300}
    assert "groups[0].requests_per_instance: Value error" in _error({"groups": [group]})


def _groups(count: int) -> list[dict[str, Any]]:
    return [
        {"name": f"shop-{i:04d}", "min": 1, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}
        for i in range(count)
    ]


@pytest.mark.parametrize(("groups", "reserved"), [(1, 20), (500, 20), (501, 21), (1000, 30)])
def test_the_default_reactive_reservation_grows_with_the_reevaluations_started_each_minute(
    groups: int, reserved: int
) -> None:
    # One re-evaluation per 50 groups starts every minute on the reactive function: at 1,000 groups the
    # 20 they took were every run of the default reservation, and alarm deliveries waited in the queue
    config = parse_config({"groups": _groups(groups)})
    assert config.reactive_reserved_concurrency == reserved


def test_a_reactive_reservation_the_reevaluations_could_fill_is_refused() -> None:
    message = _error({"groups": _groups(1000), "reserved_concurrency": {"reactive": 25}})
    assert "reserved_concurrency.reactive (25)" in message and "give at least 30" in message
    allowed = {"groups": _groups(1000), "reserved_concurrency": {"reactive": None, "sale": 5}}
    assert parse_config(allowed).reactive_reserved_concurrency is None
    assert parse_config({**allowed, "reserved_concurrency": {"sale": 5}}).reactive_reserved_concurrency == 30


@pytest.mark.parametrize("name", ['web"blue', "web\\blue"])
def test_a_group_name_a_composite_alarm_rule_cannot_quote_is_refused(name: str) -> None:
    # The composite's AlarmRule names each child as ALARM("<its ARN>"), the group's name inside; AWS
    # documents no escape, so a quote ended the string early and the deploy failed on the rule
    group = {
        "name": name,
        "min": 1,
        "max": 4,
        "signals": [{"kind": "cpu", "target": 50}, REQUESTS],
        "composites": [{"id": "busy", "all_of": ["cpu", "requests_per_target"]}],
    }
    assert "composite alarm rule quotes its alarms' names" in _error({"groups": [group]})
    # without a composite no rule quotes the name, and Auto Scaling allows it
    del group["composites"]
    assert parse_config({"groups": [group]}).groups[0].name == name
