"""Rate plans (chargeledger.domain.reimbursement.rates): periods of local dates that must not
overlap, and a cap that lowers each register's price to the cap's where the cap is lower."""

from datetime import date
from decimal import Decimal
from uuid import uuid4

import pytest

from chargeledger.domain.reimbursement.rates import (
    AppliedRates,
    NoRate,
    RatePeriod,
    RatePlan,
    RatePlanError,
    check_cap,
    checked_periods,
    rates_on,
)
from chargeledger.domain.reimbursement.registers import Registers


def prices(t1: str, t2: str | None = None) -> Registers:
    return Registers(Decimal(t1), Decimal(t2 or t1), Decimal(t2 or t1), Decimal(t2 or t1))


Q3 = RatePeriod(date(2026, 7, 1), date(2026, 10, 1), prices("0.30", "0.20"))
Q4 = RatePeriod(date(2026, 10, 1), None, prices("0.34", "0.22"))
CONTRACT = RatePlan(uuid4(), "Employee contract", "EUR", (Q3, Q4))
CREG = RatePlan(
    uuid4(), "CREG maximum Flanders", "EUR", (RatePeriod(date(2026, 1, 1), None, prices("0.31")),)
)


def test_a_session_is_priced_at_the_period_of_its_local_start_date() -> None:
    september = rates_on(CONTRACT, date(2026, 9, 30))
    october = rates_on(CONTRACT, date(2026, 10, 1))
    assert isinstance(september, AppliedRates)
    assert isinstance(october, AppliedRates)
    assert september.prices.t1 == Decimal("0.30")
    assert october.prices.t1 == Decimal("0.34")
    assert october.valid_from == date(2026, 10, 1)


def test_no_period_is_a_problem_not_a_zero_price() -> None:
    missing = rates_on(CONTRACT, date(2026, 6, 30))
    assert isinstance(missing, NoRate)
    assert "2026-06-30" in missing.problem


def test_the_cap_lowers_only_the_registers_where_it_is_lower() -> None:
    capped = RatePlan(CONTRACT.id, CONTRACT.name, "EUR", CONTRACT.periods, cap=CREG)
    october = rates_on(capped, date(2026, 10, 15))
    assert isinstance(october, AppliedRates)
    # Day 0.34 is capped to 0.31; night 0.22 stays under the cap.
    assert (october.prices.t1, october.prices.t2) == (Decimal("0.31"), Decimal("0.22"))
    assert october.capped == ("t1",)
    september = rates_on(capped, date(2026, 9, 15))
    assert isinstance(september, AppliedRates)
    assert september.prices.t1 == Decimal("0.30")  # under the cap
    assert september.capped == ()


def test_a_cap_without_a_price_that_day_makes_the_session_unpriced() -> None:
    late_cap = RatePlan(uuid4(), "cap", "EUR", (RatePeriod(date(2026, 10, 1), None, prices("1")),))
    capped = RatePlan(CONTRACT.id, CONTRACT.name, "EUR", CONTRACT.periods, cap=late_cap)
    result = rates_on(capped, date(2026, 9, 15))
    assert isinstance(result, NoRate)
    assert "caps 'Employee contract'" in result.problem


def test_overlapping_or_backwards_periods_are_refused() -> None:
    with pytest.raises(RatePlanError, match="overlap"):
        checked_periods([Q4, RatePeriod(date(2026, 12, 1), None, prices("1"))])
    with pytest.raises(RatePlanError, match="overlap"):
        checked_periods([RatePeriod(date(2026, 7, 1), date(2026, 10, 2), prices("1")), Q4])
    with pytest.raises(RatePlanError, match="not after"):
        checked_periods([RatePeriod(date(2026, 7, 1), date(2026, 7, 1), prices("1"))])
    assert checked_periods([Q4, Q3]) == (Q3, Q4)  # adjacent periods are fine, sorted


def test_caps_in_another_currency_or_in_a_cycle_are_refused() -> None:
    with pytest.raises(RatePlanError, match="GBP"):
        check_cap(uuid4(), "EUR", RatePlan(uuid4(), "uk", "GBP", ()))
    plan_id = uuid4()
    loop = RatePlan(uuid4(), "b", "EUR", (), cap=RatePlan(plan_id, "a", "EUR", ()))
    with pytest.raises(RatePlanError, match="itself"):
        check_cap(plan_id, "EUR", loop)
    check_cap(CONTRACT.id, "EUR", CREG)
