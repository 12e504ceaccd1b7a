"""The invariants every handler call keeps, whatever it was sent (issues 7 and 12), as small helpers
the hostile-input suite and the fault-injection suite (tests/integration/faults/) both use.

A call is checked against a `Before` snapshot taken just before it:

    before = snapshot()
    call = deliver(alarm.lambda_handler, event)
    item = check_call(before, call, event=event, group="web", must_reject=True)
    assert_group_can_still_scale("web", clock)

What they assert (the contract the Lambdas are rewritten to):
- the handler returns; the only exception that may escape is RetryableFailureError, after a `failed` item;
- exactly one new audit item per call (anywhere in the table), carrying `source_id` = the delivery's
  own id when the event carries it as a string (SNS MessageId, EventBridge id, direct alarm action
  `<alarmArn>@<state.timestamp>`, Scheduler `execution_id`), possibly truncated / surrogate-escaped;
- bad input is `rejected` with a reason and changes no Auto Scaling group;
- every group stays within its bounds; no group but the call's own (valid) group changes, and that
  one only when the outcome is `applied`;
- the group is not left unable to scale: a valid fresh alarm afterwards is `applied` or `unchanged`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from boto3.dynamodb.types import TypeDeserializer

from surgeguard import keys
from surgeguard.service import RetryableFailureError

from ..support import TABLE, LambdaContext, plain

GROUPS = ("web", "api", "rehearsal")
# Each group's widest legal [min, max]: the config's, widened by a declared sale's temporary max.
BOUNDS: dict[str, tuple[int, int]] = {"web": (1, 30), "api": (1, 20), "rehearsal": (1, 10)}
DRY_RUN_GROUPS = frozenset({"rehearsal"})
# Stored ids may be cut to this many characters (and lone surrogates escaped).
ID_LIMIT = 256
CHANGING_OUTCOMES = frozenset({"applied"})
OUTCOMES = frozenset({"applied", "unchanged", "skipped", "rejected", "failed"})


# --- the Lambda's own clock ------------------------------------------------------------------------
class Clock:
    """`surgeguard.service.utc_now`, under the test's control (installed with monkeypatch)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, now: datetime) -> None:
        self.now = now
        # raising=False: the suite is written before (and runs while) utc_now lands.
        monkeypatch.setattr("surgeguard.service.utc_now", self._read, raising=False)

    def _read(self) -> datetime:
        return self.now

    def __call__(self) -> datetime:
        return self.now

    def pin(self, when: datetime) -> None:
        """The integration conftest's spelling of `set`."""
        self.set(when)

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self.now = when.astimezone(UTC)

    def advance(self, by: timedelta) -> datetime:
        self.now += by
        return self.now


# --- the world, read back -------------------------------------------------------------------------
@dataclass(frozen=True)
class Size:
    min: int
    desired: int
    max: int

    def __str__(self) -> str:
        return f"[{self.min}, {self.desired}, {self.max}]"


def group_sizes(names: Iterable[str] = GROUPS) -> dict[str, Size]:
    described = boto3.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=list(names))
    return {
        g["AutoScalingGroupName"]: Size(int(g["MinSize"]), int(g["DesiredCapacity"]), int(g["MaxSize"]))
        for g in described["AutoScalingGroups"]
    }


def table_name() -> str:
    return os.environ.get("TABLE_NAME", TABLE)


def audit_items() -> list[dict[str, Any]]:
    """Every audit item in the table (any group's partition, "-" included), keys kept."""
    deserializer = TypeDeserializer()
    dynamodb = boto3.client("dynamodb")
    request: dict[str, Any] = {
        "TableName": table_name(),
        "FilterExpression": "begins_with(#sk, :audit)",
        "ExpressionAttributeNames": {"#sk": keys.SORT_KEY},
        "ExpressionAttributeValues": {":audit": {"S": keys.AUDIT_SORT_PREFIX}},
    }
    found: list[dict[str, Any]] = []
    while True:
        response = dynamodb.scan(**request)
        found += [
            plain({k: deserializer.deserialize(v) for k, v in item.items()}) for item in response["Items"]
        ]
        if "LastEvaluatedKey" not in response:
            return found
        request["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _key(item: Mapping[str, Any]) -> tuple[str, str]:
    return str(item[keys.PARTITION_KEY]), str(item[keys.SORT_KEY])


def partition_group(item: Mapping[str, Any]) -> str:
    """The group an audit item is filed under ("-" for events naming no known group)."""
    return str(item[keys.PARTITION_KEY]).removeprefix(keys.GROUP_PREFIX)


@dataclass(frozen=True)
class Before:
    sizes: dict[str, Size]
    audit_keys: frozenset[tuple[str, str]]
    groups: tuple[str, ...]


def snapshot(groups: Iterable[str] = GROUPS) -> Before:
    names = tuple(groups)
    return Before(group_sizes(names), frozenset(_key(i) for i in audit_items()), names)


def new_audit_items(before: Before) -> list[dict[str, Any]]:
    return [i for i in audit_items() if _key(i) not in before.audit_keys]


# --- one delivery ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Delivery:
    event: Any
    result: Any
    error: Exception | None


def deliver(handler: Callable[[Any, Any], Any], event: Any, context: Any = None) -> Delivery:
    """Call a Lambda handler as the runtime would; whatever it raises is kept, not propagated."""
    try:
        return Delivery(event, handler(event, context or LambdaContext()), None)
    except Exception as error:  # RecursionError, UnicodeEncodeError, AttributeError... all count
        return Delivery(event, None, error)


def short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 20]}...<{len(text)} chars>"


def _brief(item: Mapping[str, Any]) -> str:
    return f"{item.get('outcome')!r} under {partition_group(item)!r}: {short(item.get('reason'), 200)}"


# --- the delivery's own id -------------------------------------------------------------------------
def expected_source_id(event: Any) -> str | None:
    """The delivery id the event carries as a string, by its shape (None: it carries none).

    SNS: Records[0].Sns.MessageId; direct alarm action: `<alarmArn>@<alarmData.state.timestamp>`;
    EventBridge (anything with `detail-type`/`detail`): `id`; Scheduler Input: `execution_id`.
    The shape decides, not the handler it was sent to. An empty string carries no id.
    """
    if not isinstance(event, dict):
        return None
    records = event.get("Records")
    if isinstance(records, list) and records:
        first = records[0]
        sns = first.get("Sns") if isinstance(first, dict) else None
        message_id = sns.get("MessageId") if isinstance(sns, dict) else None
        return message_id if isinstance(message_id, str) and message_id else None
    if "alarmData" in event:
        data = event.get("alarmData")
        state = data.get("state") if isinstance(data, dict) else None
        timestamp = state.get("timestamp") if isinstance(state, dict) else None
        arn = event.get("alarmArn")
        carried = isinstance(arn, str) and isinstance(timestamp, str) and arn and timestamp
        return f"{arn}@{timestamp}" if carried else None
    if "detail-type" in event or "detail" in event:
        event_id = event.get("id")
        return event_id if isinstance(event_id, str) and event_id else None
    execution_id = event.get("execution_id")
    return execution_id if isinstance(execution_id, str) and execution_id else None


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def assert_source_id(item: Mapping[str, Any], expected: str | None) -> None:
    if expected is None:
        return
    stored = item.get("source_id")
    assert isinstance(stored, str), (
        f"audit item has no top-level source_id (the delivery id {short(expected, 80)} is lost): "
        f"{_brief(item)}"
    )
    if len(expected) <= ID_LIMIT and _storable(expected):
        assert stored == expected, f"source_id {short(stored, 80)} != delivery id {short(expected, 80)}"
        return
    # Overlong or with lone surrogates: a truncated / escaped form; what precedes the first surrogate
    # (and the cut) is kept as is.
    clean = next((i for i, c in enumerate(expected) if "\ud800" <= c <= "\udfff"), len(expected))
    prefix = expected[: min(clean, ID_LIMIT // 2)]
    assert _storable(stored), "source_id holds a lone surrogate"
    assert stored.startswith(prefix), (
        f"source_id {short(stored, 80)} is not a truncated/escaped form of {short(expected, 80)}"
    )


# --- the checks ------------------------------------------------------------------------------------
def one_audit_item(before: Before, delivery: Delivery) -> dict[str, Any]:
    items = new_audit_items(before)
    escaped = "" if delivery.error is None else f"; raised {type(delivery.error).__name__}: "
    escaped += "" if delivery.error is None else short(str(delivery.error), 160)
    assert len(items) == 1, (
        f"{len(items)} new audit items for one call (expected exactly 1){escaped}; "
        f"items: {[_brief(i) for i in items]}"
    )
    return items[0]


def assert_returned(delivery: Delivery, item: Mapping[str, Any]) -> None:
    """Only RetryableFailureError may escape, and only once a `failed` item is written."""
    if delivery.error is None:
        result = delivery.result
        assert isinstance(result, dict) and isinstance(result.get("records"), list) and result["records"], (
            f"handler returned {short(result)}, not {{'records': [...]}}"
        )
        assert result["records"][0].get("outcome") == item["outcome"], (
            f"handler reported {result['records'][0].get('outcome')!r}, audit says {item['outcome']!r}"
        )
        return
    assert isinstance(delivery.error, RetryableFailureError), (
        f"{type(delivery.error).__name__} escaped the handler: {short(str(delivery.error), 200)}"
    )
    assert item["outcome"] == "failed", f"RetryableFailureError raised but the item is {item['outcome']!r}"


def assert_item_well_formed(item: Mapping[str, Any]) -> None:
    assert item.get("outcome") in OUTCOMES, f"audit outcome {item.get('outcome')!r} is not one of {OUTCOMES}"
    reason = item.get("reason")
    assert isinstance(reason, str) and reason.strip(), f"audit item has no reason: {_brief(item)}"


def assert_bounds(sizes: Mapping[str, Size], bounds: Mapping[str, tuple[int, int]] = BOUNDS) -> None:
    for name, size in sizes.items():
        low, high = bounds.get(name, (0, 10_000))
        assert size.min <= size.desired <= size.max, f"group {name} desired outside its own bounds: {size}"
        assert low <= size.min and size.max <= high and low <= size.desired <= high, (
            f"group {name} {size} outside its legal bounds [{low}, {high}]"
        )


def assert_capacity(
    before: Before,
    item: Mapping[str, Any],
    *,
    group: str | None,
    bounds: Mapping[str, tuple[int, int]] = BOUNDS,
    changing: frozenset[str] = CHANGING_OUTCOMES,
) -> dict[str, Size]:
    """No group but `group` changed; `group` only on a changing outcome; everything within bounds."""
    after = group_sizes(before.groups)
    for name in before.groups:
        if after.get(name) == before.sizes.get(name):
            continue
        assert name == group, (
            f"group {name} changed {before.sizes.get(name)} -> {after.get(name)} on an event for "
            f"{group!r} ({item['outcome']})"
        )
        assert item["outcome"] in changing, (
            f"group {name} changed {before.sizes.get(name)} -> {after.get(name)} but the outcome is "
            f"{item['outcome']!r}: {short(item.get('reason'), 160)}"
        )
    assert_bounds(after, bounds)
    return after


def assert_rejected(item: Mapping[str, Any], *fragments: str | tuple[str, ...]) -> None:
    """Outcome `rejected`, its reason containing each fragment (a tuple: any one of them), any case."""
    assert item["outcome"] == "rejected", f"expected rejected, got {_brief(item)}"
    reason = str(item.get("reason", "")).lower()
    for fragment in fragments:
        options = (fragment,) if isinstance(fragment, str) else fragment
        assert any(o.lower() in reason for o in options), (
            f"rejected, but the reason names none of {list(options)}: {short(item.get('reason'), 200)}"
        )


_AUTO: Any = object()


def check_call(
    before: Before,
    delivery: Delivery,
    *,
    group: str | None,
    must_reject: bool = False,
    fragments: Iterable[str | tuple[str, ...]] = (),
    expected_id: str | None = _AUTO,
    filed_under: str | None = None,
    bounds: Mapping[str, tuple[int, int]] = BOUNDS,
) -> dict[str, Any]:
    """Every per-call invariant; returns the call's one audit item.

    `group`: the group the event (if valid) belongs to, the only one allowed to change.
    `must_reject`: the event is bad input: `rejected`, nothing changes anywhere.
    `filed_under`: the partition the item must be in ("-" for no known group), when known.
    """
    item = one_audit_item(before, delivery)
    assert_returned(delivery, item)
    assert_item_well_formed(item)
    assert_source_id(item, expected_source_id(delivery.event) if expected_id is _AUTO else expected_id)
    if filed_under is not None:
        assert partition_group(item) == filed_under, (
            f"audit item filed under {partition_group(item)!r}, expected {filed_under!r}: {_brief(item)}"
        )
    if must_reject:
        assert_rejected(item, *fragments)
    assert_capacity(before, item, group=None if must_reject else group, bounds=bounds)
    return item


# --- never stuck -----------------------------------------------------------------------------------
def assert_group_can_still_scale(
    group: str,
    clock: Clock,
    put_cpu: Callable[..., None],
    *,
    after: timedelta = timedelta(minutes=6),
    bounds: Mapping[str, tuple[int, int]] = BOUNDS,
) -> dict[str, Any]:
    """A valid fresh alarm for `group` (the clock moved past any accepted future skew, high load just
    before it in CloudWatch, a new delivery id; the composite's event for a group whose CPU only acts
    through one) is decided: `applied` or `unchanged`, never skipped as stale or duplicate."""
    from surgeguard.handlers import alarm  # the handler module, looked up late (it is being rewritten)

    from .events import fresh_alarm

    now = clock.advance(after)
    event = fresh_alarm(group, now, put_cpu)
    before = snapshot()
    item = check_call(before, deliver(alarm.lambda_handler, event), group=group, bounds=bounds)
    assert item["outcome"] in {"applied", "unchanged"}, (
        f"group {group} cannot scale any more: a valid fresh alarm got {_brief(item)}"
    )
    return item
