"""Shared defaults for every Surgeguard Lambda, in one place.

Runtime, architecture, JSON logging into an explicit log group with retention, the Powertools layer,
memory, timeout, and async invocation that never loses a trigger (retries, then a dead-letter queue).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.audit_table import grant_append_only
from infra.constructs.dead_letter_queue import DeadLetterQueue
from surgeguard.config import BUNDLED_CONFIG_FILE

RUNTIME = lambda_.Runtime.PYTHON_3_14  # the newest Python this aws-cdk-lib knows (cdk-nag L1)
ARCHITECTURE = lambda_.Architecture.ARM_64
MEMORY_MB = 256
TIMEOUT = Duration.seconds(60)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
# Async triggers (SNS, schedules): Lambda's two retries (about 1 and then 2 minutes after a failed
# attempt), then the on-failure queue. A trigger older than this is stale for scaling (a breach
# that lasts stays in ALARM and the per-minute re-evaluation decides it); it is kept in the queue
# rather than acted on.
# The sale and forecast functions pass their own age (a pre-warm stays useful for longer).
RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = Duration.minutes(15)

# AWS's published Powertools for AWS Lambda (Python) v3 layer. The layer version is a sequence
# number per publication, not the semantic version: 3.23.0 is layer 27 (SSM parameter
# /aws/service/powertools/python/<arch>/<python>/3.23.0), each later PyPI release adds one
# (3.28.0 -> 32, 3.31.1 -> 36; there was no 3.32/3.33), so 3.37.0 -> 40. Verify with
#   aws ssm get-parameter --name /aws/service/powertools/python/arm64/python3.14/3.37.0
# and override without a code change: `cdk synth -c powertools_layer_version=NN`.
POWERTOOLS_VERSION = "3.37.0"  # keep equal to aws-lambda-powertools in requirements.txt
POWERTOOLS_LAYER_VERSION = 40
POWERTOOLS_ACCOUNT = "017000801446"  # publisher in the commercial partition


def powertools_layer_name(
    runtime: lambda_.Runtime = RUNTIME, architecture: lambda_.Architecture = ARCHITECTURE
) -> str:
    python = runtime.name.replace(".", "")  # python3.14 -> python314
    return f"AWSLambdaPowertoolsPythonV3-{python}-{architecture.name}"


def powertools_layer_arn(scope: Construct) -> str:
    """The layer in the stack's own region (a token when the stack is environment-agnostic)."""
    version = scope.node.try_get_context("powertools_layer_version") or POWERTOOLS_LAYER_VERSION
    return Stack.of(scope).format_arn(
        service="lambda",
        account=POWERTOOLS_ACCOUNT,
        resource="layer",
        resource_name=f"{powertools_layer_name()}:{int(version)}",
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


class ScalerFunction(Construct):
    """A Lambda with the project defaults, its own role (no managed policies) and log group.

    Every Surgeguard Lambda reads and adds to the audit table (append-only, see
    `grant_append_only`) and tells people through the notifications topic, so those grants and
    variables are here too (the settings they validate are `surgeguard.settings.Settings`).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        handler: str,
        description: str,
        table: dynamodb.ITable,
        notify_topic: sns.ITopic,
        alarm_prefix: str,
        retry_attempts: int = RETRY_ATTEMPTS,
        max_event_age: Duration = MAX_EVENT_AGE,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=LOG_RETENTION)
        # Own role instead of the default one with AWSLambdaBasicExecutionRole (log access to
        # every log group): this one may write to its own log group only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Surgeguard {construct_id}",
        )
        self.log_group.grant_write(self.role)
        self.dead_letter_queue = DeadLetterQueue(
            self, "FailedInvocations", holds="async invocations that failed every retry or expired"
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code,
            handler=handler,
            memory_size=MEMORY_MB,
            timeout=TIMEOUT,
            role=self.role,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            layers=[
                lambda_.LayerVersion.from_layer_version_arn(self, "Powertools", powertools_layer_arn(self))
            ],
            environment={
                "POWERTOOLS_SERVICE_NAME": "surgeguard",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "CONFIG_FILE": BUNDLED_CONFIG_FILE,  # relative to the task root
                "TABLE_NAME": table.table_name,
                "NOTIFY_TOPIC_ARN": notify_topic.topic_arn,
                "ALARM_PREFIX": alarm_prefix,
            },
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            on_failure=destinations.SqsDestination(self.dead_letter_queue.queue),
        )
        grant_append_only(table, self.role)
        notify_topic.grant_publish(self.function)
