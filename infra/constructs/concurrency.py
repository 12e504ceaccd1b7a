"""Reserved concurrency for the scaler Lambdas.

Without a reservation the scalers share the account's concurrency pool (1,000 per region by
default) with every other function: a sale is exactly when the shop's own functions use it up, and a
throttled SNS or Scheduler invocation waits in Lambda's retry queue instead of scaling. A reservation
is both a floor and a ceiling for the function. Lambda refuses one that would leave the account less
than 100 unreserved ("You can reserve up to the Unreserved account concurrency value that is shown,
minus 100", Configuring reserved concurrency, AWS Lambda Developer Guide), so the deploy fails in an
account whose limit is below the sum reserved + 100 (new accounts can start at 10): set
`reserved_concurrency: {reactive: null, sale: null}` there.

Sizing (defaults in `surgeguard.config.ReservedConcurrency`): with 20 reactive runs at once the burst
benchmark (gameday/burst.py, README "Doors open") applied 300 simultaneous alarms within 35 s under
Auto Scaling's throttling, which bounds how fast decisions land more than Lambda does; 10 sale runs
clear a doors-open minute for 300 groups, whose phases were timed minutes ahead anyway. The reactive
default grows past 20 with the groups (`ScalerConfig.reactive_reserved_concurrency`): the per-minute
re-evaluations, one per 50 groups, start together on the same function, and 10 runs are kept beside them
for alarms; a configured value the re-evaluations could fill is refused. The forecaster writes floors
only, so it gets none.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import aws_lambda as lambda_


def reserve_concurrency(function: lambda_.Function, executions: int | None) -> None:
    if executions is None:
        return
    cfn = cast(lambda_.CfnFunction, function.node.default_child)
    cfn.reserved_concurrent_executions = executions
