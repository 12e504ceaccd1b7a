"""Doors open: N groups breach in the same minute. Are all decided and applied within 60 s?

Every alarm becomes an SNS event in AWS's shape and goes through `handle_alarm_event` with the real
adapters and the real botocore clients (`adapters/clients.py`'s retry configuration), in-process on
moto. Only time is simulated: a discrete-event clock that every thread shares (one thread runs at a
time, each AWS call and each retry backoff advances it), so a 300-group minute takes seconds to run
and is the same every run for a seed.

Modelled, each a parameter (`BurstParams`):
- The reactive Lambda's reserved concurrency (the config's `reserved_concurrency.reactive`): at most
  that many invocations at once, each execution environment paying one cold start and keeping its own
  clients (a Lambda container's module-level clients). An event that finds no free environment is
  throttled and Lambda retries it "exponentially from 1 second ... to a maximum of 5 minutes" (AWS
  Lambda Developer Guide, "How Lambda handles errors and retries with asynchronous invocation"); a
  function error is retried 1 then 2 minutes later (same page).
- EC2 Auto Scaling's throttling: one token bucket shared by every Auto Scaling API call of the account
  and region ("Amazon EC2 Auto Scaling throttles API requests based on a shared API bucket", EC2 Auto
  Scaling API Reference, "API request rate"). AWS publishes no size or refill rate for it; the default
  borrows the numbers AWS does publish for EC2's non-mutating actions (100 tokens, 20 per second;
  Amazon EC2 Developer Guide, "Request throttling for the Amazon EC2 API"). A throttled call is answered
  with HTTP 400 `Throttling` / "Rate exceeded", the error AWS returns (seen in kubernetes/kops#7111,
  adobe/shredder#21), so botocore's own retry handler (standard mode) classifies and backs it off.
- Per-call latencies (medians with a log-normal spread): assumptions, not measurements of AWS.
"""

from __future__ import annotations

import argparse
import functools
import heapq
import itertools
import json
import logging
import math
import os
import random
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

SUMMARY_GOAL_SECONDS = 60.0
T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # doors open
PREFIX = "Surgeguard"
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "surgeguard-burst-audit"

# Median latency (seconds) of one call as the Lambda sees it, by service and operation ("*": any).
LATENCIES: dict[tuple[str, str], float] = {
    ("dynamodb", "*"): 0.006,  # "single-digit millisecond" reads and writes
    ("autoscaling", "DescribeAutoScalingGroups"): 0.12,
    ("autoscaling", "SetDesiredCapacity"): 0.15,
    ("autoscaling", "*"): 0.12,
    ("monitoring", "GetMetricData"): 0.08,
    ("monitoring", "*"): 0.05,
    ("sns", "*"): 0.03,
}


@dataclass(frozen=True)
class BurstParams:
    groups: int = 300
    concurrency: int = 20  # the reactive Lambda's reserved concurrency (config default)
    asg_bucket: float = 100.0  # tokens
    asg_refill: float = 20.0  # tokens per second
    cold_start: float = 0.6  # seconds: init of a new execution environment (imports, clients)
    timeout: float = 60.0  # seconds: the reactive Lambda's timeout
    delivery: float = 0.3  # seconds: alarm state change -> SNS -> Lambda's async queue
    spread: float = 1.0  # seconds: the alarms change state within this window of the minute
    jitter: float = 0.3  # sigma of the log-normal latency spread
    seed: int = 7


@dataclass
class GroupResult:
    group: str
    applied_at: float | None = None  # seconds after its alarm changed state
    outcome: str | None = None  # the last attempt's
    records: int = 0  # audit records its trigger's deliveries wrote
    attempts: int = 0  # deliveries of its trigger that ran (a function error is delivered again)


@dataclass
class BurstResult:
    params: BurstParams
    groups: dict[str, GroupResult]
    throttles: int
    retries: int
    failures: int  # invocations that ended in a function error (Lambda retries them)
    lambda_throttles: int  # events that found no free execution environment
    longest_invocation: float  # seconds (the Lambda's timeout kills one that runs longer)
    invocations: int
    audit_records: int
    asg_calls: int
    wall_seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def applied_times(self) -> list[float]:
        return sorted(g.applied_at for g in self.groups.values() if g.applied_at is not None)

    @property
    def lost(self) -> int:
        """Triggers not accounted for: a delivery without exactly one audit record, or a trigger whose
        last delivery still failed (Lambda gives up after two retries)."""
        return sum(
            1
            for g in self.groups.values()
            if g.attempts == 0 or g.records != g.attempts or g.outcome == "failed"
        )

    @property
    def unapplied(self) -> int:
        return sum(1 for g in self.groups.values() if g.applied_at is None)

    def quantile(self, q: float) -> float:
        times = self.applied_times
        if not times:
            return math.inf
        return times[min(len(times) - 1, math.ceil(q * len(times)) - 1)]

    @property
    def met(self) -> bool:
        return self.lost == 0 and self.unapplied == 0 and self.quantile(1.0) <= SUMMARY_GOAL_SECONDS

    def lines(self) -> list[str]:
        p = self.params
        return [
            f"burst: {p.groups} groups breach at once; reactive Lambda concurrency {p.concurrency}; "
            f"Auto Scaling bucket {p.asg_bucket:g} tokens + {p.asg_refill:g}/s",
            f"  applied (seconds after the alarm): p50 {self.quantile(0.5):.1f} / "
            f"p95 {self.quantile(0.95):.1f} / max {self.quantile(1.0):.1f}   "
            f"goal <= {SUMMARY_GOAL_SECONDS:g} s: {'met' if self.met else 'NOT met'}",
            f"  Auto Scaling calls {self.asg_calls}, throttled {self.throttles}, retries {self.retries}; "
            f"Lambda invocations {self.invocations} (throttled for concurrency {self.lambda_throttles}, "
            f"function errors {self.failures}, longest {self.longest_invocation:.0f} s)",
            f"  audit records {self.audit_records}, groups not applied {self.unapplied}, lost triggers "
            f"{self.lost}; outcomes {dict(sorted(self.outcomes.items()))}",
            f"  simulated in {self.wall_seconds:.1f} s of wall time",
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "params": asdict(self.params),
            "p50": self.quantile(0.5),
            "p95": self.quantile(0.95),
            "max": self.quantile(1.0),
            "met": self.met,
            "throttles": self.throttles,
            "retries": self.retries,
            "failures": self.failures,
            "lambda_throttles": self.lambda_throttles,
            "longest_invocation": self.longest_invocation,
            "invocations": self.invocations,
            "audit_records": self.audit_records,
            "asg_calls": self.asg_calls,
            "unapplied": self.unapplied,
            "lost": self.lost,
            "outcomes": self.outcomes,
        }


# --------------------------------------------------------------------------- simulated time


class Simulation:
    """A discrete-event clock shared by threads: exactly one runs at a time; `sleep` hands over to
    the next due event. The main thread runs `run()`; each invocation is a thread it resumes."""

    def __init__(self) -> None:
        self.now = 0.0
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._handed_back = threading.Event()
        self._local = threading.local()

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._heap, (max(when, self.now), next(self._seq), action))

    def spawn(self, body: Callable[[], None]) -> None:
        """Start `body` in its own thread now (from the main loop); returns when it sleeps or ends."""
        wake = threading.Event()

        def run() -> None:
            self._local.wake = wake
            wake.wait()
            try:
                body()
            finally:
                self._handed_back.set()

        threading.Thread(target=run, daemon=True).start()
        self._resume(wake)

    def _resume(self, wake: threading.Event) -> None:
        self._handed_back.clear()
        wake.set()
        self._handed_back.wait()

    def sleep(self, seconds: float) -> None:
        wake: threading.Event | None = getattr(self._local, "wake", None)
        if wake is None:  # the main thread (setup): time does not run yet
            return
        wake.clear()
        self.at(self.now + max(0.0, seconds), lambda: self._resume(wake))
        self._handed_back.set()
        wake.wait()

    def run(self) -> None:
        while self._heap:
            when, _, action = heapq.heappop(self._heap)
            self.now = when
            action()


class TokenBucket:
    def __init__(self, sim: Simulation, capacity: float, refill: float) -> None:
        self.sim, self.capacity, self.refill = sim, capacity, refill
        self.tokens, self.updated = capacity, 0.0

    def take(self) -> bool:
        elapsed = self.sim.now - self.updated
        self.tokens = min(self.capacity, self.tokens + elapsed * self.refill)
        self.updated = self.sim.now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


_THROTTLED_BODY = (
    b'<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type>'
    b"<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
)


class AwsModel:
    """What the clients' calls cost in time, and Auto Scaling's shared throttling bucket."""

    def __init__(self, sim: Simulation, params: BurstParams) -> None:
        self.sim = sim
        self.params = params
        self.rng = random.Random(params.seed)
        self.asg = TokenBucket(sim, params.asg_bucket, params.asg_refill)
        self.calls: Counter[str] = Counter()
        self.throttles = 0
        self.retries = 0

    def latency(self, service: str, operation: str) -> float:
        median = LATENCIES.get((service, operation), LATENCIES.get((service, "*"), 0.02))
        return median * math.exp(self.rng.gauss(0.0, self.params.jitter))

    def attach(self, client: Any) -> None:
        service = client.meta.service_model.endpoint_prefix
        event = f"before-send.{client.meta.service_model.service_id.hyphenize()}"
        client.meta.events.register_first(event, self._send(service))

    def _send(self, service: str) -> Callable[..., Any]:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        def before_send(request: Any, **_: Any) -> Any:
            operation = _operation(request)
            self.sim.sleep(self.latency(service, operation))
            self.calls[f"{service}.{operation}"] += 1
            if service == "autoscaling" and not self.asg.take():
                self.throttles += 1
                headers = HTTPHeaders()
                headers["Content-Type"] = "text/xml"
                url = request.url
                # Every before-send handler runs: readdressed, moto's (registered after this one)
                # matches no service and leaves the throttled call undone, as AWS does.
                request.url = "https://throttled.invalid/"
                return AWSResponse(url, 400, headers, _Raw(_THROTTLED_BODY))
            return None  # moto answers

        return before_send

    def backoff(self, seconds: float) -> None:
        """A pause before a retry: botocore's (its standard mode retries) or the adapter's next round."""
        self.retries += 1
        self.sim.sleep(seconds)


def _operation(request: Any) -> str:
    if "/operation/" in request.url:  # smithy-rpc-v2-cbor (CloudWatch)
        return str(request.url).rsplit("/operation/", 1)[1]
    body = request.body or b""
    text = body.decode() if isinstance(body, bytes) else str(body)
    for part in text.split("&"):
        if part.startswith("Action="):
            return part.split("=", 1)[1]
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else str(target)
    return target.rsplit(".", 1)[-1] or "?"


class _Raw:
    """The body botocore's parser reads from an AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


# --------------------------------------------------------------------------- the fleet on moto


def burst_config(groups: int) -> dict[str, Any]:
    return {
        "audit_retention_days": 30,
        "groups": [
            {
                "name": group_name(i),
                "min": 2,
                "max": 40,
                "warmup_seconds": 120,
                "signals": [{"kind": "cpu", "target": 50}],
                "scale_out": {"max_step_percent": 200},
            }
            for i in range(groups)
        ],
    }


def group_name(index: int) -> str:
    return f"shop-{index:03d}"


def _setup(params: BurstParams) -> Any:
    import boto3

    from surgeguard.adapters.audit_store import create_local_table
    from surgeguard.config import parse_config

    config = parse_config(burst_config(params.groups))
    create_local_table(boto3.client("dynamodb"), TABLE)
    ec2, autoscaling, cloudwatch = (
        boto3.client("ec2"),
        boto3.client("autoscaling"),
        boto3.client("cloudwatch"),
    )
    ec2.create_launch_template(
        LaunchTemplateName="burst", LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
    )
    topic = boto3.client("sns").create_topic(Name="surgeguard-notify")["TopicArn"]
    for group in config.groups:
        autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=group.name,
            LaunchTemplate={"LaunchTemplateName": "burst", "Version": "$Latest"},
            MinSize=group.min,
            MaxSize=group.max,
            DesiredCapacity=4,
            AvailabilityZones=[f"{REGION}a"],
        )
    # Doors open: every group's CPU jumps to 90% in the minute before its alarm changes state.
    for start in range(0, len(config.groups), 20):
        cloudwatch.put_metric_data(
            Namespace="AWS/EC2",
            MetricData=[
                {
                    "MetricName": "CPUUtilization",
                    "Dimensions": [{"Name": "AutoScalingGroupName", "Value": g.name}],
                    "Timestamp": T0 - timedelta(seconds=30),
                    "Value": 90.0,
                    "Unit": "Percent",
                }
                for g in config.groups[start : start + 20]
            ],
        )
    return config, topic


def _alarm_events(
    config: Any, params: BurstParams, rng: random.Random
) -> list[tuple[float, str, dict[str, Any]]]:
    from gameday.alarm_events import sns_alarm_event
    from surgeguard.config import Direction
    from surgeguard.signals import alarm_threshold, signal_metric

    events = []
    for index, spec in enumerate(s for s in config.alarms(PREFIX) if s.direction is Direction.OUT):
        group = config.group(spec.group)
        signal = group.signal(spec.rule)
        metric = signal_metric(group, signal).stats[0]
        changed = rng.uniform(0.0, params.spread)
        event = sns_alarm_event(
            alarm_name=spec.name,
            new_state="ALARM",
            old_state="OK",
            when=T0 + timedelta(seconds=changed),
            message_id=f"burst-{index:05d}",
            metric_name=metric.metric_name,
            namespace=metric.namespace,
            dimensions=dict(metric.dimensions),
            threshold=alarm_threshold(signal, spec.direction),
            value=90.0,
            evaluation_periods=group.scale_out.evaluation_periods,
            comparison="GreaterThanThreshold",
        )
        events.append((changed, spec.group, event))
    return events


@contextmanager
def _virtual_clocks(sim: Simulation, aws: AwsModel) -> Iterator[None]:
    """botocore's retry sleeps and the Lambda's clock follow the simulation."""
    import botocore.endpoint

    from surgeguard import service
    from surgeguard.adapters import clients

    shim = types.SimpleNamespace(**{k: getattr(time, k) for k in dir(time) if not k.startswith("_")})
    shim.sleep = aws.backoff
    # The adapters' own clock: the invocation's deadline, and the pause before a throttled call's next round.
    monotonic = types.SimpleNamespace(monotonic=lambda: sim.now, sleep=aws.backoff)
    with (
        mock.patch.object(botocore.endpoint, "time", shim),
        mock.patch.object(clients, "time", monotonic),
        mock.patch.object(service, "utc_now", lambda: T0 + timedelta(seconds=sim.now)),
    ):
        yield


# --------------------------------------------------------------------------- the run


def run_burst(params: BurstParams = BurstParams()) -> BurstResult:
    """Run the burst on an in-process moto; nothing is left running."""
    from moto import mock_aws

    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }
    started = time.perf_counter()
    quiet = logging.getLogger("surgeguard")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # 300 decisions' log lines say nothing the summary does not
    with mock.patch.dict(os.environ, env), mock_aws():
        os.environ.pop("AWS_ENDPOINT_URL", None)
        os.environ.pop("AWS_PROFILE", None)
        result = _run(params)
    quiet.setLevel(level)
    result.wall_seconds = time.perf_counter() - started
    return result


def _run(params: BurstParams) -> BurstResult:
    import boto3

    from surgeguard.adapters import clients as sdk
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.autoscaling import AutoScalingFleet
    from surgeguard.adapters.clients import client_config
    from surgeguard.adapters.cloudwatch import CloudWatchSignals
    from surgeguard.adapters.notifier import SnsNotifier
    from surgeguard.service import Adapters, Context, Invocation, RetryableFailureError, handle_alarm_event

    config, topic = _setup(params)
    random.seed(params.seed)  # botocore's and the adapters' jitter: the same run for the same seed
    sim = Simulation()
    aws = AwsModel(sim, params)
    rng = random.Random(params.seed)
    ctx = Context(config, PREFIX, config.audit_retention_days, clock=lambda: T0 + timedelta(seconds=sim.now))
    results = {g.name: GroupResult(g.name) for g in config.groups}
    alarm_at: dict[str, float] = {}
    free: list[Adapters] = []  # warm execution environments
    environments = 0
    counters = Counter[str]()
    outcomes = Counter[str]()

    def environment() -> Adapters:
        services = ("autoscaling", "cloudwatch", "dynamodb", "sns")
        clients = {s: boto3.client(s, config=client_config(s)) for s in services}
        for client in clients.values():
            aws.attach(client)
        return Adapters(
            fleet=_Timed(AutoScalingFleet(clients["autoscaling"]), sim, results, alarm_at),
            signals=CloudWatchSignals(clients["cloudwatch"]),
            store=AuditStore(TABLE, clients["dynamodb"]),
            notifier=SnsNotifier(topic, clients["sns"]),
        )

    def arrive(group: str, event: dict[str, Any], attempt: int, backoff: float = 1.0) -> None:
        nonlocal environments
        if not free and environments >= params.concurrency:
            counters["lambda_throttles"] += 1
            # Lambda returns a throttled event to its queue and retries it, 1 s then exponentially longer.
            delay = min(backoff, 300.0) * rng.uniform(0.8, 1.2)
            sim.at(sim.now + delay, lambda: arrive(group, event, attempt, backoff * 2))
            return
        cold = not free
        if cold:
            environments += 1
            adapters = environment()
        else:
            adapters = free.pop()

        def invoke() -> None:
            if cold:
                sim.sleep(params.cold_start)
            counters["invocations"] += 1
            sdk.set_deadline(params.timeout)  # as the handler does, from the context's remaining time
            started = sim.now
            result = results[group]
            result.attempts += 1
            try:
                invocation = Invocation(
                    request_id=f"{group}-{attempt}", lease_seconds=int(params.timeout) + 10
                )
                records = handle_alarm_event(event, adapters, ctx, invocation)
                for record in records:
                    result.records += 1
                    result.outcome = record["outcome"]
                    cause = record.get("skip_cause")
                    outcomes[record["outcome"] + (f": {cause}" if cause else "")] += 1
            except RetryableFailureError:
                counters["failures"] += 1
                result.records += 1  # its `failed` record was written before raising
                result.outcome = "failed"
                outcomes["failed"] += 1
                if attempt < 2:  # Lambda's two retries of a function error: 1, then 2 minutes later
                    sim.at(sim.now + 60.0 * (attempt + 1), lambda: arrive(group, event, attempt + 1))
            finally:
                counters["longest"] = max(counters["longest"], math.ceil(sim.now - started))
                free.append(adapters)

        sim.spawn(invoke)

    for changed, group, event in _alarm_events(config, params, rng):
        alarm_at[group] = changed
        sim.at(changed + params.delivery, functools.partial(arrive, group, event, 0))
    with _virtual_clocks(sim, aws):
        sim.run()
    audit = sum(_audit_count(g.name) for g in config.groups)
    return BurstResult(
        params=params,
        groups=results,
        throttles=aws.throttles,
        retries=aws.retries,
        failures=counters["failures"],
        lambda_throttles=counters["lambda_throttles"],
        longest_invocation=counters["longest"],
        invocations=counters["invocations"],
        audit_records=audit,
        asg_calls=sum(n for k, n in aws.calls.items() if k.startswith("autoscaling.")),
        wall_seconds=0.0,
        outcomes=dict(outcomes),
    )


class _Timed:
    """The real fleet adapter, noting when each group's SetDesiredCapacity landed."""

    def __init__(
        self, fleet: Any, sim: Simulation, results: dict[str, GroupResult], alarm_at: dict[str, float]
    ):
        self._fleet, self._sim, self._results, self._alarm_at = fleet, sim, results, alarm_at

    def describe(self, name: str) -> Any:
        return self._fleet.describe(name)

    def set_max_size(self, name: str, max_size: int, desired: int | None = None) -> None:
        self._fleet.set_max_size(name, max_size, desired)

    def scaling_activities(self, name: str, since: datetime) -> list[Any]:
        return list(self._fleet.scaling_activities(name, since))

    def set_desired_capacity(self, name: str, desired: int) -> None:
        self._fleet.set_desired_capacity(name, desired)
        result = self._results[name]
        if result.applied_at is None:
            result.applied_at = self._sim.now - self._alarm_at[name]


def _audit_count(group: str) -> int:
    import boto3

    from surgeguard import keys

    response = boto3.client("dynamodb").query(
        TableName=TABLE,
        KeyConditionExpression="#pk = :pk AND begins_with(#sk, :audit)",
        ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
        ExpressionAttributeValues={
            ":pk": {"S": keys.group_pk(group)},
            ":audit": {"S": keys.AUDIT_SORT_PREFIX},
        },
        Select="COUNT",
    )
    return int(response["Count"])


def build_parser() -> argparse.ArgumentParser:
    defaults = BurstParams()
    parser = argparse.ArgumentParser(prog="surgeguard gameday --burst", description=__doc__.split("\n")[0])
    parser.add_argument("--groups", type=int, default=defaults.groups)
    parser.add_argument(
        "--concurrency", type=int, default=defaults.concurrency, help="reactive Lambda reserved concurrency"
    )
    parser.add_argument("--asg-bucket", type=float, default=defaults.asg_bucket)
    parser.add_argument("--asg-refill", type=float, default=defaults.asg_refill, help="tokens per second")
    parser.add_argument("--cold-start", type=float, default=defaults.cold_start)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", help="write the result as JSON to this path")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    params = BurstParams(
        groups=args.groups,
        concurrency=args.concurrency,
        asg_bucket=args.asg_bucket,
        asg_refill=args.asg_refill,
        cold_start=args.cold_start,
        seed=args.seed,
    )
    result = run_burst(params)
    print("\n".join(result.lines()))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(result.as_dict(), out, indent=2)
    return 0 if result.met else 1


if __name__ == "__main__":
    sys.exit(main())
