"""Exhaustive sweep (not collected by default: its name is not test_*.py). Every field of every shape
x a representative value of each class (and removal), through its handler, with the invariants;
writes every violation to a JSON report instead of stopping at the first. For triage:

    HOSTILE_SWEEP_OUT=/tmp/sweep.json .venv/bin/python -m pytest \
        tests/integration/hostile/sweep_hostile.py -n 2 -p no:randomly -q

The property suite samples the same space (test_hostile_properties.py); this walks all of it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path as FilePath
from typing import Any

import pytest

from ..alarm_events import ACTION, EVENTBRIDGE, SNS
from ..support import LambdaContext
from .conftest import ALARM_NOW, FORECAST_NOW, SCHEDULE_NOW, World
from .events import PREWARM, forecast_payload, phase_payload, valid_alarm
from .invariants import assert_group_can_still_scale, check_call, deliver, group_sizes, snapshot
from .mutations import (
    ACTION_FIELDS,
    ADDED,
    EVENTBRIDGE_FIELDS,
    FORECAST_FIELDS,
    SCHEDULE_FIELDS,
    SNS_FIELDS,
    Ctx,
    Path,
    apply,
    label,
    must_reject,
)
from .test_hostile_properties import LAMBDAS, WEB_AFTER_VALID_ALARM

# One value per class (and the ones issues 7/12 name); times get the whole time pool.
SAMPLE_VALUES = (
    "null",
    "int-7",
    "1e308",
    "nan",
    "1e999-text",
    "sixty",
    "empty-list",
    "dict",
    "empty-string",
    "other-group",
    "huge-256k",
    "surrogate-suffix",
    "deep-600",
    "deep-json-5000",
    "hundreds",
)
TIME_SAMPLE = (
    "far-future",
    "ancient",
    "6-min-ahead",
    "21-min-behind",
    "66-min-behind",
    "not-a-time",
    "epoch-number",
)

SHAPES: dict[str, tuple[str, dict[Path, str], datetime, Callable[[], Any]]] = {
    "sns": (
        "alarm",
        SNS_FIELDS,
        ALARM_NOW,
        lambda: valid_alarm(SNS, ALARM_NOW, event_id=f"s-{uuid.uuid4()}"),
    ),
    "eventbridge": (
        "alarm",
        EVENTBRIDGE_FIELDS,
        ALARM_NOW,
        lambda: valid_alarm(EVENTBRIDGE, ALARM_NOW, event_id=f"s-{uuid.uuid4()}"),
    ),
    "action": ("alarm", ACTION_FIELDS, ALARM_NOW, lambda: valid_alarm(ACTION, ALARM_NOW)),
    "schedule": ("schedule", SCHEDULE_FIELDS, SCHEDULE_NOW, lambda: phase_payload("prewarm", PREWARM)),
    "forecast": ("forecast", FORECAST_FIELDS, FORECAST_NOW, lambda: forecast_payload()),
}


def _mutations(fields: dict[Path, str]) -> list[tuple[Path, str, str | None]]:
    found: list[tuple[Path, str, str | None]] = []
    for path, kind in sorted(fields.items(), key=lambda pair: label(pair[0])):
        if path not in ADDED:
            found.append((path, "delete", None))
        for value in TIME_SAMPLE if kind == "time" else SAMPLE_VALUES:
            found.append((path, "set", value))
    return found


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sweep(shape: str, world: World) -> None:
    handler, fields, now, valid = SHAPES[shape]
    violations: list[dict[str, Any]] = []
    mutations = _mutations(fields)
    for path, op, value in mutations:
        world.reset(now)
        reject = must_reject(fields[path], op, value)
        record = {"shape": shape, "field": label(path), "kind": fields[path], "op": op, "value": value}
        try:
            event = apply(valid(), path, op, value, Ctx(now))
            before = snapshot()
            delivery = deliver(LAMBDAS[handler], event, LambdaContext(function_name=f"surgeguard-{handler}"))
            item = check_call(before, delivery, group="web", must_reject=reject)
            record["outcome"] = item["outcome"]
            if handler == "alarm" and item["outcome"] == "applied":
                web = group_sizes()["web"].desired
                assert web == WEB_AFTER_VALID_ALARM, f"applied web -> {web} on a forged value"
            assert_group_can_still_scale("web", world.clock, world.put_cpu)
        except AssertionError as error:
            violations.append({**record, "must_reject": reject, "violation": str(error).splitlines()[0]})
    out = os.environ.get("HOSTILE_SWEEP_OUT")
    if out:
        path_out = FilePath(f"{out}.{shape}.json")
        path_out.write_text(json.dumps({"cases": len(mutations), "violations": violations}, indent=1))
    assert not violations, (
        f"{len(violations)} of {len(mutations)} mutations violate the contract (see the report)"
    )
