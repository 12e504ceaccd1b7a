"""The CLI's AWS adapter: every boto3 call the operations commands (preflight, status, report, the
CloudWatch backtest) make, answered as plain data. The only CLI module that imports boto3.

One client per service, made on first use; tests pass their own per service (`clients=`), which is the
seam where moto lacks an API: Service Quotas answers only for `vpc` in moto 5.2.5, and moto confirms
every email subscription at once, so tests hand in a small fake of exactly that client.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from surgeguard import keys
from surgeguard.adapters.errors import AwsCallError, DamagedItemError
from surgeguard.domain.model import EventState
from surgeguard_cli.output import as_utc

# A person waits on these: a few quick retries, then a clear error (exit code 3).
_CONFIG = Config(retries={"total_max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=20)
# For a lookup a person must not wait on (the group check after a kill switch is set, when doors open
# and Auto Scaling throttles the whole account): one attempt, short timeouts.
SINGLE_ATTEMPT = Config(
    retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=2, read_timeout=5
)
# Service Quotas: "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances", counted in vCPUs.
VCPU_QUOTA_CODE = "L-1216C47A"
# By the family's letters, not the first one: inf, dl, trn, hpc, mac, vt have quotas of their own.
STANDARD_FAMILIES = frozenset({"a", "c", "d", "h", "i", "m", "r", "t", "z", "im", "is"})
# GetMetricData: at most 100,800 datapoints per call (the API reference), then NextToken. And the
# period must match the data's age, or CloudWatch returns nothing for that range (MetricStat.Period):
# under 15 days old a multiple of 60 s, 15 to 63 days of 300 s, older of 3600 s.
MAX_DATAPOINTS_PER_CALL = 100_800
RETENTION_STEPS = ((timedelta(days=15), 60), (timedelta(days=63), 300), (timedelta(days=455), 3600))
PENDING_CONFIRMATION = "PendingConfirmation"  # SNS's SubscriptionArn for a subscription nobody confirmed


class AwsError(RuntimeError):
    """An AWS call failed (credentials, permissions, throttling, a missing resource): exit code 3."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        # One line, short: an endpoint's HTML error page is not a message.
        text = " ".join(message.split())
        if "<html" in text.lower():
            text = "(an HTML error page)"
        text = text if len(text) <= 160 else text[:157] + "..."
        super().__init__(f"{operation}: {code}: {text}")
        self.operation = operation
        self.code = code


def _raise_if_unanswered(result: Mapping[str, Any]) -> None:
    """The Lambda adapter's judgement of a GetMetricData result (PartialData is answered, the rest
    comes with the NextToken; any other status but Complete is not), as the CLI's error."""
    from surgeguard.adapters.cloudwatch import _raise_if_failed

    try:
        _raise_if_failed(dict(result))
    except AwsCallError as error:
        raise cli_error(error) from None


def _raise_if_left_out(query: Mapping[str, Any], answered: set[str]) -> None:
    """The Lambda adapter's judgement of a query no result answered (CloudWatch returns one for every
    query it answers, empty without datapoints): read as none, a backtest replayed gaps."""
    from surgeguard.adapters.cloudwatch import _raise_if_left_out as left_out

    try:
        left_out([dict(query)], answered)
    except AwsCallError as error:
        raise cli_error(error) from None


def cli_error(error: AwsCallError, about: str | None = None) -> AwsError:
    """An adapter's AwsCallError as the CLI's AwsError (exit code 3): its message without the prefix
    both add, after `about` where given."""
    message = str(error).removeprefix(f"{error.operation} failed: {error.code}: ")
    return AwsError(error.operation, error.code, message if about is None else f"{about}: {message}")


@dataclass(frozen=True)
class StackInfo:
    """What the CLI needs to know about a deployed Surgeguard stack, from CloudFormation."""

    name: str
    table: str
    notify_topic_arn: str | None
    schedule_group: str | None
    functions: tuple[str, ...]  # physical names of the stack's Lambda functions
    queues: tuple[str, ...]  # URLs of the stack's SQS queues (the failure queues)
    # The topic that tells addresses found only in groups' notify_emails about the watch alarms
    # (infra/constructs/topics.py); None when no address is, or the stack predates its output.
    watch_topic_arn: str | None = None

    @property
    def alarm_prefix(self) -> str:
        return self.name  # infra/stack.py: the stack name prefixes every alarm


@dataclass(frozen=True)
class KillSwitch:
    """A control item of the audit table. `reading`: the switch as the Lambda reads it (none, all, out
    or in: a value the CLI never writes, or none at all, is a full pause); `written`: the item's `pause`
    as stored (None when it has none)."""

    reading: str
    written: Any
    set_by: str | None

    @property
    def as_written(self) -> bool:
        """Whether the item holds exactly what `surgeguard pause` writes for its reading."""
        return self.written == self.reading


def is_standard(instance_type: str) -> bool:
    """Whether L-1216C47A counts this type: c7g.large -> c, im4gn.large -> im, inf2.xlarge -> inf (no)."""
    family = re.match(r"[a-z]+", instance_type.split(".")[0])
    return family is not None and family.group(0) in STANDARD_FAMILIES


def capacity_units(item: Mapping[str, Any]) -> int:
    """An instance's capacity units, or a mixed-instances override's: its WeightedCapacity, 1 where the
    group weighs nothing; DesiredCapacity counts these, as the Lambda reads them. A weight that is no
    whole number of units DesiredCapacity can hold is an answer nobody can count with (exit code 3)."""
    from surgeguard.adapters.autoscaling import _weight

    try:
        return _weight(dict(item))
    except AwsCallError as error:
        raise cli_error(error) from None


def _control_key(group: str) -> dict[str, Any]:
    return {keys.PARTITION_KEY: {"S": keys.CONTROL_PARTITION}, keys.SORT_KEY: {"S": group}}


def _holding(previous: Mapping[str, Any] | None) -> dict[str, Any]:
    """The condition that a control item is still `previous` (its pause, set_by and set_at; no item,
    when None)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    held = []
    if previous is None:
        held.append("attribute_not_exists(#sk)")
        names["#sk"] = keys.SORT_KEY
    else:
        for index, name in enumerate(("pause", "set_by", "set_at")):
            names[f"#a{index}"] = name
            value = previous.get(name)
            if value is None:
                held.append(f"attribute_not_exists(#a{index})")
                continue
            (kind,) = value
            # `=` compares strings, numbers and binaries; a hand edit of another type is held by type.
            operand = value if kind in ("S", "N", "B") else {"S": kind}
            values[f":v{index}"] = operand
            held.append(
                f"#a{index} = :v{index}" if operand is value else f"attribute_type(#a{index}, :v{index})"
            )
    condition: dict[str, Any] = {"ConditionExpression": " AND ".join(held), "ExpressionAttributeNames": names}
    if values:
        condition["ExpressionAttributeValues"] = values
    return condition


def period_for_age(oldest: datetime, now: datetime) -> int:
    """The finest period CloudWatch still keeps for data as old as `oldest`."""
    age = now - oldest
    for limit, period in RETENTION_STEPS:
        if age <= limit:
            return period
    raise ValueError(f"CloudWatch keeps metric data for 455 days; {age.days} days ago is gone")


def _attribute(value: Mapping[str, Any]) -> Any:
    (kind, inner), *_ = value.items()
    if kind == "N":
        number = float(inner)
        return int(number) if number.is_integer() and "." not in inner and "e" not in inner else number
    if kind == "M":
        return {k: _attribute(v) for k, v in inner.items()}
    if kind == "L":
        return [_attribute(v) for v in inner]
    if kind == "NULL":
        return None
    return inner


def _kill_switch(item: Mapping[str, Any], name: str) -> KillSwitch:
    from surgeguard.adapters.audit_store import control_reading  # the Lambda's own reading

    plain = {k: _attribute(v) for k, v in item.items()}
    set_by = plain.get("set_by")
    return KillSwitch(
        reading=control_reading(dict(item), name).value,
        written=plain.get("pause"),
        set_by=set_by if isinstance(set_by, str) else None,
    )


class Aws:
    """Reads for the operations commands. `clients`: service name -> client (tests, fakes); `config`:
    the retries and timeouts of the clients made here (default: a few quick retries)."""

    def __init__(
        self, clients: Mapping[str, Any] | None = None, region: str | None = None, config: Config = _CONFIG
    ) -> None:
        self._clients: dict[str, Any] = dict(clients or {})
        self._region = region
        self._config = config

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(service, region_name=self._region, config=self._config)
        return self._clients[service]

    def call(self, service: str, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client(service), operation)(**kwargs)
        except ClientError as error:
            info = error.response.get("Error", {})
            raise AwsError(operation, str(info.get("Code", "?")), str(info.get("Message", error))) from None
        except BotoCoreError as error:
            raise AwsError(operation, type(error).__name__, str(error)) from None

    def _pages(
        self, service: str, operation: str, key: str, token: str = "NextToken", **kwargs: Any
    ) -> Iterator[Any]:
        request = dict(kwargs)
        while True:
            page = self.call(service, operation, **request)
            yield from page.get(key, [])
            next_token = page.get(token)
            if not next_token:
                return
            request[token] = next_token

    def _query(self, **request: Any) -> Iterator[dict[str, Any]]:
        """A DynamoDB Query's items, page after page (each at most 1 MB), as plain values."""
        while True:
            page = self.call("dynamodb", "query", **request)
            for item in page.get("Items", []):
                yield {k: _attribute(v) for k, v in item.items()}
            if not page.get("LastEvaluatedKey"):
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # --- the stack ---
    def stack(self, name: str) -> StackInfo:
        stacks = self.call("cloudformation", "describe_stacks", StackName=name)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        resources = [
            r
            for r in self._pages(
                "cloudformation", "list_stack_resources", "StackResourceSummaries", StackName=name
            )
            if r.get("LogicalResourceId")  # moto lists the types it skipped as blank entries
        ]
        functions = tuple(
            r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function"
        )
        queues = tuple(r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::SQS::Queue")
        if "AuditTableName" not in outputs:
            raise AwsError("DescribeStacks", "NotSurgeguard", f"stack {name} has no AuditTableName output")
        return StackInfo(
            name=name,
            table=outputs["AuditTableName"],
            notify_topic_arn=outputs.get("NotificationsTopicArn"),
            schedule_group=outputs.get("SaleScheduleGroupName"),
            functions=functions,
            queues=queues,
            watch_topic_arn=outputs.get("GroupWatchTopicArn"),
        )

    # --- Auto Scaling ---
    def group(self, name: str) -> dict[str, Any] | None:
        groups = self.call("autoscaling", "describe_auto_scaling_groups", AutoScalingGroupNames=[name])
        found = groups.get("AutoScalingGroups", [])
        return found[0] if found else None

    def scaling_policies(self, group: str) -> list[dict[str, Any]]:
        return list(
            self._pages("autoscaling", "describe_policies", "ScalingPolicies", AutoScalingGroupName=group)
        )

    def scheduled_actions(self, group: str) -> list[dict[str, Any]]:
        return list(
            self._pages(
                "autoscaling",
                "describe_scheduled_actions",
                "ScheduledUpdateGroupActions",
                AutoScalingGroupName=group,
            )
        )

    def warm_pool(self, group: str) -> dict[str, Any] | None:
        answer = self.call("autoscaling", "describe_warm_pool", AutoScalingGroupName=group)
        return answer.get("WarmPoolConfiguration") or None

    # --- EC2 ---
    def launch_template_data(self, group: Mapping[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """The launch template version the group launches from (data, how it was named); None when the
        template or version is gone. A launch configuration is reported as such (data None)."""
        spec = group.get("LaunchTemplate") or (
            group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
        )
        if not spec:
            name = group.get("LaunchConfigurationName")
            return None, f"launch configuration {name}" if name else "no launch template"
        ident = (
            {"LaunchTemplateId": spec["LaunchTemplateId"]}
            if spec.get("LaunchTemplateId")
            else {"LaunchTemplateName": spec["LaunchTemplateName"]}
        )
        version = str(spec.get("Version") or "$Default")
        label = (
            f"launch template {spec.get('LaunchTemplateName') or spec.get('LaunchTemplateId')} ({version})"
        )
        try:
            # An ImageId of `resolve:ssm:<parameter>` is answered as that string unless ResolveAlias is
            # set: preflight once looked for an image named so, and failed a good template.
            versions = self.call(
                "ec2", "describe_launch_template_versions", Versions=[version], ResolveAlias=True, **ident
            )
        except AwsError as error:
            if "NotFound" in error.code or "Malformed" in error.code:
                return None, label
            raise
        found = versions.get("LaunchTemplateVersions", [])
        return (found[0].get("LaunchTemplateData", {}) if found else None), label

    def image_parameter(self, name: str) -> str | None:
        """The AMI ID an SSM parameter (`name`, or `name:version`) holds, or None when it does not exist:
        what a launch template's `resolve:ssm:` image launches, where ResolveAlias did not resolve it."""
        try:
            return str(self.call("ssm", "get_parameter", Name=name)["Parameter"]["Value"])
        except AwsError as error:
            if error.code in ("ParameterNotFound", "ParameterVersionNotFound"):
                return None
            raise

    def image_exists(self, image_id: str) -> bool:
        try:
            return bool(self.call("ec2", "describe_images", ImageIds=[image_id]).get("Images"))
        except AwsError as error:
            if "NotFound" in error.code or "Malformed" in error.code:
                return False
            raise

    def vcpus(self, instance_types: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(instance_types))
        found: dict[str, int] = {}
        for i in range(0, len(wanted), 100):
            for item in self._pages(
                "ec2", "describe_instance_types", "InstanceTypes", InstanceTypes=wanted[i : i + 100]
            ):
                found[item["InstanceType"]] = int(item["VCpuInfo"]["DefaultVCpus"])
        return found

    def running_standard_vcpus(self) -> int:
        """vCPUs of the account's running On-Demand instances of the standard families (what the quota
        counts): Spot instances and other families have quotas of their own."""
        instances = [
            instance
            for reservation in self._pages(
                "ec2",
                "describe_instances",
                "Reservations",
                Filters=[{"Name": "instance-state-name", "Values": ["pending", "running"]}],
            )
            for instance in reservation.get("Instances", [])
            if instance.get("InstanceLifecycle") != "spot" and is_standard(instance.get("InstanceType", ""))
        ]
        per_type = self.vcpus(i["InstanceType"] for i in instances)
        return sum(per_type.get(i["InstanceType"], 0) for i in instances)

    def instance_monitoring(self, instance_ids: Sequence[str]) -> dict[str, str]:
        return {
            instance["InstanceId"]: instance.get("Monitoring", {}).get("State", "disabled")
            for instance in self._instances(instance_ids)
        }

    def launch_times(self, instance_ids: Sequence[str]) -> dict[str, datetime]:
        return {
            instance["InstanceId"]: as_utc(instance["LaunchTime"])
            for instance in self._instances(instance_ids)
        }

    def _instances(self, instance_ids: Sequence[str]) -> list[dict[str, Any]]:
        """DescribeInstances of these IDs, 500 a call; an instance EC2 does not know is left out.
        DescribeInstances answers InvalidInstanceID.NotFound for the whole call when one is unknown, as
        an instance Auto Scaling launched a moment ago may be (EC2's eventual consistency): that once
        ended preflight, during a sale's pre-warm, as "cannot read AWS"."""
        found: list[dict[str, Any]] = []
        for i in range(0, len(instance_ids), 500):
            chunk = list(instance_ids[i : i + 500])
            try:
                found += [
                    instance
                    for reservation in self._pages(
                        "ec2", "describe_instances", "Reservations", InstanceIds=chunk
                    )
                    for instance in reservation.get("Instances", [])
                ]
            except AwsError as error:
                if error.code != "InvalidInstanceID.NotFound":
                    raise
                if len(chunk) > 1:  # one at a time: the instances EC2 knows, without the one it does not
                    found += [instance for one in chunk for instance in self._instances([one])]
        return found

    def free_addresses(self, subnet_ids: Sequence[str]) -> dict[str, int]:
        """Free addresses per subnet; a subnet that no longer exists (deleted while a group still names
        it) is left out. DescribeSubnets answers InvalidSubnetID.NotFound for the whole call when one
        is gone: that once ended preflight as "cannot read AWS" (exit 3), every other check unsaid."""
        try:
            subnets = self.call("ec2", "describe_subnets", SubnetIds=list(subnet_ids)).get("Subnets", [])
        except AwsError as error:
            if error.code != "InvalidSubnetID.NotFound":
                raise
            if len(subnet_ids) == 1:
                return {}
            # One at a time: the subnets that are there, without the one (or more) that is not.
            return {k: v for one in subnet_ids for k, v in self.free_addresses([one]).items()}
        return {s["SubnetId"]: int(s["AvailableIpAddressCount"]) for s in subnets}

    # --- Service Quotas ---
    def vcpu_quota(self) -> float | None:
        """The account's applied On-Demand standard vCPU quota; AWS's default when none was applied;
        None when Service Quotas cannot say (then the check warns instead of failing the whole run)."""
        try:
            return self._vcpu_quota()
        except AwsError as error:
            self.last_quota_error = str(error)
            return None

    last_quota_error: str | None = None

    def _vcpu_quota(self) -> float | None:
        try:
            answer = self.call(
                "service-quotas", "get_service_quota", ServiceCode="ec2", QuotaCode=VCPU_QUOTA_CODE
            )
        except AwsError as error:
            if error.code != "NoSuchResourceException":
                raise
            answer = self.call(
                "service-quotas",
                "get_aws_default_service_quota",
                ServiceCode="ec2",
                QuotaCode=VCPU_QUOTA_CODE,
            )
        value = answer.get("Quota", {}).get("Value")
        return None if value is None else float(value)

    # --- CloudWatch ---
    def alarms(self, prefix: str) -> list[dict[str, Any]]:
        """Every alarm (metric and composite) whose name starts with `prefix`/."""
        request = {
            "AlarmNamePrefix": f"{prefix}/",
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": 100,
        }
        alarms: list[dict[str, Any]] = []
        while True:
            page = self.call("cloudwatch", "describe_alarms", **request)
            alarms += page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
            if not page.get("NextToken"):
                return alarms
            request["NextToken"] = page["NextToken"]

    def metric_series(
        self,
        namespace: str,
        metric: str,
        dimensions: Mapping[str, str],
        stat: str,
        start: datetime,
        end: datetime,
        period: int,
    ) -> dict[datetime, float]:
        """One metric's datapoints in [start, end) at `period`, paginated (NextToken) within
        GetMetricData's 100,800 datapoints per call. AwsError for a query CloudWatch did not answer
        (the call succeeds, its result's StatusCode Forbidden or InternalError): read as no datapoints,
        the report counted no minute over target and preflight sized a peak without its history."""
        query = {
            "Id": "m",
            "MetricStat": {
                "Metric": {
                    "Namespace": namespace,
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                },
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        points: dict[datetime, float] = {}
        request: dict[str, Any] = {
            "MetricDataQueries": [query],
            "StartTime": start,
            "EndTime": end,
            "ScanBy": "TimestampAscending",
            "MaxDatapoints": MAX_DATAPOINTS_PER_CALL,
        }
        answered: set[str] = set()
        while True:
            page = self.call("cloudwatch", "get_metric_data", **request)
            for result in page.get("MetricDataResults", []):
                _raise_if_unanswered(result)
                answered.add(result.get("Id", ""))
                for when, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    if math.isfinite(value):
                        points[as_utc(when)] = float(value)
            if not page.get("NextToken"):
                _raise_if_left_out(query, answered)
                return points
            request["NextToken"] = page["NextToken"]

    def request_counts(
        self, signal: Any, start: datetime, end: datetime, period: int
    ) -> dict[datetime, float]:
        """The ALB RequestCount (Sum) of a requests-per-target signal's target group: the group's demand,
        as the backtest and the report read it."""
        return self.metric_series(
            signal.namespace,
            "RequestCount",
            {"LoadBalancer": signal.load_balancer, "TargetGroup": signal.target_group},
            "Sum",
            start,
            end,
            period,
        )

    def metric_sum(
        self, namespace: str, metric: str, dimensions: Mapping[str, str], start: datetime, end: datetime
    ) -> float:
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        return sum(self.metric_series(namespace, metric, dimensions, "Sum", start, end, period).values())

    # --- SNS, Scheduler, SQS ---
    def subscriptions(self, topic_arn: str) -> list[dict[str, Any]]:
        return list(self._pages("sns", "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn))

    def schedules(self, group_name: str) -> list[dict[str, Any]] | None:
        """Every schedule of the group with its expression, zone and Input (ListSchedules has neither);
        None when the schedule group does not exist. A schedule deleted after the listing named it is
        left out: the sale Lambda deletes its own once its phase is handled, and GetSchedule's
        ResourceNotFoundException for it once ended preflight on a sale's day as "cannot read AWS"."""
        try:
            self.call("scheduler", "get_schedule_group", Name=group_name)
        except AwsError as error:
            if error.code == "ResourceNotFoundException":
                return None
            raise
        names = [
            s["Name"] for s in self._pages("scheduler", "list_schedules", "Schedules", GroupName=group_name)
        ]
        found = []
        for name in names:
            try:
                found.append(self.call("scheduler", "get_schedule", Name=name, GroupName=group_name))
            except AwsError as error:
                if error.code != "ResourceNotFoundException":
                    raise
        return found

    def queue_depth(self, url: str) -> int:
        attributes = self.call(
            "sqs",
            "get_queue_attributes",
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    # --- the audit table ---
    def pause(self, table: str, group: str | None) -> KillSwitch | None:
        """The kill-switch item of a group (None: the global one) as the Lambda reads it, or None when
        never set."""
        item = self.control_item(table, group)
        return None if item is None else _kill_switch(item, group or keys.GLOBAL_CONTROL_SORT_KEY)

    def control_item(self, table: str, group: str | None) -> dict[str, Any] | None:
        """The kill-switch item of a group (None: the global one) as stored, or None when never set."""
        name = group or keys.GLOBAL_CONTROL_SORT_KEY
        item = self.call(
            "dynamodb",
            "get_item",
            TableName=table,
            Key=_control_key(name),
            ConsistentRead=True,
        ).get("Item")
        return None if item is None else dict(item)

    def put_control_item_if_unchanged(
        self, table: str, group: str, written: Mapping[str, str], previous: Mapping[str, Any] | None
    ) -> bool:
        """Write a group's kill switch (`written`: pause, set_by, set_at) while its item is still
        `previous` (no item, when None); False when someone switched it since it was read. A pause that
        may be taken back writes so: written over a switch set in between, its take-back put back what
        was read before, erasing the other operator's pause."""
        item = {**_control_key(group), **{name: {"S": text} for name, text in written.items()}}
        return self._written_unless_changed("put_item", TableName=table, Item=item, **_holding(previous))

    def put_back_control_item(
        self, table: str, group: str, written: Mapping[str, str], previous: Mapping[str, Any] | None
    ) -> bool:
        """Put a group's kill-switch item back to `previous` (deleted when None) while it still holds
        exactly what was `written` (pause, set_by, set_at); False when someone switched it since."""
        condition = _holding({name: {"S": text} for name, text in written.items()})
        if previous is None:
            return self._written_unless_changed(
                "delete_item", TableName=table, Key=_control_key(group), **condition
            )
        return self._written_unless_changed("put_item", TableName=table, Item=dict(previous), **condition)

    def _written_unless_changed(self, operation: str, **request: Any) -> bool:
        """A conditional write of the control item; False where its condition failed."""
        try:
            self.call("dynamodb", operation, **request)
        except AwsError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def kill_switches(self, table: str) -> dict[str | None, KillSwitch]:
        """Every control item as the Lambda reads it, by group (None: the global one): the items a
        `resume --all` leaves in place."""
        switches: dict[str | None, KillSwitch] = {}
        request = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :control",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY},
            "ExpressionAttributeValues": {":control": {"S": keys.CONTROL_PARTITION}},
            "ConsistentRead": True,
        }
        while True:
            page = self.call("dynamodb", "query", **request)
            for item in page.get("Items", []):
                name = str(item[keys.SORT_KEY]["S"])
                switches[None if name == keys.GLOBAL_CONTROL_SORT_KEY else name] = _kill_switch(item, name)
            if not page.get("LastEvaluatedKey"):
                return switches
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def audit_records_newest_first(
        self, table: str, group: str, before: datetime | None = None, page_size: int = 100
    ) -> Iterator[dict[str, Any]]:
        """A group's audit records from the latest back (before `before`, when given), read a page at a
        time as they are consumed: whoever looks for the latest of some kind stops when found."""
        high = f"{keys.AUDIT_SORT_PREFIX}{before.astimezone(UTC).isoformat() if before else '~'}"
        yield from self._query(
            TableName=table,
            KeyConditionExpression="#pk = :pk AND #sk BETWEEN :low AND :high",
            ExpressionAttributeNames={"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            ExpressionAttributeValues={
                ":pk": {"S": keys.group_pk(group)},
                ":low": {"S": keys.AUDIT_SORT_PREFIX},
                ":high": {"S": high},
            },
            ScanIndexForward=False,
            Limit=page_size,
        )

    def audit_records(
        self,
        table: str,
        group: str,
        start: datetime | None = None,
        end: datetime | None = None,
        latest: int | None = None,
    ) -> list[dict[str, Any]]:
        """A group's audit records, oldest first: within [start, end), or the `latest` N."""
        low = f"{keys.AUDIT_SORT_PREFIX}{start.astimezone(UTC).isoformat() if start else ''}"
        high = f"{keys.AUDIT_SORT_PREFIX}{end.astimezone(UTC).isoformat() if end else '~'}"
        request: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :low AND :high",
            "ExpressionAttributeNames": {"#pk": keys.PARTITION_KEY, "#sk": keys.SORT_KEY},
            "ExpressionAttributeValues": {
                ":pk": {"S": keys.group_pk(group)},
                ":low": {"S": low},
                ":high": {"S": high},
            },
            "ScanIndexForward": latest is None,
        }
        if latest is not None:
            request["Limit"] = latest
        records: list[dict[str, Any]] = []
        while True:
            page = self.call("dynamodb", "query", **request)
            records += [{k: _attribute(v) for k, v in item.items()} for item in page.get("Items", [])]
            if not page.get("LastEvaluatedKey") or (latest is not None and len(records) >= latest):
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return records if latest is None else list(reversed(records[:latest]))

    def event_states(self, table: str, group: str) -> tuple[list[EventState], DamagedItemError | None]:
        """The group's saved sale events as the Lambda reads them (AuditStore.load_events), and the damage
        to those it cannot read (None: none): a hand-edited item the Lambda's decisions leave out."""
        from surgeguard.adapters.audit_store import AuditStore

        try:
            store = AuditStore(table, self.client("dynamodb"))
            return store.load_events(group), None
        except DamagedItemError as error:
            return [s for s in error.readable if isinstance(s, EventState)], error
        except AwsCallError as error:
            raise cli_error(error) from None
        except BotoCoreError as error:  # making the client: no region, a profile that is not there
            raise AwsError("Query", type(error).__name__, str(error)) from None
