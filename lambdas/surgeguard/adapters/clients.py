"""boto3 clients, made once per container and only when first needed (cold start stays small)."""

from __future__ import annotations

import random
import threading
import time
from functools import cache
from typing import Any, ClassVar

import boto3
from botocore import xform_name
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError

from surgeguard.adapters.errors import TRANSIENT_CODES, AwsCallError

# Budgeted inside the Lambda timeout: standard mode, 3 attempts in all (the first + 2 retries, backoff
# under 2 s between them), 2 s to connect and 4 s to read: one call takes at most ~20 s. The deadline
# below stops a path from starting calls its invocation has no time left for.
RETRY_CONFIG = Config(
    retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=4
)
# EC2 Auto Scaling throttles every API call of the account and region from one shared token bucket
# (EC2 Auto Scaling API Reference, "API request rate"). When many groups scale at once (doors open)
# the bucket runs dry for tens of seconds, and the SDK's 3 attempts (under 3 s of backoff) fail late
# calls: each failure then waits a minute for Lambda's retry (`surgeguard gameday --burst`). A throttled
# Auto Scaling call is tried again, as a whole, after a jittered pause that grows each round (full
# jitter: spreads every Lambda's retries over the bucket's refill), while the invocation has the time:
# each round keeps the SDK's own budget, which fits half the Lambda's timeout (a test pins it).
PATIENT_SERVICES = frozenset({"autoscaling"})
THROTTLING_CODES = frozenset(
    {"Throttling", "ThrottlingException", "RateExceeded", "RequestLimitExceeded", "TooManyRequestsException"}
)
PATIENT_ROUNDS = 6  # without a deadline (tests, simulators); with one, its time decides
PATIENT_MAX_PAUSE = 10.0
SERVICE_RETRY_CONFIGS: dict[str, Config] = {}
# Seconds kept back for the calls that end an invocation (the audit write, the claim's completion).
DEADLINE_RESERVE_SECONDS = 8.0
# A call whose SDK budget (every attempt timing out, and the backoffs) would outlive the time it has is
# made with short timeouts and one retry instead (at most 2 x (1 + 2) s + 1 s of backoff, inside the
# reserve): with 9 s left, 3 attempts of a stalled SetDesiredCapacity ran 12 s, and the runtime would
# kill the invocation before its `failed` record. One retry still meets a transient 5xx or throttle.
LAST_CALL_CONFIG = Config(
    retries={"total_max_attempts": 2, "mode": "standard"}, connect_timeout=1, read_timeout=2
)
_FINISHING = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
# Per thread: a Lambda runs one invocation per process, the burst simulator many at once.
_invocation = threading.local()


def set_deadline(seconds_left: float | None) -> None:
    """The invocation's remaining time (Lambda's context), or None for no limit (tests, simulators)."""
    _invocation.deadline = None if seconds_left is None else time.monotonic() + seconds_left


def client_config(service: str) -> Config:
    return SERVICE_RETRY_CONFIGS.get(service, RETRY_CONFIG)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=client_config(service))


@cache
def last_call_client(service: str) -> Any:
    return boto3.client(service, config=LAST_CALL_CONFIG)


def worst_call_seconds(config: Config) -> float:
    """How long one call can take under `config`: every attempt timing out (connect and read) and
    botocore's standard-mode backoffs between them, min(20 s, 2 ** (attempt - 1)) at most."""
    settings: Any = config  # botocore sets its options as attributes at run time
    retries = dict(settings.retries or {})
    attempts = int(retries.get("total_max_attempts", int(retries.get("max_attempts", 4)) + 1))
    backoff = sum(min(20.0, 2.0 ** (attempt - 1)) for attempt in range(1, attempts))
    return attempts * (float(settings.connect_timeout) + float(settings.read_timeout)) + backoff


def _transient(error: Exception, code: str) -> bool:
    """Could a later retry succeed: no AWS response at all (a timeout, a dropped connection), a 5xx, or
    a throttling, capacity or timeout code."""
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return True
    response = getattr(error, "response", None) or {}
    status = (
        response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    )
    return (isinstance(status, int) and status >= 500) or code in TRANSIENT_CODES


def error_code(error: Exception) -> tuple[str, str]:
    response = getattr(error, "response", None) or {}
    info = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(info.get("Code", type(error).__name__)), str(info.get("Message", error))


class AwsAdapter:
    """Base of the boto3 adapters: one client, made on first use; botocore failures become AwsCallError.

    Tests and the game day pass their own client (moto, or one that throttles).
    """

    service: ClassVar[str]

    def __init__(self, api: Any = None) -> None:
        self._client = api
        self._last_call_client: Any = None

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """Call an operation by its AWS name (e.g. "SetDesiredCapacity")."""
        if self._client is None:
            self._client = client(self.service)
        for round_ in range(PATIENT_ROUNDS + 1):
            left = _time_left()
            reserve = 0 if operation in _FINISHING else DEADLINE_RESERVE_SECONDS
            if left is not None and left < reserve:
                raise AwsCallError(operation, "DeadlineExceeded", f"{left:.1f}s left in this invocation")
            api = self._client if left is None or left - reserve >= self._worst_call() else self._short()
            try:
                return getattr(api, xform_name(operation))(**kwargs)
            except (ClientError, BotoCoreError) as error:
                code, message = error_code(error)
                pause = random.uniform(0, min(PATIENT_MAX_PAUSE, 2.0 ** (round_ + 1)))
                if not self._patient(code, round_, pause):
                    raise AwsCallError(operation, code, message, transient=_transient(error, code)) from error
            time.sleep(pause)
        raise AssertionError("unreachable: the last round raises")

    def _worst_call(self) -> float:
        """One call's SDK budget, for the client the handlers make; 0 for one injected (moto, the burst
        simulator's modelled AWS, a fake): its own behaviour is what the caller wants."""
        made_here = self._client is client(self.service) and isinstance(self._client, BaseClient)
        return worst_call_seconds(self._client.meta.config) if made_here else 0.0

    def _short(self) -> Any:
        """The client for a call the invocation has little time left for: short timeouts, one retry."""
        if self._last_call_client is None:
            self._last_call_client = last_call_client(self.service)
        return self._last_call_client

    def _patient(self, code: str, round_: int, pause: float) -> bool:
        """Whether a throttled call is tried again after `pause`: Auto Scaling only, and only while the
        invocation would still have twice the reserve a call needs to start (the audit write's too)."""
        if self.service not in PATIENT_SERVICES or code not in THROTTLING_CODES or round_ >= PATIENT_ROUNDS:
            return False
        left = _time_left()
        return left is None or left - pause > 2 * DEADLINE_RESERVE_SECONDS


def _time_left() -> float | None:
    deadline: float | None = getattr(_invocation, "deadline", None)
    return None if deadline is None else deadline - time.monotonic()
