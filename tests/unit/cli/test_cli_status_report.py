"""`surgeguard status` and `surgeguard report` on the moto account of cli_world, with audit records and
metrics written the way the Lambda and ALB write them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import cli_world as world
import pytest
import yaml
from moto import mock_aws

from surgeguard.adapters.audit_store import AuditStore
from surgeguard_cli import output, report, status
from surgeguard_cli.aws import Aws

START = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
NOW = START + timedelta(days=1)


def _in_service_at(when: datetime, instances: int, metric: str = "GroupInServiceInstances") -> None:
    """The group's GroupInServiceInstances datapoint at `when` (as its metrics collection publishes)."""
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/AutoScaling",
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": world.GROUP}],
                "Timestamp": when,
                "Value": instances,
            }
        ],
    )


@pytest.fixture
def built(tmp_path: Path) -> Iterator[world.World]:
    with mock_aws():
        yield world.build()


def _record(
    minute: int, outcome: str, previous: int, new: int, reason: str, **trigger: Any
) -> dict[str, Any]:
    return {
        "group": world.GROUP,
        "at": (START + timedelta(minutes=minute)).isoformat(timespec="milliseconds"),
        "delivery_id": f"d{minute}-{outcome}",
        "outcome": outcome,
        "reason": reason,
        "previous_desired": previous,
        "new_desired": new,
        "trigger": trigger or {"alarm": "Surgeguard/shop-web/requests_per_target/out"},
    }


def _write_day(table: str) -> None:
    store = AuditStore(table, boto3.client("dynamodb"))
    for record in (
        _record(10, "applied", 4, 8, "scale out 4 -> 8"),
        _record(20, "unchanged", 8, 8, "within target"),
        _record(30, "rejected", 8, 8, "unknown alarm"),
        _record(40, "applied", 8, 6, "scale in 8 -> 6"),
    ):
        store.write_audit(record)
    cloudwatch = boto3.client("cloudwatch")
    data = []
    for minute in range(60):
        demand = 4000 if minute < 10 else 9000
        for name, value, dims in (
            (
                "RequestCount",
                demand,
                [("LoadBalancer", "app/shop-alb/1"), ("TargetGroup", "targetgroup/shop-web/1")],
            ),
            (
                "RequestCountPerTarget",
                demand / 4 if minute < 15 else demand / 8,
                [("TargetGroup", "targetgroup/shop-web/1")],
            ),
        ):
            data.append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims],
                    "Timestamp": START + timedelta(minutes=minute),
                    "Value": value,
                }
            )
    for i in range(0, len(data), 500):
        cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i : i + 500])


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(world.config_data()))
    return path


def test_report_reads_the_audit_trail_and_cloudwatch(built: world.World, tmp_path: Path) -> None:
    _write_day(built.stack.table)
    group = built.config.groups[0]
    got = report.build_group_report(
        built.aws, built.stack.table, group, START, START + timedelta(minutes=60), now=NOW, replay=True
    )
    assert got.outcomes == {"applied": 2, "unchanged": 1, "rejected": 1}
    assert got.desired[:10] == [4] * 10 and got.desired[10:40] == [8] * 30 and got.desired[40:] == [6] * 20
    assert got.peak_capacity == 8
    assert got.instance_hours == pytest.approx((4 * 10 + 8 * 30 + 6 * 20) / 60)
    # RequestCountPerTarget over 1,000: minutes 10-14 (9,000 / 4 = 2,250); after that 1,125 still over.
    assert got.minutes_over_target["requests_per_target"] == 50
    assert [p.reason for p in got.problems] == ["unknown alarm"]
    assert set(got.whatif) >= {"aws-target-tracking-cpu", "aws-target-tracking-requests", "surgeguard"}


def test_report_command_writes_markdown_and_png(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_day(built.stack.table)
    out = tmp_path / "out"
    argv = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--config", str(_config(tmp_path))]
    code = report.main([*argv, "--table", built.stack.table, "--out", str(out)], aws=built.aws, now=NOW)
    text = capsys.readouterr().out
    assert code == output.OK
    assert (out / "report.png").read_bytes()[:4] == b"\x89PNG"
    markdown = (out / "report.md").read_text()
    assert "peak capacity: 8 instances" in markdown and "scale out 4 -> 8" in markdown
    assert "peak capacity: 8 instances" in text
    code = report.main(
        [*argv, "--table", built.stack.table, "--out", str(out), "--json"], aws=built.aws, now=NOW
    )
    data = json.loads(capsys.readouterr().out)
    assert data["reports"][0]["peak_capacity"] == 8


def _write_damaged(table: str) -> list[str]:
    """Audit items as a hand edit in the console leaves them, among the day's sound ones; their sort keys."""
    damaged = {
        "AUDIT#2026-11-27T04:05:00.000+00:00#no-at": {"outcome": {"S": "applied"}},
        "AUDIT#2026-11-27T04:15:00.000+00:00#number-at": {"at": {"N": "1764216900"}, "outcome": {"S": "x"}},
        "AUDIT#2026-11-27T04:25:00.000+00:00#no-outcome": {"at": {"S": "2026-11-27T04:25:00+00:00"}},
        "AUDIT#2026-11-27T04:35:00.000+00:00#four": {
            "at": {"S": "2026-11-27T04:35:00+00:00"},
            "outcome": {"S": "applied"},
            "previous_desired": {"S": "four"},
            "new_desired": {"N": "9"},
        },
        "AUDIT#2026-11-27T04:45:00.000+00:00#trigger": {
            "at": {"S": "2026-11-27T04:45:00+00:00"},
            "outcome": {"S": "applied"},
            "trigger": {"S": "prewarm"},
        },
    }
    for sort_key, fields in damaged.items():
        boto3.client("dynamodb").put_item(
            TableName=table, Item={"pk": {"S": f"GROUP#{world.GROUP}"}, "sk": {"S": sort_key}, **fields}
        )
    return list(damaged)


def test_damaged_audit_items_are_shown_as_damaged_never_a_crash(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_day(built.stack.table)
    damaged = _write_damaged(built.stack.table)
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    argv = ["--config", str(_config(tmp_path))]
    code = status.main([*argv, "--json"], aws=built.aws, now=NOW, signals=lambda g, n: [])
    shown = json.loads(capsys.readouterr().out)["groups"][0]["decisions"]
    assert code == output.OK
    # The latest 5 as they fall, the damaged among the sound (04:45 back to 04:25).
    assert [d["outcome"] for d in shown] == ["damaged", "applied", "damaged", "rejected", "damaged"]
    assert "#trigger: `trigger` is not a map" in shown[0]["reason"]
    assert status.main(argv, aws=built.aws, now=NOW, signals=lambda g, n: []) == output.OK
    assert "damaged" in capsys.readouterr().out

    out = tmp_path / "out"
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    code = report.main(
        [*window, *argv, "--table", built.stack.table, "--out", str(out)], aws=built.aws, now=NOW
    )
    assert code == output.OK, capsys.readouterr().err
    markdown = (out / "report.md").read_text()
    assert "9 audit records: applied 2, unchanged 1, rejected 1; 5 damaged, left out" in markdown
    assert all(f"- {sort_key}: " in markdown for sort_key in damaged)
    assert "instance-hours: 6.7" in markdown  # (4 x 10 + 8 x 30 + 6 x 20) / 60: the sound records only


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_an_audit_time_utc_cannot_hold_is_damaged_never_a_crash(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str], at: str
) -> None:
    # Valid ISO 8601, but past datetime's ends once brought to UTC: an OverflowError, not a ValueError.
    sort_key = "AUDIT#2026-11-27T04:05:00.000+00:00#edge"
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={
            "pk": {"S": f"GROUP#{world.GROUP}"},
            "sk": {"S": sort_key},
            "at": {"S": at},
            "outcome": {"S": "applied"},
        },
    )
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    argv = ["--config", str(_config(tmp_path))]
    assert status.main([*argv, "--json"], aws=built.aws, now=NOW, signals=lambda g, n: []) == output.OK
    (shown,) = json.loads(capsys.readouterr().out)["groups"][0]["decisions"]
    assert shown["outcome"] == "damaged" and "within UTC's range" in shown["reason"]

    out = tmp_path / "out"
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    code = report.main(
        [*window, *argv, "--table", built.stack.table, "--out", str(out)], aws=built.aws, now=NOW
    )
    assert code == output.OK, capsys.readouterr().err
    assert f"- {sort_key}: `at` {at!r} is not an ISO 8601 time" in (out / "report.md").read_text()
    # The same time given as the window's edge is a usage error, as any other bad time.
    with pytest.raises(SystemExit) as exit_:
        report.main(["--from", at, "--to", "9999-12-31T23:59Z", *argv], aws=built.aws, now=NOW)
    assert exit_.value.code == output.USAGE


def test_status_shows_size_pause_and_last_decisions(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_day(built.stack.table)
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={"pk": {"S": "CONTROL"}, "sk": {"S": world.GROUP}, "pause": {"S": "in"}, "set_by": {"S": "ana"}},
    )
    boto3.client("cloudwatch").set_alarm_state(
        AlarmName="Surgeguard/shop-web/cpu/out", StateValue="ALARM", StateReason="test"
    )
    monkey_stack = built.aws
    monkey_stack.stack = lambda name: built.stack  # type: ignore[method-assign]

    def signals(group: Any, now: datetime) -> list[dict[str, Any]]:
        return [{"id": "cpu", "value": 71.0, "target": 50.0}]

    code = status.main(
        ["--config", str(_config(tmp_path)), "--json"], aws=built.aws, now=NOW, signals=signals
    )
    data = json.loads(capsys.readouterr().out)
    assert code == output.OK
    (group,) = data["groups"]
    assert (group["desired"], group["in_service"], group["pause"]) == (world.RUNNING, world.RUNNING, "in")
    assert group["alarms"] == ["Surgeguard/shop-web/cpu/out"]
    assert [d["reason"] for d in group["decisions"]][0] == "scale in 8 -> 6"  # the latest first
    code = status.main(["--config", str(_config(tmp_path))], aws=built.aws, now=NOW, signals=signals)
    text = capsys.readouterr().out
    assert "shop-web" in text and "142%" in text


def test_status_shows_signals_it_cannot_read_as_unreadable_and_exits_3(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GetMetricData denied (a role without cloudwatch:GetMetricData) once read "no data", exit 0: a
    # screen of quiet signals during a sale, when nothing was read at all.
    from botocore.exceptions import ClientError

    from surgeguard.adapters import clients

    def deny(model: Any, **_: Any) -> None:
        if model.name == "GetMetricData":
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, model.name)

    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    clients.client.cache_clear()
    try:
        clients.client("cloudwatch").meta.events.register("before-call", deny)
        code = status.main(["--config", str(_config(tmp_path))], aws=built.aws, now=NOW)
    finally:
        clients.client.cache_clear()
    captured = capsys.readouterr()
    assert code == output.AWS
    assert captured.out.count("unreadable: AccessDeniedException") == 2 and "no data" not in captured.out
    assert "shop-web/cpu: AccessDeniedException" in captured.err


def test_status_shows_a_signal_whose_query_cloudwatch_did_not_answer_as_unreadable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GetMetricData answers, one query with StatusCode Forbidden: the Lambda abstains on it (README,
    # Failure modes); status said "no data".
    from surgeguard.adapters.cloudwatch import CloudWatchSignals
    from surgeguard.domain.model import Reading

    def read(self: Any, group: Any, now: datetime) -> list[Reading]:
        return [Reading("cpu", "cpu", None, 50.0, unanswered=True), Reading("rpt", "x", 900.0, 1000.0)]

    monkeypatch.setattr(CloudWatchSignals, "read", read)
    shown = status._signals(world.config().groups[0], NOW)
    assert [status._value(s) for s in shown] == ["unreadable: query not answered", "900.0"]


def test_report_of_metrics_whose_queries_cloudwatch_did_not_answer_exits_3(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GetMetricData answers the call, each query StatusCode Forbidden: the report read it as no data,
    # "minutes over target: 0", exit 0.
    _write_day(built.stack.table)
    built.aws._clients["cloudwatch"] = world.UnansweredQueries(boto3.client("cloudwatch"))
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    argv = [*window, "--config", str(_config(tmp_path)), "--table", built.stack.table]
    code = report.main([*argv, "--out", str(tmp_path / "out")], aws=built.aws, now=NOW)
    assert code == output.AWS
    assert "cannot read AWS: GetMetricData: Forbidden: not authorized" in capsys.readouterr().err


def test_status_shows_the_event_floor_freeze_and_temporary_max(built: world.World, tmp_path: Path) -> None:
    from surgeguard.config import parse_config
    from surgeguard.domain.model import EventState
    from surgeguard.domain.sales import plan_event

    data = world.config_data()
    data["groups"][0]["events"][0]["temporary_max"] = 30
    config = parse_config(data)
    group = config.groups[0]
    plan = plan_event(group, group.events[0])
    AuditStore(built.stack.table, boto3.client("dynamodb")).save_event(
        world.GROUP, EventState(world.EVENT, 15, "absolute peak", plan.prewarm, original_max=20)
    )
    during = plan.start + timedelta(minutes=10)
    got = status.group_status(built.aws, built.stack, group, during, [], signals=lambda g, now: [])
    assert (got.event, got.floor, got.scale_in_frozen, got.temporary_max) == (world.EVENT, 15, True, 30)
    after = plan.release + timedelta(minutes=1)
    got = status.group_status(built.aws, built.stack, group, after, [], signals=lambda g, now: [])
    assert got.scale_in_frozen is False and got.floor is not None and got.floor < 15


@pytest.mark.parametrize(
    ("everyone", "group"),
    [
        ({}, None),  # a control item created in the console, its value forgotten
        ({"pause": {"S": ""}}, None),
        ({"pause": {"S": "true"}}, None),
        ({"pause": {"S": " OUT "}}, None),  # case and spaces forgiven
        ({"pause": {"S": "out"}}, {"pause": {"S": "in"}}),  # out for all and in for one: both stopped
        (None, {"pause": {"S": "none"}}),
    ],
)
def test_status_shows_the_kill_switch_as_the_lambda_reads_it(
    built: world.World, everyone: dict[str, Any] | None, group: dict[str, Any] | None
) -> None:
    dynamodb = boto3.client("dynamodb")
    for key, attributes in (("*", everyone), (world.GROUP, group)):
        if attributes is not None:
            dynamodb.put_item(
                TableName=built.stack.table, Item={"pk": {"S": "CONTROL"}, "sk": {"S": key}, **attributes}
            )
    lambda_reads = AuditStore(built.stack.table, dynamodb).load_pause(world.GROUP)
    got = status.group_status(
        built.aws, built.stack, built.config.groups[0], NOW, [], signals=lambda g, n: []
    )
    assert got.pause == lambda_reads.value


def _ramped_config(**event: Any) -> Any:
    from surgeguard.config import parse_config

    data = world.config_data()
    data["groups"][0]["events"][0].update(
        ramp=[{"minutes_before_start": 120, "fraction": 0.25}], temporary_max=30, **event
    )
    return parse_config(data)


def test_status_shows_the_freeze_and_temporary_max_the_lambda_holds_from_a_ramp_stage(
    built: world.World,
) -> None:
    from surgeguard.domain.model import EventState
    from surgeguard.domain.sales import plan_event
    from surgeguard.service import event_limits

    group = _ramped_config().groups[0]
    plan = plan_event(group, group.events[0])
    ramp_at = plan.ramp[0][0]
    state = EventState(world.EVENT, 15, "absolute peak", ramp_at, original_max=20)
    AuditStore(built.stack.table, boto3.client("dynamodb")).save_event(world.GROUP, state)
    now = ramp_at + timedelta(minutes=30)  # ramp-1 ran, the pre-warm is still to come
    assert now < plan.prewarm
    lambda_holds = event_limits(group, [state], now)
    got = status.group_status(built.aws, built.stack, group, now, [], signals=lambda g, n: [])
    assert (got.event, got.floor, got.scale_in_frozen, got.temporary_max) == (world.EVENT, 4, True, 30)
    assert (got.floor, got.temporary_max) == (lambda_holds.floors[0].capacity, lambda_holds.max_size)


def test_status_holds_nothing_for_an_event_whose_first_phase_saved_no_item(built: world.World) -> None:
    # The pre-warm was skipped (paused) or never ran: the Lambda freezes nothing and raises no max.
    from surgeguard.domain.sales import plan_event

    group = _ramped_config().groups[0]
    plan = plan_event(group, group.events[0])
    got = status.group_status(
        built.aws, built.stack, group, plan.start + timedelta(minutes=10), [], signals=lambda g, n: []
    )
    assert (got.event, got.floor, got.scale_in_frozen, got.temporary_max) == (world.EVENT, None, False, None)


def test_status_shows_an_event_with_a_damaged_item_with_its_target_unknown(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    boto3.client("dynamodb").put_item(
        TableName=built.stack.table,
        Item={
            "pk": {"S": f"GROUP#{world.GROUP}"},
            "sk": {"S": f"EVENT#{world.EVENT}"},
            "event": {"S": world.EVENT},
            "target": {"S": "fifteen"},  # hand-edited in the console: a string where a number was
            "why": {"S": "absolute peak"},
            "set_at": {"S": plan.prewarm.isoformat()},
        },
    )
    during = plan.start + timedelta(minutes=10)
    got = status.group_status(built.aws, built.stack, group, during, [], signals=lambda g, n: [])
    # The Lambda leaves the item out of its floors; the event's plan still freezes scale-in.
    assert (got.event, got.floor, got.scale_in_frozen, got.damaged_events) == (
        world.EVENT,
        None,
        True,
        [world.EVENT],
    )
    assert got.damage is not None and got.damage.startswith(f"{world.EVENT}: ")  # the Lambda's own detail
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    code = status.main(
        ["--config", str(_config(tmp_path))], aws=built.aws, now=during, signals=lambda g, n: []
    )
    assert code == output.OK
    assert f"item of {world.EVENT} damaged: target unknown" in " ".join(capsys.readouterr().out.split())


def test_an_events_window_runs_from_an_hour_before_its_first_phase_to_its_restores_lateness() -> None:
    from surgeguard.domain.sales import plan_event

    config = world.config()
    group = config.groups[0]
    plan = plan_event(group, group.events[0])
    start, end, groups = report.window(config, world.EVENT)
    # The restore is still acted on 65 minutes late (PHASE_MAX_AGE).
    assert start == plan.first_phase - timedelta(hours=1) and end == plan.restore + timedelta(minutes=65)
    assert [g.name for g in groups] == [world.GROUP]
    with pytest.raises(ValueError, match="no event named"):
        report.window(config, "nope")


@pytest.mark.parametrize(
    "late", [timedelta(0), timedelta(seconds=2), timedelta(minutes=3), timedelta(minutes=64)]
)
def test_an_events_report_keeps_its_own_restore(built: world.World, late: timedelta) -> None:
    # The sale Lambda audits a phase when it runs, at or after its planned time: on time, after Lambda's
    # retries (1 then 2 minutes), or late by up to 65 minutes; the report once ended at the restore.
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    record = {
        **_record(0, "failed", 15, 15, "", event=world.EVENT, phase="restore", scheduled_time="x"),
        "at": (plan.restore + late).isoformat(timespec="milliseconds"),
        "error": "restore of doorbuster: UpdateAutoScalingGroup failed",
    }
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(record)
    start, end, _ = report.window(built.config, world.EVENT)
    got = report.build_group_report(built.aws, built.stack.table, group, start, end, now=NOW, replay=False)
    assert [p.source for p in got.problems] == [f"{world.EVENT}/restore"]


def test_a_report_of_a_window_still_open_counts_up_to_now_only(built: world.World) -> None:
    # Right after the sale: the event's window runs 65 minutes past the restore, and those minutes have
    # not happened. The last level was once carried to the window's end: instance-hours doubled, and
    # the what-if replayed the minutes to come as no demand.
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(
        {
            **_record(0, "applied", 4, 15, "pre-warm 4 -> 15", event=world.EVENT, phase="prewarm"),
            "at": plan.prewarm.isoformat(timespec="milliseconds"),
            "event_target": 15,
        }
    )
    start, end, _ = report.window(built.config, world.EVENT)
    now = plan.end + timedelta(minutes=5, seconds=30)
    got = report.build_group_report(built.aws, built.stack.table, group, start, end, now=now, replay=False)
    before, after = report._minutes(start, plan.prewarm), report._minutes(plan.prewarm, now)
    assert got.desired == [4] * before + [15] * after
    assert len(got.demand) == len(got.desired) and got.instance_hours == pytest.approx(
        (4 * before + 15 * after) / 60
    )
    assert got.open_at == now and "still open: counted up to 2026-12-04 07:05 UTC" in report.markdown(got)
    closed = report.build_group_report(
        built.aws, built.stack.table, group, start, end, now=end + timedelta(days=1), replay=False
    )
    assert closed.open_at is None and len(closed.desired) == report._minutes(start, end)


def test_a_report_of_a_window_not_begun_has_its_peak_and_instance_hours_unknown(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # No minute counted yet: "peak capacity: 0 instances", "instance-hours: 0.0" and peak_capacity 0
    # in the JSON, for a group that held 4 to 8 before the window.
    _write_day(built.stack.table)
    got = report.build_group_report(
        built.aws,
        built.stack.table,
        built.config.groups[0],
        START + timedelta(hours=2),
        START + timedelta(hours=3),
        now=START + timedelta(hours=1),
        replay=False,
    )
    assert (got.peak_capacity, got.instance_hours) == (None, None)
    text = report.markdown(got)
    assert "not begun at 2026-11-27 05:00 UTC" in text
    assert "- peak capacity: unknown (no whole minute of the window to count yet)" in text
    assert "- instance-hours: unknown (no whole minute of the window to count yet)" in text
    assert (report.as_json(got)["peak_capacity"], report.as_json(got)["instance_hours"]) == (None, None)


def test_a_report_older_than_cloudwatch_keeps_reports_the_audit_trail_without_metrics(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # CloudWatch keeps 455 days; the audit table keeps its records. A sale of a year and a half ago was
    # refused whole, as "cannot read AWS", exit 3.
    _write_day(built.stack.table)
    out = tmp_path / "out"
    argv = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--config", str(_config(tmp_path))]
    later = NOW + timedelta(days=500)
    code = report.main([*argv, "--table", built.stack.table, "--out", str(out)], aws=built.aws, now=later)
    assert code == output.OK, capsys.readouterr().err
    markdown = (out / "report.md").read_text()
    assert "CloudWatch not read: CloudWatch keeps metric data for 455 days; 501 days ago is gone" in markdown
    assert "instance-hours: 6.7" in markdown and "scale out 4 -> 8" in markdown
    assert "- minutes over target" not in markdown and "What-if" not in markdown


@pytest.mark.parametrize(("monitoring", "over"), [("basic", 30), ("detailed", 6)])
def test_minutes_over_target_count_each_basic_monitoring_datapoint_as_five_minutes(
    built: world.World, monitoring: str, over: int
) -> None:
    # EC2 basic monitoring publishes CPU every 5 minutes, the average of those 5: read for a window under
    # 15 days old (60 s) each datapoint once counted as one minute. Over (80 vs 50) half of the hour.
    from surgeguard.config import parse_config

    group = parse_config(world.config_data(monitoring=monitoring)).groups[0]
    boto3.client("cloudwatch").put_metric_data(
        Namespace="AWS/EC2",
        MetricData=[
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": "AutoScalingGroupName", "Value": world.GROUP}],
                "Timestamp": START + timedelta(minutes=5 * k),
                "Value": 80.0 if k % 2 else 40.0,
            }
            for k in range(12)
        ],
    )
    got = report.build_group_report(
        built.aws, built.stack.table, group, START, START + timedelta(minutes=60), now=NOW, replay=False
    )
    # Detailed monitoring (a datapoint a minute) that has only these: one minute each.
    assert got.minutes_over_target["cpu"] == over


def test_minutes_over_target_from_five_minute_data_compare_per_minute() -> None:
    """Data older than 15 days comes at 300 s (MetricStat.Period): a 5-minute Sum of requests per target
    is five minutes' worth, compared with the per-minute target after dividing by 5."""

    class FiveMinute:
        def metric_series(self, namespace: str, metric: str, *args: Any) -> dict[datetime, float]:
            if metric == "RequestCountPerTarget":  # 1,200/min, then 800/min, against a 1,000 target
                return {START: 6000.0, START + timedelta(minutes=5): 4000.0}
            return {START: 40.0, START + timedelta(minutes=5): 60.0}  # CPU average, target 50

    group = world.config().groups[0]
    over = report._signal_minutes_over(FiveMinute(), group, START, START + timedelta(minutes=10), 300)
    assert over == {"cpu": 5, "requests_per_target": 5}


def test_a_prewarm_is_judged_by_the_instances_in_service_at_the_doors(built: world.World) -> None:
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    minute = int((plan.prewarm - START).total_seconds() // 60)
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(
        {
            **_record(
                minute, "applied", 4, 15, "pre-warm", event=world.EVENT, phase="prewarm", scheduled_time="x"
            ),
            "event_target": 15,  # as the sale Lambda records every pre-warm that reached its decision
        }
    )
    window = (plan.prewarm - timedelta(minutes=5), plan.start + timedelta(minutes=5))
    (estimated,) = report.build_group_report(
        built.aws, built.stack.table, group, *window, now=plan.start, replay=False
    ).prewarms
    # No group metrics: launch 120 s + warm-up 240 s after the pre-warm, before the doors.
    assert (estimated.on_time, estimated.in_service_at_doors) == (True, None)
    _in_service_at(plan.start, 12)
    (measured,) = report.build_group_report(
        built.aws, built.stack.table, group, *window, now=plan.start, replay=False
    ).prewarms
    assert (measured.on_time, measured.in_service_at_doors) == (False, 12)  # 12 of 15 at the doors
    assert "12 in service at the doors" in report.markdown(
        report.build_group_report(built.aws, built.stack.table, group, *window, now=plan.start, replay=False)
    )


@pytest.mark.parametrize(("max_size", "stranded"), [(30, True), (20, False)], ids=["raised", "restored"])
def test_status_names_a_removed_sale_whose_raised_max_nothing_will_restore(
    built: world.World, max_size: int, stranded: bool
) -> None:
    # GIVEN a flash sale's item (its pre-warm raised MaxSize 20 -> 30), the sale since removed from the
    # config: its restore went with the deploy, and no decision acts on it (README, Failure modes)
    from surgeguard.config import parse_config

    boto3.client("dynamodb").put_item(TableName=built.stack.table, Item=world.sale_item("flash", 20))
    boto3.client("autoscaling").update_auto_scaling_group(AutoScalingGroupName=world.GROUP, MaxSize=max_size)
    group = parse_config(world.config_data()).groups[0]
    got = status.group_status(built.aws, built.stack, group, world.NOW, [], signals=lambda g, n: [])
    # THEN status says what to put back, while MaxSize is still raised (and not once it was restored)
    assert got.stranded_max == (["flash (MaxSize 20 before it)"] if stranded else [])


class _QuietAccount:
    """An account whose groups exist and are idle: only the alarms differ between groups."""

    def __init__(self, firing: list[dict[str, Any]]) -> None:
        self.firing = firing

    def alarms(self, prefix: str) -> list[dict[str, Any]]:
        return self.firing

    def group(self, name: str) -> dict[str, Any]:
        return {"DesiredCapacity": 4, "MinSize": 2, "MaxSize": 20, "Instances": []}

    def launch_times(self, ids: Any) -> dict[str, Any]:
        return {}

    def pause(self, table: str, group: str | None) -> None:
        return None

    def audit_records_newest_first(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return iter([])

    def event_states(self, table: str, group: str) -> tuple[list[Any], None]:
        return [], None


def test_status_maps_alarms_to_groups_by_the_configs_naming_not_by_prefix() -> None:
    """A 250-character group's alarms are named `<group cut>~<hash>` (config.alarm_name), and group
    `web`'s prefix `Surgeguard/web/` also starts `web/api`'s alarms: status must show each group
    exactly its own alarms in ALARM."""
    from types import SimpleNamespace

    from surgeguard.config import parse_config

    stack = SimpleNamespace(name="Surgeguard", table="audit", alarm_prefix="Surgeguard")
    long_name = "prod-eu-west-1-checkout-" + "x" * 226  # a valid ASG name (<= 255)
    cpu = [{"kind": "cpu", "target": 50}]
    cfg = parse_config(
        {"groups": [{"name": n, "min": 2, "max": 20, "signals": cpu} for n in ("web", "web/api", long_name)]}
    )
    specs = {(s.group, s.direction.value): s.name for s in cfg.alarms(stack.alarm_prefix)}
    assert "~" in specs[(long_name, "out")]  # the shortened name: no `Surgeguard/<long name>/` prefix
    account = _QuietAccount(
        [
            {"AlarmName": specs[("web/api", "out")], "StateValue": "ALARM"},
            {"AlarmName": specs[(long_name, "out")], "StateValue": "ALARM"},
            {"AlarmName": specs[("web", "in")], "StateValue": "OK"},
        ]
    )
    got = {s.group: s.alarms for s in status.collect(account, stack, cfg, [], NOW, signals=lambda g, n: [])}
    assert got == {
        "web": [],
        "web/api": ["Surgeguard/web/api/cpu/out"],
        long_name: [specs[(long_name, "out")]],
    }
    # One group on its own (no map from the whole config) derives the same names.
    alone = status.group_status(account, stack, cfg.groups[2], NOW, account.firing, signals=lambda g, n: [])
    assert alone.alarms == [specs[(long_name, "out")]]
    assert status.render([alone], NOW) is not None


# --- pre-warms judged by the event's target, not by the desired the decision left ------------------
def _prewarm_record(minute: int, outcome: str, **fields: Any) -> dict[str, Any]:
    record = {
        **_record(minute, outcome, 0, 0, "pre-warm", event=world.EVENT, phase="prewarm", scheduled_time="x"),
        **fields,
    }
    return {k: v for k, v in record.items() if v is not None}


def _prewarm_window(built: world.World, record: dict[str, Any], in_service: int | None = None) -> Any:
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    record["at"] = plan.prewarm.isoformat(timespec="milliseconds")
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(record)
    if in_service is not None:
        _in_service_at(plan.start, in_service)
    window = (plan.prewarm - timedelta(minutes=5), plan.start + timedelta(minutes=5))
    return report.build_group_report(
        built.aws, built.stack.table, group, *window, now=plan.start, replay=False
    )


@pytest.mark.parametrize("in_service", [None, 4], ids=["estimated", "measured"])
def test_a_prewarm_whose_max_raise_was_applied_but_desired_never_moved_is_not_on_time(
    built: world.World, in_service: int | None
) -> None:
    # As the sale Lambda records a pre-warm with Launch suspended: `applied` (MaxSize 20 -> 30 was
    # raised), desired left at 4, the event's target 15. It was once called "on time", its target 4.
    got = _prewarm_window(
        built,
        _prewarm_record(
            0,
            "applied",
            previous_desired=4,
            new_desired=4,
            event_target=15,
            new_max=30,
            reason="pre-warm ...; Launch is suspended on the group (SuspendedProcesses): would have ...",
        ),
        in_service,
    )
    (prewarm,) = got.prewarms
    assert (prewarm.target, prewarm.on_time, prewarm.in_service_at_doors) == (15, False, in_service)
    text = report.markdown(got)
    assert "target 15" in text and "desired left at 4 of the target 15 (Launch suspended)" in text
    assert "on time" not in text
    assert prewarm.desired_after == 4


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"skip_cause": "paused"}, "skipped (paused)"),
        (
            {"skip_cause": "dry_run", "previous_desired": 4, "new_desired": 15, "event_target": 15},
            "skipped (dry_run)",
        ),
    ],
    ids=["paused", "dry-run"],
)
def test_a_skipped_prewarm_says_so(built: world.World, fields: dict[str, Any], said: str) -> None:
    record = _prewarm_record(0, "skipped", previous_desired=None, new_desired=None)
    got = _prewarm_window(built, {**record, **fields})
    (prewarm,) = got.prewarms
    assert prewarm.on_time is False and said in report.markdown(got)
    assert prewarm.skip_cause == fields["skip_cause"]


def test_a_weighted_group_is_shown_and_judged_in_capacity_units(built: world.World) -> None:
    # 4 c7g.large of weight 2: desired 8 units, all 8 in service. Counted in instances, status said 4 of
    # 8 in service, and a pre-warm to 15 units with 8 instances (16 units) serving was judged late.
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    built.aws._clients["autoscaling"] = world.WeightedInstances(built.aws._clients["autoscaling"], 2)
    got = status.group_status(built.aws, built.stack, group, NOW, [], signals=lambda g, n: [])
    assert (got.desired, got.in_service, got.pending) == (8, 8, 0)
    _in_service_at(plan_event(group, group.events[0]).start, 16, "GroupInServiceCapacity")
    record = _prewarm_record(0, "applied", previous_desired=8, new_desired=15, event_target=15)
    (prewarm,) = _prewarm_window(built, record, in_service=8).prewarms  # and 8 GroupInServiceInstances
    assert (prewarm.in_service_at_doors, prewarm.on_time) == (16, True)


@pytest.mark.parametrize("group_now", ["weighted", "deleted"])
def test_a_weighted_group_collecting_instances_only_is_judged_by_launch_and_warm_up_saying_why(
    built: world.World, group_now: str
) -> None:
    # 8 c7g.large of weight 2 in service at the doors (16 units), GroupInServiceInstances the group's only
    # metric: held against the target of 15 units, 8 was called LATE.
    if group_now == "weighted":
        built.aws._clients["autoscaling"] = world.WeightedInstances(built.aws._clients["autoscaling"], 2)
    else:  # whether it weighed cannot be read back: nor can 8 instances be taken for 8 units
        boto3.client("autoscaling").delete_auto_scaling_group(
            AutoScalingGroupName=world.GROUP, ForceDelete=True
        )
    record = _prewarm_record(0, "applied", previous_desired=8, new_desired=15, event_target=15)
    (prewarm,) = _prewarm_window(built, record, in_service=8).prewarms
    # Judged by launch + warm-up after the pre-warm, which ends before the doors.
    assert (prewarm.in_service_at_doors, prewarm.on_time) == (None, True)
    line = report._prewarm_line(prewarm)
    assert "(launch + warm-up; 8 instances in service at the doors, but the group " in line
    assert "GroupInServiceCapacity has no data there: the units serving are unknown)" in line


def test_a_prewarm_that_reached_its_target_is_on_time_by_the_instances_at_the_doors(
    built: world.World,
) -> None:
    record = _prewarm_record(0, "applied", previous_desired=4, new_desired=15, event_target=15)
    (prewarm,) = _prewarm_window(built, record, in_service=15).prewarms
    assert (prewarm.target, prewarm.on_time) == (15, True)
    assert prewarm.desired_after == 15


def test_a_retried_and_redelivered_prewarm_is_one_prewarm_judged_by_the_attempt_that_landed(
    built: world.World,
) -> None:
    # README, Failure modes: a failed phase is retried by Lambda, and Scheduler may deliver it twice (the
    # second `skipped: duplicate`). Each record once made a pre-warm of its own: "no pre-warm for the
    # doors" twice, and on_time false in the JSON, for a pre-warm that landed in time.
    from surgeguard.domain.sales import plan_event

    plan = plan_event(built.config.groups[0], built.config.groups[0].events[0])
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    for second, outcome, fields in (
        (1, "failed", {"error": "Throttling", "previous_desired": 4}),
        (61, "applied", {"previous_desired": 4, "new_desired": 15, "event_target": 15}),
        (90, "skipped", {"skip_cause": "duplicate"}),
    ):
        record = _prewarm_record(0, outcome, **{"previous_desired": None, "new_desired": None, **fields})
        record["trigger"]["scheduled_time"] = plan.prewarm.isoformat()
        record["at"] = (plan.prewarm + timedelta(seconds=second)).isoformat(timespec="milliseconds")
        store.write_audit(record)
    window = (plan.prewarm - timedelta(minutes=5), plan.start + timedelta(minutes=5))
    got = report.build_group_report(
        built.aws, built.stack.table, built.config.groups[0], *window, now=plan.start
    )
    (prewarm,) = got.prewarms
    assert (prewarm.outcome, prewarm.on_time) == ("applied", True)
    assert prewarm.other_attempts == ("04:47:01 failed (Throttling)", "04:48:30 skipped (duplicate)")
    text = report.markdown(got)
    assert "no pre-warm for the doors" not in text
    assert ": on time (other attempts: 04:47:01 failed (Throttling), 04:48:30 skipped (duplicate))" in text


# --- naive times are UTC, as in `plan --now` ------------------------------------------------------
def test_report_reads_a_time_without_an_offset_as_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        args = report.build_parser().parse_args(["--from", "2026-11-27T04:00", "--to", "2026-11-27T06:00Z"])
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert (args.start, args.end) == (START, START + timedelta(hours=2))
    assert "without an offset: UTC" in report.build_parser().format_help()


# --- desired capacity before the window's first decision ------------------------------------------
def test_a_window_without_decisions_starts_from_the_latest_record_before_it(built: world.World) -> None:
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(10, "applied", 4, 8, "scale out 4 -> 8"))
    store.write_audit(_record(20, "skipped", 8, 12, "dry-run: would have scaled out 8 -> 12"))
    group = built.config.groups[0]
    later = report.build_group_report(
        built.aws,
        built.stack.table,
        group,
        START + timedelta(hours=1),
        START + timedelta(hours=2),
        now=NOW,
        replay=False,
    )
    # Once 0 instances, 0.0 instance-hours: the group held the 8 it was set to (a dry-run changed nothing).
    assert later.desired == [8] * 60 and (later.peak_capacity, later.instance_hours) == (8, 8.0)


def test_what_a_record_in_the_window_saw_outranks_the_record_before_it() -> None:
    # The latest record before the window is three weeks old (desired 4); a skip at 12:30 saw 8 (a hand
    # change since), then 8 -> 12 at 13:00. The series once held 4 until 13:00: 16.0 instance-hours, not 20.
    start = datetime(2026, 11, 27, 12, tzinfo=UTC)
    window = [
        {"at": "2026-11-27T12:30:00+00:00", "outcome": "skipped", "previous_desired": 8, "new_desired": 8},
        {"at": "2026-11-27T13:00:00+00:00", "outcome": "applied", "previous_desired": 8, "new_desired": 12},
    ]
    series = report.desired_series(window, start, 120, before=4)
    assert (series[0], series[45], series[90]) == (8, 8, 12)
    # ... and a hand change seen mid-window takes over from its minute
    seen = [*window, {"at": "2026-11-27T13:20:00+00:00", "outcome": "skipped", "previous_desired": 6}]
    assert report.desired_series(seen, start, 120, before=4)[100] == 6


def test_a_window_with_no_record_in_or_before_it_has_its_capacity_unknown(
    built: world.World, tmp_path: Path
) -> None:
    group = built.config.groups[0]
    got = report.build_group_report(
        built.aws, built.stack.table, group, START, START + timedelta(hours=1), now=NOW, replay=False
    )
    assert (got.peak_capacity, got.instance_hours) == (None, None) and set(got.desired) == {None}
    text = report.markdown(got)
    assert "peak capacity: unknown" in text and "instance-hours: unknown" in text
    argv = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--config", str(_config(tmp_path))]
    out = tmp_path / "out"
    assert (
        report.main([*argv, "--table", built.stack.table, "--out", str(out)], aws=built.aws, now=NOW)
        == output.OK
    )
    assert "peak capacity: unknown" in (out / "report.md").read_text()


# --- forecaster runs are not decisions ------------------------------------------------------------
def _forecaster_run(minute: int) -> dict[str, Any]:
    # As forecast_service._forecast records a run: `applied`, no previous or new desired.
    return {
        "group": world.GROUP,
        "at": (START + timedelta(minutes=minute)).isoformat(timespec="milliseconds"),
        "delivery_id": f"f{minute}",
        "outcome": "applied",
        "reason": f"forecast floor 6 (now 6) for the next 24 h: run {minute}",
        "trigger": {"id": f"x{minute}", "source": "forecaster", "scheduled_time": "x", "execution_id": "x"},
        "forecast": {"mode": "floor", "floor": 6},
    }


def test_report_keeps_forecaster_runs_out_of_the_decisions_and_lists_them_apart(built: world.World) -> None:
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(10, "applied", 4, 8, "scale out 4 -> 8"))
    for minute in (1, 16, 31, 46):
        store.write_audit(_forecaster_run(minute))
    got = report.build_group_report(
        built.aws,
        built.stack.table,
        built.config.groups[0],
        START,
        START + timedelta(hours=1),
        now=NOW,
        replay=False,
    )
    assert got.outcomes == {"applied": 1} and [d.reason for d in got.decisions] == ["scale out 4 -> 8"]
    assert [f.reason for f in got.forecasts][-1] == "forecast floor 6 (now 6) for the next 24 h: run 46"
    text = report.markdown(got)
    timeline = text[text.index("## Timeline") : text.index("## Forecaster runs")]
    assert "forecast floor" not in timeline and "None -> None" not in text
    assert "4 forecaster runs: applied 4" in text


def test_status_shows_the_last_decisions_without_forecaster_runs_and_the_latest_run_apart(
    built: world.World,
) -> None:
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(10, "applied", 4, 8, "scale out 4 -> 8"))
    for hour in range(1, 7):
        store.write_audit(_forecaster_run(60 * hour))
    got = status.group_status(
        built.aws, built.stack, built.config.groups[0], NOW, [], signals=lambda g, n: []
    )
    assert [d["reason"] for d in got.decisions] == ["scale out 4 -> 8"]
    assert got.forecast is not None and got.forecast["reason"].endswith("run 360")
    assert status.render([got], NOW) is not None


# --- a group without the event asked for ----------------------------------------------------------
def test_report_of_an_event_for_a_group_without_it_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = world.config_data()
    data["groups"].append({"name": "api", "min": 1, "max": 4, "signals": [{"kind": "cpu", "target": 50}]})
    path = tmp_path / "surgeguard.yaml"
    path.write_text(yaml.safe_dump(data))
    argv = ["--event", world.EVENT, "--group", "api", "--config", str(path), "--table", "t"]
    # Nothing reaches AWS: the arguments are refused first.
    assert report.main([*argv, "--out", str(tmp_path / "out")], aws=object(), now=NOW) == output.USAGE
    err = capsys.readouterr().err
    assert f"group api has no event {world.EVENT!r}" in err and world.GROUP in err


# --- text from the audit table is shown as written, never read as markup or terminal commands ------
# A reason holds text the Lambda did not choose (an AWS error message, a rejected message's own text, a
# hand edit in the console): rich read "[/x]" in it as a closing tag and raised MarkupError, so status
# crashed on one record; "[red]" was swallowed as a style; ESC sequences reached the terminal.
HOSTILE_REASON = "bad [/x] tag, [red]style[/red], \x1b]0;owned\x07 title and \x1b[2J clear"


def test_status_shows_a_reason_with_markup_and_escapes_as_plain_text(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(
        _record(10, "failed", 4, 4, HOSTILE_REASON)
    )
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    code = status.main(["--config", str(_config(tmp_path))], aws=built.aws, now=NOW, signals=lambda g, n: [])
    text = capsys.readouterr().out
    assert code == output.OK
    assert "\x1b" not in text and "\x07" not in text
    shown = " ".join(text.split())  # the reason column may fold
    assert "bad [/x] tag, [red]style[/red], \\x1b]0;owned\\x07 title and \\x1b[2J clear" in shown


@pytest.mark.parametrize("interval", ["-1", "nan", "inf", "0"])
def test_status_watch_with_an_interval_that_is_no_time_to_wait_is_a_usage_error(
    built: world.World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    interval: str,
) -> None:
    # time.sleep(-1) and time.sleep(nan) raised ValueError out of --watch (a traceback after the first
    # screen); 0 redrew without pause, reading Auto Scaling as fast as it answers; inf never redrew.
    real_sleep = __import__("time").sleep

    def sleep(seconds: float) -> None:
        real_sleep(0 if seconds == float("inf") else seconds)  # ValueError as time.sleep's own
        raise KeyboardInterrupt  # one redraw is enough: Ctrl-C

    monkeypatch.setattr(status.time, "sleep", sleep)
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    argv = ["--config", str(_config(tmp_path)), "--watch", "--interval", interval]
    with pytest.raises(SystemExit) as exit_:
        status.main(argv, aws=built.aws, now=NOW, signals=lambda g, n: [])
    assert exit_.value.code == output.USAGE
    assert "--interval" in capsys.readouterr().err


def test_report_keeps_a_reason_with_newlines_and_escapes_on_its_own_line(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A newline in a reason began Markdown of its own (a heading, a what-if row nobody computed), and
    # its ESC sequences reached the terminal the report is printed on.
    forged = "scale out 4 -> 8\n\n## What-if: forged\n\n| surgeguard | 0.000 |\x1b[2J"
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(10, "applied", 4, 8, forged))
    store.write_audit(_record(20, "failed", 8, 8, f"denied\n# {HOSTILE_REASON}"))
    out = tmp_path / "out"
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    argv = [*window, "--config", str(_config(tmp_path)), "--table", built.stack.table, "--out", str(out)]
    assert report.main(argv, aws=built.aws, now=NOW) == output.OK
    text = capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    for shown in (text, markdown):
        assert "\x1b" not in shown and "\x07" not in shown
        assert [line for line in shown.splitlines() if line.startswith(("#", "|"))] == [
            f"# Surgeguard report: {world.GROUP}",
            "## Pre-warms",
            "## Timeline (applied decisions)",
            "## Rejected and failed",
        ]
        assert (
            "- 04:10 4 -> 8 scale out 4 -> 8 ## What-if: forged | surgeguard | 0.000 |\\x1b\\[2J [" in shown
        )
        assert "- 04:20 failed: denied # bad \\[/x\\] tag" in shown


def test_status_shows_a_decision_time_written_with_another_offset_in_utc(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The column says UTC; a record whose `at` carries another offset (a hand edit, another writer)
    # was cut as written: 00:10-05:00 showed as 00:10, five hours off the record's 05:10 UTC.
    record = _record(70, "applied", 4, 8, "scale out 4 -> 8")
    record["at"] = "2026-11-27T00:10:00.000-05:00"
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(record)
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    argv = ["--config", str(_config(tmp_path))]
    assert status.main([*argv, "--json"], aws=built.aws, now=NOW, signals=lambda g, n: []) == output.OK
    (shown,) = json.loads(capsys.readouterr().out)["groups"][0]["decisions"]
    assert output.utc_time(shown["at"]) == START + timedelta(minutes=70)
    assert shown["at"].endswith("+00:00")
    assert status.main(argv, aws=built.aws, now=NOW, signals=lambda g, n: []) == output.OK
    text = capsys.readouterr().out
    assert "11-27 05:10:00" in text and "11-27 00:10:00" not in text


class ThrottledRedraws:
    """The adapter, except that DescribeAutoScalingGroups is throttled on the reads numbered in
    `throttled` (1: the first screen), as Auto Scaling throttles the whole account when doors open."""

    def __init__(self, real: Any, throttled: set[int]) -> None:
        self._real = real
        self._throttled = throttled
        self.reads = 0

    def group(self, name: str) -> Any:
        from surgeguard_cli.aws import AwsError

        self.reads += 1
        if self.reads in self._throttled:
            raise AwsError("DescribeAutoScalingGroups", "Throttling", "Rate exceeded")
        return self._real.group(name)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize(("throttled", "code"), [({2}, output.OK), ({3}, output.AWS)])
def test_status_watch_keeps_watching_through_a_throttled_redraw(
    built: world.World,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    throttled: set[int],
    code: int,
) -> None:
    # A redraw throttled once ended the watch, "cannot read AWS", just as the doors opened: the one
    # screen an operator watches a sale on. Now the last screen stays, says what failed, and the next
    # redraw tries again; the exit code says whether the latest read failed.
    sleeps = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(status.time, "sleep", sleep)
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    aws = ThrottledRedraws(built.aws, throttled)
    argv = ["--config", str(_config(tmp_path)), "--watch", "--interval", "5"]
    assert status.main(argv, aws=aws, now=NOW, signals=lambda g, n: []) == code
    assert aws.reads == 3  # the first screen and two redraws: the throttled one did not end the watch
    # Off a terminal rich prints the last screen only: the read that failed last is said under it.
    shown = capsys.readouterr()
    assert world.GROUP in shown.out
    assert ("could not read AWS (DescribeAutoScalingGroups: Throttling" in shown.out) == (code == output.AWS)
    assert ("Throttling" in shown.err) == (code == output.AWS)


class KeptAtCoarserPeriods:
    """moto's CloudWatch, except that data older than 15 days is answered at 300 s or coarser only, as
    AWS keeps it (GetMetricData's MetricStat.Period: a finer period over an older range returns
    nothing; moto keeps every datapoint at any period)."""

    def __init__(self, real: Any, now: datetime) -> None:
        self._real = real
        self._now = now

    def get_metric_data(self, **kwargs: Any) -> dict[str, Any]:
        answer = self._real.get_metric_data(**kwargs)
        if kwargs["StartTime"] < self._now - timedelta(days=15):
            for query, result in zip(kwargs["MetricDataQueries"], answer["MetricDataResults"], strict=True):
                if query["MetricStat"]["Period"] % 300:
                    result.update(Timestamps=[], Values=[])
        return dict(answer)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def test_a_prewarm_of_a_sale_over_15_days_ago_is_judged_by_what_served_not_an_estimate(
    built: world.World,
) -> None:
    # The in-service count at the doors was read at 60 s whatever the sale's age: past 15 days CloudWatch
    # answers that with nothing, and a pre-warm 12 of 15 at the doors was judged by launch + warm-up
    # alone, "on time", in a month-end review of the sale.
    from surgeguard.domain.sales import plan_event

    group = built.config.groups[0]
    plan = plan_event(group, group.events[0])
    minute = int((plan.prewarm - START).total_seconds() // 60)
    AuditStore(built.stack.table, boto3.client("dynamodb")).write_audit(
        {
            **_record(
                minute, "applied", 4, 15, "pre-warm", event=world.EVENT, phase="prewarm", scheduled_time="x"
            ),
            "event_target": 15,
        }
    )
    for second in range(0, 300, 60):  # what served through the doors' first minutes
        _in_service_at(plan.start + timedelta(seconds=second), 12)
    later = plan.start + timedelta(days=20)
    built.clients["cloudwatch"] = KeptAtCoarserPeriods(boto3.client("cloudwatch"), later)
    aws = Aws(clients=built.clients)
    window = (plan.prewarm - timedelta(minutes=5), plan.start + timedelta(minutes=5))
    (prewarm,) = report.build_group_report(
        aws, built.stack.table, group, *window, now=later, replay=False
    ).prewarms
    assert (prewarm.on_time, prewarm.in_service_at_doors) == (False, 12)


def test_status_counts_an_instance_ec2_does_not_describe_yet_as_warming(built: world.World) -> None:
    # DescribeInstances answers InvalidInstanceID.NotFound for a whole call naming an instance launched
    # a moment ago: status once ended on it, "cannot read AWS", in the middle of a scale-out.
    (asg,) = boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    launched = asg["Instances"][0]["InstanceId"]
    built.clients["ec2"] = world.NotYetDescribed(built.clients["ec2"], launched)
    a_day_on = datetime.now(UTC) + timedelta(days=1)  # the others launched long before
    got = status.group_status(
        Aws(clients=built.clients), built.stack, built.config.groups[0], a_day_on, [], signals=lambda g, n: []
    )
    assert (got.in_service, got.warming) == (world.RUNNING, 1)


def test_report_keeps_an_outcome_with_newlines_on_the_window_line(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The window line counts records by outcome, each outcome as the item holds it: a hand-edited one
    # holding a newline began Markdown of its own there (a forged heading and what-if row), and its ESC
    # sequences reached the terminal, though every list item was kept to one line.
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(
        _record(10, "applied\n\n## What-if: forged\n\n| surgeguard | 0.000 |\x1b[2J", 4, 8, "x")
    )
    out = tmp_path / "out"
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    argv = [*window, "--config", str(_config(tmp_path)), "--table", built.stack.table, "--out", str(out)]
    assert report.main(argv, aws=built.aws, now=NOW) == output.OK
    text = capsys.readouterr().out
    markdown = (out / "report.md").read_text()
    for shown in (text, markdown):
        assert "\x1b" not in shown
        assert [line for line in shown.splitlines() if line.startswith(("#", "|"))] == [
            f"# Surgeguard report: {world.GROUP}",
            "## Pre-warms",
            "## Timeline (applied decisions)",
        ]
        assert "1 audit records: applied ## What-if: forged | surgeguard | 0.000 |\\x1b\\[2J 1" in shown


def test_report_shows_links_images_and_html_from_the_audit_table_as_text(
    built: world.World, tmp_path: Path
) -> None:
    # A rejected trigger's reason and source quote the alarm's own name, which whoever can create an
    # alarm chooses: in report.md, read in a Markdown viewer, `![](url)` loaded an image from anywhere
    # (a tracking pixel), `[text](url)` became a link saying something else, `<img>` raw HTML.
    from markdown_it import MarkdownIt

    hostile = (
        "Shop ![](https://tracker.example/p.png) [the runbook](https://phish.example) "
        "<img src=https://tracker.example/q.png> \\[esc\\](https://phish.example/2)"
    )
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(10, "applied", 4, 8, f"scale out {hostile}", alarm=hostile))
    store.write_audit(_record(20, "rejected", 8, 8, f"alarm {hostile!r} is not one of Surgeguard's"))
    out = tmp_path / "out"
    window = ["--from", "2026-11-27T04:00Z", "--to", "2026-11-27T05:00Z", "--no-what-if"]
    argv = [*window, "--config", str(_config(tmp_path)), "--table", built.stack.table, "--out", str(out)]
    assert report.main(argv, aws=built.aws, now=NOW) == output.OK
    html = MarkdownIt("commonmark").render((out / "report.md").read_text())
    assert 'tracker.example/p.png"' not in html and "<img src=https" not in html and "<a " not in html
    # Shown as written: the reader sees the very characters.
    assert html.count("Shop ![](https://tracker.example/p.png) [the runbook](https://phish.example)") == 3
    # The timeline's reason and source; the rejection quotes it through repr, its backslashes doubled.
    assert html.count("&lt;img src=https://tracker.example/q.png&gt; \\[esc\\](https://phish.example/2)") == 2
    assert "&lt;img src=https://tracker.example/q.png&gt; \\\\[esc\\\\](https://phish.example/2)" in html


@pytest.mark.parametrize("field", ["previous_desired", "new_desired", "event_target"])
def test_an_audit_item_with_a_negative_capacity_is_damaged_never_counted(
    built: world.World, tmp_path: Path, field: str
) -> None:
    # No group holds -4 instances: a hand edit's -4 was taken as a whole number, and the report said
    # "peak capacity: 8" over instance-hours counted from -4 (or a pre-warm's target of -4 reached).
    _write_day(built.stack.table)
    sort_key = "AUDIT#2026-11-27T04:15:00.000+00:00#minus"
    item = {
        "pk": {"S": f"GROUP#{world.GROUP}"},
        "sk": {"S": sort_key},
        "at": {"S": "2026-11-27T04:15:00+00:00"},
        "outcome": {"S": "applied"},
        "previous_desired": {"N": "8"},
        "new_desired": {"N": "8"},
    }
    boto3.client("dynamodb").put_item(TableName=built.stack.table, Item={**item, field: {"N": "-4"}})
    got = report.build_group_report(
        built.aws,
        built.stack.table,
        built.config.groups[0],
        START,
        START + timedelta(minutes=60),
        now=NOW,
        replay=False,
    )
    assert got.damaged == [f"{sort_key}: `{field}` is '-4', not a whole number of 0 or more"]
    assert got.instance_hours == pytest.approx((4 * 10 + 8 * 30 + 6 * 20) / 60)


@pytest.fixture
def kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The CLI machine's local zone is Asia/Kolkata (+05:30), not UTC."""
    import time

    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


class LaunchTimesWithoutOffset:
    """EC2 (`real`), its LaunchTime written without an offset: botocore then gives a naive datetime, as
    for an endpoint that writes UTC times bare (AWS_ENDPOINT_URL: a local emulator)."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def describe_instances(self, **kwargs: Any) -> dict[str, Any]:
        answer = dict(self._real.describe_instances(**kwargs))
        for reservation in answer["Reservations"]:
            for instance in reservation["Instances"]:
                instance["LaunchTime"] = instance["LaunchTime"].astimezone(UTC).replace(tzinfo=None)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.usefixtures("kolkata")
def test_status_judges_warming_in_utc_whatever_the_machines_zone(built: world.World) -> None:
    # A bare LaunchTime was read in the machine's zone: at +05:30 every instance launched a minute ago
    # read as launched 5.5 hours before, and none was warming
    built.clients["ec2"] = LaunchTimesWithoutOffset(built.clients["ec2"])
    a_minute_on = datetime.now(UTC) + timedelta(minutes=1)
    got = status.group_status(
        Aws(clients=built.clients),
        built.stack,
        built.config.groups[0],
        a_minute_on,
        [],
        signals=lambda g, n: [],
    )
    assert (got.in_service, got.warming) == (world.RUNNING, world.RUNNING)
    a_day_on = datetime.now(UTC) + timedelta(days=1)
    got = status.group_status(
        Aws(clients=built.clients), built.stack, built.config.groups[0], a_day_on, [], signals=lambda g, n: []
    )
    assert got.warming == 0


@pytest.mark.usefixtures("kolkata")
def test_status_orders_decisions_by_their_instants_whatever_the_offset_of_at(
    built: world.World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The table sorts by its key, which holds `at` as written: 10:45+05:30 (05:15 UTC, a hand edit)
    # sorted after 05:20 UTC and was shown as the latest decision
    store = AuditStore(built.stack.table, boto3.client("dynamodb"))
    store.write_audit(_record(70, "applied", 4, 8, "scale out 4 -> 8"))
    edited = _record(75, "applied", 8, 10, "scale out 8 -> 10")
    edited["at"] = "2026-11-27T10:45:00.000+05:30"
    store.write_audit(edited)
    store.write_audit(_record(80, "unchanged", 10, 10, "within target"))
    built.aws.stack = lambda name: built.stack  # type: ignore[method-assign]
    argv = ["--config", str(_config(tmp_path)), "--json"]
    assert status.main(argv, aws=built.aws, now=NOW, signals=lambda g, n: []) == output.OK
    decisions = json.loads(capsys.readouterr().out)["groups"][0]["decisions"]
    assert [(d["at"], d["new"]) for d in decisions] == [
        ("2026-11-27T05:20:00+00:00", 10),
        ("2026-11-27T05:15:00+00:00", 10),
        ("2026-11-27T05:10:00+00:00", 8),
    ]
