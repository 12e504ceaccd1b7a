"""What the stack deploys besides the alarms: table, topics, the reactive Lambda and its permissions."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Environment
from aws_cdk.assertions import Match, Template
from synth_support import ACCOUNT, REGION, SALES_NOW, STACK_NAME, Synth, sales_config

from infra.constructs import reactive_function, sale_schedules
from infra.constructs.scaler_function import MAX_EVENT_AGE, RETRY_ATTEMPTS
from infra.stack import SurgeguardStack, email_scopes, notify_emails
from surgeguard.config import BUNDLED_CONFIG_FILE, ScalerConfig, parse_config
from surgeguard.keys import GROUP_PREFIX, PARTITION_KEY, SORT_KEY, TRIGGER_PREFIX, TTL_ATTRIBUTE


def _statements(synth: Synth) -> list[dict[str, Any]]:
    statements = []
    for policy in synth.of_type("AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in synth.of_type("AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            statements += policy["PolicyDocument"]["Statement"]
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _function(synth: Synth) -> tuple[str, dict[str, Any]]:
    """The reactive (alarm) Lambda; a config with sale events adds the scheduled-phase one."""
    return synth.function(reactive_function.HANDLER)


def _has_sales(synth: Synth) -> bool:
    return "SaleFunctionName" in synth.template["Outputs"]


def test_audit_table_keys_pitr_ttl_billing_and_encryption(synth: Synth) -> None:
    # GIVEN the synthesized template WHEN we look at the only table THEN it matches surgeguard.keys
    (table,) = synth.of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["KeySchema"] == [
        {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
        {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
    ]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": SORT_KEY, "AttributeType": "S"},
        ],
        key=lambda a: a["AttributeName"],
    )
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert "TableName" not in props


def test_no_hard_coded_physical_names_except_alarms(synth: Synth) -> None:
    name_props = {
        "AWS::DynamoDB::Table": "TableName",
        "AWS::SNS::Topic": "TopicName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::Lambda::Function": "FunctionName",
        "AWS::IAM::Role": "RoleName",
        "AWS::Logs::LogGroup": "LogGroupName",
    }
    for type_name, prop in name_props.items():
        for logical_id, resource in synth.of_type(type_name).items():
            assert prop not in resource.get("Properties", {}), logical_id


def test_the_stack_never_touches_auto_scaling_groups_itself(synth: Synth) -> None:
    types = {r["Type"] for r in synth.resources.values()}
    assert not [t for t in types if t.startswith("AWS::AutoScaling::")]
    assert not [t for t in types if t.startswith("Custom::") or t == "AWS::CloudFormation::CustomResource"]
    # no provider framework Lambdas either: only ours, the scheduled one only with sale events
    handlers = sorted(f["Properties"]["Handler"] for f in synth.of_type("AWS::Lambda::Function").values())
    expected = [reactive_function.HANDLER] + ([sale_schedules.HANDLER] if _has_sales(synth) else [])
    assert handlers == sorted(expected)


def test_topics_are_encrypted_with_a_rotated_key_cloudwatch_may_use_and_tls_only(synth: Synth) -> None:
    topics = synth.of_type("AWS::SNS::Topic")
    # signals, notifications, and the watch alarms for surgeguard.yaml's group-scoped address
    assert len(topics) == 3
    (key_id, key) = next(iter(synth.of_type("AWS::KMS::Key").items()))
    assert key["Properties"]["EnableKeyRotation"] is True
    for topic in topics.values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and set(_as_list(cloudwatch[0]["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}

    template = Template.from_json(synth.template)
    for topic_id in topics:
        template.has_resource_properties(
            "AWS::SNS::TopicPolicy",
            {
                "Topics": [{"Ref": topic_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            Match.object_like(
                                {
                                    "Effect": "Deny",
                                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                }
                            )
                        ]
                    )
                },
            },
        )


def test_only_this_stacks_alarms_may_publish_signals(synth: Synth) -> None:
    signals = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard alarm signals")
    own_alarms = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK_NAME}/*"
    Template.from_json(synth.template).has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": signals}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "StackAlarmsPublish",
                            "Effect": "Allow",
                            "Action": "sns:Publish",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Resource": {"Ref": signals},
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": own_alarms},
                                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                            },
                        }
                    ]
                )
            },
        },
    )


def test_people_are_subscribed_to_notifications_by_email(synth: Synth, config: ScalerConfig) -> None:
    notifications = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard notifications")
    emails = sorted(
        s["Properties"]["Endpoint"]
        for s in synth.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == {"Ref": notifications}
    )
    assert emails == notify_emails(config)
    assert "checkout-oncall@example.com" in emails  # a group's own list counts too


def test_a_groups_own_emails_are_filtered_to_that_group(synth: Synth, config: ScalerConfig) -> None:
    # The Lambda publishes a `group` message attribute; group-level addresses filter on it.
    notifications = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard notifications")
    policies = {
        s["Properties"]["Endpoint"]: s["Properties"].get("FilterPolicy")
        for s in synth.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "email" and s["Properties"]["TopicArn"] == {"Ref": notifications}
    }
    assert policies["checkout-oncall@example.com"] == {"group": ["shop-checkout"]}
    assert email_scopes(config)["checkout-oncall@example.com"] == ("shop-checkout",)


def test_a_global_email_hears_every_group() -> None:
    config = parse_config(
        {
            "notify_emails": ["all@example.com"],
            "groups": [
                {
                    "name": "a",
                    "min": 1,
                    "max": 2,
                    "signals": [{"kind": "cpu", "target": 50}],
                    "notify_emails": ["all@example.com", "a@example.com"],
                },
                {
                    "name": "b",
                    "min": 1,
                    "max": 2,
                    "signals": [{"kind": "cpu", "target": 50}],
                    "notify_emails": ["a@example.com"],
                },
            ],
        }
    )
    assert email_scopes(config) == {"all@example.com": None, "a@example.com": ("a", "b")}


def test_an_address_listed_twice_is_subscribed_and_filtered_once() -> None:
    # A repeat in a group's list put the group twice in its filter policy, counted twice toward SNS's
    # 150 values; a repeat means nothing more than the one address, so the config keeps it once
    group = {"min": 1, "max": 2, "signals": [{"kind": "cpu", "target": 50}]}
    config = parse_config(
        {
            "notify_emails": ["all@example.com", "all@example.com"],
            "groups": [{**group, "name": "a", "notify_emails": ["a@example.com", "a@example.com"]}],
        }
    )
    assert config.notify_emails == ["all@example.com"]
    assert config.groups[0].notify_emails == ["a@example.com"]
    assert email_scopes(config) == {"all@example.com": None, "a@example.com": ("a",)}


def test_lambda_runtime_architecture_environment_and_logging(synth: Synth) -> None:
    function_id, function = _function(synth)
    props = function["Properties"]
    table = next(iter(synth.of_type("AWS::DynamoDB::Table")))
    notifications = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard notifications")
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "surgeguard.handlers.alarm.lambda_handler"
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 60
    # the layer: an SSM public parameter resolved at deploy time (test_lambda_defaults.py)
    (layer,) = props["Layers"]
    assert synth.template["Parameters"][layer["Ref"]]["Type"] == "AWS::SSM::Parameter::Value<String>"
    assert props["Environment"]["Variables"] == {
        "TABLE_NAME": {"Ref": table},
        "NOTIFY_TOPIC_ARN": {"Ref": notifications},
        "ALARM_PREFIX": STACK_NAME,
        "CONFIG_FILE": BUNDLED_CONFIG_FILE,
        "POWERTOOLS_SERVICE_NAME": "surgeguard",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        "PYTHONTZPATH": "/var/task/tzdata/zoneinfo",
    }
    assert props["LoggingConfig"]["LogFormat"] == "JSON"
    log_group = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert synth.resources[log_group]["Type"] == "AWS::Logs::LogGroup"
    assert synth.resources[log_group]["Properties"]["RetentionInDays"] == 90
    assert function_id


def test_async_invocations_retry_then_land_in_an_encrypted_queue(synth: Synth) -> None:
    function_id, _ = _function(synth)
    (props,) = [
        c["Properties"]
        for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": function_id}
    ]
    assert props["FunctionName"] == {"Ref": function_id}
    assert props["MaximumRetryAttempts"] == RETRY_ATTEMPTS == 2
    assert props["MaximumEventAgeInSeconds"] == MAX_EVENT_AGE.to_seconds()
    queue_id = props["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert synth.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True


def test_each_lambda_may_only_send_its_failed_invocations_to_its_own_queue(synth: Synth) -> None:
    # Lambda delivers an on-failure record with the execution role's sqs:SendMessage; the role never
    # reads the queue (CDK's SqsDestination also granted GetQueueAttributes and GetQueueUrl)
    functions = synth.of_type("AWS::Lambda::Function")
    for config in synth.of_type("AWS::Lambda::EventInvokeConfig").values():
        props = config["Properties"]
        role_id = functions[props["FunctionName"]["Ref"]]["Properties"]["Role"]["Fn::GetAtt"][0]
        queue = props["DestinationConfig"]["OnFailure"]["Destination"]
        on_queue = [
            statement
            for policy in synth.of_type("AWS::IAM::Policy").values()
            if {"Ref": role_id} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
            if queue in _as_list(statement["Resource"])
        ]
        assert [(s["Effect"], _as_list(s["Action"]), s["Resource"]) for s in on_queue] == [
            ("Allow", ["sqs:SendMessage"], queue)
        ], role_id
    sqs = {a for s in _statements(synth) for a in _as_list(s["Action"]) if a.startswith("sqs:")}
    assert sqs == {"sqs:SendMessage"}


def test_signals_topic_invokes_the_lambda_with_its_own_dead_letter_queue(synth: Synth) -> None:
    function_id, _ = _function(synth)
    signals = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard alarm signals")
    (subscription,) = [
        s["Properties"]
        for s in synth.of_type("AWS::SNS::Subscription").values()
        if s["Properties"]["Protocol"] == "lambda"
    ]
    assert subscription["TopicArn"] == {"Ref": signals}
    assert subscription["Endpoint"] == {"Fn::GetAtt": [function_id, "Arn"]}
    dlq = subscription["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]
    assert synth.resources[dlq]["Properties"]["SqsManagedSseEnabled"] is True
    Template.from_json(synth.template).has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "sns.amazonaws.com",
            "SourceArn": {"Ref": signals},
        },
    )


def test_every_queue_is_encrypted_and_tls_only(synth: Synth) -> None:
    queues = synth.of_type("AWS::SQS::Queue")
    # two per function: async on-failure and (reactive) SNS / (sales) Scheduler dead letters; and
    # the per-minute re-evaluation schedule's
    assert len(queues) == (5 if _has_sales(synth) else 3)
    policies = synth.of_type("AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        (policy,) = [p for p in policies if p["Properties"]["Queues"] == [{"Ref": queue_id}]]
        assert any(
            s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
        )


def test_set_desired_capacity_is_scoped_to_groups_carrying_the_managed_tag(
    synth: Synth, config: ScalerConfig
) -> None:
    # Service Authorization Reference (Amazon EC2 Auto Scaling): SetDesiredCapacity takes the
    # autoScalingGroup resource type and the autoscaling:ResourceTag/${TagKey} condition key.
    every_group = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/*"
    scaling = [
        s
        for s in _statements(synth)
        if "autoscaling:SetDesiredCapacity" in _as_list(s["Action"])
        and s.get("Sid") != "ScaleTaggedGroupsForSales"
    ]
    assert len(scaling) == 1  # the sale Lambda's own statement is tested in test_sale_schedules
    (statement,) = scaling
    assert statement["Sid"] == "ScaleTaggedGroupsOnly"
    assert _as_list(statement["Action"]) == ["autoscaling:SetDesiredCapacity"]
    assert statement["Resource"] == every_group
    tag = config.managed_tag
    assert statement["Condition"] == {"StringEquals": {f"autoscaling:ResourceTag/{tag.key}": tag.value}}
    assert (tag.key, tag.value) == ("surgeguard:managed", "true")  # the documented default


def test_a_configured_tag_scopes_every_mutating_statement() -> None:
    config = parse_config(
        {
            **sales_config().model_dump(mode="json", exclude_none=True),
            "managed_tag": {"key": "team", "value": "shop"},
        }
    )
    stack = SurgeguardStack(
        App(), "Tagged", config=config, now=SALES_NOW, env=Environment(account=ACCOUNT, region=REGION)
    )
    template = Template.from_stack(stack).to_json()
    mutating = [
        statement
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if any(
            a.startswith("autoscaling:") and not a.startswith("autoscaling:Describe")
            for a in _as_list(statement["Action"])
        )
    ]
    assert len(mutating) == 3  # reactive SetDesiredCapacity; sale SetDesiredCapacity and resize
    for statement in mutating:
        assert statement["Condition"]["StringEquals"] == {"autoscaling:ResourceTag/team": "shop"}


def test_nothing_that_changes_auto_scaling_is_granted_on_star(synth: Synth) -> None:
    for statement in _statements(synth):
        actions = _as_list(statement["Action"])
        assert "*" not in actions and "autoscaling:*" not in actions
        mutating = [
            a for a in actions if a.startswith("autoscaling:") and not a.startswith("autoscaling:Describe")
        ]
        if mutating:
            assert "*" not in _as_list(statement["Resource"]), statement


def test_read_only_calls_on_star_and_no_alarm_state_changes(synth: Synth) -> None:
    statements = {s.get("Sid"): s for s in _statements(synth)}  # any role: all are the same
    read = statements["ReadGroupsAndMetrics"]
    assert sorted(_as_list(read["Action"])) == [
        "autoscaling:DescribeAutoScalingGroups",
        "autoscaling:DescribeScalingActivities",
        "cloudwatch:GetMetricData",
    ]
    assert read["Resource"] == "*"
    # the per-minute re-evaluation replaced the SetAlarmState re-arm: no role may change an alarm
    cloudwatch = {a for s in _statements(synth) for a in _as_list(s["Action"]) if a.startswith("cloudwatch:")}
    assert cloudwatch == {"cloudwatch:GetMetricData", "cloudwatch:DescribeAlarms"}


def test_lambda_role_has_no_managed_policies(synth: Synth) -> None:
    for logical_id, role in synth.of_type("AWS::IAM::Role").items():
        assert not role["Properties"].get("ManagedPolicyArns"), logical_id


def test_signals_topic_denies_publish_to_everyone_but_this_stacks_alarms(synth: Synth) -> None:
    # IAM users and roles carry no aws:SourceArn: ArnNotLike on a missing key is true, so they are
    # denied whatever their identity policy says; CloudWatch for one of our alarms does not match.
    signals = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard alarm signals")
    own_alarms = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK_NAME}/*"
    template = Template.from_json(synth.template)
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "Topics": [{"Ref": signals}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "DenyPublishExceptStackAlarms",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "sns:Publish",
                            "Resource": {"Ref": signals},
                            "Condition": {"ArnNotLike": {"aws:SourceArn": own_alarms}},
                        }
                    ]
                )
            },
        },
    )
    # the notifications topic (the Lambdas' roles publish there) has no such statement
    notifications = synth.logical_id("AWS::SNS::Topic", DisplayName="Surgeguard notifications")
    (policy,) = [
        p["Properties"]["PolicyDocument"]
        for p in synth.of_type("AWS::SNS::TopicPolicy").values()
        if p["Properties"]["Topics"] == [{"Ref": notifications}]
    ]
    assert [s for s in policy["Statement"] if s["Effect"] == "Deny"] == [
        {
            "Sid": "AllowPublishThroughSSLOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": {"Ref": notifications},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]


def test_topics_key_lets_cloudwatch_in_for_this_stacks_alarms_only(synth: Synth) -> None:
    own_alarms = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK_NAME}/*"
    Template.from_json(synth.template).has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
                            "Effect": "Allow",
                            "Principal": {"Service": "cloudwatch.amazonaws.com"},
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            "Resource": "*",
                            "Condition": {
                                "ArnLike": {"aws:SourceArn": own_alarms},
                                "StringEquals": {"aws:SourceAccount": ACCOUNT},
                            },
                        }
                    ]
                )
            }
        },
    )
    (key,) = synth.of_type("AWS::KMS::Key").values()
    services = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert all(s.get("Condition") for s in services)  # no service may use the key unconditionally


def test_audit_table_has_deletion_protection(synth: Synth) -> None:
    Template.from_json(synth.template).has_resource(
        "AWS::DynamoDB::Table",
        {"Properties": Match.object_like({"DeletionProtectionEnabled": True}), "DeletionPolicy": "Retain"},
    )


def _table_statements(synth: Synth, role_id: str) -> list[dict[str, Any]]:
    return [
        statement
        for policy in synth.of_type("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if any(a.startswith("dynamodb:") for a in _as_list(statement["Action"]))
    ]


def test_lambdas_may_read_and_add_audit_items_but_change_or_delete_only_trigger_claims(synth: Synth) -> None:
    # GIVEN every Lambda role (the example config has the reactive and the sale Lambda)
    roles = [
        f["Properties"]["Role"]["Fn::GetAtt"][0] for f in synth.of_type("AWS::Lambda::Function").values()
    ]
    assert len(roles) == (2 if _has_sales(synth) else 1)
    table = next(iter(synth.of_type("AWS::DynamoDB::Table")))
    only_group_items = {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{GROUP_PREFIX}*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    only_claims = {
        "ForAllValues:StringLike": {"dynamodb:LeadingKeys": [f"{TRIGGER_PREFIX}*"]},
        "Null": {"dynamodb:LeadingKeys": "false"},
    }
    for role_id in roles:
        # THEN exactly these three statements, all on the table only
        statements = _table_statements(synth, role_id)
        granted = {
            (tuple(sorted(_as_list(s["Action"]))), json.dumps(s.get("Condition"), sort_keys=True))
            for s in statements
        }
        assert granted == {
            (("dynamodb:GetItem", "dynamodb:Query"), "null"),
            (("dynamodb:PutItem",), json.dumps(only_group_items, sort_keys=True)),
            (("dynamodb:DeleteItem", "dynamodb:UpdateItem"), json.dumps(only_claims, sort_keys=True)),
        }, role_id
        assert all(
            s["Effect"] == "Allow" and s["Resource"] == {"Fn::GetAtt": [table, "Arn"]} for s in statements
        )
    # and nowhere a batch write, a transaction, a scan, or a wildcard action
    actions = {a for s in _statements(synth) for a in _as_list(s["Action"]) if a.startswith("dynamodb:")}
    assert actions == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
    }
    template = Template.from_json(synth.template)
    template.has_resource_properties(
        "AWS::IAM::Policy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Sid": "LeaseTriggerClaims",
                            "Effect": "Allow",
                            "Action": ["dynamodb:DeleteItem", "dynamodb:UpdateItem"],
                            "Resource": {"Fn::GetAtt": [table, "Arn"]},
                            "Condition": only_claims,
                        }
                    ]
                )
            }
        },
    )
