"""Deciders racing for one group, on a moto server: no capacity moved backwards, no lost scale-out, every
trigger audited once, no breach silenced.

The alarm Lambda runs for real in threads (one per invocation, as concurrent Lambda environments
would), its boto3 clients talking HTTP to a ThreadedMotoServer on 127.0.0.1. The server answers one
request at a time: each AWS call is atomic, as DynamoDB's conditional writes are (moto's are not under
threads), while the deciders interleave freely between calls. Interleavings that matter are forced
with botocore hooks (injector.py) that hold one thread at a chosen call until another has finished;
every wait has a timeout, so a broken interleaving fails instead of hanging.

The Lambdas share one clock (world.Clock), as concurrent Lambdas share the wall clock: the tests move
it as time passes (a decider held for a minute resumes a minute later).

The world's data, for the alarm races at T1 (an hour after the sale's doors open, T0, with no sale
state in the table): CPU 80 over web's 2 instances at T1 (need 4), and ALB requests per target 4000 at
T1+120 s (4x the 1000 target): a trigger after T1+120 s sees a bigger need than one before. For the
race with the sale's pre-warm (T0-10 min): CPU 80 a minute before it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto.server import ThreadedMotoServer

from ..support import T0, WEB_TARGET_GROUP, alarm_for
from .harness import fresh_container
from .injector import Call, Injector, Rule
from .scenarios import ALARM as CPU_ALARM
from .scenarios import phase, sns_alarm
from .world import ENV, PREWARM, SIZES, Clock, Context, World, iso, source_id_of

REQUESTS_ALARM = alarm_for("web", "requests_per_target")
T1 = T0 + timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T1 + timedelta(seconds=seconds)


WAIT = 10.0  # seconds: every barrier, event and join gives up after this
OUTCOMES = {"applied", "unchanged", "skipped", "rejected", "failed"}


class _Serialized:
    """The server's WSGI app, one request at a time (moto's backends take no locks of their own)."""

    def __init__(self, app: Any) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        with self._lock:
            return list(self._app(environ, start_response))


@dataclass
class ServerWorld:
    world: World
    clock: Clock
    injector: Injector
    url: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerWorld]:
    import boto3

    quiet = {name: logging.getLogger(name) for name in ("surgeguard", "werkzeug")}
    levels = {name: logger.level for name, logger in quiet.items()}
    for logger in quiet.values():
        logger.setLevel(logging.CRITICAL)
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    url = f"http://{host}:{port}"
    moto._server.app = _Serialized(moto._server.app)  # type: ignore[union-attr]
    injector = Injector()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**ENV, "AWS_ENDPOINT_URL": url}.items():
                patch.setenv(name, value)
            patch.delenv("AWS_PROFILE", raising=False)
            # Backends made before (by an in-process mock) loaded moto's AMIs: start from none.
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/moto-api/reset", method="POST"), timeout=WAIT
            )
            fresh_container()
            world = World(tmp_path_factory.mktemp("concurrency") / "task")
            world.build(history=False)
            cpu = {"AutoScalingGroupName": "web"}
            world.put_metric("AWS/EC2", "CPUUtilization", cpu, [(PREWARM - timedelta(minutes=1), 80.0)])
            world.put_metric("AWS/EC2", "CPUUtilization", cpu, [(at(0), 80.0)])
            requests = {"TargetGroup": WEB_TARGET_GROUP}
            world.put_metric("AWS/ApplicationELB", "RequestCountPerTarget", requests, [(at(120), 4000.0)])
            for name, value in world.environment().items():
                patch.setenv(name, value)
            injector.attach(boto3._get_default_session()._session)
            clock = Clock()
            clock.install(patch)
            yield ServerWorld(world, clock, injector, url)
    finally:
        injector.detach()
        fresh_container()
        moto.stop()
        for name, logger in quiet.items():
            logger.setLevel(levels[name])


# --- deciders -------------------------------------------------------------------------------------
@dataclass
class Decider:
    """One delivery handled by a real Lambda handler in its own thread."""

    name: str
    event: dict[str, Any]
    function: str = "alarm"  # or "schedule"
    alarm: str | None = None  # the alarm it reports, for alarm deliveries
    when: datetime | None = None  # the alarm's state change
    error: BaseException | None = None
    thread: threading.Thread | None = None

    @property
    def source_id(self) -> str:
        return source_id_of(self.event)


def deciders(sw: ServerWorld, specs: list[tuple[str, str, datetime]]) -> list[Decider]:
    """Alarm deliveries: (name, alarm, state change time) -> the SNS message CloudWatch would send."""
    cloudwatch = sw.world.api("cloudwatch")
    return [
        Decider(name, sns_alarm(alarm, when, cloudwatch=cloudwatch), alarm=alarm, when=when)
        for name, alarm, when in specs
    ]


def start(sw: ServerWorld, decider: Decider, go: threading.Barrier | None = None) -> None:
    from surgeguard.handlers import alarm, schedule

    handler = {"alarm": alarm.lambda_handler, "schedule": schedule.lambda_handler}[decider.function]

    def run() -> None:
        try:
            if go is not None:
                go.wait(WAIT)
            with sw.injector.armed():
                handler(decider.event, Context(function_name=f"surgeguard-{decider.function}"))
        except BaseException as error:  # judged by the test
            decider.error = error

    decider.thread = threading.Thread(target=run, name=decider.name, daemon=True)
    decider.thread.start()


def join(decider: Decider) -> None:
    assert decider.thread is not None
    decider.thread.join(WAIT * 2)
    assert not decider.thread.is_alive(), f"decider {decider.name} never finished (hung)"


def hold(
    sw: ServerWorld, thread: str, when: str, matches: Callable[[Call], bool]
) -> tuple[threading.Event, threading.Event]:
    """Hold `thread` at its first call matching (before it is sent, or after it took effect) until
    released. Returns (reached, release)."""
    reached, release = threading.Event(), threading.Event()

    def action(call: Call, model: Any) -> None:
        reached.set()
        release.wait(WAIT)

    sw.injector.add(Rule(when, lambda call, n: call.thread == thread and matches(call), action))
    return reached, release


# --- invariants -----------------------------------------------------------------------------------
def items_by_trigger(sw: ServerWorld, made: list[Decider]) -> dict[str, dict[str, Any]]:
    """Exactly one audit item per trigger, carrying its delivery id; returns them by decider name."""
    items = sw.world.audit_items()
    found: dict[str, dict[str, Any]] = {}
    for decider in made:
        mine = [i for i in items if i.get("source_id") == decider.source_id]
        outcomes = [(i["outcome"], i.get("skip_cause")) for i in mine]
        assert len(mine) == 1, f"trigger {decider.name} has {len(mine)} audit items: {outcomes}"
        assert mine[0]["outcome"] in OUTCOMES
        found[decider.name] = mine[0]
    return found


def check_no_errors(made: list[Decider]) -> None:
    errors = {d.name: f"{type(d.error).__name__}: {d.error}" for d in made if d.error is not None}
    assert not errors, f"handlers raised with no fault injected: {errors}"


def check_capacity(sw: ServerWorld, items: dict[str, dict[str, Any]]) -> int:
    """No capacity behind the newest committed decision; no scale-out lost; returns web's desired."""
    low, desired, high = sw.world.size("web")
    assert low <= desired <= high, f"web outside [min, max]: {(low, desired, high)}"
    committed = sw.world.committed_desired("web")
    assert desired == committed, (
        f"capacity moved behind the newest committed decision: web desired {desired}, the state "
        f"item's committed decision {committed}"
    )
    applied = [i for i in items.values() if i["outcome"] == "applied"]
    biggest = max((int(i["new_desired"]) for i in applied), default=SIZES["web"][1])
    assert desired >= biggest, f"a scale-out was lost: web desired {desired} < applied {biggest}"
    # Applied scale-outs compose: each started from where the one before it left the group.
    chain = sorted((int(i["previous_desired"]), int(i["new_desired"])) for i in applied)
    starts = [SIZES["web"][1]] + [new for _, new in chain[:-1]]
    assert [previous for previous, _ in chain] == starts, (
        f"the `applied` items do not compose (previous -> new): {chain}: a change audited as applied "
        "more than once, or a decision not started from the committed capacity"
    )
    return desired


def check_breaches_heard(sw: ServerWorld, made: list[Decider], items: dict[str, dict[str, Any]]) -> None:
    """No breach silenced: an alarm not re-armed is still in ALARM, and the per-minute re-evaluation
    (a period after the last trigger) then decides the group."""
    from surgeguard.handlers import alarm

    made = [d for d in made if d.alarm is not None]
    states = {d.alarm: sw.world.alarm_state(d.alarm) for d in made if d.alarm is not None}
    assert set(states.values()) <= {"OK", "ALARM"}, (
        f"a triggered alarm is neither re-armed nor in ALARM: {states}"
    )
    unheard = [
        d.name for d in made if items[d.name]["outcome"] != "applied" and states.get(d.alarm or "") == "OK"
    ]
    assert not unheard, f"breaches silenced: {unheard} did not act and their alarm was set to OK"
    if "ALARM" not in states.values():
        return
    last = max(d.when for d in made if d.when is not None) + timedelta(minutes=2)
    execution = str(uuid.uuid4())
    sw.clock.set(last + timedelta(seconds=5))
    with sw.injector.armed():
        alarm.lambda_handler(
            {"action": "reevaluate", "scheduled_time": iso(last), "execution_id": execution}, Context()
        )
    decided = [
        i for i in sw.world.audit_items() if i.get("source_id") == execution and i.get("group") == "web"
    ]
    assert len(decided) == 1, (
        f"the re-evaluation left {len(decided)} items for web (breach in ALARM: {states})"
    )
    assert decided[0]["outcome"] in ("applied", "unchanged"), (
        f"the re-evaluation did not decide web: {decided[0]['outcome']} {decided[0].get('skip_cause')}"
    )


@pytest.fixture
def sw(server: ServerWorld) -> ServerWorld:
    server.world.reset()
    server.injector.reset()
    for name in (CPU_ALARM, REQUESTS_ALARM):
        server.world.set_alarm(name, "ALARM")
    return server


# --- the races ------------------------------------------------------------------------------------
def test_eight_triggers_for_one_group_at_once(sw: ServerWorld) -> None:
    # GIVEN eight deliveries for web within one alarm period (both of its scale-out alarms, by turns)
    made = deciders(
        sw, [(f"d{i}", CPU_ALARM if i % 2 == 0 else REQUESTS_ALARM, at(30 + 2 * i)) for i in range(8)]
    )
    go = threading.Barrier(len(made), timeout=WAIT)
    # WHEN eight Lambdas handle them at the same moment, 5 s after the last alarm
    sw.clock.set(at(30 + 2 * 7 + 5))
    for decider in made:
        start(sw, decider, go)
    for decider in made:
        join(decider)
    # THEN each is audited once; one decision for the period, the others skipped for it
    check_no_errors(made)
    items = items_by_trigger(sw, made)
    decided = [n for n, i in items.items() if i["outcome"] in ("applied", "unchanged")]
    assert len(decided) == 1, f"{len(decided)} decisions for web in one alarm period: {decided}"
    others = {n: (i["outcome"], i.get("skip_cause")) for n, i in items.items() if n not in decided}
    # rate_limited: within the decided period; stale: older than the decided trigger; concurrent: lost
    # every save race. All leave their alarm in ALARM for the re-evaluation (checked below).
    skips = ("rate_limited", "stale", "concurrent")
    assert all(o == "skipped" and c in skips for o, c in others.values()), others
    # AND the scale-out the load needs happened, exactly at the committed decision
    assert check_capacity(sw, items) == 4
    check_breaches_heard(sw, made, items)


def test_eight_triggers_from_eight_periods_at_once(sw: ServerWorld) -> None:
    # GIVEN eight deliveries for web from eight successive alarm periods, delivered all at once
    made = deciders(
        sw, [(f"d{i}", CPU_ALARM if i < 4 else REQUESTS_ALARM, at(30 + 61 * i)) for i in range(8)]
    )
    go = threading.Barrier(len(made), timeout=WAIT)
    # WHEN eight Lambdas handle them at the same moment (a backlog: the oldest is 7 minutes old)
    sw.clock.set(at(30 + 61 * 7 + 5))
    for decider in made:
        start(sw, decider, go)
    for decider in made:
        join(decider)
    # THEN each is audited once, and capacity sits at the newest committed decision, never behind it
    check_no_errors(made)
    items = items_by_trigger(sw, made)
    assert any(i["outcome"] == "applied" for i in items.values()), items
    check_capacity(sw, items)
    check_breaches_heard(sw, made, items)


def _is_state_write(call: Call) -> bool:
    return call.service == "dynamodb" and "STATE" in call.touches and not call.operation.startswith("Get")


@pytest.mark.parametrize(
    ("held_at", "when", "matches"),
    [
        ("at its SetDesiredCapacity", "before", lambda c: c.operation == "SetDesiredCapacity"),
        ("between its state save and its apply", "after", _is_state_write),
    ],
    ids=["apply-delayed", "held-after-commit"],
)
def test_a_delayed_apply_never_lands_behind_a_newer_decision(
    sw: ServerWorld, held_at: str, when: str, matches: Callable[[Call], bool]
) -> None:
    # GIVEN decider A (CPU alarm at T0+40 s: 2 -> 4) held at `held_at`
    a, b = deciders(sw, [("A", CPU_ALARM, at(40)), ("B", REQUESTS_ALARM, at(130))])
    reached, release = hold(sw, "A", when, matches)
    sw.clock.set(at(45))
    start(sw, a)
    assert reached.wait(WAIT), f"A was never held {held_at}"
    # WHEN decider B (requests 4x the target, a period later) decides and applies in full meanwhile
    sw.clock.set(at(135))
    start(sw, b)
    try:
        join(b)
    finally:
        release.set()  # and then A's held call goes on
    join(a)
    # THEN both are audited once, B scaled out past A, and the group ends at B's (newest) decision
    check_no_errors([a, b])
    items = items_by_trigger(sw, [a, b])
    first, second = items["A"], items["B"]
    assert (first["outcome"], first.get("new_desired")) == ("applied", 4), first
    scaled = second["outcome"] == "applied" and int(second.get("new_desired") or 0) > 4
    assert scaled, (
        f"lost scale-out: B (requests 4x the target on 2 serving; 4 -> 8 when not racing) did not scale "
        f"past A's 4 while A was held {held_at}: {second['outcome']} {second.get('skip_cause') or ''} "
        f"-> {second.get('new_desired')}: {second['reason']}"
    )
    assert second["previous_desired"] == 4, (
        f"B's audit records previous_desired {second['previous_desired']}, not A's committed 4 that a "
        "decision starts from"
    )
    assert check_capacity(sw, items) == second["new_desired"]
    check_breaches_heard(sw, [a, b], items)


def test_sequential_control(sw: ServerWorld) -> None:
    """The races' reference: A then B, one after the other, scale 2 -> 4 -> 8."""
    a, b = deciders(sw, [("A", CPU_ALARM, at(40)), ("B", REQUESTS_ALARM, at(130))])
    for decider, clock in ((a, at(45)), (b, at(135))):
        sw.clock.set(clock)
        start(sw, decider)
        join(decider)
    check_no_errors([a, b])
    items = items_by_trigger(sw, [a, b])
    steps = [
        (items[n]["outcome"], items[n].get("previous_desired"), items[n].get("new_desired")) for n in "AB"
    ]
    assert steps == [("applied", 2, 4), ("applied", 4, 8)]
    assert check_capacity(sw, items) == 8


def test_the_loser_of_a_save_race_is_not_silenced(sw: ServerWorld) -> None:
    # GIVEN two deciders in one period that both read web's state before either saves
    a, b = deciders(sw, [("A", CPU_ALARM, at(40)), ("B", REQUESTS_ALARM, at(44))])
    both_read = threading.Barrier(2, timeout=WAIT)

    def meet(call: Call, model: Any) -> None:
        # A broken barrier: the other never read; the invariants below say what happened.
        with contextlib.suppress(threading.BrokenBarrierError):
            both_read.wait()

    def first_state_read(me: str) -> Callable[[Call, int], bool]:
        return lambda call, n: call.thread == me and call.label == "dynamodb.GetItem.STATE" and n == 1

    for name in ("A", "B"):
        sw.injector.add(Rule("after", first_state_read(name), meet))
    # WHEN both go on to decide and save
    sw.clock.set(at(49))
    for decider in (a, b):
        start(sw, decider)
    for decider in (a, b):
        join(decider)
    # THEN one decision stands, the other is audited as skipped for it, and its breach is still heard
    check_no_errors([a, b])
    items = items_by_trigger(sw, [a, b])
    outcomes = sorted((i["outcome"], i.get("skip_cause") or "") for i in items.values())
    assert [o for o, _ in outcomes].count("applied") == 1, outcomes
    check_capacity(sw, items)
    check_breaches_heard(sw, [a, b], items)


def test_a_delayed_alarm_apply_never_undoes_a_prewarm(sw: ServerWorld) -> None:
    # GIVEN an alarm decider A (CPU 80 over 2, 30 s before the pre-warm: 2 -> 4) held at its apply
    (a,) = deciders(sw, [("A", CPU_ALARM, PREWARM - timedelta(seconds=30))])
    reached, release = hold(sw, "A", "before", lambda c: c.operation == "SetDesiredCapacity")
    sw.clock.set(PREWARM - timedelta(seconds=25))
    start(sw, a)
    assert reached.wait(WAIT), "A never reached its SetDesiredCapacity"
    # WHEN the sale's pre-warm (floor 6, MaxSize 20 -> 30) fires and finishes meanwhile
    prewarm = Decider("P", phase("prewarm", PREWARM), function="schedule")
    sw.clock.set(PREWARM + timedelta(seconds=5))
    start(sw, prewarm)
    try:
        join(prewarm)
    finally:
        release.set()  # and then A's SetDesiredCapacity(4) lands
    join(a)
    # THEN both are audited once, and the group ends at the pre-warm's (newest) decision: 6, MaxSize 30
    check_no_errors([a, prewarm])
    items = items_by_trigger(sw, [a, prewarm])
    assert (items["A"]["outcome"], items["A"].get("new_desired")) == ("applied", 4), items["A"]
    assert items["P"]["outcome"] == "applied", items["P"]
    assert items["P"].get("new_desired") == 6, items["P"]
    assert check_capacity(sw, items) == 6
    assert sw.world.size("web")[2] == 30


def test_another_writers_change_is_named_once_by_deciders_racing_after_it(sw: ServerWorld) -> None:
    # GIVEN Surgeguard scaled web 2 -> 4, and then someone set 3 in the console
    (first,) = deciders(sw, [("A", CPU_ALARM, at(40))])
    sw.clock.set(at(45))
    start(sw, first)
    join(first)
    sw.world.api("autoscaling").set_desired_capacity(AutoScalingGroupName="web", DesiredCapacity=3)
    # WHEN eight deliveries from eight later periods (past the 2-minute grace) are handled at once
    made = deciders(
        sw, [(f"d{i}", CPU_ALARM if i % 2 else REQUESTS_ALARM, at(200 + 61 * i)) for i in range(8)]
    )
    go = threading.Barrier(len(made), timeout=WAIT)
    sw.clock.set(at(200 + 61 * 7 + 5))
    for decider in made:
        start(sw, decider, go)
    for decider in made:
        join(decider)
    # THEN each is audited once, and exactly one of them names the change: the decision whose save
    # adopted it (the others re-read a state item that already holds it)
    check_no_errors([first, *made])
    items = items_by_trigger(sw, made)
    named = {n: i["other_writer"] for n, i in items.items() if "other_writer" in i}
    assert len(named) == 1, f"the change was named {len(named)} times: {named}"
    (change,) = named.values()
    assert (int(change["before"]), int(change["after"])) == (4, 3)
    low, desired, high = sw.world.size("web")
    assert low <= desired <= high and desired == sw.world.committed_desired("web")
