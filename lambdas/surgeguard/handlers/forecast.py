"""Scheduled Lambda: EventBridge Scheduler runs the forecaster for one group -> FORECAST item + audit."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from surgeguard.forecast_service import handle_forecast_event
from surgeguard.handlers.alarm import _wiring, begin, summary

logger = Logger(service="surgeguard", logger_handler=None)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The same wiring (and environment) as the other handlers; it never calls Auto Scaling.
    adapters, ctx = _wiring()
    return summary([handle_forecast_event(event, adapters, ctx, begin(context))])
