"""The forecaster's staleness signal: one embedded-metric-format line on stdout per forecast written
(floor or forecast-only), none when nothing was written. The stack's staleness alarm reads it
(tests/infra/test_monitoring.py); CloudWatch Logs extracts EMF lines from a Lambda's stdout
("Using the embedded metric format with Lambda", CloudWatch User Guide)."""

from __future__ import annotations

import json
import os

import pytest

from surgeguard.config import ScalerConfig
from surgeguard.forecast_service import FORECAST_WRITTEN, METRIC_NAMESPACE

from .support import T0
from .test_forecast import _configure, _history, run


def _emf_lines(out: str) -> list[dict]:
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [d for d in documents if "_aws" in d]


@pytest.mark.parametrize("mode", ["floor", "forecast_only"])
def test_a_written_forecast_publishes_one_datapoint_for_its_group(
    mode: str, config_file: ScalerConfig, alarms: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(mode)
    _history()
    run(execution_id="exec-1")
    (document,) = _emf_lines(capsys.readouterr().out)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    assert directive == {
        "Namespace": METRIC_NAMESPACE,
        "Dimensions": [["Stack", "Group"]],
        "Metrics": [{"Name": FORECAST_WRITTEN, "Unit": "Count"}],
    }
    assert document["Stack"] == os.environ["ALARM_PREFIX"] and document["Group"] == "web"
    assert document[FORECAST_WRITTEN] == 1
    assert document["_aws"]["Timestamp"] >= int(T0.timestamp() * 1000)
    # a duplicate delivery writes nothing, so it publishes nothing
    run(execution_id="exec-1")
    assert _emf_lines(capsys.readouterr().out) == []


def test_no_datapoint_without_history(
    config_file: ScalerConfig, alarms: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    _configure("floor")
    assert run()["records"][0]["outcome"] == "skipped"
    assert _emf_lines(capsys.readouterr().out) == []
