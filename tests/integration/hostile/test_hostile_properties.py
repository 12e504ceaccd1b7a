"""Property-based hostile deliveries (issues 7 and 12): the real AWS samples in tests/events, made valid
for the test config's alarms, then mutated one field at a time (drop it, or give it a wrong type, an
absurd number, a time outside the window, a 256 KiB or surrogate string, 5000-level JSON...), plus
deliveries meant for another handler and multi-field chaos, through the real handlers under moto.

After every delivery the invariants in invariants.py hold: the handler returns (or raises only
RetryableFailureError after a `failed` item), exactly one new audit item carrying the delivery id,
bad input `rejected` with nothing changed, no other group touched, every group in bounds, and the
group still scales on a valid fresh alarm. Examples share one moto world, reset between them.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from surgeguard.handlers import alarm, forecast, schedule

from ..alarm_events import ACTION, EVENTBRIDGE, SNS
from ..support import LambdaContext
from .conftest import ALARM_NOW, FORECAST_NOW, SCHEDULE_NOW, World
from .events import PREWARM, forecast_payload, other_shapes, phase_payload, valid_alarm
from .invariants import (
    assert_group_can_still_scale,
    check_call,
    deliver,
    group_sizes,
    snapshot,
)
from .mutations import (
    ACTION_FIELDS,
    ADDED,
    EVENTBRIDGE_FIELDS,
    FAMILIES,
    FORECAST_FIELDS,
    SCHEDULE_FIELDS,
    SNS_FIELDS,
    TIME_VALUES,
    VALUE_NAMES,
    Ctx,
    Path,
    apply,
    label,
    must_reject,
)


def hostile_settings(examples: int) -> Any:
    """Derandomized (the same examples in CI every run), no example database, no shrinking (a
    mutation is already one named field/value), every distinct failure reported."""
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        phases=(Phase.explicit, Phase.generate),
        report_multiple_bugs=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# Examples per test; HOSTILE_EXAMPLES_SCALE=10 (say) for a deeper run. Every example costs about a
# second under moto (the delivery, the invariants, the fresh alarm after it, the world's reset).
SCALE = float(os.environ.get("HOSTILE_EXAMPLES_SCALE", "1"))
EXAMPLES = {
    name: max(1, round(count * SCALE))
    for name, count in {
        "alarm": 12,  # x 3 shapes = 36
        "schedule": 10,
        "forecast": 8,
        "foreign": 5,  # x 3 handlers = 15
        "chaos": 10,
    }.items()
}

ALARM_SHAPES: dict[str, tuple[str, dict[Path, str]]] = {
    "sns": (SNS, SNS_FIELDS),
    "eventbridge": (EVENTBRIDGE, EVENTBRIDGE_FIELDS),
    "action": (ACTION, ACTION_FIELDS),
}
# A valid web CPU alarm at the clock, CPU 80 on 2 instances: ceil(2 x 80 / 50) = 4.
WEB_AFTER_VALID_ALARM = 4


def _context(handler: str) -> LambdaContext:
    return LambdaContext(function_name=f"surgeguard-{handler}")


LAMBDAS: dict[str, Callable[[Any, Any], Any]] = {
    "alarm": alarm.lambda_handler,
    "schedule": schedule.lambda_handler,
    "forecast": forecast.lambda_handler,
}


def draw_mutation(
    data: st.DataObject, fields: dict[Path, str], kinds: tuple[str, ...] | None = None
) -> tuple[Path, str, str | None]:
    """A field (its family drawn first, so the few identity/time/id fields are not drowned by the
    many free ones), an operation, and a value's name."""
    families = sorted(f for f, ks in FAMILIES.items() if any(fields[p] in ks for p in fields))
    if kinds is None:
        family = data.draw(st.sampled_from(families), label="family")
        kinds = FAMILIES[family]
    paths = sorted((p for p, k in fields.items() if k in kinds), key=label)
    path = data.draw(st.sampled_from(paths), label="field")
    op = "set" if path in ADDED else data.draw(st.sampled_from(("set", "set", "set", "delete")), label="op")
    value = None
    if op == "set":
        pool = TIME_VALUES if fields[path] == "time" else VALUE_NAMES
        value = data.draw(st.sampled_from(pool), label="value")
    return path, op, value


def deliver_and_check(
    handler: str, event: Any, *, group: str | None, reject: bool, what: str
) -> dict[str, Any]:
    before = snapshot()
    delivery = deliver(LAMBDAS[handler], event, _context(handler))
    try:
        return check_call(before, delivery, group=group, must_reject=reject)
    except AssertionError as error:
        raise AssertionError(f"[{handler} <- {what}] {error}") from None


# --- one field of a valid alarm at a time ----------------------------------------------------------
@pytest.mark.parametrize("shape", sorted(ALARM_SHAPES))
def test_a_mutated_alarm_keeps_every_invariant(shape: str, world: World) -> None:
    sample, fields = ALARM_SHAPES[shape]

    @hostile_settings(EXAMPLES["alarm"])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        world.reset(ALARM_NOW)
        path, op, value = draw_mutation(data, fields)
        event = valid_alarm(sample, ALARM_NOW, event_id=f"hostile-{uuid.uuid4()}")
        event = apply(event, path, op, value, Ctx(ALARM_NOW))
        reject = must_reject(fields[path], op, value)
        what = f"{shape} {label(path)} {op} {value} ({fields[path]}{', must reject' if reject else ''})"
        item = deliver_and_check("alarm", event, group="web", reject=reject, what=what)
        if item["outcome"] == "applied":
            web = group_sizes()["web"].desired
            assert web == WEB_AFTER_VALID_ALARM, (
                f"[{what}] applied web -> {web}: only GetMetricData's 80% may decide (-> 4)"
            )
        assert_group_can_still_scale("web", world.clock, world.put_cpu)

    run()


# --- one field of a valid sale phase / forecast run at a time --------------------------------------
SCHEDULED = {
    "schedule": (SCHEDULE_FIELDS, SCHEDULE_NOW, lambda: phase_payload("prewarm", PREWARM)),
    "forecast": (FORECAST_FIELDS, FORECAST_NOW, lambda: forecast_payload()),
}


@pytest.mark.parametrize("handler", sorted(SCHEDULED))
def test_a_mutated_scheduled_payload_keeps_every_invariant(handler: str, world: World) -> None:
    fields, now, valid = SCHEDULED[handler]

    @hostile_settings(EXAMPLES[handler])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        world.reset(now)
        path, op, value = draw_mutation(data, fields)
        event = apply(valid(), path, op, value, Ctx(now))
        reject = must_reject(fields[path], op, value)
        what = f"{label(path)} {op} {value} ({fields[path]}{', must reject' if reject else ''})"
        deliver_and_check(handler, event, group="web", reject=reject, what=what)
        assert_group_can_still_scale("web", world.clock, world.put_cpu)

    run()


# --- deliveries meant for another handler ----------------------------------------------------------
def _foreign(handler: str, now: datetime) -> dict[str, Callable[[], Any]]:
    events: dict[str, Callable[[], Any]] = {
        "sns-alarm": lambda: valid_alarm(SNS, now),
        "eventbridge-alarm": lambda: valid_alarm(EVENTBRIDGE, now),
        "action-alarm": lambda: valid_alarm(ACTION, now),
        "sale-phase": lambda: phase_payload("prewarm", PREWARM),
        "forecast-run": lambda: forecast_payload(),
        **{name: (lambda e=e: json.loads(json.dumps(e))) for name, e in other_shapes().items()},
        "empty-object": lambda: {},
        "list": lambda: [],
        "string": lambda: "hello",
        "null": lambda: None,
    }
    own = {
        "alarm": ("sns-alarm", "eventbridge-alarm", "action-alarm"),
        "schedule": ("sale-phase",),
        "forecast": ("forecast-run",),
    }[handler]
    return {k: v for k, v in events.items() if k not in own}


@pytest.mark.parametrize("handler", sorted(LAMBDAS))
def test_a_delivery_meant_for_another_handler_is_rejected(handler: str, world: World) -> None:
    now = {"alarm": ALARM_NOW, "schedule": SCHEDULE_NOW, "forecast": FORECAST_NOW}[handler]
    foreign = _foreign(handler, now)

    @hostile_settings(EXAMPLES["foreign"])
    @given(name=st.sampled_from(sorted(foreign)))
    def run(name: str) -> None:
        world.reset(now)
        deliver_and_check(handler, foreign[name](), group=None, reject=True, what=name)
        assert_group_can_still_scale("web", world.clock, world.put_cpu)

    run()


# --- several fields at once --------------------------------------------------------------------------
def test_an_alarm_mutated_in_several_fields_keeps_every_invariant(world: World) -> None:
    @hostile_settings(EXAMPLES["chaos"])
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        shape = data.draw(st.sampled_from(sorted(ALARM_SHAPES)), label="shape")
        sample, fields = ALARM_SHAPES[shape]
        world.reset(ALARM_NOW)
        event: Any = valid_alarm(sample, ALARM_NOW, event_id=f"chaos-{uuid.uuid4()}")
        applied: list[str] = []
        for _ in range(data.draw(st.integers(2, 4), label="mutations")):
            path, op, value = draw_mutation(data, {p: k for p, k in fields.items() if k != "top"})
            try:
                event = apply(event, path, op, value, Ctx(ALARM_NOW))
            except (KeyError, IndexError, TypeError, AttributeError, ValueError):
                continue  # an earlier mutation removed or retyped what this one would change
            applied.append(f"{label(path)} {op} {value}")
        # No verdict is certain here (a later mutation may undo what an earlier one broke): the
        # invariants alone, and no action on a forged value.
        what = f"{shape}: " + "; ".join(applied)
        item = deliver_and_check("alarm", event, group="web", reject=False, what=what)
        if item["outcome"] == "applied":
            web = group_sizes()["web"].desired
            assert web == WEB_AFTER_VALID_ALARM, f"[{what}] applied web -> {web} on a forged value"
        assert_group_can_still_scale("web", world.clock, world.put_cpu)

    run()
