"""Metrics that arrive: monitoring per group, the alarm shapes, missing data, alarm names that fit."""

from __future__ import annotations

from typing import Any

import pytest

from surgeguard.alarm_shape import (
    BASIC_MONITORING_PERIOD,
    TreatMissing,
    absent_value,
    alarm_shape,
    monitoring_warnings,
)
from surgeguard.config import ALARM_NAME_MAX, ConfigError, Direction, alarm_name, parse_config

from .core_builders import REQUESTS

LATENCY = {
    "id": "latency",
    "kind": "response_time",
    "percentile": "p99",
    "target": 0.8,
    "load_balancer": "app/web-alb/50dc6c495c0c9188",
    "target_group": "targetgroup/web/73e2d6bc24d8a067",
}
BACKLOG = {"id": "backlog", "kind": "queue_backlog", "queue_name": "orders", "target": 50}


def _group(**changes: Any) -> Any:
    group: dict[str, Any] = {"name": "web", "min": 1, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}
    group.update(changes)
    return parse_config({"groups": [group]}).groups[0]


def _error(**changes: Any) -> str:
    group: dict[str, Any] = {"name": "web", "min": 1, "max": 10, "signals": [{"kind": "cpu", "target": 50}]}
    group.update(changes)
    with pytest.raises(ConfigError) as raised:
        parse_config({"groups": [group]})
    return str(raised.value)


def test_monitoring_defaults_to_basic_the_launch_template_default() -> None:
    # A launch template enables detailed monitoring only with Monitoring.Enabled=true ("Otherwise,
    # basic monitoring is enabled": AWS::EC2::LaunchTemplate Monitoring), so basic is what a group has
    # unless the team changed it: the default that cannot leave an alarm unfilled.
    assert _group().monitoring == "basic"


@pytest.mark.parametrize(
    ("direction", "configured", "expected"),
    [
        # (period, N, M) configured -> (period, N, M) on 5-minute datapoints: the window never shrinks
        (Direction.OUT, {"datapoints_to_alarm": 1, "evaluation_periods": 1}, (300, 1, 1)),
        (Direction.IN, {"datapoints_to_alarm": 5, "evaluation_periods": 5}, (300, 1, 1)),
        (Direction.IN, {"datapoints_to_alarm": 8, "evaluation_periods": 10}, (300, 2, 2)),
        (Direction.IN, {"datapoints_to_alarm": 3, "evaluation_periods": 15}, (300, 3, 1)),
    ],
)
def test_basic_monitoring_reshapes_ec2_cpu_alarms_to_five_minutes(
    direction: Direction, configured: dict[str, int], expected: tuple[int, int, int]
) -> None:
    key = "scale_out" if direction is Direction.OUT else "scale_in"
    group = _group(**{key: configured})
    shape = alarm_shape(group, group.signals[0], direction, "Average")
    assert (shape.period_seconds, shape.evaluation_periods, shape.datapoints_to_alarm) == expected
    assert shape.period_seconds == BASIC_MONITORING_PERIOD


def test_detailed_monitoring_keeps_the_configured_minute_periods() -> None:
    group = _group(monitoring="detailed")
    shape = alarm_shape(group, group.signals[0], Direction.IN, "Average")
    assert (shape.period_seconds, shape.evaluation_periods, shape.datapoints_to_alarm) == (60, 5, 5)


def test_basic_monitoring_leaves_alb_and_sqs_signals_at_one_minute() -> None:
    group = _group(signals=[{"kind": "cpu", "target": 50}, REQUESTS, BACKLOG])
    for signal in group.signals[1:]:
        assert alarm_shape(group, signal, Direction.IN, "Sum").period_seconds == 60


def test_high_resolution_reads_the_agent_metric_by_default() -> None:
    group = _group(
        monitoring="high_resolution",
        scale_out={"period_seconds": 10, "datapoints_to_alarm": 3, "evaluation_periods": 6},
    )
    cpu = group.signals[0]
    assert (cpu.namespace, cpu.metric_name) == ("CWAgent", "cpu_usage_active")
    assert alarm_shape(group, cpu, Direction.OUT, "Average").period_seconds == 10


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {
                "scale_out": {"period_seconds": 10},
                "signals": [{"kind": "cpu", "target": 50, "namespace": "Custom", "metric_name": "cpu"}],
                "monitoring": "detailed",
            },
            "needs monitoring: high_resolution",
        ),
        (
            {
                "monitoring": "high_resolution",
                "signals": [{"kind": "cpu", "target": 50, "namespace": "AWS/EC2"}],
            },
            "EC2 never publishes below 60 s",
        ),
        (
            {
                "monitoring": "high_resolution",
                "signals": [
                    {"kind": "cpu", "target": 50, "namespace": "CWAgent", "metric_name": "CPUUtilization"}
                ],
            },
            "publishes CPU as cpu_usage_active",
        ),
        (
            {
                "signals": [
                    {"kind": "cpu", "target": 50, "namespace": "CWAgent", "metric_name": "cpu_usage_active"}
                ]
            },
            "monitoring basic describes EC2's 5-minute CPU",
        ),
        (
            {"signals": [{"kind": "cpu", "target": 50, "metric_name": "cpu_usage_active"}]},
            "AWS/EC2 publishes CPU as CPUUtilization",
        ),
    ],
)
def test_cpu_metric_and_monitoring_must_agree(changes: dict[str, Any], message: str) -> None:
    assert message in _error(**changes)


def test_missing_data_rules() -> None:
    group = _group(monitoring="detailed", signals=[{"kind": "cpu", "target": 50}, REQUESTS, LATENCY, BACKLOG])
    cpu, requests, latency, backlog = group.signals
    expected = {
        cpu: (TreatMissing.MISSING, TreatMissing.MISSING),
        requests: (TreatMissing.NOT_BREACHING, TreatMissing.BREACHING),
        latency: (TreatMissing.NOT_BREACHING, TreatMissing.BREACHING),
        backlog: (TreatMissing.NOT_BREACHING, TreatMissing.BREACHING),
    }
    for signal, (out, in_) in expected.items():
        assert alarm_shape(group, signal, Direction.OUT, "Sum").treat_missing_data is out
        assert alarm_shape(group, signal, Direction.IN, "Sum").treat_missing_data is in_
    # p99 ignores low-sample periods; a plain statistic has no such setting
    assert alarm_shape(group, latency, Direction.IN, "p99").evaluate_low_sample_count_percentile == "ignore"
    assert alarm_shape(group, cpu, Direction.IN, "Average").evaluate_low_sample_count_percentile is None
    # no ALB datapoint at all means no request flowed; a missing CPU or backlog stays unknown
    assert (absent_value(requests), absent_value(latency)) == (0.0, 0.0)
    assert (absent_value(cpu), absent_value(backlog)) == (None, None)


def test_warnings_name_basic_monitoring_and_metrics_collection() -> None:
    config = parse_config(
        {
            "groups": [
                {"name": "web", "min": 1, "max": 4, "signals": [{"kind": "cpu", "target": 50}]},
                {"name": "fast", "min": 1, "max": 4, "monitoring": "detailed", "signals": [REQUESTS]},
                {"name": "work", "min": 1, "max": 4, "monitoring": "detailed", "signals": [BACKLOG]},
            ]
        }
    )
    web, work = monitoring_warnings(config)
    assert web.startswith("web: monitoring basic") and "300 s" in web and "Monitoring.Enabled" in web
    assert work.startswith("work: ") and "enable-metrics-collection --auto-scaling-group-name work" in work
    assert "GroupInServiceInstances" in work


def test_alarm_names_fit_cloudwatch_for_the_longest_group_names() -> None:
    # AlarmName is 1 to 255 characters (botocore's CloudWatch model: AlarmName min 1, max 255);
    # an Auto Scaling group name may itself be 255 characters.
    prefix = "SurgeguardProduction"
    long_a = "a" * 250
    long_b = "a" * 249 + "b"  # the same first 249 characters
    names = {
        alarm_name(prefix, group, rule, direction)
        for group in (long_a, long_b)
        for rule in ("cpu", "requests_per_target", "x" * 40)
        for direction in Direction
    }
    assert len(names) == 12  # all distinct
    assert all(len(n) <= ALARM_NAME_MAX and n.startswith(f"{prefix}/") for n in names)
    assert all(n.endswith(("/out", "/in")) for n in names)
    # deterministic, and short names are untouched
    assert alarm_name(prefix, long_a, "cpu", Direction.OUT) == alarm_name(
        prefix, long_a, "cpu", Direction.OUT
    )
    assert alarm_name(prefix, "web", "cpu", Direction.IN) == f"{prefix}/web/cpu/in"


def test_a_long_group_name_maps_back_to_its_group() -> None:
    # The Lambda maps an alarm to its group through config.alarms(prefix), which names alarms with the
    # same function: a cut name still leads to the right group, rule and direction.
    long_name = "checkout-" + "x" * 246
    config = parse_config(
        {
            "groups": [
                {"name": long_name, "min": 1, "max": 4, "signals": [{"kind": "cpu", "target": 50}]},
                {
                    "name": long_name[:-1] + "y",
                    "min": 1,
                    "max": 4,
                    "signals": [{"kind": "cpu", "target": 50}],
                },
            ]
        }
    )
    specs = {spec.name: spec for spec in config.alarms("Surgeguard")}
    assert len(specs) == 4
    assert all(len(name) <= ALARM_NAME_MAX for name in specs)
    name = alarm_name("Surgeguard", long_name, "cpu", Direction.IN)
    assert (specs[name].group, specs[name].rule, specs[name].direction) == (long_name, "cpu", Direction.IN)
