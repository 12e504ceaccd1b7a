"""A call the invocation has too little time for is made once, with short timeouts.

Against an endpoint on 127.0.0.1 that accepts connections and never answers (an AWS brownout): the
SDK's own budget, 3 attempts of 2 s connect + 4 s read with backoffs, once ran 12 s for a call started
with 9 s left, and Lambda would have killed the invocation before its `failed` record was written.
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

from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.errors import AwsCallError


@dataclass
class StalledEndpoint:
    url: str
    connections: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def stalled() -> Iterator[StalledEndpoint]:
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
    yield endpoint
    stop.set()
    thread.join()
    for connection in endpoint.connections:
        connection.close()
    server.close()


def _with_time_left(call: Callable[[], Any], seconds_left: float) -> float:
    clients.set_deadline(seconds_left)
    started = time.monotonic()
    try:
        with pytest.raises(AwsCallError):
            call()
    finally:
        clients.set_deadline(None)
    return time.monotonic() - started


def test_a_call_with_too_little_time_for_its_retries_is_made_once_and_ends_in_time(
    stalled: StalledEndpoint,
) -> None:
    api = boto3.client("autoscaling", endpoint_url=stalled.url, config=clients.client_config("autoscaling"))
    elapsed = _with_time_left(lambda: AutoScalingFleet(api).set_desired_capacity("web", 4), 9.0)
    assert len(stalled.connections) == 1, f"{len(stalled.connections)} attempts with 9 s left"
    assert elapsed < 9.0, f"the call ran {elapsed:.1f} s with 9 s left"


def test_a_finishing_write_with_little_time_is_made_once(stalled: StalledEndpoint) -> None:
    api = boto3.client("dynamodb", endpoint_url=stalled.url, config=clients.client_config("dynamodb"))
    record = {"group": "web", "at": "2026-11-20T12:00:00.000+00:00", "delivery_id": "d", "outcome": "failed"}
    _with_time_left(lambda: AuditStore("audit", api).write_audit(record), 2.0)
    assert len(stalled.connections) == 1


def test_with_time_for_the_whole_budget_the_sdk_retries_as_configured() -> None:
    # The client the handlers use keeps its retries while the invocation has the time for them.
    worst = clients.worst_call_seconds(clients.client_config("autoscaling"))
    assert clients.worst_call_seconds(clients.LAST_CALL_CONFIG) < clients.DEADLINE_RESERVE_SECONDS / 2
    assert worst > clients.worst_call_seconds(clients.LAST_CALL_CONFIG)
