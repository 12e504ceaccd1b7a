"""One CloudWatch alarm per AlarmSpec, shaped by signal_metric, alarm_threshold and the direction policy."""

from __future__ import annotations

from typing import Any

import pytest
from synth_support import STACK_NAME, Synth

from surgeguard.config import AlarmSpec, Direction, GroupConfig, ScalerConfig
from surgeguard.signals import alarm_threshold, signal_metric

PERCENTILE_PREFIXES = ("p", "tm", "tc", "ts", "wm", "iqm", "pr")


def _alarms_by_name(synth: Synth) -> dict[str, dict[str, Any]]:
    alarms = {}
    for type_name, name_prop in (
        ("AWS::CloudWatch::Alarm", "AlarmName"),
        ("AWS::CloudWatch::CompositeAlarm", "AlarmName"),
    ):
        for logical_id, resource in synth.of_type(type_name).items():
            name = resource["Properties"][name_prop]
            if name.startswith(f"{STACK_NAME}/watch/"):
                continue  # the stack watching itself (test_monitoring.py), not a scaling alarm
            alarms[name] = {"id": logical_id, **resource}
    return alarms


def _specs(config: ScalerConfig) -> list[AlarmSpec]:
    return list(config.alarms(STACK_NAME))


def _stat_fields(statistic: str) -> dict[str, str]:
    if statistic[0] == "p" and statistic[1:].replace(".", "").isdigit():
        return {"ExtendedStatistic": statistic}
    return {"Statistic": statistic}


def _policy(group: GroupConfig, direction: Direction) -> Any:
    return group.scale_out if direction is Direction.OUT else group.scale_in


def test_exactly_one_alarm_per_spec_named_by_the_spec(synth: Synth, config: ScalerConfig) -> None:
    names = [spec.name for spec in _specs(config)]
    alarms = _alarms_by_name(synth)
    assert sorted(alarms) == sorted(names)
    watch = [
        r for r in synth.of_type("AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"].startswith(f"{STACK_NAME}/watch/")
    ]
    assert len(synth.of_type("AWS::CloudWatch::Alarm")) + len(
        synth.of_type("AWS::CloudWatch::CompositeAlarm")
    ) == len(names) + len(watch)
    assert all(name.startswith(f"{STACK_NAME}/") for name in names)


def test_metric_alarms_match_signal_threshold_period_and_m_of_n(synth: Synth, config: ScalerConfig) -> None:
    alarms = _alarms_by_name(synth)
    checked = 0
    for spec in _specs(config):
        if spec.composite_of:
            continue
        group = config.group(spec.group)
        assert group is not None
        signal = group.signal(spec.rule)
        assert signal is not None
        policy = _policy(group, spec.direction)
        metric = signal_metric(group, signal)
        props = alarms[spec.name]["Properties"]

        assert props["Threshold"] == pytest.approx(alarm_threshold(signal, spec.direction))
        assert props["ComparisonOperator"] == (
            "GreaterThanThreshold" if spec.direction is Direction.OUT else "LessThanThreshold"
        )
        assert props["EvaluationPeriods"] == policy.evaluation_periods
        assert props["DatapointsToAlarm"] == policy.datapoints_to_alarm
        assert props["TreatMissingData"] == "missing"

        if metric.expression is None:
            (stat,) = metric.stats
            assert props["Namespace"] == stat.namespace
            assert props["MetricName"] == stat.metric_name
            assert props["Dimensions"] == [{"Name": n, "Value": v} for n, v in stat.dimensions]
            assert props["Period"] == policy.period_seconds
            for field, value in _stat_fields(stat.statistic).items():
                assert props[field] == value
        else:
            queries = {q["Id"]: q for q in props["Metrics"]}
            (expression,) = [q for q in props["Metrics"] if "Expression" in q]
            assert expression["Expression"] == metric.expression
            assert expression["ReturnData"] is True
            for stat in metric.stats:
                query = queries[stat.id]
                assert query["ReturnData"] is False
                assert query["MetricStat"] == {
                    "Metric": {
                        "Namespace": stat.namespace,
                        "MetricName": stat.metric_name,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in stat.dimensions],
                    },
                    "Period": policy.period_seconds,
                    "Stat": stat.statistic,
                }
        checked += 1
    assert checked >= 10  # the example config: 2 + 3 signals, both directions


def test_only_notifying_alarms_act_and_only_on_alarm(synth: Synth, config: ScalerConfig) -> None:
    signals = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard alarm signals")
    alarms = _alarms_by_name(synth)
    silent = 0
    for spec in _specs(config):
        props = alarms[spec.name]["Properties"]
        # The Lambda re-arms alarms by setting them to OK: an OK action would fire on every re-arm.
        assert "OKActions" not in props
        assert "InsufficientDataActions" not in props
        if spec.notifies:
            assert props["AlarmActions"] == [{"Ref": signals}], spec.name
        else:
            assert not props.get("AlarmActions"), spec.name
            silent += 1
    assert silent == 2  # latency/out and backlog/out only feed the composite


def test_composite_alarm_requires_all_of_its_children(synth: Synth, config: ScalerConfig) -> None:
    alarms = _alarms_by_name(synth)
    composites = [spec for spec in _specs(config) if spec.composite_of]
    assert [c.name for c in composites] == [f"{STACK_NAME}/shop-checkout/latency-and-backlog/out"]
    for spec in composites:
        alarm = alarms[spec.name]
        assert alarm["Type"] == "AWS::CloudWatch::CompositeAlarm"
        separator, parts = alarm["Properties"]["AlarmRule"]["Fn::Join"]
        assert separator == ""
        children = [p["Fn::GetAtt"][0] for p in parts if isinstance(p, dict)]
        assert children == [alarms[name]["id"] for name in spec.composite_of]
        text = [p for p in parts if isinstance(p, str)]
        assert text[0] == '(ALARM("' and text[-1] == '"))'
        assert all(t == '") AND ALARM("' for t in text[1:-1])
