"""The noise headroom anchored to AWS (pure): target tracking replayed, the group's own minutes, the day's
choice of the multiple, and the group's own response to it."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import surgeguard.domain.anchors as anchors_module
from surgeguard.domain.anchors import (
    ANCHORS,
    AT_ANCHOR_TARGET_SPARE,
    DAY_MINUTES,
    LEAN_DROP_MARGIN,
    MULTIPLIER_CURVE,
    MULTIPLIERS,
    AnchorDay,
    AnchorVerdict,
    FleetModel,
    Outcome,
    choose_multiplier,
    daily,
    judge_against_anchors,
    multiplier_in_effect,
    observed_minutes,
    replay_anchor,
    replay_step_scaling,
)
from surgeguard.domain.headroom import (
    _JUDGE_REFRESH_MINUTES,
    MIN_DROP_RATIO,
    minute_spread,
    noise_multiple_curve,
)

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CPU, REQUESTS, HIRES = ANCHORS
FLEET = FleetModel(per_instance=100.0, lead_minutes=4, min_size=2, max_size=50)


def _anchors(dropped: float, held: float, demand: float = 1000.0) -> tuple[Outcome, ...]:
    return tuple(Outcome(demand, dropped, held) for _ in ANCHORS)


def test_target_tracking_launches_after_three_breaching_minutes_and_serves_a_lead_later() -> None:
    # GIVEN 10 instances at 50 % for 20 minutes, then 1.5x what they serve
    demand = [500.0] * 20 + [1500.0] * 20
    minutes = replay_anchor(demand, FLEET, CPU, start_size=10)
    held = [m[2] for m in minutes if m is not None]
    dropped = [m[1] for m in minutes if m is not None]
    # THEN 3 of 3 breaching datapoints (minutes 20-22) raise desired at minute 23: 10 x 100 / 50 = 20
    assert held[22] == 10 and held[23] == 20
    # AND the new instances serve 4 minutes later: minutes 20-26 drop what 10 cannot serve, none after
    assert dropped[:20] == [0.0] * 20
    assert dropped[20:27] == [500.0] * 7 and dropped[27:] == [0.0] * 13


def test_target_tracking_replays_at_the_target_it_is_anchored_to() -> None:
    # GIVEN 10 instances at 40 % for 20 minutes, then at full load
    demand = [400.0] * 20 + [1000.0] * 20
    at_40 = [
        m[2] for m in replay_anchor(demand, FLEET, CPU, start_size=10, target_share=0.4) if m is not None
    ]
    at_50 = [m[2] for m in replay_anchor(demand, FLEET, CPU, start_size=10) if m is not None]
    # THEN at 40 % the first 20 minutes are on target (no breach, not below 36 %), and full load asks
    # for 10 x 100 / 40 = 25 instances
    assert at_40[:23] == [10] * 23 and at_40[23] == 25
    # AND at 50 % (AWS's recommended, the default) the same 40 % is below 45 %: in to 8, then out to 16
    assert at_50[16] == 8 and at_50[23] == 16
    # AND the requests anchor's target is that share of an instance's full load: 40 a minute, 25 again
    requests = replay_anchor(demand, FLEET, REQUESTS, start_size=10, target_share=0.4)
    assert [m[2] for m in requests if m is not None][23] == 25


def test_the_hires_anchor_launches_after_one_breaching_minute() -> None:
    demand = [500.0] * 20 + [1000.0] * 20
    held = [m[2] for m in replay_anchor(demand, FLEET, HIRES, start_size=10) if m is not None]
    assert held[20] == 10 and held[21] == 20


def test_cpu_saturates_so_one_round_at_most_doubles_while_requests_per_target_does_not() -> None:
    # GIVEN 4 instances, then 4x the load they serve at 50 %
    demand = [200.0] * 20 + [800.0] * 20
    cpu = [m[2] for m in replay_anchor(demand, FLEET, CPU, start_size=4) if m is not None]
    requests = [m[2] for m in replay_anchor(demand, FLEET, REQUESTS, start_size=4) if m is not None]
    # THEN CPU reads 100 % (at most 2x, 8), requests per target 200 (4x, 16), both on minute 23
    assert cpu[23] == 8 and requests[23] == 16


def test_scale_in_waits_for_fifteen_low_minutes_and_for_no_instance_launching() -> None:
    # GIVEN 20 instances at 50 %, then a quarter of the load (12.5 % CPU)
    demand = [1000.0] * 20 + [250.0] * 40
    held = [m[2] for m in replay_anchor(demand, FLEET, CPU, start_size=20) if m is not None]
    # THEN 15 of 15 below 45 % (minutes 20-34) lower desired at minute 35: 20 x 12.5 / 50 = 5
    assert held[34] == 20 and held[35] == 5
    # AND with a 20-minute launch, a scale-out's instances still launching hold the scale-in back
    slow = FleetModel(per_instance=100.0, lead_minutes=20, min_size=2, max_size=50)
    spike = [1500.0] * 3 + [100.0] * 40
    held = [m[2] for m in replay_anchor(spike, slow, CPU, start_size=10) if m is not None]
    assert held[3] == 20 and held[22] == 20 and held[23] == 2


def test_an_unknown_minute_breaks_the_alarm_runs_and_decides_nothing() -> None:
    demand: list[float | None] = [500.0] * 20 + [1000.0, 1000.0, None, 1000.0, 1000.0, 1000.0]
    minutes = replay_anchor(demand, FLEET, CPU, start_size=10)
    assert minutes[22] is None
    held = [m[2] if m is not None else None for m in minutes]
    # the run restarts after the gap: 3 more breaching minutes (23-25) before desired rises
    assert held[25] == 10


def test_the_replay_stays_within_the_group_bounds() -> None:
    small = FleetModel(per_instance=100.0, lead_minutes=4, min_size=3, max_size=6)
    held = [m[2] for m in replay_anchor([5000.0] * 30 + [1.0] * 60, small, REQUESTS, 1) if m is not None]
    assert min(held) >= 3 and max(held) <= 6 and held[0] == 3


def test_step_scaling_leaves_instances_within_its_warm_up_out_of_the_base() -> None:
    # GIVEN 10 instances at 50 %, then 65 % for a minute, then 75 % (the user guide's example)
    demand = [500.0] * 5 + [650.0] + [750.0] * 10
    held = [m[2] for m in replay_step_scaling(demand, FLEET, start_size=10) if m is not None]
    # THEN 65 % (>= 60, < 70) adds 10 % of 10: 11; then 75 % adds 30 % of the base, 10, not of 11: 13
    assert held[5] == 10 and held[6] == 11 and held[7] == 13
    # AND while those launched are within the 5-minute warm-up, the same 75 % asks for 13 again, no more
    assert held[8] == 13


def test_step_scaling_scales_in_by_its_step_each_minute_after_fifteen_low_ones() -> None:
    # GIVEN 20 instances at 25 % (the -30 % step below 30 %)
    demand = [500.0] * 30
    held = [m[2] for m in replay_step_scaling(demand, FLEET, start_size=20) if m is not None]
    # THEN 15 low datapoints (minutes 0-14) take 30 % off at minute 15 (20 -> 14), and, the alarm still in
    # ALARM, 10 % more the next minute (500 on 14 is 35.7 %, the -10 % step): 13
    assert held[14] == 20 and held[15] == 14 and held[16] == 13
    # AND an unknown minute breaks the run, as a gap does
    gapped: list[float | None] = [500.0] * 10 + [None] + [500.0] * 20
    held_gapped = [m[2] if m is not None else None for m in replay_step_scaling(gapped, FLEET, 20)]
    assert held_gapped[25] == 20 and held_gapped[26] == 14


def _two_weeks_and_more(seed: int) -> list[float | None]:
    """Three weeks of a bursty random walk with a gap: the anchors scale out, in, and stop at a gap."""
    rng = random.Random(seed)
    level, minutes = 800.0, []
    for minute in range(21 * DAY_MINUTES):
        level = min(4000.0, max(50.0, level * rng.uniform(0.9, 1.11)))
        burst = 2.5 if minute % 180 < 4 else 1.0
        minutes.append(None if 9000 <= minute < 9090 else level * burst)
    return minutes


def _replays(minutes: list[float | None], silent: list[bool]) -> list[list[Any]]:
    return [replay_anchor(minutes, FLEET, anchor, 10, silent, 0.5) for anchor in ANCHORS] + [
        replay_step_scaling(minutes, FLEET, 10)
    ]


def _fresh(minutes: list[float | None], silent: list[bool]) -> list[list[Any]]:
    kept = list(anchors_module._REPLAYS._entries)
    anchors_module._REPLAYS._entries.clear()
    try:
        return _replays(minutes, silent)
    finally:
        anchors_module._REPLAYS._entries[:] = kept


@pytest.mark.parametrize("shift", [DAY_MINUTES, 60, DAY_MINUTES + 1, 2 * DAY_MINUTES])
def test_a_replay_of_the_window_moved_on_is_the_replay_from_scratch(shift: int) -> None:
    # GIVEN three weeks of minutes (one list: a window moved on holds the very same objects), some
    # without a datapoint, replayed over two weeks
    minutes = _two_weeks_and_more(seed=shift)
    silent = [minute % 97 == 0 for minute in range(len(minutes))]
    window = 14 * DAY_MINUTES
    _replays(minutes[:window], silent[:window])
    # WHEN the window moves on (a day, an hour, a minute past a day: checkpoints that never line up,
    # two days) THEN each replay is, minute for minute, the replay from scratch
    for start in range(shift, len(minutes) - window + 1, shift):
        moved, moved_silent = minutes[start : start + window], silent[start : start + window]
        assert _replays(moved, moved_silent) == _fresh(moved, moved_silent)


def test_the_replay_of_the_window_moved_on_a_day_resumes_where_it_meets_the_last() -> None:
    minutes = _two_weeks_and_more(seed=7)
    window = 14 * DAY_MINUTES
    replay_anchor(minutes[:window], FLEET, CPU, 10)
    last = anchors_module._REPLAYS._entries[0]
    # WHEN the window moves on a day, from another start size
    moved = replay_anchor(minutes[DAY_MINUTES : DAY_MINUTES + window], FLEET, CPU, 30)
    now = anchors_module._REPLAYS._entries[0]
    # THEN the last replay's minutes are taken over, the very objects, from where the two met (within a
    # few hours of the start) to the last one's end; the new day is replayed
    met = next(m for m in range(0, window, 60) if moved[m] is last.out[m + DAY_MINUTES])
    assert met <= 6 * 60
    overlap = window - DAY_MINUTES
    assert all(moved[m] is last.out[m + DAY_MINUTES] for m in range(met, overlap))
    assert now.checkpoints[overlap - 60] is last.checkpoints[window - 60]
    anchors_module._REPLAYS._entries.clear()
    assert moved == replay_anchor(minutes[DAY_MINUTES : DAY_MINUTES + window], FLEET, CPU, 30)


def test_a_minute_changed_in_the_overlap_is_replayed_not_taken_over() -> None:
    # GIVEN a replay of two weeks
    minutes = _two_weeks_and_more(seed=3)
    window = 14 * DAY_MINUTES
    replay_anchor(minutes[:window], FLEET, CPU, 10)
    # WHEN the window moved on a day has one minute in the overlap changed (another object, another
    # value: a datapoint CloudWatch revised), or a minute without a datapoint more (requests anchor)
    moved = minutes[DAY_MINUTES : DAY_MINUTES + window]
    moved[5000] = 3 * (moved[5000] or 0.0)
    # THEN the replays are the replays from scratch
    assert replay_anchor(moved, FLEET, CPU, 10) == _fresh(moved, [])[0]
    replay_anchor(minutes[:window], FLEET, REQUESTS, 10, [False] * window)
    quiet = [minute == 6000 for minute in range(window)]
    same = minutes[DAY_MINUTES : DAY_MINUTES + window]
    assert replay_anchor(same, FLEET, REQUESTS, 10, quiet) == _fresh(same, quiet)[1]


def test_the_groups_own_minutes_drop_what_its_serving_instances_cannot_serve() -> None:
    minutes = observed_minutes(
        [500.0, 900.0, None, 100.0], [4.0, 8.0, 8.0, None], [4.0, 10.0, 10.0, 2.0], 100.0, warming_minutes=0
    )
    assert minutes == [(500.0, 100.0, 4.0), (900.0, 100.0, 10.0), None, None]
    nan_or_negative = observed_minutes([math.nan, -1.0], [1.0, 1.0], [1.0, 1.0], 100.0, warming_minutes=0)
    assert nan_or_negative == [None, None]


def test_an_instance_serves_once_it_has_been_in_service_for_its_warm_up() -> None:
    # GIVEN 4 InService, 8 from minute 2 (AWS counts them while they warm), 4 again at minute 6, then
    # a minute with no datapoint, and 8 just after it
    in_service: list[float | None] = [4.0, 4.0, 8.0, 8.0, 8.0, 8.0, 4.0, None, 8.0, 8.0, 8.0, 8.0]
    minutes = observed_minutes([1000.0] * 12, in_service, [8.0] * 12, 100.0, warming_minutes=2)
    served = [None if m is None else round(m[0] - m[1]) for m in minutes]
    # THEN the 4 new ones serve from minute 4 (2 minutes warming), and the 4 removed stop at once; a
    # minute whose 2 minutes before are not all known (the history's start, after the gap) is unknown:
    # the rise after the gap may have come in it
    assert served == [None, None, 400, 400, 800, 800, 400, None, None, None, 800, 800]


def test_days_are_counted_back_from_the_last_minute() -> None:
    minutes: list[tuple[float, float, float] | None] = [(1.0, 0.0, 1.0)] * (DAY_MINUTES + 10)
    days = daily(minutes)
    assert [d.demand for d in days] == [10.0, float(DAY_MINUTES)]


def test_the_configured_headroom_holds_where_it_already_beats_every_anchor() -> None:
    days = [AnchorDay(1.0, Outcome(1000.0, 5.0, 80.0), _anchors(6.0, 100.0))] * 3
    verdict = choose_multiplier(days, T0)
    assert verdict is not None and verdict.multiplier == 1.0
    assert "configured noise headroom beats it" in verdict.describe()


def test_the_smallest_multiple_predicted_to_beat_every_anchor_on_both_counts_is_chosen() -> None:
    # GIVEN the group drops 10 % more than the best anchor while holding 15 % fewer instances
    days = [AnchorDay(1.0, Outcome(1000.0, 11.0, 85.0), _anchors(10.0, 100.0))] * 3
    verdict = choose_multiplier(days, T0)
    # THEN 1.25 (0.864 x 11 = 9.5 dropped, 1.035 x 85 = 88 held) beats both, and is the smallest that
    # does (1.125 drops 0.923 x 11 = 10.2)
    assert verdict is not None and verdict.multiplier == 1.25
    assert verdict.history == ((T0, 1.25),) and "1.25x" in verdict.describe()


def test_no_multiple_within_the_anchors_cost_keeps_the_configured_headroom() -> None:
    # GIVEN the group already holds as much as the anchors: any multiple costs more than they do
    days = [AnchorDay(1.0, Outcome(1000.0, 11.0, 99.0), _anchors(10.0, 100.0))] * 3
    verdict = choose_multiplier(days, T0)
    assert verdict is not None and verdict.multiplier == 1.0
    assert "no multiple is predicted to beat it" in verdict.describe()


def _losing_on_drops(own_dropped: float, own_held: float, step: Outcome | None = None) -> list[AnchorDay]:
    # 1,000 requests a day; the anchors drop 10 (1 %) holding 100 instance-minutes
    return [AnchorDay(1.0, Outcome(1000.0, own_dropped, own_held), _anchors(10.0, 100.0), step)] * 3


def test_a_group_losing_on_drops_alone_with_hours_to_spare_goes_to_the_anchors_target() -> None:
    # GIVEN a group that drops 3 % to the anchors' 1 % holding a fifth fewer instance-minutes: even 3x
    # its noise headroom is predicted to drop 1.56 % (a CPU series that doubles for minutes at a time)
    verdict = choose_multiplier(_losing_on_drops(30.0, 80.0), T0)
    # THEN the headroom holds at 1x and the signals go to target tracking's own target
    assert verdict is not None and verdict.multiplier == 1.0 and verdict.at_anchor_target
    assert "its signals aim at 50 % of full load, target tracking's own target" in verdict.describe()
    # AND a choice that lapses to 1x runs the signals at their own target again
    assert not verdict.at_1x_from(T0).at_anchor_target


@pytest.mark.parametrize(
    ("own_dropped", "own_held", "step", "why"),
    [
        (10.5, 80.0, None, "a loss of 0.05 points is not one that matters"),
        (30.0, 91.0, None, "9 % fewer hours than the anchors: too little for a lower target to spend"),
        (30.0, 80.0, Outcome(1000.0, 40.0, 85.0), "step scaling holds 85: 80 is not a tenth under it"),
        (30.0, 101.0, None, "more hours than the anchors: nothing to spend"),
    ],
)
def test_the_anchors_target_needs_a_loss_that_matters_and_a_tenth_of_the_cheapest_hours(
    own_dropped: float, own_held: float, step: Outcome | None, why: str
) -> None:
    verdict = choose_multiplier(_losing_on_drops(own_dropped, own_held, step), T0)
    assert verdict is not None and not verdict.at_anchor_target, why


def test_the_anchors_target_holds_while_the_hours_stay_spare_and_goes_when_they_do_not() -> None:
    # GIVEN a group sent to the anchors' target, which now drops less than they do
    winning_cheaply = _losing_on_drops(8.0, 85.0)
    winning_dearly = _losing_on_drops(8.0, 95.0)
    # THEN it stays there while it holds a tenth fewer hours than they do (back at its own target it
    # would lose again), and goes back once it does not
    stays = choose_multiplier(winning_cheaply, T0, at_anchor_target_before=True)
    goes = choose_multiplier(winning_dearly, T0, at_anchor_target_before=True)
    assert stays is not None and stays.at_anchor_target
    assert goes is not None and not goes.at_anchor_target
    # AND a group that was never sent there is not sent by a win
    fresh = choose_multiplier(winning_cheaply, T0)
    assert fresh is not None and not fresh.at_anchor_target


def test_a_multiple_predicted_to_beat_the_anchors_is_chosen_before_their_target() -> None:
    # GIVEN the group drops 10 % more than the anchors with hours to spare: 1.25x is predicted to beat them
    verdict = choose_multiplier(_losing_on_drops(11.0, 80.0), T0, at_anchor_target_before=True)
    assert verdict is not None and verdict.multiplier == 1.25 and not verdict.at_anchor_target


def test_a_day_run_at_a_multiple_is_read_back_at_the_configured_headroom() -> None:
    # GIVEN days run at 2.0 that dropped 10 and held 113: at 1.0 they would have dropped 15.7, held 100
    at_two = [AnchorDay(2.0, Outcome(1000.0, 10.0, 113.4), _anchors(12.0, 130.0))] * 3
    at_one = [AnchorDay(1.0, Outcome(1000.0, 10.0, 113.4), _anchors(12.0, 130.0))] * 3
    # THEN read back, the configured headroom does not beat 12 dropped (15.7): 1.5 does (11.98)
    two, one = choose_multiplier(at_two, T0), choose_multiplier(at_one, T0)
    assert two is not None and one is not None
    assert two.multiplier == 1.5 and one.multiplier == 1.0


def test_a_groups_own_curve_decides_where_the_generic_one_would_spend() -> None:
    days = [AnchorDay(1.0, Outcome(1000.0, 11.0, 85.0), _anchors(10.0, 100.0))] * 3
    weak = {1.0: (1.0, 1.0), 1.5: (0.97, 1.072), 2.0: (0.95, 1.134), 3.0: (0.93, 1.217)}
    verdict = choose_multiplier(days, T0, curve=weak)
    assert verdict is not None and verdict.multiplier == 1.0


def test_a_lean_multiple_gives_headroom_back_where_it_is_predicted_to_beat_step_scaling_too() -> None:
    # GIVEN a group that drops 1.0 % where target tracking drops 1.25 % and step scaling 1.5 %, and holds
    # 102 where target tracking holds 100 and step scaling 99.5: over every cost
    step = Outcome(1000.0, 15.0, 99.5)
    days = [AnchorDay(1.0, Outcome(1000.0, 10.0, 102.0), _anchors(12.5, 100.0), step)] * 3
    verdict = choose_multiplier(days, T0)
    # THEN 0.75 (1.18 x 10 = 11.8 dropped, a twentieth under 12.5; 0.966 x 102 = 98.5 held) beats all
    # four; 0.6875 drops 12.3
    assert verdict is not None and verdict.multiplier == 0.75
    assert verdict.anchor_dropped_pct == pytest.approx(1.25) and verdict.anchor_instance_minutes == 3 * 99.5
    assert "0.75x, leaner than configured" in verdict.describe() and "and step scaling" in verdict.describe()


def test_a_lean_multiple_must_be_predicted_to_drop_a_twentieth_less_than_the_bar() -> None:
    # GIVEN the same group, target tracking dropping 1.2 %
    step = Outcome(1000.0, 15.0, 99.5)
    days = [AnchorDay(1.0, Outcome(1000.0, 10.0, 102.0), _anchors(12.0, 100.0), step)] * 3
    verdict = choose_multiplier(days, T0)
    # THEN 0.75, predicted to drop 11.8 against 12.0 (a prediction on the bar lands either side of it: nasa
    # beat step scaling by 0.003 points so), is too close; 0.8125 drops 11.35, under 0.95 x 12.0 = 11.4
    assert verdict is not None and verdict.multiplier == 0.8125 and verdict.step_anchored
    # AND the verdict records the bar itself, not the aim
    assert verdict.anchor_dropped_pct == pytest.approx(1.2)
    # AND above 1x no margin is asked: predicted to drop what target tracking drops at 1.125, it runs there
    tight = [AnchorDay(1.0, Outcome(1000.0, 13.0, 90.0), _anchors(0.923 * 13.0, 100.0))] * 3
    above = choose_multiplier(tight, T0)
    assert above is not None and above.multiplier == 1.125


def test_a_lean_multiple_is_chosen_to_the_sixteenth() -> None:
    # GIVEN a group that drops 0.8 % where target tracking drops 1.16 % and step scaling 1.5 %, holding 102
    # where they hold 100 and 99.5
    step = Outcome(1000.0, 15.0, 99.5)
    days = [AnchorDay(1.0, Outcome(1000.0, 8.0, 102.0), _anchors(11.6, 100.0), step)] * 3
    verdict = choose_multiplier(days, T0)
    # THEN 0.5 drops 11.06 (over 0.95 x 11.6 = 11.02) and 0.5625 drops 10.65 at 96.1 held: the leanest that
    # beats all four, a sixteenth under the 0.625 that eighths would have run at
    assert verdict is not None and verdict.multiplier == 0.5625
    assert "0.5625x, leaner than configured" in verdict.describe()


def test_no_lean_multiple_where_step_scaling_drops_less_or_was_not_replayed() -> None:
    # GIVEN the same group, step scaling dropping 0.5 % (nasa: step scaling drops less than target tracking)
    few_drops = Outcome(1000.0, 5.0, 99.5)
    days = [AnchorDay(1.0, Outcome(1000.0, 10.0, 100.0), _anchors(12.0, 100.0), few_drops)] * 3
    verdict = choose_multiplier(days, T0)
    # THEN nothing leaner is predicted to drop as little, and the configured headroom beats target tracking
    assert verdict is not None and verdict.multiplier == 1.0
    assert verdict.anchor_instance_minutes == 3 * 100.0 and "step scaling" not in verdict.describe()
    # AND without step scaling on every day judged, no lean multiple is chosen where 0.75 would beat it
    unreplayed = [AnchorDay(1.0, Outcome(1000.0, 10.0, 99.0), _anchors(12.0, 100.0))] * 3
    replayed = AnchorDay(1.0, Outcome(1000.0, 10.0, 99.0), _anchors(12.5, 100.0), Outcome(1000.0, 15.0, 99.5))
    lean = choose_multiplier([replayed] * 3, T0)
    assert lean is not None and lean.multiplier == 0.75 and lean.step_anchored
    for judged in (unreplayed, [*unreplayed[:2], replayed]):
        chosen = choose_multiplier(judged, T0)
        assert chosen is not None and chosen.multiplier == 1.0


def test_where_nothing_beats_step_scaling_a_lean_multiple_still_keeps_the_milestone() -> None:
    # GIVEN a group that drops 12 % where target tracking drops 15 % and step scaling 16 %, holding 106
    # where target tracking holds 100 and step scaling 80 (NAB's PFE tweets: step scaling is cheap)
    step = Outcome(1000.0, 160.0, 80.0)
    days = [AnchorDay(1.0, Outcome(1000.0, 120.0, 106.0), _anchors(150.0, 100.0), step)] * 3
    verdict = choose_multiplier(days, T0)
    # THEN nothing beats all four (step's 80 held), nor 1.0 target tracking's 100: 0.5 (1.382 x 12 = 16.6
    # dropped) and 0.5625 (16.0) drop more than target tracking, 0.625 drops 15.4, and 0.6875 (14.8 dropped,
    # 0.9575 x 106 = 101.5 held) does not hold as little; 0.75 (14.2 dropped, 102.4 held) neither, nor
    # 0.8125 (13.6, 103.3) nor 0.875 (13.1, 104.2) nor 0.9375 (12.5, 105.1)
    assert verdict is not None and verdict.multiplier == 1.0
    # AND held at 104 instead, 0.6875 (101.5 -> 0.9575 x 104 = 99.6 held, 14.8 dropped) beats the three
    days = [AnchorDay(1.0, Outcome(1000.0, 120.0, 104.0), _anchors(150.0, 100.0), step)] * 3
    verdict = choose_multiplier(days, T0)
    assert verdict is not None and verdict.multiplier == 0.6875 and not verdict.step_anchored
    assert verdict.anchor_dropped_pct == pytest.approx(15.0) and verdict.anchor_instance_minutes == 300.0
    assert "step scaling too" in verdict.describe() and "and step scaling," not in verdict.describe()


def test_the_history_keeps_earlier_choices_and_adds_this_one() -> None:
    days = [AnchorDay(1.0, Outcome(1000.0, 11.0, 85.0), _anchors(10.0, 100.0))] * 3
    earlier = ((T0 - timedelta(days=2), 2.0), (T0 - timedelta(days=1), 1.0), (T0 + timedelta(hours=1), 3.0))
    verdict = choose_multiplier(days, T0, earlier)
    assert verdict is not None
    # a choice stamped after this judgement (a clock that went back) is dropped
    assert verdict.history == (*earlier[:2], (T0, 1.25))
    assert multiplier_in_effect(verdict.history, T0 - timedelta(days=3)) == 1.0
    assert multiplier_in_effect(verdict.history, T0 - timedelta(hours=30)) == 2.0
    assert multiplier_in_effect(verdict.history, T0 + timedelta(hours=3)) == 1.25


def test_no_day_with_demand_judges_nothing() -> None:
    assert choose_multiplier([AnchorDay(1.0, Outcome(), _anchors(0.0, 0.0, 0.0))], T0) is None
    assert choose_multiplier([], T0) is None


@settings(max_examples=300, deadline=None)
@given(
    own_dropped=st.floats(0, 100),
    own_held=st.floats(1, 1000),
    anchor_dropped=st.floats(0, 100),
    anchor_held=st.floats(1, 1000),
    step=st.one_of(st.none(), st.tuples(st.floats(0, 100), st.floats(1, 1000))),
    ran_at=st.sampled_from(MULTIPLIERS),
)
# CI found it: 5e-324 requests dropped are none as a percentage, which is how the check reads drops
@example(own_dropped=5e-324, own_held=1.0, anchor_dropped=0.0, anchor_held=1.0, step=(0.0, 1.0), ran_at=0.5)
def test_the_choice_is_a_known_multiple_and_beats_every_anchor_unless_it_is_the_configured_one(
    own_dropped: float,
    own_held: float,
    anchor_dropped: float,
    anchor_held: float,
    step: tuple[float, float] | None,
    ran_at: float,
) -> None:
    step_outcome = None if step is None else Outcome(1000.0, *step)
    days = [
        AnchorDay(
            ran_at,
            Outcome(1000.0, own_dropped, own_held),
            _anchors(anchor_dropped, anchor_held),
            step_outcome,
        )
    ]
    verdict = choose_multiplier(days, T0)
    assert verdict is not None and verdict.multiplier in MULTIPLIERS
    base_dropped = own_dropped / MULTIPLIER_CURVE[ran_at][0]
    base_held = own_held / MULTIPLIER_CURVE[ran_at][1]

    def pct(dropped: float) -> float:  # drops are compared as a share of the demand, as the check reads them
        return 100.0 * dropped / 1000.0

    def within(m: float, dropped_bar: float, held_bar: float) -> bool:
        drop_ratio, held_ratio = MULTIPLIER_CURVE[m]
        # in the check's order of operations: 100 x dropped x ratio / demand
        return 100.0 * base_dropped * drop_ratio / 1000.0 <= dropped_bar * (
            1 + 1e-12
        ) and base_held * held_ratio <= held_bar * (1 + 1e-12)

    def beats_target_tracking(m: float) -> bool:
        return within(m, pct(anchor_dropped), anchor_held)

    def beats(m: float) -> bool:
        if m >= 1.0:
            return beats_target_tracking(m)
        # leaner than configured: step scaling is a fourth anchor, and without it nothing is leaner
        if step is None:
            return False
        # ... its drops with a margin to spare, its cost to the bar
        bar = min(pct(anchor_dropped), pct(step[0]))
        return within(m, (1.0 - LEAN_DROP_MARGIN) * bar, min(anchor_held, step[1]))

    if any(beats(m) for m in MULTIPLIERS):
        # the smallest that beats every anchor (step scaling too, below 1.0)
        assert beats(verdict.multiplier)
        assert not any(beats(m) for m in MULTIPLIERS if m < verdict.multiplier)
        assert verdict.step_anchored == (verdict.multiplier < 1.0)
    elif verdict.multiplier < 1.0:
        # none does, 1.0 not even target tracking: the smallest lean one that beats target tracking
        assert beats_target_tracking(verdict.multiplier) and not verdict.step_anchored
        assert not any(beats_target_tracking(m) for m in MULTIPLIERS if m < verdict.multiplier)
    else:
        assert verdict.multiplier == 1.0
        assert not any(beats_target_tracking(m) for m in MULTIPLIERS if m < 1.0)
    # The anchors' target only at 1x, for a group that lost on drops with a tenth of the hours to spare
    if verdict.at_anchor_target:
        cheapest = anchor_held if step is None else min(anchor_held, step[1])
        assert verdict.multiplier == 1.0
        assert own_held <= (1.0 - AT_ANCHOR_TARGET_SPARE) * cheapest
        assert pct(own_dropped) - pct(anchor_dropped) >= 0.1


def _judge(
    demand: list[float | None],
    in_service: list[float | None],
    min_days: int = 3,
    at: datetime = T0,
    previous: AnchorVerdict | None = None,
) -> AnchorVerdict | None:
    return judge_against_anchors(
        demand,
        in_service,
        in_service,
        FLEET,
        warming_minutes=0,
        judged_at=at,
        previous=previous,
        min_days=min_days,
    )


def test_a_verdict_names_the_target_it_was_judged_at() -> None:
    # GIVEN three days of a group held at 50 instances under 500 requests a minute: over every anchor's
    # cost, so the figures are target tracking's (a lean choice would add step scaling's)
    demand: list[float | None] = [500.0] * (3 * DAY_MINUTES)
    fleet: list[float | None] = [50.0] * (3 * DAY_MINUTES)
    # WHEN it is judged against target tracking at 40 % and at the default 50 %
    at_40 = judge_against_anchors(
        demand,
        fleet,
        fleet,
        FLEET,
        warming_minutes=0,
        judged_at=T0,
        previous=None,
        min_days=3,
        target_share=0.4,
    )
    at_50 = _judge(demand, fleet)
    # THEN each says its target, and target tracking at 40 % holds more than at 50 %
    assert at_40 is not None and at_50 is not None
    assert (at_40.target_pct, at_50.target_pct) == (40.0, 50.0)
    assert "target tracking at 40 %" in at_40.describe() and "at 50 %" in at_50.describe()
    assert at_40.anchor_instance_minutes > at_50.anchor_instance_minutes
    # AND a choice run at 1x keeps it
    assert at_40.at_1x_from(T0).target_pct == 40.0


def test_the_judge_needs_its_minimum_of_days_half_known() -> None:
    demand: list[float | None] = [500.0] * (3 * DAY_MINUTES)
    fleet: list[float | None] = [5.0] * (3 * DAY_MINUTES)
    assert _judge(demand, [None] * len(demand)) is None
    assert _judge(demand, fleet, min_days=4) is None
    verdict = _judge(demand, fleet)
    assert verdict is not None and verdict.days == 3
    # two days and one minute of the group's metrics are not three days
    sparse = [None] * (DAY_MINUTES - 1) + fleet[DAY_MINUTES - 1 :]
    assert _judge(demand, sparse) is None
    # three days, each with half its minutes known, are
    halves = [n if (i // 60) % 2 else None for i, n in enumerate(fleet)]
    assert _judge(demand, halves) is not None
    # and a day with a few known minutes is neither counted nor judged
    longer: list[float | None] = [500.0] * (4 * DAY_MINUTES)
    few = [5.0 if i > DAY_MINUTES - 10 else None for i in range(4 * DAY_MINUTES)]
    verdict = _judge(longer, few)
    assert verdict is not None and verdict.days == 3
    with pytest.raises(ValueError, match="same minutes"):
        _judge(demand, fleet[:-1])


def test_the_anchors_are_counted_only_where_the_groups_own_minutes_are_known() -> None:
    # GIVEN four days of demand, and the group's metrics only for the last three
    rng = random.Random(4)
    demand: list[float | None] = [max(0.0, rng.gauss(1000.0, 200.0)) for _ in range(4 * DAY_MINUTES)]
    fleet: list[float | None] = [None] * DAY_MINUTES + [12.0] * (3 * DAY_MINUTES)
    verdict = _judge(demand, fleet)
    assert verdict is not None
    # THEN the anchors hold what their replay held over those three days only, as the group is counted
    held = [
        sum(m[2] for m in replay_anchor(demand, FLEET, anchor, 12)[DAY_MINUTES:] if m is not None)
        for anchor in ANCHORS
    ]
    assert verdict.anchor_instance_minutes == pytest.approx(min(held))
    assert verdict.own_instance_minutes == 12.0 * 3 * DAY_MINUTES


def test_the_judge_reads_each_day_at_the_multiple_then_in_effect() -> None:
    # GIVEN four days where the group dropped a little more than target tracking would have
    rng = random.Random(3)
    demand = [max(0.0, rng.gauss(1000.0, 150.0)) for _ in range(4 * DAY_MINUTES)]
    serving: list[float | None] = [11.0] * len(demand)
    first = _judge(demand, serving)
    assert first is not None
    # WHEN the next day's judgement reads the same figures, with the last day run at 3x
    later = T0 + timedelta(days=1)
    previous = replace(first, history=((later - timedelta(days=1), 3.0),))
    second = _judge(demand, serving, at=later, previous=previous)
    # THEN the history carries the 3x and this choice, and the window's days read it where it ran
    assert second is not None and second.history[0] == (later - timedelta(days=1), 3.0)
    assert second.history[-1] == (later, second.multiplier)


def test_a_groups_own_curve_falls_with_the_multiple_where_noise_binds() -> None:
    # GIVEN Poisson-like noise around 20 requests a minute, where a noise floor binds
    rng = random.Random(5)
    minutes: list[float | None] = [float(max(0, round(rng.gauss(20.0, 4.5)))) for _ in range(3 * DAY_MINUTES)]
    curve = noise_multiple_curve(
        minutes, MULTIPLIERS, target_fraction=0.66, sigmas=3.0, window=60, max_share_of_mean=1.25, lead=6
    )
    assert curve is not None and curve[1.0] == (1.0, 1.0)
    drops = [curve[m][0] for m in MULTIPLIERS]
    spends = [curve[m][1] for m in MULTIPLIERS]
    assert drops == sorted(drops, reverse=True) and drops[-1] < 1.0
    assert spends == sorted(spends) and spends[-1] > 1.0
    # under a day to replay: no curve
    assert (
        noise_multiple_curve(
            minutes[:1000],
            MULTIPLIERS,
            target_fraction=0.66,
            sigmas=3.0,
            window=60,
            max_share_of_mean=1.25,
            lead=6,
        )
        is None
    )
    # a multiple past the decision's most is no more headroom: 2x and 3x of 5 sigmas both run 10
    capped = noise_multiple_curve(
        minutes, MULTIPLIERS, target_fraction=0.66, sigmas=5.0, window=60, max_share_of_mean=None, lead=6,
        sigmas_max=10.0,
    )  # fmt: skip
    assert capped is not None and capped[2.0] == capped[3.0] != capped[1.5]
    with pytest.raises(ValueError):
        noise_multiple_curve(
            minutes, (1.5, 2.0), target_fraction=0.66, sigmas=3.0, window=60, max_share_of_mean=None, lead=6
        )


def _plain_multiple_curve(
    minutes: list[float | None],
    *,
    target_fraction: float,
    sigmas: float,
    window: int,
    max_share_of_mean: float | None,
    lead: int,
    sigmas_max: float,
) -> dict[float, tuple[float, float]] | None:
    """`noise_multiple_curve` by its definition, minute by minute: capacity for minute t set `lead` minutes
    before from the latest known minute at the target and the noise floor (mean + sigmas x spread of
    the window's known minutes, refreshed every quarter-hour), each multiple's drops and spend summed."""
    known = [v if v is not None and v == v and v >= 0 else None for v in minutes]
    dropped = dict.fromkeys(MULTIPLIERS, 0.0)
    spent = dict.fromkeys(MULTIPLIERS, 0.0)
    level: tuple[float, float] | None = None
    replayed = 0
    for t in range(lead, len(known)):
        decided = t - lead + 1
        if (t - lead) % _JUDGE_REFRESH_MINUTES == 0:
            seen = [v for v in known[max(0, decided - window) : decided] if v is not None]
            level = (sum(seen) / len(seen), minute_spread(seen)) if 2 * len(seen) >= window else None
        demand, latest = known[t], known[decided - 1]
        if demand is None or latest is None:
            continue
        replayed += 1
        for m in MULTIPLIERS:
            capacity = latest / target_fraction
            if level is not None:
                mean, spread = level
                headroom = min(sigmas_max, sigmas * m) * spread
                if max_share_of_mean is not None:
                    headroom = min(headroom, max_share_of_mean * m * mean)
                capacity = max(capacity, mean + headroom)
            dropped[m] += max(0.0, demand - capacity)
            spent[m] += capacity
    if replayed < DAY_MINUTES or spent[1.0] <= 0:
        return None
    return {
        m: (
            max(MIN_DROP_RATIO, dropped[m] / dropped[1.0]) if dropped[1.0] > 0 else 1.0,
            spent[m] / spent[1.0],
        )
        for m in MULTIPLIERS
    }


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    length=st.integers(1400, 2600),
    lead=st.integers(1, 8),
    window=st.sampled_from([15, 60]),
    sigmas=st.sampled_from([0.0, 1.0, 3.0, 6.0]),
    cap=st.sampled_from([None, 0.5, 1.25]),
    target_fraction=st.sampled_from([0.5, 0.66, 1.0]),
)
def test_the_groups_own_curve_is_its_minute_by_minute_definition(
    seed: int,
    length: int,
    lead: int,
    window: int,
    sigmas: float,
    cap: float | None,
    target_fraction: float,
) -> None:
    # The curve is summed over lists, once per noise level, for speed (it runs daily on two weeks for
    # every anchored group): it must give the very floats of the plain minute-by-minute replay.
    rng = random.Random(seed)
    minutes: list[float | None] = []
    for i in range(length):
        draw = rng.random()
        if draw < 0.03:
            minutes.append(None)
        elif draw < 0.04:
            minutes.append(rng.choice([math.nan, -1.0]))
        else:
            burst = 6.0 if (i // 20) % 9 == 0 else 1.0
            minutes.append(burst * max(0.0, rng.gauss(30.0, 8.0)))
    kwargs: dict[str, Any] = {
        "target_fraction": target_fraction,
        "sigmas": sigmas,
        "window": window,
        "max_share_of_mean": cap,
        "lead": lead,
    }
    fast = noise_multiple_curve(minutes, MULTIPLIERS, sigmas_max=10.0, **kwargs)
    assert fast == _plain_multiple_curve(minutes, sigmas_max=10.0, **kwargs)


def test_a_multiple_that_would_have_dropped_nothing_is_read_as_a_hundredth_not_none() -> None:
    # GIVEN a steady 100-104 a minute with a 120 spike every hour: 3 spreads miss it, 4.5 cover it
    minutes: list[float | None] = [
        120.0 if i % 60 == 30 and i > 120 else (100.0 if i % 2 else 104.0) for i in range(2000)
    ]
    curve = noise_multiple_curve(
        minutes, MULTIPLIERS, target_fraction=0.9, sigmas=3.0, window=60, max_share_of_mean=None, lead=2
    )
    assert curve is not None and curve[1.5][0] == MIN_DROP_RATIO
    # AND a day run at that multiple reads back at the configured headroom without dividing by zero
    day = AnchorDay(1.5, Outcome(1000.0, 0.5, 90.0), _anchors(10.0, 100.0))
    verdict = choose_multiplier([day] * 3, T0, curve=curve)
    assert verdict is not None and verdict.multiplier in MULTIPLIERS


def test_minutes_without_a_count_stop_only_the_requests_anchor_from_scaling_in() -> None:
    # GIVEN 20 instances at 50 %, then a night with no request at all (ALB publishes no count)
    demand: list[float | None] = [1000.0] * 20 + [0.0] * 60
    quiet = [False] * 20 + [True] * 60

    def size_at_end(anchor: Any) -> float:
        minutes = replay_anchor(demand, FLEET, anchor, 20, quiet)
        last = minutes[-1]
        assert last is not None  # the quiet minutes are counted (no demand, instances held)
        return last[2]

    # THEN CPU reads 0 % through the night and target tracking scales in; requests per target publishes
    # nothing, and target tracking does not scale in on missing data
    assert size_at_end(CPU) == FLEET.min_size and size_at_end(HIRES) == FLEET.min_size
    assert size_at_end(REQUESTS) == 20
