"""DynamoDB adapter: audit items, the per-group state item (versioned), trigger claims, kill switch."""

from __future__ import annotations

import itertools
import json
import logging
import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from surgeguard import keys
from surgeguard.adapters.clients import AwsAdapter
from surgeguard.adapters.errors import (
    AwsCallError,
    ConcurrentUpdateError,
    DamagedItemError,
    DuplicateTriggerError,
)
from surgeguard.config import ANCHOR_TARGET_HIGH, ANCHOR_TARGET_LOW, REEVALUATION_GROUPS_PER_SHARD
from surgeguard.domain.anchors import MULTIPLIER_CURVE, AnchorVerdict
from surgeguard.domain.failures import FailureMemory, StandingFailure
from surgeguard.domain.forecast import ForecastState
from surgeguard.domain.headroom import HeadroomVerdict
from surgeguard.domain.model import (
    Claim,
    EventState,
    Launch,
    Pause,
    Recommendation,
    ScalerMemory,
    attempt_finished,
)
from surgeguard.domain.triggers import PLAUSIBLE_YEARS, safe_text

logger = logging.getLogger("surgeguard")

CONDITION_FAILED = "ConditionalCheckFailedException"
# DynamoDB numbers: 38 digits of precision, magnitude within 1e-130 .. 1e125; anything else is kept
# as its text, so an absurd value can never make the audit write itself fail.
_NUMBER_MAX = 1e125
_NUMBER_MIN = 1e-129
# One string attribute of an audit item (item size is capped at 400 KB).
AUDIT_TEXT_LIMIT = 4096
CLAIM_RUNNING = "running"
CLAIM_DONE = "done"


def create_local_table(dynamodb: Any, name: str) -> None:
    """The audit table on a local AWS (moto) for tests and the game day; the stack makes the real one."""
    string_key = [{"AttributeName": k, "AttributeType": "S"} for k in (keys.PARTITION_KEY, keys.SORT_KEY)]
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=string_key,
        KeySchema=[
            {"AttributeName": keys.PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": keys.SORT_KEY, "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": keys.TTL_ATTRIBUTE}
    )


def memory_to_json(memory: ScalerMemory) -> str:
    data = asdict(memory)
    data.pop("version")
    return json.dumps(data, default=lambda v: v.isoformat() if isinstance(v, datetime) else str(v))


# Reads that find a damaged state version renumber it; each lost race to another decider reads again.
_RENUMBER_ATTEMPTS = 3


def _state_version(attribute: Any) -> int | None:
    """The state item's version as Surgeguard writes it (a whole number from 1 up), or None."""
    if not isinstance(attribute, dict) or set(attribute) != {"N"}:
        return None
    try:
        version = int(attribute["N"])
    except (TypeError, ValueError):
        return None
    return version if version >= 1 else None


def _shown(attribute: Any) -> str:
    return "missing" if attribute is None else safe_text(repr(attribute), 80)


def memory_from_json(raw: str, version: int) -> ScalerMemory:
    """The state item's memory; TypeError or ValueError where it is not what `memory_to_json` writes
    (every field is checked here: a damaged value must not fail a comparison deep in a decision)."""
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError(f"memory is a JSON {type(data).__name__}, not an object")
    return ScalerMemory(
        version=version,
        last_scale_out_at=_when(data.get("last_scale_out_at"), "last_scale_out_at"),
        last_scale_in_at=_when(data.get("last_scale_in_at"), "last_scale_in_at"),
        last_trigger_at=_when(data.get("last_trigger_at"), "last_trigger_at"),
        launches=tuple(
            Launch(_at(x, "launches"), _count(x["count"], "launches.count"))
            for x in _entries(data, "launches")
        ),
        recommendations=tuple(
            Recommendation(
                _at(x, "recommendations"),
                _count(x["desired"], "recommendations.desired"),
                _whole(x.get("load"), "recommendations.load"),
            )
            for x in _entries(data, "recommendations")
        ),
        committed_desired=_whole(data.get("committed_desired"), "committed_desired"),
        committed_at=_when(data.get("committed_at"), "committed_at"),
        committed_from=_whole(data.get("committed_from"), "committed_from"),
        committed_by=_text(data.get("committed_by"), "committed_by"),
        last_trigger_id=_text(data.get("last_trigger_id"), "last_trigger_id"),
        outside_noticed_by=_text(data.get("outside_noticed_by"), "outside_noticed_by"),
        outside_notes_json=_text(data.get("outside_notes_json"), "outside_notes_json"),
    )


def _when(value: Any, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} is not a time string")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{name} {value!r} has no time zone")
    return moment


def _whole(value: Any, name: str) -> int | None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise TypeError(f"{name} is not a whole number")
    return value


def _count(value: Any, name: str) -> int:
    number = _whole(value, name)
    if number is None:
        raise TypeError(f"{name} is missing")
    return number


def _text(value: Any, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} is not a string")
    return value


def _entries(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data[name]
    if not isinstance(value, list) or not all(isinstance(x, dict) for x in value):
        raise TypeError(f"{name} is not a list of objects")
    return value


def _at(entry: dict[str, Any], name: str) -> datetime:
    moment = _when(entry["at"], f"{name}.at")
    if moment is None:
        raise ValueError(f"{name} entry without a time")
    return moment


def _to_attribute(value: Any) -> dict[str, Any]:
    """Plain JSON value -> DynamoDB attribute (numbers as strings: no float rounding)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, float):
        magnitude = abs(value)
        if not math.isfinite(value) or magnitude > _NUMBER_MAX or 0 < magnitude < _NUMBER_MIN:
            return {"S": repr(value)}
        return {"N": repr(value)}
    if isinstance(value, int | Decimal):
        text = str(value)
        return {"N": text} if len(text.lstrip("-")) <= 38 else {"S": text[:AUDIT_TEXT_LIMIT]}
    if isinstance(value, str):
        return {"S": safe_text(value, AUDIT_TEXT_LIMIT)}
    if isinstance(value, dict):
        return {"M": {safe_text(str(k)): _to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_to_attribute(v) for v in value]}
    return {"S": safe_text(str(value), AUDIT_TEXT_LIMIT)}


def _from_attribute(attribute: dict[str, Any]) -> Any:
    (kind, value), *_ = attribute.items()
    if kind == "N":
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value else number
    if kind == "M":
        return {k: _from_attribute(v) for k, v in value.items()}
    if kind == "L":
        return [_from_attribute(v) for v in value]
    if kind == "NULL":
        return None
    return value


def _record_json(record: dict[str, Any]) -> str:
    return json.dumps(record, default=str, separators=(",", ":"))


# One claim item holds every record its attempts stash: a re-evaluation decides up to
# REEVALUATION_GROUPS_PER_SHARD groups under one claim, and Lambda makes up to 3 attempts, each of which
# may stash every group again before the claim completes. DynamoDB refuses an item over 400 KB: with 50
# groups of 255-character names and 4 signals each the claim once reached 432 KB, and the last groups'
# decisions were saved but never applied (then taken for another writer's change).
# The claim's own attributes (keys, its attempts' record keys) take the rest.
CLAIM_ITEM_ROOM = 400 * 1024 - 16 * 1024
STASH_ATTEMPTS = 3
STASH_RECORD_BUDGET = CLAIM_ITEM_ROOM // (REEVALUATION_GROUPS_PER_SHARD * STASH_ATTEMPTS)
# Left out first where a stashed record is over its budget: the decision's evidence, not its outcome.
_STASH_BULK = ("inputs", "candidates", "clamps")
_TRIGGER_KEPT = frozenset({"id", "source", "alarm", "state", "timestamp", "scheduled_time", "phase", "event"})
# What a stashed record keeps whole whatever its size: what the retry audits the change by.
_STASH_WHOLE = frozenset(
    {
        "group",
        "at",
        "delivery_id",
        "request_id",
        "source_id",
        "outcome",
        "action",
        "previous_desired",
        "new_desired",
        "new_max",
        "event_target",
        "skip_cause",
        "winning_rule",
        "expires_at",
        "trigger",
        "stash_trimmed",
    }
)
_NOTE_KEPT = 120  # characters of a free-text note kept in a trimmed stash


def stash_json(record: dict[str, Any]) -> str:
    """The record as the claim keeps it: whole when it fits `STASH_RECORD_BUDGET` bytes (almost always:
    about 1.3 KB), else without its inputs, candidates and clamps, and its reason shortened, said so in
    `stash_trimmed` (only a record audited from the stash, after its own write failed, shows it)."""
    text, size = _compact_json(record)
    if size <= STASH_RECORD_BUDGET:
        return text
    left_out = [name for name in _STASH_BULK if name in record]
    trimmed = {k: v for k, v in record.items() if k not in left_out}
    trigger = record.get("trigger")
    if isinstance(trigger, dict) and set(trigger) - _TRIGGER_KEPT:
        # A re-evaluation's names every alarm in ALARM, each holding the group's name.
        trimmed["trigger"] = {k: v for k, v in trigger.items() if k in _TRIGGER_KEPT}
        left_out.append("the trigger's details")
    trimmed["stash_trimmed"] = f"{', '.join(left_out) or 'nothing'} left out to fit the claim item"
    text, size = _compact_json(trimmed)
    # Then notes of free text (a damaged item's, a late phase's), the longest first, while still over:
    # before the reason, which says what the change was.
    kept_whole = _STASH_WHOLE | {"reason"}
    notes = sorted(
        (name for name, value in trimmed.items() if name not in kept_whole and isinstance(value, str)),
        key=lambda name: -len(trimmed[name]),
    )
    for name in notes:
        if size <= STASH_RECORD_BUDGET:
            break
        if len(trimmed[name]) > _NOTE_KEPT:
            trimmed[name] = trimmed[name][:_NOTE_KEPT] + "..."
            left_out.append(f"the end of {name}")
            trimmed["stash_trimmed"] = f"{', '.join(left_out)} left out to fit the claim item"
            text, size = _compact_json(trimmed)
    reason = str(trimmed.get("reason", ""))
    keep = len(reason)
    while size > STASH_RECORD_BUDGET and keep > 0:
        keep = keep * 3 // 4
        trimmed["reason"] = reason[:keep] + "..."
        text, size = _compact_json(trimmed)
    if size > STASH_RECORD_BUDGET:
        # Last: everything but what the retry audits the change by (a group name of 255 wide characters
        # and a few long notes can still pass the budget).
        essential = {k: v for k, v in trimmed.items() if k in _STASH_WHOLE or k in ("reason", "other_writer")}
        essential["stash_trimmed"] = "all but the change and its reason left out to fit the claim item"
        text, size = _compact_json(essential)
    return text


def _compact_json(record: dict[str, Any]) -> tuple[str, int]:
    """The record's JSON and its size in bytes: UTF-8 as it is where the text is valid Unicode (a
    character escaped as \\uXXXX costs up to 12 bytes, and a group name may be 255 of them), escaped
    where it is not (a lone surrogate would not encode)."""
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        return text, len(text.encode())
    except UnicodeEncodeError:
        text = _record_json(record)
        return text, len(text)


def _record_keys(entries: Any) -> list[dict[str, str]]:
    """The record keys of a claim's `attempts` list (a DynamoDB list of JSON strings)."""
    return [json.loads(entry["S"]) for entry in (entries or {}).get("L", []) if entry.get("S")]


def _earlier_attempts(item: dict[str, Any], *, ours_included: bool) -> list[dict[str, str]]:
    """The record keys of every attempt before ours under a claim, oldest first: its `attempts` list
    (without our own entry, last, when the item is the one our claim wrote), and the one or two a claim
    written before the list existed kept (`previous_record_key`, and `record_key` where the item is the
    one we replaced)."""
    listed = _record_keys(item.get("attempts"))
    if ours_included:
        listed = listed[:-1]
    kept = ("previous_record_key",) if ours_included else ("previous_record_key", "record_key")
    for position, name in enumerate(kept):
        single = item.get(name)
        if single and single.get("S"):
            key = json.loads(single["S"])
            if key not in listed:
                listed.insert(min(position, len(listed)), key)
    return listed


def _claim_from(
    trigger_id: str, token: str, lease_until: int, item: dict[str, Any], earlier: list[dict[str, str]]
) -> Claim:
    """Our claim, with the stash and the record keys of the attempts before it."""
    pending = tuple(json.loads(entry["S"]) for entry in item.get("pending", {}).get("L", []))
    told = tuple(entry["S"] for entry in item.get("told", {}).get("L", []) if entry.get("S"))
    return Claim(trigger_id, token, lease_until, pending, tuple(earlier), told)


class AuditStore(AwsAdapter):
    service = "dynamodb"

    def __init__(self, table_name: str, api: Any = None) -> None:
        super().__init__(api)
        self.table_name = table_name

    def _table_call(self, operation: str, **kwargs: Any) -> Any:
        return self._call(operation, TableName=self.table_name, **kwargs)

    # --- trigger claims: leases, so a delivery is handled once and a crashed attempt cannot keep it ---
    def _claim_key(self, trigger_id: str) -> dict[str, Any]:
        return {
            keys.PARTITION_KEY: {"S": keys.trigger_pk(trigger_id)},
            keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY},
        }

    def claim(self, trigger_id: str, now_epoch: int, lease_seconds: int, record_key: dict[str, str]) -> Claim:
        """Take the trigger: new, or its earlier attempt's lease has run out (a crash or a timeout).

        `record_key` ({group, at, delivery_id}) names the audit record this attempt will write, so a
        later delivery can tell an attempt that wrote it from one that did not get that far.
        DuplicateTriggerError when it was completed, or another attempt still holds the lease.
        """
        token = uuid.uuid4().hex
        lease_until = now_epoch + lease_seconds
        try:
            response = self._table_call(
                "UpdateItem",
                Key=self._claim_key(trigger_id),
                # Every attempt's record key is kept, in turn: the third attempt of a re-evaluation
                # must know the groups the first audited as well as the second's (it once knew only the
                # attempt just before, and decided the first's groups again under the same trigger).
                # The one it replaces is kept beside them too: an attempt that finds its own claim
                # (below) can no longer read it from the answer it lost, and a claim written before the
                # list existed has it nowhere else.
                UpdateExpression=(
                    "SET #status = :running, #lease = :lease, #token = :token, #ttl = :ttl, "
                    "#previous = if_not_exists(#record, :none), #record = :record, "
                    "#attempts = list_append(if_not_exists(#attempts, :empty), :ours)"
                ),
                ConditionExpression="attribute_not_exists(#pk) OR (#status = :running AND #lease < :now)",
                ExpressionAttributeNames={
                    "#pk": keys.PARTITION_KEY,
                    "#status": "status",
                    "#lease": "lease_until",
                    "#token": "token",
                    "#ttl": keys.TTL_ATTRIBUTE,
                    "#record": "record_key",
                    "#previous": "previous_record_key",
                    "#attempts": "attempts",
                },
                ExpressionAttributeValues={
                    ":running": {"S": CLAIM_RUNNING},
                    ":lease": {"N": str(lease_until)},
                    ":token": {"S": token},
                    ":ttl": {"N": str(now_epoch + keys.CLAIM_TTL_SECONDS)},
                    ":now": {"N": str(now_epoch)},
                    ":record": {"S": json.dumps(record_key)},
                    ":none": {"S": ""},
                    ":empty": {"L": []},
                    ":ours": {"L": [{"S": json.dumps(record_key)}]},
                },
                ReturnValues="ALL_OLD",
            )
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise
            held = self._table_call("GetItem", Key=self._claim_key(trigger_id), ConsistentRead=True).get(
                "Item"
            )
            if held is not None and held.get("token", {}).get("S") == token:
                # Our own claim: the SDK sent the UpdateItem again after its first answer was lost
                # (a timeout or a 500, after DynamoDB applied it), and the retry met our own lease.
                earlier = _earlier_attempts(held, ours_included=True)
                claim = _claim_from(trigger_id, token, lease_until, held, earlier)
                self._keep_every_attempt(claim, _record_keys(held.get("attempts"))[:-1], record_key)
                return claim
            running = held is not None and held.get("status", {}).get("S") == CLAIM_RUNNING
            until = int(held["lease_until"]["N"]) if running and held and "lease_until" in held else None
            holder = json.loads(held["record_key"]["S"]) if held and "record_key" in held else None
            raise DuplicateTriggerError(trigger_id, in_progress_until=until, holder_record=holder) from error
        old = response.get("Attributes") or {}
        claim = _claim_from(trigger_id, token, lease_until, old, _earlier_attempts(old, ours_included=False))
        self._keep_every_attempt(claim, _record_keys(old.get("attempts")), record_key)
        return claim

    def _keep_every_attempt(self, claim: Claim, listed: list[dict[str, str]], ours: dict[str, str]) -> None:
        """Write the whole list where the item's lacks an earlier attempt we know of (a claim written
        before the list existed): the attempt after ours must see it too."""
        if list(claim.earlier_records) == listed:
            return
        entries = [{"S": json.dumps(key)} for key in (*claim.earlier_records, ours)]
        try:
            self._update_claim(
                claim, "SET #attempts = :all", {"#attempts": "attempts"}, {":all": {"L": entries}}
            )
        except AwsCallError as error:
            # This attempt still knows them; only an attempt after it, if any, could decide again.
            logger.warning("could not keep the earlier attempts of %s: %s", claim.trigger_id, error)

    def _update_claim(
        self, claim: Claim, expression: str, names: dict[str, str], values: dict[str, Any]
    ) -> None:
        """An update of our own claim only (the token is still ours: nobody took the lease over)."""
        self._table_call(
            "UpdateItem",
            Key=self._claim_key(claim.trigger_id),
            UpdateExpression=expression,
            ConditionExpression="#token = :token",
            ExpressionAttributeNames={"#token": "token", **names},
            ExpressionAttributeValues={":token": {"S": claim.token}, **values},
        )

    def stash_pending(self, claim: Claim, record: dict[str, Any]) -> None:
        """Keep the audit record of a capacity change with the claim before the change is applied."""
        values = {":record": {"L": [{"S": stash_json(record)}]}, ":none": {"L": []}}
        expression = "SET #pending = list_append(if_not_exists(#pending, :none), :record)"
        self._update_claim(claim, expression, {"#pending": "pending"}, values)

    def keep_told(self, claim: Claim, told: Sequence[str]) -> None:
        """Add to the claim what this attempt told people, where it could not tell everything: the
        attempt that takes the claim over tells the rest, and not these a second time."""
        values = {":told": {"L": [{"S": digest} for digest in told]}, ":none": {"L": []}}
        expression = "SET #told = list_append(if_not_exists(#told, :none), :told)"
        self._update_claim(claim, expression, {"#told": "told"}, values)

    def _failure_told_key(self, trigger_id: str, group: str | None) -> dict[str, Any]:
        return {
            keys.PARTITION_KEY: {"S": keys.trigger_pk(trigger_id)},
            keys.SORT_KEY: {"S": f"{keys.FAILURE_TOLD_SORT_PREFIX}{group or keys.UNKNOWN_GROUP}"},
        }

    def failure_told(self, trigger_id: str, group: str | None) -> bool:
        """Whether an earlier attempt at the trigger told people that it failed (for `group`)."""
        found = self._table_call(
            "GetItem", Key=self._failure_told_key(trigger_id, group), ConsistentRead=True
        ).get("Item")
        return found is not None

    def keep_failure_told(self, trigger_id: str, group: str | None, now_epoch: int) -> None:
        """Note that people were told the trigger failed (for `group`): kept as long as its claim.
        An UpdateItem, as every write under a trigger's partition is (the role may not put there)."""
        self._table_call(
            "UpdateItem",
            Key=self._failure_told_key(trigger_id, group),
            UpdateExpression="SET #ttl = :ttl",
            ExpressionAttributeNames={"#ttl": keys.TTL_ATTRIBUTE},
            ExpressionAttributeValues={":ttl": {"N": str(now_epoch + keys.CLAIM_TTL_SECONDS)}},
        )

    def complete(self, claim: Claim) -> None:
        """The trigger is handled and audited: later deliveries are duplicates."""
        names = {"#status": "status", "#pending": "pending"}
        self._update_claim(claim, "SET #status = :done REMOVE #pending", names, {":done": {"S": CLAIM_DONE}})

    def yield_lease(self, claim: Claim) -> None:
        """End our lease now but keep the pending record: the next attempt finishes the audit."""
        self._update_claim(claim, "SET #lease = :zero", {"#lease": "lease_until"}, {":zero": {"N": "0"}})

    def release_unconfirmed(self, trigger_id: str, record_key: dict[str, str]) -> None:
        """Free a claim whose UpdateItem may have succeeded though its answer was lost (no token):
        only if it is still the one this attempt made (its record key). A claim that took over from an
        earlier attempt is not deleted, only its lease ended: deleting it lost that attempt's stashed
        records (an `applied` change never audited) and its record key (its groups decided again)."""
        names = {
            "#record": "record_key",
            "#status": "status",
            "#pending": "pending",
            "#previous": "previous_record_key",
        }
        values = {
            ":record": {"S": json.dumps(record_key)},
            ":running": {"S": CLAIM_RUNNING},
            ":none": {"S": ""},
        }
        ours = "#record = :record AND #status = :running"
        try:
            self._table_call(
                "DeleteItem",
                Key=self._claim_key(trigger_id),
                ConditionExpression=f"{ours} AND attribute_not_exists(#pending) AND #previous = :none",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise
        try:
            self._table_call(
                "UpdateItem",
                Key=self._claim_key(trigger_id),
                UpdateExpression="SET #lease = :zero",
                ConditionExpression=f"{ours} AND (attribute_exists(#pending) OR #previous <> :none)",
                ExpressionAttributeNames={**names, "#lease": "lease_until"},
                ExpressionAttributeValues={**values, ":zero": {"N": "0"}},
            )
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise

    def trigger_done(self, trigger_id: str) -> bool:
        """Whether the trigger's claim was completed: its work, a capacity change included, is done."""
        item = self._table_call("GetItem", Key=self._claim_key(trigger_id), ConsistentRead=True).get("Item")
        return item is not None and item.get("status", {}).get("S") == CLAIM_DONE

    def release(self, claim: Claim) -> None:
        """Free a claim after a failure that changed nothing, so Lambda's retry can try again."""
        self._table_call(
            "DeleteItem",
            Key=self._claim_key(claim.trigger_id),
            ConditionExpression="#token = :token",
            ExpressionAttributeNames={"#token": "token"},
            ExpressionAttributeValues={":token": {"S": claim.token}},
        )

    # --- per-group state, guarded by a version number ---
    def load_memory(self, group: str) -> ScalerMemory:
        key = {keys.PARTITION_KEY: {"S": keys.group_pk(group)}, keys.SORT_KEY: {"S": keys.STATE_SORT_KEY}}
        for _ in range(_RENUMBER_ATTEMPTS):
            item = self._table_call("GetItem", Key=key, ConsistentRead=True).get("Item")
            if not item:
                return ScalerMemory()
            version = _state_version(item.get("version"))
            if version is None:
                # Saves are conditional on a whole version from 1 up: under any other, every save would
                # conflict (0, below) or fail (not a number), and no decision of the group would land.
                # Renumbered only while it still holds what was read: none of ours can, so no decider's
                # read is overtaken; the memory beside it is then not trusted either.
                if self._renumber_state(item, item.get("version")):
                    raise DamagedItemError(
                        "state item", f"version {_shown(item.get('version'))} renumbered", version=1
                    )
                continue  # another decider renumbered or saved it first: read theirs
            try:
                return memory_from_json(item["memory"]["S"], version)
            except (KeyError, TypeError, ValueError, AttributeError) as error:
                raise DamagedItemError("state item", repr(error), version=version) from error
        raise DamagedItemError("state item", "its version kept changing while it was renumbered")

    def _renumber_state(self, item: dict[str, Any], damaged: Any) -> bool:
        """Put the state item back with version 1, if it still holds `damaged`; False if not. A PutItem,
        as every write of a group's items is: the role may put them, not update them."""
        names = {"#v": "version"}
        values: dict[str, Any] = {}
        if damaged is None:
            names["#pk"] = keys.PARTITION_KEY
            condition = "attribute_exists(#pk) AND attribute_not_exists(#v)"
        elif isinstance(damaged, dict) and set(damaged) == {"N"}:
            condition, values[":damaged"] = "#v = :damaged", damaged
        else:
            # A value of another type than a number: none of ours has it, whatever it holds (and
            # DynamoDB compares only scalars and sets with `=`).
            condition, values[":type"] = "attribute_type(#v, :type)", {"S": next(iter(damaged), "")}
        try:
            self._table_call(
                "PutItem",
                Item={**item, "version": {"N": "1"}},
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except AwsCallError as error:
            if error.code == CONDITION_FAILED:
                return False
            raise
        return True

    def save_memory(self, group: str, memory: ScalerMemory, read_version: int) -> None:
        """Write the state only if nobody wrote it since we read `read_version`."""
        condition = "attribute_not_exists(#pk)" if read_version == 0 else "#v = :read"
        values = {} if read_version == 0 else {":read": {"N": str(read_version)}}
        try:
            self._table_call(
                "PutItem",
                Item={
                    keys.PARTITION_KEY: {"S": keys.group_pk(group)},
                    keys.SORT_KEY: {"S": keys.STATE_SORT_KEY},
                    "version": {"N": str(read_version + 1)},
                    "memory": {"S": memory_to_json(memory)},
                },
                ConditionExpression=condition,
                # DynamoDB rejects a name the expression does not use (ValidationException).
                ExpressionAttributeNames={"#v": "version"} if read_version else {"#pk": keys.PARTITION_KEY},
                **({"ExpressionAttributeValues": values} if values else {}),
            )
        except AwsCallError as error:
            if error.code == CONDITION_FAILED:
                raise ConcurrentUpdateError(group) from error
            raise

    # --- per-group failure memory (FAILING): what people were told of a standing failure ---
    @staticmethod
    def _failing_key(group: str) -> dict[str, Any]:
        return {keys.PARTITION_KEY: {"S": keys.group_pk(group)}, keys.SORT_KEY: {"S": keys.FAILING_SORT_KEY}}

    def load_failing(self, group: str) -> FailureMemory:
        """The group's failure memory. An item not as `save_failing` writes it reads as no standing
        failure under an unknown version (the next save replaces it): told again rather than never."""
        item = self._table_call("GetItem", Key=self._failing_key(group), ConsistentRead=True).get("Item")
        if not item:
            return FailureMemory()
        version = _state_version(item.get("version"))
        if version is None or "cause" not in item:
            return FailureMemory(version=version)
        try:
            standing = StandingFailure(
                cause=str(item["cause"]["S"]),
                since=_item_time(item["since"], "since"),
                told_at=_item_time(item["told_at"], "told_at"),
                last_failed_at=_item_time(item["last_failed_at"], "last_failed_at"),
                failures=int(item["failures"]["N"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            logger.warning("%s: damaged failure memory, read as none: %s", group, error)
            return FailureMemory(version=version)
        return FailureMemory(version=version, standing=standing)

    def save_failing(
        self, group: str, standing: StandingFailure | None, read: FailureMemory, expires_epoch: int
    ) -> None:
        """Write the group's failure memory (`standing` None: the group is decided again), only if nobody
        wrote it since `read` (ConcurrentUpdateError); a memory read as damaged is replaced whole. A
        PutItem, never a DeleteItem: the role may not delete in a group's partition (its audit items)."""
        item: dict[str, Any] = {
            **self._failing_key(group),
            "version": {"N": str((read.version or 0) + 1)},
            keys.TTL_ATTRIBUTE: {"N": str(expires_epoch)},
        }
        if standing is not None:
            item.update(
                cause={"S": safe_text(standing.cause, AUDIT_TEXT_LIMIT)},
                since={"S": standing.since.isoformat()},
                told_at={"S": standing.told_at.isoformat()},
                last_failed_at={"S": standing.last_failed_at.isoformat()},
                failures={"N": str(standing.failures)},
            )
        guard: dict[str, Any] = {}
        if read.version == 0:
            guard = {
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
            }
        elif read.version is not None:
            guard = {
                "ConditionExpression": "#v = :read",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":read": {"N": str(read.version)}},
            }
        try:
            self._table_call("PutItem", Item=item, **guard)
        except AwsCallError as error:
            if error.code == CONDITION_FAILED:
                raise ConcurrentUpdateError(group) from error
            raise

    # --- kill switch: a control item per group, and one for everything ---
    def load_pause(self, group: str) -> Pause:
        pauses = []
        for sort_key in (keys.GLOBAL_CONTROL_SORT_KEY, group):
            item = self._table_call(
                "GetItem",
                Key={keys.PARTITION_KEY: {"S": keys.CONTROL_PARTITION}, keys.SORT_KEY: {"S": sort_key}},
                ConsistentRead=True,
            ).get("Item")
            pauses.append(control_reading(item, sort_key) if item else Pause.NONE)
        return Pause.combine(*pauses)

    def set_pause(self, group: str | None, pause: Pause, who: str, at: datetime) -> None:
        self._table_call(
            "PutItem",
            Item={
                keys.PARTITION_KEY: {"S": keys.CONTROL_PARTITION},
                keys.SORT_KEY: {"S": group or keys.GLOBAL_CONTROL_SORT_KEY},
                "pause": {"S": pause.value},
                "set_by": {"S": who},
                "set_at": {"S": at.isoformat()},
            },
        )

    # --- sale events: what each pre-warm decided, read by every later decision of the group ---
    def save_event(self, group: str, state: EventState) -> None:
        item: dict[str, Any] = {
            keys.PARTITION_KEY: {"S": keys.group_pk(group)},
            keys.SORT_KEY: {"S": f"{keys.EVENT_SORT_PREFIX}{state.event}"},
            "event": {"S": state.event},
            "target": {"N": str(state.target)},
            "why": {"S": state.why},
            "set_at": {"S": state.set_at.isoformat()},
        }
        for name in ("original_max", "base_capacity", "raised_to"):
            value = getattr(state, name)
            if value is not None:
                item[name] = {"N": str(value)}
        for name in ("restored_at", "restore_paused_at"):
            when = getattr(state, name)
            if when is not None:
                item[name] = {"S": when.isoformat()}
        self._table_call("PutItem", Item=item)

    def load_events(self, group: str) -> list[EventState]:
        """Every event item of the group, page by page: a Query answers at most 1 MB, and a sale whose
        item was on a later page was not known to be on (another sale's restore cut its max)."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :event)",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.group_pk(group)},
                ":event": {"S": keys.EVENT_SORT_PREFIX},
            },
            "ConsistentRead": True,
        }
        states: list[EventState] = []
        damaged: dict[str, str] = {}
        for item in self._query(request):
            try:
                states.append(_event_state(item))
            except (KeyError, TypeError, ValueError) as error:
                name = str(item.get(keys.SORT_KEY, {}).get("S", ""))[len(keys.EVENT_SORT_PREFIX) :]
                damaged[name] = repr(error)
        if damaged:
            detail = "; ".join(f"{name}: {error}" for name, error in damaged.items())
            raise DamagedItemError("event items", detail, readable=tuple(states), names=tuple(damaged))
        return states

    # --- forecast: the forecaster's latest floors, read by every reactive decision of the group ---
    def save_forecast(self, group: str, state: ForecastState, *, credible_until: datetime) -> datetime | None:
        """Write the group's FORECAST item unless a newer forecast is in place (a late run's retry must
        not put older floors back): None when written, else the newer item's issue time. A stored issue
        time after `credible_until` (or not a time at all) is a damaged item's, and is overwritten. Newer
        is judged as times, not as text: a stored time with another offset than UTC's is compared by
        the instant it names."""
        item: dict[str, Any] = {
            **_forecast_key(group),
            "mode": {"S": state.mode},
            "issued_at": {"S": state.issued_at.isoformat()},
            "valid_until": {"S": state.valid_until.isoformat()},
            "step_minutes": {"N": str(state.step_minutes)},
            "steps": {"L": [{"N": str(s)} for s in state.steps]},
            "floor": {"N": str(state.floor)},
            "percentile": {"N": repr(state.percentile)},
            "multiplier": {"N": repr(state.multiplier)},
            "mape": _to_attribute(state.mape),
            "bursts": {
                "L": [{"L": [{"N": str(minute)}, {"N": repr(rise)}]} for minute, rise in state.bursts]
            },
            # The item outlives its horizon by a day for inspection, then DynamoDB deletes it.
            keys.TTL_ATTRIBUTE: {"N": str(int(state.valid_until.timestamp()) + 86_400)},
        }
        if state.headroom is not None:
            verdict = state.headroom
            item["headroom"] = {
                "M": {
                    "judged_at": {"S": verdict.judged_at.isoformat()},
                    "minutes": {"N": str(verdict.minutes)},
                    "noise_dropped_pct": _to_attribute(verdict.noise_dropped_pct),
                    "target_dropped_pct": _to_attribute(verdict.target_dropped_pct),
                    "target_share": _to_attribute(verdict.target_share),
                }
            }
        if state.anchor is not None:
            item["anchor"] = {"M": _anchor_attributes(state.anchor)}
        try:
            # ISO 8601 times in UTC, written by `isoformat`, order as their text does; any other text
            # (another offset, a space for the T) is judged below, as the time it names.
            self._table_call(
                "PutItem",
                Item=item,
                ConditionExpression="attribute_not_exists(#pk) OR (contains(#issued, :utc) AND "
                "contains(#issued, :t) AND (#issued <= :issued OR #issued > :credible))",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#issued": "issued_at"},
                ExpressionAttributeValues={
                    ":issued": {"S": state.issued_at.astimezone(UTC).isoformat()},
                    ":credible": {"S": credible_until.astimezone(UTC).isoformat()},
                    ":utc": {"S": "+00:00"},
                    ":t": {"S": "T"},
                },
            )
            return None
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise
        found = self._table_call("GetItem", Key=_forecast_key(group), ConsistentRead=True).get("Item") or {}
        try:
            found_at = _forecast_time(found["issued_at"], "forecast item's issued_at")
        except (KeyError, TypeError, ValueError):
            # Not a time after all (or gone since): nothing newer is there to keep.
            self._table_call("PutItem", Item=item)
            return None
        if state.issued_at < found_at <= credible_until:
            return found_at
        # Not newer (an offset other than UTC's, hand written: 12:30+05:00 is 07:30 UTC), or past
        # credible: overwritten, but only while that very text is there, so a newer forecast written
        # since this read still wins.
        try:
            self._table_call(
                "PutItem",
                Item=item,
                ConditionExpression="#issued = :found",
                ExpressionAttributeNames={"#issued": "issued_at"},
                ExpressionAttributeValues={":found": found["issued_at"]},
            )
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise
            return self.save_forecast(group, state, credible_until=credible_until)
        return None

    def load_forecast(self, group: str) -> ForecastState | None:
        """The group's FORECAST item, or None. LookupError, TypeError or ValueError for an item no
        forecaster writes (a decision then ignores it, and the next run overwrites it): every field a
        decision compares or divides by is checked here, not deep in the decision."""
        item = self._table_call("GetItem", Key=_forecast_key(group), ConsistentRead=True).get("Item")
        if not item:
            return None
        mape = _from_attribute(item["mape"])
        return ForecastState(
            mode=item["mode"]["S"],
            issued_at=_forecast_time(item["issued_at"], "forecast item's issued_at"),
            valid_until=_forecast_time(item["valid_until"], "forecast item's valid_until"),
            step_minutes=_forecast_step(item["step_minutes"]),
            steps=tuple(int(s["N"]) for s in item["steps"]["L"]),
            percentile=float(item["percentile"]["N"]),
            multiplier=float(item["multiplier"]["N"]),
            mape=None if mape is None else float(mape),
            # An item written before bursts were learned has none.
            bursts=tuple(
                (int(pair["L"][0]["N"]), float(pair["L"][1]["N"]))
                for pair in item.get("bursts", {}).get("L", [])
            ),
            # An item written before the noise headroom was judged has no verdict.
            headroom=_headroom_verdict(item["headroom"]["M"]) if "headroom" in item else None,
            # An item written before the noise headroom was anchored has no choice.
            anchor=_anchor_verdict(item["anchor"]["M"]) if "anchor" in item else None,
        )

    # --- audit ---
    @staticmethod
    def _audit_key(record: Mapping[str, Any]) -> dict[str, Any]:
        group = record.get("group") or keys.UNKNOWN_GROUP
        return {
            keys.PARTITION_KEY: {"S": keys.group_pk(safe_text(str(group)))},
            keys.SORT_KEY: {
                "S": f"{keys.AUDIT_SORT_PREFIX}{record['at']}#{safe_text(str(record['delivery_id']))}"
            },
        }

    def audit_written(self, record: Mapping[str, Any]) -> bool:
        """Whether this very record is in the table: its group, time and delivery, and its outcome
        when it has one (an attempt that stashed an `applied` record may have written `failed`);
        for a bare key, whether that attempt finished its work (any outcome but `failed`, or a skip
        because another attempt was at work)."""
        item = self._table_call("GetItem", Key=self._audit_key(record), ConsistentRead=True).get("Item")
        if item is None:
            return False
        written = item.get("outcome", {}).get("S")
        if "outcome" in record:
            return written == record["outcome"]
        return attempt_finished({"outcome": written, "skip_cause": item.get("skip_cause", {}).get("S")})

    def audit_record(self, key: Mapping[str, Any]) -> dict[str, Any] | None:
        """The audit record written under `key` ({group, at, delivery_id}), as it was written."""
        item = self._table_call("GetItem", Key=self._audit_key(key), ConsistentRead=True).get("Item")
        if item is None:
            return None
        table_keys = (keys.PARTITION_KEY, keys.SORT_KEY)
        return {name: _from_attribute(value) for name, value in item.items() if name not in table_keys}

    def write_audit(self, record: dict[str, Any]) -> None:
        """Add the record; never overwrite one. Writing the same record twice (a retry finishing a
        stashed record) is a no-op."""
        item = {safe_text(k): _to_attribute(v) for k, v in record.items()}
        item.update(self._audit_key(record))
        try:
            self._table_call(
                "PutItem",
                Item=item,
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
            )
        except AwsCallError as error:
            if error.code != CONDITION_FAILED:
                raise

    def audit_records(self, group: str, limit: int = 100) -> list[dict[str, Any]]:
        """The group's `limit` latest audit records, the latest first. A Query answers at most 1 MB, so
        a few hundred records of a busy sale (each with its candidates) take several pages."""
        request: dict[str, Any] = {
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :audit)",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.group_pk(group)},
                ":audit": {"S": keys.AUDIT_SORT_PREFIX},
            },
            "ScanIndexForward": False,  # the latest first
        }
        return [{k: _from_attribute(v) for k, v in item.items()} for item in self._query(request, limit)]

    def _query(self, request: dict[str, Any], limit: int | None = None) -> list[dict[str, Any]]:
        """The items `request` matches, page by page (a Query answers at most 1 MB), `limit` at most."""
        items: list[dict[str, Any]] = []
        while limit is None or len(items) < limit:
            page = {} if limit is None else {"Limit": limit - len(items)}
            response = self._table_call("Query", **page, **request)
            items += response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                break
            request = {**request, "ExclusiveStartKey": response["LastEvaluatedKey"]}
        return items


def _headroom_verdict(attributes: dict[str, Any]) -> HeadroomVerdict:
    """The item's verdict; ValueError for figures no judge writes (the decision then ignores the item)."""
    figures = _verdict_figures(
        attributes, ("noise_dropped_pct", "target_dropped_pct", "target_share"), "headroom"
    )
    return HeadroomVerdict(
        judged_at=_item_time(attributes["judged_at"], "forecast item's headroom.judged_at"),
        minutes=int(attributes["minutes"]["N"]),
        noise_dropped_pct=figures[0],
        target_dropped_pct=figures[1],
        target_share=figures[2],
    )


def _verdict_figures(attributes: dict[str, Any], names: Sequence[str], verdict: str) -> list[float]:
    """A verdict's figures by name; ValueError for one not finite, or negative: no judge writes it."""
    figures = [float(_from_attribute(attributes[name])) for name in names]
    if not all(math.isfinite(f) and f >= 0 for f in figures):
        raise ValueError(f"{verdict} verdict with figures {figures}: not finite, or negative")
    return figures


_ANCHOR_FIGURES = ("own_dropped_pct", "anchor_dropped_pct", "own_instance_minutes", "anchor_instance_minutes")


def _anchor_attributes(verdict: AnchorVerdict) -> dict[str, Any]:
    return {
        "judged_at": {"S": verdict.judged_at.isoformat()},
        "days": {"N": str(verdict.days)},
        "multiplier": _to_attribute(verdict.multiplier),
        **{name: _to_attribute(getattr(verdict, name)) for name in _ANCHOR_FIGURES},
        "history": {
            "L": [{"L": [{"S": since.isoformat()}, _to_attribute(m)]} for since, m in verdict.history]
        },
        "stood_down": {"BOOL": verdict.stood_down},
        "step_anchored": {"BOOL": verdict.step_anchored},
        "target_pct": _to_attribute(verdict.target_pct),
        "at_anchor_target": {"BOOL": verdict.at_anchor_target},
    }


def _anchor_verdict(attributes: dict[str, Any]) -> AnchorVerdict:
    """The item's choice; ValueError for one no forecaster writes (a multiple it never chooses, figures
    that are not finite), and the decision then ignores the item: a hand-edited 1e9 must not hold the
    group at its max."""
    figures = _verdict_figures(attributes, _ANCHOR_FIGURES, "anchor")
    history = tuple(
        (_item_time(pair["L"][0], "forecast item's anchor.history"), float(_from_attribute(pair["L"][1])))
        for pair in attributes["history"]["L"]
    )
    if any(later[0] <= earlier[0] for earlier, later in itertools.pairwise(history)):
        raise ValueError("anchor verdict with a history out of time order")
    multiplier = float(_from_attribute(attributes["multiplier"]))
    chosen = [multiplier, *(m for _, m in history)]
    if any(m not in MULTIPLIER_CURVE for m in chosen):
        raise ValueError(f"anchor verdict with multiples {chosen}: not among {sorted(MULTIPLIER_CURVE)}")
    # An item written before the target was configurable was judged at AWS's recommended 50 %.
    target_pct = float(_from_attribute(attributes.get("target_pct", {"N": "50"})))
    if not ANCHOR_TARGET_LOW <= target_pct <= ANCHOR_TARGET_HIGH:
        raise ValueError(f"anchor verdict at a target of {target_pct} %: no config names it")
    at_anchor_target = attributes.get("at_anchor_target", {"BOOL": False})["BOOL"] is True
    if at_anchor_target and multiplier != 1.0:
        raise ValueError(f"anchor verdict at the anchors' target and at {multiplier}x: only 1x goes there")
    return AnchorVerdict(
        judged_at=_item_time(attributes["judged_at"], "forecast item's anchor.judged_at"),
        days=int(attributes["days"]["N"]),
        multiplier=multiplier,
        own_dropped_pct=figures[0],
        anchor_dropped_pct=figures[1],
        own_instance_minutes=figures[2],
        anchor_instance_minutes=figures[3],
        history=history,
        # An item written before stand-downs were recorded has none.
        stood_down=attributes.get("stood_down", {"BOOL": False})["BOOL"] is True,
        target_pct=target_pct,
        # An item written before the fallback existed chose a lean multiple only against step scaling too.
        step_anchored=attributes.get("step_anchored", {"BOOL": multiplier < 1.0})["BOOL"] is True,
        # An item written before groups went to the anchors' target kept theirs.
        at_anchor_target=at_anchor_target,
    )


def _item_time(attribute: dict[str, Any], name: str) -> datetime:
    """A time of a FORECAST or event item. ValueError for one without a zone, which Surgeguard never
    writes (a hand edit): a decision compares it with its own clock (aware), which would raise TypeError
    in every decision of the group, and a forecaster run with the verdict's, before it could overwrite
    the item; as ValueError the item is damaged, and left out as such."""
    text = attribute["S"]
    moment = datetime.fromisoformat(text)
    if moment.utcoffset() is None:
        raise ValueError(f"{name} {safe_text(repr(text), 80)} has no time zone")
    return moment


def _forecast_time(attribute: dict[str, Any], name: str) -> datetime:
    """A FORECAST item's issue or validity time: `_item_time`, in a year a run can issue it. ValueError
    otherwise: near datetime's ends a decision's `issued_at - step` overflowed (0001-01-01), and every
    decision of the group failed while the item stayed."""
    moment = _item_time(attribute, name)
    if not PLAUSIBLE_YEARS[0] <= moment.year <= PLAUSIBLE_YEARS[1]:
        raise ValueError(f"{name} {safe_text(repr(attribute['S']), 80)} is not a time any forecaster writes")
    return moment


# The horizon is at most a day (forecast.horizon_hours <= 24): a step past it has no floor to tell.
MAX_FORECAST_STEP_MINUTES = 24 * 60


def _forecast_step(attribute: dict[str, Any]) -> int:
    """The FORECAST item's step: a whole number of minutes from 1 to a day (ValueError otherwise: a
    step of 1e20 minutes overflowed timedelta in every decision of the group)."""
    step = int(attribute["N"])
    if not 1 <= step <= MAX_FORECAST_STEP_MINUTES:
        raise ValueError(
            f"forecast item's step_minutes {step} is not a number of minutes from 1 to "
            f"{MAX_FORECAST_STEP_MINUTES}"
        )
    return step


def _forecast_key(group: str) -> dict[str, dict[str, str]]:
    return {keys.PARTITION_KEY: {"S": keys.group_pk(group)}, keys.SORT_KEY: {"S": keys.FORECAST_SORT_KEY}}


def _event_state(item: dict[str, Any]) -> EventState:
    def whole(name: str) -> int | None:
        if name not in item:
            return None
        text = item[name]["N"]
        if not text.lstrip("-").isdigit():
            raise ValueError(f"{name} {text!r} is not a whole number")
        return int(text)

    target = whole("target")
    if target is None:
        raise KeyError("target")
    return EventState(
        event=item["event"]["S"],
        target=target,
        why=item["why"]["S"],
        set_at=_item_time(item["set_at"], "event item's set_at"),
        original_max=whole("original_max"),
        base_capacity=whole("base_capacity"),
        restored_at=_item_time(item["restored_at"], "event item's restored_at")
        if "restored_at" in item
        else None,
        raised_to=whole("raised_to"),
        restore_paused_at=_item_time(item["restore_paused_at"], "event item's restore_paused_at")
        if "restore_paused_at" in item
        else None,
    )


def control_reading(item: dict[str, Any], name: str) -> Pause:
    """A control item's switch. One the CLI never writes (a hand edit in the console, mid-sale) is a
    full pause: a kill switch that is set at all fails closed, never crashes every decision."""
    written = item.get("pause", {}).get("S")
    try:
        return Pause(written.strip().lower()) if isinstance(written, str) else Pause.ALL
    except ValueError:
        logger.warning("control item %s: pause %r is not one of none/all/out/in: taken as all", name, written)
        return Pause.ALL
