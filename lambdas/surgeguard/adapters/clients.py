"""boto3 clients, made once per container and only when first needed (cold start stays small)."""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar

import boto3
from botocore import xform_name
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from surgeguard.adapters.errors import AwsCallError

# Standard mode retries throttling with backoff; a throttled call retried 5 times still fits well
# inside the minute a decision has.
RETRY_CONFIG = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=3, read_timeout=10)


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
        try:
            return getattr(self._client, xform_name(operation))(**kwargs)
        except (ClientError, BotoCoreError) as error:
            raise AwsCallError(operation, *error_code(error)) from error
