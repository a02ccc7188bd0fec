"""Warm-up of a sending IP: the caps of each warm-up day, and the rules that hold or restart a ramp.

Pure functions on plain values (dates, numbers, tables), shared by the control plane (which keeps
each server's plan and pushes the day's caps) and its tests. A warm-up day is a day the ramp moved
on: days held by a back-off do not count, and an IP idle for `IDLE_RESTART_DAYS` starts again.

A plan is a table of steps (day, daily cap, hourly cap); the cap of a day is the last step at or
before it; after the last step's day the IP is warm and the plan caps nothing. The built-in curves
rise geometrically between anchor days; hourly caps spread a day's volume over at least
`HOURS_PER_DAY_SPREAD` hours, as receivers dislike a day's volume in one burst.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

IDLE_RESTART_DAYS = 30  # receivers keep about 30 days of reputation data
HOURS_PER_DAY_SPREAD = 8
MAX_CAP = 10_000_000  # a typo guard, far above any single IP's daily volume
MAX_DAYS = 365

# Anchor days -> daily cap; between anchors the cap grows by a constant factor per day.
CURVE_ANCHORS: dict[str, dict[int, int]] = {
    "conservative": {1: 20, 14: 500, 30: 3_000, 45: 10_000},
    "standard": {1: 50, 14: 2_000, 30: 10_000, 42: 50_000},
    "aggressive": {1: 200, 7: 2_000, 14: 10_000, 21: 50_000},
}
CURVES = tuple(CURVE_ANCHORS)


class WarmupError(ValueError):
    """A plan that cannot be used; the message says what to change."""


@dataclass(frozen=True)
class Step:
    day: int
    daily: int
    hourly: int


def hourly_for(daily: int) -> int:
    return max(1, math.ceil(daily / HOURS_PER_DAY_SPREAD))


def curve(name: str) -> tuple[Step, ...]:
    """The built-in curve `name`, one step per warm-up day."""
    try:
        anchors = sorted(CURVE_ANCHORS[name].items())
    except KeyError:
        raise WarmupError(f"unknown warm-up curve {name!r}: choose one of {', '.join(CURVES)}") from None
    steps = []
    for (day0, cap0), (day1, cap1) in zip(anchors, anchors[1:], strict=False):
        factor = (cap1 / cap0) ** (1 / (day1 - day0))
        steps += [round(cap0 * factor ** (d - day0)) for d in range(day0, day1)]
    steps.append(anchors[-1][1])
    return tuple(Step(day, daily, hourly_for(daily)) for day, daily in enumerate(steps, start=1))


def custom_table(rows: Iterable[Mapping[str, object]]) -> tuple[Step, ...]:
    """A custom plan from rows of day, daily and optional hourly caps; refused with a clear message
    when a day repeats or goes back, the first day is not 1, a cap is not a positive whole number,
    an hourly cap exceeds its daily cap, or a cap decreases from one step to the next."""
    steps: list[Step] = []
    for index, row in enumerate(rows, start=1):
        day = whole_number(row.get("day"), f"row {index}: day", MAX_DAYS)
        daily = whole_number(row.get("daily"), f"row {index} (day {day}): daily cap", MAX_CAP)
        hourly_raw = row.get("hourly")
        hourly = (
            hourly_for(daily) if hourly_raw in (None, "")
            else whole_number(hourly_raw, f"row {index} (day {day}): hourly cap", MAX_CAP)
        )
        if hourly > daily:
            raise WarmupError(
                f"row {index} (day {day}): the hourly cap {hourly} exceeds the daily cap {daily}"
            )
        if steps:
            last = steps[-1]
            if day <= last.day:
                raise WarmupError(f"row {index}: day {day} must come after day {last.day}")
            if daily < last.daily or hourly < last.hourly:
                raise WarmupError(
                    f"row {index} (day {day}): caps must not decrease (day {last.day} allows "
                    f"{last.daily}/day, {last.hourly}/hour)"
                )
        elif day != 1:
            raise WarmupError(f"the first row must be day 1, not day {day}")
        steps.append(Step(day, daily, hourly))
    if not steps:
        raise WarmupError("a custom plan needs at least one row (day 1 and its caps)")
    return tuple(steps)


def whole_number(value: object, what: str, maximum: int = MAX_CAP) -> int:
    """A cap or day as typed (int or digits), above 0 and at most `maximum`; else WarmupError."""
    if isinstance(value, bool):
        raise WarmupError(f"{what} must be a whole number")
    if isinstance(value, str):
        value = value.strip()
        if not value.isdigit():
            raise WarmupError(f"{what} must be a whole number above 0, not {value!r}")
        value = int(value)
    if not isinstance(value, int):
        raise WarmupError(f"{what} must be a whole number")
    if value <= 0:
        raise WarmupError(f"{what} must be above 0, not {value}")
    if value > maximum:
        raise WarmupError(f"{what} must be at most {maximum}, not {value}")
    return value


def step_for_day(steps: tuple[Step, ...], day: int) -> Step | None:
    """The caps of warm-up day `day`, or None once the plan is over (the IP is warm)."""
    if day > steps[-1].day:
        return None
    return next(step for step in reversed(steps) if step.day <= max(day, 1))


def next_step(steps: tuple[Step, ...], day: int) -> Step | None:
    """The first step after warm-up day `day` that raises a cap, or None when none is left."""
    current = step_for_day(steps, day)
    caps = None if current is None else (current.daily, current.hourly)
    for step in steps:
        if step.day > day and (step.daily, step.hourly) != caps:
            return step
    return None


def warmup_day(started_on: date, today: date, held_days: int = 0) -> int:
    """Warm-up day of `today` for a ramp started on `started_on` (day 1), less the days held."""
    return max(1, (today - started_on).days + 1 - held_days)


def restart_needed(last_sent_on: date | None, today: date, idle_days: int = IDLE_RESTART_DAYS) -> bool:
    """An IP that sent nothing for `idle_days` days is cold again: its warm-up restarts at day 1.
    One that never sent has nothing to restart."""
    return last_sent_on is not None and (today - last_sent_on).days >= idle_days


@dataclass(frozen=True)
class Backoff:
    """A back-off: the ramp holds on `until` (exclusive) and caps are multiplied by `factor`."""

    until: date
    factor: float


BACKOFF_MIN_DEFERRALS = 20  # fewer reputation deferrals than this are noise
BACKOFF_RATE = 0.05  # share of delivery attempts deferred for reputation that triggers a back-off
BACKOFF_FACTOR = 0.5
BACKOFF_DAYS = 1
# A blocklist listing: receivers that use the list refuse most of the mail anyway; sending a quarter
# of the day's cap keeps the ramp's history without feeding more complaints.
LISTING_FACTOR = 0.25
# A critical listing (Spamhaus SBL/XBL, DBL phishing or malware) usually means a compromised
# mailbox or host: a tenth of the cap leaves room for the tenant's own mail, not for a spam run.
CRITICAL_LISTING_FACTOR = 0.1


def backoff_due(
    reputation_deferrals: int,
    attempts: int,
    today: date,
    *,
    min_deferrals: int = BACKOFF_MIN_DEFERRALS,
    rate: float = BACKOFF_RATE,
    factor: float = BACKOFF_FACTOR,
    days: int = BACKOFF_DAYS,
) -> Backoff | None:
    """A burst of receiver deferrals that signal reputation trouble (e.g. "rate limited due to IP
    reputation") holds the ramp and lowers the caps for `days` days; None when the day's counts do
    not call for it."""
    if attempts <= 0 or reputation_deferrals < min_deferrals:
        return None
    if reputation_deferrals / attempts < rate:
        return None
    return Backoff(until=date.fromordinal(today.toordinal() + days), factor=factor)


# A server without a plan has no caps to lower. Critically listed, its IP is held to a tenth of its
# usual day (the median of the days it counted in the week before the listing: a spam run's days do
# not raise it), never below LISTED_FLOOR, which is also the cap of a server with no counts.
LISTED_USUAL_DAYS = 7
LISTED_FLOOR = 50  # a day: the standard curve's day 1, room for a tenant's own mail


def usual_daily(daily_sent: Iterable[int]) -> int:
    """The usual day of an IP: the median of the messages it sent on the days counted (0: none)."""
    counted = list(daily_sent)
    return math.floor(statistics.median(counted)) if counted else 0


def listed_caps(usual: int, factor: float = CRITICAL_LISTING_FACTOR, floor: int = LISTED_FLOOR) -> Step:
    """The caps of a critically listed IP that has no plan and sends `usual` messages on a usual
    day: `factor` of it, at least `floor` a day; the hourly cap spreads the day as a plan's does.
    The step's day is 1: it stands for no plan's day."""
    daily = min(MAX_CAP, max(floor, math.floor(usual * factor)))
    return Step(1, daily, hourly_for(daily))


def listing_backoff(today: date, days: int = BACKOFF_DAYS, *, critical: bool = False) -> Backoff:
    """The back-off of an IP or domain listed on a blocklist, for as long as it stays listed."""
    factor = CRITICAL_LISTING_FACTOR if critical else LISTING_FACTOR
    return Backoff(until=date.fromordinal(today.toordinal() + days), factor=factor)


def apply_backoff(
    step: Step | None, backoff: Backoff | None, today: date, warm: Step | None = None
) -> Step | None:
    """The step's caps lowered by an active back-off (never below 1). An IP past its plan (`step`
    None) is uncapped, but not while backed off: then it is held to the plan's last caps (`warm`)
    lowered the same way, so a listed or deferred warm IP slows down too."""
    if backoff is None or today >= backoff.until:
        return step
    base = step or warm
    if base is None:
        return None
    return Step(base.day, max(1, math.floor(base.daily * backoff.factor)),
                max(1, math.floor(base.hourly * backoff.factor)))


@dataclass(frozen=True)
class ReceiverGroup:
    """Receivers paced apart: mail to a recipient whose domain, or whose domain's MX host, is or
    ends in one of `suffixes` counts against the group's own caps: `share` of the IP's caps of the
    warm-up day `lag_days` behind the IP's, so the strict receivers see a slower ramp."""

    name: str
    suffixes: tuple[str, ...]
    share: float
    lag_days: int


OTHER_GROUP = "other"
# Gmail and Microsoft judge a new IP hardest (Gmail's bulk-sender rules start at 5,000 a day):
# they get the smallest share and the slowest ramp. The suffixes name both the mailbox domains and
# the MX hosts (aspmx.l.google.com, *.protection.outlook.com, *.yahoodns.net, *.mail.icloud.com).
RECEIVER_GROUPS = (
    ReceiverGroup("gmail", ("gmail.com", "googlemail.com", "google.com"), 0.3, 3),
    ReceiverGroup(
        "microsoft", ("outlook.com", "hotmail.com", "live.com", "msn.com", "protection.outlook.com"), 0.3, 2
    ),
    ReceiverGroup("yahoo", ("yahoo.com", "ymail.com", "aol.com", "yahoodns.net"), 0.2, 2),
    ReceiverGroup("apple", ("icloud.com", "me.com", "mac.com", "apple.com"), 0.2, 1),
    ReceiverGroup(OTHER_GROUP, (), 0.6, 0),
)


def group_step(steps: tuple[Step, ...], group: ReceiverGroup, day: int) -> Step | None:
    """The caps of `group` on the IP's warm-up day `day`: its share of the caps of the day `lag_days`
    earlier (day 1's before that), never below 1; None once the group's ramp is past the plan."""
    step = step_for_day(steps, max(1, day - group.lag_days))
    if step is None:
        return None
    return Step(step.day, max(1, math.floor(step.daily * group.share)),
                max(1, math.floor(step.hourly * group.share)))
