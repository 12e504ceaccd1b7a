"""The forecaster: read the load history, fit the seasonal model, write the group's FORECAST item.

EventBridge Scheduler invokes the forecast Lambda every `forecast.every_minutes` with
`{"group", "scheduled_time", "execution_id"}`. One audit record per trigger (claimed by group and
scheduled time: a redelivery is a duplicate): `applied` when a floor is written in floor mode,
`skipped` (`forecast_only`) with the would-be floor in forecast-only mode, `skipped` (`no_history`)
without enough history, `skipped` (`superseded`) for a late run when a newer forecast is already
written, `rejected` for a bad payload or a group without a requests signal. The reactive path reads
the item and takes `floor:forecast` into account at its next decision. Its one Auto Scaling call is opt-in
(`forecast.size_warm_pool`): PutWarmPool, to hold as many prepared instances as the next hours could
need (domain/warm_pool.py); the same audit record says what it set and why.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from surgeguard.adapters.errors import AwsCallError, GroupNotFoundError
from surgeguard.config import (
    ANCHOR_MIN_DAYS,
    NOISE_MAX_SHARE_OF_MEAN_MAX,
    NOISE_SIGMAS_MAX,
    ForecastConfig,
    GroupConfig,
)
from surgeguard.domain.anchors import (
    MULTIPLIER_CURVE,
    MULTIPLIERS,
    AnchorVerdict,
    FleetModel,
    judge_against_anchors,
)
from surgeguard.domain.forecast import (
    BurstLearning,
    BurstSettings,
    ForecastState,
    carry_burst_run,
    due_bursts,
    fit_forecast,
    floor_steps,
    learn_bursts,
    mark_gaps,
)
from surgeguard.domain.headroom import (
    JUDGE_MIN_MINUTES,
    HeadroomVerdict,
    judge_noise_headroom,
    noise_multiple_curve,
    without_windows,
)
from surgeguard.domain.model import GroupSnapshot, Outcome, ScalingAction
from surgeguard.domain.sales import normal_demand_time, plan_event, target_capacity
from surgeguard.domain.triggers import BadInputError, parse_time, safe_text
from surgeguard.domain.warm_pool import WarmPool, size_warm_pool
from surgeguard.service import (
    Adapters,
    Claimed,
    Context,
    Invocation,
    Stash,
    _record,
    check_time,
    guarded,
    reject_unparsed,
    run_claimed,
)

logger = logging.getLogger("surgeguard")

_FIELDS = ("group", "scheduled_time", "execution_id")
# Floors are written per step of the horizon, so capacity follows the forecast's shape.
STEP_MINUTES = 15
# The function keeps a failed run 15 minutes (two async retries); older is a replay.
FORECAST_MAX_AGE = timedelta(minutes=15)
# A stored forecast issued later than this past the Lambda's clock is no run's (a run's scheduled time
# is refused beyond a few minutes ahead): a damaged item, overwritten rather than kept forever.
CREDIBLE_AHEAD = timedelta(hours=1)
# Published per forecast written (embedded metric format, by the handler): the stack alarms when a
# group's count stays at zero, so a forecaster that stopped writing is heard (infra/constructs/monitoring).
METRIC_NAMESPACE = "Surgeguard"
FORECAST_WRITTEN = "ForecastWritten"
# The noise headroom is judged once a day: its verdict rests on a week or more, and a day adds little.
JUDGE_EVERY = timedelta(days=1)
# A choice that cannot be renewed (the group's metrics unreadable) stands this long, then lapses to the
# configured headroom: a week-old reading of the traffic is no reason to hold more.
ANCHOR_STANDS_FOR = timedelta(days=3)
# The busiest minute of this last stretch of history bounds what a burst the forecast misses may ask.
WEEK = timedelta(days=7)
# The field of a run's stashed PutWarmPool: the MaxGroupPreparedCapacity it put.
_POOL_PUT = "warm_pool_put"


@runtime_checkable
class WarmPools(Protocol):
    """A fleet that can read and put a group's warm pool (the real Auto Scaling adapter, the simulator)."""

    def warm_pool(self, name: str) -> WarmPool | None: ...
    def put_warm_pool(self, name: str, pool: WarmPool) -> None: ...


@dataclass(frozen=True)
class ForecastTrigger:
    group: GroupConfig
    forecast: ForecastConfig
    per_instance: float
    scheduled_time: datetime
    execution_id: str

    @property
    def trigger_id(self) -> str:
        # Not the execution id: Scheduler makes a new one for each attempt to deliver (REAL-AWS 19b), so
        # a run it delivers again would write the forecast again and leave two records for one firing.
        when = self.scheduled_time.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"forecast#{self.group.name}#{when}"

    def audit(self) -> dict[str, Any]:
        return {
            "id": self.execution_id,
            "source": "forecaster",
            "scheduled_time": self.scheduled_time.isoformat(),
            "execution_id": self.execution_id,
        }


def parse_forecast_event(event: Any, ctx: Context) -> ForecastTrigger:
    """The Scheduler's JSON Input -> a forecast run of a configured group; BadInputError says why not."""
    if not isinstance(event, dict):
        raise BadInputError(f"forecast payload is not a JSON object: {type(event).__name__}")
    foreign = sorted(safe_text(str(k), 40) for k in event if k not in _FIELDS)
    if foreign:
        raise BadInputError(
            f"forecast payload has keys {foreign[:8]} a forecast run never carries: "
            "meant for another handler?"
        )
    missing = [f for f in _FIELDS if not isinstance(event.get(f), str) or not event.get(f)]
    if missing:
        raise BadInputError(f"forecast payload lacks {missing} (strings): got keys {sorted(event)}")
    group = ctx.config.group(event["group"])
    if group is None:
        raise BadInputError(f"forecast names group {safe_text(event['group'])!r}, which is not in the config")
    if group.forecast is None:
        raise BadInputError(f"group {group.name} has no `forecast` section: nothing to forecast")
    per_instance = group.requests_target()
    if per_instance is None:
        raise BadInputError(
            f"group {group.name} has no requests_per_target signal: the forecaster reads ALB RequestCount "
            "and sizes the floor by requests per instance"
        )
    when = parse_time(event["scheduled_time"], "scheduled_time", zone_required=True)
    check_time(when, ctx.clock(), "the forecast run's scheduled time", FORECAST_MAX_AGE)
    return ForecastTrigger(group, group.forecast, per_instance, when, safe_text(event["execution_id"]))


def handle_forecast_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation | None = None
) -> dict[str, Any]:
    """Handle one forecast run; returns the one audit record written."""
    return guarded(_forecast_event, event, adapters, ctx, invocation or Invocation())[0]


def _forecast_event(
    event: Any, adapters: Adapters, ctx: Context, invocation: Invocation, delivery_id: str
) -> list[dict[str, Any]]:
    try:
        trigger = parse_forecast_event(event, ctx)
    except BadInputError as error:
        return [reject_unparsed(event, error, adapters, ctx, delivery_id, "forecast")]
    now = trigger.scheduled_time.replace(second=0, microsecond=0)
    claimed = Claimed(
        trigger.trigger_id,
        trigger.group.name,
        trigger.audit(),
        now,
        lambda stash: [_forecast(trigger, adapters, ctx, delivery_id, now, stash)],
        f"execution {trigger.execution_id} of the forecaster",
        notify=frozenset({Outcome.FAILED}),  # a floor written every few minutes is no news
        redo=lambda stash, earlier: [_forecast(trigger, adapters, ctx, delivery_id, now, stash, earlier)],
    )
    return run_claimed(claimed, adapters, ctx, invocation, delivery_id)


def _forecast(
    trigger: ForecastTrigger,
    adapters: Adapters,
    ctx: Context,
    delivery_id: str,
    now: datetime,
    stash: Stash,
    earlier: tuple[dict[str, Any], ...] = (),
) -> dict[str, Any]:
    """One run's work and its record. `earlier`: what an earlier attempt of this run stashed (its
    PutWarmPool, made before its record could be written)."""
    group, settings = trigger.group, trigger.forecast
    # An anchored group's last item is read first: its choice and history live there alone, and a read
    # left until after the history's slow reads could meet the invocation's deadline on every retry.
    anchored_previous = _previous_forecast(group, adapters) if group.anchors_noise_headroom() else None
    read = adapters.signals.request_history(group, now - timedelta(days=settings.history_days), now)
    # The declared sales' minutes (opening to release) are the sales', met by their own floors: fitted,
    # a sale a week ago once set 2.5x the floor in the same hours a week later, and sized the warm pool
    # for it all week. Left out of every fit, as the noise judge leaves them out (and says).
    sales = [plan_event(group, event).opened for event in group.events]
    history = without_windows(read, now - timedelta(minutes=len(read)), sales)
    horizon = settings.horizon_hours * 60
    # The minimum history is counted on what was read: left out, a sale's minutes once took a 2-day
    # history under it, and nothing was written for days after each sale.
    fit = fit_forecast(history, horizon, settings.percentile, counted=read)

    def skipped(reason: str, cause: str) -> dict[str, Any]:
        return _record(
            ctx,
            delivery_id,
            now,
            Outcome.SKIPPED,
            group=group.name,
            trigger=trigger.audit(),
            reason=reason,
            skip_cause=cause,
        )

    if fit is None:
        return skipped(
            f"not enough history to forecast {group.name}: under 2 days of non-gap minutes in the last "
            f"{settings.history_days} days; no floor written",
            "no_history",
        )
    lead = group.lead_minutes()
    steps = floor_steps(fit.upper, trigger.per_instance, STEP_MINUTES, lead)
    # Learned from the same history, for the whole horizon (a missed run leaves the next hours known).
    learned = (
        learn_bursts(
            history, horizon, BurstSettings(lead_minutes=lead, hourly_share=settings.hourly_burst_share)
        )
        if settings.anticipate_bursts
        else None
    )
    bursts = () if learned is None else due_bursts(learned.factors)
    # The last item: its verdict may still stand, and a run of due minutes it holds up to now goes on.
    previous = anchored_previous
    if not group.anchors_noise_headroom() and (_judges_headroom(group) or any(m == 0 for m, _ in bursts)):
        previous = _previous_forecast(group, adapters)
    # The bursts keep their own backtest (the learned lift): the verdict is on the noise headroom only.
    verdict, judge_note = _judge_noise_headroom(trigger, previous, read, now)
    anchor, anchor_note = _anchor_noise_headroom(trigger, adapters, previous, read, now, verdict)
    state = ForecastState(
        mode=settings.mode,
        issued_at=now,
        valid_until=now + timedelta(minutes=horizon),
        step_minutes=STEP_MINUTES,
        steps=steps,
        percentile=settings.percentile,
        multiplier=fit.multiplier,
        mape=fit.mape,
        # A burst due now was anticipated since the run of due minutes began, maybe under the last item:
        # its no-show clock runs from then (README: lead + 2 minutes into the run), not from this run.
        bursts=carry_burst_run(previous, now, bursts),
        headroom=verdict,
        anchor=anchor,
    )
    newer = adapters.store.save_forecast(group.name, state, credible_until=ctx.clock() + CREDIBLE_AHEAD)
    if newer is not None:
        return skipped(
            f"a newer forecast, issued {newer.isoformat()}, is in place: this run's, for "
            f"{now.isoformat()}, is not written (a late retry must not put older floors back)",
            "superseded",
        )
    mape = "n/a" if fit.mape is None else f"{fit.mape:.1%}"
    summary = (
        f"forecast floor {state.floor} (now {steps[0]}) for the next {settings.horizon_hours} h: "
        f"p{round(settings.percentile * 100)} upper bound = {fit.multiplier:.2f}x the point forecast, "
        f"peak {max(fit.upper):.0f} requests/min at {trigger.per_instance:g} per instance; "
        f"last day's backtest MAPE {mape}"
    )
    burst_note = "" if learned is None else _describe_bursts(bursts, now, learned)
    cause: str | None = None
    if settings.mode == "floor":
        outcome, reason = Outcome.APPLIED, f"{summary}; in effect until {state.valid_until.isoformat()}"
    elif bursts:  # the anticipated bursts act even while the seasonal floor is only recorded
        outcome, reason = Outcome.APPLIED, f"forecast-only floor: would set {summary}"
    else:
        outcome, reason = Outcome.SKIPPED, f"forecast-only: would set {summary}; nothing acts on it"
        cause = "forecast_only"
    reason += burst_note + judge_note + anchor_note
    pool_note: dict[str, Any] | None = None
    if settings.size_warm_pool:
        pool_note = _size_pool(
            trigger,
            adapters,
            state,
            history,
            now,
            dry_run=ctx.config.is_dry_run(trigger.group),
            stash=stash,
            earlier_put=_earlier_put(earlier),
        )
        if outcome is Outcome.SKIPPED and pool_note.get("applied") is not False:
            # The pool put acts (it launches instances to stop) whatever the seasonal floor's mode: a
            # record that says nothing acted on this run once stood beside a PutWarmPool that did. A put
            # whose answer was lost and could not be read back may have landed: not "nothing".
            reason = reason.replace("; nothing acts on it", "; the floor acts on nothing", 1)
            if pool_note.get("applied") is True:
                outcome, cause = Outcome.APPLIED, None
        reason += f"; {pool_note['summary']}"
    record = _record(
        ctx,
        delivery_id,
        now,
        outcome,
        group=group.name,
        trigger=trigger.audit(),
        reason=reason,
        skip_cause=cause,
    )
    record["forecast"] = {
        "mode": settings.mode,
        "floor": state.floor,
        "steps": list(steps),
        "step_minutes": STEP_MINUTES,
        "valid_until": state.valid_until.isoformat(),
        "percentile": settings.percentile,
        "multiplier": fit.multiplier,
        "mape": fit.mape,
        "history_buckets": fit.history_buckets,
        "bursts": [[minute, rise] for minute, rise in bursts],
        "burst_lift": None if learned is None or learned.lift is None else round(learned.lift, 3),
        "burst_share": None
        if learned is None or learned.burst_share is None
        else round(learned.burst_share, 3),
        "hourly_burst_lift": None
        if learned is None or learned.hourly_lift is None
        else round(learned.hourly_lift, 3),
        # What it expects: mean requests per minute of each step (the bench scores these, as MAPE).
        "expected_per_step": [
            round(sum(fit.point[i : i + STEP_MINUTES]) / len(fit.point[i : i + STEP_MINUTES]), 3)
            for i in range(0, len(fit.point), STEP_MINUTES)
        ],
    }
    if verdict is not None:
        record["forecast"]["headroom"] = {
            "noise_pays": verdict.noise_pays,
            "judged_at": verdict.judged_at.isoformat(),
            "minutes": verdict.minutes,
            "noise_dropped_pct": round(verdict.noise_dropped_pct, 4),
            "target_dropped_pct": round(verdict.target_dropped_pct, 4),
            "target_share": round(verdict.target_share, 4),
        }
    if anchor is not None:
        record["forecast"]["anchor"] = {
            "multiplier": anchor.multiplier,
            "judged_at": anchor.judged_at.isoformat(),
            "days": anchor.days,
            "own_dropped_pct": round(anchor.own_dropped_pct, 4),
            "anchor_dropped_pct": round(anchor.anchor_dropped_pct, 4),
            "own_instance_hours": round(anchor.own_instance_minutes / 60, 1),
            "anchor_instance_hours": round(anchor.anchor_instance_minutes / 60, 1),
            "anchor_target_pct": anchor.target_pct,
            "at_anchor_target": anchor.at_anchor_target,
        }
    if pool_note is not None:
        record["warm_pool"] = pool_note
    return record


def _judges_headroom(group: GroupConfig) -> bool:
    return group.noise_headroom.target_share_if_unpaid is not None and group.judges_noise_headroom()


def _previous_forecast(group: GroupConfig, adapters: Adapters) -> ForecastState | None:
    """The group's FORECAST item as the last run wrote it; None when there is none, or it cannot be read
    or is malformed: then, as on the first run, the verdict is judged afresh and no run of due minutes
    goes on from it. An anchored group's run fails on a read that a retry can cure (throttled, a 5xx, a
    network timeout), so that Lambda retries it: the anchor's choice and its history are in that item
    and nowhere else, and a run that wrote over them would lose them (the last forecast stays in effect
    until its `valid_until` meanwhile). Any other error (denied, the invocation's own deadline) would
    fail every retry too: the run goes on as if there were no item, and a choice is made afresh."""
    try:
        return adapters.store.load_forecast(group.name)
    except (AwsCallError, LookupError, TypeError, ValueError) as error:
        if isinstance(error, AwsCallError) and error.transient and group.anchors_noise_headroom():
            raise
        logger.warning("%s: could not read the last forecast item: %s", group.name, error)
        return None


def _judge_noise_headroom(
    trigger: ForecastTrigger, item: ForecastState | None, history: list[float | None], now: datetime
) -> tuple[HeadroomVerdict | None, str]:
    """The day's verdict on the group's noise headroom (README, "Noise headroom, judged"), and the
    reason's sentence on it: the last run's verdict (in `item`, the last FORECAST item) while under a day
    old, else a new one from the history just read. None: not asked for, or under a week of history."""
    group = trigger.group
    share = group.noise_headroom.target_share_if_unpaid
    if share is None or not _judges_headroom(group):
        return None, ""
    previous = None if item is None else item.headroom
    sales_note = ""
    if previous is not None and previous.judged_at <= now < previous.judged_at + JUDGE_EVERY:
        verdict: HeadroomVerdict | None = previous
    elif len(history) - history.count(None) < JUDGE_MIN_MINUTES:
        verdict = None  # under a week of datapoints: no replay can be judged (counted in C, hourly)
    else:
        settings = group.noise_headroom
        per_target, per_instance = group.requests_target(), group.full_load_requests()
        assert per_target is not None and per_instance is not None, "config: needs a requests signal"
        # The declared sales' minutes, from the first ramp stage until the max is restored, are left out.
        sales = [(plan.first_phase, plan.restore) for plan in (plan_event(group, e) for e in group.events)]
        replayed = without_windows(history, now - timedelta(minutes=len(history)), sales)
        left_out = replayed.count(None) - history.count(None)
        verdict = judge_noise_headroom(
            mark_gaps(replayed),
            judged_at=now,
            target_fraction=min(1.0, per_target / per_instance),
            sigmas=settings.sigmas,
            window=settings.window_minutes,
            max_share_of_mean=settings.max_share_of_mean,
            lead=max(1, group.lead_minutes()),
        )
        if left_out:
            sales_note = f" (the replay left out {left_out} minutes of declared sales)"
    if verdict is None:
        return None, "; noise headroom not judged yet: under a week of history"
    if verdict.noise_pays:
        return verdict, f"; {verdict.describe()}{sales_note}"
    return verdict, (
        f"; {verdict.describe()}{sales_note}: it stands down, and the signals aim at "
        f"{share:g} of their targets, until a judgement finds it pays"
    )


def _anchor_noise_headroom(
    trigger: ForecastTrigger,
    adapters: Adapters,
    item: ForecastState | None,
    history: list[float | None],
    now: datetime,
    noise: HeadroomVerdict | None,
) -> tuple[AnchorVerdict | None, str]:
    """The day's multiple of the noise headroom against AWS's anchors (README, "Noise headroom anchored
    to AWS"), and the reason's sentence on it: the last run's while under a day old, else a new one from
    `history` (RequestCount per minute up to `now`) and the group's InService and total instances over
    the same minutes. `noise`: the noise headroom's verdict this item carries. None: not asked for, or
    never judged. Nothing here fails the run: the forecast is written whatever becomes of the anchor."""
    group = trigger.group
    if not group.anchors_noise_headroom():
        return None, ""
    previous = None if item is None else item.anchor
    # Judged with the noise headroom's verdict whenever that is judged, so that the multiple recorded
    # for a day is the one that ran: none while the headroom stood down.
    rejudged = noise is not None and noise.judged_at == now
    # A choice recorded while the noise headroom stood down is no choice once it pays: judged again.
    stale = previous is not None and previous.stood_down and (noise is None or noise.noise_pays)
    fresh = previous is not None and previous.judged_at <= now < previous.judged_at + JUDGE_EVERY
    # A choice made against another target than the config's now answers a question nobody asks.
    # Compared within a millionth of a point: a stored 56.99999999999999 (the config's 57 as a share, times
    # 100) once read as another target, and the choice was judged again every run, never kept its day.
    retargeted = previous is not None and not math.isclose(
        previous.target_pct, group.noise_headroom.anchor_target, rel_tol=0.0, abs_tol=1e-6
    )
    if previous is not None and fresh and not rejudged and not stale and not retargeted:
        return previous, f"; {previous.describe()}"
    try:
        verdict, why_not = _judge_anchors(group, adapters, previous, history, now)
    except (ArithmeticError, ValueError) as error:
        # A judgement that cannot be made must not cost the group its forecast floor.
        logger.exception("%s: the anchor judgement failed", group.name)
        verdict, why_not = None, f"the judgement failed ({safe_text(str(error), 200)})"
    sentence = None
    if verdict is None:
        verdict, sentence = _unrenewed(previous, now, why_not)
    if verdict is not None and noise is not None and not noise.noise_pays and not verdict.stood_down:
        # Stood down, the headroom has nothing to multiply: 1x is what runs, and what the history keeps
        # (in place of this judgement's entry, or after a choice kept from before).
        verdict = verdict.at_1x_from(now, stood_down=True)
        if sentence is not None:
            sentence += "; the noise headroom stands down (judged not to pay): 1x"
    if sentence is None:
        sentence = "" if verdict is None else f"; {verdict.describe()}"
    return verdict, sentence


def _judge_anchors(
    group: GroupConfig,
    adapters: Adapters,
    previous: AnchorVerdict | None,
    history: list[float | None],
    now: datetime,
) -> tuple[AnchorVerdict | None, str]:
    """A new judgement (None, and why, when none can be made)."""
    start = now - timedelta(minutes=len(history))
    try:
        in_service, instances = adapters.signals.fleet_history(group, start, now)
    except AwsCallError as error:
        logger.warning("%s: the group's metrics unreadable: %s", group.name, error)
        return None, f"the group's metrics unreadable ({error})"
    per_instance, per_target = group.full_load_requests(), group.requests_target()
    assert per_instance is not None and per_target is not None, "config: anchoring needs a requests signal"
    # The declared sales' minutes, from the first ramp stage until the max is restored, are left out: the
    # choice is about the group's everyday noise, and a sale is met by its own floor.
    sales = [(plan.first_phase, plan.restore) for plan in (plan_event(group, e) for e in group.events)]
    demand = mark_gaps(without_windows(history, start, sales))
    # ALB publishes no RequestCount in a minute without requests, and target tracking's CPU goes on
    # through it: where the group's metrics say it ran, a minute without a count had no requests (a
    # quiet night read as a gap kept the replayed anchors from ever scaling in, 5x their cost).
    no_count = [v is None and n is not None for v, n in zip(history, in_service, strict=True)]
    quiet = [0.0 if missing else v for v, missing in zip(history, no_count, strict=True)]
    replayed = without_windows(quiet, start, sales)
    settings = group.noise_headroom
    # How this group's drops answer the multiple, from the noise judge's replay of its requests (README: a
    # generic curve promised AAPL's weak lever as much as AMZN's strong one); its cost, from the nine
    # long traces' mean (the replay overstates it), except below 1x: there the generic curve promises a
    # group whose cost is mostly noise headroom (ELB, 0.88x of the oracle's hours) a saving of a few
    # percent, and no lean multiple was ever predicted under step scaling's cost (README).
    response = noise_multiple_curve(
        demand,
        MULTIPLIERS,
        target_fraction=min(1.0, per_target / per_instance),
        sigmas=settings.sigmas,
        window=settings.window_minutes,
        max_share_of_mean=settings.max_share_of_mean,
        lead=max(1, group.lead_minutes()),
        # The decision never runs the headroom past these: a multiple they collapse is no more headroom.
        sigmas_max=NOISE_SIGMAS_MAX,
        share_max=NOISE_MAX_SHARE_OF_MEAN_MAX,
    )
    curve = (
        MULTIPLIER_CURVE
        if response is None
        else {m: (response[m][0], response[m][1] if m < 1.0 else MULTIPLIER_CURVE[m][1]) for m in MULTIPLIERS}
    )
    verdict = judge_against_anchors(
        replayed,
        in_service,
        instances,
        FleetModel(per_instance, group.launch_to_serving_minutes(), group.min, group.max),
        warming_minutes=group.in_service_to_serving_minutes(),
        judged_at=now,
        previous=previous,
        min_days=ANCHOR_MIN_DAYS,
        curve=curve,
        no_datapoint=no_count,
        target_share=settings.anchor_target / 100.0,
    )
    if verdict is None:
        return None, (
            f"under {ANCHOR_MIN_DAYS} days with half their minutes known of requests, "
            "GroupInServiceInstances and GroupTotalInstances (the group's metrics collection must be on)"
        )
    return verdict, ""


def _unrenewed(
    previous: AnchorVerdict | None, now: datetime, why_not: str
) -> tuple[AnchorVerdict | None, str]:
    """No new judgement: the last choice stands a while (the next run tries again), then lapses to 1x,
    keeping the history of what ran."""
    if previous is None:
        return None, f"; noise headroom not anchored yet: {why_not}"
    not_this_run = f"; noise headroom not anchored this run: {why_not}"
    last = f"the {previous.multiplier:g}x of {previous.judged_at.isoformat()}"
    if previous.judged_at > now:
        # Stamped after this run's clock: no run of ours made it, and nothing it says ran yet.
        return None, (
            f"{not_this_run}; the choice stamped {previous.judged_at.isoformat()}, after this run, is dropped"
        )
    if now < previous.judged_at + ANCHOR_STANDS_FOR:
        return previous, f"{not_this_run}; {last} stands"
    if previous.multiplier == 1.0:
        return previous, f"{not_this_run}; 1x since the last choice lapsed"
    return previous.at_1x_from(now), f"{not_this_run}; {last} lapsed to 1x"


def _earlier_put(earlier: tuple[dict[str, Any], ...]) -> int | None:
    """The MaxGroupPreparedCapacity an earlier attempt of this run stashed before its PutWarmPool."""
    puts = [entry.get(_POOL_PUT) for entry in earlier]
    return next((put for put in reversed(puts) if isinstance(put, int)), None)


def _size_pool(
    trigger: ForecastTrigger,
    adapters: Adapters,
    state: ForecastState,
    history: list[float | None],
    now: datetime,
    *,
    dry_run: bool,
    stash: Stash,
    earlier_put: int | None = None,
) -> dict[str, Any]:
    """PutWarmPool when the prepared capacity the next hours could need has moved enough; never fails
    the run (the forecast is written): a failed call is in the record, and the next run tries again.
    `applied` says whether the pool is now as sized: true, false, or None where a lost answer could not
    be read back.

    The put is stashed with the run's claim first, as a capacity change is: where the attempt then
    cannot write its record, the retry finds the pool already sized and keeps it, and its record once
    said "kept", the put that launched instances audited nowhere. `earlier_put`: that stash's capacity;
    a pool found at it was set by this run."""
    group = trigger.group
    fleet = adapters.fleet
    if not isinstance(fleet, WarmPools):
        return {"summary": "warm pool not sized: this fleet adapter cannot put warm pools", "applied": False}
    # Gaps as the fit reads them: a NaN or inf minute once reached math.ceil as the week's peak, and the
    # run failed after writing its floor (retried, failing alike, for as long as the minute was read).
    week = [v for v in mark_gaps(history[-int(WEEK / timedelta(minutes=1)) :]) if v is not None]
    horizon = timedelta(hours=trigger.forecast.horizon_hours)
    try:
        targets = []
        for event in group.events:
            plan = plan_event(group, event)
            if plan.first_phase - horizon <= now < plan.release:
                normal = (
                    None
                    if event.peak_requests_per_minute is not None
                    else adapters.signals.normal_requests_per_minute(group, normal_demand_time(event))
                )
                targets.append((event.name, target_capacity(group, event, normal, state.steps[0])[0]))
        current = fleet.warm_pool(group.name)
        # Read for its suspended processes, and where the pool's prepared capacity is unset, for its
        # MaxSize: an unset prepared capacity prepares for the group's MaxSize in AWS, not the config's
        # max or a sale's target (judged against those, a pool preparing 20 passed for one preparing a
        # sale's 30).
        snapshot = fleet.describe(group.name)
        unset = current is not None and current.max_group_prepared_capacity is None
        asg_max = snapshot.size.max if unset else None
        sizing = size_warm_pool(
            steps=state.steps,
            burst_rises=[rise for _, rise in state.horizon_bursts],
            week_peak_requests=max(week) if week else None,
            per_instance=trigger.per_instance,
            event_targets=targets,
            group_max=max([group.max, *(target for _, target in targets)]),
            current=current,
            asg_max=asg_max,
        )
    except (AwsCallError, GroupNotFoundError) as error:
        # A group gone or being deleted has no pool to size; the forecast written is this run's record.
        logger.warning("warm pool of %s not sized: %s", group.name, error)
        return {"summary": f"warm pool not sized: {error}", "applied": False, "error": str(error)}
    except (ArithmeticError, ValueError) as error:
        # A figure no capacity can be sized from (a sale's normal load read as inf): the forecast is
        # written, and a `failed` record would have Lambda retry a run that fails the same way.
        logger.exception("warm pool of %s not sized", group.name)
        why = f"{type(error).__name__}: {error}"
        return {"summary": f"warm pool not sized: {why}", "applied": False, "error": why}
    if sizing is None:
        return _pool_kept(current, asg_max, earlier_put)
    pool = (
        WarmPool(sizing.max_group_prepared_capacity)
        if current is None
        else replace(current, max_group_prepared_capacity=sizing.max_group_prepared_capacity)
    )
    put = {"max_group_prepared_capacity": sizing.max_group_prepared_capacity}
    # Dry-run, a suspended Launch and the kill switch stop this Auto Scaling call as they stop every
    # other (a pool launches instances): the record says what would have been put.
    stopped = "dry-run" if dry_run else _launch_suspended(snapshot, pool, current, asg_max)
    if stopped is None:
        try:
            pause = adapters.store.load_pause(group.name)
        except AwsCallError as error:
            return {
                "summary": f"warm pool not sized: the kill switch cannot be read: {error}",
                "applied": False,
            }
        stopped = f"paused ({pause.value})" if pause.blocks(ScalingAction.SCALE_OUT) else None
    if stopped is not None:
        return {"summary": f"{stopped}: warm pool not sized; would set {sizing.why}", "applied": False, **put}
    try:
        stash({"group": group.name, _POOL_PUT: sizing.max_group_prepared_capacity})
    except AwsCallError as error:
        # Put without it, a put whose record then failed too would be audited nowhere: the next run,
        # minutes later, sizes the pool again.
        return {
            "summary": f"warm pool not sized: the put could not be kept with the run's claim first: {error}",
            "applied": False,
            "error": str(error),
        }
    return _put_pool(group.name, fleet, pool, sizing.why)


def _launch_suspended(
    snapshot: GroupSnapshot, pool: WarmPool, current: WarmPool | None, asg_max: int | None
) -> str | None:
    """Why a put that prepares more instances would do nothing: Launch suspended on the group (it adds
    instances to a warm pool too; AWS accepts the put). A put that prepares fewer still takes effect."""
    if "Launch" not in snapshot.suspended:
        return None
    if current is not None:
        # An unset prepared capacity prepares for the group's MaxSize (`asg_max`).
        prepared = current.max_group_prepared_capacity
        prepared = asg_max if prepared is None else prepared
        wanted = pool.max_group_prepared_capacity
        if prepared is not None and wanted is not None and wanted <= prepared:
            return None
    return (
        "Launch is suspended on the group (SuspendedProcesses), so the pool prepares nothing until it is "
        "resumed (aws autoscaling resume-processes --scaling-processes Launch)"
    )


def _pool_kept(current: WarmPool | None, asg_max: int | None, earlier_put: int | None) -> dict[str, Any]:
    """The note of a pool this run need not change: set by this run's earlier attempt (`earlier_put`,
    the capacity it stashed, is in place), or kept as it was."""
    prepared = None if current is None else current.max_group_prepared_capacity
    if earlier_put is not None and prepared == earlier_put:
        return {
            "summary": "warm pool set by this run's earlier attempt, whose record was not written: "
            f"MaxGroupPreparedCapacity {earlier_put}",
            "applied": True,
            "max_group_prepared_capacity": earlier_put,
        }
    held = f"unset: the group's MaxSize, {asg_max}" if prepared is None else str(prepared)
    return {"summary": f"warm pool kept (MaxGroupPreparedCapacity {held})", "applied": False}


def _put_pool(group: str, fleet: WarmPools, pool: WarmPool, why: str) -> dict[str, Any]:
    """PutWarmPool, and the note of what it came to."""
    put = {"max_group_prepared_capacity": pool.max_group_prepared_capacity}
    try:
        fleet.put_warm_pool(group, pool)
    except AwsCallError as error:
        logger.warning("warm pool of %s not sized: %s", group, error)
        # A write whose answer was lost (a read timeout, a dropped connection) may still have landed:
        # the record says what DescribeWarmPool shows, not what the error suggests.
        try:
            landed = fleet.warm_pool(group) == pool
        except AwsCallError as unread:
            return {
                "summary": f"warm pool may not be sized: {error}; reading it back failed too ({unread}): "
                "the next run reads it again",
                "applied": None,
                "error": str(error),
                **put,
            }
        if not landed:
            return {"summary": f"warm pool not sized: {error}", "applied": False, "error": str(error)}
        return {
            "summary": f"warm pool set: {why} (PutWarmPool's answer was lost; DescribeWarmPool "
            "shows it in place)",
            "applied": True,
            "error": str(error),
            **put,
        }
    return {"summary": f"warm pool set: {why}", "applied": True, **put}


def _describe_bursts(bursts: tuple[tuple[int, float], ...], now: datetime, learned: BurstLearning) -> str:
    """The burst minutes in words: `; bursts anticipated at 10:02-10:09 (x2.4), ...`, and either rule
    its backtest set aside."""
    settings = BurstSettings()
    aside = []
    if learned.distrusted and learned.lift is not None and learned.lift < settings.min_lift:
        aside.append(
            f"the minute-of-the-day rule set aside: where its bursts were due since the last day with "
            f"one, a burst came {learned.lift:.2f}x as often as on any minute (under "
            f"{settings.min_lift:g}x: noise)"
        )
    elif learned.distrusted and learned.burst_share is not None:
        aside.append(
            f"the minute-of-the-day rule set aside: on the last day with a burst, "
            f"{100 * learned.burst_share:.0f} % of the minutes burst (over "
            f"{100 * settings.max_burst_share:g} %: a burst that common is the noise)"
        )
    if learned.hourly_distrusted:
        aside.append(
            f"the minute-of-the-hour rule set aside: learned without the last day, it foretold that day's "
            f"bursts {learned.hourly_lift:.2f}x as often as chance (under {settings.hourly_min_lift:g}x)"
        )
    said = "".join(f"; {note}" for note in aside)
    if not bursts:
        return ("; no burst anticipated" if aside else "; no burst recurs in the horizon") + said
    runs: list[list[Any]] = []  # [first minute, last minute, largest rise]
    for minute, rise in bursts:
        if runs and minute == runs[-1][1] + 1:
            runs[-1][1], runs[-1][2] = minute, max(runs[-1][2], rise)
        else:
            runs.append([minute, minute, rise])
    shown = ", ".join(
        f"{(now + timedelta(minutes=first)):%H:%M}-{(now + timedelta(minutes=last)):%H:%M} (x{rise:.1f})"
        for first, last, rise in runs[:6]
    )
    more = f" and {len(runs) - 6} more" if len(runs) > 6 else ""
    return f"; bursts anticipated at {shown}{more} UTC{said}"


def forecast_written_metric(
    record: dict[str, Any], alarm_prefix: str, now: datetime
) -> dict[str, Any] | None:
    """The CloudWatch embedded-metric-format document for a run that wrote the group's forecast
    (either mode), or None. CloudWatch Logs turns such a line on a Lambda's stdout into a metric
    datapoint (Using the embedded metric format with Lambda), with no PutMetricData call."""
    if "forecast" not in record or not record.get("group"):
        return None
    return {
        "_aws": {
            "Timestamp": int(now.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": METRIC_NAMESPACE,
                    "Dimensions": [["Stack", "Group"]],
                    "Metrics": [{"Name": FORECAST_WRITTEN, "Unit": "Count"}],
                }
            ],
        },
        "Stack": alarm_prefix,
        "Group": record["group"],
        FORECAST_WRITTEN: 1,
    }
