"""Warm-up plans: the built-in curves' figures, custom tables refused with a clear message, and the
rules that hold a ramp (back-off) or start it again (idle IP)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from mailfleet import warmup
from mailfleet.warmup import Backoff, Step, WarmupError

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 2)


def daily(name: str, day: int) -> int | None:
    step = warmup.step_for_day(warmup.curve(name), day)
    return None if step is None else step.daily


def test_standard_curve_reaches_2000_by_day_14_and_10000_by_day_30():
    assert daily("standard", 1) == 50
    assert daily("standard", 14) >= 2_000
    assert daily("standard", 30) >= 10_000
    assert daily("standard", 13) < 2_000  # a ramp, not a jump


@pytest.mark.parametrize("name", warmup.CURVES)
def test_every_curve_rises_day_by_day_and_ends_warm(name):
    steps = warmup.curve(name)
    assert [s.day for s in steps] == list(range(1, len(steps) + 1))
    assert all(a.daily < b.daily and a.hourly <= b.hourly for a, b in zip(steps, steps[1:], strict=False))
    assert all(1 <= s.hourly <= s.daily for s in steps)
    assert warmup.custom_table([{"day": s.day, "daily": s.daily, "hourly": s.hourly} for s in steps]) == steps
    assert warmup.step_for_day(steps, len(steps) + 1) is None  # warm: the plan caps nothing


def test_conservative_is_slower_than_standard_slower_than_aggressive():
    for day in (1, 7, 14):
        assert daily("conservative", day) < daily("standard", day) < daily("aggressive", day)


def test_unknown_curve_names_the_choices():
    with pytest.raises(WarmupError, match="conservative, standard, aggressive"):
        warmup.curve("fast")


def test_custom_table_steps_hold_until_the_next_row():
    steps = warmup.custom_table([{"day": 1, "daily": 3, "hourly": 2}, {"day": "5", "daily": "40"}])
    assert steps == (Step(1, 3, 2), Step(5, 40, 5))
    assert warmup.step_for_day(steps, 4) == Step(1, 3, 2)
    assert warmup.step_for_day(steps, 5) == Step(5, 40, 5)
    assert warmup.step_for_day(steps, 6) is None
    assert warmup.next_step(steps, 1) == Step(5, 40, 5)
    assert warmup.next_step(steps, 5) is None


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([], "at least one row"),
        ([{"day": 2, "daily": 10}], "first row must be day 1"),
        ([{"day": 1, "daily": 100}, {"day": 2, "daily": 50}], "must not decrease"),
        ([{"day": 1, "daily": 100, "hourly": 50}, {"day": 2, "daily": 100, "hourly": 10}],
         "must not decrease"),
        ([{"day": 1, "daily": 0}], "above 0"),
        ([{"day": 1, "daily": -5}], "above 0"),
        ([{"day": 1, "daily": "-5"}], "whole number above 0"),
        ([{"day": 1, "daily": "ten"}], "whole number"),
        ([{"day": 1, "daily": 1.5}], "whole number"),
        ([{"day": 1, "daily": True}], "whole number"),
        ([{"day": 1, "daily": 10, "hourly": 11}], "exceeds the daily cap"),
        ([{"day": 1, "daily": 10}, {"day": 1, "daily": 20}], "must come after day 1"),
        ([{"day": 1, "daily": 10**9}], "at most"),
    ],
)
def test_custom_table_refuses_bad_rows_with_a_clear_message(rows, message):
    with pytest.raises(WarmupError, match=message):
        warmup.custom_table(rows)


def test_warmup_days_do_not_count_held_days():
    started = TODAY - timedelta(days=9)
    assert warmup.warmup_day(started, TODAY) == 10
    assert warmup.warmup_day(started, TODAY, held_days=3) == 7
    assert warmup.warmup_day(TODAY, TODAY) == 1
    assert warmup.warmup_day(TODAY + timedelta(days=2), TODAY) == 1  # a plan starting later: day 1


def test_an_ip_idle_for_30_days_starts_again():
    assert not warmup.restart_needed(None, TODAY)  # never sent: nothing to restart
    assert not warmup.restart_needed(TODAY - timedelta(days=29), TODAY)
    assert warmup.restart_needed(TODAY - timedelta(days=30), TODAY)
    assert warmup.restart_needed(TODAY - timedelta(days=5), TODAY, idle_days=5)


def test_a_burst_of_reputation_deferrals_backs_off_for_a_day():
    assert warmup.backoff_due(19, 100, TODAY) is None  # too few to be a signal
    assert warmup.backoff_due(20, 1000, TODAY) is None  # 2 %: below the rate
    assert warmup.backoff_due(0, 0, TODAY) is None
    backoff = warmup.backoff_due(30, 200, TODAY)
    assert backoff == Backoff(until=TODAY + timedelta(days=1), factor=0.5)


def test_backoff_lowers_caps_only_while_active():
    step = Step(4, 101, 13)
    backoff = Backoff(until=TODAY + timedelta(days=1), factor=0.5)
    assert warmup.apply_backoff(step, backoff, TODAY) == Step(4, 50, 6)
    assert warmup.apply_backoff(step, backoff, TODAY + timedelta(days=1)) == step
    assert warmup.apply_backoff(Step(1, 1, 1), backoff, TODAY) == Step(1, 1, 1)  # never below 1
    assert warmup.apply_backoff(None, backoff, TODAY) is None
    assert warmup.apply_backoff(step, None, TODAY) == step


def test_a_warm_ip_backed_off_is_held_to_its_plans_last_caps_lowered():
    last = warmup.curve("standard")[-1]
    listed = warmup.listing_backoff(TODAY, critical=True)
    assert listed.factor == 0.1 and warmup.listing_backoff(TODAY).factor == 0.25
    lowered = warmup.apply_backoff(None, listed, TODAY, last)
    assert (lowered.daily, lowered.hourly) == (last.daily // 10, last.hourly // 10)
    assert warmup.apply_backoff(None, listed, listed.until, last) is None  # over: warm, uncapped again
    assert warmup.apply_backoff(None, None, TODAY, last) is None


def test_each_receiver_group_ramps_on_its_own_schedule_within_the_ips_caps():
    steps = warmup.curve("standard")
    groups = {group.name: group for group in warmup.RECEIVER_GROUPS}
    assert set(groups) == {"gmail", "microsoft", "yahoo", "apple", "other"}
    gmail, other = groups["gmail"], groups["other"]
    assert warmup.group_step(steps, gmail, 1) == warmup.group_step(steps, gmail, 4) == Step(1, 15, 2)
    day2 = steps[1]
    assert warmup.group_step(steps, gmail, 5) == Step(2, int(day2.daily * 0.3), int(day2.hourly * 0.3))
    assert warmup.group_step(steps, other, 14).daily == int(steps[13].daily * 0.6)
    last = steps[-1].day
    assert warmup.group_step(steps, gmail, last + 3) is not None  # Gmail is 3 days behind
    assert warmup.group_step(steps, gmail, last + 4) is None
    assert warmup.group_step(steps, other, last + 1) is None
    for group in warmup.RECEIVER_GROUPS:
        caps = [warmup.group_step(steps, group, day) for day in range(1, last + 1)]
        assert all(c.daily <= s.daily and c.hourly <= s.hourly for c, s in zip(caps, steps, strict=True))
        assert [c.daily for c in caps] == sorted(c.daily for c in caps)  # never decreases
    assert warmup.group_step(warmup.custom_table([{"day": 1, "daily": 2}]), gmail, 1) == Step(1, 1, 1)


def test_a_listed_ip_without_a_plan_gets_a_tenth_of_its_usual_day_never_below_the_floor():
    # The day before the listing's spam run does not raise the usual day: the median, not the mean.
    assert warmup.usual_daily([2_000, 2_400, 1_800, 2_200, 60_000]) == 2_200
    assert warmup.usual_daily([1_000, 1_501]) == 1_250
    assert warmup.usual_daily([]) == 0
    assert warmup.listed_caps(2_200) == Step(1, 220, 28)
    assert warmup.listed_caps(120) == warmup.listed_caps(0) == Step(1, warmup.LISTED_FLOOR, 7)
    assert warmup.listed_caps(10**12).daily == warmup.MAX_CAP  # never above the largest cap a plan has
