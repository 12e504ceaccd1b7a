"""The fast path and the game-day path make the same decisions: one scaler, two sets of adapters.

Fast: `SurgeguardPolicy` calls `handle_alarm_event` with in-memory adapters. Game day:
`MotoSurgeguardPolicy` calls the real Lambda handler, whose boto3 adapters talk to a moto server
(metrics, alarms, the audit table, the topic, a real Auto Scaling group). Same trace, same engine,
same alarms: the same (minute, alarm, previous desired, new desired, outcome) sequence. The window
holds a declared event: its scheduled phases go through the schedule service on the fast path and
through the real schedule Lambda handler (the Scheduler's Input JSON) on moto.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from gameday.engine import SimulationResult, simulate
from gameday.fleet import size_fleet
from gameday.moto_path import (
    GROUP,
    PREFIX,
    Replay,
    alarm_requests,
    aws_client,
    create_alarms,
    create_sample_group,
    decision_log,
    gameday_group,
    provision_api,
    replay,
    start_moto_server,
    with_group,
)
from gameday.surgeguard_policy import SurgeguardPolicy
from gameday.synthetic import black_friday

# Thursday 23:30 to Friday 04:30: the doorbuster declared at minute 30 (150 minutes): its pre-warm at
# minute 17, release at 210 (30 minutes after the end), restore at 270; scale-ins before and after.
WINDOW = black_friday(seed=0).window(23 * 60 + 30, 300)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server, url = start_moto_server()
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def fast() -> tuple[SurgeguardPolicy, SimulationResult]:
    policy = SurgeguardPolicy()
    logger = logging.getLogger("surgeguard")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        # Declared: the doorbuster's pre-warm, release and restore fire on both paths.
        result = simulate(WINDOW.trace, policy, start=WINDOW.start, events=WINDOW.events)
    finally:
        logger.setLevel(level)
    return policy, result


@pytest.fixture(scope="module")
def game_day(endpoint: str) -> Replay:
    sizing = size_fleet(WINDOW.trace)
    deployment = provision_api(endpoint, with_group(None, gameday_group(sizing, events=WINDOW.events)))
    create_alarms(endpoint, alarm_requests(deployment.config, PREFIX, deployment.signals_topic_arn))
    create_sample_group(endpoint, sizing)
    return replay(
        WINDOW.trace,
        deployment,
        endpoint,
        sizing=sizing,
        start=WINDOW.start,
        events=WINDOW.events,
        lambda_log=io.StringIO(),
    )


def test_both_paths_make_the_same_decisions(
    fast: tuple[SurgeguardPolicy, SimulationResult], game_day: Replay
) -> None:
    policy, result = fast
    run = game_day
    assert policy.aws is not None
    expected = decision_log(policy.aws.records, WINDOW.start)
    actual = decision_log(run.records, WINDOW.start)
    assert actual == expected
    applied = [row for row in expected if row[4] == "applied"]
    outs = [row for row in applied if row[3] > row[2]]
    ins = [row for row in applied if row[3] < row[2]]
    assert len(outs) >= 1 and len(ins) >= 2 and len(applied) >= 4, applied
    # the declared event's three phases are among them, the pre-warm scaling out ahead of the doors
    phases = [
        r["trigger"]["phase"] for r in run.records if (r.get("trigger") or {}).get("source") == "scheduler"
    ]
    assert phases == ["prewarm", "release", "restore"]
    (prewarm,) = [r for r in run.records if (r.get("trigger") or {}).get("phase") == "prewarm"]
    assert prewarm["outcome"] == "applied" and prewarm["new_desired"] > prewarm["previous_desired"]
    # Same reasons word for word: the readings from GetMetricData equal the engine's datapoints.
    assert [r["reason"] for r in run.records] == [r["reason"] for r in policy.aws.records]
    assert run.result.metrics == result.metrics
    assert list(run.result.series.desired) == list(result.series.desired)


def test_every_decision_went_through_the_lambda_handler(game_day: Replay) -> None:
    run = game_day
    assert run.dead_letters == []
    assert run.invocations == len(run.policy.responses) == len(run.records)
    # One audit record per trigger, each stamped with the fake Lambda context's request id.
    assert {r["request_id"] for r in run.records} == {
        f"gameday-{i:07d}" for i in range(1, run.invocations + 1)
    }
    assert {row["group"] for response in run.policy.responses for row in response["records"]} == {GROUP}


def test_moto_holds_the_outcome(endpoint: str, game_day: Replay) -> None:
    run = game_day
    group = aws_client("autoscaling", endpoint).describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    (asg,) = group["AutoScalingGroups"]
    assert asg["DesiredCapacity"] == run.result.series.desired[-1]
    assert len(asg["Instances"]) == asg["DesiredCapacity"]
    # The handler re-armed every alarm it acted on; the engine's alarms follow the real ones.
    cloudwatch = aws_client("cloudwatch", endpoint)
    alarms: list[dict[str, Any]] = cloudwatch.describe_alarms(AlarmNamePrefix=f"{PREFIX}/{GROUP}/")[
        "MetricAlarms"
    ]
    engine = run.policy.engine_alarms
    assert {a["AlarmName"] for a in alarms} == set(engine)
    assert all(a["StateValue"] == engine[a["AlarmName"]].state.value for a in alarms)
    # Datapoints went in at the simulated minutes.
    cpu = cloudwatch.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "cpu",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/EC2",
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": GROUP}],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=WINDOW.start,
        EndTime=WINDOW.start + timedelta(minutes=WINDOW.trace.minutes),
    )["MetricDataResults"][0]
    assert len(cpu["Values"]) >= WINDOW.trace.minutes - 1
