"""Builds the app the same way for `cdk synth` (app.py) and for the tests."""

from __future__ import annotations

from datetime import UTC, datetime

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.constructs.template_size import TemplateSizeCheck
from infra.stack import SurgeguardStack
from surgeguard.config import ScalerConfig

DEFAULT_CONFIG = "surgeguard.yaml"
DEFAULT_STACK_NAME = "Surgeguard"
DESCRIPTION = "Surgeguard: alarm-driven scaler for existing EC2 Auto Scaling groups"


def check_construct_names(config: ScalerConfig) -> None:
    """Group names become construct ids (a group's alarms, schedules, forecaster), and CDK writes a `/` in
    an id as `--`: two groups named so would be one construct, a synth traceback. Said by name instead."""
    by_id: dict[str, list[str]] = {}
    for group in config.groups:
        by_id.setdefault(group.name.replace("/", "--"), []).append(group.name)
    clashes = [names for names in by_id.values() if len(names) > 1]
    if clashes:
        raise ValueError(
            "groups whose names differ only by '/' against '--' cannot share one stack (CDK writes '/' in an "
            f"id as '--'): {', '.join(' and '.join(repr(n) for n in names) for names in clashes)}"
        )


def build(
    app: cdk.App,
    config: ScalerConfig,
    *,
    stack_name: str = DEFAULT_STACK_NAME,
    env: cdk.Environment | None = None,
    now: datetime | None = None,
    layout: str = "auto",
) -> list[SurgeguardStack]:
    """Add the stack(s) and cdk-nag's AwsSolutions pack; any unacknowledged finding fails synth.

    Without `deployments` in the config: one stack named `stack_name` in `env`, as always. With them:
    one `cdk.Stage` per deployment (its name, account and region) holding the same stack, deployed as
    `cdk deploy '<name>/*'`; CloudFormation names it `<name>-<stack_name>`, which is also its alarm
    prefix. `now` decides which sale phases are still to come (default: the current time); `layout`
    where per-group resources go (infra/constructs/shards.py).
    """
    now = now or datetime.now(UTC)
    check_construct_names(config)
    if not config.deployments:
        stack = SurgeguardStack(
            app,
            stack_name,
            config=config,
            now=now,
            layout=layout,
            stack_name=stack_name,
            env=env,
            description=DESCRIPTION,
        )
        # cdk-nag, and CloudFormation's template size limit (checked on the written templates)
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app), TemplateSizeCheck([stack]))
        return [stack]
    stacks = []
    for deployment in config.deployments:
        stage = cdk.Stage(
            app, deployment.name, env=cdk.Environment(account=deployment.account, region=deployment.region)
        )
        stacks.append(
            SurgeguardStack(stage, stack_name, config=config, now=now, layout=layout, description=DESCRIPTION)
        )
        # A stage synthesizes into its own assembly: validation plugins are registered per stage.
        cdk.Validations.of(stage).add_plugins(AwsSolutionsChecks(stage), TemplateSizeCheck(stacks[-1:]))
    return stacks
