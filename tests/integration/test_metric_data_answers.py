"""What the decision reads when GetMetricData answers as real CloudWatch does and moto does not: results
split across pages (StatusCode PartialData with a NextToken, one query's datapoints on several pages),
answers that leave a query out, and percentiles over too few requests to mean anything.

CloudWatch's shapes (API_MetricDataResult, API_GetMetricData): a result is Complete, PartialData ("an
incomplete set of data points were returned ... use the NextToken value ... to get more data points"),
InternalError or Forbidden; ScanBy TimestampDescending returns the newest data first and paginates at
MaxDatapoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from surgeguard.adapters import clients
from surgeguard.adapters.cloudwatch import CloudWatchSignals
from surgeguard.adapters.errors import AwsCallError
from surgeguard.config import parse_config

from .alarm_events import SNS, alarm_event
from .support import (
    CONFIG,
    LOAD_BALANCER,
    T0,
    WEB_TARGET_GROUP,
    alarm_for,
    at,
    configure_web,
    desired,
    reevaluation,
    set_alarm_state,
    set_desired,
)

Page = dict[str, Any]


class PagedMetricData:
    """CloudWatch's GetMetricData answering from fixed pages: each page is the answer to the request
    carrying the token that the page before it returned (none for the first). A list of pages for a
    token answers its requests in turn (the last one again after that)."""

    def __init__(self, pages: dict[str | None, Page | list[Page]]) -> None:
        self.pages = pages
        self.tokens: list[str | None] = []
        self.queried: list[list[str]] = []

    def record_request(self, params: dict[str, Any], **_: Any) -> None:
        self.tokens.append(params.get("NextToken"))
        self.queried.append([q["Id"] for q in params.get("MetricDataQueries", [])])

    def answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        token = self.tokens[-1]
        pages = self.pages[token]
        in_turn = pages if isinstance(pages, list) else [pages]
        page = in_turn[min(self.tokens.count(token), len(in_turn)) - 1]
        status = 400 if "Error" in page else 200
        http = AWSResponse("https://monitoring.us-east-1.amazonaws.com/", status, {}, None)
        return http, {"Messages": [], **page, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.fixture
def metric_data() -> Iterator[Callable[[dict[str | None, Any]], PagedMetricData]]:
    events = clients.client("cloudwatch").meta.events
    installed: list[PagedMetricData] = []

    def install(pages: dict[str | None, Any]) -> PagedMetricData:
        fake = PagedMetricData(pages)
        events.register("before-parameter-build.monitoring.GetMetricData", fake.record_request)
        events.register("before-call.monitoring.GetMetricData", fake.answer)
        installed.append(fake)
        return fake

    yield install
    for fake in installed:
        events.unregister("before-parameter-build.monitoring.GetMetricData", fake.record_request)
        events.unregister("before-call.monitoring.GetMetricData", fake.answer)


def _decide_cpu_scale_in(invoke: Callable[..., Any]) -> None:
    """CPU's scale-in alarm in ALARM, its SNS message delivered at T0 + 40 s."""
    set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")
    invoke(alarm_event(SNS, alarm_for("web", "cpu", "in"), at(40), metric="CPUUtilization"))


def _requests_reading(record: dict[str, Any]) -> dict[str, Any]:
    (requests,) = [r for r in record["inputs"]["readings"] if r["signal_id"] == "requests_per_target"]
    return requests


def _result(query_id: str, points: list[tuple[int, float]], status: str = "Complete") -> dict[str, Any]:
    """One MetricDataResult; `points` as (seconds after T0, value), newest first (TimestampDescending)."""
    return {
        "Id": query_id,
        "Timestamps": [at(seconds) for seconds, _ in points],
        "Values": [value for _, value in points],
        "StatusCode": status,
    }


def test_a_signal_split_across_pages_is_read_from_all_of_them(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50) and 900 requests per target (of 1000): the requests hold all 8
    # AND CloudWatch answers in pages: the requests query PartialData with nothing on the first page, its
    # newest minute on the second, an older quiet minute on the third
    set_desired("web", 8)
    fake = metric_data(
        {
            None: {
                "MetricDataResults": [
                    _result("s0m1", [(-21, 20.0)]),
                    _result("s1m1", [], "PartialData"),
                ],
                "NextToken": "page-2",
            },
            "page-2": {
                "MetricDataResults": [_result("s1m1", [(-21, 900.0)], "PartialData")],
                "NextToken": "page-3",
            },
            "page-3": {"MetricDataResults": [_result("s1m1", [(-321, 100.0)])]},
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN every page was read, and the requests signal is its newest minute (the first page alone read
    # as no request at all, zero, and scaled 8 -> 4; the last page's older minute is not the latest)
    assert fake.tokens == [None, "page-2", "page-3"]
    record = audit("web")[-1]
    requests = _requests_reading(record)
    assert requests["value"] == 900.0, record["reason"]
    assert desired() == 8, record["reason"]


def test_a_query_left_out_of_the_answer_is_unknown_not_zero(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50), and an answer with no result at all for the requests query
    # (CloudWatch returns one result per query asked, empty when it has no datapoint) beside one for an
    # Id never asked for
    set_desired("web", 8)
    metric_data(
        {
            None: {
                "MetricDataResults": [
                    _result("s0m1", [(-21, 20.0)]),
                    _result("s9m1", [(-21, 900.0)]),
                ]
            }
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN the requests signal is unknown, as a query CloudWatch failed is, and holds the scale-in (read
    # as a quiet ALB, zero requests, it scaled 8 -> 4); the stray Id is nobody's reading
    record = audit("web")[-1]
    requests = _requests_reading(record)
    assert requests["value"] is None and requests["unanswered"] is True, record["reason"]
    assert desired() == 8, record["reason"]
    assert record["outcome"] == "unchanged" and "requests_per_target could not be read" in record["reason"]


def test_a_query_that_failed_on_a_page_is_read_from_the_page_its_token_brings(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50) and 900 requests per target (of 1000): the requests hold all 8
    # AND CloudWatch answers the requests query InternalError on the first page, with a NextToken, and
    # answers it on the page that token brings (API_MetricDataResult: "InternalError indicates that an
    # error occurred. Retry your request using NextToken, if present.")
    set_desired("web", 8)
    fake = metric_data(
        {
            None: {
                "MetricDataResults": [
                    _result("s0m1", [(-21, 20.0)]),
                    _result("s1m1", [], "InternalError"),
                ],
                "NextToken": "page-2",
            },
            "page-2": {"MetricDataResults": [_result("s1m1", [(-21, 900.0)])]},
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN the requests signal is its minute from the second page: the retry the token is for answered
    # it (it was read as unknown, "could not be read", whatever the retry brought)
    assert fake.tokens == [None, "page-2"]
    record = audit("web")[-1]
    requests = _requests_reading(record)
    assert requests["value"] == 900.0 and requests.get("unanswered") is not True, record["reason"]
    assert desired() == 8, record["reason"]
    assert "could not be read" not in record["reason"]


def test_a_query_that_failed_on_the_last_page_is_asked_again_once(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50) and 900 requests per target (of 1000): the requests hold all 8
    # AND CloudWatch answers the requests query InternalError with no NextToken to retry through, then
    # answers it when the request is made again
    set_desired("web", 8)
    fake = metric_data(
        {
            None: [
                {
                    "MetricDataResults": [
                        _result("s0m1", [(-21, 20.0)]),
                        _result("s1m1", [], "InternalError"),
                    ]
                },
                {"MetricDataResults": [_result("s1m1", [(-21, 900.0)])]},
            ]
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN the failed query alone was asked again, and its answer is the reading
    assert fake.queried == [["s0m1", "s1m1"], ["s1m1"]]
    record = audit("web")[-1]
    requests = _requests_reading(record)
    assert requests["value"] == 900.0 and requests.get("unanswered") is not True, record["reason"]
    assert desired() == 8, record["reason"]


def test_a_query_asked_again_whose_call_fails_stays_unknown_and_the_rest_is_decided(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50), the requests query answered InternalError, and the request
    # asking it again refused
    set_desired("web", 8)
    fake = metric_data(
        {
            None: [
                {
                    "MetricDataResults": [
                        _result("s0m1", [(-21, 20.0)]),
                        _result("s1m1", [], "InternalError"),
                    ]
                },
                {"Error": {"Code": "InvalidParameterCombination", "Message": "refused"}},
            ]
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN the decision stands on the first answer: the requests signal unknown, the scale-in held (the
    # failed retry is no failed read of the signals that answered)
    assert len(fake.tokens) == 2
    record = audit("web")[-1]
    assert record["outcome"] == "unchanged" and "requests_per_target could not be read" in record["reason"]
    assert desired() == 8, record["reason"]


@pytest.mark.parametrize(
    ("requests", "cpu", "read_as", "capacity"),
    [
        # The requests' minute under way (T0, read at 12:00:40) holds 200 so far, after 900 in the minute
        # that ended: its Sum is short by what has yet to arrive, and reading it as the load scaled 8 -> 4
        ([(0, 200.0), (-60, 900.0)], [(0, 20.0), (-60, 20.0)], (900.0, 20.0), 8),
        # A Sum under way already above the ended minute's is load already there (it only grows)
        ([(0, 1500.0), (-60, 900.0)], [(0, 20.0), (-60, 20.0)], (1500.0, 20.0), 12),
        # Requests only in the minute under way (a quiet ALB wakes): at least those, not the zero of none
        ([(0, 300.0)], [(0, 20.0), (-60, 20.0)], (300.0, 20.0), 4),
        # An Average over part of its period is over fewer samples, not short: it stands
        ([(-60, 900.0)], [(0, 45.0), (-60, 20.0)], (900.0, 45.0), 8),
    ],
    ids=["sum-under-way-lower", "sum-under-way-higher", "sum-only-under-way", "average-under-way"],
)
def test_a_period_still_filling_counts_only_where_it_cannot_be_short(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
    requests: list[tuple[int, float]],
    cpu: list[tuple[int, float]],
    read_as: tuple[float, float],
    capacity: int,
) -> None:
    # GIVEN 8 instances, and CloudWatch's minute buckets: the one under way (T0) and the one before it
    set_desired("web", 8)
    metric_data({None: {"MetricDataResults": [_result("s0m1", cpu), _result("s1m1", requests)]}})
    # WHEN CPU's scale-in alarm is decided at 12:00:40
    _decide_cpu_scale_in(invoke)
    # THEN the requests (a Sum) read the minute that ended, raised by the one under way only where it
    # already says more; CPU (an Average) reads its newest
    record = audit("web")[-1]
    values = {r["signal_id"]: r["value"] for r in record["inputs"]["readings"]}
    assert (values["requests_per_target"], values["cpu"]) == read_as, record["reason"]
    assert desired() == capacity, record["reason"]


@pytest.mark.parametrize(
    ("newest", "read_as", "capacity"),
    [
        # The ALB's last busy minute began 5 minutes back (11:55): the minute after it ended at 11:57
        # and nothing came in the 3 minutes CloudWatch may take to publish it. No request flows now, as
        # the scale-in alarm (missing is breaching) says; read as now, 900 held all 8 for the lookback
        (-300, 0.0, 4),
        # The last minute published began at 11:57: the one after it (ended 11:59) may merely be late,
        # so it is still the load, and nothing is scaled in on a datapoint not yet arrived
        (-180, 900.0, 8),
    ],
    ids=["quiet-since", "maybe-late"],
)
def test_a_quiet_albs_last_busy_minute_is_not_read_as_now(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
    newest: int,
    read_as: float,
    capacity: int,
) -> None:
    # GIVEN 8 instances at CPU 20 % (of 50), and the requests per target's newest minute at 900 (of
    # 1000), `newest` seconds before T0 (the ALB publishes nothing while no request flows)
    set_desired("web", 8)
    metric_data(
        {
            None: {
                "MetricDataResults": [
                    _result("s0m1", [(-60, 20.0)]),
                    _result("s1m1", [(newest, 900.0), (newest - 60, 900.0)]),
                ]
            }
        }
    )
    # WHEN CPU's scale-in alarm is decided at 12:00:40
    _decide_cpu_scale_in(invoke)
    # THEN a minute older than the newest CloudWatch has had time to publish is not the load of now:
    # the requests read as none (what no datapoint means for the ALB)
    record = audit("web")[-1]
    requests = _requests_reading(record)
    assert requests["value"] == read_as, record["reason"]
    assert desired() == capacity, record["reason"]


class AnswersByPeriod:
    """CloudWatch's GetMetricData answering each query from the datapoints of the period it asks."""

    def __init__(self, by_period: dict[int, list[tuple[int, float]]]) -> None:
        self.by_period = by_period
        self.periods: list[int] = []

    def record_request(self, params: dict[str, Any], **_: Any) -> None:
        self.periods = [q["MetricStat"]["Period"] for q in params["MetricDataQueries"]]

    def answer(self, **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        results = [_result("s0m1", self.by_period[period]) for period in self.periods]
        http = AWSResponse("https://monitoring.us-east-1.amazonaws.com/", 200, {}, None)
        page = {"MetricDataResults": results, "Messages": []}
        return http, {**page, "ResponseMetadata": {"HTTPStatusCode": 200}}


def test_a_scale_in_reads_the_period_its_alarm_evaluated(
    invoke: Callable[..., Any], audit: Callable[[str], list[dict[str, Any]]]
) -> None:
    # GIVEN the web group on the CloudWatch agent's 10-second CPU (target 50), its scale-out alarm on
    # 10 s periods and its scale-in alarm on 60 s, 8 instances
    configure_web(
        monitoring="high_resolution",
        signals=[{"kind": "cpu", "target": 50, "namespace": "CWAgent", "metric_name": "cpu_usage_active"}],
        scale_out={"period_seconds": 10, "max_step_percent": 100},
        scale_in={**CONFIG["groups"][0]["scale_in"], "period_seconds": 60},
    )
    set_desired("web", 8)
    # AND the minute that ended at 12:01 averaged 35 % (below the 45 % the scale-in alarm holds), its
    # last 10 seconds a dip to 10 %
    fake = AnswersByPeriod({60: [(0, 35.0), (-60, 36.0)], 10: [(50, 10.0), (40, 40.0)]})
    events = clients.client("cloudwatch").meta.events
    events.register("before-parameter-build.monitoring.GetMetricData", fake.record_request)
    events.register("before-call.monitoring.GetMetricData", fake.answer)
    try:
        # WHEN the scale-in alarm is in ALARM at 12:01's re-evaluation
        set_alarm_state(alarm_for("web", "cpu", "in"), "ALARM")
        invoke(reevaluation(1))
    finally:
        events.unregister("before-parameter-build.monitoring.GetMetricData", fake.record_request)
        events.unregister("before-call.monitoring.GetMetricData", fake.answer)
    # THEN the scale-in is sized on the minute its alarm evaluated (35 % on 8: 6), not on the last
    # 10 seconds' dip (10 % on 8: 2, stepped to 4)
    record = audit("web")[-1]
    (cpu,) = record["inputs"]["readings"]
    assert cpu["value"] == 35.0, record["reason"]
    assert desired() == 6, record["reason"]


@pytest.mark.parametrize(
    ("samples", "read_as"),
    [
        # 12 requests in the minute: one slow request is its p95 (the alarm ignores such a period)
        (12.0, None),
        # 250 requests: over the 10 / (1 - 0.95) = 200 CloudWatch holds significant for a p95
        (250.0, 3.0),
    ],
)
def test_a_percentile_over_too_few_requests_abstains(
    invoke: Callable[..., Any],
    audit: Callable[[str], list[dict[str, Any]]],
    metric_data: Callable[[dict[str | None, Any]], PagedMetricData],
    samples: float,
    read_as: float | None,
) -> None:
    # GIVEN the web group scaled on CPU and on its p95 response time (target 0.5 s), 8 instances at CPU
    # 20 % (of 50), and a last minute whose p95 is 3 s over `samples` requests (ALB TargetResponseTime:
    # its SampleCount is the requests the percentile is over)
    configure_web(
        signals=[
            *CONFIG["groups"][0]["signals"][:1],
            {
                "kind": "response_time",
                "target": 0.5,
                "load_balancer": LOAD_BALANCER,
                "target_group": WEB_TARGET_GROUP,
            },
        ]
    )
    set_desired("web", 8)
    metric_data(
        {
            None: {
                "MetricDataResults": [
                    _result("s0m1", [(-21, 20.0)]),
                    _result("s1m1", [(-21, 3.0), (-81, 0.2)]),
                    _result("s1m1n", [(-21, samples), (-81, 900.0)]),
                ]
            }
        }
    )
    # WHEN CPU's scale-in alarm is decided
    _decide_cpu_scale_in(invoke)
    # THEN a p95 over too few requests is no reading (as the alarm, EvaluateLowSampleCountPercentile
    # ignore, does not evaluate it): not the 3 s that doubled 8 instances on one slow request, nor the
    # older minute's; over enough requests it is read
    record = audit("web")[-1]
    (latency,) = [r for r in record["inputs"]["readings"] if r["signal_id"] == "response_time"]
    assert latency["value"] == read_as, record["reason"]
    assert latency.get("unanswered") is not True
    assert desired() == (4 if read_as is None else 16), record["reason"]


class AnswersNoQuery:
    """A CloudWatch client whose GetMetricData succeeds with no result for any query asked."""

    def get_metric_data(self, **_: Any) -> dict[str, Any]:
        return {"MetricDataResults": [], "Messages": []}


@pytest.mark.parametrize(
    "read",
    [
        lambda signals, group: signals.request_history(group, T0 - timedelta(days=3), T0),
        lambda signals, group: signals.fleet_history(group, T0 - timedelta(days=3), T0),
        lambda signals, group: signals.normal_requests_per_minute(group, T0 - timedelta(days=7)),
    ],
    ids=["request_history", "fleet_history", "normal_requests_per_minute"],
)
def test_a_history_query_left_out_of_the_answer_is_a_failed_read(
    read: Callable[[CloudWatchSignals, Any], object],
) -> None:
    # GIVEN an answer that holds no result for the query asked (CloudWatch answers each query, empty
    # when it has no datapoint)
    group = parse_config(CONFIG).group("web")
    # WHEN the forecaster's history, the fleet's or the pre-warm's normal demand is read
    # THEN the read fails, as for a query CloudWatch answered InternalError: not a history of gaps (the
    # forecaster then skipped for no history, the anchor judged the group's metrics not collected) nor
    # no demand a week ago (the pre-warm multiplied the capacity of now instead)
    with pytest.raises(AwsCallError, match="GetMetricData"):
        read(CloudWatchSignals(AnswersNoQuery()), group)


class FailsThenAnswersByToken:
    """A CloudWatch client whose GetMetricData answers every query InternalError on its first page, with
    a NextToken, and the request carrying that token with one datapoint of 120 at the window's start
    (API_MetricDataResult: "InternalError indicates that an error occurred. Retry your request using
    NextToken, if present")."""

    def __init__(self) -> None:
        self.tokens: list[str | None] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        self.tokens.append(request.get("NextToken"))
        ids = [q["Id"] for q in request["MetricDataQueries"]]
        if request.get("NextToken") is None:
            failed = [{"Id": i, "Timestamps": [], "Values": [], "StatusCode": "InternalError"} for i in ids]
            return {"MetricDataResults": failed, "NextToken": "retry", "Messages": []}
        answered = [
            {"Id": i, "Timestamps": [request["StartTime"]], "Values": [120.0], "StatusCode": "Complete"}
            for i in ids
        ]
        return {"MetricDataResults": answered, "Messages": []}


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda signals, group: signals.request_history(group, T0 - timedelta(days=3), T0)[0], 120.0),
        (lambda signals, group: signals.fleet_history(group, T0 - timedelta(days=3), T0)[0][0], 120.0),
        # 120 requests in one of the window's 15 minutes, none in the others
        (lambda signals, group: signals.normal_requests_per_minute(group, T0 - timedelta(days=7)), 8.0),
    ],
    ids=["request_history", "fleet_history", "normal_requests_per_minute"],
)
def test_a_history_query_failed_on_a_page_is_read_from_the_page_its_token_brings(
    read: Callable[[CloudWatchSignals, Any], object], expected: float
) -> None:
    # GIVEN CloudWatch answering the query InternalError with a NextToken, and answering it on the page
    # that token brings
    group = parse_config(CONFIG).group("web")
    client = FailsThenAnswersByToken()
    # WHEN the forecaster's history, the fleet's or the pre-warm's normal demand is read
    # THEN the token was followed and its page read: the read does not fail on the first page's
    # InternalError (the forecaster skipped its run, the pre-warm failed, where a retry had the answer)
    assert read(CloudWatchSignals(client), group) == expected
    assert client.tokens == [None, "retry"]
