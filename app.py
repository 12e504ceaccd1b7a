#!/usr/bin/env python3
"""CDK entry point: `cdk synth -c config=surgeguard.yaml -c stack_name=Surgeguard`."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent

try:
    import surgeguard  # noqa: F401  (installed editable from lambdas/)
except ImportError:
    sys.path.insert(0, str(ROOT / "lambdas"))

import aws_cdk as cdk  # noqa: E402

from infra.application import DEFAULT_CONFIG, DEFAULT_STACK_NAME, build  # noqa: E402
from surgeguard.config import ConfigError, load_config  # noqa: E402


def main() -> None:
    app = cdk.App()
    config_path = app.node.try_get_context("config") or DEFAULT_CONFIG
    stack_name = app.node.try_get_context("stack_name") or DEFAULT_STACK_NAME
    try:
        config = load_config(config_path)
    except ConfigError as error:
        sys.exit(f"surgeguard: {error}")
    # Environment-agnostic unless the CLI knows the account/region (synth works offline).
    env = cdk.Environment(
        account=os.environ.get("CDK_DEFAULT_ACCOUNT"), region=os.environ.get("CDK_DEFAULT_REGION")
    )
    # Where per-group resources go: auto (one stack; fails when it would not fit), flat or nested.
    layout = app.node.try_get_context("surgeguard_layout") or "auto"
    # Sale phases already past now are skipped (with a warning).
    try:
        build(app, config, stack_name=stack_name, env=env, now=datetime.now(UTC), layout=layout)
    except ValueError as error:
        # A layout that cannot hold the config (`auto` past its line too: it never nests by itself),
        # an unknown layout, or email subscriptions past SNS's filter-policy limits.
        sys.exit(f"surgeguard: {error}")
    app.synth()


if __name__ == "__main__":
    main()
