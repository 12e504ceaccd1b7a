"""pause / resume / audit: a table for people, --json for scripts, exit code 3 when the table is not there."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from surgeguard.adapters.audit_store import AuditStore, create_local_table
from surgeguard.domain.model import Pause
from surgeguard_cli import main as cli
from surgeguard_cli import output


@pytest.fixture
def table() -> Iterator[str]:
    with mock_aws():
        create_local_table(boto3.client("dynamodb"), "audit")
        yield "audit"


def test_pause_json_and_audit_table_and_json(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    _group("web")
    assert cli.main(["pause", "--table", table, "--group", "web", "--direction", "in", "--json"]) == output.OK
    assert json.loads(capsys.readouterr().out) == {"group": "web", "switch": "in", "pause": "in"}
    store = AuditStore(table, boto3.client("dynamodb"))
    for minute in range(3):
        store.write_audit(
            {
                "group": "web",
                "at": f"2026-11-27T05:0{minute}:00.000+00:00",
                "delivery_id": f"d{minute}",
                "outcome": "applied",
                "previous_desired": minute,
                "new_desired": minute + 1,
                "reason": f"step {minute}",
            }
        )
    assert cli.main(["audit", "--table", table, "--group", "web", "--limit", "2"]) == output.OK
    text = capsys.readouterr().out
    assert "step 2" in text and "step 1" in text and "step 0" not in text
    assert cli.main(["audit", "--table", table, "--group", "web", "--json"]) == output.OK
    assert [r["reason"] for r in json.loads(capsys.readouterr().out)] == ["step 2", "step 1", "step 0"]


def test_a_missing_table_exits_3(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["resume", "--table", "nope", "--all"]) == output.AWS
    assert "cannot reach the audit table" in capsys.readouterr().err


def _group(name: str) -> None:
    boto3.client("ec2", region_name="us-east-1")
    autoscaling = boto3.client("autoscaling")
    made = autoscaling.describe_launch_configurations(LaunchConfigurationNames=["lc"])["LaunchConfigurations"]
    if not made:
        autoscaling.create_launch_configuration(
            LaunchConfigurationName="lc", ImageId="ami-12c6146b", InstanceType="t3.micro"
        )
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchConfigurationName="lc",
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        AvailabilityZones=["us-east-1a"],
    )


@pytest.mark.parametrize("command", ["pause", "resume"])
def test_a_group_name_with_a_typo_is_said_to_stop_nothing(
    command: str, table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # In an emergency `pause --group shop-wbe` once said "shop-wbe: pause=all" and paused nothing at all;
    # `resume` with the typo left the real group paused. The switch is written first (it must never
    # wait on Auto Scaling), then the name is checked.
    _group("shop-web")
    assert cli.main([command, "--table", table, "--group", "shop-wbe"]) == output.USAGE
    err = capsys.readouterr().err
    assert "no Auto Scaling group 'shop-wbe'" in err and "stops or frees no group" in err
    store = AuditStore(table, boto3.client("dynamodb"))
    assert store.load_pause("shop-web") is Pause.NONE  # the real group untouched
    assert cli.main(["pause", "--table", table, "--group", "shop-web"]) == output.OK
    assert store.load_pause("shop-web") is Pause.ALL
    # A group not created yet can be switched on purpose.
    assert cli.main([command, "--table", table, "--group", "shop-new", "--force"]) == output.OK


def test_a_pause_of_a_misspelt_name_is_taken_back_so_resume_all_stays_clean(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The switch written for the typo once stayed at all: every later `resume --all` named shop-wbe a
    # group still paused and exited 1, pointing at a resume that itself exits 2.
    _group("shop-web")
    assert cli.main(["pause", "--table", table, "--group", "shop-wbe"]) == output.USAGE
    assert "a pause of it is taken back" in capsys.readouterr().err
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("shop-wbe") is Pause.NONE
    assert cli.main(["pause", "--table", table, "--all"]) == output.OK
    assert cli.main(["resume", "--table", table, "--all"]) == output.OK


def _item(table: str, name: str) -> object:
    key = {"pk": {"S": "CONTROL"}, "sk": {"S": name}}
    return boto3.client("dynamodb").get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_a_refused_pause_puts_back_what_the_switch_held_before(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A group not created yet, paused on purpose (--force); then narrowed without --force, refused for
    # the missing group: its take-back once wrote none, erasing the deliberate pause.
    store = AuditStore(table, boto3.client("dynamodb"))
    assert cli.main(["pause", "--table", table, "--group", "shop-new", "--force"]) == output.OK
    kept = _item(table, "shop-new")
    assert cli.main(["pause", "--table", table, "--group", "shop-new", "--direction", "in"]) == output.USAGE
    assert store.load_pause("shop-new") is Pause.ALL and _item(table, "shop-new") == kept
    # A name never switched before has no item again (none written is not nothing: resume --all reads it).
    assert cli.main(["pause", "--table", table, "--group", "shop-wbe"]) == output.USAGE
    assert _item(table, "shop-wbe") is None


def test_a_refused_pause_leaves_a_switch_set_again_since(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard_cli import control

    store = AuditStore(table, boto3.client("dynamodb"))

    def someone_else_pauses_meanwhile(command: str, group: str) -> bool:
        store.set_pause(group, Pause.OUT, who="ana", at=datetime.now(UTC))
        return False

    monkeypatch.setattr(control, "_group_lookup", someone_else_pauses_meanwhile)
    assert cli.main(["pause", "--table", table, "--group", "shop-new"]) == output.USAGE
    assert store.load_pause("shop-new") is Pause.OUT
    assert "was set again since: left as it is" in capsys.readouterr().err


def test_a_pause_set_between_a_checked_pauses_read_and_write_is_left_and_never_taken_back(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # B's `pause --group shop-new --direction in` reads no switch; A's deliberate `--force` pause of the
    # group not created yet lands; B's write once overwrote it, and B's take-back (no such group) then
    # deleted the item: the group A paused was paused by nothing.
    from surgeguard_cli import control

    read_switch = control._before

    def another_operator_pauses_after_the_read(table: str, group: str) -> control.Before:
        seen = read_switch(table, group)
        assert cli.main(["pause", "--table", table, "--group", group, "--force"]) == output.OK
        return seen

    monkeypatch.setattr(control, "_before", another_operator_pauses_after_the_read)
    capsys.readouterr()
    assert cli.main(["pause", "--table", table, "--group", "shop-new", "--direction", "in"]) == output.FOUND
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("shop-new") is Pause.ALL
    assert "was set by someone else since it was read" in capsys.readouterr().err


def test_a_checked_pause_writes_over_a_hand_edited_switch_it_read(table: str) -> None:
    # The write holds only while the item is what was read, a value of any type a hand edit leaves.
    _group("web")
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={"pk": {"S": "CONTROL"}, "sk": {"S": "web"}, "pause": {"BOOL": True}, "set_by": {"N": "7"}},
    )
    assert cli.main(["pause", "--table", table, "--group", "web", "--direction", "in"]) == output.OK
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("web") is Pause.IN


def test_a_group_that_cannot_be_looked_up_is_switched_with_a_warning(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard_cli.aws import Aws, AwsError

    def denied(self: object, name: str) -> None:
        raise AwsError("DescribeAutoScalingGroups", "AccessDenied", "not authorized")

    monkeypatch.setattr(Aws, "group", denied)
    assert cli.main(["pause", "--table", table, "--group", "web"]) == output.OK
    assert "whether Auto Scaling group 'web' exists could not be checked" in capsys.readouterr().err
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("web") is Pause.ALL


@pytest.fixture
def no_region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from surgeguard.adapters import clients

    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    clients.client.cache_clear()  # a client made with a region earlier would hide the missing one
    yield
    clients.client.cache_clear()


@pytest.mark.parametrize(
    "argv",
    [
        ["pause", "--table", "audit", "--all"],
        ["resume", "--table", "audit", "--group", "web"],  # the group lookup's client comes first
        ["audit", "--table", "audit", "--group", "web"],
    ],
)
@pytest.mark.usefixtures("no_region")
def test_no_region_configured_exits_3_with_a_message(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # botocore raises NoRegionError where it makes the client, outside the adapter's call: it once
    # escaped as a traceback.
    assert cli.main(argv) == output.AWS
    assert "cannot reach AWS: NoRegionError" in capsys.readouterr().err


# --- what the Lambda will read after a switch: both items, global and the group's own ---------------
def test_resume_of_a_group_under_the_global_pause_says_it_stays_paused(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `resume --group web` under `pause --all` once printed "pause=none" while every decision of web
    # stayed `skipped: paused` (the Lambda combines both items).
    _group("web")
    assert cli.main(["pause", "--table", table, "--all"]) == output.OK
    capsys.readouterr()
    assert cli.main(["resume", "--table", table, "--group", "web", "--json"]) == output.FOUND
    captured = capsys.readouterr()
    lambda_reads = AuditStore(table, boto3.client("dynamodb")).load_pause("web")
    assert lambda_reads is Pause.ALL
    assert json.loads(captured.out) == {
        "group": "web",
        "switch": "none",
        "pause": "all",
        "restores_caught_up": [],
    }
    assert "web is still paused (all)" in captured.err
    assert f"surgeguard resume --table {table} --all" in captured.err


def test_resume_all_names_the_groups_their_own_switch_keeps_paused(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `resume --all` clears the global item only: a group paused on its own once stayed paused under
    # "all groups: pause=none".
    _group("web")
    _group("api")
    assert cli.main(["pause", "--table", table, "--group", "web", "--direction", "in"]) == output.OK
    assert cli.main(["pause", "--table", table, "--group", "api"]) == output.OK
    assert cli.main(["resume", "--table", table, "--group", "api"]) == output.OK
    assert cli.main(["pause", "--table", table, "--all"]) == output.OK
    capsys.readouterr()
    assert cli.main(["resume", "--table", table, "--all", "--json"]) == output.FOUND
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {
        "group": None,
        "switch": "none",
        "pause": "none",
        "own_switches": {"web": "in"},  # api's own item was resumed: not listed
        "restores_caught_up": [],
    }
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("web") is Pause.IN
    assert "still paused by its own switch: web (in" in captured.err
    assert f"surgeguard resume --table {table} --group web" in captured.err
    assert cli.main(["resume", "--table", table, "--group", "web"]) == output.OK
    assert cli.main(["resume", "--table", table, "--all"]) == output.OK
    assert "all groups: pause=none" in capsys.readouterr().err


def test_pause_of_one_direction_under_a_wider_pause_prints_what_the_lambda_reads(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _group("web")
    assert cli.main(["pause", "--table", table, "--all", "--direction", "out"]) == output.OK
    capsys.readouterr()
    assert cli.main(["pause", "--table", table, "--group", "web", "--direction", "in", "--json"]) == output.OK
    # out for everyone and in for web: web is stopped both ways
    assert json.loads(capsys.readouterr().out)["pause"] == "all"
    assert AuditStore(table, boto3.client("dynamodb")).load_pause("web") is Pause.ALL


class _ThrottledAutoScaling:
    """Auto Scaling while the account's shared token bucket is dry (doors open): every call throttled.
    It notes what the Lambda would read for the group when each lookup arrives."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.switch_when_asked: list[Pause] = []

    def describe_auto_scaling_groups(self, **kwargs: object) -> dict[str, object]:
        from botocore.exceptions import ClientError

        (name,) = kwargs["AutoScalingGroupNames"]  # type: ignore[misc]
        self.switch_when_asked.append(AuditStore(self.table, boto3.client("dynamodb")).load_pause(name))
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "DescribeAutoScalingGroups"
        )


def test_pause_of_a_group_is_set_before_auto_scaling_is_asked_and_asks_it_once(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Under throttling the group lookup once went through the Lambda adapter's patient retries (7
    # rounds, 25-45 s) before the kill switch was set.
    from surgeguard.adapters import clients

    throttled = _ThrottledAutoScaling(table)
    real_client = boto3.client
    monkeypatch.setattr(
        boto3,
        "client",
        lambda service, *args, **kwargs: (
            throttled if service == "autoscaling" else real_client(service, *args, **kwargs)
        ),
    )
    clients.client.cache_clear()  # an Auto Scaling client made by an earlier test would hide the fake
    try:
        assert cli.main(["pause", "--table", table, "--group", "shop-web"]) == output.OK
    finally:
        clients.client.cache_clear()
    assert throttled.switch_when_asked == [Pause.ALL]  # one lookup, the switch already set
    err = capsys.readouterr().err
    assert "whether Auto Scaling group 'shop-web' exists could not be checked" in err and "Throttling" in err


def test_audit_limit_reads_past_dynamodbs_one_megabyte_page(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A Query answers at most 1 MB; `audit --limit N` once printed that first page only (393 of 600).
    store = AuditStore(table, boto3.client("dynamodb"))
    bulky = ["x" * 4000] * 20  # ~80 KB an item: about a dozen fill a page
    for n in range(30):
        store.write_audit(
            {
                "group": "web",
                "at": f"2026-11-27T05:{n:02d}:00.000+00:00",
                "delivery_id": f"d{n}",
                "outcome": "failed" if n == 1 else "unchanged",
                "reason": f"record {n}",
                "candidates": bulky,
            }
        )
    assert cli.main(["audit", "--table", table, "--group", "web", "--limit", "30", "--json"]) == output.OK
    assert [r["reason"] for r in json.loads(capsys.readouterr().out)] == [
        f"record {n}" for n in range(29, -1, -1)
    ]
    assert cli.main(["audit", "--table", table, "--group", "web", "--limit", "25", "--json"]) == output.OK
    assert [r["reason"] for r in json.loads(capsys.readouterr().out)] == [
        f"record {n}" for n in range(29, 4, -1)
    ]


def test_audit_shows_a_reason_with_markup_and_escapes_as_plain_text(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # An AWS error message or a hand edit: rich once read "[/x]" as a closing tag (MarkupError, a
    # traceback) and sent ESC sequences to the terminal.
    AuditStore(table, boto3.client("dynamodb")).write_audit(
        {
            "group": "web",
            "at": "2026-11-27T05:00:00.000+00:00",
            "delivery_id": "d0",
            "outcome": "failed",
            "error": "denied [/x] \x1b[2J",
        }
    )
    assert cli.main(["audit", "--table", table, "--group", "web"]) == output.OK
    text = capsys.readouterr().out
    assert "denied [/x] \\x1b[2J" in text and "\x1b" not in text


@pytest.mark.parametrize("limit", ["0", "-3"])
def test_audit_limit_below_one_is_a_usage_error(
    table: str, capsys: pytest.CaptureFixture[str], limit: str
) -> None:
    # It read nothing and printed an empty table, exit 0: "no decisions" while the group had some.
    AuditStore(table, boto3.client("dynamodb")).write_audit(
        {"group": "web", "at": "2026-11-27T05:00:00.000+00:00", "delivery_id": "d0", "outcome": "applied"}
    )
    with pytest.raises(SystemExit) as exit_:
        cli.main(["audit", "--table", table, "--group", "web", "--limit", limit])
    assert exit_.value.code == output.USAGE
    assert "--limit" in capsys.readouterr().err


def test_pause_from_a_container_whose_user_has_no_name_still_switches(
    table: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI job or a pod run under an arbitrary uid has no LOGNAME/USER and no passwd entry: getpass
    # raised KeyError, and the kill switch died with a traceback (exit 1) before writing anything.
    import os
    import pwd

    for name in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(name, raising=False)

    def no_entry(uid: int) -> None:
        raise KeyError(f"getpwuid(): uid not found: {uid}")

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    assert cli.main(["pause", "--table", table, "--all", "--json"]) == output.OK
    assert json.loads(capsys.readouterr().out)["pause"] == "all"
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "CONTROL"}, "sk": {"S": "*"}})[
        "Item"
    ]
    assert item["pause"]["S"] == "all" and item["set_by"]["S"] == f"uid {os.getuid()}"


def test_audit_of_a_group_without_records_says_so(table: str, capsys: pytest.CaptureFixture[str]) -> None:
    # A misspelt name (`shop-wbe`) printed an empty table, exit 0: read in an incident as "Surgeguard
    # decided nothing for the group". The table answers the same for both, so the words say which.
    assert cli.main(["audit", "--table", table, "--group", "shop-wbe"]) == output.OK
    shown = capsys.readouterr()
    assert "no audit records for group 'shop-wbe' in table audit" in shown.err
    assert cli.main(["audit", "--table", table, "--group", "shop-wbe", "--json"]) == output.OK
    assert json.loads(capsys.readouterr().out) == []


def test_what_a_control_item_holds_reaches_the_terminal_as_text(
    table: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # A control item's set_by and name are what its writer put there (a hand edit in the console): a
    # carriage return in them once rewrote, on the operator's terminal, the very line saying the group
    # stays paused, and ESC sequences cleared the screen or retitled the window.
    forged = "ana\r\x1b[2Kall groups: pause=none, nothing paused\x1b]0;owned\x07"
    boto3.client("dynamodb").put_item(
        TableName=table,
        Item={
            "pk": {"S": "CONTROL"},
            "sk": {"S": "web\x1b[8m"},
            "pause": {"S": "all"},
            "set_by": {"S": forged},
        },
    )
    assert cli.main(["resume", "--table", table, "--all"]) == output.FOUND
    err = capsys.readouterr().err
    assert not [c for c in err if c != "\n" and (ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F)]
    assert "web\\x1b[8m (all, set by ana\\x0d\\x1b[2Kall groups: pause=none" in err
    assert f"surgeguard resume --table {table} --group 'web\\x1b[8m'" in err  # quoted for the shell
