"""A group whose name is long (Auto Scaling allows 255 characters): its alarms' ARNs run past the
256 characters every other event field is cut to, and must still be decided as its own."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from surgeguard.config import Direction, alarm_name
from surgeguard.handlers import alarm

from . import support
from .alarm_events import ACTION, EVENTBRIDGE, SNS, alarm_event
from .support import PREFIX, T0, LambdaContext, write_config

LONG = "shop-" + "x" * 200
Audit = Callable[[str], list[dict[str, Any]]]


@pytest.fixture
def long_alarm(config_file: Any, make_asg: Callable[..., str], monkeypatch: pytest.MonkeyPatch) -> str:
    config = copy.deepcopy(support.CONFIG)
    config["groups"][0]["name"] = LONG
    monkeypatch.setattr(support, "CONFIG", config)
    write_config(config)
    alarm._wiring.cache_clear()
    make_asg(LONG, desired=2)
    return alarm_name(PREFIX, LONG, "cpu", Direction.OUT)


@pytest.mark.parametrize("sample", [EVENTBRIDGE, SNS, ACTION])
def test_a_long_named_groups_alarm_is_decided(
    long_alarm: str, audit: Audit, cpu_metric: Callable[..., None], sample: str
) -> None:
    # Its ARN was cut to 256 characters, no longer named the alarm, and was rejected as forged (SNS)
    cpu_metric(90.0, T0, group=LONG)
    alarm.lambda_handler(alarm_event(sample, long_alarm, T0), LambdaContext())
    (record,) = audit(LONG)
    assert record["outcome"] == "applied", record["reason"]


def test_two_transitions_of_a_long_named_alarm_are_two_triggers(
    long_alarm: str, audit: Audit, cpu_metric: Callable[..., None]
) -> None:
    # A direct alarm action's id is `alarmArn@timestamp`: cut to 256 characters, it lost the timestamp,
    # and every later transition of the alarm was `skipped: duplicate`
    later = T0 + timedelta(minutes=30)
    cpu_metric(90.0, T0, group=LONG)
    cpu_metric(95.0, later, group=LONG)
    alarm.lambda_handler(alarm_event(ACTION, long_alarm, T0), LambdaContext())
    alarm.lambda_handler(alarm_event(ACTION, long_alarm, later), LambdaContext())
    assert [r.get("skip_cause") for r in audit(LONG)] == [None, None]
