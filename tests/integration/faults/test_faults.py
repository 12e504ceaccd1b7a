"""Fault injection: every AWS call each handler makes fails in turn, and a redelivery finishes the work.

For each scenario (scenarios.py: the alarm, the re-evaluation, a sale's pre-warm and restore, the
forecaster) the fault-free path is recorded (recording.py); then for each call k on it and each fault
kind (reads: throttled, connect timeout; writes: throttled, 5xx, read timeout, response lost after the
call took effect, the runtime killing the function right after it), the same delivery is handled with
the k-th call failing, and delivered again as Lambda would:
- after an error, Lambda's asynchronous retry a minute later (the lease, 60 s + 10 s from the claim,
  has not run out: a failure must have released the claim at once);
- after a crash (the runtime killed the function), in a fresh execution environment once the lease
  of the dead attempt has run out.

Invariants of the faulted call:
(a) nothing escapes but RetryableFailureError (a crash is the runtime's own LambdaTimeout);
(b) exactly one audit item for the call, carrying the delivery's id as `source_id`, or none only when
    the fault struck the audit write itself and RetryableFailureError escaped (Lambda retries); a call
    that raised names the failure in its item (`failed`) unless the fault struck the audit write or a
    Publish after it (the item is the decision's, and the retry tells it);
(c) web's desired capacity within [min, max]; no other group touched;
(e) a call that returned normally will never be retried by Lambda: the work is already done (web's
    size is the fault-free run's).
(g) what an audit item says of the warm pool is so: `applied` true, the pool is in place as it names;
    `applied` false, the pool is as it was before the call (a write whose answer was lost is re-read).
And across the call and its redelivery: (f) another writer's change that the fault-free run's record
named is named by one of them; (i) people are told everything the fault-free run told them, once:
besides, only of a failure (and, after a failure told, once that the group is decided again), or
twice where a Publish landed and its answer was lost or the runtime died right after it (SNS takes no
idempotency key on a standard topic: twice, never not at all).
And of the redelivery:
(d) it returns normally with exactly one audit item of its own; web ends as the fault-free run left it
    (min, desired, max); across both calls exactly as many `applied` items as the fault-free run wrote;
    (h) the sale's saved original MaxSize, what its restore puts back, is the fault-free run's.

The per-minute re-evaluation is not retried by Lambda (the next minute's run is its retry), so for it
(e) does not apply and (d) allows one other end: nothing landed, no `applied` item, and the alarm still
in ALARM for the next run. A change that landed must still be audited `applied` exactly once.

Case ids: `<scenario>-<position>-<service.Operation[.ITEMS]>-<fault>`, e.g.
`alarm-07-autoscaling.SetDesiredCapacity-lost-response`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from surgeguard.service import RetryableFailureError

from .harness import (
    Harness,
    audit_keys,
    fresh_container,
    new_items,
    outside_named,
    quiet_world,
    run_baseline,
)
from .injector import LambdaTimeout
from .recording import BrokenPath, FaultCase, fault_cases
from .scenarios import ALARM, SCENARIOS
from .world import SIZES, source_id_of

# Lambda's first asynchronous retry comes about a minute after a failed attempt.
RETRY_AFTER = timedelta(seconds=60)
# A crashed attempt's lease: its remaining time (60 s) + 10 s from the claim; the retry comes later.
LEASE_RUN_OUT = timedelta(seconds=60 + 10 + 30)
OUTCOMES = {"applied", "unchanged", "skipped", "rejected", "failed"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" in metafunc.fixturenames:
        cases = fault_cases(metafunc.config)
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    """One moto world for the module's cases (reset before each), with the Lambdas' logs quiet."""
    with quiet_world(tmp_path_factory.mktemp("faults") / "task") as world:
        yield world


def _invoke(
    harness: Harness, scenario: Any, event: dict[str, Any], remaining_ms: int = 60_000
) -> BaseException | None:
    with harness.injector.armed():
        try:
            scenario.invoke(event, remaining_ms)
        except BaseException as error:  # judged by the caller; a KeyboardInterrupt is not ours to eat
            if isinstance(error, KeyboardInterrupt):
                raise
            return error
    return None


def _check_sizes(harness: Harness, when: str) -> tuple[int, int, int]:
    """(c): web within [min, max], the other groups as they were; returns web's size."""
    sizes = harness.world.sizes()
    low, desired, high = sizes["web"]
    assert low <= desired <= high, f"capacity outside [min, max] {when}: web {sizes['web']}"
    others = {name: size for name, size in sizes.items() if name != "web"}
    assert others == {name: size for name, size in SIZES.items() if name != "web"}, (
        f"another group was touched {when}: {others}"
    )
    return sizes["web"]


def _check_first_call(
    case: FaultCase, error: BaseException | None, items: list[dict[str, Any]], delivery: str
) -> None:
    where = f"{case.label} #{case.occurrence} ({case.kind})"
    # (a) what escapes
    if case.crash:
        assert isinstance(error, LambdaTimeout), (
            f"the handler swallowed the runtime's kill after {where}: {error!r}"
        )
    else:
        assert error is None or isinstance(error, RetryableFailureError), (
            f"{type(error).__name__} escaped the handler after a fault on {where}: {error}"
        )
    # (b) one audit item for the call, with the delivery's id
    outcomes = [(i.get("outcome"), i.get("skip_cause")) for i in items]
    if case.crash:
        assert len(items) <= 1, f"{len(items)} audit items for one killed call: {outcomes}"
    elif not items:
        struck_audit = case.writes_audit and case.kind not in ("lost-response", "sdk-retry")
        assert struck_audit, f"no audit item for the call after a fault on {where}"
        assert isinstance(error, RetryableFailureError), (
            f"the audit write failed on {where} and nothing was raised: the call is lost"
        )
    else:
        assert len(items) == 1, f"{len(items)} audit items for one call after a fault on {where}: {outcomes}"
    for item in items:
        assert item.get("source_id") == delivery, (
            f"audit item without the delivery id (source_id {item.get('source_id')!r}, not {delivery!r})"
        )
        assert item.get("outcome") in OUTCOMES, f"audit outcome {item.get('outcome')!r}"
    publish = case.label == "sns.Publish"
    if isinstance(error, RetryableFailureError) and items and not case.writes_audit and not publish:
        assert items[0]["outcome"] == "failed", (
            f"raised RetryableFailureError after a fault on {where} but audited "
            f"{items[0]['outcome']!r}, not `failed`"
        )


def _check_pool(harness: Harness, items: list[dict[str, Any]], before: int | None, when: str) -> None:
    """(g): the warm pool is what the call's audit item says it left."""
    in_place = harness.world.warm_pool()
    for item in items:
        note = item.get("warm_pool")
        if not isinstance(note, dict):
            continue
        if note.get("applied") is True:
            recorded = int(note["max_group_prepared_capacity"])
            assert in_place == recorded, (
                f"audited the warm pool set to {recorded} {when}, but DescribeWarmPool shows {in_place}: "
                f"{note.get('summary')}"
            )
        elif note.get("applied") is False:
            assert in_place == before, (
                f"audited the warm pool as not set {when}, but it went from {before} to {in_place}: "
                f"{note.get('summary')}"
            )


def _check_told(case: FaultCase, told: list[str]) -> None:
    """(i): what the fault-free run told is told across the call and its redelivery, once."""
    where = f"{case.label} #{case.occurrence} ({case.kind})"
    expected, heard = Counter(case.baseline["told"]), Counter(told)
    assert not expected - heard, f"never told after a fault on {where}: {sorted(expected - heard)}"
    extra = heard - expected
    if case.label == "sns.Publish" and case.kind in ("lost-response", "crash"):
        return  # the Publish landed, unknown to its caller: told again by the retry
    failures = sum(n for subject, n in extra.items() if subject.startswith("Surgeguard failed:"))
    recoveries = sum(n for subject, n in extra.items() if subject.startswith("Surgeguard recovered:"))
    assert failures + recoveries == sum(extra.values()), (
        f"told twice after a fault on {where}: {sorted(extra)}"
    )
    # A failure people heard of is ended once, by the redelivery that decides the group again.
    assert recoveries <= min(failures, 1), f"recovery told {recoveries} times after a fault on {where}"


def test_fault(case: FaultCase | BrokenPath, harness: Harness) -> None:
    if isinstance(case, BrokenPath):
        pytest.fail(f"{case.scenario}: {case.error}")
    scenario = SCENARIOS[case.scenario]
    world, clock, injector = harness.world, harness.clock, harness.injector
    # GIVEN the scenario's world, and the call at `position` on its path failing with `kind`
    world.reset()
    injector.reset()
    event = scenario.prepare(world, clock)
    delivery = source_id_of(event)
    first_at = clock.now
    before = audit_keys(world)
    rule = injector.add(case.rule())
    pool = world.warm_pool()
    # WHEN the delivery is handled
    error = _invoke(harness, scenario, event)
    # THEN the fault struck where it was meant to, and the invariants of the faulted call hold
    assert rule.fired, (
        f"the fault never struck: the path no longer reaches {case.label} #{case.occurrence} "
        f"(calls: {[c.label for c in injector.calls]})"
    )
    first = new_items(world, before)
    told = world.told()
    _check_first_call(case, error, first, delivery)
    _check_pool(harness, first, pool, "after the faulted call")
    web = _check_sizes(harness, "after the faulted call")
    expected_size = tuple(case.baseline["size"])
    if error is None and scenario.retried_by_lambda:
        assert web == expected_size, (
            f"returned normally after a fault on {case.label} (no retry will come) but web is "
            f"{web}, not the fault-free {expected_size}"
        )
    if case.kind == "sdk-retry":
        # The SDK's own retry of a write that landed is the handler's own first attempt: the call does
        # the fault-free run's work, once, and returns normally (a claim that met itself once dropped
        # the trigger: `in_progress`, then `duplicate` on Lambda's retry, nothing scaled).
        assert error is None, f"{type(error).__name__} after the SDK retried {case.label}: {error}"
        audited = [(i["outcome"], i.get("reason")) for i in first]
        assert [i["outcome"] for i in first] == [case.baseline["outcome"]], (
            f"the SDK retried {case.label} and the call audited {audited}, the fault-free run "
            f"{case.baseline['outcome']!r}"
        )
        assert web == expected_size, f"the SDK retried {case.label}: web is {web}, not {expected_size}"
    # WHEN Lambda delivers it again (after the dead attempt's lease, in a new environment, for a crash)
    injector.reset()
    if case.crash:
        fresh_container()
        clock.set(first_at + LEASE_RUN_OUT)
    else:
        clock.set(first_at + RETRY_AFTER)
    before = audit_keys(world)
    pool = world.warm_pool()
    again = _invoke(harness, scenario, event)
    second = new_items(world, before)
    told += world.told()
    _check_pool(harness, second, pool, "after the redelivery")
    # THEN the work is done exactly once
    assert again is None, f"the redelivery raised {type(again).__name__}: {again}"
    outcomes = [(i["outcome"], i.get("skip_cause")) for i in second]
    assert len(second) == 1, f"{len(second)} audit items for the redelivery: {outcomes}"
    assert second[0].get("source_id") == delivery, "the redelivery's audit item lacks the delivery id"
    web = _check_sizes(harness, "after the redelivery")
    everything = [(i["outcome"], i.get("skip_cause")) for i in first + second]
    applied = [i for i in first + second if i.get("outcome") == "applied"]
    if not scenario.retried_by_lambda and web == SIZES["web"]:
        # Nothing landed: the breach must still be in ALARM for the next minute's re-evaluation.
        assert not applied, f"`applied` items for a change that is not there: {everything}"
        assert world.alarm_state(ALARM) == "ALARM", "the breach was dropped: its alarm is no longer in ALARM"
        return
    _check_told(case, told)
    named = [outside_named(i) for i in first + second]
    if case.baseline.get("outside"):
        # (f) nothing silent: another writer's change the fault-free run named is named by the call or
        # its redelivery, whichever way the call failed (once adopted, the group no longer shows it)
        assert case.baseline["outside"] in named, (
            f"the other writer's change {case.baseline['outside']} went unnamed: {everything}"
        )
    # (h) what the sale's restore will put back is what the fault-free run saved (a raise that landed
    # unrecorded once left MaxSize raised for good)
    assert world.original_max() == case.baseline["original_max"], (
        f"the sale's saved original MaxSize is {world.original_max()}, the fault-free run saved "
        f"{case.baseline['original_max']}: its restore would not put back what it should"
    )
    assert web == expected_size, (
        f"after the redelivery web is {web}, not the fault-free {expected_size}: the redelivery was "
        f"{second[0]['outcome']} {second[0].get('skip_cause') or ''}: {second[0].get('reason')}"
    )
    assert len(applied) == case.baseline["applied"], (
        f"{len(applied)} `applied` items across the call and its redelivery, the fault-free run wrote "
        f"{case.baseline['applied']}: {everything}"
    )


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_fault_free(name: str, harness: Harness) -> None:
    """What each scenario does without faults: the reference the fault cases are held to."""
    scenario = SCENARIOS[name]
    baseline = run_baseline(harness, scenario)
    assert baseline.error is None, baseline.error
    assert baseline.outcome == scenario.expected.outcome
    assert baseline.size == scenario.expected.size
    assert baseline.applied == scenario.expected.applied
    assert [i.get("source_id") for i in baseline.items] == [baseline.source_id]


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_an_invocation_short_of_time_still_audits_and_its_retry_finishes(name: str, harness: Harness) -> None:
    """A Lambda with 3 s left (its calls would outlive it): one audit item, only RetryableFailureError,
    and Lambda's retry with the full minute does the work once."""
    scenario = SCENARIOS[name]
    world, clock = harness.world, harness.clock
    world.reset()
    harness.injector.reset()
    event = scenario.prepare(world, clock)
    delivery = source_id_of(event)
    first_at = clock.now
    before = audit_keys(world)
    error = _invoke(harness, scenario, event, remaining_ms=3_000)
    first = new_items(world, before)
    assert error is None or isinstance(error, RetryableFailureError), f"{type(error).__name__}: {error}"
    assert [i.get("source_id") for i in first] == [delivery], f"audit items of the short call: {first}"
    web = _check_sizes(harness, "after the short call")
    expected = scenario.expected.size
    if error is None and scenario.retried_by_lambda:
        assert web == expected, f"returned normally (no retry will come) but web is {web}, not {expected}"
    clock.set(first_at + RETRY_AFTER)
    before = audit_keys(world)
    pool = world.warm_pool()
    again = _invoke(harness, scenario, event)
    second = new_items(world, before)
    _check_pool(harness, second, pool, "after the redelivery")
    assert again is None, f"the retry raised {type(again).__name__}: {again}"
    assert [i.get("source_id") for i in second] == [delivery]
    web = _check_sizes(harness, "after the retry")
    everything = [(i["outcome"], i.get("skip_cause")) for i in first + second]
    applied = [i for i in first + second if i["outcome"] == "applied"]
    if not scenario.retried_by_lambda and web == SIZES["web"]:
        assert not applied, f"`applied` items for a change that is not there: {everything}"
        assert world.alarm_state(ALARM) == "ALARM", "the breach was dropped: its alarm is no longer in ALARM"
        return
    assert web == expected, f"after the retry web is {web}, not {expected}: {everything}"
    assert len(applied) == scenario.expected.applied, everything


# The scaler Lambdas' timeout (infra/constructs/scaler_function.py TIMEOUT; not imported: CDK is slow).
LAMBDA_TIMEOUT_SECONDS = 60
SERVICES = ("autoscaling", "cloudwatch", "dynamodb", "sns", "scheduler")


@pytest.mark.parametrize("service", SERVICES)
def test_one_aws_call_with_all_its_retries_fits_the_lambda_timeout(service: str, harness: Harness) -> None:
    """The client budget: every attempt timing out (connect + read) plus the longest backoffs between
    them, for the client the handlers really use, leaves time inside the Lambda's timeout for one more
    such call (the `failed` audit write after it): at most half the timeout."""
    from surgeguard.adapters import clients

    config = clients.client(service).meta.config
    retries = dict(config.retries or {})
    attempts = int(retries.get("total_max_attempts", int(retries.get("max_attempts", 4)) + 1))
    mode = retries.get("mode", "legacy")
    # botocore's standard (and adaptive) mode: min(20 s, random * 2 ** (attempt - 1)) before a retry.
    assert mode in ("standard", "adaptive"), f"{service}: retry mode {mode!r} has an unbounded budget here"
    backoff = sum(min(20.0, 2.0 ** (attempt - 1)) for attempt in range(1, attempts))
    worst = clients.worst_call_seconds(config)
    assert worst <= LAMBDA_TIMEOUT_SECONDS / 2, (
        f"{service}: {attempts} attempts x ({config.connect_timeout} s connect + {config.read_timeout} s "
        f"read) + {backoff:g} s backoff = {worst:g} s, over half the {LAMBDA_TIMEOUT_SECONDS} s timeout"
    )
