"""The stack watching itself (issue 8, "Watched"): failure-queue, Lambda and forecast-staleness alarms
to the notifications topic, reserved concurrency for the scaler Lambdas, and the dashboards.

The forecast config (synth_support.forecast_config) has all three Lambdas and every queue."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk import App, Environment
from aws_cdk.assertions import Template
from synth_support import ACCOUNT, FORECAST_NOW, REGION, STACK_NAME, Synth, forecast_config

from infra.constructs import forecaster, reactive_function, sale_schedules
from infra.constructs.dashboard import GROUPS_PER_DASHBOARD, MAX_WIDGETS, group_chunks, group_widgets
from infra.constructs.monitoring import MAX_ALARM_NAME, staleness_window_seconds, watch_alarm_name
from infra.constructs.sale_schedules import sale_phases
from infra.stack import SurgeguardStack
from surgeguard.config import ScalerConfig, parse_config
from surgeguard.forecast_service import FORECAST_WRITTEN, METRIC_NAMESPACE

WATCH = f"{STACK_NAME}/watch/"


def _watch_alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        r["Properties"]["AlarmName"]: r["Properties"]
        for r in synth.of_type("AWS::CloudWatch::Alarm").values()
        if r["Properties"]["AlarmName"].startswith(WATCH)
    }


def _notifications(synth: Synth) -> str:
    return synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard notifications")


def _tells_people(synth: Synth, props: dict[str, Any]) -> None:
    topic = {"Ref": _notifications(synth)}
    assert props["AlarmActions"] == [topic] and props["OKActions"] == [topic]
    assert props["EvaluationPeriods"] == 1 and props["DatapointsToAlarm"] == 1


def _render(value: Any) -> str:
    """A dashboard body with its tokens (region, ARNs, names) written as TOKEN."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(p) for p in parts)
    return "TOKEN"


def _dashboards(synth: Synth) -> dict[str, dict[str, Any]]:
    return {
        logical_id: json.loads(_render(r["Properties"]["DashboardBody"]))
        for logical_id, r in synth.of_type("AWS::CloudWatch::Dashboard").items()
    }


def test_every_failure_queue_alarms_when_it_holds_a_message(forecast_synth: Synth) -> None:
    queues = set(forecast_synth.of_type("AWS::SQS::Queue"))
    # reactive: on-failure + undelivered signals; re-evaluation, sale and forecast schedules;
    # sale and forecast on-failure
    assert len(queues) == 7
    watched = {}
    for props in _watch_alarms(forecast_synth).values():
        if props.get("MetricName") == "ApproximateNumberOfMessagesVisible":
            (dimension,) = props["Dimensions"]
            assert dimension["Name"] == "QueueName"
            queue, attribute = dimension["Value"]["Fn::GetAtt"]
            assert attribute == "QueueName"
            watched[queue] = props
    assert set(watched) == queues
    for props in watched.values():
        assert props["Namespace"] == "AWS/SQS" and props["Statistic"] == "Maximum" and props["Period"] == 60
        assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        # SQS publishes only for active queues, and a queue holding a message is active
        assert props["TreatMissingData"] == "notBreaching"
        _tells_people(forecast_synth, props)


def test_every_lambda_alarms_on_errors_and_throttles(forecast_synth: Synth) -> None:
    functions = {
        forecast_synth.function(handler)[0]
        for handler in (reactive_function.HANDLER, sale_schedules.HANDLER, forecaster.HANDLER)
    }
    assert functions == set(forecast_synth.of_type("AWS::Lambda::Function"))
    seen = set()
    for props in _watch_alarms(forecast_synth).values():
        if props.get("Namespace") != "AWS/Lambda":
            continue
        (dimension,) = props["Dimensions"]
        seen.add((dimension["Value"]["Ref"], props["MetricName"]))
        assert props["Statistic"] == "Sum" and props["Period"] == 60
        assert props["ComparisonOperator"] == "GreaterThanThreshold" and props["Threshold"] == 0
        # Lambda publishes its metrics only for minutes with invocations
        assert props["TreatMissingData"] == "notBreaching"
        _tells_people(forecast_synth, props)
    # An on-failure destination that itself fails (a full or unreadable queue) loses the event: watched
    # too (REAL-AWS 8), or a trigger that failed its retries and its destination would be lost silently.
    metrics = ("Errors", "Throttles", "DestinationDeliveryFailures")
    assert seen == {(f, m) for f in functions for m in metrics}


def test_a_forecaster_that_stopped_writing_alarms_per_group_and_silence_breaches(
    forecast_synth: Synth,
) -> None:
    stale = {
        props["Dimensions"][0]["Value"]: props
        for props in _watch_alarms(forecast_synth).values()
        if props.get("MetricName") == FORECAST_WRITTEN
    }
    # web forecasts every 60 minutes, api every 15; batch has no forecast
    assert set(stale) == {"web", "api"}
    for group, period in (("web", 7200), ("api", 1800)):
        props = stale[group]
        assert props["Namespace"] == METRIC_NAMESPACE
        assert props["Dimensions"] == [
            {"Name": "Group", "Value": group},
            {"Name": "Stack", "Value": STACK_NAME},
        ]
        assert props["Statistic"] == "Sum" and props["Period"] == period  # two intervals
        assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
        assert props["TreatMissingData"] == "breaching"  # no datapoint at all is the stale case
        _tells_people(forecast_synth, props)


def test_watch_alarm_names_never_map_to_a_scaling_rule(forecast_synth: Synth) -> None:
    scaling = {spec.name for spec in forecast_config().alarms(STACK_NAME)}
    names = set(_watch_alarms(forecast_synth))
    assert names and not names & scaling
    # <prefix>/watch/<what>: three segments, where every scaling alarm has four
    assert all(len(name.split("/")) == 3 for name in names)
    assert all(len(name.split("/")) == 4 for name in scaling)
    long = watch_alarm_name("Surgeguard", "forecast-stale-" + "g" * 300)
    assert len(long) == MAX_ALARM_NAME and long != watch_alarm_name(
        "Surgeguard", "forecast-stale-" + "h" * 300
    )


def test_notifications_topic_lets_only_this_stacks_alarms_publish(forecast_synth: Synth) -> None:
    topic = _notifications(forecast_synth)
    (policy,) = [
        p["Properties"]
        for p in forecast_synth.of_type("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": topic}]
    ]
    statements = {s.get("Sid"): s for s in policy["PolicyDocument"]["Statement"]}
    notify = statements["StackAlarmsNotify"]
    assert notify["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert notify["Action"] == "sns:Publish" and notify["Effect"] == "Allow"
    assert notify["Condition"]["ArnLike"] == {
        "aws:SourceArn": f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK_NAME}/*"
    }
    assert notify["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNT}


def test_scaler_lambdas_have_reserved_concurrency_and_the_forecaster_none(forecast_synth: Synth) -> None:
    reserved = {
        handler: forecast_synth.function(handler)[1]["Properties"].get("ReservedConcurrentExecutions")
        for handler in (reactive_function.HANDLER, sale_schedules.HANDLER, forecaster.HANDLER)
    }
    assert reserved == {reactive_function.HANDLER: 20, sale_schedules.HANDLER: 10, forecaster.HANDLER: None}


def _small_stack(config: ScalerConfig, layout: str = "auto") -> dict[str, Any]:
    stack = SurgeguardStack(
        App(),
        STACK_NAME,
        config=config,
        now=FORECAST_NOW,
        layout=layout,
        env=Environment(account=ACCOUNT, region=REGION),
    )
    return Template.from_stack(stack).to_json()


def test_reserved_concurrency_is_overridable_and_can_be_switched_off() -> None:
    raw = forecast_config().model_dump(mode="json", exclude_none=True)
    template = _small_stack(parse_config({**raw, "reserved_concurrency": {"reactive": 50, "sale": None}}))
    reserved = {
        r["Properties"]["Handler"]: r["Properties"].get("ReservedConcurrentExecutions")
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
    }
    assert reserved == {reactive_function.HANDLER: 50, sale_schedules.HANDLER: None, forecaster.HANDLER: None}
    with pytest.raises(ValueError):  # zero would throttle every scaling event
        parse_config({**raw, "reserved_concurrency": {"reactive": 0}})


def test_group_dashboard_shows_capacity_against_demand_and_each_signal_against_its_target(
    forecast_synth: Synth,
) -> None:
    dashboards = _dashboards(forecast_synth)
    assert len(dashboards) == 2  # the overview and one group dashboard (3 groups)
    (groups,) = [d for d in dashboards.values() if "groups web to batch" in json.dumps(d)]
    widgets = {w["properties"].get("title"): w["properties"] for w in groups["widgets"]}
    config = forecast_config()
    for group in config.groups:
        capacity = widgets[f"{group.name}: capacity against demand"]
        names = [m[1] for m in capacity["metrics"] if len(m) > 1 and isinstance(m[1], str)]
        assert {"GroupDesiredCapacity", "GroupInServiceInstances", "GroupPendingInstances"} <= set(names)
        assert {a["value"] for a in capacity["annotations"]["horizontal"]} == {group.min, group.max}
        for signal in group.signals:
            chart = widgets[f"{group.name}: {signal.id} against its target"]
            assert signal.target in {a["value"] for a in chart["annotations"]["horizontal"]}
    # demand: the CPU asks for value x in service / target instances
    web = widgets["web: capacity against demand"]
    assert any(m[0].get("expression") == "v0 * n0 / 50" for m in web["metrics"] if isinstance(m[0], dict))
    assert len(groups["widgets"]) == 1 + sum(1 + len(g.signals) for g in config.groups)


def test_overview_dashboard_shows_failures_decisions_and_pause_state(forecast_synth: Synth) -> None:
    (overview,) = [d for d in _dashboards(forecast_synth).values() if "Watch alarms" in json.dumps(d)]
    by_title = {w["properties"].get("title"): w for w in overview["widgets"]}
    assert len(by_title["Watch alarms"]["properties"]["alarms"]) == len(_watch_alarms(forecast_synth)) - 2
    queries = {t: w["properties"]["query"] for t, w in by_title.items() if w["type"] == "log"}
    assert set(queries) == {
        "Decisions by group and outcome (alarms and re-evaluation)",
        "Paused (kill switch): latest stopped decision per group",
        "Failures: failed or rejected decisions and errors",
    }
    # the decision line the reactive Lambda logs: "<outcome> <group>: <reason>"
    assert all("(?<outcome>applied|unchanged|skipped|rejected|failed)" in q for q in queries.values())
    assert "/^paused/" in queries["Paused (kill switch): latest stopped decision per group"]
    assert "Lambda errors and throttles" in by_title and "Failure queues: messages waiting" in by_title


def test_three_hundred_groups_make_dashboards_within_cloudwatchs_widget_limit() -> None:
    cpu = [{"kind": "cpu", "target": 50}]
    lb = {"load_balancer": "app/a/1", "target_group": "targetgroup/t/1"}
    signals = [
        *cpu,
        {"kind": "requests_per_target", "target": 1000, **lb},
        {"kind": "response_time", "target": 1, **lb},
    ]
    config = parse_config(
        {"groups": [{"name": f"g{i}", "min": 1, "max": 9, "signals": signals} for i in range(300)]}
    )
    chunks = group_chunks(config.groups)
    assert len(chunks) == 300 // GROUPS_PER_DASHBOARD and all(len(c) <= GROUPS_PER_DASHBOARD for c in chunks)
    widgets = 1 + GROUPS_PER_DASHBOARD * len(group_widgets(config.groups[0]))
    assert widgets == 101 <= MAX_WIDGETS  # Dashboard Body Structure: 0 to 500 widgets


def test_a_nested_layout_moves_per_group_resources_out_and_keeps_the_stack_whole() -> None:
    template = _small_stack(forecast_config(), layout="nested")
    types = [r["Type"] for r in template["Resources"].values()]
    assert "AWS::CloudFormation::Stack" in types
    # per-group alarms, schedules and group dashboards left the parent; the watch alarms stayed
    names = [
        r["Properties"]["AlarmName"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert names and all(n.startswith(WATCH) and "forecast-stale" not in n for n in names)
    assert types.count("AWS::Scheduler::Schedule") == 1  # only the per-minute re-evaluation
    assert types.count("AWS::CloudWatch::Dashboard") == 1  # the overview


def test_nested_templates_hold_the_per_group_alarms_schedules_and_dashboards(nested_synth: Synth) -> None:
    nested = [json.loads(path.read_text()) for path in nested_synth.outdir.glob("*.nested.template.json")]
    assert len(nested) == len(nested_synth.of_type("AWS::CloudFormation::Stack")) >= 2
    names = {
        r["Properties"].get("AlarmName")
        for t in nested
        for r in t["Resources"].values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    config = forecast_config()
    assert {s.name for s in config.alarms(STACK_NAME) if not s.composite_of} | {
        f"{WATCH}forecast-stale-web",
        f"{WATCH}forecast-stale-api",
    } == names
    types = [r["Type"] for t in nested for r in t["Resources"].values()]
    assert types.count("AWS::CloudWatch::Dashboard") == len(nested)  # one group dashboard per shard
    pending, _ = sale_phases(config, FORECAST_NOW)  # web's black friday: prewarm, release, restore
    assert types.count("AWS::Scheduler::Schedule") == 2 + len(pending) == 5  # and web's, api's forecasts


@pytest.mark.parametrize("every_minutes", [5, 29, 30, 720, 721, 1000, 1440])
def test_a_forecaster_is_stale_after_two_of_its_intervals_however_long(every_minutes: int) -> None:
    # Capped at a day, a daily forecaster's window was one interval: a run retried minutes late alarmed
    # "its forecast floor has lapsed". CloudWatch allows 7 days of period x evaluation periods, and one
    # day only for periods under an hour (PutMetricAlarm)
    group = parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 1,
                    "max": 4,
                    "signals": [
                        {
                            "kind": "requests_per_target",
                            "target": 100,
                            "target_group": "targetgroup/shop-web/73e2d6bc24d8a067",
                            "load_balancer": "app/shop-alb/50dc6c495c0c9188",
                        }
                    ],
                    "forecast": {"every_minutes": every_minutes, "horizon_hours": 24},
                }
            ]
        }
    ).groups[0]
    window = staleness_window_seconds(group)
    assert window == 2 * every_minutes * 60
    assert window <= (86_400 if window < 3_600 else 604_800)
