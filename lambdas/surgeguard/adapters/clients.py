"""boto3 clients, made once per container and only when first needed (cold start stays small)."""

from __future__ import annotations

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
# Seconds kept back for the calls that end an invocation (the audit write, the claim's completion).
DEADLINE_RESERVE_SECONDS = 8.0
_FINISHING = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
_deadline: float | None = None  # time.monotonic() by which the invocation must be over


def set_deadline(seconds_left: float | None) -> None:
    """The invocation's remaining time (Lambda's context), or None for no limit (tests, simulators)."""
    global _deadline
    _deadline = None if seconds_left is None else time.monotonic() + seconds_left


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=RETRY_CONFIG)


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
        if _deadline is not None:
            left = _deadline - time.monotonic()
            if left < (0 if operation in _FINISHING else DEADLINE_RESERVE_SECONDS):
                raise AwsCallError(operation, "DeadlineExceeded", f"{left:.1f}s left in this invocation")
        try:
            return getattr(self._client, xform_name(operation))(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError(operation, *error_code(error)) from error
