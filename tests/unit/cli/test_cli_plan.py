"""`surgeguard plan`: every phase in UTC and local time, the lead time, the target, and the flags.

Pure: configs are built here, `now` is pinned, nothing reaches AWS.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from surgeguard.config import ConfigError, ScalerConfig, parse_config
from surgeguard_cli import main as cli
from surgeguard_cli import output
from surgeguard_cli.phase_metadata import stale_in_template
from surgeguard_cli.plan import ERROR, WARNING, build_plan, render

NOW = datetime(2026, 11, 1, tzinfo=UTC)
NY = "America/New_York"
REQUESTS = {
    "kind": "requests_per_target",
    "target": 1000,
    "load_balancer": "app/shop-alb/1",
    "target_group": "targetgroup/web/1",
}


def _event(name: str, start: str, end: str, zone: str = NY, **extra: Any) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end, "timezone": zone, "peak_multiplier": 4, **extra}


def _config(
    *events: dict[str, Any], signals: list[dict[str, Any]] | None = None, **group: Any
) -> ScalerConfig:
    return parse_config(
        {
            "groups": [
                {
                    "name": "web",
                    "min": 2,
                    "max": 60,
                    "signals": signals or [{"kind": "cpu", "target": 50}, REQUESTS],
                    "events": list(events),
                    **group,
                },
                {"name": "quiet", "min": 1, "max": 3, "signals": [{"kind": "cpu", "target": 50}]},
            ]
        },
        source="test config",
    )


DOORBUSTER = _event("doorbuster", "2026-11-27T00:00:00", "2026-11-27T02:00:00", temporary_max=80)


def _messages(config: ScalerConfig, now: datetime = NOW) -> list[tuple[str, str | None, str]]:
    return [(f.level, f.event, f.message) for f in build_plan(config, now).findings]


def test_a_clean_event_shows_every_phase_in_utc_and_local_time_with_the_lead_breakdown() -> None:
    report = build_plan(_config(DOORBUSTER), NOW)
    assert not report.findings
    (event,) = report.groups[0].events
    assert {k: f"{v:%Y-%m-%dT%H:%M}" for k, v in event.times().items()} == {
        "pre-warm": "2026-11-27T04:47",
        "doors": "2026-11-27T05:00",
        "end": "2026-11-27T07:00",
        "release": "2026-11-27T07:30",
        "restore": "2026-11-27T08:30",
    }
    text = render(report, "test.yaml")
    assert "pre-warm  2026-11-27 04:47 UTC   Thu 2026-11-26 23:47 EST" in text
    assert "restore   2026-11-27 08:30 UTC   Fri 2026-11-27 03:30 EST" in text
    assert "lead      13m = launch 2m + warm-up 4m + scheduler lateness 2m + margin 5m" in text
    # a multiplier's target depends on last week's demand: not known at plan time
    assert "target    computed at pre-warm from last week's demand" in text
    assert "within [2, 80]" in text
    assert "quiet: no events" in text
    assert text.endswith("0 error(s), 0 warning(s)")


def test_a_multiplier_target_is_said_to_be_computed_at_the_first_phase_from_what_it_multiplies() -> None:
    # The first ramp stage computes the target (a share of it is its floor) and keeps the desired
    # capacity it multiplies for the pre-warm; a group without request history (or without a requests
    # signal) multiplies that capacity, not demand. "at pre-warm from last week's demand (... the
    # group's desired capacity then)" named the wrong moment, and the wrong capacity.
    ramp = [{"minutes_before_start": 60, "fraction": 0.25}]
    (ramped,) = build_plan(_config({**DOORBUSTER, "ramp": ramp}), NOW).groups[0].events
    assert ramped.target == (
        "computed at ramp-1 from last week's demand (4 x requests/min at that time last week / 1000 per "
        "instance; without that history, 4 x the group's desired capacity when ramp-1 runs), within [2, 80]"
    )
    cpu_only = [{"kind": "cpu", "target": 50}]
    (ramped,) = build_plan(_config({**DOORBUSTER, "ramp": ramp}, signals=cpu_only), NOW).groups[0].events
    assert ramped.target == (
        "computed at ramp-1 (4 x the group's desired capacity when ramp-1 runs), within [2, 80]"
    )
    # without a ramp, the pre-warm is the first phase
    (plain,) = build_plan(_config(DOORBUSTER, signals=cpu_only), NOW).groups[0].events
    assert (
        plain.target
        == "computed at pre-warm (4 x the group's desired capacity when pre-warm runs), within [2, 80]"
    )


def test_an_early_release_is_shown_in_its_place_before_the_end() -> None:
    # Released 15 minutes after the doors, two hours before the end: listed after the end, the plan read
    # as if the floor held through the sale.
    early = {**DOORBUSTER, "temporary_max": None, "release_after_doors_minutes": 15}
    (event,) = build_plan(_config(early), NOW).groups[0].events
    # (no temporary max: its restore, an hour after the release, has nothing to put back)
    assert list(event.times()) == ["pre-warm", "doors", "release", "restore", "end"]
    text = render(build_plan(_config(early), NOW), "test.yaml")
    assert text.index("release   2026-11-27 05:15 UTC") < text.index("end       2026-11-27 07:00 UTC")


def test_an_absolute_peak_has_its_target_computed_now() -> None:
    absolute = {**DOORBUSTER, "peak_multiplier": None, "peak_requests_per_minute": 45_000}
    (event,) = build_plan(_config(absolute), NOW).groups[0].events
    assert event.target.startswith("45 (absolute peak 45000 requests/min / 1000 per instance = 45)")


def test_an_absolute_peak_above_the_temporary_max_is_an_error() -> None:
    # config validation refuses this too; the plan re-checks whatever it is handed
    config = _config(DOORBUSTER)
    group = config.groups[0]
    event = group.events[0].model_copy(update={"peak_multiplier": None, "peak_requests_per_minute": 90_000})
    config = config.model_copy(update={"groups": [group.model_copy(update={"events": [event]})]})
    assert _messages(config) == [
        (ERROR, "doorbuster", "the peak needs 90 instances, above temporary_max 80: raise temporary_max")
    ]


def test_a_multiplier_that_overflows_max_even_from_min_is_a_warning() -> None:
    config = _config(_event("big", "2026-11-27T00:00:00", "2026-11-27T01:00:00", peak_multiplier=40))
    ((level, _, message),) = _messages(config)
    assert level == WARNING and "80 instances, above max 60" in message


def test_overlapping_events_are_flagged_an_error_when_a_restore_would_cut_max_mid_event() -> None:
    early = _event("early", "2026-11-27T00:00:00", "2026-11-27T02:00:00", temporary_max=80)
    late = _event("late", "2026-11-27T03:00:00", "2026-11-27T04:00:00")  # pre-warm 02:47 < restore 03:30
    ((level, event, message),) = _messages(_config(early, late))
    assert (level, event) == (ERROR, None)
    assert message.startswith("events early and late overlap (first phase to restore): early's restore at")
    # without any temporary max the overlap is only a warning; far apart, nothing
    plain = {**early, "temporary_max": None}
    assert [m[0] for m in _messages(_config(plain, late))] == [WARNING]
    apart = _event("apart", "2026-11-27T10:00:00", "2026-11-27T11:00:00")
    assert _messages(_config(early, apart)) == []


def test_an_overlap_is_an_error_only_where_a_temporary_max_is_put_back_during_the_other_sale() -> None:
    # early raises no max, so its restore (03:30 UTC, during late) puts nothing back; late's temporary
    # max is restored after early is over. The plan said "early's restore ... would put MaxSize back
    # during the other", an error (exit 1) for a restore that does nothing.
    early = _event("early", "2026-11-27T00:00:00", "2026-11-27T02:00:00")
    late = _event("late", "2026-11-27T03:00:00", "2026-11-27T04:00:00", temporary_max=80)
    ((level, event, message),) = _messages(_config(early, late))
    assert (level, event) == (WARNING, None)
    assert message == (
        "events early and late overlap (first phase to restore): their floors and releases interleave; "
        "merge them or move one"
    )
    # a sale inside the other, its temporary max restored while the other is still on: an error, named
    inner = _event("inner", "2026-11-26T23:00:00", "2026-11-26T23:30:00", temporary_max=80)
    outer = _event("outer", "2026-11-26T22:00:00", "2026-11-27T03:00:00")
    ((level, _, message),) = _messages(_config(outer, inner))
    assert level == ERROR
    assert "inner's restore at 2026-11-27 06:00 UTC would put MaxSize back during the other" in message


def test_an_overlap_that_begins_with_a_ramp_stage_is_flagged() -> None:
    # A ramp stage raises MaxSize and sets a floor as a pre-warm does: late's early access (ramp-1 07:17
    # UTC) is on when early restores (08:30), though late's own pre-warm (08:47) comes after it.
    early = _event("early", "2026-11-27T00:00:00", "2026-11-27T02:00:00", temporary_max=80)
    ramp = [{"minutes_before_start": 90, "fraction": 0.25}]
    late = _event("late", "2026-11-27T04:00:00", "2026-11-27T05:00:00", temporary_max=80, ramp=ramp)
    ((level, event, message),) = _messages(_config(early, late))
    assert (level, event) == (ERROR, None)
    assert "events early and late overlap" in message and "2026-11-27 08:30 UTC" in message


def test_a_start_that_does_not_exist_on_the_spring_forward_night_is_refused_by_the_config() -> None:
    # 2027-03-14 02:30 in New York: the clocks jump from 02:00 to 03:00. `plan` once called it an error
    # while the stack deployed it all the same (a start read as 03:30, after an end at 02:45)
    with pytest.raises(ConfigError, match="start 2027-03-14T02:30:00 does not exist in America/New_York"):
        _config(_event("ghost", "2027-03-14T02:30:00", "2027-03-14T04:00:00"))


def test_an_ambiguous_start_on_the_fall_back_night_is_a_warning() -> None:
    # 2026-11-01 01:30 in New York happens twice; the pre-warm (01:17) does too
    config = _config(_event("twice", "2026-11-01T01:30:00", "2026-11-01T01:50:00"))
    found = _messages(config, now=datetime(2026, 10, 1, tzinfo=UTC))
    assert {level for level, _, _ in found} == {WARNING}
    texts = " | ".join(message for _, _, message in found)
    assert "start 2026-11-01 01:30 occurs twice in America/New_York" in texts
    assert "01:30 EDT = 05:30 UTC" in texts
    assert "pre-warm at 2026-11-01 01:17 local occurs twice" in texts
    assert "2026-11-01T05:17" in texts


def test_a_dst_change_between_pre_warm_and_doors_is_a_warning_with_the_real_lead() -> None:
    # Berlin springs forward at 02:00 CET: doors 03:10 CEST, pre-warm 13 min earlier is 01:57 CET
    config = _config(_event("spring", "2027-03-28T03:10:00", "2027-03-28T05:00:00", zone="Europe/Berlin"))
    ((level, _, message),) = _messages(config)
    assert level == WARNING
    assert "between pre-warm (01:57 CET) and doors (03:10 CEST)" in message
    assert "the clocks show 73m between them, the real lead is 13m" in message


def test_a_group_with_more_than_125_sale_schedules_is_no_error() -> None:
    # 125 is Auto Scaling's limit on a group's scheduled actions; Surgeguard's phases are EventBridge
    # Scheduler schedules (no limit per group, 10,000,000 a Region): 42 sales (126 schedules) were refused
    # by plan. What a group's schedules can fill is a stack's resources, which synth checks and names.
    day = datetime(2027, 1, 1)
    events = [
        _event(
            f"e{i}",
            f"{day + timedelta(days=i):%Y-%m-%dT12:00:00}",
            f"{day + timedelta(days=i):%Y-%m-%dT13:00:00}",
        )
        for i in range(42)
    ]
    assert _messages(_config(*events)) == []


def test_events_already_past_are_warnings() -> None:
    config = _config(DOORBUSTER)
    assert _messages(config, now=datetime(2026, 11, 27, 5, 0, tzinfo=UTC)) == [
        (WARNING, "doorbuster", "prewarm already past: only the later phases will be scheduled")
    ]
    assert _messages(config, now=datetime(2026, 12, 1, tzinfo=UTC)) == [
        (WARNING, "doorbuster", "already past: nothing will be scheduled")
    ]


def _write(tmp_path: Path, config: ScalerConfig) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.model_dump(mode="json", exclude_none=True)))
    return str(path)


def test_the_command_exits_1_on_errors_and_0_on_warnings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    early = _event("early", "2026-11-27T00:00:00", "2026-11-27T02:00:00", temporary_max=80)
    late = _event("late", "2026-11-27T03:00:00", "2026-11-27T04:00:00")
    overlapping = _write(tmp_path, _config(early, late))
    assert cli.main(["plan", "--config", overlapping, "--now", "2026-11-01T00:00:00Z"]) == 1
    out = capsys.readouterr().out
    assert "error: events early and late overlap" in out
    assert out.rstrip().endswith("1 error(s), 0 warning(s)")
    fine = _write(tmp_path, _config(DOORBUSTER))
    assert cli.main(["plan", "--config", fine, "--now", "2026-11-27T05:00"]) == 0
    assert "0 error(s), 1 warning(s)" in capsys.readouterr().out


def test_an_invalid_config_is_reported_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"groups": []}))
    assert cli.main(["plan", "--config", str(path)]) == 2  # a usage error, like every command
    assert "is invalid" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-16", "latin-1"])
@pytest.mark.parametrize("command", ["plan", "preflight", "status", "report"])
def test_a_config_that_is_not_utf8_is_a_usage_error(
    command: str, encoding: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Saved by an editor as UTF-16 (or Latin-1 with an accent in it): a UnicodeDecodeError traceback,
    # exit 1, where every other unreadable config exits 2 with a message.
    path = tmp_path / "surgeguard.yaml"
    path.write_bytes("# caf\u00e9 team\ngroups: []\n".encode(encoding))
    extra = ["--event", "x"] if command == "report" else []
    assert cli.main([command, "--config", str(path), *extra]) == output.USAGE
    err = capsys.readouterr().err
    assert f"config {path} is not UTF-8" in err and "Traceback" not in err


# --- launch times learned from the group's history --------------------------------------------------
def test_a_launch_history_slower_than_configured_is_flagged_with_the_value_to_set() -> None:
    # GIVEN launch_seconds 120, but the group's recent launches took up to 200 s (p90)
    report = build_plan(_config(DOORBUSTER, launch_seconds=120), NOW, {"web": 200})
    # THEN one warning says by how much the pre-warm would be late, and what to set
    ((level, event, message),) = [(f.level, f.event, f.message) for f in report.findings]
    assert (level, event) == (WARNING, None)
    assert "took up to 200s, more than launch_seconds 120s" in message
    assert "80s late; set launch_seconds: 200" in message


@pytest.mark.parametrize("learned", [None, 90, 120])
def test_a_launch_history_within_the_configured_time_or_none_says_nothing(learned: int | None) -> None:
    assert not build_plan(_config(DOORBUSTER, launch_seconds=120), NOW, {"web": learned}).findings


def test_the_p90_launch_time_needs_a_few_real_launches() -> None:
    from surgeguard.domain.sales import learned_launch_seconds

    assert learned_launch_seconds([100.0, 110.0]) is None
    assert learned_launch_seconds([100.0, 110.0, 300.5]) == 301
    assert learned_launch_seconds([float(s) for s in range(100, 200)]) == 189


class FakeActivities:
    """DescribeScalingActivities in two pages: launches (one failed, one still running) and a terminate."""

    def __init__(self) -> None:
        start = datetime(2026, 11, 20, 12, tzinfo=UTC)
        launch = "Launching a new EC2 instance: i-0123"
        self.pages = [
            {
                "Activities": [
                    {
                        "Description": launch,
                        "StatusCode": "Successful",
                        "StartTime": start,
                        "EndTime": start + timedelta(seconds=150),
                    },
                    {
                        "Description": launch,
                        "StatusCode": "Failed",
                        "StartTime": start,
                        "EndTime": start + timedelta(seconds=10),
                    },
                    {
                        "Description": "Terminating EC2 instance: i-0456",
                        "StatusCode": "Successful",
                        "StartTime": start,
                        "EndTime": start + timedelta(seconds=60),
                    },
                ],
                "NextToken": "page-2",
            },
            {
                "Activities": [
                    {
                        "Description": launch,
                        "StatusCode": "Successful",
                        "StartTime": start,
                        "EndTime": start + timedelta(seconds=95),
                    },
                    {"Description": launch, "StatusCode": "InProgress", "StartTime": start},
                ]
            },
        ]
        self.calls: list[dict[str, Any]] = []

    def describe_scaling_activities(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return self.pages[len(self.calls) - 1]


def test_launch_durations_read_only_successful_launches_across_pages() -> None:
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    fake = FakeActivities()
    assert AutoScalingFleet(fake).launch_durations("web") == [150.0, 95.0]
    assert fake.calls[1]["NextToken"] == "page-2"


def test_check_groups_flags_other_scalers_on_managed_groups(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 8: a native scaling policy left attached, or a scheduled action, changes the group behind
    Surgeguard's back; `plan --check-groups` reads them (moto) and says so."""
    import boto3
    from moto import mock_aws

    path = _write(tmp_path, _config(DOORBUSTER))
    with mock_aws():
        ec2 = boto3.client("ec2")
        # Our own image: moto's default AMIs are not loaded in a process where another test switched them off.
        image = ec2.register_image(Name="web", RootDeviceName="/dev/xvda")["ImageId"]
        ec2.create_launch_template(LaunchTemplateName="web-lt", LaunchTemplateData={"ImageId": image})
        autoscaling = boto3.client("autoscaling")
        name, *others = (g.name for g in parse_config(json.loads(Path(path).read_text())).groups)
        for each in (name, *others):  # every group the config names is there: only `name` scaled so
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=each,
                MinSize=1,
                MaxSize=5,
                LaunchTemplate={"LaunchTemplateName": "web-lt"},
                AvailabilityZones=["us-east-1a"],
            )
        assert cli.main(["plan", "--config", path, "--now", "2026-11-01T00:00Z", "--check-groups"]) == 0
        capsys.readouterr()
        autoscaling.put_scaling_policy(
            AutoScalingGroupName=name,
            PolicyName="legacy-tt",
            PolicyType="TargetTrackingScaling",
            TargetTrackingConfiguration={
                "PredefinedMetricSpecification": {"PredefinedMetricType": "ASGAverageCPUUtilization"},
                "TargetValue": 50.0,
            },
        )
        autoscaling.put_scheduled_update_group_action(
            AutoScalingGroupName=name,
            ScheduledActionName="nightly-down",
            Recurrence="0 2 * * *",
            DesiredCapacity=1,
        )
        argv = ["plan", "--config", path, "--now", "2026-11-01T00:00Z", "--check-groups", "--json"]
        assert cli.main(argv) == 1
    data = json.loads(capsys.readouterr().out)
    messages = {(f["level"], f["message"].split(" (")[0]) for f in data["findings"]}
    assert (ERROR, "scaling policies attached") in messages
    assert (WARNING, "scheduled actions on the group") in messages
    assert data["errors"] == 1 and data["groups"][0]["events"][0]["times"]["doors"]


def test_check_groups_of_a_group_the_account_does_not_have_is_an_error_not_a_clean_bill(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """DescribePolicies and DescribeScheduledActions answer an empty list for a group that does not
    exist: a misspelt name, or the wrong region or profile, once passed `--check-groups`, exit 0, with
    nothing checked."""
    import boto3
    from moto import mock_aws

    path = _write(tmp_path, _config(DOORBUSTER))
    names = [g.name for g in parse_config(json.loads(Path(path).read_text())).groups]
    with mock_aws():
        autoscaling = boto3.client("autoscaling")
        assert autoscaling.describe_policies(AutoScalingGroupName=names[0])["ScalingPolicies"] == []
        argv = ["plan", "--config", path, "--now", "2026-11-01T00:00Z", "--check-groups", "--json"]
        assert cli.main(argv) == 1
    data = json.loads(capsys.readouterr().out)
    errors = [f for f in data["findings"] if f["level"] == ERROR]
    assert [f["group"] for f in errors] == names
    said = "in this account and region: its scaling policies and scheduled actions could not be checked"
    assert all(
        f["message"]
        == f"no Auto Scaling group {f['group']} {said} (check the name, the region and the profile)"
        for f in errors
    )


# --- a stored cloud assembly about to be deployed (`--assembly`) ------------------------------------
def _phase_schedule(group: str, event: str, phase: str, planned: str, stale_after: str) -> dict[str, Any]:
    metadata = {"group": group, "event": event, "phase": phase, "planned_utc": planned}
    return {
        "Type": "AWS::Scheduler::Schedule",
        "Metadata": {"Surgeguard": {**metadata, "stale_after_utc": stale_after}},
        "Properties": {"ScheduleExpression": f"at({planned[:19]})"},
    }


def test_a_stored_assembly_whose_nested_stacks_hold_late_phases_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an assembly synthesized earlier, its sale schedules in a nested stack (as many groups get):
    # the parent holds only the per-minute re-evaluation, which has no phase to go stale
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    parent = {"Resources": {"Reevaluate": {"Type": "AWS::Scheduler::Schedule", "Properties": {}}}}
    (assembly / "Surgeguard.template.json").write_text(json.dumps(parent))
    nested = {
        "Resources": {
            "WebDoorbusterPrewarm": _phase_schedule(
                "web", "doorbuster", "prewarm", "2026-11-27T04:38:00Z", "2026-11-27T05:43:00Z"
            ),
            "LegacySaleRestore": _phase_schedule(
                "legacy", "sale", "restore", "2026-11-27T04:40:00Z", "2026-11-27T05:45:00Z"
            ),
        }
    }
    (assembly / "SurgeguardShard03ABC.nested.template.json").write_text(json.dumps(nested))
    args = ["plan", "--config", _write(tmp_path, _config(DOORBUSTER)), "--assembly", str(assembly)]
    # WHEN it is checked a minute before the pre-warm's planned time: nothing is due
    assert cli.main([*args, "--now", "2026-11-27T04:37Z"]) == 0
    assert "error:" not in capsys.readouterr().out
    # THEN from its planned time on the pre-warm is an error under its event, long before it goes stale
    # (it may have fired and deleted its own schedule, or be refused as a past at() time)
    assert cli.main([*args, "--now", "2026-11-27T04:38Z"]) == 1
    out = capsys.readouterr().out
    assert (
        "    error: the cloud assembly holds the prewarm schedule, planned 2026-11-27T04:38:00Z, which is "
        "not in the future: creating it may be refused (a past at() time), and once it has fired it has "
        "deleted itself, so updating it fails (ResourceNotFound) and rolls the deploy back; synthesize "
        "again (cdk synth), which leaves out the phases already past, and deploy that assembly"
    ) in out
    assert "1 error(s)" in out and "legacy" not in out
    # AND past its stale time it also says the Lambda would no longer act on it; after two more minutes,
    # so is a phase of a group this config no longer declares
    assert cli.main([*args, "--now", "2026-11-27T05:45Z"]) == 1
    out = capsys.readouterr().out
    assert (
        "    error: the cloud assembly holds the prewarm schedule, planned 2026-11-27T04:38:00Z (not acted "
        "on after 2026-11-27T05:43:00Z), which is not in the future: "
    ) in out
    assert "error: legacy/sale: the cloud assembly holds the restore schedule (not declared in " in out
    assert "2 error(s)" in out
    # AND a folder that is no assembly is a usage error
    assert cli.main([*args[:-1], str(tmp_path), "--now", "2026-11-27T05:45Z"]) == 2
    assert "holds no *.template.json" in capsys.readouterr().err


def test_a_phase_that_already_fired_is_flagged_long_before_it_goes_stale() -> None:
    # Synthesized minutes before its time, deployed minutes after: the schedule fired and deleted
    # itself, so any change to it in this deploy is an UpdateSchedule on nothing (REAL-AWS row 19(a)).
    template = {
        "Resources": {
            "Prewarm": _phase_schedule(
                "web", "doorbuster", "prewarm", "2026-11-27T04:38:00Z", "2026-11-27T05:43:00Z"
            )
        }
    }
    assert stale_in_template(template, datetime(2026, 11, 27, 4, 37, 59, tzinfo=UTC)) == []
    for now in (datetime(2026, 11, 27, 4, 38, tzinfo=UTC), datetime(2026, 11, 27, 4, 43, tzinfo=UTC)):
        (due,) = stale_in_template(template, now)
        assert (due.phase, due.planned_utc, due.stale) == ("prewarm", "2026-11-27T04:38:00Z", False)
    (due,) = stale_in_template(template, datetime(2026, 11, 27, 5, 43, tzinfo=UTC))
    assert due.stale  # and from stale_after on, the Lambda would skip it as well


@pytest.mark.parametrize(
    ("resources", "said"),
    [
        ({"Sale": {"Type": "AWS::Scheduler::Schedule", "Metadata": {"Surgeguard": "prewarm"}}}, "metadata"),
        (
            {"Sale": _phase_schedule("web", "doorbuster", "prewarm", "2026-11-27T04:38:00Z", "soon")},
            "'soon' is not a UTC time",
        ),
        (
            {
                "Sale": _phase_schedule(
                    "web", "doorbuster", "prewarm", "2026-11-27T04:38:00Z", "2026-11-27T05:43"
                )
            },
            "is not a UTC time",
        ),
        ([], "SurgeguardShard0.nested.template.json"),
    ],
    ids=["not-a-mapping", "not-a-time", "no-offset", "resources-not-a-mapping"],
)
def test_a_damaged_assembly_is_a_usage_error_not_a_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], resources: Any, said: str
) -> None:
    # A template edited after synth (or not Surgeguard's) must not read as "nothing stale".
    assembly = tmp_path / "cdk.out"
    assembly.mkdir()
    (assembly / "SurgeguardShard0.nested.template.json").write_text(json.dumps({"Resources": resources}))
    config = _write(tmp_path, _config(DOORBUSTER))
    assert (
        cli.main(["plan", "--config", config, "--assembly", str(assembly), "--now", "2026-11-27T05:00Z"]) == 2
    )
    err = capsys.readouterr().err
    assert "SurgeguardShard0.nested.template.json" in err and said in err


@pytest.mark.parametrize(
    ("environment", "error"),
    [
        ({"AWS_DEFAULT_REGION": None, "AWS_REGION": None}, "NoRegionError"),
        ({"AWS_PROFILE": "not-there"}, "ProfileNotFound"),
    ],
    ids=["no-region", "no-profile"],
)
@pytest.mark.parametrize("flag", ["--learn-launch-times", "--check-groups"])
def test_aws_unreachable_where_the_sdk_makes_its_client_exits_3_with_a_message(
    environment: dict[str, str | None],
    error: str,
    flag: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # botocore raises these making the client, outside the adapter's call: `--learn-launch-times`
    # once let them out as a traceback and exit 1, the code for "errors in the plan".
    from surgeguard.adapters import clients

    path = _write(tmp_path, _config(DOORBUSTER))
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
    for name, value in environment.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    clients.client.cache_clear()  # a client made with a region earlier would hide the missing one
    try:
        code = cli.main(["plan", "--config", path, "--now", "2026-11-01T00:00Z", flag])
    finally:
        clients.client.cache_clear()
    err = capsys.readouterr().err
    assert code == 3
    assert (
        err.startswith("surgeguard plan: cannot read AWS: ")
        and f"{error}: " in err
        and "Traceback" not in err
    )


def test_a_launch_history_that_cannot_be_read_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # DescribeScalingActivities denied was taken as no history: the plan printed, exit 0.
    from botocore.exceptions import ClientError

    from surgeguard.adapters import clients

    def deny(model: Any, **_: Any) -> None:
        if model.name == "DescribeScalingActivities":
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, model.name)

    path = _write(tmp_path, _config(DOORBUSTER))
    with mock_aws():
        clients.client.cache_clear()
        try:
            clients.client("autoscaling").meta.events.register("before-call", deny)
            code = cli.main(["plan", "--config", path, "--now", "2026-11-01T00:00Z", "--learn-launch-times"])
        finally:
            clients.client.cache_clear()
    err = capsys.readouterr().err
    assert code == output.AWS
    assert err.startswith("surgeguard plan: cannot read AWS: DescribeScalingActivities: AccessDenied: ")
    assert "launch history" in err


@pytest.mark.parametrize("now", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "yesterday"])
def test_a_now_that_is_no_time_utc_can_hold_is_a_usage_error(
    now: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # an ISO time past datetime's ends once crashed with an OverflowError traceback (exit 1)
    path = _write(tmp_path, _config(DOORBUSTER))
    assert cli.main(["plan", "--config", path, "--now", now]) == 2
    assert "is not an ISO 8601 time" in capsys.readouterr().err
