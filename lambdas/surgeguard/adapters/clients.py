"""boto3 clients, made once per container and only when first needed (cold start stays small)."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

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
