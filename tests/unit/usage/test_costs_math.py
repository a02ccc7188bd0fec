"""Month-to-date cost, projection, breach date and budget thresholds from price periods, and a
shared cost split to the cent."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from mailfleet.costs import Period, breach_date, crossed, month_bounds, month_cost, monthly_history, split

pytestmark = pytest.mark.unit

NOV = datetime(2026, 11, 1, tzinfo=UTC)  # a 30-day month


def test_month_bounds_cover_december_into_january():
    assert month_bounds(datetime(2026, 12, 31, 23, 59, tzinfo=UTC)) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_a_server_ordered_mid_month_costs_its_share_and_projects_to_half_its_price():
    server = Period(Decimal("30.00"), NOV + timedelta(days=15), None)
    cost = month_cost([server], NOV + timedelta(days=20))
    assert cost.to_date == Decimal("5.00")  # 5 of 30 days
    assert cost.projected == Decimal("15.00")
    assert cost.run_rate == Decimal("30.00")


def test_a_resize_mid_month_splits_the_month_between_the_two_prices():
    small = Period(Decimal("10.00"), NOV - timedelta(days=40), NOV + timedelta(days=10))
    large = Period(Decimal("40.00"), NOV + timedelta(days=10), None)
    cost = month_cost([small, large], NOV + timedelta(days=15))
    assert cost.to_date == Decimal("10.00")  # 10/30 x 10 + 5/30 x 40 = 3.33 + 6.67
    assert cost.projected == Decimal("30.00")  # 3.33 + 20/30 x 40
    assert cost.run_rate == Decimal("40.00")


def test_projection_is_within_5_percent_of_the_actual_month_on_a_steady_fleet_mid_month():
    fleet = [Period(Decimal(p), NOV - timedelta(days=90), None) for p in ("8.99", "17.99", "35.99")]
    mid = month_cost(fleet, NOV + timedelta(days=15))
    actual = month_cost(fleet, NOV + timedelta(days=30) - timedelta(seconds=1)).to_date
    assert abs(mid.projected - actual) <= actual * Decimal("0.05")


def test_breach_date_is_when_the_run_rate_reaches_the_budget():
    server = Period(Decimal("30.00"), NOV - timedelta(days=60), None)
    now = NOV + timedelta(days=10)
    cost = month_cost([server], now)
    assert breach_date(cost, Decimal("20.00"), now) == NOV + timedelta(days=20)
    assert breach_date(cost, Decimal("40.00"), now) is None  # not this month
    assert breach_date(cost, Decimal("5.00"), now) == now  # already spent


def test_thresholds_crossed_by_actual_and_forecast_spend():
    server = Period(Decimal("100.00"), NOV - timedelta(days=60), None)
    cost = month_cost([server], NOV + timedelta(days=18))  # 60 spent, 100 projected
    assert [key for key, _, _ in crossed(cost, Decimal("100.00"))] == ["50", "forecast"]
    assert [key for key, _, _ in crossed(cost, Decimal("70.00"))] == ["50", "80", "forecast"]
    assert crossed(cost, Decimal("1000.00")) == []


def test_history_lists_each_month_oldest_first_and_this_one_to_date():
    server = Period(Decimal("30.00"), NOV - timedelta(days=16), None)  # from 16 October
    history = monthly_history([server], NOV + timedelta(days=3), 3)
    assert [m.month for m, _ in history] == [9, 10, 11]
    assert [c for _, c in history] == [Decimal("0.00"), Decimal("15.48"), Decimal("3.00")]


def test_a_shared_cost_splits_to_the_cent_by_the_largest_remainder():
    assert split(Decimal("10.00"), {"a": Decimal(1), "b": Decimal(1), "c": Decimal(1)}) == {
        "a": Decimal("3.34"),  # the cent left over goes to the first of equal remainders
        "b": Decimal("3.33"),
        "c": Decimal("3.33"),
    }
    # 6.67 over 3 : 1 : 36 is 0.50025, 0.16675, 6.003: the left-over cent goes to the largest remainder
    assert split(Decimal("6.67"), {"a": Decimal(3000), "b": Decimal(1000), "idle": Decimal(36000)}) == {
        "a": Decimal("0.50"),
        "b": Decimal("0.17"),
        "idle": Decimal("6.00"),
    }
    assert split(Decimal("5.00"), {"a": Decimal(2), "nobody": Decimal(0)}) == {
        "a": Decimal("5.00"),
        "nobody": Decimal("0.00"),
    }


def test_a_split_always_adds_up_to_the_cent():
    draw = random.Random(14)
    for _ in range(500):
        amount = Decimal(draw.randint(0, 10_000_000)) / 100
        count = draw.randint(1, 30)
        weights = {f"t{i}": Decimal(draw.choice([0, draw.randint(1, 10**9)])) for i in range(count)}
        weights["last"] = Decimal(draw.randint(1, 10**6))  # not all zero
        parts = split(amount, weights)
        assert sum(parts.values()) == amount
        assert all(part >= 0 and part == part.quantize(Decimal("0.01")) for part in parts.values())
        assert all(parts[name] == 0 for name, w in weights.items() if w == 0)


@pytest.mark.parametrize("weights", [{}, {"a": Decimal(0)}, {"a": Decimal(2), "b": Decimal(-1)}])
def test_a_split_needs_weights_that_are_not_all_zero_nor_negative(weights):
    with pytest.raises(ValueError, match="weights must be positive"):
        split(Decimal("1.00"), weights)
