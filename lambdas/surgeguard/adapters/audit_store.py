"""DynamoDB adapter: audit items, the per-group state item (versioned), trigger claims, kill switch."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from surgeguard import keys
from surgeguard.adapters.clients import AwsAdapter
from surgeguard.adapters.errors import AwsCallError, ConcurrentUpdateError, DuplicateTriggerError
from surgeguard.domain.forecast import ForecastState
from surgeguard.domain.model import EventState, Launch, Pause, Recommendation, ScalerMemory

CLAIM_TTL_SECONDS = 86_400
CONDITION_FAILED = "ConditionalCheckFailedException"


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


def memory_from_json(raw: str, version: int) -> ScalerMemory:
    data = json.loads(raw)

    def when(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return ScalerMemory(
        version=version,
        last_scale_out_at=when(data.get("last_scale_out_at")),
        last_scale_in_at=when(data.get("last_scale_in_at")),
        last_trigger_at=when(data.get("last_trigger_at")),
        launches=tuple(Launch(datetime.fromisoformat(x["at"]), x["count"]) for x in data["launches"]),
        recommendations=tuple(
            Recommendation(datetime.fromisoformat(x["at"]), x["desired"]) for x in data["recommendations"]
        ),
    )


def _to_attribute(value: Any) -> dict[str, Any]:
    """Plain JSON value -> DynamoDB attribute (numbers as strings: no float rounding)."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": repr(value) if isinstance(value, float) else str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {str(k): _to_attribute(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [_to_attribute(v) for v in value]}
    return {"S": str(value)}


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


class AuditStore(AwsAdapter):
    service = "dynamodb"

    def __init__(self, table_name: str, api: Any = None) -> None:
        super().__init__(api)
        self.table_name = table_name

    def _table_call(self, operation: str, **kwargs: Any) -> Any:
        return self._call(operation, TableName=self.table_name, **kwargs)

    # --- trigger claims: SNS delivers at least once; the second delivery must change nothing ---
    def claim(self, trigger_id: str, now_epoch: int) -> None:
        try:
            self._table_call(
                "PutItem",
                Item={
                    keys.PARTITION_KEY: {"S": keys.trigger_pk(trigger_id)},
                    keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY},
                    keys.TTL_ATTRIBUTE: {"N": str(now_epoch + CLAIM_TTL_SECONDS)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": keys.PARTITION_KEY},
            )
        except AwsCallError as error:
            if error.code == CONDITION_FAILED:
                raise DuplicateTriggerError(trigger_id) from error
            raise

    def release(self, trigger_id: str) -> None:
        """Free a claim after a failure, so the Lambda retry of the same delivery can try again."""
        self._table_call(
            "DeleteItem",
            Key={
                keys.PARTITION_KEY: {"S": keys.trigger_pk(trigger_id)},
                keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY},
            },
        )

    # --- per-group state, guarded by a version number ---
    def load_memory(self, group: str) -> ScalerMemory:
        item = self._table_call(
            "GetItem",
            Key={keys.PARTITION_KEY: {"S": keys.group_pk(group)}, keys.SORT_KEY: {"S": keys.STATE_SORT_KEY}},
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return ScalerMemory()
        return memory_from_json(item["memory"]["S"], int(item["version"]["N"]))

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

    # --- kill switch: a control item per group, and one for everything ---
    def load_pause(self, group: str) -> Pause:
        pauses = []
        for sort_key in (keys.GLOBAL_CONTROL_SORT_KEY, group):
            item = self._table_call(
                "GetItem",
                Key={keys.PARTITION_KEY: {"S": keys.CONTROL_PARTITION}, keys.SORT_KEY: {"S": sort_key}},
                ConsistentRead=True,
            ).get("Item")
            pauses.append(Pause(item["pause"]["S"]) if item else Pause.NONE)
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
        if state.original_max is not None:
            item["original_max"] = {"N": str(state.original_max)}
        self._table_call("PutItem", Item=item)

    def load_events(self, group: str) -> list[EventState]:
        response = self._table_call(
            "Query",
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :event)",
            ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": keys.group_pk(group)},
                ":event": {"S": keys.EVENT_SORT_PREFIX},
            },
            ConsistentRead=True,
        )
        return [
            EventState(
                event=item["event"]["S"],
                target=int(item["target"]["N"]),
                why=item["why"]["S"],
                set_at=datetime.fromisoformat(item["set_at"]["S"]),
                original_max=int(item["original_max"]["N"]) if "original_max" in item else None,
            )
            for item in response.get("Items", [])
        ]

    # --- forecast: the forecaster's latest floors, read by every reactive decision of the group ---
    def save_forecast(self, group: str, state: ForecastState) -> None:
        item: dict[str, Any] = {
            keys.PARTITION_KEY: {"S": keys.group_pk(group)},
            keys.SORT_KEY: {"S": keys.FORECAST_SORT_KEY},
            "mode": {"S": state.mode},
            "issued_at": {"S": state.issued_at.isoformat()},
            "valid_until": {"S": state.valid_until.isoformat()},
            "step_minutes": {"N": str(state.step_minutes)},
            "steps": {"L": [{"N": str(s)} for s in state.steps]},
            "floor": {"N": str(state.floor)},
            "percentile": {"N": repr(state.percentile)},
            "multiplier": {"N": repr(state.multiplier)},
            "mape": _to_attribute(state.mape),
            # The item outlives its horizon by a day for inspection, then DynamoDB deletes it.
            keys.TTL_ATTRIBUTE: {"N": str(int(state.valid_until.timestamp()) + 86_400)},
        }
        self._table_call("PutItem", Item=item)

    def load_forecast(self, group: str) -> ForecastState | None:
        item = self._table_call(
            "GetItem",
            Key={
                keys.PARTITION_KEY: {"S": keys.group_pk(group)},
                keys.SORT_KEY: {"S": keys.FORECAST_SORT_KEY},
            },
            ConsistentRead=True,
        ).get("Item")
        if not item:
            return None
        mape = _from_attribute(item["mape"])
        return ForecastState(
            mode=item["mode"]["S"],
            issued_at=datetime.fromisoformat(item["issued_at"]["S"]),
            valid_until=datetime.fromisoformat(item["valid_until"]["S"]),
            step_minutes=int(item["step_minutes"]["N"]),
            steps=tuple(int(s["N"]) for s in item["steps"]["L"]),
            percentile=float(item["percentile"]["N"]),
            multiplier=float(item["multiplier"]["N"]),
            mape=None if mape is None else float(mape),
        )

    # --- audit ---
    def write_audit(self, record: dict[str, Any]) -> None:
        group = record.get("group") or keys.UNKNOWN_GROUP
        item = {k: _to_attribute(v) for k, v in record.items()}
        item[keys.PARTITION_KEY] = {"S": keys.group_pk(group)}
        item[keys.SORT_KEY] = {"S": f"{keys.AUDIT_SORT_PREFIX}{record['at']}#{record['delivery_id']}"}
        self._table_call("PutItem", Item=item)

    def audit_records(self, group: str, limit: int = 100) -> list[dict[str, Any]]:
        response = self._table_call(
            "Query",
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :audit)",
            ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": keys.group_pk(group)},
                ":audit": {"S": keys.AUDIT_SORT_PREFIX},
            },
            Limit=limit,
        )
        return [{k: _from_attribute(v) for k, v in item.items()} for item in response.get("Items", [])]
