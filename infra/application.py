"""Builds the app the same way for `cdk synth` (app.py) and for the tests."""

from __future__ import annotations

from datetime import UTC, datetime

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.stack import SurgeguardStack
from surgeguard.config import ScalerConfig

DEFAULT_CONFIG = "surgeguard.yaml"
DEFAULT_STACK_NAME = "Surgeguard"
DESCRIPTION = "Surgeguard: alarm-driven scaler for existing EC2 Auto Scaling groups"


def build(
    app: cdk.App,
    config: ScalerConfig,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    env: cdk.Environment | None = None,
    now: datetime | None = None,
) -> SurgeguardStack:
    """Add the stack and cdk-nag's AwsSolutions pack; any unacknowledged finding fails synth.

    `now` decides which sale phases are still to come (default: the current time).
    """
    stack = SurgeguardStack(
        app,
        stack_name,
        config=config,
        now=now or datetime.now(UTC),
        stack_name=stack_name,
        env=env,
        description=DESCRIPTION,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack
