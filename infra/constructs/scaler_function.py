"""Shared defaults for every Surgeguard Lambda, in one place.

Runtime, architecture, JSON logging into an explicit log group with retention, the Powertools layer,
memory, timeout, and async invocation that never loses a trigger (retries, then a dead-letter queue).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from infra.constructs.audit_table import grant_append_only
from infra.constructs.dead_letter_queue import DeadLetterQueue, SendOnlyQueueDestination
from infra.constructs.lambda_code import ZONE_DATA_PATH, powertools_layer_arn
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
        queries_table: bool = True,
    ) -> None:
        """`queries_table`: whether the Lambda reads the table with Query (see `grant_append_only`)."""
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
                lambda_.LayerVersion.from_layer_version_arn(
                    self, "Powertools", powertools_layer_arn(self, RUNTIME, ARCHITECTURE)
                )
            ],
            environment={
                "POWERTOOLS_SERVICE_NAME": "surgeguard",
                "POWERTOOLS_LOG_LEVEL": "INFO",
                "CONFIG_FILE": BUNDLED_CONFIG_FILE,  # relative to the task root
                "TABLE_NAME": table.table_name,
                "NOTIFY_TOPIC_ARN": notify_topic.topic_arn,
                "ALARM_PREFIX": alarm_prefix,
                # zoneinfo reads the bundled tzdata only, never whatever the runtime image has
                "PYTHONTZPATH": ZONE_DATA_PATH,
            },
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
            on_failure=SendOnlyQueueDestination(self.dead_letter_queue.queue),
        )
        grant_append_only(table, self.role, query=queries_table)
        notify_topic.grant_publish(self.function)
