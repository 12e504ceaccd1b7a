"""An in-process moto world with the clock and the fault injector installed, and the fault-free runs
(baselines) the fault cases are enumerated from and compared with."""

from __future__ import annotations

import copy
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from surgeguard import keys

from .injector import Injector
from .scenarios import Scenario
from .world import ENV, Clock, World, source_id_of


def fresh_container() -> None:
    """A new Lambda execution environment: every cache of the surgeguard package cleared (the
    lru-cached client factory, the handlers' wiring), as after the runtime killed the old one."""
    for name, module in list(sys.modules.items()):
        if not (name == "surgeguard" or name.startswith("surgeguard.")):
            continue
        for value in list(vars(module).values()):
            if callable(getattr(value, "cache_clear", None)) and str(
                getattr(value, "__module__", "")
            ).startswith("surgeguard"):
                value.cache_clear()


class MetricCache:
    """Answers a GetMetricData asked before with the answer moto gave (a before-call response).

    The fault world's metric data is written once, when it is built, so the same request always has the
    same answer; moto computes it in time quadratic in the datapoints (the forecaster's three days of
    minutes take a few seconds), which the fault cases cannot afford hundreds of times. Registered after the
    injector: faults still strike first, and a lost response still loses this one."""

    def __init__(self) -> None:
        self._answers: dict[str, tuple[Any, dict[str, Any]]] = {}
        self._uid = f"surgeguard-metric-cache-{id(self)}"

    @staticmethod
    def _key(params: dict[str, Any]) -> str:
        return f"{params.get('url_path')}|{params.get('body')!r}"

    def attach(self, session: Any) -> None:
        # On the generic events, last: botocore runs handlers of a more specific event name first,
        # and the first answer ends before-call, so a specific name would pre-empt the injector.
        events = session.get_component("event_emitter")
        events.register_last("before-call", self._before, f"{self._uid}-before")
        events.register_last("after-call", self._after, f"{self._uid}-after")

    def _before(self, params: dict[str, Any], context: dict[str, Any], event_name: str, **_: Any) -> Any:
        if event_name != "before-call.cloudwatch.GetMetricData":
            return None
        key = self._key(params)
        context["surgeguard_metric_key"] = key
        answer = self._answers.get(key)
        if answer is None:
            return None
        http, parsed = answer
        return http, copy.deepcopy(parsed)

    def _after(self, http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        key = context.get("surgeguard_metric_key")
        if key is not None and key not in self._answers and http_response.status_code == 200:
            self._answers[key] = (http_response, copy.deepcopy(parsed))


@dataclass
class Harness:
    world: World
    clock: Clock
    injector: Injector


@contextmanager
def open_world(task_root: Path) -> Iterator[Harness]:
    """A moto world (mock_aws, in-process) with the Lambda environment, the clock and the injector."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in ENV.items():
            patch.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        with mock_aws():
            fresh_container()
            world = World(task_root)
            world.build()
            for name, value in world.environment().items():
                patch.setenv(name, value)
            injector = Injector()
            # boto3.client() makes clients from this session: the handlers' clients carry the hooks.
            session = boto3._get_default_session()._session
            injector.attach(session)
            MetricCache().attach(session)
            clock = Clock()
            clock.install(patch)
            try:
                yield Harness(world, clock, injector)
            finally:
                injector.detach()
                fresh_container()


@contextmanager
def quiet_world(task_root: Path) -> Iterator[Harness]:
    """`open_world` with the Lambdas' logs quiet: a module's faults are meant, and their tracebacks are
    noise in the test output."""
    quiet = logging.getLogger("surgeguard")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        with open_world(task_root) as world:
            yield world
    finally:
        quiet.setLevel(level)


def audit_keys(world: World) -> set[tuple[str, str]]:
    return {(i[keys.PARTITION_KEY], i[keys.SORT_KEY]) for i in world.audit_items()}


def new_items(world: World, before: set[tuple[str, str]]) -> list[dict[str, Any]]:
    return [i for i in world.audit_items() if (i[keys.PARTITION_KEY], i[keys.SORT_KEY]) not in before]


@dataclass
class Baseline:
    """What a fault-free delivery did."""

    scenario: str
    labels: list[str] = field(default_factory=list)
    audit_writes: list[bool] = field(default_factory=list)
    outcome: str | None = None
    size: tuple[int, int, int] | None = None
    original_max: int | None = None  # what the sale's restore puts back, as its event item says
    items: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    source_id: str = ""
    told: list[str] = field(default_factory=list)  # the notifications' subjects

    @property
    def applied(self) -> int:
        return sum(1 for i in self.items if i.get("outcome") == "applied")

    @property
    def outside(self) -> list[int] | None:
        """The other writer's change its record names ([before, after]), if it names one."""
        return next((named for i in self.items if (named := outside_named(i)) is not None), None)


def outside_named(item: dict[str, Any]) -> list[int] | None:
    """The other writer's change an audit item names, as [before, after]; None if it names none."""
    change = item.get("other_writer")
    return None if change is None else [int(change["before"]), int(change["after"])]


def run_baseline(harness: Harness, scenario: Scenario) -> Baseline:
    harness.world.reset()
    harness.injector.reset()
    event = scenario.prepare(harness.world, harness.clock)
    before = audit_keys(harness.world)
    baseline = Baseline(scenario.name)
    with harness.injector.armed() as calls:
        try:
            result = scenario.invoke(event)
            baseline.outcome = str(result["records"][0]["outcome"])
        except BaseException as error:  # a broken path is reported by the cases, not at collection
            baseline.error = f"{type(error).__name__}: {error}"
    baseline.labels = [c.label for c in calls]
    baseline.audit_writes = [c.writes_audit for c in calls]
    baseline.size = harness.world.size("web")
    baseline.original_max = harness.world.original_max()
    baseline.items = new_items(harness.world, before)
    baseline.told = harness.world.told()
    baseline.source_id = source_id_of(event)
    return baseline
