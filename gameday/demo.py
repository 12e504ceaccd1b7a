"""`surgeguard gameday`: rehearse Black Friday on a local AWS (moto), side by side with the AWS policies.

Phases (each one timed):

1. scenario: the synthetic Black Friday window (gameday/synthetic.py) or `--trace` a user's CSV;
2. moto: a moto server on 127.0.0.1, a free port; this process's AWS variables point at it
   (fake credentials, us-east-1) until the demo returns;
3. deploy: the CDK app is synthesized in-process (the repo's surgeguard.yaml plus the demo group),
   the Lambda code asset is uploaded to moto S3, and CloudFormation creates the stack. moto's
   CloudFormation skips some resource types (alarms among them): the stack's alarms are then created
   from the template through the API. If the deploy itself fails on a moto limitation, the table,
   topics and alarms are created through the API instead, and the demo says so;
4. group: a launch template and an Auto Scaling group sized like the engine's fleet;
5. replay: every minute through the engine, Surgeguard as its deployed Lambda (gameday/moto_path.py);
6. baselines: every policy of the benchmark on the same trace with the fast engine, and the fast
   in-memory Surgeguard, which must make exactly the same decisions as the game-day path;
7. report: the benchmark table, the audit items read back from moto's DynamoDB, gameday.png, then
   `surgeguard report` of the day's window on moto (report/report.md, report/report.png);
8. last line: the alarm Lambda's invocations per minute during a 30-minute sustained breach
   (gameday/sustained_breach.py, fast path; `--sustained-breach` prints only that).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from unittest import mock

from gameday.bench import check_surgeguard_fits, int_at_least, parse_when, replay_end, unwritable_file
from gameday.engine import DEFAULT_START, DeclaredEvent, SimulationResult, oracle_instance_minutes, simulate
from gameday.fleet import FleetParams, FleetSizing, size_fleet
from gameday.traces import Trace, TraceFormatError, load_trace

ROOT = Path(__file__).resolve().parents[1]
STACK_NAME = "Surgeguard"  # the engine names Surgeguard's alarms "Surgeguard/<group>/<rule>/<direction>"
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
PNG_NAME = "gameday.png"
LAMBDA_LOG_NAME = "gameday-lambda.log"
SHOWN_APPLIED = 10


class DeployError(RuntimeError):
    """The stack could not be deployed onto moto (a moto limitation or a synth failure)."""


# --------------------------------------------------------------------------- phases and output


@dataclass
class Phases:
    """Wall-clock time of each phase, printed as it ends and again as a summary."""

    timings: list[tuple[str, float]] = field(default_factory=list)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            seconds = time.monotonic() - started
            self.timings.append((name, seconds))
            print(f"  [{name}: {seconds:.1f} s]", flush=True)

    def summary(self) -> str:
        total = sum(seconds for _, seconds in self.timings)
        width = max(len(name) for name, _ in self.timings)
        lines = [f"  {name:<{width}}  {seconds:6.1f} s" for name, seconds in self.timings]
        return "\n".join([*lines, f"  {'total':<{width}}  {total:6.1f} s"])


def _heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


# --------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class Scenario:
    trace: Trace
    start: datetime
    events: tuple[DeclaredEvent, ...]
    description: str


def load_scenario(
    trace_path: Path | None, minutes: int | None, seed: int, start: datetime | None = None
) -> Scenario:
    """The synthetic Black Friday, or a trace whose first row is at `start` (default DEFAULT_START)."""
    if trace_path is None:
        from gameday.synthetic import DEMO_WINDOW_MINUTES, demo_window

        window = demo_window(seed, minutes or DEMO_WINDOW_MINUTES)
        hours = window.trace.minutes / 60
        return Scenario(
            window.trace,
            window.start,
            window.events,
            f"synthetic Black Friday (seed {seed}): {hours:g} h from {window.start:%a %Y-%m-%d %H:%M %Z}, "
            "midnight doorbuster 4x, 10:00 flash sale 10x for 20 min, peak 37,200 req/s",
        )
    trace = load_trace(trace_path)
    if minutes is not None:
        # The first minutes as loaded, gaps with them: a timestamped trace's missing rows are gaps that
        # zero runs alone would not find (rebuilt from demand, an outage read as no demand).
        trace = Trace(trace.name, trace.demand[:minutes], trace.gap[:minutes], trace.step_minutes)
    begins = start or DEFAULT_START
    return Scenario(
        trace, begins, (), f"{trace_path.name}: {trace.minutes:,} minutes from {begins.isoformat()}"
    )


# --------------------------------------------------------------------------- deploy


def _import_infra() -> Any:
    """`infra` sits at the repository root and is not an installed package."""
    try:
        import infra.application as application
    except ImportError:
        if not (ROOT / "infra").is_dir():
            raise DeployError(
                "the CDK app (infra/) is not next to this package: nothing to synthesize"
            ) from None
        sys.path.insert(0, str(ROOT))
        import infra.application as application
    return application


def synthesize(config: Any, outdir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Synthesize the stack in-process exactly like app.py (cdk-nag included); (template, asset manifest)."""
    from gameday.moto_path import ACCOUNT, REGION

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("NODE_NO_WARNINGS", "1")
    application = _import_infra()
    import aws_cdk as cdk

    from infra.constructs.lambda_code import POWERTOOLS_LAYER_CONTEXT

    context_file = ROOT / "cdk.json"
    context = json.loads(context_file.read_text())["context"] if context_file.is_file() else {}
    # moto's CloudFormation cannot resolve AWS's public SSM parameters (and refuses to create one
    # under the reserved /aws/ path), so the demo pins the layer the way an air-gapped deploy does.
    # moto never runs the layer: only the ARN's shape matters here.
    context[POWERTOOLS_LAYER_CONTEXT] = (
        f"arn:aws:lambda:{REGION}:017000801446:layer:AWSLambdaPowertoolsPythonV3-python314-arm64:1"
    )
    app = cdk.App(outdir=str(outdir), context=context)
    application.build(app, config, stack_name=STACK_NAME, env=cdk.Environment(account=ACCOUNT, region=REGION))
    try:
        app.synth()
    except Exception as error:  # jsii raises a plain error; cdk-nag findings still leave the template
        if not (outdir / f"{STACK_NAME}.template.json").is_file():
            raise DeployError(f"cdk synth failed: {error}") from error
        print(f"  note: synth reported a validation failure (template kept): {str(error)[:200]}")
    template = json.loads((outdir / f"{STACK_NAME}.template.json").read_text())
    assets = json.loads((outdir / f"{STACK_NAME}.assets.json").read_text())
    return template, assets


def _asset_body(source: Path, packaging: str) -> bytes:
    if packaging != "zip":
        return source.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


def upload_assets(endpoint_url: str, assets: Mapping[str, Any], outdir: Path) -> int:
    """What `cdk deploy` publishes: every file asset to its bootstrap bucket (in moto S3)."""
    from gameday.moto_path import aws_client

    s3 = aws_client("s3", endpoint_url)
    buckets: set[str] = set()
    count = 0
    for asset in assets.get("files", {}).values():
        body = _asset_body(outdir / asset["source"]["path"], asset["source"].get("packaging", "file"))
        for destination in asset["destinations"].values():
            bucket = destination["bucketName"]
            if bucket not in buckets:
                s3.create_bucket(Bucket=bucket)
                buckets.add(bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            count += 1
    return count


class _Resolver:
    """Resolves the few intrinsics the stack's alarms use, with the physical ids CloudFormation gave."""

    def __init__(self, template: Mapping[str, Any], physical: Mapping[str, str]) -> None:
        from gameday.moto_path import ACCOUNT, REGION

        self._template = template
        self._physical = physical
        self._pseudo = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}

    def __call__(self, value: Any) -> Any:
        from gameday.moto_path import ACCOUNT, REGION

        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            name = value["Ref"]
            if name in self._pseudo:
                return self._pseudo[name]
            return self._physical[name]
        if set(value) == {"Fn::GetAtt"}:
            logical, attribute = value["Fn::GetAtt"]
            resource = self._template["Resources"][logical]
            if attribute == "Arn" and resource["Type"].startswith("AWS::CloudWatch::"):
                props = resource["Properties"]
                name = props.get("AlarmName") or props["CompositeAlarmName"]
                return f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"
            known = self._attribute(resource["Type"], self._physical.get(logical, ""), attribute)
            if known is None:
                raise DeployError(f"cannot resolve Fn::GetAtt {logical}.{attribute} for the alarms")
            return known
        if set(value) == {"Fn::Join"}:
            separator, parts = value["Fn::Join"]
            return separator.join(str(self(p)) for p in parts)
        return {k: self(v) for k, v in value.items()}

    @staticmethod
    def _attribute(kind: str, physical: str, attribute: str) -> str | None:
        """The attributes the stack's watch alarms name (failure queues, functions, topics), from the
        physical ids CloudFormation gave, in AWS's documented shapes."""
        from gameday.moto_path import ACCOUNT, REGION

        if not physical:
            return None
        if kind == "AWS::SQS::Queue":  # physical id: the queue URL
            name = physical.rstrip("/").rsplit("/", 1)[-1]
            return {
                "QueueName": name,
                "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}",
                "QueueUrl": physical,
            }.get(attribute)
        if kind == "AWS::Lambda::Function" and attribute == "Arn":
            return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}"
        if kind == "AWS::SNS::Topic" and attribute == "TopicName":  # physical id: the topic ARN
            return physical.rsplit(":", 1)[-1]
        if kind == "AWS::SNS::Topic" and attribute == "TopicArn":
            return physical
        return None


def template_alarm_requests(
    template: Mapping[str, Any], physical: Mapping[str, str]
) -> list[tuple[str, dict[str, Any]]]:
    """PutMetricAlarm / PutCompositeAlarm arguments for the template's alarms (same property names)."""
    resolve = _Resolver(template, physical)
    requests: list[tuple[str, dict[str, Any]]] = []
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            requests.append(("put_metric_alarm", resolve(resource["Properties"])))
        elif resource["Type"] == "AWS::CloudWatch::CompositeAlarm":
            properties = dict(resolve(resource["Properties"]))
            properties["AlarmName"] = properties.pop("CompositeAlarmName", properties.get("AlarmName"))
            requests.append(("put_composite_alarm", properties))
    # Composite alarms name their children: create metric alarms first.
    return sorted(requests, key=lambda r: r[0] == "put_composite_alarm")


@contextmanager
def _quiet_moto() -> Iterator[None]:
    moto_log = logging.getLogger("moto")
    level = moto_log.level
    moto_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        moto_log.setLevel(level)


def deploy_stack(endpoint_url: str, config: Any, workdir: Path) -> Any:
    """Synthesize, publish the assets, create the stack on moto, then its alarms; a Deployment."""
    template, assets = synthesize(config, workdir)
    # moto warns about each resource type it skips on every request that reads the stack;
    # the deployment's notes list them once.
    with _quiet_moto():
        return _create_stack(endpoint_url, template, assets, workdir)


def without_scheduler_references(template: dict[str, Any]) -> dict[str, Any]:
    """The template with every Ref / Fn::GetAtt to an EventBridge Scheduler resource or an alarm written out.

    moto's CloudFormation skips AWS::Scheduler::* (the sale schedules), but refuses a template that
    references a resource it skipped. The schedule group's name is a literal in the template, so its
    Ref and Arn are known; moto never fires a schedule (the replay fires the phases itself)."""
    from gameday.moto_path import ACCOUNT, REGION

    literal: dict[tuple[str, str], str] = {}
    for logical, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Scheduler::ScheduleGroup":
            name = resource["Properties"]["Name"]
            literal[(logical, "Ref")] = name
            literal[(logical, "Arn")] = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule-group/{name}"
        # moto skips alarms too; a named one (every alarm the stack makes is named) has a known ARN,
        # which a dashboard or a composite alarm may reference.
        if resource["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            properties = resource.get("Properties", {})
            name = properties.get("AlarmName") or properties.get("CompositeAlarmName")
            if isinstance(name, str):
                literal[(logical, "Ref")] = name
                literal[(logical, "Arn")] = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}"

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if len(value) == 1 and "Ref" in value and (value["Ref"], "Ref") in literal:
                return literal[(value["Ref"], "Ref")]
            getatt = value.get("Fn::GetAtt") if len(value) == 1 else None
            if isinstance(getatt, list) and (getatt[0], getatt[1]) in literal:
                return literal[(getatt[0], getatt[1])]
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(template) if literal else template


def _create_stack(endpoint_url: str, template: dict[str, Any], assets: dict[str, Any], workdir: Path) -> Any:
    from gameday.moto_path import Deployment, aws_client, create_alarms

    ssm = aws_client("ssm", endpoint_url)
    # The template checks the bootstrap version through this parameter (as `cdk bootstrap` leaves it).
    ssm.put_parameter(Name=BOOTSTRAP_VERSION_PARAMETER, Value="28", Type="String", Overwrite=True)
    uploaded = upload_assets(endpoint_url, assets, workdir)
    cloudformation = aws_client("cloudformation", endpoint_url)
    cloudformation.create_stack(
        StackName=STACK_NAME,
        TemplateBody=json.dumps(without_scheduler_references(template)),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    stack = cloudformation.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise DeployError(f"stack is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    # moto lists the resource types it skipped as blank entries (no logical id).
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=STACK_NAME)
        for r in page["StackResourceSummaries"]
        if r.get("LogicalResourceId")
    }
    skipped = Counter(
        resource["Type"] for logical, resource in template["Resources"].items() if logical not in physical
    )
    function = aws_client("lambda", endpoint_url).get_function_configuration(
        FunctionName=outputs["ReactiveFunctionName"]
    )
    environment = dict(function.get("Environment", {}).get("Variables", {}))
    code = next(
        r["Properties"]["Code"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Lambda::Function"
        and r["Properties"].get("Environment", {}).get("Variables", {}).get("ALARM_PREFIX")
    )
    # The config the deployed Lambda reads: the JSON inside the code bundle now in moto S3.
    bundle = (
        aws_client("s3", endpoint_url).get_object(Bucket=code["S3Bucket"], Key=code["S3Key"])["Body"].read()
    )
    with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
        config_text = archive.read(environment["CONFIG_FILE"]).decode("utf-8")
    alarm_requests = template_alarm_requests(template, physical)
    alarm_names, composites = create_alarms(endpoint_url, alarm_requests)
    from surgeguard.config import parse_config

    # The scaling alarms notify the signals topic; the stack's watch alarms (failures, throttles) notify
    # people, through the notifications topic.
    scaling = {spec.name for spec in parse_config(json.loads(config_text)).alarms(STACK_NAME)}
    signals_topics = {
        action
        for _, request in alarm_requests
        if request.get("AlarmName") in scaling
        for action in request.get("AlarmActions", [])
    }
    if len(signals_topics) != 1:
        raise DeployError(f"expected the alarms to notify one signals topic, found {sorted(signals_topics)}")
    notes = (
        f"CloudFormation stack {STACK_NAME}: {stack['StackStatus']}, {len(physical)} resources created, "
        f"{uploaded} assets published to moto S3 (Lambda code and template)",
        "moto's CloudFormation skipped (reported complete, not created): "
        + ", ".join(f"{kind} x{count}" for kind, count in sorted(skipped.items())),
        f"created the template's {len(alarm_names)} metric alarms through the API (put_metric_alarm), so the "
        "per-minute re-evaluation reads real alarm states (DescribeAlarms)"
        + (f"; moto has no PutCompositeAlarm: {', '.join(composites)} left out" if composites else ""),
        f"Lambda {outputs['ReactiveFunctionName']} exists in moto but moto cannot run it (no Docker): "
        "the demo calls its handler in-process with the function's environment and the config from its "
        "code bundle",
    )
    return Deployment(
        function_name=outputs["ReactiveFunctionName"],
        environment=environment,
        config_text=config_text,
        signals_topic_arn=signals_topics.pop(),
        via="cloudformation",
        notes=notes,
    )


def deploy(endpoint_url: str, config: Any, workdir: Path, *, use_stack: bool = True) -> Any:
    """The stack through CloudFormation; the same resources through the API if that fails (said loudly)."""
    from gameday.moto_path import PREFIX, alarm_requests, create_alarms, provision_api

    if use_stack:
        try:
            return deploy_stack(endpoint_url, config, workdir)
        except Exception as error:  # any moto limitation or synth failure: fall back, and say so
            print(f"  !! stack deploy onto moto failed: {type(error).__name__}: {error}")
            print("  !! falling back: creating the audit table, topics and alarms through the API")
    deployment = provision_api(endpoint_url, config, prefix=PREFIX)
    names, composites = create_alarms(
        endpoint_url, alarm_requests(config, PREFIX, deployment.signals_topic_arn)
    )
    note = (
        f"created through the API (no CloudFormation): table {deployment.table_name}, 2 topics, "
        f"{len(names)} metric alarms"
        + (f" (moto has no PutCompositeAlarm: {', '.join(composites)} left out)" if composites else "")
    )
    return replace(deployment, notes=(note,))


def _base_config() -> Any:
    from surgeguard.config import load_config

    path = ROOT / "surgeguard.yaml"
    return load_config(path) if path.is_file() else None


# --------------------------------------------------------------------------- report


def _local(at: str, start: datetime) -> str:
    return datetime.fromisoformat(at).astimezone(start.tzinfo).strftime("%a %H:%M")


def audit_summary(records: Sequence[Mapping[str, Any]], start: datetime, shown: int = SHOWN_APPLIED) -> str:
    counts = Counter(record["outcome"] for record in records)
    lines = [
        f"{len(records)} audit items in the table: "
        + ", ".join(f"{outcome} {count}" for outcome, count in counts.most_common())
    ]
    applied = [r for r in records if r["outcome"] == "applied"]
    if applied:
        lines.append(f"first {min(shown, len(applied))} of {len(applied)} applied decisions:")
    for record in applied[:shown]:
        trigger = record.get("trigger") or {}
        # What brought the decision: its alarm, the sale phase, or the per-minute re-evaluation.
        alarm = trigger.get("alarm") or trigger.get("phase") or trigger.get("source", "?")
        lines.append(
            f"  {_local(record['at'], start)}  "
            f"{record['previous_desired']:>3} -> {record['new_desired']:<3}  "
            f"{record['reason']}  [{alarm}]"
        )
    return "\n".join(lines)


def _notifications_queue(endpoint_url: str, topic_arn: str | None) -> str | None:
    """An SQS queue subscribed to the notifications topic, to count what people would have been told."""
    if not topic_arn:
        return None
    from gameday.moto_path import aws_client

    sqs = aws_client("sqs", endpoint_url)
    url = sqs.create_queue(QueueName="gameday-notifications")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    aws_client("sns", endpoint_url).subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=arn)
    return str(url)


def _queued(endpoint_url: str, url: str | None) -> int | None:
    if url is None:
        return None
    from gameday.moto_path import aws_client

    attributes = aws_client("sqs", endpoint_url).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


# --------------------------------------------------------------------------- main


EXAMPLES = """examples:
  surgeguard gameday                               12 synthetic Black Friday hours (make demo)
  surgeguard gameday --minutes 120 --out /tmp/gd   the first two hours only
  surgeguard gameday --trace my-shop.csv --json gd.json
  surgeguard gameday --from-cloudwatch shop-web --days 7 --config surgeguard.yaml   your own history
  surgeguard gameday --sustained-breach            Lambda invocations per minute of a lasting breach

exit codes: 0 done, 1 the two paths differ or the report failed, 2 bad arguments or trace, 3 AWS unreadable
(--from-cloudwatch only)"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="surgeguard gameday",
        description="Rehearse a Black Friday on a local AWS (moto): deploy the stack, replay the day through "
        "Surgeguard's real Lambda handler, compare with the AWS policies, plot it, and report it.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the day's numbers as JSON")
    parser.add_argument(
        "--trace", type=Path, metavar="CSV", help="replay this trace (minute|min5|hour,requests)"
    )
    parser.add_argument(
        "--start",
        type=parse_when,
        metavar="ISO",
        help="with --trace: the wall-clock time of its first row, with an offset (default "
        f"{DEFAULT_START.isoformat()}); --from-cloudwatch gives the history's own",
    )
    parser.add_argument(
        "--minutes",
        type=int_at_least(1),
        metavar="N",
        help="replay only the first N minutes (default: 720 synthetic)",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="where gameday.png goes (default .)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the synthetic trace and the engine (default 0)"
    )
    parser.add_argument(
        "--keep-server", action="store_true", help="keep the moto server running at the end until Ctrl-C"
    )
    parser.add_argument(
        "--no-stack",
        action="store_true",
        help="skip the CDK synth and CloudFormation; create resources via the API",
    )
    parser.add_argument(
        "--sustained-breach",
        action="store_true",
        help="only print the Lambda invocations per minute during a 30-minute breach (fast path, no moto)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.sustained_breach:
        print(_sustained_breach_line())
        return 0
    phases = Phases()
    _heading("scenario")
    with phases.phase("scenario"):
        try:
            if args.start is not None and args.trace is None:
                raise ValueError("--start applies to --trace (the synthetic day has its own)")
            scenario = load_scenario(args.trace, args.minutes, args.seed, args.start)
            sizing = size_fleet(scenario.trace, FleetParams())
            check_surgeguard_fits(scenario.trace, FleetParams())
            replay_end(scenario.start, scenario.trace)
            _prepare_outputs(args)
        except (TraceFormatError, ValueError) as error:
            print(f"surgeguard gameday: error: {error}", file=sys.stderr)
            return 2
        print(f"  {scenario.description}")
        print(
            f"  fleet: c = {sizing.capacity_per_instance:,.0f} req/min per instance, group "
            f"{sizing.min_size}..{sizing.max_size}, starts at {sizing.initial_size}"
        )
    from gameday.moto_path import aws_environment, start_moto_server

    _heading("local AWS")
    with phases.phase("moto server"):
        server, endpoint = start_moto_server()
        print(
            f"  moto listening on {endpoint} (this process's AWS_ENDPOINT_URL; fake credentials, us-east-1)"
        )
    try:
        with (
            mock.patch.dict(os.environ, aws_environment(endpoint)),
            tempfile.TemporaryDirectory(prefix="surgeguard-gameday-") as workdir,
        ):
            os.environ.pop("AWS_PROFILE", None)
            code = _run(args, scenario, sizing, endpoint, Path(workdir), phases)
            if code == 0 and args.keep_server:
                config = args.out / CONFIG_NAME
                print(
                    "\nthe operations commands work against it too (stack Surgeguard), e.g.:\n"
                    f"  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing "
                    "AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1\n"
                    f"  surgeguard status --config {config}\n"
                    f"  surgeguard preflight --config {config}\n"
                    f"  surgeguard report --config {config} --group gameday-web --from ... --to ..."
                )
                _wait(endpoint)
    finally:
        server.stop()
    _heading("timing")
    print(phases.summary())
    print(f"\n{_sustained_breach_line()}")
    return code


def _prepare_outputs(args: argparse.Namespace) -> None:
    """Makes the --out folder; ValueError where it or --json cannot be written: found before the stack
    is deployed, not after the replay whose numbers they were to keep."""
    problem = unwritable_file(args.json)
    if problem:
        raise ValueError(f"--json {args.json}: {problem}")
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"--out {args.out}: cannot be made a folder: {error.strerror or error}") from None


def _sustained_breach_line() -> str:
    """How often the alarm Lambda runs while a breach lasts (issue 7), measured on the fast path."""
    from gameday.moto_path import redirect_logger
    from gameday.sustained_breach import sustained_breach

    with open(os.devnull, "w") as quiet, redirect_logger("surgeguard", quiet):  # the Lambda's log lines
        return sustained_breach().line()


def _run(
    args: argparse.Namespace,
    scenario: Scenario,
    sizing: FleetSizing,
    endpoint: str,
    workdir: Path,
    phases: Phases,
) -> int:
    from gameday.baselines import POLICIES
    from gameday.moto_path import (
        GROUP,
        create_sample_group,
        decision_log,
        gameday_group,
        redirect_logger,
        replay,
        with_group,
    )
    from gameday.plot import applied_markers, plot_gameday
    from gameday.report import TraceReport, format_report
    from gameday.surgeguard_policy import SurgeguardPolicy

    trace, start, events = scenario.trace, scenario.start, scenario.events
    _heading("deploy")
    with phases.phase("deploy"):
        config = with_group(_base_config(), gameday_group(sizing, events=events))
        deployment = deploy(endpoint, config, workdir / "cdk.out", use_stack=not args.no_stack)
        for note in deployment.notes:
            print(f"  {note}")
        print(f"  audit table {deployment.table_name}, alarm prefix {deployment.alarm_prefix}")
    with phases.phase("sample group"):
        group = create_sample_group(endpoint, sizing)
        queue = _notifications_queue(endpoint, deployment.environment.get("NOTIFY_TOPIC_ARN"))
        print(
            f"  Auto Scaling group {GROUP}: min {group['MinSize']}, max {group['MaxSize']}, "
            f"desired {group['DesiredCapacity']}, {len(group['Instances'])} instances (launch template)"
        )

    _heading(f"replay: {trace.minutes:,} minutes through the deployed Lambda handler on moto")
    log_path = args.out / LAMBDA_LOG_NAME
    from surgeguard_cli.output import spinner

    with (
        phases.phase("replay (moto path)"),
        log_path.open("w", encoding="utf-8") as lambda_log,
        # Minutes of silence otherwise; shown on a terminal only (stderr), so logs and pipes stay clean.
        spinner(f"replaying {trace.minutes:,} minutes through the Lambda handler on moto"),
    ):
        run = replay(
            trace,
            deployment,
            endpoint,
            sizing=sizing,
            start=start,
            events=events,
            seed=args.seed,
            lambda_log=lambda_log,
        )
        print(f"  {run.invocations} Lambda invocations; the handler's JSON logs are in {log_path}")
        if run.dead_letters:
            minute, alarm, error = run.dead_letters[0]
            print(
                f"  !! {len(run.dead_letters)} invocations failed on every retry (dead-lettered); first at "
                f"minute {minute} ({alarm}): {error}"
            )

    _heading("baselines (fast engine, same trace and fleet)")
    # Any registered policy may run the handler's code in-process (Surgeguard and its variants): their
    # log lines repeat decisions the table shows, and would flood the terminal. They go nowhere.
    with phases.phase("baselines"), open(os.devnull, "w") as quiet, redirect_logger("surgeguard", quiet):
        oracle = oracle_instance_minutes(trace, sizing.capacity_per_instance)
        results: dict[str, SimulationResult] = {}
        for name, factory in POLICIES.items():
            if name == "surgeguard":
                continue  # the game-day path's own row below
            results[name] = simulate(
                trace,
                factory(),
                sizing=sizing,
                start=start,
                events=events,
                seed=args.seed,
                oracle_minutes=oracle,
            )
        fast = SurgeguardPolicy()
        # Declared, like the game-day path (its scheduled phases go through the schedule Lambda).
        fast_result = simulate(trace, fast, sizing=sizing, start=start, events=events, seed=args.seed)
        assert fast.aws is not None
        same = decision_log(fast.aws.records, start) == decision_log(run.records, start)
        results["surgeguard"] = run.result
        print(
            f"  fast in-memory Surgeguard: {len(fast.aws.records)} decisions, "
            + ("identical to the game-day path's" if same else "DIFFERENT from the game-day path's (a bug)")
            + (", same metrics" if fast_result.metrics == run.result.metrics else ", different metrics")
        )

    _heading("benchmark table for this day (surgeguard = the game-day path)")
    report = TraceReport(
        trace.name, trace.minutes, trace.gap_minutes, sizing, {k: r.metrics for k, r in results.items()}
    )
    sys.stdout.write(format_report([report], FleetParams()))
    if args.json is not None:
        from gameday.report import report_json

        numbers = {
            **report_json([report], FleetParams()),
            "audit": dict(Counter(str(r["outcome"]) for r in run.records)),
            "invocations": run.invocations,
            "same_decisions_as_fast_path": same,
        }
        args.json.write_text(json.dumps(numbers, indent=2) + "\n", encoding="utf-8")

    if events:
        _heading("declared events: before/after (with = the game-day path on moto; without = fast engine)")
        with phases.phase("declared events"):
            print(declared_events_report(trace, sizing, start, events, args.seed, declared=run.result))

    _heading("audit (read back from moto DynamoDB)")
    print(audit_summary(run.records, start))
    told = _queued(endpoint, queue)
    if told is not None:
        print(f"notifications topic: {told} messages (an SQS queue subscribed for the demo)")

    _heading("plot")
    with phases.phase("plot"):
        png = plot_gameday(
            args.out / PNG_NAME,
            {"surgeguard": run.result, "aws-target-tracking-cpu": results["aws-target-tracking-cpu"]},
            start=start,
            markers={"surgeguard": applied_markers(run.records, start)},
            events=events,
            title=f"Game day: {trace.name} ({trace.minutes:,} min), "
            f"c = {sizing.capacity_per_instance:,.0f} req/min "
            "per instance",
        )
        print(f"  {png.resolve()}")

    _heading("report of this game day (surgeguard report, read back from moto)")
    with phases.phase("report"):
        report_code = own_report(deployment, start, trace.minutes, args.out)
    return 0 if same and report_code == 0 else 1


REPORT_DIR = "report"
CONFIG_NAME = "gameday-config.json"


def report_command(table: str, start: datetime, minutes: int, out: Path) -> list[str]:
    """`surgeguard report` arguments for the game day's window, group and deployed config."""
    from datetime import UTC, timedelta

    from gameday.moto_path import GROUP

    begin = start.astimezone(UTC)
    end = begin + timedelta(minutes=minutes)
    return [
        "--from",
        f"{begin:%Y-%m-%dT%H:%MZ}",
        "--to",
        f"{end:%Y-%m-%dT%H:%MZ}",
        "--group",
        GROUP,
        "--config",
        str(out / CONFIG_NAME),
        "--table",
        table,
        "--out",
        str(out / REPORT_DIR),
    ]


def own_report(deployment: Any, start: datetime, minutes: int, out: Path) -> int:
    """The day's report exactly as `surgeguard report` prints it, from moto's audit table and
    CloudWatch (this process's AWS variables point at moto), with the config the stack deployed."""
    from surgeguard.config import config_json
    from surgeguard_cli.report import main as report_main

    (out / CONFIG_NAME).write_text(config_json(deployment.config), encoding="utf-8")
    argv = report_command(deployment.table_name, start, minutes, out)
    print(f"  $ surgeguard report {' '.join(argv)}", flush=True)
    return report_main(argv)


DOORS_MINUTES = 15


def declared_events_report(
    trace: Trace,
    sizing: FleetSizing,
    start: datetime,
    events: Sequence[DeclaredEvent],
    seed: int = 0,
    declared: SimulationResult | None = None,
) -> str:
    """Surgeguard without and with the events declared: dropped requests at each event's doors
    opening (its first 15 minutes) and for the whole trace. `declared`: the run with them declared
    (the game-day path's); simulated on the fast engine when not given."""
    from gameday.moto_path import redirect_logger
    from gameday.surgeguard_policy import SurgeguardPolicy

    def run(declared_events: tuple[DeclaredEvent, ...]) -> SimulationResult:
        policy = SurgeguardPolicy()
        # The fast path runs the handler's code too: its JSON log lines would flood the terminal
        # (a few hundred); they repeat decisions the report shows, so they go nowhere.
        with open(os.devnull, "w") as quiet, redirect_logger("surgeguard", quiet):
            return simulate(trace, policy, sizing=sizing, start=start, events=declared_events, seed=seed)

    runs = {
        "without declared events": run(()),
        "with declared events": declared if declared is not None else run(tuple(events)),
    }
    lines = []
    header = "".join(f"  {e.start.astimezone(start.tzinfo):%a %H:%M} +{DOORS_MINUTES}m" for e in events)
    lines.append(f"  {'surgeguard':<26}{header}  whole trace (dropped requests, % of offered)")
    for label, result in runs.items():
        served, demand = result.series.served, trace.demand
        cells = []
        for event in events:
            first = max(0, int(event.start_minute(start)))
            window = range(first, min(trace.minutes, first + DOORS_MINUTES))
            cells.append(f"{sum(demand[t] - served[t] for t in window):>15,.0f}")
        lines.append(
            f"  {label:<26}{''.join(cells)}  {result.metrics.dropped_pct:.3f}% "
            f"(cost_vs_oracle {result.metrics.cost_vs_oracle:.3f})"
        )
    return "\n".join(lines)


def _wait(endpoint: str) -> None:
    print(
        f"\nmoto keeps running on {endpoint}; try:\n  AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing "
        "AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 aws dynamodb list-tables\nCtrl-C to stop."
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print()


if __name__ == "__main__":
    sys.exit(main())
