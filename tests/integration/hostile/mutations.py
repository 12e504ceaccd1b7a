"""Hostile values and the fields they go into, for the property-based suite.

A mutation is small and printable (a field's name, an operation, a value's name) so hypothesis
reports a readable falsifying example; the value itself (up to 256 KiB, 5000 levels deep) is built
only when applied. Each field has a kind that says what the contract requires when it is mutated:

- identity: the alarm/schedule it names, its account, region, source, state...: any replacement or
  removal is bad input (`rejected`, nothing changes);
- time: any replacement in the pool (all outside the window, or not a time): `rejected`; removal is
  free (an EventBridge event may fall back on its envelope's `time`, itself checked);
- id: the delivery id: removal or a non-string: `rejected`; odd strings (huge, surrogates): free,
  but still exactly one audit item carrying a truncated/escaped id;
- metric: what the event says it measures: any replacement is `rejected` (removal of the whole
  field is not required to be: the event then carries nothing to compare);
- metric-leaf: a part of a metric description: replacement or removal is `rejected`;
- number: a threshold: non-numbers and non-finite numbers are `rejected`;
- structure: a container: replacement by a wrong type or removal is `rejected`;
- optional-structure: a container whose replacement is `rejected`, whose removal is free;
- free: nothing is required but the invariants (one item, no escape, no wrong change, never stuck).
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..alarm_events import aws_time
from .events import deep_json, deep_value

Path = tuple[str | int, ...]
JSON = "$"  # in a path: the string here is JSON; mutate inside it and encode it again

REJECT_ALWAYS = frozenset({"identity", "metric-leaf", "structure", "top", "records", "message"})


# --- values ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Raw:
    """A JSON text with no Python equivalent that json.dumps would write (e.g. 1e999)."""

    text: str


@dataclass(frozen=True)
class Ctx:
    now: datetime  # the Lambda's clock


HUGE = 256 * 1024
# name -> (builder, class). Classes: wrong-type, non-finite, finite, string, time, deep, many.
VALUES: dict[str, tuple[Callable[[Ctx, Any], Any], str]] = {
    "null": (lambda c, o: None, "wrong-type"),
    "true": (lambda c, o: True, "wrong-type"),
    "int-7": (lambda c, o: 7, "finite"),
    "minus-1": (lambda c, o: -1, "finite"),
    "float-1.5": (lambda c, o: 1.5, "finite"),
    "minus-zero": (lambda c, o: -0.0, "finite"),
    "1e308": (lambda c, o: 1e308, "finite"),
    "2**70": (lambda c, o: 2**70, "finite"),
    "nan": (lambda c, o: math.nan, "non-finite"),
    "inf": (lambda c, o: math.inf, "non-finite"),
    "-inf": (lambda c, o: -math.inf, "non-finite"),
    "1e999-text": (lambda c, o: Raw("1e999"), "non-finite"),
    "sixty": (lambda c, o: "sixty", "string"),
    "numeric-string": (lambda c, o: "60", "string"),
    "empty-list": (lambda c, o: [], "wrong-type"),
    "list-of-str": (lambda c, o: ["x"], "wrong-type"),
    "empty-dict": (lambda c, o: {}, "wrong-type"),
    "dict": (lambda c, o: {"x": 1}, "wrong-type"),
    "empty-string": (lambda c, o: "", "string"),
    "space": (lambda c, o: " ", "string"),
    "nul-char": (lambda c, o: "\x00", "string"),
    "garbage": (lambda c, o: "☃ not this", "string"),
    "other-group": (lambda c, o: "api", "string"),
    "long-300": (lambda c, o: "A" * 300, "string"),
    "huge-256k": (lambda c, o: "x" * HUGE, "string"),
    "surrogate": (lambda c, o: "\ud800", "string"),
    "surrogate-suffix": (lambda c, o: (o if isinstance(o, str) else "x") + "\udfff", "string"),
    "far-future": (lambda c, o: "2099-01-01T00:00:00.000+0000", "time"),
    "ancient": (lambda c, o: "1970-01-01T00:00:00.000+0000", "time"),
    "year-9999": (lambda c, o: "9999-12-31T23:59:59.999+0000", "time"),
    "year-0001": (lambda c, o: "0001-01-01T00:00:00Z", "time"),
    "6-min-ahead": (lambda c, o: aws_time(c.now + timedelta(minutes=6)), "time"),
    "21-min-behind": (lambda c, o: aws_time(c.now - timedelta(minutes=21)), "time"),
    "66-min-behind": (lambda c, o: aws_time(c.now - timedelta(minutes=66)), "time"),
    "3-days-behind": (lambda c, o: aws_time(c.now - timedelta(days=3)), "time"),
    "offset-plus-14h": (lambda c, o: c.now.strftime("%Y-%m-%dT%H:%M:%S.000+1400"), "time"),
    "not-a-time": (lambda c, o: "yesterday", "time"),
    "bad-date": (lambda c, o: "2026-13-45T99:99:99.000+0000", "time"),
    "epoch-number": (lambda c, o: int(c.now.timestamp()), "time"),
    "deep-600": (lambda c, o: deep_value(600), "deep"),
    # JSON text nested deep: a string (only where JSON is expected is it deep)
    "deep-json-5000": (lambda c, o: deep_json(5000), "string"),
    "deep-json-object-5000": (lambda c, o: deep_json(5000, kind="object"), "string"),
    "deep-json-256k": (lambda c, o: deep_json(HUGE // 2), "string"),
    "hundreds": (lambda c, o: _hundreds(o), "many"),
}
VALUE_NAMES = tuple(VALUES)


def _hundreds(original: Any) -> list[Any]:
    """300 of the list's first element (records, metrics, dimensions), or of a metric-math entry."""
    if isinstance(original, list) and original:
        return [copy.deepcopy(original[0]) for _ in range(300)]
    metric = {
        "Id": "m1",
        "MetricStat": {
            "Metric": {
                "MetricName": "CPUUtilization",
                "Namespace": "AWS/EC2",
                "Dimensions": [{"value": "web", "name": "AutoScalingGroupName"}],
            },
            "Period": 60,
            "Stat": "Average",
        },
        "ReturnData": True,
    }
    return [{**copy.deepcopy(metric), "Id": f"m{i}"} for i in range(300)]


TIME_VALUES = tuple(n for n, (_, kind) in VALUES.items() if kind == "time")
# Replacement values any identity/metric field must refuse (all of them: none is the valid value).
ANY_VALUES = VALUE_NAMES


def build_value(name: str, ctx: Ctx, original: Any) -> Any:
    return VALUES[name][0](ctx, original)


def must_reject(kind: str, op: str, value: str | None) -> bool:
    """Whether the contract makes this mutation bad input (`rejected`, nothing changed)."""
    if kind in REJECT_ALWAYS:
        return True
    if kind in {"metric", "time"}:
        return op != "delete"
    if kind == "optional-structure":
        return op != "delete"
    value_class = VALUES[value][1] if value else None
    if kind == "id":
        return op == "delete" or value_class in {"wrong-type", "finite", "non-finite", "deep", "many"}
    if kind == "number":
        if op == "delete":
            return False
        return value_class in {"wrong-type", "non-finite", "string", "time", "deep", "many"}
    return False


# --- applying one ----------------------------------------------------------------------------------
_PLACEHOLDER = "\u0000raw:{}\u0000"


def _pythonic(value: Any) -> Any:
    """What the Lambda runtime would hand the handler for a raw JSON value (1e999 -> inf)."""
    return json.loads(value.text) if isinstance(value, Raw) else value


def edit(event: Any, path: Path, change: Callable[[Any, str | int, bool], None]) -> Any:
    """Walk `path` (decoding and re-encoding a JSON string at a JSON marker) and let
    `change(parent, key, in_json)` edit the last step in place; a Raw value it leaves inside JSON is
    written as its text (1e999 stays 1e999)."""
    if not path:
        raise AssertionError("edit() needs a non-empty path")

    def walk(node: Any, rest: Path, raws: list[str] | None) -> None:
        head = rest[0]
        if len(rest) > 2 and rest[1] == JSON:
            assert raws is None, "JSON inside JSON is not supported"
            decoded = json.loads(node[head])
            inner: list[str] = []
            walk(decoded, rest[2:], inner)
            text = json.dumps(decoded)
            for index, raw in enumerate(inner):
                text = text.replace(json.dumps(_PLACEHOLDER.format(index)), raw)
            node[head] = text
            return
        if len(rest) > 1:
            walk(node[head], rest[1:], raws)
            return
        change(node, head, raws is not None)
        if raws is not None and _holds_raw(node, head):
            raws.append(node[head].text)
            node[head] = _PLACEHOLDER.format(len(raws) - 1)

    walk(event, path, None)
    return event


def _holds_raw(parent: Any, key: str | int) -> bool:
    try:
        return isinstance(parent[key], Raw)
    except (KeyError, IndexError, TypeError):
        return False


def put(event: Any, path: Path, value: Any) -> Any:
    """Set the field at `path` to `value` (a Raw inside a JSON string is written as its text; outside,
    as what the runtime would decode it to)."""

    def change(parent: Any, key: str | int, in_json: bool) -> None:
        parent[key] = value if in_json else _pythonic(value)

    return edit(event, path, change)


def drop(event: Any, path: Path) -> Any:
    """Remove the field (or list element) at `path`."""

    def change(parent: Any, key: str | int, _: bool) -> None:
        if isinstance(parent, list):
            parent.pop(int(key))
        else:
            parent.pop(key, None)

    return edit(event, path, change)


def get(event: Any, path: Path) -> Any:
    node = event
    for index, step in enumerate(path):
        if step == JSON:
            continue
        node = node[step]
        if index + 1 < len(path) and path[index + 1] == JSON:
            node = json.loads(node)
    return node


def apply(event: Any, path: Path, op: str, value: str | None, ctx: Ctx) -> Any:
    """The event with one mutation applied (in place when it can be; the result is returned)."""
    if not path:
        assert op == "set" and value is not None
        return _pythonic(build_value(value, ctx, event))
    if op == "delete":
        return drop(event, path)
    assert value is not None

    def change(parent: Any, key: str | int, in_json: bool) -> None:
        present = isinstance(parent, list) or (isinstance(parent, dict) and key in parent)
        new = build_value(value, ctx, parent[key] if present else None)
        parent[key] = new if in_json else _pythonic(new)

    return edit(event, path, change)


def label(path: Path) -> str:
    return ".".join(str(p) for p in path) or "<event>"


# --- the fields of each shape ----------------------------------------------------------------------
R: Path = ("Records", 0)
S: Path = (*R, "Sns")
M: Path = (*S, "Message", JSON)
T: Path = (*M, "Trigger")

SNS_FIELDS: dict[Path, str] = {
    (): "top",
    ("Records",): "records",
    R: "structure",
    (*R, "EventSource"): "identity",
    (*R, "EventVersion"): "free",
    (*R, "EventSubscriptionArn"): "free",
    S: "structure",
    (*S, "MessageId"): "id",
    (*S, "Message"): "message",
    (*S, "Type"): "free",
    (*S, "TopicArn"): "free",
    (*S, "Subject"): "free",
    (*S, "Timestamp"): "free",
    (*S, "Signature"): "free",
    (*S, "MessageAttributes"): "free",
    (*M, "AlarmName"): "identity",
    (*M, "AlarmArn"): "identity",
    (*M, "NewStateValue"): "identity",
    (*M, "StateChangeTime"): "time",
    (*M, "AWSAccountId"): "free",
    (*M, "Region"): "free",
    (*M, "OldStateValue"): "free",
    (*M, "NewStateReason"): "free",
    (*M, "AlarmDescription"): "free",
    T: "optional-structure",
    (*T, "MetricName"): "metric",
    (*T, "Namespace"): "metric",
    (*T, "Dimensions"): "metric",
    (*T, "Dimensions", 0): "metric-leaf",
    (*T, "Dimensions", 0, "name"): "metric-leaf",
    (*T, "Dimensions", 0, "value"): "metric-leaf",
    (*T, "Metrics"): "metric",  # added: a math alarm's list (hundreds of metrics...)
    (*T, "Threshold"): "number",
    (*T, "Period"): "free",
    (*T, "EvaluationPeriods"): "free",
    (*T, "Statistic"): "free",
    (*T, "ComparisonOperator"): "free",
    (*T, "Unit"): "free",
    (*T, "TreatMissingData"): "free",
}


def _detail_fields(d: Path) -> dict[Path, str]:
    metric = (*d, "configuration", "metrics", 0, "metricStat", "metric")
    return {
        (*d, "alarmName"): "identity",
        (*d, "state"): "structure",
        (*d, "state", "value"): "identity",
        (*d, "state", "timestamp"): "time",
        (*d, "state", "reason"): "free",
        (*d, "state", "reasonData"): "free",
        (*d, "state", "reasonData", JSON, "recentDatapoints"): "free",
        (*d, "state", "reasonData", JSON, "recentDatapoints", 0): "free",
        (*d, "state", "reasonData", JSON, "threshold"): "free",
        (*d, "previousState"): "free",
        (*d, "previousState", "value"): "free",
        (*d, "previousState", "timestamp"): "free",
        (*d, "previousState", "reasonData"): "free",
        (*d, "configuration"): "optional-structure",
        (*d, "configuration", "description"): "free",
        (*d, "configuration", "metrics"): "metric",
        (*d, "configuration", "metrics", 0): "metric-leaf",
        (*d, "configuration", "metrics", 0, "metricStat"): "metric-leaf",
        metric: "metric-leaf",
        (*metric, "name"): "metric-leaf",
        (*metric, "namespace"): "metric-leaf",
        (*metric, "dimensions"): "metric-leaf",
        (*metric, "dimensions", "AutoScalingGroupName"): "metric-leaf",
        (*metric, "dimensions", "InstanceId"): "metric-leaf",  # added: a second dimension
        (*d, "configuration", "metrics", 0, "metricStat", "period"): "free",
        (*d, "configuration", "metrics", 0, "metricStat", "stat"): "free",
        (*d, "configuration", "metrics", 0, "id"): "free",
    }


EVENTBRIDGE_FIELDS: dict[Path, str] = {
    (): "top",
    ("version",): "free",
    ("id",): "id",
    ("detail-type",): "identity",
    ("source",): "identity",
    ("account",): "identity",
    ("time",): "free",
    ("region",): "identity",
    ("resources",): "identity",
    ("resources", 0): "identity",
    ("detail",): "structure",
    **_detail_fields(("detail",)),
}

ACTION_FIELDS: dict[Path, str] = {
    (): "top",
    ("source",): "identity",
    ("alarmArn",): "identity",
    ("accountId",): "free",
    ("time",): "free",
    ("region",): "free",
    ("alarmData",): "structure",
    **_detail_fields(("alarmData",)),
}

SCHEDULE_FIELDS: dict[Path, str] = {
    (): "top",
    ("group",): "identity",
    ("event",): "identity",
    ("phase",): "identity",
    ("scheduled_time",): "time",
    ("execution_id",): "id",
    ("schedule_arn",): "free",
    ("extra",): "free",  # added: a key the payload does not have
}

FORECAST_FIELDS: dict[Path, str] = {
    (): "top",
    ("group",): "identity",
    ("scheduled_time",): "time",
    ("execution_id",): "id",
    ("extra",): "free",
}

# Fields a deletion cannot apply to (they are added by a mutation, or the whole event).
ADDED = frozenset({(*T, "Metrics"), ("extra",), ()})
for _fields in (EVENTBRIDGE_FIELDS, ACTION_FIELDS):
    for _path in _fields:
        if _path and _path[-1] == "InstanceId":
            ADDED = ADDED | {_path}

FAMILIES = {
    "identity": ("identity",),
    "time": ("time",),
    "id": ("id",),
    "metric": ("metric", "metric-leaf", "number"),
    "structure": ("top", "records", "structure", "optional-structure", "message"),
    "free": ("free",),
}
