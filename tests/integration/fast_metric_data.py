"""moto's GetMetricData, answered a chunk of periods at a time: the same answer, without a scan per period.

moto 5.2.5 answers each period of a query by scanning every datapoint stored in the account, so reading
eight days of minutes from a group that publishes three metrics scans 34,560 datapoints 11,520 times: the
slowest of the anchored noise headroom's tests spent 281 of its 299 seconds there (under a profiler), and
those tests about 710 s of the suite's. Here moto's own code answers each chunk of `CHUNK_PERIODS`
periods from only the datapoints inside it (kept in the order moto stores them, so every sum adds in the
same order). Calls this does not split (metric math, Metrics Insights, queries of different periods, a
bad time range) go to moto as they are. `tests/integration/test_fast_metric_data.py` holds the answers
equal to moto's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from moto.cloudwatch.models import CloudWatchBackend

CHUNK_PERIODS = 60

GetMetricData = Callable[..., list[dict[str, Any]]]
MOTO_GET_METRIC_DATA: GetMetricData = CloudWatchBackend.get_metric_data


class _Chunk:
    """The backend as moto's `get_metric_data` reads it, holding only one chunk's datapoints."""

    def __init__(self, backend: CloudWatchBackend, datapoints: list[Any]) -> None:
        self._backend = backend
        self._datapoints = datapoints

    def get_all_metrics(self) -> list[Any]:
        return self._datapoints

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def get_metric_data(
    self: CloudWatchBackend,
    queries: list[dict[str, Any]],
    start_time: datetime,
    end_time: datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    periods = {int(query["MetricStat"]["Period"]) for query in queries if "MetricStat" in query}
    start, end = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    if len(periods) != 1 or any("Expression" in query for query in queries) or not start < end:
        return MOTO_GET_METRIC_DATA(self, queries, start_time, end_time, scan_by)
    stored = self.get_all_metrics()
    by_time = sorted(range(len(stored)), key=lambda index: stored[index].timestamp)
    stamps = [stored[index].timestamp for index in by_time]
    chunk = timedelta(seconds=periods.pop() * CHUNK_PERIODS)
    answers: list[dict[str, Any]] | None = None
    chunk_start = start
    while chunk_start < end:
        # Chunks start on the query's period boundaries, so each period falls in one chunk whole; moto's
        # loop also asks for the period starting at the chunk's end, which holds nothing (data < end).
        chunk_end = min(chunk_start + chunk, end)
        inside = sorted(by_time[bisect_left(stamps, chunk_start) : bisect_left(stamps, chunk_end)])
        part = MOTO_GET_METRIC_DATA(
            _Chunk(self, [stored[index] for index in inside]),
            queries,
            chunk_start,
            chunk_end,
            "TimestampAscending",
        )
        if answers is None:
            answers = part
        else:
            for answer, more in zip(answers, part, strict=True):
                answer["values"].extend(more["values"])
                answer["timestamps"].extend(more["timestamps"])
        chunk_start = chunk_end
    assert answers is not None  # start < end: at least one chunk
    if scan_by == "TimestampDescending":
        for answer in answers:
            answer["values"] = answer["values"][::-1]
            answer["timestamps"] = answer["timestamps"][::-1]
    return answers


def install() -> None:
    CloudWatchBackend.get_metric_data = get_metric_data  # type: ignore[method-assign]
