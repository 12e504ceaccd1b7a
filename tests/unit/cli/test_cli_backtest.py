"""`surgeguard bench --from-cloudwatch`: the group's ALB RequestCount read back from CloudWatch (moto),
at the period CloudWatch keeps for that age, and run through the bench like any trace."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import cli_world as world
import pytest
import yaml
from moto import mock_aws

from surgeguard_cli import main as cli
from surgeguard_cli import output
from surgeguard_cli.aws import Aws, AwsError, period_for_age

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


def test_period_follows_cloudwatch_retention() -> None:
    # MetricStat.Period (CloudWatch API reference): older than 15 days needs multiples of 300 s,
    # older than 63 days of 3600 s, or nothing comes back for that range; data goes after 455 days.
    assert period_for_age(NOW - timedelta(days=14), NOW) == 60
    assert period_for_age(NOW - timedelta(days=30), NOW) == 300
    assert period_for_age(NOW - timedelta(days=100), NOW) == 3600
    with pytest.raises(ValueError, match="455 days"):
        period_for_age(NOW - timedelta(days=500), NOW)


@pytest.fixture
def history(tmp_path: Path) -> Iterator[Path]:
    with mock_aws():
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        data = [
            {
                "MetricName": "RequestCount",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": "app/shop-alb/1"},
                    {"Name": "TargetGroup", "Value": "targetgroup/shop-web/1"},
                ],
                "Timestamp": now - timedelta(minutes=m),
                "Value": 3000.0 + 1000 * ((m // 60) % 3),
            }
            for m in range(1, 2 * 1440)
        ]
        cloudwatch = boto3.client("cloudwatch")
        for i in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace="AWS/ApplicationELB", MetricData=data[i : i + 1000])
        path = tmp_path / "surgeguard.yaml"
        path.write_text(yaml.safe_dump(world.config_data()))
        yield path


def test_bench_from_cloudwatch_prints_the_series_and_runs_the_policies(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "trace.csv"
    argv = ["bench", "--from-cloudwatch", world.GROUP, "--days", "2", "--config", str(history)]
    code = cli.main([*argv, "--save-trace", str(saved), "--policy", "aws-target-tracking-requests"])
    out = capsys.readouterr().out
    assert code == output.OK, out
    assert "ALB RequestCount from" in out and "rows of 60 s" in out
    assert "fleet assumed (benchmark model, not your instances)" in out
    assert "aws-target-tracking-requests" in out
    rows = saved.read_text().splitlines()
    assert rows[0] == "minute,requests"
    values = {float(row.split(",")[1]) for row in rows[1:]}
    assert {3000.0, 4000.0, 5000.0} <= values


def test_a_group_without_requests_signal_is_a_usage_error(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        cli.main(["bench", "--from-cloudwatch", "nope", "--days", "2", "--config", str(history)])
        == output.USAGE
    )
    assert "no group 'nope'" in capsys.readouterr().err


def test_pagination_follows_next_token() -> None:
    class Paged:
        def __init__(self) -> None:
            self.calls: list[dict[str, object]] = []

        def get_metric_data(self, **kwargs: object) -> dict[str, object]:
            self.calls.append(kwargs)
            first = "NextToken" not in kwargs
            when = NOW if first else NOW + timedelta(minutes=1)
            # PartialData is answered: the rest of it comes with the NextToken.
            status = "PartialData" if first else "Complete"
            answer: dict[str, object] = {
                "MetricDataResults": [
                    {"Id": "m", "Timestamps": [when], "Values": [1.0], "StatusCode": status}
                ]
            }
            if first:
                answer["NextToken"] = "more"
            return answer

    fake = Paged()
    points = Aws(clients={"cloudwatch": fake}).metric_series(
        "N", "M", {}, "Sum", NOW, NOW + timedelta(hours=1), 60
    )
    assert len(points) == 2 and fake.calls[1]["NextToken"] == "more"
    assert fake.calls[0]["MaxDatapoints"] == 100_800


def test_a_metric_query_left_out_of_the_answer_is_aws_unreadable_not_an_empty_history() -> None:
    # CloudWatch returns a result for every query it answers, empty when there is no datapoint: one left
    # out was read as no datapoints, so a backtest replayed a history of gaps and a report counted no
    # minute over target. It is an error (exit 3), as a query answered InternalError is.
    class LeavesItOut:
        def get_metric_data(self, **kwargs: object) -> dict[str, object]:
            return {"MetricDataResults": [], "Messages": []}

    with pytest.raises(AwsError, match="ResultMissing"):
        Aws(clients={"cloudwatch": LeavesItOut()}).metric_series(
            "N", "M", {}, "Sum", NOW, NOW + timedelta(hours=1), 60
        )


def test_the_game_day_from_cloudwatch_replays_the_history_at_its_own_dates(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It had no --start: the history's first minute became 2026-11-27T00:00Z, and its timeline, plot and
    # report window were dated so
    from surgeguard_cli import backtest

    given: list[list[str]] = []
    argv = ["--from-cloudwatch", world.GROUP, "--days", "2", "--config", str(history)]
    assert backtest.run(argv, "gameday", lambda args: given.append(args) or 0) == 0
    (args,) = given
    start = datetime.fromisoformat(args[args.index("--start") + 1])
    assert timedelta(days=1) <= datetime.now(UTC) - start <= timedelta(days=2, hours=1)  # the history's


def test_the_trace_written_from_the_history_keeps_every_digit() -> None:
    # It wrote `{value:g}`: six significant digits, so a minute of 1,234,567 requests (20,576 a second)
    # reached the bench as 1,234,570, and every figure of a busy group's backtest was off.
    from gameday.traces import parse_trace
    from surgeguard_cli.backtest import History

    values = [1_234_567.0, 0.0, 98_765_432.0, 0.1 + 0.2]
    trace = parse_trace(History("shop-web", NOW, 60, values, 1).csv().splitlines(), "shop-web")
    assert trace.demand == tuple(values)


class _OneDayOfRequests:
    """An Aws stand-in answering RequestCount with 1,000 requests in every period asked for."""

    def request_counts(
        self, signal: object, start: datetime, end: datetime, period: int
    ) -> dict[datetime, float]:
        rows = int((end - start).total_seconds() // period)
        return {start + timedelta(seconds=i * period): 1000.0 for i in range(rows)}


@pytest.mark.parametrize("where", ["missing-folder/trace.csv", "."])
def test_a_save_trace_path_that_cannot_be_written_is_a_usage_error(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It died with a traceback (FileNotFoundError, IsADirectoryError) after reading the whole history.
    from surgeguard_cli import backtest

    config = tmp_path / "surgeguard.yaml"
    config.write_text(yaml.safe_dump(world.config_data()))
    argv = ["--from-cloudwatch", world.GROUP, "--days", "1", "--config", str(config)]
    ran: list[list[str]] = []
    code = backtest.run(
        [*argv, "--save-trace", str(tmp_path / where)],
        "bench",
        lambda a: ran.append(a) or 0,
        _OneDayOfRequests(),
    )
    assert code == output.USAGE and not ran
    err = capsys.readouterr().err
    assert err.startswith("surgeguard bench: --save-trace") and err.count("\n") == 1


def test_a_malformed_backtest_option_names_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    # The usage line named the Python file that ran (`main.py: error: ...`), not the command typed.
    from surgeguard_cli import backtest

    with pytest.raises(SystemExit) as caught:
        backtest.run(["--from-cloudwatch", "shop-web", "--days", "x"], "gameday", lambda a: 0)
    assert caught.value.code == output.USAGE
    assert "surgeguard gameday: error: argument --days: invalid int value: 'x'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["bench", "gameday"])
def test_help_of_the_backtest_names_its_options_and_reads_nothing(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # `surgeguard COMMAND --help` is each command's options (the CLI's own usage says so), but with
    # --from-cloudwatch the --help went on to the history's read: --days, --config and --save-trace, which
    # the README documents, were in no help, and the help was only reached after reading CloudWatch.
    from surgeguard_cli import backtest

    class _NoAws:
        def __getattr__(self, name: str) -> object:
            raise AssertionError(f"--help read AWS ({name})")

    ran: list[list[str]] = []
    with pytest.raises(SystemExit) as caught:
        backtest.run(["--from-cloudwatch", "shop-web", "--help"], command, ran.append, _NoAws())
    assert caught.value.code == 0 and not ran
    out = capsys.readouterr().out
    assert out.startswith(f"usage: surgeguard {command} --from-cloudwatch GROUP")
    for option in ("--days", "--config", "--save-trace"):
        assert option in out
