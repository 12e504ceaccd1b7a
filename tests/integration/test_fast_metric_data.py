"""The suite's chunked GetMetricData (`fast_metric_data`) gives moto's own answers, call for call.

Every integration test reads metrics through it, so an answer that drifted from moto's (a moto upgrade that
changes what `get_metric_data` reads, a chunk boundary that splits a period) would change what the tests
test. Each case puts the same datapoints and asks the same call of both, through boto3, over ranges that
span many chunks, with unaligned ends, out-of-order and same-minute datapoints, units, dimensions,
statistics, hidden queries, metric math and both scan orders.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto.cloudwatch.models import CloudWatchBackend

from . import fast_metric_data

START = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
METRICS = (
    ("AWS/ApplicationELB", "RequestCount", (("LoadBalancer", "app/web/1"), ("TargetGroup", "tg/web/2"))),
    ("AWS/ApplicationELB", "RequestCount", (("LoadBalancer", "app/web/1"), ("TargetGroup", "tg/api/3"))),
    ("AWS/AutoScaling", "GroupInServiceInstances", (("AutoScalingGroupName", "web"),)),
    ("AWS/EC2", "CPUUtilization", ()),
)


@pytest.fixture
def cloudwatch(moto: None) -> Any:
    return boto3.client("cloudwatch", region_name="us-east-1")


def _dimensions(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Name": key, "Value": value} for key, value in pairs]


def _put(cloudwatch: Any, rng: random.Random, minutes: int) -> None:
    data = []
    for _ in range(minutes * 2):
        namespace, name, dimensions = rng.choice(METRICS)
        datum: dict[str, Any] = {
            "MetricName": name,
            "Dimensions": _dimensions(dimensions),
            # Seconds into a minute, and now and then two datapoints in one minute, in no order.
            "Timestamp": START
            + timedelta(minutes=rng.randrange(minutes), seconds=rng.choice((0, 0, 17, 59))),
            "Value": rng.choice((0.0, 1.0, 0.1, 7.25, rng.uniform(0.0, 9000.0))),
        }
        if rng.random() < 0.2:
            datum["Unit"] = rng.choice(("Count", "Percent"))
        data.append((namespace, datum))
    for namespace in {namespace for namespace, _ in data}:
        mine = [datum for each, datum in data if each == namespace]
        for start in range(0, len(mine), 1000):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=mine[start : start + 1000])


def _query(rng: random.Random, index: int, period: int) -> dict[str, Any]:
    namespace, name, dimensions = rng.choice(METRICS)
    stat: dict[str, Any] = {
        "Metric": {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": _dimensions(dimensions),
        },
        "Period": period,
        "Stat": rng.choice(("Sum", "Average", "Maximum", "Minimum", "SampleCount")),
    }
    if rng.random() < 0.15:
        stat["Unit"] = rng.choice(("Count", "Percent"))
    query: dict[str, Any] = {"Id": f"q{index}", "MetricStat": stat}
    if rng.random() < 0.3:
        query["ReturnData"] = rng.random() < 0.5
    if rng.random() < 0.3:
        query["Label"] = f"label {index}"
    return query


def _ask(cloudwatch: Any, **call: Any) -> list[dict[str, Any]]:
    answers = cloudwatch.get_metric_data(**call)["MetricDataResults"]
    return [
        {key: answer[key] for key in ("Id", "Label", "Timestamps", "Values", "StatusCode")}
        for answer in answers
    ]


def _both(cloudwatch: Any, monkeypatch: pytest.MonkeyPatch, **call: Any) -> tuple[Any, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(CloudWatchBackend, "get_metric_data", fast_metric_data.get_metric_data)
        fast = _ask(cloudwatch, **call)
    with monkeypatch.context() as patch:
        patch.setattr(CloudWatchBackend, "get_metric_data", fast_metric_data.MOTO_GET_METRIC_DATA)
        moto = _ask(cloudwatch, **call)
    return fast, moto


@pytest.mark.parametrize("seed", range(4))
def test_the_chunked_answer_is_motos(cloudwatch: Any, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    # GIVEN a day of datapoints of four metrics, some sharing a name, some with units
    rng = random.Random(seed)
    minutes = 1440
    _put(cloudwatch, rng, minutes)
    for _ in range(3):
        # WHEN both answer one call: queries of one period, over a range of many chunks or of a few minutes,
        # from a start off the minute to an end that cuts a period short
        period = rng.choice((60, 60, 300))
        queries = [_query(rng, index, period) for index in range(rng.randint(1, 4))]
        if all(query.get("ReturnData") is False for query in queries):
            queries[0]["ReturnData"] = True
        first = START + timedelta(minutes=rng.randrange(-30, minutes // 2), seconds=rng.choice((0, 0, 31)))
        span = rng.choice(
            (timedelta(minutes=rng.randint(1, 200)), timedelta(minutes=rng.randint(1000, minutes)))
        )
        call = {
            "MetricDataQueries": queries,
            "StartTime": first,
            "EndTime": first + span + timedelta(seconds=rng.choice((0, 0, 45))),
            "ScanBy": rng.choice(("TimestampAscending", "TimestampDescending")),
        }
        fast, moto = _both(cloudwatch, monkeypatch, **call)
        # THEN the same answers: the same periods, the same values to the last bit, in the same order
        assert fast == moto
        assert any(answer["Values"] for answer in moto) or span < timedelta(minutes=200)


def test_calls_it_does_not_split_are_motos_own(cloudwatch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a day of datapoints
    rng = random.Random(99)
    _put(cloudwatch, rng, 1440)
    window = {"StartTime": START, "EndTime": START + timedelta(hours=20)}
    # WHEN a call mixes periods, or computes metric math over its queries
    requests = {
        "Namespace": METRICS[0][0],
        "MetricName": METRICS[0][1],
        "Dimensions": _dimensions(METRICS[0][2]),
    }
    mixed = [
        {"Id": "q0", "MetricStat": {"Metric": requests, "Period": 60, "Stat": "Sum"}},
        {"Id": "q1", "MetricStat": {"Metric": requests, "Period": 300, "Stat": "Maximum"}},
    ]
    math = [{**mixed[0], "ReturnData": False}, {"Id": "same", "Expression": "q0"}]
    for queries in (mixed, math):
        fast, moto = _both(cloudwatch, monkeypatch, MetricDataQueries=queries, **window)
        # THEN both give moto's answer
        assert fast == moto and any(answer["Values"] for answer in moto)
    # AND a range moto refuses is refused the same way
    for refused in (
        {"StartTime": START, "EndTime": START},
        {"StartTime": START, "EndTime": START - timedelta(1)},
    ):
        errors = []
        for getter in (fast_metric_data.get_metric_data, fast_metric_data.MOTO_GET_METRIC_DATA):
            with monkeypatch.context() as patch, pytest.raises(Exception) as raised:
                patch.setattr(CloudWatchBackend, "get_metric_data", getter)
                cloudwatch.get_metric_data(MetricDataQueries=mixed[:1], **refused)
            errors.append(str(raised.value))
        assert errors[0] == errors[1]
