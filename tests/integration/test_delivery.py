"""At-least-once delivery, two decisions racing for one group, and AWS throttling the apply."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given, settings
from hypothesis import strategies as st

from surgeguard import keys
from surgeguard.adapters import clients
from surgeguard.adapters.audit_store import memory_from_json, memory_to_json
from surgeguard.adapters.errors import AwsCallError, ConcurrentUpdateError
from surgeguard.domain.model import Launch, Recommendation, ScalerMemory
from surgeguard.handlers import alarm
from surgeguard.service import RetryableFailureError

from .alarm_events import SNS, alarm_event
from .support import T0, TABLE, LambdaContext, alarm_for, at, audit_write_throttled_once, desired

Invoke = Callable[..., dict[str, Any]]
Audit = Callable[[str], list[dict[str, Any]]]
WAIT = 10  # seconds: a broken interleaving fails the test instead of hanging it


def cpu_alarm(seconds: float, **changes: Any) -> dict[str, Any]:
    return alarm_event(SNS, alarm_for("web", "cpu"), at(seconds), metric="CPUUtilization", **changes)


# --- duplicate delivery ---------------------------------------------------------------------------
def test_a_second_delivery_of_the_same_message_changes_nothing(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], notifications: Any
) -> None:
    # GIVEN one SNS alarm message that scaled the group 2 -> 4
    cpu_metric(80.0)
    event = cpu_alarm(40)
    invoke(event)
    assert desired() == 4
    notifications.read()
    # WHEN SNS delivers the very same message again (at-least-once), with CPU still high
    result = invoke(event)
    # THEN the second is skipped as a duplicate, desired unchanged, and each delivery left its item
    assert result["records"][0]["outcome"] == "skipped"
    assert desired() == 4
    first, second = sorted(audit("web"), key=lambda i: i["outcome"])
    assert first["outcome"] == "applied"
    assert (second["outcome"], second["skip_cause"]) == ("skipped", "duplicate")
    assert second["trigger"]["id"] == event["Records"][0]["Sns"]["MessageId"]
    assert "duplicate delivery" in second["reason"]
    assert notifications.read() == []


# --- two decisions at once ------------------------------------------------------------------------
class InterleavingStore:
    """Wraps the real DynamoDB store to force the race deterministically.

    Both deliveries read the group's state before either saves (a barrier in load_memory); then the
    thread named "first" runs to completion while "second" waits in save_memory, so "second" always
    saves on a stale read. Whatever the scheduler does, the interleaving is the same.
    """

    def __init__(self, store: Any) -> None:
        self._store = store
        self._both_read = threading.Barrier(2, timeout=WAIT)
        self.first_done = threading.Event()
        self._loads: dict[str, int] = {}
        self._saves: dict[str, int] = {}
        self.conflicts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def release_waiters(self) -> None:
        """A delivery that ends before reading state must not leave the other waiting for it."""
        if self._both_read.n_waiting:
            self._both_read.abort()

    def load_memory(self, group: str) -> ScalerMemory:
        memory = self._store.load_memory(group)
        me = threading.current_thread().name
        self._loads[me] = self._loads.get(me, 0) + 1
        if self._loads[me] == 1:
            self._both_read.wait()
        return memory

    def save_memory(self, group: str, memory: ScalerMemory, read_version: int) -> None:
        me = threading.current_thread().name
        self._saves[me] = self._saves.get(me, 0) + 1
        if me == "second" and self._saves[me] == 1:
            assert self.first_done.wait(WAIT), "the first decision never finished"
        try:
            self._store.save_memory(group, memory, read_version)
        except ConcurrentUpdateError:
            self.conflicts += 1
            raise


@pytest.mark.parametrize(
    ("second_at", "second_cause"),
    [(41, "rate_limited"), (39, "stale")],
    ids=["newer-trigger-in-the-same-period", "older-trigger-is-stale"],
)
def test_two_triggers_for_one_group_at_once_never_apply_a_stale_read_twice(
    second_at: int,
    second_cause: str,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    state_item: Callable[[str], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN 2 instances, CPU 90/50 and requests 4000/1000 per target: the need is 8, one step doubles
    cpu_metric(90.0)
    requests_metric(4000.0)
    adapters, ctx = alarm._wiring()
    store = InterleavingStore(adapters.store)
    monkeypatch.setattr(alarm, "_wiring", lambda: (replace(adapters, store=store), ctx))
    first_event = cpu_alarm(40)
    second_event = alarm_event(
        SNS, alarm_for("web", "requests_per_target"), at(second_at), metric="RequestCountPerTarget"
    )
    errors: list[BaseException] = []

    def handle(event: dict[str, Any], done: threading.Event | None) -> None:
        try:
            invoke(event, LambdaContext())
        except BaseException as error:  # surfaced below; a thread must not swallow it
            errors.append(error)
        finally:
            store.release_waiters()
            if done is not None:
                done.set()

    threads = [
        threading.Thread(target=handle, args=(first_event, store.first_done), name="first"),
        threading.Thread(target=handle, args=(second_event, None), name="second"),
    ]
    # WHEN both alarms are handled at once, both reading state version 0 before either saves
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT * 2)
    assert not errors, errors
    # THEN the first applies 2 -> 4 from its read; the second's save on the stale read is refused
    assert store.conflicts == 1
    items = {i["trigger"]["alarm"]: i for i in audit("web")}
    first = items[alarm_for("web", "cpu")]
    second = items[alarm_for("web", "requests_per_target")]
    assert (first["outcome"], first["previous_desired"], first["new_desired"]) == ("applied", 2, 4)
    # AND the second re-read the group (it sees 4, not the stale 2) and decided again: within the
    # first's alarm period (one decision per period; the re-evaluation takes the breach from here),
    # or older than the decision already made
    assert second["outcome"] == "skipped"
    assert second["inputs"]["group"]["desired"] == 4
    assert second["previous_desired"] == 4
    assert second["skip_cause"] == second_cause
    # AND the group and the state item agree: every launch recorded once, two saves in sequence
    assert desired() == 4
    state = state_item("web")
    assert state["version"] == 2
    assert sum(launch["count"] for launch in state["memory"]["launches"]) == 2


# --- throttling -----------------------------------------------------------------------------------
class ThrottledAutoScaling:
    """The moto Auto Scaling client, except that SetDesiredCapacity is throttled `failures` times."""

    def __init__(self, real: Any, failures: int) -> None:
        self._real = real
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def set_desired_capacity(self, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}},
                "SetDesiredCapacity",
            )
        return self._real.set_desired_capacity(**kwargs)


def throttle_autoscaling(monkeypatch: pytest.MonkeyPatch, throttled: ThrottledAutoScaling) -> None:
    """Adapters make their clients through `clients.client`: hand out the throttled one for Auto Scaling.
    The adapter's own rounds for a throttled Auto Scaling call pause for no time here."""
    monkeypatch.setattr(clients, "PATIENT_MAX_PAUSE", 0.0)
    real = clients.client
    monkeypatch.setattr(
        clients, "client", lambda service: throttled if service == "autoscaling" else real(service)
    )


def claim_item(trigger_id: str) -> dict[str, Any] | None:
    item = boto3.client("dynamodb").get_item(
        TableName=TABLE,
        Key={
            keys.PARTITION_KEY: {"S": keys.trigger_pk(trigger_id)},
            keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY},
        },
    )
    found: dict[str, Any] | None = item.get("Item")
    return found


def claim_exists(trigger_id: str) -> bool:
    return claim_item(trigger_id) is not None


def claim_lease(trigger_id: str) -> int | None:
    item = claim_item(trigger_id)
    return None if item is None else int(item["lease_until"]["N"])


def test_throttled_apply_is_audited_as_failed_and_raised_for_a_lambda_retry(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN Auto Scaling throttles SetDesiredCapacity through every round the adapter tries it
    cpu_metric(80.0)
    throttled = ThrottledAutoScaling(boto3.client("autoscaling"), failures=clients.PATIENT_ROUNDS + 1)
    throttle_autoscaling(monkeypatch, throttled)
    event = cpu_alarm(40)
    message_id = event["Records"][0]["Sns"]["MessageId"]
    # WHEN the alarm is handled
    with pytest.raises(RetryableFailureError, match="SetDesiredCapacity failed: Throttling: Rate exceeded"):
        invoke(event)
    # THEN nothing changed, the failure is audited with its error, and the claim's lease is ended
    # (kept, with the record of the change it meant to make, for the retry to take over at once)
    assert desired() == 2
    (failed,) = audit("web")
    assert failed["outcome"] == "failed"
    assert failed["error"] == "SetDesiredCapacity failed: Throttling: Rate exceeded"
    assert claim_lease(message_id) == 0
    assert notifications.read()[0]["Subject"] == "Surgeguard failed: web"


def test_a_throttled_apply_is_tried_again_while_the_invocation_has_time(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN Auto Scaling throttles SetDesiredCapacity twice after the SDK's own retries (a drained bucket:
    # every Auto Scaling call of the account shares it, EC2 Auto Scaling API Reference "API request rate")
    cpu_metric(80.0)
    throttled = ThrottledAutoScaling(boto3.client("autoscaling"), failures=2)
    throttle_autoscaling(monkeypatch, throttled)
    # WHEN the alarm is handled
    result = invoke(cpu_alarm(40))
    # THEN the adapter's next round gets through: applied at once, one record, no Lambda retry needed
    assert result["records"][0]["outcome"] == "applied", result
    assert desired() == 4 and throttled.failures == 0
    assert [item["outcome"] for item in audit("web")] == ["applied"]


def test_a_retry_after_throttling_applies(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a delivery that failed on a throttled SetDesiredCapacity (throttled through every round)
    cpu_metric(80.0)
    throttled = ThrottledAutoScaling(boto3.client("autoscaling"), failures=clients.PATIENT_ROUNDS + 1)
    throttle_autoscaling(monkeypatch, throttled)
    event = cpu_alarm(40)
    with pytest.raises(RetryableFailureError):
        invoke(event)
    # WHEN Lambda retries the same event and Auto Scaling answers this time
    result = invoke(event)
    # THEN it applies the decision the failed attempt could not: 2 -> 4
    assert result["records"][0]["outcome"] == "applied", result
    assert desired() == 4
    assert sorted(i["outcome"] for i in audit("web")) == ["applied", "failed"]
    assert claim_exists(event["Records"][0]["Sns"]["MessageId"])


# --- consecutive decisions ------------------------------------------------------------------------
def test_consecutive_decisions_for_a_group_each_save_the_state_item(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    state_item: Callable[[str], Any],
) -> None:
    # GIVEN a first decision that scaled 2 -> 4 and saved state version 1
    cpu_metric(80.0)
    invoke(cpu_alarm(40))
    assert state_item("web")["version"] == 1
    # WHEN the next alarm arrives three minutes later, CPU still 80 over 4 instances
    cpu_metric(80.0, at(180))
    result = invoke(cpu_alarm(220))
    # THEN it decides from the saved state (version 1 -> 2) and applies: ceil(4 * 1.6) = 7
    assert result["records"][0]["outcome"] == "applied", result
    assert desired() == 7
    state = state_item("web")
    assert state["version"] == 2
    assert [launch["count"] for launch in state["memory"]["launches"]] == [2, 3]
    # (each recommendation keeps what the load asked beside it: a burst let go holds scale-in at that)
    assert [(r["desired"], r["load"]) for r in state["memory"]["recommendations"]] == [(4, 4), (7, 7)]
    assert sorted(i["outcome"] for i in audit("web")) == ["applied", "applied"]


def test_a_state_item_saved_before_recommendations_kept_the_load_still_loads() -> None:
    older = '{"launches": [], "recommendations": [{"at": "2026-11-20T12:00:00+00:00", "desired": 5}]}'
    memory = memory_from_json(older, 3)
    assert memory.recommendations == (Recommendation(T0, 5, load=None),) and memory.version == 3
    # and what is saved now reads back whole
    assert (memory.outside_noticed_by, memory.outside_notes_json) == (None, None)
    kept = replace(
        memory,
        recommendations=(Recommendation(T0, 5, load=2),),
        outside_noticed_by="alarm#web#1",
        outside_notes_json='{"other_writer": {"before": 4, "after": 7}}',
    )
    assert memory_from_json(memory_to_json(kept), 3) == kept


class ClaimOutage:
    """The real store, except that the claim's write fails (DynamoDB unavailable after retries)."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.released: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def claim(self, trigger_id: str, now_epoch: int, lease_seconds: int, record_key: Any) -> None:
        raise AwsCallError("UpdateItem", "InternalServerError", "try again")

    def release(self, trigger_id: str) -> None:
        self.released.append(trigger_id)


def test_a_failed_claim_is_audited_as_failed_and_raised_for_a_lambda_retry(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a breach, and a store whose claim cannot be written
    cpu_metric(80.0)
    adapters, ctx = alarm._wiring()
    store = ClaimOutage(adapters.store)
    monkeypatch.setattr(alarm, "_wiring", lambda: (replace(adapters, store=store), ctx))
    before = desired()
    # WHEN the alarm is handled
    with pytest.raises(RetryableFailureError, match="UpdateItem failed: InternalServerError"):
        invoke(cpu_alarm(40))
    # THEN nothing changed, one `failed` item says why, and no claim of someone else's was released
    assert desired() == before
    (item,) = audit("web")
    assert (item["outcome"], item["error"]) == ("failed", "UpdateItem failed: InternalServerError: try again")
    assert store.released == []


# --- the time budget ends with the invocation ------------------------------------------------------
def test_an_invocations_deadline_does_not_outlive_it(
    invoke: Invoke, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an invocation with a real time budget (its context's remaining time)
    cpu_metric(80.0)
    budgets: list[float | None] = []
    real = clients.set_deadline

    def spy(seconds_left: float | None) -> None:
        real(seconds_left)
        budgets.append(clients._time_left())

    monkeypatch.setattr(clients, "set_deadline", spy)
    invoke(cpu_alarm(40), LambdaContext(remaining_millis=30_000))
    budget = budgets[0]
    assert budget is not None and 0 < budget <= 30
    # THEN once it returned, AWS calls made in the same process (the CLI, a test, the simulator) are
    # not failed as DeadlineExceeded when that budget would have run out
    assert clients._time_left() is None


_TIMES = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
_MEMORIES = st.builds(
    ScalerMemory,
    version=st.just(3),
    last_scale_out_at=st.none() | _TIMES,
    last_trigger_at=st.none() | _TIMES,
    launches=st.lists(st.builds(Launch, _TIMES, st.integers(0, 10_000)), max_size=3).map(tuple),
    recommendations=st.lists(
        st.builds(Recommendation, _TIMES, st.integers(0, 10_000), st.none() | st.integers(0, 10_000)),
        max_size=3,
    ).map(tuple),
    committed_desired=st.none() | st.integers(0, 10_000),
    committed_at=st.none() | _TIMES,
    committed_by=st.none() | st.text(max_size=20),
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
    max_leaves=12,
)
_FIELDS = ["launches", "recommendations", "committed_desired", "committed_at", "last_trigger_id", "count"]


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_MEMORIES)
def test_every_state_item_saved_reads_back_whole(memory: ScalerMemory) -> None:
    assert memory_from_json(memory_to_json(memory), 3) == memory


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.dictionaries(st.sampled_from(_FIELDS) | st.text(max_size=10), _JSON, max_size=6), _MEMORIES)
def test_a_damaged_state_item_is_refused_or_read_with_the_right_types(
    damage: dict[str, Any], memory: ScalerMemory
) -> None:
    # What a hand edit can leave: any JSON in any field. Either it is refused as damaged (the decision
    # then starts afresh and says so), or every field has the type the decision compares it as.
    raw = json.dumps({**json.loads(memory_to_json(memory)), **damage})
    try:
        loaded = memory_from_json(raw, 3)
    except (KeyError, TypeError, ValueError):
        return
    for moment in (loaded.last_scale_out_at, loaded.last_trigger_at, loaded.committed_at):
        assert moment is None or (isinstance(moment, datetime) and moment.tzinfo is not None)
    assert all(isinstance(x.at, datetime) and type(x.count) is int for x in loaded.launches)
    assert all(type(x.desired) is int for x in loaded.recommendations)
    assert all(x.load is None or type(x.load) is int for x in loaded.recommendations)
    assert loaded.committed_desired is None or type(loaded.committed_desired) is int
    assert loaded.last_trigger_id is None or isinstance(loaded.last_trigger_id, str)


def test_an_unexpected_error_after_the_apply_still_leaves_the_change_audited_applied(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an error of no expected kind (a bug of ours, an SDK exception of an odd shape) right after
    # SetDesiredCapacity landed. It once reached the handler's boundary: one `failed` "internal error"
    # record, no retry, and the stashed `applied` record of a change that had landed never written.
    import surgeguard.service as service

    def broken_settle(*args: Any) -> dict[str, Any]:
        raise KeyError("Version")

    cpu_metric(80.0)
    event = cpu_alarm(40)
    with monkeypatch.context() as patch:
        patch.setattr(service, "_settle", broken_settle)
        with pytest.raises(RetryableFailureError, match="KeyError"):
            invoke(event)
    assert desired() == 4
    (failed,) = audit("web")
    assert failed["outcome"] == "failed" and "KeyError" in failed["reason"]
    # WHEN Lambda retries the event
    result = invoke(event)
    # THEN the change that landed is audited `applied`, once, and nothing is applied twice
    assert result["records"][0]["outcome"] == "applied", result
    assert desired() == 4
    assert sorted(i["outcome"] for i in audit("web")) == ["applied", "failed"]


def test_a_failure_whose_own_record_cannot_be_written_is_still_retried_and_audited(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN SetDesiredCapacity lands but its answer is lost, and the `failed` record's PutItem is then
    # throttled. That once reached the handler's boundary: an "internal error, nothing more was done"
    # record filed under no group, no retry, and the change that landed never audited.
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    apply, write = AutoScalingFleet.set_desired_capacity, AuditStore.write_audit
    throttled = [1]

    def landed_but_lost(self: AutoScalingFleet, name: str, value: int) -> None:
        apply(self, name, value)
        raise AwsCallError("SetDesiredCapacity", "RequestTimeout", "read timeout")

    def throttled_once(self: AuditStore, record: dict[str, Any]) -> None:
        if throttled.pop() if throttled else 0:
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    cpu_metric(80.0)
    event = cpu_alarm(40)
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_desired_capacity", landed_but_lost)
        patch.setattr(AuditStore, "write_audit", throttled_once)
        with pytest.raises(RetryableFailureError, match="could not be written"):
            invoke(event)
    assert desired() == 4 and audit("web") == [] and audit("-") == []
    # WHEN Lambda retries it
    invoke(event)
    # THEN the change that landed is audited `applied` under its group, once
    assert [r["outcome"] for r in audit("web")] == ["applied"] and audit("-") == []
    assert desired() == 4


def test_an_alarms_internal_error_is_filed_under_its_group(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an error of no expected kind before the trigger is claimed (a bug of ours)
    _run_claimed_raises_an_unexpected_error(monkeypatch)
    cpu_metric(80.0)
    invoke(cpu_alarm(40))
    # THEN its record is the group's, where `status` and `report` read (it was filed under "-")
    (record,) = audit("web")
    assert record["outcome"] == "failed" and "KeyError" in record["reason"] and audit("-") == []


def test_an_internal_errors_record_that_landed_with_its_answer_lost_is_not_retried(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an error of no expected kind (a bug of ours), whose `failed` record's PutItem lands but
    # whose answer is lost. It was raised for Lambda's retry as unwritten: the retry, meeting the same
    # error, wrote a second `failed` record for the one delivery.
    _run_claimed_raises_an_unexpected_error(monkeypatch)
    _first_audit_write_lands_answer_lost(monkeypatch)
    cpu_metric(80.0)
    # WHEN it is delivered
    result = invoke(cpu_alarm(40))
    # THEN it returns with its one record written: nothing for Lambda to retry
    (record,) = audit("web")
    assert record["outcome"] == "failed" and result["records"][0]["outcome"] == "failed"


def _overtake_the_first_apply(
    invoke: Invoke,
    requests_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    once_landed: Callable[[], None],
) -> list[int]:
    """While decider A's first SetDesiredCapacity is on its way, decider B commits and applies more;
    then A's lands, and `once_landed` runs (it may raise, as a lost answer). Returns every apply."""
    from datetime import timedelta

    from surgeguard.adapters.autoscaling import AutoScalingFleet

    from .support import set_alarm_state

    requests_out = alarm_for("web", "requests_per_target")
    apply = AutoScalingFleet.set_desired_capacity
    applies: list[int] = []

    def overtaken(self: AutoScalingFleet, name: str, value: int) -> None:
        applies.append(value)
        if len(applies) == 1:
            requests_metric(5000.0, at(100) - timedelta(minutes=1))
            set_alarm_state(requests_out, "ALARM")
            invoke(alarm_event(SNS, requests_out, at(100), metric="RequestCountPerTarget"))
            apply(self, name, value)
            once_landed()
            return
        apply(self, name, value)

    monkeypatch.setattr(AutoScalingFleet, "set_desired_capacity", overtaken)
    return applies


def _late_apply_behind_a_newer_decision(
    invoke: Invoke,
    state_item: Callable[[str], dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, Any], int, list[int]]:
    """Decider A (2 -> 4) whose SetDesiredCapacity lands after decider B's newer commit, its answer
    lost: A is audited `failed` for Lambda's retry. Returns A's event, B's capacity and every apply."""

    def answer_lost() -> None:  # a read timeout after the write
        raise AwsCallError("SetDesiredCapacity", "ReadTimeoutError", "Read timeout on endpoint URL")

    applies = _overtake_the_first_apply(invoke, requests_metric, monkeypatch, answer_lost)
    cpu_metric(80.0)
    event = cpu_alarm(40)
    with pytest.raises(RetryableFailureError):
        invoke(event)
    newest = state_item("web")["memory"]["committed_desired"]
    assert newest > 4 and desired() == 4
    return event, newest, applies


def test_a_late_apply_whose_answer_was_lost_is_put_behind_the_newer_decision_by_its_retry(
    invoke: Invoke,
    audit: Audit,
    state_item: Callable[[str], dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN decider A (2 -> 4) whose apply lands after B's and fails
    event, newest, _ = _late_apply_behind_a_newer_decision(
        invoke, state_item, cpu_metric, requests_metric, monkeypatch
    )
    notifications.read()
    # WHEN Lambda retries A
    clock.pin(at(110))
    invoke(event)
    # THEN A's change is audited, and the group is back at B's newer decision (it once stayed at A's 4)
    assert desired() == newest
    recovered = [r for r in audit("web") if r.get("recovered_from")]
    assert len(recovered) == 1 and recovered[0]["settled_to"] == newest
    # AND its reason, what people are told, says so, as the attempt's own settle does: it once said
    # only "2 -> 4", after B's "4 -> 8", of a group back at 8
    put_back = f"a newer decision committed {newest} meanwhile: {newest} put back"
    assert put_back in recovered[0]["reason"]
    assert [n for n in notifications.read() if put_back in n["Message"]]


@pytest.mark.parametrize("stop", ["kill switch", "Launch suspended"])
def test_a_retry_puts_no_newer_decision_back_under_the_kill_switch_or_a_suspended_launch(
    stop: str,
    invoke: Invoke,
    audit: Audit,
    state_item: Callable[[str], dict[str, Any]],
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.domain.model import Pause

    # GIVEN decider A (2 -> 4) whose apply lands after B's newer decision and fails
    event, newest, applies = _late_apply_behind_a_newer_decision(
        invoke, state_item, cpu_metric, requests_metric, monkeypatch
    )
    # AND the operator turns the kill switch on, or suspends Launch, before Lambda retries A
    if stop == "kill switch":
        AuditStore(TABLE).set_pause(None, Pause.ALL, "operator", at(105))
    else:
        boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])
    calls = len(applies)
    clock.pin(at(110))
    invoke(event)
    # THEN A's change is audited, and no Auto Scaling call puts B's decision back (it once set it
    # under the kill switch, and under a suspended Launch that launches nothing, saying only `settled_to`)
    assert desired() == 4 and len(applies) == calls
    recovered = [r for r in audit("web") if r.get("recovered_from")]
    assert len(recovered) == 1 and "settled_to" not in recovered[0]
    why = "paused (all)" if stop == "kill switch" else "Launch is suspended on the group"
    assert f"{newest} not put back: {why}" in recovered[0]["reason"]


def test_instances_launched_by_a_late_delivered_alarm_warm_up_from_their_launch(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import copy
    from datetime import timedelta

    from . import support

    config = copy.deepcopy(support.CONFIG)
    config["groups"][0].update(warmup_seconds=240, scale_out={})  # the defaults: 4 minutes, whole need
    monkeypatch.setattr(support, "CONFIG", config)
    support.write_config(config)
    alarm._wiring.cache_clear()
    # GIVEN an alarm of T0 (2 instances at 95 %) delivered at T0 + 3 min, Lambda's second retry: 2 -> 4
    cpu_metric(95.0, T0)
    support.set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    clock.pin(T0 + timedelta(minutes=3))
    invoke(alarm_event(SNS, alarm_for("web", "cpu"), T0, metric="CPUUtilization"))
    assert desired() == 4
    # WHEN the re-evaluation runs 2 minutes after they launched, on a datapoint of the old fleet
    cpu_metric(95.0, T0 + timedelta(minutes=5))
    clock.pin(T0 + timedelta(minutes=5))
    invoke(support.reevaluation(5))
    # THEN the 2 new instances are still warming: it holds (their warm-up was counted from the alarm's
    # T0 and ended 3 minutes early, and a second scale-out took the same load again, 4 -> 8)
    assert desired() == 4, audit("web")[-1]["reason"]


def test_a_commit_whose_throttled_apply_still_retries_is_applied_once(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    from .support import reevaluation, set_alarm_state

    apply = AutoScalingFleet.set_desired_capacity
    calls: list[int] = []

    def still_retrying(self: AutoScalingFleet, name: str, value: int) -> None:
        calls.append(value)
        if len(calls) == 1:
            # A's SetDesiredCapacity is throttled and tried again in rounds; 35 s after its commit,
            # while it still retries, the per-minute re-evaluation runs
            clock.pin(at(75))
            invoke(reevaluation(1))
        apply(self, name, value)

    monkeypatch.setattr(AutoScalingFleet, "set_desired_capacity", still_retrying)
    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    clock.pin(at(40))
    invoke(cpu_alarm(40))
    # THEN one change, one `applied` record (the re-evaluation took the commit for abandoned after a fixed
    # 30 s and applied it too)
    assert desired() == 4
    assert [r["outcome"] for r in audit("web")].count("applied") == 1, [r["reason"] for r in audit("web")]
    assert calls == [4]


def test_a_change_whose_audit_write_failed_is_audited_by_its_retry_after_a_newer_decision(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from surgeguard.adapters.audit_store import AuditStore

    from .support import set_alarm_state

    write = AuditStore.write_audit
    throttled: list[dict[str, Any]] = []

    def first_applied_throttled(self: AuditStore, record: dict[str, Any]) -> None:
        if not throttled and record.get("outcome") == "applied":
            throttled.append(record)
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    monkeypatch.setattr(AuditStore, "write_audit", first_applied_throttled)
    # GIVEN alarm A's 2 -> 4 landed with its audit write throttled, then a newer alarm B's 4 -> more
    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    first = cpu_alarm(40)
    with pytest.raises(RetryableFailureError):
        invoke(first)
    cpu_metric(80.0, at(170) - timedelta(minutes=1))
    invoke(cpu_alarm(170))
    assert desired() > 4
    # WHEN Lambda retries A
    clock.pin(at(230))
    invoke(first)
    # THEN A's change has its applied record, saying what came after (the retry once took it for a
    # change that never landed, and was skipped as stale: the scale-out never audited, nor told)
    (recovered,) = [r for r in audit("web") if r.get("recovered_from")]
    assert (recovered["outcome"], recovered["previous_desired"], recovered["new_desired"]) == (
        "applied",
        2,
        4,
    )
    assert "a newer decision" in recovered["reason"]


@pytest.mark.usefixtures("stack_iam")
def test_a_retry_whose_claim_answer_is_lost_keeps_the_stash_of_the_attempt_before(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard.adapters.audit_store import AuditStore

    from .support import set_alarm_state

    write, claim = AuditStore.write_audit, AuditStore.claim
    attempt = [0]

    def applied_throttled_first(self: AuditStore, record: dict[str, Any]) -> None:
        if attempt[0] == 1 and record.get("outcome") == "applied":
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    def answer_lost_second(self: AuditStore, *args: Any, **kwargs: Any) -> Any:
        taken = claim(self, *args, **kwargs)  # it lands ...
        if attempt[0] == 2:
            raise AwsCallError("UpdateItem", "RequestTimeout", "answer lost")  # ... and its answer is lost
        return taken

    monkeypatch.setattr(AuditStore, "write_audit", applied_throttled_first)
    monkeypatch.setattr(AuditStore, "claim", answer_lost_second)
    # GIVEN attempt 1: 2 -> 4 landed, its audit write throttled (its record stashed with the claim);
    # attempt 2: its claim landed but the answer was lost, so it frees the claim it cannot confirm
    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = cpu_alarm(40)
    clock.pin(at(40))
    for attempt[0] in (1, 2):
        with pytest.raises(RetryableFailureError):
            invoke(event)
    # WHEN attempt 3 runs
    attempt[0] = 3
    invoke(event)
    # THEN the change that landed has its applied record (freeing the claim deleted the stash with it,
    # and attempt 3 decided afresh: "unchanged, hold at 4", the scale-out never audited)
    assert desired() == 4
    assert [(r["previous_desired"], r["new_desired"]) for r in audit("web") if r["outcome"] == "applied"] == [
        (2, 4)
    ]


def _claim_applied_then_answer_lost() -> dict[str, int]:
    """The next claim UpdateItem reaches DynamoDB (moto applies it) and its answer is lost: botocore's
    standard retry mode sends it again (a read timeout is transient), and the retry meets the claim
    its own first attempt just wrote. DynamoDB documents that a write which timed out "may or may not
    have succeeded"."""
    from botocore.exceptions import ReadTimeoutError
    from moto.core.models import botocore_stubber

    seen = {"lost": 0, "sent": 0}

    def before_send(request: Any, event_name: str, **_: Any) -> None:
        body = request.body.decode() if isinstance(request.body, bytes) else str(request.body or "")
        if keys.TRIGGER_PREFIX not in body:
            return
        seen["sent"] += 1
        if not seen["lost"]:
            seen["lost"] = 1
            botocore_stubber(event_name=event_name, request=request)
            raise ReadTimeoutError(endpoint_url=request.url)

    clients.client("dynamodb").meta.events.register_first("before-send.dynamodb.UpdateItem", before_send)
    return seen


def test_a_takeover_whose_claim_the_sdk_sent_twice_still_sees_the_attempt_before_it(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from surgeguard.adapters.audit_store import AuditStore

    from .support import set_alarm_state

    # GIVEN attempt 1 decided to hold (nothing stashed), wrote its record, then died before completing
    # its claim
    complete = AuditStore.complete

    def dies(self: AuditStore, claim: Any) -> None:
        raise AwsCallError("UpdateItem", "InternalServerError", "the attempt died here")

    monkeypatch.setattr(AuditStore, "complete", dies)
    cpu_metric(50.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = cpu_alarm(40)
    clock.pin(at(40))
    invoke(event)
    monkeypatch.setattr(AuditStore, "complete", complete)
    assert [r["outcome"] for r in audit("web")] == ["unchanged"]
    # WHEN a redelivery after its lease takes the claim over, and the SDK sends that claim twice (the
    # first answer lost): the second attempt meets its own lease, and the record key of attempt 1 that
    # the first answer carried is no longer the item's
    seen = _claim_applied_then_answer_lost()
    clock.pin(at(40 + 120))
    invoke(event)
    # THEN it still knows attempt 1 finished: a duplicate, not a second decision of the same trigger
    assert seen["lost"] == 1 and seen["sent"] >= 2
    # (Both records are filed at the trigger's time, in the order of their random delivery ids.)
    assert sorted((r["outcome"], r.get("skip_cause") or "") for r in audit("web")) == [
        ("skipped", "duplicate"),
        ("unchanged", ""),
    ]


def test_a_commit_the_reevaluation_put_in_place_is_not_audited_applied_again_by_its_retry(
    invoke: Invoke, audit: Audit, cpu_metric: Callable[..., None], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from .support import set_alarm_state, set_desired_fails_once

    # GIVEN alarm A committed 2 -> 4, stashed its record, and its SetDesiredCapacity was throttled past
    # every round: `failed`, the stash kept for Lambda's retry
    set_desired_fails_once(monkeypatch)
    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = cpu_alarm(40)
    clock.pin(at(45))
    with pytest.raises(RetryableFailureError):
        invoke(event)
    # AND the per-minute re-evaluation, 75 s after the commit (A's attempt no longer applying it), puts
    # the committed 4 in place and audits it `applied`
    clock.pin(at(120))
    reevaluation = {"action": "reevaluate", "scheduled_time": "2026-11-20T12:02:00Z"}
    invoke({**reevaluation, "execution_id": str(uuid.uuid4())})
    assert desired() == 4
    # WHEN Lambda retries A
    clock.pin(at(125))
    invoke(event)
    # THEN one `applied` 2 -> 4 for the one SetDesiredCapacity (the retry, finding 4 in the group, once
    # wrote its stashed record as `applied` too), and A's retry says who put its change in place
    applied = [(r["previous_desired"], r["new_desired"]) for r in audit("web") if r["outcome"] == "applied"]
    assert applied == [(2, 4)]
    (retry,) = [r for r in audit("web") if r.get("recovered_from")]
    assert (retry["outcome"], retry["skip_cause"]) == ("skipped", "duplicate")
    assert "was put in place by reevaluate#" in retry["reason"]


def test_a_reevaluation_redelivered_after_its_claim_was_left_open_decides_no_group_twice(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from surgeguard.adapters.audit_store import AuditStore

    from .support import reevaluation, set_alarm_state, set_desired

    # GIVEN a re-evaluation that held web at 4 and wrote its record, but whose claim's completion failed
    set_desired("web", 4)
    for minute in range(-3, 4):
        cpu_metric(50.0, T0 + timedelta(minutes=minute))
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = reevaluation(1)
    clock.pin(T0 + timedelta(minutes=1, seconds=2))

    def complete_fails(self: AuditStore, claim: Any) -> None:
        raise AwsCallError("UpdateItem", "InternalServerError", "internal error")

    with monkeypatch.context() as patch:
        patch.setattr(AuditStore, "complete", complete_fails)
        invoke(event)
    # WHEN the same re-evaluation is delivered again after its lease ran out, the load now higher
    for minute in range(1, 4):
        cpu_metric(95.0, T0 + timedelta(minutes=minute, seconds=30))
    clock.pin(T0 + timedelta(minutes=2, seconds=30))
    invoke(event)
    # THEN web keeps its one record of that trigger (it was decided again: 4 -> 6 under the same id),
    # and the redelivery is a duplicate
    records = [r for r in audit("web") if r["trigger"]["id"] == event["execution_id"]]
    assert [r["outcome"] for r in records] == ["unchanged"] and desired() == 4
    assert [r.get("skip_cause") for r in audit("-")] == ["duplicate"]


def _web_and_api_held_in_alarm(cpu_metric: Callable[..., None], make_asg: Any) -> None:
    from datetime import timedelta

    from .support import set_alarm_state, set_desired

    make_asg("api")
    for group in ("web", "api"):
        set_desired(group, 4)
        for minute in range(-3, 4):
            cpu_metric(50.0, T0 + timedelta(minutes=minute), group)
        set_alarm_state(alarm_for(group, "cpu"), "ALARM")


def _web_throttled(write: Callable[..., None]) -> Callable[..., None]:
    def throttled(self: Any, record: dict[str, Any]) -> None:
        if record.get("group") == "web":
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    return throttled


def test_a_reevaluation_whose_audit_writes_fail_part_way_decides_no_written_group_again(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
    make_asg: Any,
) -> None:
    from datetime import timedelta

    from surgeguard.adapters.audit_store import AuditStore

    from .support import reevaluation

    # GIVEN web and api in ALARM, both held (nothing stashed), and web's PutItem throttled
    _web_and_api_held_in_alarm(cpu_metric, make_asg)
    event = reevaluation(1)
    clock.pin(T0 + timedelta(minutes=1, seconds=2))

    with monkeypatch.context() as patch:
        patch.setattr(AuditStore, "write_audit", _web_throttled(AuditStore.write_audit))
        with pytest.raises(RetryableFailureError):
            invoke(event)
    # WHEN Lambda retries it, api's load higher now
    for minute in range(1, 4):
        cpu_metric(95.0, T0 + timedelta(minutes=minute, seconds=30), "api")
    clock.pin(T0 + timedelta(minutes=2, seconds=30))
    invoke(event)
    # THEN api keeps its one record of the trigger (the claim was released, and api decided again)
    # and web gets its one
    for group in ("web", "api"):
        records = [r for r in audit(group) if r["trigger"]["id"] == event["execution_id"]]
        assert len(records) == 1, (group, [r["outcome"] for r in records])


def test_a_delivery_finding_its_trigger_in_progress_is_retried_when_its_record_cannot_be_written(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.domain.triggers import parse_alarm_event

    from .support import set_alarm_state

    # GIVEN an attempt that claimed the trigger and died, its lease still running
    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = cpu_alarm(40)
    clock.pin(at(40))
    AuditStore(TABLE).claim(
        parse_alarm_event(event).trigger_id,
        int(at(40).timestamp()),
        70,
        {"group": "web", "at": "x", "delivery_id": "attempt-1"},
    )
    audit_write_throttled_once(monkeypatch)
    # WHEN a redelivery finds it in progress and its record's PutItem is throttled
    # THEN it is raised for Lambda's retry (it became an "internal error" record, and no retry came to
    # take over from the dead attempt)
    with pytest.raises(RetryableFailureError, match="could not be written"):
        invoke(event)
    assert not [r for r in audit("web") if "internal error" in r["reason"]]


@pytest.mark.parametrize("paused", [False, True])
def test_a_put_back_behind_a_late_apply_is_recorded_and_reads_the_kill_switch(
    paused: bool,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.domain.model import Pause

    def pause_if_asked() -> None:
        if paused:
            AuditStore(TABLE).set_pause(None, Pause.ALL, "operator", at(101))

    # GIVEN decider A (2 -> 4) whose apply lands after B's 8, its answer not lost
    applies = _overtake_the_first_apply(invoke, requests_metric, monkeypatch, pause_if_asked)
    cpu_metric(80.0)
    invoke(cpu_alarm(40))
    (own,) = [r for r in audit("web") if r.get("new_desired") == 4]
    if paused:
        # THEN under the kill switch nothing is put back, and A's record says so (it was set anyway)
        assert applies == [4, 8] and desired() == 4
        assert own["settle_skipped"] == "the newer decision's 8 not put back: paused (all)"
    else:
        # THEN A's record names the SetDesiredCapacity(8) it made (it said so only after three rounds)
        assert applies == [4, 8, 8] and desired() == 8 and own["settled_to"] == 8


def test_a_put_back_behind_a_late_apply_is_not_made_while_launch_is_suspended(
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def suspend_launch() -> None:
        boto3.client("autoscaling").suspend_processes(AutoScalingGroupName="web", ScalingProcesses=["Launch"])

    # GIVEN decider A (2 -> 4) whose apply lands after B's 8, and Launch suspended on the group since
    applies = _overtake_the_first_apply(invoke, requests_metric, monkeypatch, suspend_launch)
    cpu_metric(80.0)
    invoke(cpu_alarm(40))
    (own,) = [r for r in audit("web") if r.get("new_desired") == 4]
    # THEN B's 8 is not put back (AWS would accept it and launch nothing), and A's record says why; it
    # once said `settled_to` 8 as if the group were on its way there
    assert applies == [4, 8] and desired() == 4 and "settled_to" not in own
    assert own["settle_skipped"].startswith(
        "the newer decision's 8 not put back: Launch is suspended on the group (SuspendedProcesses)"
    )
    assert own["settle_skipped"] in own["reason"]


@pytest.mark.parametrize("paused", [False, True])
def test_people_told_of_a_late_apply_hear_where_the_group_was_left(
    paused: bool,
    invoke: Invoke,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    notifications: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.domain.model import Pause

    def pause_if_asked() -> None:
        if paused:
            AuditStore(TABLE).set_pause(None, Pause.ALL, "operator", at(101))

    # GIVEN decider A (2 -> 4) whose apply lands after B's 8 (B told people 4 -> 8 already)
    _overtake_the_first_apply(invoke, requests_metric, monkeypatch, pause_if_asked)
    cpu_metric(80.0)
    invoke(cpu_alarm(40))
    # WHEN A tells people of its change, last
    told = notifications.read()
    assert [n["Subject"] for n in told] == [
        "Surgeguard applied: web 4 -> 8",
        "Surgeguard applied: web 2 -> 4",
    ]
    # THEN it says where the group was left: B's 8 put back, or left at 4 under the kill switch. It once
    # said only A's own decision, after B's "4 -> 8": the group read as at 8 while the pause left it at 4.
    expected = "the newer decision's 8 not put back: paused (all)" if paused else "8 put back"
    assert expected in told[-1]["Message"], told[-1]["Message"]


@pytest.mark.parametrize("load", ["same", "higher"])
def test_a_retry_after_two_attempts_stashed_changes_audits_the_one_that_landed(
    load: str,
    invoke: Invoke,
    audit: Audit,
    cpu_metric: Callable[..., None],
    requests_metric: Callable[..., None],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import timedelta

    from surgeguard.adapters.audit_store import AuditStore
    from surgeguard.adapters.autoscaling import AutoScalingFleet

    from .support import set_alarm_state

    cpu_metric(80.0)
    set_alarm_state(alarm_for("web", "cpu"), "ALARM")
    event = cpu_alarm(40)

    def never_lands(self: AutoScalingFleet, name: str, value: int) -> None:
        raise AwsCallError("SetDesiredCapacity", "InternalFailure", "boom")

    # GIVEN attempt 1, whose SetDesiredCapacity(4) failed and never landed (its change stashed) ...
    clock.pin(at(45))
    with monkeypatch.context() as patch:
        patch.setattr(AutoScalingFleet, "set_desired_capacity", never_lands)
        with pytest.raises(RetryableFailureError):
            invoke(event)
    # ... and Lambda's retry, which decided again (4, or 8 under more load), applied, and could not
    # write its `applied` record (its change stashed beside the first)
    if load == "higher":
        requests_metric(5000.0, at(100) - timedelta(minutes=1))
    clock.pin(at(110))
    write = AuditStore.write_audit

    def applied_throttled(self: AuditStore, record: dict[str, Any]) -> None:
        if record.get("outcome") == "applied":
            raise AwsCallError("PutItem", "ProvisionedThroughputExceededException", "throttled")
        write(self, record)

    with monkeypatch.context() as patch:
        patch.setattr(AuditStore, "write_audit", applied_throttled)
        with pytest.raises(RetryableFailureError):
            invoke(event)
    landed = desired()
    # WHEN Lambda retries again
    clock.pin(at(180))
    invoke(event)
    # THEN the change that landed is audited once, and nothing more is decided (the first stash's
    # "never landed" once threw the landed 8 away and scaled on to 10; two alike made two records
    # and an internal error)
    applied = [r["new_desired"] for r in audit("web") if r["outcome"] == "applied"]
    assert applied == [landed] == [4 if load == "same" else 8] and desired() == landed
    assert not [r for r in audit("web") if "internal error" in r["reason"]]


def test_a_claim_written_before_every_attempt_was_listed_still_names_them_all(audit_table: str) -> None:
    from surgeguard.adapters.audit_store import AuditStore

    # GIVEN a claim as the version before kept it: its holder's record key and the one before, no list
    store = AuditStore(audit_table)
    first = {"group": "", "at": "2026-11-20T12:01:00.000+00:00", "delivery_id": "r1#a"}
    second = {**first, "delivery_id": "r2#b"}
    boto3.client("dynamodb").put_item(
        TableName=audit_table,
        Item={
            keys.PARTITION_KEY: {"S": keys.trigger_pk("reevaluate#x")},
            keys.SORT_KEY: {"S": keys.CLAIM_SORT_KEY},
            "status": {"S": "running"},
            "lease_until": {"N": "0"},
            "token": {"S": "old"},
            "record_key": {"S": json.dumps(second)},
            "previous_record_key": {"S": json.dumps(first)},
        },
    )
    # WHEN two more attempts take it over in turn
    third, fourth = ({**first, "delivery_id": f"r{n}#c"} for n in (3, 4))
    taken = store.claim("reevaluate#x", 100, 60, third)
    store.yield_lease(taken)
    last = store.claim("reevaluate#x", 200, 60, fourth)
    # THEN each knows every attempt before it (the version before's two keys are in no list: the third
    # puts them in the item's)
    assert taken.earlier_records == (first, second)
    assert last.earlier_records == (first, second, third)


def test_an_ok_alarm_whose_record_landed_with_its_answer_lost_leaves_one_record(
    invoke: Invoke, audit: Audit, notifications: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an alarm back to OK (a record with no claim: nothing to decide), whose audit PutItem lands
    # but whose answer is lost after the SDK's retries, on a clock that moves on as a real one does.
    # That once reached the handler's boundary: a second record, `failed` "internal error" beside the
    # `skipped` one, and people told of a failure for an alarm that only returned to OK.
    import surgeguard.service as service

    ticks = iter(range(1_000_000))
    monkeypatch.setattr(service, "utc_now", lambda: at(40) + timedelta(milliseconds=next(ticks)))
    _first_audit_write_lands_answer_lost(monkeypatch)
    # WHEN it is delivered
    invoke(cpu_alarm(40, state="OK"))
    # THEN it leaves its one record, and nobody is told of a failure
    assert [(r["outcome"], r.get("skip_cause")) for r in audit("web")] == [("skipped", "alarm_ok")]
    assert audit("-") == [] and notifications.read() == []


def _first_audit_write_lands_answer_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first audit PutItem lands and its answer is lost (a read timeout); the rest go through."""
    from surgeguard.adapters.audit_store import AuditStore

    write = AuditStore.write_audit
    lost = [1]

    def landed_but_lost(self: AuditStore, record: dict[str, Any]) -> None:
        write(self, record)
        if lost.pop() if lost else 0:
            raise AwsCallError("PutItem", "RequestTimeout", "read timeout")

    monkeypatch.setattr(AuditStore, "write_audit", landed_but_lost)


def _run_claimed_raises_an_unexpected_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The claimed work fails with an error of no expected kind (a bug of ours)."""
    import surgeguard.service as service

    def broken(*args: Any) -> list[dict[str, Any]]:
        raise KeyError("Version")

    monkeypatch.setattr(service, "run_claimed", broken)
