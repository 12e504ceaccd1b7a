"""The hostile suite's world: the integration fixture chain (moto -> audit_table -> asg -> config_file
-> alarms -> invoke) plus the other two groups, the declared sales and forecast, the Lambda's clock,
and a reset so many hypothesis examples can share one (slow to build) moto world."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest

from surgeguard import keys, service
from surgeguard.handlers import alarm, forecast, schedule

from ..support import T0, LambdaContext, write_config
from .events import PREWARM, hostile_config, put_normal_demand
from .invariants import GROUPS, Clock, Size, group_sizes, table_name

# The Lambda's clock per handler: 40 s after the doors open (the alarms' time in the other tests);
# a minute after the pre-warm's time; a minute after the forecaster's run.
ALARM_NOW = T0 + timedelta(seconds=40)
SCHEDULE_NOW = PREWARM + timedelta(minutes=1)
FORECAST_NOW = T0 + timedelta(minutes=1)
BASELINE = {"web": Size(1, 2, 20), "api": Size(1, 2, 20), "rehearsal": Size(1, 2, 10)}


def fire_alarm(event: Any) -> dict[str, Any]:
    return alarm.lambda_handler(event, LambdaContext())


def fire_schedule(event: Any) -> dict[str, Any]:
    return schedule.lambda_handler(event, LambdaContext(function_name="surgeguard-schedule"))


def fire_forecast(event: Any) -> dict[str, Any]:
    return forecast.lambda_handler(event, LambdaContext(function_name="surgeguard-forecast"))


HANDLERS: dict[str, Callable[[Any], dict[str, Any]]] = {
    "alarm": fire_alarm,
    "schedule": fire_schedule,
    "forecast": fire_forecast,
}
NOW = {"alarm": ALARM_NOW, "schedule": SCHEDULE_NOW, "forecast": FORECAST_NOW}


@dataclass
class World:
    clock: Clock
    put_cpu: Callable[..., None]
    baseline: dict[str, Size] = field(default_factory=lambda: dict(BASELINE))

    def reset(self, now: datetime) -> None:
        """Back to the starting world between hypothesis examples: the table emptied (audit, state,
        claims, events, forecasts, controls), every group at its baseline size, the clock at `now`."""
        dynamodb = boto3.client("dynamodb")
        request: dict[str, Any] = {
            "TableName": table_name(),
            "ProjectionExpression": "#pk, #sk",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
        }
        while True:
            response = dynamodb.scan(**request)
            found = response["Items"]
            for start in range(0, len(found), 25):
                dynamodb.batch_write_item(
                    RequestItems={
                        table_name(): [{"DeleteRequest": {"Key": k}} for k in found[start : start + 25]]
                    }
                )
            if "LastEvaluatedKey" not in response:
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        autoscaling = boto3.client("autoscaling")
        for name, size in group_sizes(GROUPS).items():
            want = self.baseline[name]
            if size != want:
                autoscaling.update_auto_scaling_group(
                    AutoScalingGroupName=name,
                    MinSize=want.min,
                    MaxSize=want.max,
                    DesiredCapacity=want.desired,
                )
        self.clock.set(now)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """`surgeguard.service.utc_now`, fixed and moved only by the test.

    Overrides the integration conftest's autouse `clock`, which makes the Lambda's clock follow each
    event's own time: exactly what a hostile event must not control here.
    """
    return Clock(monkeypatch, ALARM_NOW)


@pytest.fixture
def world(
    invoke: Any,
    make_asg: Callable[..., str],
    cpu_metric: Callable[..., None],
    clock: Clock,
) -> Iterator[World]:
    """Three groups (web, api, rehearsal dry-run), web declaring two sales and a forecast, CPU at 80
    (a valid web alarm scales 2 -> 4), the clock 40 s after T0. Config written before any invocation."""
    write_config(hostile_config())
    make_asg("api")
    make_asg("rehearsal", max_size=10)
    put_normal_demand()
    for group in GROUPS:
        cpu_metric(80.0, T0, group=group)
    assert service.utc_now() == ALARM_NOW, "another fixture replaced the Lambda's clock"
    yield World(clock, cpu_metric)
