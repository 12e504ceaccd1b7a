"""The game-day path: the same engine and alarms, but Surgeguard runs as its real Lambda on a local AWS.

`SurgeguardPolicy` (the fast path) calls `handle_alarm_event` with in-memory adapters. Here
`MotoSurgeguardPolicy` replaces only the entry point and the adapters: every ALARM transition is
delivered to the real `lambda_handler` (fake Lambda context, the deployed function's environment,
the bundled config in a task-root directory), whose `_wiring()` builds the real boto3 adapters,
talking to a moto server over HTTP:

* CloudWatch: each minute's CPUUtilization (AWS/EC2, AutoScalingGroupName) and RequestCountPerTarget
  (AWS/ApplicationELB, TargetGroup) datapoints are put with PutMetricData at the simulated minute,
  so the handler's GetMetricData reads what the engine's alarms saw. moto never evaluates alarms, so
  the engine's MetricAlarm objects keep evaluating; their transitions are mirrored onto the real
  alarms (SetAlarmState); an alarm stays in ALARM while its breach lasts, and each such minute the
  per-minute re-evaluation goes through the real handler, which reads those states (DescribeAlarms).
* DynamoDB and SNS: the deployed audit table (claims, state item, audit records) and topic.
* Auto Scaling: SetDesiredCapacity on a real (moto) group; desired, min and max are moto's.
  moto has no launch timing (an instance is InService the moment it exists), so the group's
  instance life cycle comes from the engine: `EngineTimedFleet` (below) overlays the engine's
  pending/warming counts onto moto's DescribeAutoScalingGroups answer.

The two paths must make the same decisions (tests/gameday_e2e proves it): this one is slower
(HTTP per call) but exercises the handler, the adapters, the table and the alarms for real.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import tempfile
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from unittest import mock

import boto3

from gameday.alarms import AlarmState
from gameday.engine import (
    DEFAULT_START,
    DeclaredEvent,
    PolicyContext,
    PolicyView,
    SimulationResult,
    simulate,
)
from gameday.fleet import FleetParams, FleetSizing, size_fleet
from gameday.surgeguard_policy import _METRICS, GROUP, PREFIX, SurgeguardPolicy, Tuning, benchmark_config
from gameday.traces import Trace
from surgeguard.adapters.audit_store import AuditStore, create_local_table
from surgeguard.adapters.autoscaling import AutoScalingFleet
from surgeguard.alarm_shape import NORMAL_WINDOW_MINUTES, alarm_shape, normal_window
from surgeguard.config import (
    BUNDLED_CONFIG_FILE,
    Direction,
    GroupConfig,
    RequestsPerTargetSignal,
    ScalerConfig,
    config_json,
    parse_config,
)
from surgeguard.domain.model import GroupSnapshot
from surgeguard.signals import alarm_threshold, signal_metric

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_REGION": REGION,
    "AWS_DEFAULT_REGION": REGION,
}
DEFAULT_FUNCTION_NAME = "Surgeguard-Reactive"
SCHEDULE_FUNCTION_NAME = "Surgeguard-Sales"
SAMPLE_AMI = "ami-0123456789abcdef0"
SAMPLE_INSTANCE_TYPE = "c7g.large"
_METRIC_BATCH = 1000  # PutMetricData takes at most 1,000 datums per call
# Async invocations (SNS -> Lambda) are retried this many times, then dead-lettered
# (infra/constructs/scaler_function.py RETRY_ATTEMPTS).
LAMBDA_RETRY_ATTEMPTS = 2


# --------------------------------------------------------------------------- moto server and env


def start_moto_server() -> tuple[Any, str]:
    """A fresh moto server on 127.0.0.1, on a free port: (server, endpoint URL). Stop it with .stop()."""
    from moto.server import ThreadedMotoServer

    # One line per HTTP request otherwise (werkzeug's access log).
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # moto's backends are process-wide: a second server in the same process (a test run, a second
    # demo) would see the first one's tables and groups. Start from an empty account.
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10
    ).close()
    return server, endpoint


def aws_environment(endpoint_url: str) -> dict[str, str]:
    """What this process's boto3 needs to talk to moto only: the endpoint and fake credentials."""
    return {"AWS_ENDPOINT_URL": endpoint_url, **FAKE_CREDENTIALS}


def aws_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client bound to the moto endpoint explicitly (independent of the environment)."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


def _clear_lambda_caches() -> None:
    """The Lambda caches its boto3 clients and wiring per container: a new moto is a new container."""
    from surgeguard.adapters.clients import client
    from surgeguard.handlers import alarm

    client.cache_clear()
    alarm._wiring.cache_clear()


# --------------------------------------------------------------------------- what was deployed


@dataclass(frozen=True)
class Deployment:
    """What the deployed stack gives the reactive Lambda: its environment and its bundled config."""

    function_name: str
    environment: Mapping[str, str]  # the function's variables: TABLE_NAME, ALARM_PREFIX, CONFIG_FILE, ...
    config_text: str  # the JSON bundled next to the code (CONFIG_FILE under the task root)
    signals_topic_arn: str
    via: str  # "cloudformation" or "api"
    notes: tuple[str, ...] = ()

    @property
    def config(self) -> ScalerConfig:
        return parse_config(
            json.loads(self.config_text), source=self.environment.get("CONFIG_FILE", "config")
        )

    @property
    def table_name(self) -> str:
        return self.environment["TABLE_NAME"]

    @property
    def alarm_prefix(self) -> str:
        return self.environment["ALARM_PREFIX"]


def gameday_group(
    sizing: FleetSizing, tuning: Tuning | None = None, events: Sequence[DeclaredEvent] = ()
) -> GroupConfig:
    """The demo group's config: exactly what the fast path's SurgeguardPolicy uses for the engine,
    declared events included (they become the group's `events`, as the stack would schedule them)."""
    tuning = tuning or Tuning()
    return benchmark_config(
        sizing.min_size, sizing.max_size, sizing.capacity_per_instance, tuning, events
    ).groups[0]


def with_group(base: ScalerConfig | None, group: GroupConfig) -> ScalerConfig:
    """`base` (the team's surgeguard.yaml) plus `group`, replacing a group of the same name."""
    if base is None:
        return ScalerConfig(groups=[group])
    groups = [g for g in base.groups if g.name != group.name] + [group]
    return ScalerConfig(
        groups=groups,
        dry_run=base.dry_run,
        notify_emails=base.notify_emails,
        audit_retention_days=base.audit_retention_days,
    )


def provision_api(endpoint_url: str, config: ScalerConfig, *, prefix: str = PREFIX) -> Deployment:
    """Create what the stack would (audit table, both topics) through the API, without CloudFormation."""
    dynamodb = aws_client("dynamodb", endpoint_url)
    table = f"{prefix}-Audit"
    create_local_table(dynamodb, table)
    sns = aws_client("sns", endpoint_url)
    signals = sns.create_topic(Name=f"{prefix}-Signals")["TopicArn"]
    notifications = sns.create_topic(Name=f"{prefix}-Notifications")["TopicArn"]
    environment = {
        "POWERTOOLS_SERVICE_NAME": "surgeguard",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "CONFIG_FILE": BUNDLED_CONFIG_FILE,
        "TABLE_NAME": table,
        "NOTIFY_TOPIC_ARN": notifications,
        "ALARM_PREFIX": prefix,
    }
    return Deployment(DEFAULT_FUNCTION_NAME, environment, config_json(config), signals, via="api")


def alarm_requests(config: ScalerConfig, prefix: str, topic_arn: str) -> list[tuple[str, dict[str, Any]]]:
    """(API operation, arguments) for every alarm the stack declares, built like infra's ScalingAlarms."""
    requests: list[tuple[str, dict[str, Any]]] = []
    for spec in config.alarms(prefix):
        group = config.group(spec.group)
        assert group is not None
        actions = {"AlarmActions": [topic_arn]} if spec.notifies else {}
        if spec.composite_of:
            rule = " AND ".join(f'ALARM("{name}")' for name in spec.composite_of)
            requests.append(("put_composite_alarm", {"AlarmName": spec.name, "AlarmRule": rule, **actions}))
            continue
        signal = group.signal(spec.rule)
        assert signal is not None
        metric = signal_metric(group, signal)
        # the template's shape (period, M of N, missing data, low-sample percentiles)
        shape = alarm_shape(group, signal, spec.direction, metric.stats[0].statistic)
        low_samples = shape.evaluate_low_sample_count_percentile
        common = {
            "AlarmName": spec.name,
            "Threshold": alarm_threshold(signal, spec.direction),
            "ComparisonOperator": "GreaterThanThreshold"
            if spec.direction is Direction.OUT
            else "LessThanThreshold",
            "EvaluationPeriods": shape.evaluation_periods,
            "DatapointsToAlarm": shape.datapoints_to_alarm,
            "TreatMissingData": shape.treat_missing_data.value,
            **({"EvaluateLowSampleCountPercentile": low_samples} if low_samples else {}),
            **actions,
        }
        if metric.is_math:
            queries: list[dict[str, Any]] = [
                {
                    "Id": stat.id,
                    "MetricStat": {
                        "Metric": {
                            "Namespace": stat.namespace,
                            "MetricName": stat.metric_name,
                            "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions],
                        },
                        "Period": shape.period_seconds,
                        "Stat": stat.statistic,
                    },
                    "ReturnData": False,
                }
                for stat in metric.stats
            ]
            queries.append({"Id": "e1", "Expression": metric.expression, "ReturnData": True})
            requests.append(("put_metric_alarm", {**common, "Metrics": queries}))
            continue
        (stat,) = metric.stats
        single = {
            "Namespace": stat.namespace,
            "MetricName": stat.metric_name,
            "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions],
            "Period": shape.period_seconds,
        }
        if stat.statistic.startswith("p"):
            single["ExtendedStatistic"] = stat.statistic
        else:
            single["Statistic"] = stat.statistic
        requests.append(("put_metric_alarm", {**common, **single}))
    return requests


def create_alarms(
    endpoint_url: str, requests: Sequence[tuple[str, dict[str, Any]]]
) -> tuple[list[str], list[str]]:
    """Create alarms through the API (moto's CloudFormation skips AWS::CloudWatch::Alarm).

    moto does not implement PutCompositeAlarm either: composite alarms are left out and returned
    as the second list. (Only a group with `composites` has them; the demo group has none.)
    """
    cloudwatch = aws_client("cloudwatch", endpoint_url)
    created, skipped = [], []
    for operation, arguments in requests:
        if operation == "put_composite_alarm":
            skipped.append(arguments["AlarmName"])
            continue
        getattr(cloudwatch, operation)(**arguments)
        created.append(arguments["AlarmName"])
    return created, skipped


def create_sample_group(endpoint_url: str, sizing: FleetSizing, name: str = GROUP) -> dict[str, Any]:
    """The group the demo scales: a launch template and an Auto Scaling group sized like the engine's."""
    ec2 = aws_client("ec2", endpoint_url)
    template = ec2.create_launch_template(
        LaunchTemplateName=f"{name}-template",
        LaunchTemplateData={"ImageId": SAMPLE_AMI, "InstanceType": SAMPLE_INSTANCE_TYPE},
    )["LaunchTemplate"]
    autoscaling = aws_client("autoscaling", endpoint_url)
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template["LaunchTemplateId"], "Version": "$Latest"},
        MinSize=sizing.min_size,
        MaxSize=sizing.max_size,
        DesiredCapacity=sizing.initial_size,
        AvailabilityZones=[f"{REGION}a", f"{REGION}b"],
        DefaultInstanceWarmup=240,
    )
    group: dict[str, Any] = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
        "AutoScalingGroups"
    ][0]
    return group


# --------------------------------------------------------------------------- the Lambda's view of the fleet


class EngineTimedFleet(AutoScalingFleet):
    """The real AutoScalingFleet adapter, with the instance life cycle taken from the engine.

    Why: moto launches instances synchronously and reports every one InService at once; it has no
    Pending phase and no warm-up. Surgeguard's decision needs both (pending instances are not
    counted twice; warming instances do not serve yet), and the fleet model times them (pending at
    ages 0-1, warming at 2-3, serving from 4). So DescribeAutoScalingGroups really runs against moto
    (desired, min and max are moto's, including what SetDesiredCapacity changed this minute) and only
    the two instance counts are replaced, exactly as the fast path's in-memory fleet computes them:
    InService = serving + warming (a warming instance is InService in AWS), Pending = pending plus
    instances launched by an earlier trigger this minute. SetDesiredCapacity is the parent's, untouched.
    """

    def __init__(self, view: Callable[[], PolicyView], autoscaling: Any = None) -> None:
        super().__init__(autoscaling)
        self._current_view = view

    def describe(self, name: str) -> GroupSnapshot:
        snapshot = super().describe(name)
        view = self._current_view()
        launched_now = max(0, snapshot.size.desired - view.desired)
        # The engine's instances, the group's own states (suspended processes, protection) as moto has them.
        return replace(snapshot, in_service=view.serving + view.warming, pending=view.pending + launched_now)


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that the handler and Powertools read."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = "gameday"

    def __post_init__(self) -> None:
        if not self.invoked_function_arn:
            self.invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# --------------------------------------------------------------------------- the policy


class MotoSurgeguardPolicy(SurgeguardPolicy):
    """`surgeguard` through its deployed Lambda on moto: same alarms, same events, real I/O.

    Use inside `session()` (see `replay`): it sets this process's AWS environment to the moto
    endpoint and the function's variables, writes the bundled config to a task root, and wires the
    handler's fleet adapter to `EngineTimedFleet`. Everything else in `_wiring()` is the real thing.
    """

    name = "surgeguard"

    def __init__(
        self,
        deployment: Deployment,
        endpoint_url: str,
        tuning: Tuning | None = None,
        lambda_log: IO[str] | None = None,
    ) -> None:
        super().__init__(tuning or Tuning())
        if deployment.alarm_prefix != PREFIX:
            raise ValueError(
                f"the deployed stack's ALARM_PREFIX is {deployment.alarm_prefix!r}, but the engine names "
                f"Surgeguard's alarms {PREFIX!r}/...: deploy the stack as {PREFIX!r}"
            )
        self.deployment = deployment
        self.endpoint_url = endpoint_url
        self.lambda_log = lambda_log
        self.invocations = 0
        self.responses: list[dict[str, Any]] = []
        self.dead_letters: list[tuple[int, str, str]] = []  # (minute, alarm, error) after every retry
        self._view: PolicyView | None = None
        self._in_session = False
        self._cloudwatch = aws_client("cloudwatch", endpoint_url)
        self._autoscaling = aws_client("autoscaling", endpoint_url)
        self._published = 0
        self._start = DEFAULT_START

    @contextmanager
    def session(self) -> Iterator[None]:
        """The Lambda's world for the length of a replay; everything is restored afterwards."""
        from surgeguard.handlers import alarm

        with ExitStack() as stack:
            task_root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="surgeguard-task-root-")))
            config_file = self.deployment.environment.get("CONFIG_FILE", BUNDLED_CONFIG_FILE)
            (task_root / config_file).write_text(self.deployment.config_text, encoding="utf-8")
            environment = {
                **aws_environment(self.endpoint_url),
                **self.deployment.environment,
                "LAMBDA_TASK_ROOT": str(task_root),
                "AWS_LAMBDA_FUNCTION_NAME": self.deployment.function_name,
            }
            stack.enter_context(mock.patch.dict(os.environ, environment))
            os.environ.pop("AWS_PROFILE", None)  # restored with the rest when the session ends
            # `_wiring()` builds AutoScalingFleet(); the engine supplies the instance life cycle.
            stack.enter_context(mock.patch.object(alarm, "AutoScalingFleet", self._fleet))
            if self.lambda_log is not None:
                stack.enter_context(redirect_logger("surgeguard", self.lambda_log))
            _clear_lambda_caches()
            stack.callback(_clear_lambda_caches)
            # The Lambda judges event times by its own clock: here, the replay's.
            stack.enter_context(mock.patch("surgeguard.service.utc_now", self._replay_now))
            self._in_session = True
            stack.callback(setattr, self, "_in_session", False)
            yield

    def _replay_now(self) -> datetime:
        return self._current_view().now

    def _fleet(self) -> EngineTimedFleet:
        return EngineTimedFleet(self._current_view)

    def _current_view(self) -> PolicyView:
        assert self._view is not None, "the fleet is described only during a handler call"
        return self._view

    def reset(self, ctx: PolicyContext) -> None:
        # The parent plans each declared event's three phases (and their seeded lateness) exactly as
        # the fast path fires them; here they go through the real schedule Lambda handler.
        super().reset(ctx)
        deployed = self.deployment.config.group(GROUP)
        if deployed != self.config.groups[0]:
            raise ValueError(
                f"the deployed config's group {GROUP!r} differs from the engine's: deploy the stack "
                "with gameday_group(sizing, tuning, events) for this trace and its declared events"
            )
        self._start = ctx.start
        self._published = 0
        self.invocations = 0
        self.responses = []
        self.dead_letters = []

    def decide(self, view: PolicyView) -> int | None:
        assert self._in_session, "use `with policy.session():` around simulate()"
        self._publish_datapoints(view)
        transitions = view.alarm_transitions
        for transition in transitions:  # CloudWatch's own state changes, which moto does not compute
            self._cloudwatch.set_alarm_state(
                AlarmName=transition.alarm_name,
                StateValue=transition.new_state.value,
                StateReason=f"gameday engine: {transition.reason}"[:1023],
            )
        alarmed = [t for t in transitions if t.new_state is AlarmState.ALARM]
        # As the fast path: a breach that lasts is decided by the per-minute re-evaluation.
        lasting = not alarmed and any(alarm.in_alarm for alarm in self.engine_alarms.values())
        due = []
        while self._phases and self._phases[-1][0] <= view.now:
            due.append(self._phases.pop())
        if not alarmed and not due and not lasting:
            return None
        from surgeguard.handlers.alarm import lambda_handler

        self._view = view
        try:
            for _, when, event_name, phase in due:  # as the fast path: phases first, then alarms
                self._fire_phase(view, when, event_name, phase)
            for transition in alarmed:
                event = self._event(transition.alarm_name, transition.old_state, view)
                self._retarget(event)
                self.invocations += 1
                context = FakeLambdaContext(self.deployment.function_name, f"gameday-{self.invocations:07d}")
                self._invoke(lambda_handler, event, context, view.minute, transition.alarm_name)
            if lasting:
                self.invocations += 1
                context = FakeLambdaContext(self.deployment.function_name, f"gameday-{self.invocations:07d}")
                self._invoke(lambda_handler, self.reevaluation(view), context, view.minute, "re-evaluation")
        finally:
            self._view = None
        group = self._autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
        desired = int(group["AutoScalingGroups"][0]["DesiredCapacity"])
        return desired if desired != view.desired else None

    def _fire_phase(self, view: PolicyView, when: datetime, event_name: str, phase: str) -> None:
        """One scheduled phase through the real schedule handler, with the Input JSON the stack's
        schedule carries and two of its context attributes filled in as Scheduler fills them. The
        third, `schedule_arn`, is left out: no schedule exists in moto here, so nothing is deleted."""
        from surgeguard.handlers.schedule import lambda_handler

        if phase == "prewarm":
            self._publish_last_week(view, event_name)
        self._sequence += 1
        payload = {
            "group": GROUP,
            "event": event_name,
            "phase": phase,
            "scheduled_time": when.strftime("%Y-%m-%dT%H:%M:%SZ"),  # <aws.scheduler.scheduled-time>
            "execution_id": f"sim-schedule-{self._sequence:08d}",  # <aws.scheduler.execution-id>
        }
        self.invocations += 1
        context = FakeLambdaContext(SCHEDULE_FUNCTION_NAME, f"gameday-{self.invocations:07d}")
        self._invoke(lambda_handler, payload, context, view.minute, f"{event_name}/{phase}")

    def _publish_last_week(self, view: PolicyView, event_name: str) -> None:
        """What the pre-warm reads as normal demand: ALB RequestCount around the same time a week
        earlier. A trace that holds that week has it published already (every minute, below); one
        that does not gets the simulator's stand-in for it (the fast path's
        `normal_requests_per_minute`, the same number) as one datapoint at that minute, so the
        handler's GetMetricData reads what the fast path reads."""
        from surgeguard.domain.sales import normal_demand_time

        group = self.config.groups[0]
        event = group.event(event_name)
        signal = group.requests_signal()
        if event is None or signal is None or event.peak_requests_per_minute is not None:
            return
        around = normal_demand_time(event)
        start, end = normal_window(around)
        if end > self._start:
            return  # (part of) that window is in the trace: its published minutes are what is read
        assert self.aws is not None
        self.aws.view = view
        try:
            normal = self.aws.normal_requests_per_minute(group, around)
        finally:
            self.aws.view = None
        if normal is None:
            return
        # Every minute of the window: a minute without a datapoint reads as one without requests.
        self._cloudwatch.put_metric_data(
            Namespace=signal.namespace,
            MetricData=[
                {
                    "MetricName": "RequestCount",
                    "Dimensions": _request_count_dimensions(signal),
                    "Timestamp": start + timedelta(minutes=minute),
                    "Value": normal,
                    "Unit": "Count",
                }
                for minute in range(NORMAL_WINDOW_MINUTES)
            ],
        )

    def _invoke(
        self, handler: Any, event: dict[str, Any], context: Any, minute: int, alarm_name: str
    ) -> None:
        """An asynchronous invocation as Lambda runs it: retried on error, then dead-lettered.

        The handler audits a failure and raises so that Lambda retries (LAMBDA_RETRY_ATTEMPTS, with
        the same request id); what still fails goes to the function's dead-letter queue. The replay
        goes on, as the real system would.
        """
        from surgeguard.service import RetryableFailureError

        for attempt in range(1 + LAMBDA_RETRY_ATTEMPTS):
            try:
                self.responses.append(handler(event, context))
                return
            except RetryableFailureError as error:
                if attempt == LAMBDA_RETRY_ATTEMPTS:
                    self.dead_letters.append((minute, alarm_name, str(error)))

    def _retarget(self, event: dict[str, Any]) -> None:
        """Deliver through the deployed signals topic (the fast path uses a placeholder ARN)."""
        for record in event["Records"]:
            sns = record["Sns"]
            sns["TopicArn"] = self.deployment.signals_topic_arn
            record["EventSubscriptionArn"] = f"{self.deployment.signals_topic_arn}:{sns['MessageId']}"

    def _publish_datapoints(self, view: PolicyView) -> None:
        """PutMetricData for every minute the group produced since the last call (NaN = no datapoint)."""
        history = view.history
        upto = len(history.cpu)
        if upto <= self._published:
            return
        group = self.config.groups[0]
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for signal in group.signals:
            series = history.series(_METRICS[signal.kind])
            (stat,) = signal_metric(group, signal).stats
            unit = "Percent" if signal.kind == "cpu" else "Count"
            for minute in range(self._published, upto):
                value = series[minute]
                if value != value:  # a gap minute: CloudWatch received nothing
                    continue
                by_namespace.setdefault(stat.namespace, []).append(
                    {
                        "MetricName": stat.metric_name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions],
                        "Timestamp": self._start + timedelta(minutes=minute),
                        "Value": value,
                        "Unit": unit,
                    }
                )
        # ALB RequestCount (Sum per minute) for the target group: the schedule service's normal demand
        # and the forecaster's history read it.
        requests_signal = group.requests_signal()
        if requests_signal is not None:
            requests = history.requests
            for minute in range(self._published, upto):
                value = requests[minute]
                if value != value:
                    continue
                by_namespace.setdefault(requests_signal.namespace, []).append(
                    {
                        "MetricName": "RequestCount",
                        "Dimensions": _request_count_dimensions(requests_signal),
                        "Timestamp": self._start + timedelta(minutes=minute),
                        "Value": value,
                        "Unit": "Count",
                    }
                )
        for namespace, data in by_namespace.items():
            for first in range(0, len(data), _METRIC_BATCH):
                self._cloudwatch.put_metric_data(
                    Namespace=namespace, MetricData=data[first : first + _METRIC_BATCH]
                )
        self._published = upto

    @property
    def engine_alarms(self) -> Mapping[str, Any]:
        """The engine's MetricAlarm objects (held by the parent's in-memory adapter, unused otherwise)."""
        assert self.aws is not None, "reset() first"
        return self.aws.alarms

    def audit_records(self, limit: int = 100_000) -> list[dict[str, Any]]:
        """The group's audit items, read back from the deployed table (oldest first)."""
        dynamodb = aws_client("dynamodb", self.endpoint_url)
        newest_first = AuditStore(self.deployment.table_name, dynamodb).audit_records(GROUP, limit=limit)
        return newest_first[::-1]


def _request_count_dimensions(signal: RequestsPerTargetSignal) -> list[dict[str, str]]:
    return [
        {"Name": "LoadBalancer", "Value": signal.load_balancer},
        {"Name": "TargetGroup", "Value": signal.target_group},
    ]


@contextmanager
def redirect_logger(name: str, stream: IO[str]) -> Iterator[None]:
    """Send a logger's stream handlers (Powertools logs JSON to stdout) to `stream` for a while.

    The streams are swapped without flushing: the handler may hold a stream that is already
    closed (a test's captured stdout), and flushing that would fail.
    """
    handlers = [h for h in logging.getLogger(name).handlers if isinstance(h, logging.StreamHandler)]
    previous = []
    for handler in handlers:
        with handler.lock or contextlib.nullcontext():
            previous.append(handler.stream)
            handler.stream = stream
    try:
        yield
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            with handler.lock or contextlib.nullcontext():
                handler.stream = old


# --------------------------------------------------------------------------- one replay


@dataclass(frozen=True)
class Replay:
    result: SimulationResult
    records: list[dict[str, Any]]  # audit items from the table, oldest first
    invocations: int
    dead_letters: list[tuple[int, str, str]]  # (minute, alarm, error) of invocations that failed every retry
    policy: MotoSurgeguardPolicy = field(repr=False)


def replay(
    trace: Trace,
    deployment: Deployment,
    endpoint_url: str,
    *,
    params: FleetParams | None = None,
    sizing: FleetSizing | None = None,
    start: datetime = DEFAULT_START,
    events: Sequence[DeclaredEvent] = (),
    seed: int = 0,
    tuning: Tuning | None = None,
    lambda_log: IO[str] | None = None,
) -> Replay:
    """Run the trace through the engine with Surgeguard as its deployed Lambda on moto."""
    params = params or FleetParams()
    if sizing is None:
        sizing = size_fleet(trace, params)
    policy = MotoSurgeguardPolicy(deployment, endpoint_url, tuning, lambda_log=lambda_log)
    with policy.session():
        result = simulate(trace, policy, params=params, sizing=sizing, start=start, events=events, seed=seed)
    return Replay(result, policy.audit_records(), policy.invocations, policy.dead_letters, policy)


def decision_log(records: Sequence[Mapping[str, Any]], start: datetime) -> list[tuple[Any, ...]]:
    """(minute, alarm, previous desired, new desired, outcome) per audit record, in order."""
    rows = []
    for record in records:
        at = datetime.fromisoformat(record["at"])
        minute = (at - start.astimezone(UTC)).total_seconds() / 60.0
        rows.append(
            (
                int(minute) if math.isclose(minute, round(minute)) else minute,
                (record.get("trigger") or {}).get("alarm"),
                record.get("previous_desired"),
                record.get("new_desired"),
                record["outcome"],
            )
        )
    return rows
