"""CloudWatch adapter: read the signals' latest values (GetMetricData) and list alarms in ALARM."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from surgeguard.adapters.clients import AwsAdapter
from surgeguard.adapters.errors import AwsCallError
from surgeguard.alarm_shape import (
    GROUP_IN_SERVICE,
    NORMAL_WINDOW_MINUTES,
    absent_value,
    grows_while_filling,
    is_percentile,
    mean_requests_per_minute,
    normal_window,
    quiet_since,
    significant_samples,
)
from surgeguard.config import Direction, GroupConfig, RequestsPerTargetSignal
from surgeguard.domain.model import Reading
from surgeguard.signals import SignalMetric, signal_metric

logger = logging.getLogger("surgeguard")

_STAT_ID = re.compile(r"\bm(\d+)\b")
_SIGNAL_ID = re.compile(r"s\d+")
# Normal demand is read over this window around the same time a week earlier.


def _queries(index: int, metric: SignalMetric, period: int) -> list[dict[str, Any]]:
    prefix = f"s{index}"
    queries: list[dict[str, Any]] = [
        {
            "Id": f"{prefix}{stat.id}",
            "MetricStat": {
                "Metric": {
                    "Namespace": stat.namespace,
                    "MetricName": stat.metric_name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in stat.dimensions],
                },
                "Period": period,
                "Stat": stat.statistic,
            },
            "ReturnData": not metric.is_math,
        }
        for stat in metric.stats
    ]
    # A percentile's datapoint is read beside its period's sample count (the requests it is over): the
    # alarm ignores a period with too few (EvaluateLowSampleCountPercentile), and so must its reading.
    queries += [
        {
            **query,
            "Id": _samples_id(query["Id"]),
            "MetricStat": {**query["MetricStat"], "Stat": "SampleCount"},
        }
        for query in queries
        if query["ReturnData"] and is_percentile(query["MetricStat"]["Stat"])
    ]
    if metric.expression is not None:
        expression = _STAT_ID.sub(lambda m: f"{prefix}m{m.group(1)}", metric.expression)
        queries.append({"Id": f"{prefix}e", "Expression": expression, "ReturnData": True})
    return queries


def _samples_id(query_id: str) -> str:
    return f"{query_id}n"


def _newest(
    pairs: list[tuple[datetime, float]],
    period: timedelta,
    now: datetime,
    *,
    grows: bool,
    absent: float | None,
) -> tuple[datetime, float] | None:
    """A query's newest datapoint, as (when its period began, value). The period under way at `now` is
    still filling: CloudWatch answers it with what has been published so far. For a statistic that only
    grows as its period fills (a Sum: requests per target), that is short of the period's value (read
    as the load, it scaled in on a fraction of it), so it counts only where it already says more than
    the period that ended before it (or than no datapoint's `absent` value): load already there. Any
    other statistic over part of its period is over fewer samples, not short, and stands. Where no
    datapoint means `absent` (not unknown), a datapoint older than CloudWatch's publishing allows is
    none (alarm_shape.quiet_since)."""
    ended = max((p for p in pairs if p[0] + period <= now), default=None)
    filling = max((p for p in pairs if p[0] + period > now), default=None)
    if ended is not None and absent is not None and quiet_since(ended[0], period, now):
        # An ALB publishes nothing while no request flows: its last busy minute, however old inside
        # the lookback, was read as now's load (holding capacity for the whole lookback, or scaling
        # out on it). Once the minute after it has had time to arrive and has not, none flow.
        ended = None
    if filling is None or not grows:
        return filling or ended
    floor = ended[1] if ended else absent
    return filling if floor is None or filling[1] > floor else ended


def _signal_of(query_id: str) -> str:
    """The signal a query id belongs to (`s2` for `s2m1`, `s2m1n`, `s2e`): a signal's queries are asked
    together, its expression being computed from the others."""
    match = _SIGNAL_ID.match(query_id)
    return match.group(0) if match else query_id


def _request_count_query(query_id: str, signal: RequestsPerTargetSignal) -> dict[str, Any]:
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {
                "Namespace": signal.namespace,
                "MetricName": "RequestCount",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": signal.load_balancer},
                    {"Name": "TargetGroup", "Value": signal.target_group},
                ],
            },
            "Period": 60,
            "Stat": "Sum",
        },
        "ReturnData": True,
    }


def _failed(result: dict[str, Any]) -> bool:
    """A query GetMetricData did not answer: the call succeeds while one query fails on CloudWatch's side
    (StatusCode InternalError or Forbidden; PartialData is answered, with a NextToken for the rest)."""
    return result.get("StatusCode", "Complete") not in ("Complete", "PartialData")


def _raise_if_failed(result: dict[str, Any]) -> None:
    if _failed(result):
        messages = "; ".join(str(m.get("Value", "")) for m in result.get("Messages", []) or [])
        raise AwsCallError("GetMetricData", str(result.get("StatusCode")), messages or "query not answered")


def _left_out(queries: list[dict[str, Any]], answered: set[str]) -> set[str]:
    """The queries asked for data that no result answered: CloudWatch returns a result for every query
    it answers, empty when it has no datapoint, so these were not answered at all."""
    return {q["Id"] for q in queries if q["ReturnData"]} - answered


def _raise_if_left_out(queries: list[dict[str, Any]], answered: set[str]) -> None:
    missing = _left_out(queries, answered)
    if missing:
        raise AwsCallError("GetMetricData", "ResultMissing", f"no result for {', '.join(sorted(missing))}")


class CloudWatchSignals(AwsAdapter):
    service = "cloudwatch"

    def read(self, group: GroupConfig, now: datetime, direction: Direction | None = None) -> list[Reading]:
        """The latest datapoint of every signal of the group, in one GetMetricData request (its pages
        followed), each with when its period began; read at the periods of `direction`'s alarms (a
        scale-in's where it is one, else the scale-out's)."""
        # EC2's basic monitoring publishes CPU once per 5 minutes, stamped at its period's start and
        # published after it ends: read at 60 s over the scale-out lookback, the last one fell out of the
        # window before the next arrived, and CPU abstained (a requests signal alone then scaled in at
        # 90 % CPU). Read at its own period, over as many of its periods as the others' lookback.
        periods = [group.read_period(signal, direction or Direction.OUT) for signal in group.signals]
        metrics = [signal_metric(group, s) for s in group.signals]
        lookback = group.read_lookback_periods()
        # One call, one window: the widest signal's. Each signal's own window is its period x lookback,
        # and a datapoint older than that is none of its own (an ALB signal idle for 35 minutes would
        # read its last busy minute as now, inside a basic CPU's 50-minute window, and scale out).
        queries: list[dict[str, Any]] = []
        since: dict[str, datetime] = {}
        for index, (metric, period) in enumerate(zip(metrics, periods, strict=True)):
            for query in _queries(index, metric, period):
                queries.append(query)
                since[query["Id"]] = now - timedelta(seconds=period * lookback)
        start = now - timedelta(seconds=max(periods) * lookback)
        if max(periods) > group.scale_out.period_seconds:
            # Started on a whole longest period (EC2's 5 minutes, a scale-in alarm's minute), the buckets
            # are CloudWatch's own, and a datapoint's timestamp is when its period began (unaligned, it
            # would fall in the bucket before, and be said older).
            start -= timedelta(seconds=start.timestamp() % max(periods))
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": now + timedelta(seconds=group.scale_out.period_seconds),
            "ScanBy": "TimestampDescending",
        }
        points, failed = self._pages(request, since, start)
        # A query still failed once no token is left has no page to be retried on: its signal's queries
        # are asked once more, so that a passing InternalError costs a call, not the signal's vote and
        # every scale-in (Forbidden is the role's, and would only fail again).
        retried = {_signal_of(i) for i, status in failed.items() if status != "Forbidden"}
        if retried:
            again = [q for q in queries if _signal_of(q["Id"]) in retried]
            try:
                more, failed_again = self._pages({**request, "MetricDataQueries": again}, since, start)
            except AwsCallError as error:
                # A second chance that fails leaves those signals unknown, as they were: the signals
                # that answered still decide (failing the read would lose their decision too).
                logger.warning("GetMetricData asked again for %s: %s", ", ".join(sorted(retried)), error)
            else:
                points = {i: p for i, p in points.items() if _signal_of(i) not in retried} | more
                failed = {i: s for i, s in failed.items() if _signal_of(i) not in retried} | failed_again
        unanswered = set(failed)
        thin: set[str] = set()
        readings = []
        latest: dict[str, tuple[datetime, float]] = {}
        for index, (signal, metric) in enumerate(zip(group.signals, metrics, strict=True)):
            key = f"s{index}e" if metric.is_math else f"s{index}{metric.stats[0].id}"
            statistic = metric.stats[0].statistic
            newest = _newest(
                points.get(key, []),
                timedelta(seconds=periods[index]),
                now,
                grows=not metric.is_math and grows_while_filling(statistic),
                absent=absent_value(signal),
            )
            if newest is not None:
                latest[key] = newest
            if not metric.is_math and is_percentile(statistic):
                samples_key = _samples_id(key)
                if samples_key in unanswered:
                    unanswered.add(key)
                elif key in latest:
                    samples = dict(points.get(samples_key, [])).get(latest[key][0], 0.0)
                    if samples < significant_samples(statistic):
                        # Requests flowed (not the quiet ALB's zero), too few to say how slow: no vote.
                        latest.pop(key)
                        thin.add(key)
            # A page that failed leaves the query's newest datapoint unknown, whatever the others held.
            found = None if key in unanswered else latest.get(key)
            # No datapoint at all: what that means depends on the signal (the ALB publishes nothing
            # while no request flows: zero, not unknown; see alarm_shape.absent_value). A query that
            # CloudWatch did not answer is unknown whatever the signal: it abstains, never reads as zero.
            value = found[1] if found else None if key in unanswered | thin else absent_value(signal)
            readings.append(
                Reading(
                    signal.id,
                    signal.kind,
                    value,
                    signal.target,
                    unanswered=key in unanswered,
                    # A one-period datapoint is taken as the period just ended (the decision's
                    # default); a 5-minute one may have begun 10 minutes back, and says so.
                    period_start=found[0]
                    if found and periods[index] > group.scale_out.period_seconds
                    else None,
                )
            )
        return readings

    def _pages(
        self, request: dict[str, Any], since: dict[str, datetime], start: datetime
    ) -> tuple[dict[str, list[tuple[datetime, float]]], dict[str, str]]:
        """Every page of one GetMetricData request: each query's datapoints since its own oldest time,
        by query id, and the queries not answered, with why (their StatusCode, or ResultMissing)."""
        # A query's datapoints may come over several pages (StatusCode PartialData and a NextToken, the
        # same Id again on the next page): its first page alone may hold none of them, and read as no
        # datapoint (zero requests, for the ALB), or an older minute than a later page's. A query
        # failed on a page (InternalError) is retried by the request carrying that page's NextToken
        # (API_MetricDataResult): answered on a later page, it is answered.
        request = {**request}
        queries: list[dict[str, Any]] = request["MetricDataQueries"]
        points: dict[str, list[tuple[datetime, float]]] = {}
        failed: dict[str, str] = {}
        answered: set[str] = set()
        while True:
            response = self._call("GetMetricData", **request)
            for result in response.get("MetricDataResults", []):
                query_id = result.get("Id", "")
                answered.add(query_id)
                if _failed(result):
                    failed[query_id] = str(result.get("StatusCode"))
                    continue
                failed.pop(query_id, None)
                oldest = since.get(query_id, start)
                points.setdefault(query_id, []).extend(
                    (when, float(value))
                    for when, value in zip(
                        result.get("Timestamps", []), result.get("Values", []), strict=False
                    )
                    if when >= oldest
                )
            token = response.get("NextToken")
            if not token:
                break
            request["NextToken"] = token
        # Left out of the answer, a query is unknown (read as no datapoint, it was zero requests).
        failed |= dict.fromkeys(_left_out(queries, answered), "ResultMissing")
        return points, failed

    def request_history(self, group: GroupConfig, start: datetime, end: datetime) -> list[float | None]:
        """Requests per minute to the group's target group (ALB RequestCount, Sum per minute) for every
        minute in [start, end), oldest first; None where CloudWatch has no datapoint (a gap)."""
        signal = group.requests_signal()
        if signal is None:
            raise ValueError(f"group {group.name} has no requests_per_target signal")
        return self._minutes([_request_count_query("history", signal)], start, end)["history"]

    def fleet_history(
        self, group: GroupConfig, start: datetime, end: datetime
    ) -> tuple[list[float | None], list[float | None]]:
        """The group's instances in service and in total (AWS/AutoScaling GroupInServiceInstances and
        GroupTotalInstances, Average per minute) for every minute in [start, end), oldest first; None
        where there is no datapoint. All None unless the group collects its metrics
        (EnableMetricsCollection: the stack never changes the group)."""
        queries = [
            {
                "Id": query_id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/AutoScaling",
                        "MetricName": metric,
                        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": group.name}],
                    },
                    "Period": 60,
                    "Stat": "Average",
                },
                "ReturnData": True,
            }
            for query_id, metric in (("inservice", GROUP_IN_SERVICE), ("total", "GroupTotalInstances"))
        ]
        by_id = self._minutes(queries, start, end)
        return by_id["inservice"], by_id["total"]

    def _minutes(
        self, queries: list[dict[str, Any]], start: datetime, end: datetime
    ) -> dict[str, list[float | None]]:
        """Each query's metric per minute in [start, end), by query id; paginates NextToken (14 days of
        minutes is 20,160 datapoints a metric)."""
        start = start.replace(second=0, microsecond=0)
        minutes = int((end - start).total_seconds() // 60)
        values: dict[str, list[float | None]] = {q["Id"]: [None] * max(0, minutes) for q in queries}
        request: dict[str, Any] = {
            "MetricDataQueries": queries,
            "StartTime": start,
            "EndTime": start + timedelta(minutes=minutes),
            "ScanBy": "TimestampAscending",
        }
        answered: set[str] = set()
        # A query failed on a page (InternalError) is retried by the request carrying that page's
        # NextToken (API_MetricDataResult), as the signal reads do: it fails the read only if no later
        # page answers it (the forecaster skipped its run, the pre-warm failed, on a passing error).
        failed: dict[str, dict[str, Any]] = {}
        while True:
            response = self._call("GetMetricData", **request)
            for result in response.get("MetricDataResults", []):
                answered.add(result.get("Id", ""))
                if _failed(result):
                    failed[result.get("Id", "")] = result
                    continue
                failed.pop(result.get("Id", ""), None)
                series = values.get(result.get("Id", ""))
                if series is None:
                    continue  # no query of ours: nothing to place
                for when, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    index = int((when - start).total_seconds() // 60)
                    if 0 <= index < len(series):
                        series[index] = float(value)
            token = response.get("NextToken")
            if not token:
                # Not answered is no history of gaps: the forecaster skipped for no history, and the
                # anchor took the group for one that does not collect its metrics.
                for result in failed.values():
                    _raise_if_failed(result)
                _raise_if_left_out(queries, answered)
                return values
            request["NextToken"] = token

    def normal_requests_per_minute(self, group: GroupConfig, around: datetime) -> float | None:
        """Mean requests per minute to the group's target group over the 15 minutes around `around`
        (ALB RequestCount, Sum per minute; a minute without a datapoint had no request); None without a
        requests signal or without any datapoint."""
        signal = group.requests_signal()
        if signal is None:
            return None
        start, end = normal_window(around)
        # Read as the history is (its pages followed, a failed page retried by its token); unanswered
        # is not "no history": the pre-warm would size on less.
        minutes = self._minutes([_request_count_query("normal", signal)], start, end)["normal"]
        return mean_requests_per_minute([v for v in minutes if v is not None], NORMAL_WINDOW_MINUTES)

    def alarms_in_alarm(self, prefix: str) -> list[str]:
        """Names of this stack's alarms (metric and composite) now in ALARM."""
        names: list[str] = []
        request: dict[str, Any] = {
            "AlarmNamePrefix": f"{prefix}/",
            "StateValue": "ALARM",
            "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
            "MaxRecords": 100,
        }
        while True:
            page = self._call("DescribeAlarms", **request)
            alarms = page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])
            # Filtered here too: the StateValue filter is a request, the state is the answer.
            names += [a["AlarmName"] for a in alarms if a.get("StateValue") == "ALARM"]
            token = page.get("NextToken")
            if not token:
                return names
            request["NextToken"] = token
