"""Every AWS call each handler makes is allowed by its own role in the synthesized template.

moto does not enforce IAM, so a call the code makes and its role lacks passes every other test and
fails with AccessDenied on AWS (the forecaster once lacked autoscaling:DescribeAutoScalingGroups). Here
each handler walks the fault suite's paths (scenarios.py) and one failing walk of its own (a failure
releases its claim and tells people: calls no fault-free path makes) in the fault world, every call
recorded with its parameters; the stack is synthesized once from the world's own config (a sale with a
temporary max, a forecast sizing its warm pool, a composite) plus notify emails and a queue signal; and
each call becomes the IAM requests AWS would authorize (grants.py), checked against the statements of
the role of the function with that handler:
- the action (the service's IAM prefix and the operation's name);
- the resource, where the action has a resource type: the group's ARN (Auto Scaling writes), the
  table the function's TABLE_NAME names, the topic its NOTIFY_TOPIC_ARN names (and, that topic being
  KMS-encrypted, kms:GenerateDataKey and kms:Decrypt on its key, which a publisher needs), the
  schedule in the schedule group of the schedules that invoke the function;
- the condition keys the request carries: the partition keys a DynamoDB call touches
  (dynamodb:LeadingKeys), UpdateAutoScalingGroup's MinSize and MaxSize, and the group's managed tag
  (autoscaling:ResourceTag), which a group carries when the config names it: tagging the groups is
  the platform team's step, so here the tag stands for "a group the config manages".

Not covered: a path none of these walks that makes an operation its handler makes nowhere here (the
static check below only asks that each adapter operation be made by some handler on some path);
the world's names (table, topic, schedule group) are matched to the template's by role, not by value.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from surgeguard import keys
from surgeguard.config import ScalerConfig, parse_config
from tests.infra.synth_support import ACCOUNT, REGION, STACK_NAME, synthesize

from ..support import T0, TABLE
from .grants import Request, Statement, TemplateValues, Unsupported, decide
from .harness import Harness, open_world
from .injector import fault
from .scenarios import SCENARIOS, Scenario
from .world import SCHEDULE_GROUP, world_config

ADAPTERS = Path(__file__).resolve().parents[3] / "lambdas" / "surgeguard" / "adapters"
IAM_PREFIXES = {
    "autoscaling": "autoscaling",
    "cloudwatch": "cloudwatch",
    "dynamodb": "dynamodb",
    "sns": "sns",
    "scheduler": "scheduler",
}
# Auto Scaling actions with the autoScalingGroup resource type (Service Authorization Reference); its
# Describe* actions have none and are authorized on "*".
GROUP_RESOURCE_ACTIONS = frozenset({"SetDesiredCapacity", "UpdateAutoScalingGroup", "PutWarmPool"})
# Request condition keys of UpdateAutoScalingGroup the sale role's bound uses, from the request's
# parameters of the same names.
SIZE_CONDITION_KEYS = ("MinSize", "MaxSize")
# A group ARN's UUID segment is the group's own; any stands for it (the grants match it with `*`).
GROUP_UUID = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"


@dataclass(frozen=True)
class Walk:
    """One invocation of a handler: a scenario, optionally with a fault that makes it fail."""

    name: str
    scenario: Scenario
    failure: tuple[str, str] | None = None  # (call label, fault kind): its first occurrence fails


# The fault-free paths, and one failure per handler: a failure before anything changed releases the
# claim (DeleteItem), and a failure is published (the forecaster publishes nothing else).
WALKS = [
    *(Walk(name, scenario) for name, scenario in SCENARIOS.items()),
    Walk("alarm-fails", SCENARIOS["alarm"], ("autoscaling.DescribeAutoScalingGroups", "5xx")),
    Walk("prewarm-fails", SCENARIOS["prewarm"], ("autoscaling.UpdateAutoScalingGroup", "5xx")),
    Walk("forecast-fails", SCENARIOS["forecast"], ("dynamodb.PutItem.FORECAST", "5xx")),
]


@dataclass(frozen=True)
class RecordedCall:
    walk: str
    function: str  # the scenario's: "alarm", "schedule", "forecast"
    service: str
    operation: str
    params: dict[str, Any]

    @property
    def handler(self) -> str:
        return f"surgeguard.handlers.{self.function}.lambda_handler"

    def __str__(self) -> str:
        return f"{self.walk}: {self.service}.{self.operation}"


class ParameterRecorder:
    """Records each call's service, operation and parameters, on this thread, while recording."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._uid = f"surgeguard-grants-{uuid.uuid4().hex}"

    def attach(self, session: Any) -> None:
        session.register("before-parameter-build", self._on_params, unique_id=self._uid)

    def detach(self, session: Any) -> None:
        session.unregister("before-parameter-build", unique_id=self._uid)

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, str, dict[str, Any]]]]:
        calls: list[tuple[str, str, dict[str, Any]]] = []
        self._local.calls = calls
        try:
            yield calls
        finally:
            self._local.calls = None

    def _on_params(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        calls = getattr(self._local, "calls", None)
        if calls is not None:
            service = model.service_model.service_id.hyphenize().replace("auto-scaling", "autoscaling")
            calls.append((service, model.name, copy.deepcopy(params)))


def _walk(harness: Harness, recorder: ParameterRecorder, walk: Walk) -> list[RecordedCall]:
    """The calls of one walk. A fault-free walk that fails, or a fault that never strikes, would leave
    calls unrecorded (and so unchecked): both fail here."""
    harness.world.reset()
    harness.injector.reset()
    event = walk.scenario.prepare(harness.world, harness.clock)
    rule = None if walk.failure is None else harness.injector.add(fault(walk.failure[0], 1, walk.failure[1]))
    with recorder.recording() as calls, harness.injector.armed():
        try:
            outcome = walk.scenario.invoke(event)["records"][0]["outcome"]
        except Exception as error:  # noqa: BLE001 - a failed delivery raises for Lambda's retry
            outcome = f"raised {type(error).__name__}: {error}"
    if rule is None:
        assert outcome == walk.scenario.expected.outcome, f"{walk.name}: {outcome}"
    else:
        assert rule.fired, f"{walk.name}: {walk.failure} never struck"
    return [RecordedCall(walk.name, walk.scenario.function, *call) for call in calls]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> list[RecordedCall]:
    quiet = logging.getLogger("surgeguard")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    recorder = ParameterRecorder()
    try:
        with open_world(tmp_path_factory.mktemp("grants") / "task") as harness:
            session = boto3._get_default_session()._session
            recorder.attach(session)
            try:
                return [call for walk in WALKS for call in _walk(harness, recorder, walk)]
            finally:
                recorder.detach(session)
    finally:
        quiet.setLevel(level)


def synthesized_config() -> ScalerConfig:
    """The world's config (the calls recorded are its groups', under its bounds), every other feature on."""
    config = world_config()
    config["notify_emails"] = ["oncall@example.com"]
    rehearsal = next(group for group in config["groups"] if group["name"] == "rehearsal")
    rehearsal["signals"] = [
        *rehearsal["signals"],
        {"kind": "queue_backlog", "queue_name": "jobs", "target": 10},
    ]
    return parse_config(config, source="tests/integration/faults role grants")


@dataclass(frozen=True)
class Stack:
    template: dict[str, Any]
    config: ScalerConfig

    @property
    def values(self) -> TemplateValues:
        return TemplateValues(self.template, region=REGION, account=ACCOUNT)

    def function(self, handler: str) -> tuple[str, dict[str, Any]]:
        (found,) = [
            (name, resource["Properties"])
            for name, resource in self.template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function" and resource["Properties"]["Handler"] == handler
        ]
        return found

    def role_statements(self, handler: str) -> list[Statement]:
        _, function = self.function(handler)
        role = function["Role"]["Fn::GetAtt"][0]
        return self.values.role_statements(role)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    config = synthesized_config()
    outdir = tmp_path_factory.mktemp("grants-synth")
    # `now` a day before the sale: its phases are pending, so the sale role gets its grants.
    result = synthesize(outdir, config=config, now=T0 - timedelta(days=1))
    assert result["validation_error"] is None, result["validation_error"]
    return Stack(json.loads((outdir / f"{STACK_NAME}.template.json").read_text()), config)


def group_arn(group: str) -> str:
    return (
        f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{GROUP_UUID}:autoScalingGroupName/{group}"
    )


def _group_context(stack: Stack, group: str) -> dict[str, tuple[str, ...]]:
    """The group's tags as condition keys: the managed tag on a group the config names, none elsewhere."""
    if stack.config.group(group) is None:
        return {}
    tag = stack.config.managed_tag
    return {f"autoscaling:ResourceTag/{tag.key}": (tag.value,)}


def _leading_keys(operation: str, params: dict[str, Any]) -> tuple[str, ...]:
    """The partition key values a DynamoDB request touches (dynamodb:LeadingKeys)."""
    if operation == "Query":
        names = params.get("ExpressionAttributeNames", {})
        attribute = next(a for a, name in names.items() if name == keys.PARTITION_KEY)
        value = re.search(rf"{re.escape(attribute)}\s*=\s*(:\w+)", params["KeyConditionExpression"])
        assert value is not None, params["KeyConditionExpression"]
        return (params["ExpressionAttributeValues"][value.group(1)]["S"],)
    item = params.get("Key") or params.get("Item")
    if item is None:
        raise Unsupported(f"dynamodb.{operation}: no Key or Item to read the partition key from")
    return (item[keys.PARTITION_KEY]["S"],)


def requests_for(call: RecordedCall, stack: Stack) -> list[Request]:
    """The IAM authorizations AWS makes for `call`, in the synthesized stack's names."""
    values = stack.values
    _, function = stack.function(call.handler)
    environment = function["Environment"]["Variables"]
    action = f"{IAM_PREFIXES[call.service]}:{call.operation}"
    params = call.params
    if call.service == "autoscaling" and call.operation in GROUP_RESOURCE_ACTIONS:
        group = params["AutoScalingGroupName"]
        context = _group_context(stack, group)
        if call.operation == "UpdateAutoScalingGroup":
            context |= {f"autoscaling:{k}": (str(params[k]),) for k in SIZE_CONDITION_KEYS if k in params}
        return [Request(action, group_arn(group), context)]
    if call.service == "dynamodb":
        assert params["TableName"] == TABLE, f"{call}: a table the world does not have"
        table = values({"Fn::GetAtt": [environment["TABLE_NAME"]["Ref"], "Arn"]})
        return [Request(action, table, {"dynamodb:LeadingKeys": _leading_keys(call.operation, params)})]
    if call.service == "sns":
        topic_ref = environment["NOTIFY_TOPIC_ARN"]
        topic = stack.template["Resources"][topic_ref["Ref"]]["Properties"]
        requests = [Request(action, values(topic_ref))]
        if "KmsMasterKeyId" in topic:  # SNS encrypts the message with the caller's permissions
            key = values(topic["KmsMasterKeyId"])
            requests += [Request("kms:GenerateDataKey", key), Request("kms:Decrypt", key)]
        return requests
    if call.service == "scheduler":
        assert params["GroupName"] == SCHEDULE_GROUP, f"{call}: a schedule group the world does not have"
        group = _schedule_group_of(stack, call.handler)
        arn = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{group}/{params['Name']}"
        return [Request(action, arn)]
    if call.service in ("autoscaling", "cloudwatch"):
        return [Request(action, "*")]
    raise Unsupported(f"{call}: no resource known for this service")


def _schedule_group_of(stack: Stack, handler: str) -> str:
    """The schedule group of the schedules that invoke the function with `handler`."""
    name, _ = stack.function(handler)
    target = {"Fn::GetAtt": [name, "Arn"]}
    resources = stack.template["Resources"]
    groups = {
        json.dumps(resource["Properties"]["GroupName"])
        for resource in resources.values()
        if resource["Type"] == "AWS::Scheduler::Schedule"
        and resource["Properties"]["Target"]["Arn"] == target
    }
    (group,) = map(json.loads, groups)
    # A schedule names its group by name, or by the group's Ref (whose value is the name).
    return str(resources[group["Ref"]]["Properties"]["Name"]) if isinstance(group, dict) else str(group)


def test_every_call_each_handler_makes_is_allowed_by_its_role(
    recorded: list[RecordedCall], stack: Stack
) -> None:
    functions = {call.function for call in recorded}
    assert functions == {"alarm", "schedule", "forecast"}, functions
    refused = []
    for call in recorded:
        statements = stack.role_statements(call.handler)
        for request in requests_for(call, stack):
            why = decide(statements, request)
            if why is not None:
                refused.append(f"{call.handler} ({call.walk}): {request}: {why}")
    assert not refused, "calls the handler makes that its role does not allow:\n" + "\n".join(
        sorted(set(refused))
    )


def adapter_operations() -> set[tuple[str, str]]:
    """Every (service, operation) the adapters call: `_call("Operation")` in a module whose adapter
    declares `service = "..."`, or `_table_call` (the audit table's, DynamoDB)."""
    found = set()
    for module in sorted(ADAPTERS.glob("*.py")):
        source = module.read_text()
        services = set(re.findall(r'^\s+service = "([a-z-]+)"', source, re.MULTILINE))
        for helper, operation in re.findall(r'\b_(call|table_call)\(\s*"([A-Za-z]+)"', source):
            if helper == "table_call":
                found.add(("dynamodb", operation))
                continue
            assert len(services) == 1, f"{module.name}: which service does _call({operation!r}) call?"
            found.add((next(iter(services)), operation))
    return found


def test_every_operation_the_adapters_call_is_on_a_walked_path(recorded: list[RecordedCall]) -> None:
    """A new adapter operation no walked path makes would escape the check above: walk one that does."""
    operations = adapter_operations()
    assert ("autoscaling", "SetDesiredCapacity") in operations  # the scan reads the adapters at all
    walked = {(call.service, call.operation) for call in recorded}
    assert operations - walked == set(), "add a walk (WALKS) that makes these calls"


TAGGED = {"autoscaling:ResourceTag/surgeguard:managed": ("true",)}
GROUP_ARN = group_arn("web")
HAND_MADE_POLICY = [
    Statement.parse(statement)
    for statement in (
        {"Effect": "Allow", "Action": ["autoscaling:Describe*", "cloudwatch:GetMetricData"], "Resource": "*"},
        {
            "Sid": "Resize",
            "Effect": "Allow",
            "Action": "autoscaling:UpdateAutoScalingGroup",
            "Resource": f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/*",
            "Condition": {
                "StringEquals": {"autoscaling:ResourceTag/surgeguard:managed": "true"},
                "NumericLessThanEquals": {"autoscaling:MaxSize": "30"},
                "Null": {"autoscaling:MinSize": "true"},
            },
        },
        {
            "Effect": "Allow",
            "Action": "dynamodb:PutItem",
            "Resource": "{Table.Arn}",
            "Condition": {
                "ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["GROUP#*"]},
                "Null": {"dynamodb:LeadingKeys": "false"},
            },
        },
        {"Sid": "NoTopics", "Effect": "Deny", "Action": "sns:*", "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"},
    )
]


@pytest.mark.parametrize(
    "request_",
    [
        Request("autoscaling:DescribeWarmPool", "*"),
        Request("AutoScaling:describeautoscalinggroups", "*"),  # actions are case-insensitive
        Request("autoscaling:UpdateAutoScalingGroup", GROUP_ARN, {**TAGGED, "autoscaling:MaxSize": ("30",)}),
        Request("dynamodb:PutItem", "{Table.Arn}", {"dynamodb:LeadingKeys": ("GROUP#web",)}),
    ],
    ids=str,
)
def test_the_checker_allows_what_the_policy_grants(request_: Request) -> None:
    assert decide(HAND_MADE_POLICY, request_) is None


@pytest.mark.parametrize(
    ("request_", "why"),
    [
        # the forecaster's DescribeAutoScalingGroups, once missing: an action no statement names
        (Request("autoscaling:PutWarmPool", GROUP_ARN, TAGGED), "no statement allows it"),
        (Request("cloudwatch:DescribeAlarms", "*"), "no statement allows it"),
        # a resource outside the pattern (another account's group)
        (
            Request(
                "autoscaling:UpdateAutoScalingGroup",
                GROUP_ARN.replace(ACCOUNT, "210987654321"),
                {**TAGGED, "autoscaling:MaxSize": ("30",)},
            ),
            "no statement allows it",
        ),
        # each condition failing alone: the tag, the bound, MinSize present, MaxSize absent
        (
            Request("autoscaling:UpdateAutoScalingGroup", GROUP_ARN, {"autoscaling:MaxSize": ("30",)}),
            "no statement",
        ),
        (
            Request(
                "autoscaling:UpdateAutoScalingGroup", GROUP_ARN, {**TAGGED, "autoscaling:MaxSize": ("31",)}
            ),
            "no statement",
        ),
        (
            Request(
                "autoscaling:UpdateAutoScalingGroup",
                GROUP_ARN,
                {**TAGGED, "autoscaling:MaxSize": ("30",), "autoscaling:MinSize": ("1",)},
            ),
            "no statement",
        ),
        (Request("autoscaling:UpdateAutoScalingGroup", GROUP_ARN, TAGGED), "no statement"),
        # a partition outside the pattern, one of two outside it, and none at all (fails closed)
        (
            Request("dynamodb:PutItem", "{Table.Arn}", {"dynamodb:LeadingKeys": ("TRIGGER#x",)}),
            "no statement",
        ),
        (
            Request("dynamodb:PutItem", "{Table.Arn}", {"dynamodb:LeadingKeys": ("GROUP#web", "CONTROL")}),
            "no statement",
        ),
        (Request("dynamodb:PutItem", "{Table.Arn}"), "no statement"),
        (
            Request("dynamodb:PutItem", "{OtherTable.Arn}", {"dynamodb:LeadingKeys": ("GROUP#web",)}),
            "no statement",
        ),
        # an explicit Deny wins over an Allow
        (Request("sns:Publish", "arn:aws:sns:eu-west-1:123456789012:topic"), "denied by ['NoTopics']"),
    ],
    ids=lambda value: str(value) if isinstance(value, Request) else "",
)
def test_the_checker_refuses_what_the_policy_does_not_grant(request_: Request, why: str) -> None:
    refusal = decide(HAND_MADE_POLICY, request_)
    assert refusal is not None and refusal.startswith(why), refusal


def test_the_checker_refuses_to_judge_what_it_cannot_evaluate() -> None:
    with pytest.raises(Unsupported):
        Statement.parse({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    guessed = Statement.parse(
        {
            "Effect": "Allow",
            "Action": "*",
            "Resource": "*",
            "Condition": {"DateLessThan": {"aws:CurrentTime": "x"}},
        }
    )
    with pytest.raises(Unsupported):
        decide([guessed], Request("sns:Publish", "*", {"aws:CurrentTime": ("y",)}))
