"""Scheduled Lambda: EventBridge Scheduler runs the forecaster for one group -> FORECAST item + audit."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from surgeguard.forecast_service import forecast_written_metric, handle_forecast_event
from surgeguard.handlers.alarm import _wiring, begin, summary

logger = Logger(service="surgeguard", logger_handler=None)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The same wiring (and environment) as the other handlers; it never calls Auto Scaling.
    adapters, ctx = _wiring()
    with begin(context) as invocation:
        record = handle_forecast_event(event, adapters, ctx, invocation)
    metric = forecast_written_metric(record, ctx.alarm_prefix, ctx.clock())
    if metric is not None:
        print(json.dumps(metric), flush=True)  # stdout, not the logger: EMF must be the whole line
    return summary([record])
