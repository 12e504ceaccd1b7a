"""A call the invocation has too little time for is made with short timeouts and one retry.

Against an endpoint on 127.0.0.1 that accepts connections and never answers (an AWS brownout): the
SDK's own budget, 3 attempts of 2 s connect + 4 s read with backoffs, once ran 12 s for a call started
with 9 s left, and Lambda would have killed the invocation before its `failed` record was written. The
clients are the ones the handlers make (`clients.client`), pointed at the endpoint as a user would point
them at any other (AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError

from .support import TABLE


@dataclass
class StalledEndpoint:
    url: str
    connections: list[socket.socket] = field(default_factory=list)

    def attempts(self) -> int:
        """The connections made, once none has come for half a second (the accept loop may lag)."""
        seen = -1
        while seen != len(self.connections):
            seen = len(self.connections)
            time.sleep(0.5)
        return seen


def _fresh_clients() -> None:
    clients.client.cache_clear()
    clients.last_call_client.cache_clear()


@pytest.fixture
def stalled(monkeypatch: pytest.MonkeyPatch) -> Iterator[StalledEndpoint]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.1)
    endpoint = StalledEndpoint(f"http://127.0.0.1:{server.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):  # the accept timeout: look at `stop` again
                endpoint.connections.append(server.accept()[0])  # read nothing, answer nothing

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    _fresh_clients()
    # Made before a test's deadline is set, as a warm Lambda's are: on a loaded machine making a client
    # (loading its service model) once took more than the second a 9 s call has over the reserve, and
    # the call was refused before it tried the endpoint (0 attempts, not 2).
    for service in ("autoscaling", "dynamodb"):
        clients.client(service)
        clients.last_call_client(service)
    yield endpoint
    _fresh_clients()
    stop.set()
    thread.join()
    for connection in endpoint.connections:
        connection.close()
    server.close()


def _with_time_left(call: Callable[[], Any], seconds_left: float) -> None:
    """`call` fails (the endpoint never answers) with `seconds_left` in the invocation."""
    clients.set_deadline(seconds_left)
    try:
        with pytest.raises(AwsCallError):
            call()
    finally:
        clients.set_deadline(None)


def test_a_call_with_too_little_time_for_its_retries_ends_in_time(stalled: StalledEndpoint) -> None:
    # Judged by the attempts made and the client's budget, not by the wall clock (a loaded machine
    # stretches it): 2 short attempts, at most 7 s, where 3 long ones took 12 s.
    _with_time_left(lambda: AutoScalingFleet().set_desired_capacity("web", 4), 9.0)
    assert stalled.attempts() == 2
    assert clients.worst_call_seconds(clients.LAST_CALL_CONFIG) < 9.0


def test_a_finishing_write_with_little_time_is_made_short(stalled: StalledEndpoint) -> None:
    record = {"group": "web", "at": "2026-11-20T12:00:00.000+00:00", "delivery_id": "d", "outcome": "failed"}
    _with_time_left(lambda: AuditStore("audit").write_audit(record), 2.0)
    assert stalled.attempts() == 2


def test_with_time_for_the_whole_budget_the_sdk_retries_as_configured(stalled: StalledEndpoint) -> None:
    # Without a deadline (and so with any time left over the budget) the client keeps its 3 attempts.
    with pytest.raises(AwsCallError):
        AutoScalingFleet().set_desired_capacity("web", 4)
    assert stalled.attempts() == 3
    worst = clients.worst_call_seconds(clients.client_config("autoscaling"))
    assert clients.worst_call_seconds(clients.LAST_CALL_CONFIG) < clients.DEADLINE_RESERVE_SECONDS < worst


class _Body:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@pytest.mark.parametrize("seconds_left", [None, 20.0, 5.0])
def test_a_transient_server_error_is_retried_even_late_in_the_invocation(
    audit_table: str, seconds_left: float | None
) -> None:
    # One HTTP 500 on the audit write, answered at once: with 20 s (or 5 s) left the short client still
    # retries it (with no retry at all, the record was lost to one transient error)
    emitter = boto3._get_default_session()._session.get_component("event_emitter")
    sent = [0]

    def first_fails(request: Any, **_: Any) -> AWSResponse | None:
        sent[0] += 1
        if sent[0] > 1:
            return None
        headers = HTTPHeaders()
        headers["Content-Type"] = "application/x-amz-json-1.0"
        body = b'{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"try again"}'
        return AWSResponse(request.url, 500, headers, _Body(body))

    _fresh_clients()
    emitter.register_first("before-send.dynamodb.PutItem", first_fails, unique_id="transient-500")
    clients.set_deadline(seconds_left)
    record = {"group": "web", "at": "2026-11-20T12:00:00.000+00:00", "delivery_id": "d", "outcome": "applied"}
    try:
        AuditStore(TABLE).write_audit(record)
    finally:
        clients.set_deadline(None)
        emitter.unregister("before-send.dynamodb.PutItem", unique_id="transient-500")
        _fresh_clients()
    assert sent[0] == 2
    assert AuditStore(TABLE).audit_written(record)


def test_an_injected_client_is_used_as_it_is_however_little_time_is_left(audit_table: str) -> None:
    # The burst simulator models Auto Scaling's token bucket and latency on the clients it injects (their
    # event hooks): a short twin of one skipped the model, so late calls were never throttled
    injected = boto3.client("dynamodb")
    seen = [0]

    def count(**_: Any) -> None:
        seen[0] += 1

    injected.meta.events.register("before-send.dynamodb.PutItem", count)
    record = {"group": "web", "at": "2026-11-20T12:00:00.000+00:00", "delivery_id": "d", "outcome": "applied"}
    clients.set_deadline(2.0)
    try:
        AuditStore(TABLE, injected).write_audit(record)
    finally:
        clients.set_deadline(None)
    assert seen[0] == 1
