"""boto3 clients, made once per container and only when first needed (cold start stays small)."""

from __future__ import annotations

import threading
import time
from functools import cache
from typing import Any, ClassVar

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from surgeguard.adapters.errors import AwsCallError

# Budgeted inside the Lambda timeout: standard mode, 3 attempts in all (the first + 2 retries, backoff
# under 2 s between them), 2 s to connect and 4 s to read: one call takes at most ~20 s. The deadline
# below stops a path from starting calls its invocation has no time left for.
RETRY_CONFIG = Config(
    retries={"total_max_attempts": 3, "mode": "standard"}, connect_timeout=2, read_timeout=4
)
# EC2 Auto Scaling throttles every API call of the account and region from one shared token bucket
# (EC2 Auto Scaling API Reference, "API request rate"). When many groups scale at once (doors open)
# the bucket runs dry for tens of seconds, and 3 attempts (under 3 s of backoff) fail most of the
# late calls: each failure then waits a minute for Lambda's retry. Its calls keep trying instead,
# with standard mode's jittered exponential backoff (up to 20 s), which spreads every Lambda's retries
# over the bucket's refill; the deadline below still stops a call the invocation has no time for.
SERVICE_RETRY_CONFIGS = {
    "autoscaling": RETRY_CONFIG.merge(Config(retries={"total_max_attempts": 10, "mode": "standard"})),
}
# Seconds kept back for the calls that end an invocation (the audit write, the claim's completion).
DEADLINE_RESERVE_SECONDS = 8.0
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

    def _call(self, operation: str, **kwargs: Any) -> Any:
        """Call an operation by its AWS name (e.g. "SetDesiredCapacity")."""
        if self._client is None:
            self._client = client(self.service)
        deadline: float | None = getattr(_invocation, "deadline", None)
        if deadline is not None:
            left = deadline - time.monotonic()
            if left < (0 if operation in _FINISHING else DEADLINE_RESERVE_SECONDS):
                raise AwsCallError(operation, "DeadlineExceeded", f"{left:.1f}s left in this invocation")
        try:
            return getattr(self._client, xform_name(operation))(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError(operation, *error_code(error)) from error
