"""Scheduled Lambda: EventBridge Scheduler fires a sale event's phase -> pre-warm / release / restore."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from aws_lambda_powertools import Logger

from surgeguard.adapters.scheduler import SchedulerAdapter
from surgeguard.handlers.alarm import _wiring, begin, summary
from surgeguard.schedule_service import handle_schedule_event

logger = Logger(service="surgeguard", logger_handler=None)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The same wiring (and environment) as the alarm handler: one container, one set of clients;
    # plus Scheduler, so a handled phase deletes its own one-time schedule (client made on first use).
    adapters, ctx = _wiring()
    adapters = replace(adapters, schedules=SchedulerAdapter())
    with begin(context) as invocation:
        return summary([handle_schedule_event(event, adapters, ctx, invocation)])
