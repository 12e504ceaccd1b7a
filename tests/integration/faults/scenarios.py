"""The handler paths the fault suite walks: one delivery each, what it must do without faults, and how
it is delivered again.

- alarm (alarm Lambda): an SNS alarm message, CPU 80 over 2 instances at T0 -> applied 2 -> 4.
- outside (alarm Lambda): after that alarm, someone sets web's desired to 3; the alarm fires again
  4 minutes in -> applied 3 -> 5 (CPU 80 over 3), the record naming the other writer (4 -> 3).
- raised (alarm Lambda): as outside, but someone raises web to 7 and the alarm fires again within
  the 2-minute grace of the commit -> applied 7 -> 8 (CPU 80 over the 5 serving), naming 4 -> 7.
- reevaluate (alarm Lambda): the per-minute re-evaluation while that alarm is in ALARM -> applied
  2 -> 4. Not retried by Lambda: the next minute's run is its retry.
- prewarm (schedule Lambda): the doorbuster's pre-warm, with the schedule that fired it -> applied
  2 -> 6, MaxSize 20 -> 30, the schedule deleted.
- restore (schedule Lambda): its restore, after a (fault-free) pre-warm -> applied MaxSize 30 -> 20,
  desired stays 6.
- forecast (forecast Lambda): the forecaster over three days of history -> applied (FORECAST item).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import boto3

from ..alarm_events import ACCOUNT, SNS, alarm_event
from ..support import T0, alarm_for, at
from .world import PREWARM, RESTORE, Clock, Context, World, iso

ALARM = alarm_for("web", "cpu")
SIGNALS_TOPIC_ARN = f"arn:aws:sns:us-east-1:{ACCOUNT}:surgeguard-signals"


def _alarm_handler() -> Any:
    from surgeguard.handlers import alarm

    return alarm.lambda_handler


def _schedule_handler() -> Any:
    from surgeguard.handlers import schedule

    return schedule.lambda_handler


def _forecast_handler() -> Any:
    from surgeguard.handlers import forecast

    return forecast.lambda_handler


@dataclass(frozen=True)
class Expected:
    outcome: str
    size: tuple[int, int, int]  # web's (min, desired, max) afterwards
    applied: int  # `applied` audit items for the delivery


@dataclass(frozen=True)
class Scenario:
    name: str
    function: str
    handler: Callable[[], Any]
    # Prepares the world at the clock's time and returns the delivery (the event Lambda receives).
    prepare: Callable[[World, Clock], dict[str, Any]]
    expected: Expected
    # True: a failed delivery is retried by Lambda (it must raise, and the retry must finish the work).
    # False (the per-minute re-evaluation): nothing retries it; the next minute's run is the retry, so a
    # failure may return with the breach left in ALARM, as long as nothing it applied goes unaudited.
    retried_by_lambda: bool = True

    def invoke(self, event: dict[str, Any], remaining_ms: int = 60_000) -> dict[str, Any]:
        context = Context(function_name=f"surgeguard-{self.function}", remaining_ms=remaining_ms)
        result: dict[str, Any] = self.handler()(event, context)
        return result


def _alarm(world: World, clock: Clock) -> dict[str, Any]:
    # The alarm is in ALARM (it just fired); its message arrives 20 s after the state change.
    world.set_alarm(ALARM, "ALARM")
    clock.set(at(60))
    return sns_alarm(ALARM, at(40), cloudwatch=world.api("cloudwatch"))


def sns_alarm(alarm: str, when: datetime, value: float = 80.0, cloudwatch: Any = None) -> dict[str, Any]:
    """The SNS message CloudWatch sends when `alarm` (as created in the world) enters ALARM at `when`,
    delivered by the stack's signals topic: its metric, dimensions and threshold are the alarm's own."""
    found = (cloudwatch or boto3.client("cloudwatch")).describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]
    event = alarm_event(SNS, alarm, when, metric=found["MetricName"])
    sns = event["Records"][0]["Sns"]
    message = json.loads(sns["Message"])
    stamp = when.strftime("%d/%m/%y %H:%M:%S")
    message["NewStateReason"] = (
        f"Threshold Crossed: 1 out of the last 1 datapoints [{value!r} ({stamp})] was greater than the "
        f"threshold ({found['Threshold']!r}) (minimum 1 datapoint for OK -> ALARM transition)."
    )
    message["Trigger"].update(
        Namespace=found["Namespace"],
        Statistic=str(found["Statistic"]).upper(),
        Dimensions=[{"value": d["Value"], "name": d["Name"]} for d in found["Dimensions"]],
        Threshold=found["Threshold"],
    )
    sns.update(Message=json.dumps(message), TopicArn=SIGNALS_TOPIC_ARN)
    event["Records"][0]["EventSubscriptionArn"] = f"{SIGNALS_TOPIC_ARN}:{uuid.uuid4()}"
    return event


def _set_by_hand(world: World, clock: Clock, desired: int, fired_at: float) -> dict[str, Any]:
    """Surgeguard scaled web 2 -> 4 (the alarm path, fault-free, not recorded); then someone set
    `desired` in the console, and the alarm, back to OK, fires again at `fired_at` s (delivered 20 s
    later): the decision adopts the change and names it (only its record does: once the adoption is
    saved, the group no longer looks changed)."""
    ALARM_SCENARIO.invoke(_alarm(world, clock))
    world.api("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=desired)
    world.set_alarm(ALARM, "OK")
    world.set_alarm(ALARM, "ALARM")
    clock.set(at(fired_at + 20))
    return sns_alarm(ALARM, at(fired_at), cloudwatch=world.api("cloudwatch"))


def _outside(world: World, clock: Clock) -> dict[str, Any]:
    # 3, past APPLY_GRACE after the commit: within it, a value below the commit while the commit's
    # attempt may be unfinished is not called another writer, and an unreadable claim reads as unfinished.
    return _set_by_hand(world, clock, 3, 220)


def _raised_within_grace(world: World, clock: Clock) -> dict[str, Any]:
    # 7, within APPLY_GRACE of the commit: a value above the commit is taken whatever its claim says.
    return _set_by_hand(world, clock, 7, 100)


def _reevaluate(world: World, clock: Clock) -> dict[str, Any]:
    world.set_alarm(ALARM, "ALARM")
    clock.set(at(65))
    return {"action": "reevaluate", "scheduled_time": iso(at(60)), "execution_id": str(uuid.uuid4())}


def phase(name: str, when: datetime, schedule_arn: str | None = None) -> dict[str, Any]:
    payload = {
        "group": "web",
        "event": "doorbuster",
        "phase": name,
        "scheduled_time": iso(when),
        "execution_id": str(uuid.uuid4()),
    }
    return payload if schedule_arn is None else {**payload, "schedule_arn": schedule_arn}


def _prewarm(world: World, clock: Clock) -> dict[str, Any]:
    clock.set(PREWARM + timedelta(seconds=5))
    return phase("prewarm", PREWARM, world.create_schedule("prewarm"))


def _restore(world: World, clock: Clock) -> dict[str, Any]:
    # The pre-warm ran (fault-free, not recorded) and raised MaxSize 20 -> 30 and desired to 6.
    clock.set(PREWARM + timedelta(seconds=5))
    PREWARM_SCENARIO.invoke(phase("prewarm", PREWARM))
    clock.set(RESTORE + timedelta(seconds=5))
    return phase("restore", RESTORE, world.create_schedule("restore"))


def _forecast(world: World, clock: Clock) -> dict[str, Any]:
    clock.set(T0 + timedelta(seconds=5))
    return {"group": "web", "scheduled_time": iso(T0), "execution_id": str(uuid.uuid4())}


ALARM_SCENARIO = Scenario("alarm", "alarm", _alarm_handler, _alarm, Expected("applied", (1, 4, 20), 1))
PREWARM_SCENARIO = Scenario(
    "prewarm", "schedule", _schedule_handler, _prewarm, Expected("applied", (1, 6, 30), 1)
)
SCENARIOS = {
    s.name: s
    for s in (
        ALARM_SCENARIO,
        Scenario("outside", "alarm", _alarm_handler, _outside, Expected("applied", (1, 5, 20), 1)),
        Scenario("raised", "alarm", _alarm_handler, _raised_within_grace, Expected("applied", (1, 8, 20), 1)),
        Scenario(
            "reevaluate", "alarm", _alarm_handler, _reevaluate, Expected("applied", (1, 4, 20), 1), False
        ),
        PREWARM_SCENARIO,
        Scenario("restore", "schedule", _schedule_handler, _restore, Expected("applied", (1, 6, 20), 1)),
        Scenario("forecast", "forecast", _forecast_handler, _forecast, Expected("applied", (1, 2, 20), 1)),
    )
}
