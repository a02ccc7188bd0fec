"""What servers cost over time, in pure Python (no database, no web).

A cost period is one server on one plan at one monthly price for one tenant, from a start to an
end (None: still running). A calendar month's cost of a period is its price times the share of the
month it covers, so a server ordered on the 16th of a 30-day month costs half its price that month.
Month to date counts up to now; the projection to month end adds the running periods' price for
the rest of the month (the run rate); the breach date is when that run rate reaches the budget.

The cost per 1,000 messages sent is the month's cost to date over the messages sent this month
(none before the first message).

A shared cost is split over its users in proportion to a driver's figures (disk in use, mailboxes,
messages), to the cent, by the largest remainder method: each part is rounded down to the cent,
then the cents left over go one each to the parts that lost most in rounding (ties: the first
listed), so the parts add up to the cost exactly.

Budget thresholds follow the usual practice: 50, 80 and 100 % of actual spend, and 100 % of the
projected spend. Each crossed threshold is reported once per month (the alert engine keeps it open
until the month ends and spend starts again from zero).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

CENT = Decimal("0.01")
#: (key, percent, on forecast?): the thresholds a budget alerts at.
THRESHOLDS: tuple[tuple[str, int, bool], ...] = (
    ("50", 50, False),
    ("80", 80, False),
    ("100", 100, False),
    ("forecast", 100, True),
)


@dataclass(frozen=True)
class Period:
    monthly_price: Decimal
    start: datetime
    end: datetime | None  # None: running


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The calendar month (UTC) holding `now`: [first instant, first instant of the next)."""
    now = now.astimezone(UTC)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + timedelta(days=32)).replace(day=1)
    return start, following


def _share(start: datetime, end: datetime, month: tuple[datetime, datetime]) -> Decimal:
    lo, hi = max(start, month[0]), min(end, month[1])
    if hi <= lo:
        return Decimal(0)
    return Decimal((hi - lo).total_seconds()) / Decimal((month[1] - month[0]).total_seconds())


def cost_between(period: Period, start: datetime, end: datetime, month: tuple[datetime, datetime]) -> Decimal:
    """What `period` costs inside [start, end), a window within `month`."""
    covered_end = min(period.end, end) if period.end is not None else end
    return period.monthly_price * _share(max(period.start, start), covered_end, month)


@dataclass(frozen=True)
class MonthCost:
    to_date: Decimal
    projected: Decimal  # to month end at the current run rate
    run_rate: Decimal  # monthly price of what runs now


def month_cost(periods: Iterable[Period], now: datetime) -> MonthCost:
    month = month_bounds(now)
    to_date = projected = run_rate = Decimal(0)
    for p in periods:
        to_date += cost_between(p, month[0], now, month)
        projected += cost_between(p, month[0], month[1], month)
        if p.end is None or p.end > now:
            run_rate += p.monthly_price
    return MonthCost(to_date.quantize(CENT), projected.quantize(CENT), run_rate.quantize(CENT))


def per_thousand(cost: Decimal, messages: int) -> Decimal | None:
    """Dollars per 1,000 messages: `cost` spread over `messages`; None when nothing was sent."""
    if messages <= 0:
        return None
    return (cost * 1000 / messages).quantize(CENT)


def breach_date(cost: MonthCost, budget: Decimal, now: datetime) -> datetime | None:
    """When month-to-date spend reaches `budget` at the current run rate; None if it does not this
    month; `now` if it already has."""
    if cost.to_date >= budget:
        return now
    if cost.projected < budget or cost.run_rate <= 0:
        return None
    month = month_bounds(now)
    per_second = cost.run_rate / Decimal((month[1] - month[0]).total_seconds())
    return now + timedelta(seconds=float((budget - cost.to_date) / per_second))


def crossed(cost: MonthCost, budget: Decimal) -> list[tuple[str, int, bool]]:
    """The thresholds this month's spend (or projection) has reached."""
    return [t for t in THRESHOLDS if (cost.projected if t[2] else cost.to_date) * 100 >= budget * t[1]]


def monthly_history(periods: Sequence[Period], now: datetime, months: int) -> list[tuple[datetime, Decimal]]:
    """(month start, cost) for the last `months` calendar months, oldest first, this one to date."""
    out = []
    month = month_bounds(now)
    for _ in range(months):
        end = min(month[1], now)
        total = sum((cost_between(p, month[0], end, month) for p in periods), Decimal(0))
        out.append((month[0], total.quantize(CENT)))
        month = month_bounds(month[0] - timedelta(seconds=1))
    return out[::-1]


# --- extras ---------------------------------------------------------------------------------------
# What the provider bills beside the plans, priced by the admin (the price list has no such lines):
# a standing charge on what is held now (backup storage: dollars a GB a month), counted as held since
# the month began and for the whole month ahead; and a charge on use over a monthly allowance
# (bandwidth: dollars a GB over), to date on what is over it now, projected on the month's use at
# its pace so far.
def standing_charge(monthly: Decimal, now: datetime) -> MonthCost:
    """A monthly charge on what is held now: the month's share to date, the whole month projected."""
    month = month_bounds(now)
    share = _share(month[0], now, month)
    return MonthCost((monthly * share).quantize(CENT), monthly.quantize(CENT), monthly.quantize(CENT))


def one_off_charge(amount: Decimal) -> MonthCost:
    """A charge billed once this month: all of it to date and projected, none of it a run rate."""
    return MonthCost(amount.quantize(CENT), amount.quantize(CENT), Decimal(0))


def overage_charge(used: Decimal, allowance: Decimal, price: Decimal, now: datetime) -> MonthCost:
    """A charge of `price` a unit over a monthly `allowance`, `used` so far this month: to date what
    is over it now, projected (and as run rate) what the month's use at this pace will be over it."""
    month = month_bounds(now)
    share = _share(month[0], now, month)
    pace = used / share if share > 0 else used
    to_date = max(used - allowance, Decimal(0)) * price
    projected = max(pace - allowance, Decimal(0)) * price
    return MonthCost(to_date.quantize(CENT), projected.quantize(CENT), projected.quantize(CENT))


# --- shared costs ---------------------------------------------------------------------------------
def split(amount: Decimal, weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    """`amount` (dollars, rounded to the cent) split in proportion to `weights` (none negative, not
    all zero), in cents that add up to it exactly (the largest remainder method)."""
    if any(w < 0 for w in weights.values()) or not any(weights.values()):
        raise ValueError(f"weights must be positive, and not all zero: {dict(weights)}")
    cents = int(amount.quantize(CENT) * 100)
    total = sum(weights.values(), Decimal(0))
    exact = {name: cents * w / total for name, w in weights.items()}
    parts = {name: int(value // 1) for name, value in exact.items()}
    order = sorted(exact, key=lambda name: -(exact[name] - parts[name]))  # stable: ties keep their order
    for name in order[: cents - sum(parts.values())]:
        parts[name] += 1
    return {name: (Decimal(part) / 100).quantize(CENT) for name, part in parts.items()}


def split_month(month: MonthCost, weights: Mapping[str, Decimal]) -> dict[str, MonthCost]:
    """Each figure of `month` split by :func:`split`: to date, projected and run rate each add up."""
    to_date, projected, run_rate = (split(figure, weights) for figure in (month.to_date, month.projected,
                                                                          month.run_rate))
    return {name: MonthCost(to_date[name], projected[name], run_rate[name]) for name in weights}
