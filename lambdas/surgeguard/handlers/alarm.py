"""Reactive Lambda: an alarm (via SNS, EventBridge, or direct) or the per-minute re-evaluation ->
decision -> Auto Scaling -> audit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import AuditStore
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.adapters.cloudwatch import CloudWatchSignals
from surgeguard.adapters.notifier import SnsNotifier
from surgeguard.service import Adapters, Context, Invocation, handle_alarm_event
from surgeguard.settings import Settings

logger = Logger(service="surgeguard", logger_handler=None)


@cache
def _wiring() -> tuple[Adapters, Context]:
    # Once per container: settings fail loudly here, on the first event, with the variable's name.
    settings = Settings.from_env()
    config = settings.load_config()
    adapters = Adapters(
        fleet=AutoScalingFleet(),
        signals=CloudWatchSignals(),
        store=AuditStore(settings.table_name),
        notifier=SnsNotifier(settings.notify_topic_arn) if settings.notify_topic_arn else None,
    )
    return adapters, Context(config, settings.alarm_prefix, config.audit_retention_days)


@contextmanager
def begin(context: Any) -> Iterator[Invocation]:
    """This invocation's identity and time budget; AWS calls stop before the Lambda times out.

    The budget ends with the invocation: a deadline left behind would fail every later AWS call made
    in the same process outside an invocation (the CLI, a test, the simulator) as DeadlineExceeded.
    """
    invocation = Invocation.of(context)
    clients.set_deadline(
        invocation.seconds_left if hasattr(context, "get_remaining_time_in_millis") else None
    )
    try:
        yield invocation
    finally:
        clients.set_deadline(None)


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"records": [{k: r.get(k) for k in ("group", "outcome", "reason")} for r in records]}


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    adapters, ctx = _wiring()
    with begin(context) as invocation:
        return summary(handle_alarm_event(event, adapters, ctx, invocation))
