"""Faults and holds injected into the real boto3 clients the handlers use, through botocore events.

The hooks are registered on the botocore session that `boto3.client` uses, so every client made from it
(the handlers' cached clients `surgeguard.adapters.clients.client`, however they are made and re-made)
carries them. They act only inside `Injector.armed()`, per thread: the tests' own clients, and the
handlers outside an armed call, are never touched.

- `before-parameter-build`: the raw parameters, so a DynamoDB call is labelled with the items it
  touches (`dynamodb.PutItem.AUDIT`, `dynamodb.TransactWriteItems.AUDIT+CLAIM`).
- `before-call`: every call is recorded; a fault raised here means the call never reached AWS (an
  error after the SDK's own retries, a timeout before any byte was answered), and a crash here is the
  runtime killing the function before that call.
- `after-call`: the call took effect; a fault raised here is "the call succeeded but the response was
  lost" (a read timeout on the answer), as the caller sees it once the SDK has given up.
- `before-send` (registered first, ahead of moto's own handler): each attempt the SDK sends. A fault
  here is inside botocore's retry loop: `sdk-retry` lets moto apply the request, then loses its answer
  (a read timeout), and botocore sends the same request again (standard mode retries a read timeout,
  and DynamoDB documents that a timed-out write "may or may not have succeeded"). The caller sees the
  second attempt's answer: for a conditional write, its own first attempt's effect.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore.errorfactory import ClientExceptionsFactory
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.core.models import botocore_stubber

from surgeguard import keys

WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})


class LambdaTimeout(BaseException):  # noqa: N818 - named for what it simulates
    """The Lambda runtime killed the function (timeout, out of memory): no code after it runs.

    A BaseException, so no `except Exception` in the handler can turn it into anything else, and once
    raised every later AWS call of the same invocation raises it again (the process is gone: no
    `finally` cleanup can reach AWS either)."""


@dataclass(frozen=True)
class Call:
    """One AWS API call a handler made."""

    service: str  # "autoscaling", "cloudwatch", "dynamodb", "sns", "scheduler"
    operation: str  # "SetDesiredCapacity"
    tag: str = ""  # DynamoDB only: the kinds of item touched, e.g. "AUDIT+CLAIM"
    thread: str = ""

    @property
    def label(self) -> str:
        return f"{self.service}.{self.operation}" + (f".{self.tag}" if self.tag else "")

    @property
    def writes_audit(self) -> bool:
        return self.service == "dynamodb" and self.operation in WRITES and "AUDIT" in self.tag.split("+")

    @property
    def touches(self) -> frozenset[str]:
        return frozenset(self.tag.split("+")) if self.tag else frozenset()


_SORT_KINDS = (
    (keys.AUDIT_SORT_PREFIX, "AUDIT"),
    (keys.EVENT_SORT_PREFIX, "EVENT"),
    (keys.STATE_SORT_KEY, "STATE"),
    (keys.FORECAST_SORT_KEY, "FORECAST"),
    (keys.CLAIM_SORT_KEY, "CLAIM"),
    (keys.FAILING_SORT_KEY, "FAILING"),
)


def _kind(pk: str, sk: str = "") -> str:
    """What a key is: a trigger's CLAIM, a CONTROL (kill switch), or a group's AUDIT/EVENT/STATE/..."""
    if pk.startswith(keys.TRIGGER_PREFIX):
        return "CLAIM"
    if pk == keys.CONTROL_PARTITION:
        return "CONTROL"
    return next((kind for prefix, kind in _SORT_KINDS if sk.startswith(prefix)), "")


def _item_kind(item: dict[str, Any]) -> str:
    pk = str((item.get(keys.PARTITION_KEY) or {}).get("S", ""))
    sk = str((item.get(keys.SORT_KEY) or {}).get("S", ""))
    return _kind(pk, sk) or "ITEM"


def _items(params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for name in ("Item", "Key"):
        if isinstance(params.get(name), dict):
            yield params[name]
    for entry in params.get("TransactItems", []) or []:
        for action in entry.values():
            if isinstance(action, dict):
                yield action.get("Item") or action.get("Key") or {}
    for requests in (params.get("RequestItems") or {}).values():
        if isinstance(requests, dict):  # BatchGetItem
            yield from requests.get("Keys", [])
            continue
        for request in requests:
            for action in request.values():
                yield action.get("Item") or action.get("Key") or {}


def dynamodb_tag(operation: str, params: dict[str, Any]) -> str:
    kinds = {_item_kind(item) for item in _items(params)}
    if operation == "Query":
        values = (params.get("ExpressionAttributeValues") or {}).values()
        strings = [str(v.get("S", "")) for v in values if isinstance(v, dict)]
        found = {_kind(s, s) for s in strings if not s.startswith(keys.GROUP_PREFIX)} - {""}
        kinds |= found or {"GROUP"}
    if operation == "Scan":
        kinds.add("SCAN")
    return "+".join(sorted(kinds - {""}))


_SERVICES = {"auto-scaling": "autoscaling"}
_EXCEPTIONS = ClientExceptionsFactory()


def client_error(model: Any, code: str, status: int, message: str) -> Exception:
    """The modeled botocore exception for `code` (a ClientError subclass), as the real client raises it."""
    error_class: Any = _EXCEPTIONS.create_client_exceptions(model.service_model).from_code(code)
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": str(uuid.uuid4())},
    }
    error: Exception = error_class(response, model.name)
    return error


THROTTLE_CODES = {"dynamodb": "ProvisionedThroughputExceededException", "scheduler": "ThrottlingException"}
SERVER_ERROR_CODES = {"dynamodb": "InternalServerError"}


def fault_error(kind: str, call: Call, model: Any) -> BaseException:
    endpoint = f"https://{call.service}.us-east-1.amazonaws.com/"
    if kind == "throttle":
        code = THROTTLE_CODES.get(call.service, "Throttling")
        return client_error(model, code, 400, "Rate exceeded")
    if kind == "5xx":
        code = SERVER_ERROR_CODES.get(call.service, "InternalFailure")
        return client_error(model, code, 500, "We encountered an internal error. Please try again.")
    if kind == "connect-timeout":
        return ConnectTimeoutError(endpoint_url=endpoint)
    if kind in ("read-timeout", "lost-response"):
        return ReadTimeoutError(endpoint_url=endpoint)
    if kind == "crash":
        return LambdaTimeout(f"Task timed out (killed before {call.label})")
    raise ValueError(f"unknown fault kind {kind!r}")


# The kinds, and when each strikes. A "lost-response" lets the call take effect, then loses the answer;
# an "sdk-retry" does the same to the SDK's first attempt, which botocore then sends again.
FAULT_KINDS: dict[str, str] = {
    "throttle": "before",
    "5xx": "before",
    "read-timeout": "before",
    "connect-timeout": "before",
    "lost-response": "after",
    "sdk-retry": "send",
    "crash": "before",
}


@dataclass
class Rule:
    """Fire `action` when a call matches: `when` is "before" or "after"; at most `times` times."""

    when: str
    matches: Callable[[Call, int], bool]
    action: Callable[[Call, Any], None]
    times: int = 1
    fired: list[Call] = field(default_factory=list)


@dataclass
class _Invocation:
    armed: bool = False
    dead: bool = False
    counts: Counter[str] = field(default_factory=Counter)


class Injector:
    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self.calls: list[Call] = []
        self.rules: list[Rule] = []
        self._uid = f"surgeguard-faults-{uuid.uuid4().hex}"
        self._session: Any = None

    # --- wiring -------------------------------------------------------------------------------------
    def attach(self, session: Any) -> None:
        """Register on a botocore session (clients made from it afterwards carry the hooks)."""
        self._session = session
        session.register("before-parameter-build", self._on_params, unique_id=f"{self._uid}-params")
        session.register("before-call", self._on_before, unique_id=f"{self._uid}-before")
        session.register("after-call", self._on_after, unique_id=f"{self._uid}-after")
        session.get_component("event_emitter").register_first(
            "before-send", self._on_send, unique_id=f"{self._uid}-send"
        )

    def detach(self) -> None:
        if self._session is None:
            return
        self._session.unregister("before-parameter-build", unique_id=f"{self._uid}-params")
        self._session.unregister("before-call", unique_id=f"{self._uid}-before")
        self._session.unregister("after-call", unique_id=f"{self._uid}-after")
        self._session.unregister("before-send", unique_id=f"{self._uid}-send")
        self._session = None

    def attach_clients(self, clients: Iterable[Any]) -> None:
        """Register on clients that already exist (made before `attach`)."""
        for client in clients:
            events = client.meta.events
            events.register("before-parameter-build", self._on_params, unique_id=f"{self._uid}-params")
            events.register("before-call", self._on_before, unique_id=f"{self._uid}-before")
            events.register("after-call", self._on_after, unique_id=f"{self._uid}-after")
            events.register_first("before-send", self._on_send, unique_id=f"{self._uid}-send")

    # --- control ------------------------------------------------------------------------------------
    def _state(self) -> _Invocation:
        state: _Invocation | None = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = _Invocation()
        return state

    @contextmanager
    def armed(self) -> Iterator[list[Call]]:
        """Within: this thread's AWS calls are recorded (into the list yielded) and subject to the rules."""
        self._local.state = _Invocation(armed=True)
        mine: list[Call] = []
        self._local.mine = mine
        try:
            yield mine
        finally:
            self._local.state = _Invocation()
            self._local.mine = None

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.rules.clear()

    def add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    # --- hooks --------------------------------------------------------------------------------------
    def _on_params(self, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self._state().armed:
            return
        service = model.service_model.service_id.hyphenize()
        service = _SERVICES.get(service, service)
        tag = dynamodb_tag(model.name, params) if service == "dynamodb" else ""
        context["surgeguard_fault_call"] = Call(service, model.name, tag, threading.current_thread().name)

    def _on_before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        state = self._state()
        if not state.armed:
            return
        if state.dead:
            raise LambdaTimeout("the runtime already killed this invocation")
        call: Call = context.get("surgeguard_fault_call") or Call("?", model.name)
        state.counts[call.label] += 1
        occurrence = state.counts[call.label]
        context["surgeguard_fault_occurrence"] = occurrence
        with self._lock:
            self.calls.append(call)
        mine = getattr(self._local, "mine", None)
        if mine is not None:
            mine.append(call)
        self._local.sending = (call, occurrence, model)
        self._fire("before", call, occurrence, model)

    def _on_send(self, request: Any, event_name: str, **_: Any) -> None:
        """Each attempt botocore sends of the call `_on_before` saw last (this thread's)."""
        sending = getattr(self._local, "sending", None)
        if not self._state().armed or sending is None:
            return
        call, occurrence, _model = sending
        self._fire("send", call, occurrence, (event_name, request))

    def _on_after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        state = self._state()
        if not state.armed or "surgeguard_fault_occurrence" not in context:
            return
        self._fire("after", context["surgeguard_fault_call"], context["surgeguard_fault_occurrence"], model)

    def _fire(self, when: str, call: Call, occurrence: int, model: Any) -> None:
        with self._lock:
            due = [r for r in self.rules if r.when == when and len(r.fired) < r.times]
            due = [r for r in due if r.matches(call, occurrence)]
            for rule in due:
                rule.fired.append(call)
        for rule in due:
            try:
                rule.action(call, model)
            except LambdaTimeout:
                self._state().dead = True
                raise


def _applied_then_lost(call: Call, sent: Any) -> None:
    """Let moto apply this attempt, then lose its answer: botocore's retry sends it again."""
    event_name, request = sent
    botocore_stubber(event_name=event_name, request=request)
    raise ReadTimeoutError(endpoint_url=request.url)


def fault(label: str, occurrence: int, kind: str) -> Rule:
    """The `occurrence`-th call labelled `label` fails with `kind` (once)."""

    def action(call: Call, model: Any) -> None:
        raise fault_error(kind, call, model)

    if kind == "sdk-retry":
        action = _applied_then_lost

    return Rule(FAULT_KINDS[kind], lambda call, n: call.label == label and n == occurrence, action, times=1)
