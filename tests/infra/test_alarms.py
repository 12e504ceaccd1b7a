"""One CloudWatch alarm per AlarmSpec, shaped by signal_metric, alarm_threshold and the direction policy."""

from __future__ import annotations

from typing import Any

import pytest
from synth_support import STACK_NAME, Synth

from surgeguard.alarm_shape import alarm_shape
from surgeguard.config import AlarmSpec, Direction, ScalerConfig
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


def test_exactly_one_alarm_per_spec_named_by_the_spec(synth: Synth, config: ScalerConfig) -> None:
    names = [spec.name for spec in _specs(config)]
    alarms = _alarms_by_name(synth)
    assert sorted(alarms) == sorted(names)
    watch = [
        r
        for r in synth.of_type("AWS::CloudWatch::Alarm").values()
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
        metric = signal_metric(group, signal)
        policy = alarm_shape(group, signal, spec.direction, metric.stats[0].statistic)
        props = alarms[spec.name]["Properties"]

        assert props["Threshold"] == pytest.approx(alarm_threshold(signal, spec.direction))
        assert props["ComparisonOperator"] == (
            "GreaterThanThreshold" if spec.direction is Direction.OUT else "LessThanThreshold"
        )
        assert props["EvaluationPeriods"] == policy.evaluation_periods
        assert props["DatapointsToAlarm"] == policy.datapoints_to_alarm
        assert props["TreatMissingData"] == policy.treat_missing_data.value

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


# --- Metrics that arrive (the real-AWS behaviour each alarm shape answers) ---------------------------


def _props(synth: Synth, group: str, rule: str, direction: str) -> dict[str, Any]:
    return _alarms_by_name(synth)[f"{STACK_NAME}/{group}/{rule}/{direction}"]["Properties"]


def test_basic_monitoring_cpu_alarms_use_five_minute_periods(synth: Synth) -> None:
    # EC2 basic monitoring publishes CPUUtilization every 5 minutes (CDK aws_autoscaling.Monitoring:
    # "BASIC: Generates metrics every 5 minutes. DETAILED: every minute"; a launch template without
    # Monitoring.Enabled gets basic). shop-checkout says `monitoring: basic`: 1 of 1 out at 300 s, and its
    # 10-of-10-minute scale-in becomes 2 of 2 five-minute datapoints (the same 10 minutes).
    out, in_ = _props(synth, "shop-checkout", "cpu", "out"), _props(synth, "shop-checkout", "cpu", "in")
    assert (out["Period"], out["EvaluationPeriods"], out["DatapointsToAlarm"]) == (300, 1, 1)
    assert (in_["Period"], in_["EvaluationPeriods"], in_["DatapointsToAlarm"]) == (300, 2, 2)
    # shop-web says `monitoring: detailed`: the configured minute periods stand.
    web_in = _props(synth, "shop-web", "cpu", "in")
    assert (web_in["Period"], web_in["EvaluationPeriods"], web_in["DatapointsToAlarm"]) == (60, 5, 5)
    # ALB and SQS metrics are per minute whatever the instances' monitoring.
    assert _props(synth, "shop-checkout", "latency", "in")["Period"] == 60


def test_missing_data_is_chosen_per_signal_and_direction(synth: Synth) -> None:
    # "Elastic Load Balancing reports metrics to CloudWatch only when requests are flowing through the
    # load balancer ... If there are no requests ... the metric is not reported." (ELB user guide,
    # CloudWatch metrics for your Application Load Balancer). At zero traffic a scale-in alarm on
    # requests or latency must still reach ALARM, so missing is breaching there, and never a reason to
    # scale out. CPU keeps `missing`: no CPU datapoint means a broken metric, not an idle fleet.
    expected = {
        ("shop-web", "cpu"): ("missing", "missing"),
        ("shop-web", "requests_per_target"): ("notBreaching", "breaching"),
        ("shop-checkout", "cpu"): ("missing", "missing"),
        ("shop-checkout", "latency"): ("notBreaching", "breaching"),
        ("shop-checkout", "backlog"): ("notBreaching", "breaching"),
    }
    for (group, rule), (out, in_) in expected.items():
        assert _props(synth, group, rule, "out")["TreatMissingData"] == out, (group, rule)
        assert _props(synth, group, rule, "in")["TreatMissingData"] == in_, (group, rule)


def test_percentile_alarms_ignore_low_sample_periods(synth: Synth) -> None:
    # EvaluateLowSampleCountPercentile "ignore": "the alarm state does not change during periods with
    # too few data points to be statistically significant" (PutMetricAlarm; CloudWatch user guide,
    # Percentile-based alarms and low data samples: fewer than 10/(1-p) samples, 1,000 for p99).
    percentile = 0
    for resource in synth.of_type("AWS::CloudWatch::Alarm").values():
        props = resource["Properties"]
        if "ExtendedStatistic" in props:
            assert props["EvaluateLowSampleCountPercentile"] == "ignore", props["AlarmName"]
            percentile += 1
        else:
            assert "EvaluateLowSampleCountPercentile" not in props, props["AlarmName"]
    assert percentile == 2  # shop-checkout latency p99, out and in


def test_every_alarm_name_fits_cloudwatch(synth: Synth) -> None:
    # AlarmName: 1 to 255 characters (CloudWatch API model, PutMetricAlarm and PutCompositeAlarm).
    assert all(1 <= len(name) <= 255 for name in _alarms_by_name(synth))
