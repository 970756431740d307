"""Statements (chargeledger.domain.reimbursement.statements): each line priced at the rates of
its local start date and rounded once, the total the sum of the lines, adjustments that settle
exactly what a finalised statement paid, and a canonical document whose hash any change moves."""

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from uuid import uuid4

from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.reimbursement.counting import (
    CountedAs,
    CountedSession,
    Policy,
    SessionFacts,
)
from chargeledger.domain.reimbursement.money import plain
from chargeledger.domain.reimbursement.rates import RatePeriod, RatePlan
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.domain.reimbursement.statements import (
    DriverInfo,
    LineKind,
    PaidSoFar,
    PlanAssignment,
    Reconsidered,
    Statement,
    StatementRef,
    compose_statement,
    content_sha256,
    statement_document,
)
from tests.domain.reimbursement.factories import DRIVER, day_night_plan, session

POLICY = Policy()
DRIVER_INFO = DriverInfo(DRIVER, "An Peeters", "E-001", "BE-VLG")
OCTOBER = StatementRef(uuid4(), "2026-000001")


def counted(facts: SessionFacts) -> CountedSession:
    return CountedSession(facts, CountedAs.CAR_AT_HOME)


def compose(
    sessions: Sequence[SessionFacts] = (),
    reconsidered: Sequence[Reconsidered] = (),
    plans: list[PlanAssignment] | None = None,
) -> Statement:
    return compose_statement(
        tenant_id=uuid4(),
        driver=DRIVER_INFO,
        period_start=date(2026, 11, 1),
        period_end=date(2026, 12, 1),
        policy=POLICY,
        plans=day_night_plan() if plans is None else plans,
        period_sessions=[counted(s) for s in sessions],
        reconsidered=reconsidered,
    )


def test_day_and_night_kwh_are_priced_at_their_own_prices() -> None:
    # 10.5 kWh day x 0.30 = 3.15; 20.25 kWh night x 0.20 = 4.05; 3.15 + 4.05 = 7.20
    statement = compose([session("2026-11-03T17:00", "2026-11-04T05:00", t1="10.5", t2="20.25")])
    (line,) = statement.lines
    assert line.amount == Decimal("7.20")
    assert line.prices == Registers(*map(Decimal, ("0.30", "0.20", "0.30", "0.30")))
    assert statement.total_amount == Decimal("7.20")
    assert statement.energy_totals.total == Decimal("30.75")


def test_each_line_is_rounded_once_and_the_total_is_the_sum_of_the_lines() -> None:
    # 4.1 kWh x 0.25 = 1.025 -> 1.03 (half up) per line; three lines: 3.09, although the
    # unrounded sum 3.075 would round to 3.08.
    sessions = [
        session(f"2026-11-0{day}T18:00", f"2026-11-0{day}T20:00", t1="4.1") for day in (2, 3, 4)
    ]
    statement = compose(sessions, plans=day_night_plan(day="0.25"))
    assert [line.amount for line in statement.lines] == [Decimal("1.03")] * 3
    assert statement.total_amount == Decimal("3.09")
    assert statement_document(statement)["totals"]["amount"] == "3.09"


def test_a_driver_without_sessions_gets_an_empty_statement_in_the_plans_currency() -> None:
    statement = compose([])
    document = statement_document(statement)
    assert document["lines"] == []
    assert document["totals"]["amount"] == "0.00"
    assert document["currency"] == "EUR"
    assert document["problems"] == []


def test_a_session_without_a_rate_is_a_problem_and_pays_nothing() -> None:
    statement = compose([session("2026-11-03T17:00", "2026-11-03T19:00")], plans=[])
    (line,) = statement.lines
    assert line.amount == Decimal("0.00")
    assert line.prices is None
    assert statement.problems == ("line 1: no rate plan for 2026-11-03",)


def paid(facts: SessionFacts, amount: str, energy: Registers | None = None) -> PaidSoFar:
    return PaidSoFar(
        facts.entity_id,
        facts.session_id,
        facts.start_ms,
        facts.end_ms,
        energy if energy is not None else facts.energy_kwh,
        Decimal(amount),
        OCTOBER,
    )


def test_a_corrected_session_adds_the_difference_referencing_the_original_statement() -> None:
    # October paid 10 kWh day = 3.00. The session is now 12.5 kWh day: 3.75; +2.5 kWh, +0.75.
    before = session("2026-10-20T18:00", "2026-10-20T20:00", t1="10")
    now = session("2026-10-20T18:00", "2026-10-20T20:30", t1="12.5", session_id=before.session_id)
    statement = compose([], [Reconsidered(paid(before, "3.00"), counted(now), OCTOBER)])
    (line,) = statement.lines
    assert line.kind is LineKind.ADJUSTMENT
    assert line.energy_kwh.t1 == Decimal("2.5")
    assert line.amount == Decimal("0.75")
    assert line.adjusts == OCTOBER
    assert line.session_version == now.version


def test_a_removed_session_is_paid_back_in_full() -> None:
    before = session("2026-10-20T18:00", "2026-10-20T20:00", t1="10")
    statement = compose([], [Reconsidered(paid(before, "3.00"), None, OCTOBER)])
    (line,) = statement.lines
    assert (line.amount, line.energy_kwh.t1, line.session_version) == (
        Decimal("-3.00"),
        Decimal("-10"),
        None,
    )


def test_a_late_session_of_a_finalised_month_is_an_adjustment_of_that_month() -> None:
    late = session("2026-10-30T18:00", "2026-10-30T20:00", t1="10")
    statement = compose([], [Reconsidered(None, counted(late), OCTOBER)])
    (line,) = statement.lines
    assert (line.kind, line.amount, line.adjusts) == (LineKind.ADJUSTMENT, Decimal("3.00"), OCTOBER)


def test_an_unchanged_session_adds_nothing_and_a_paid_session_is_not_paid_again() -> None:
    facts = session("2026-11-02T18:00", "2026-11-02T20:00", t1="10")
    # Its start moved into November after October paid it: settled, not a second line.
    statement = compose([facts], [Reconsidered(paid(facts, "3.00"), counted(facts), OCTOBER)])
    assert statement.lines == ()


energies = st.decimals(min_value=0, max_value=200, places=3)
prices = st.decimals(min_value=0, max_value=2, places=4)


@given(energies, energies, energies, energies, prices, prices)
def test_once_an_adjustment_is_paid_the_session_is_settled(
    paid_day: Decimal,
    paid_night: Decimal,
    now_day: Decimal,
    now_night: Decimal,
    day_price: Decimal,
    night_price: Decimal,
) -> None:
    plans = day_night_plan(plain(day_price), plain(night_price))
    before = session(
        "2026-10-20T18:00", "2026-10-21T02:00", t1=plain(paid_day), t2=plain(paid_night)
    )
    first = compose([before], plans=plans).lines[0]  # what October paid
    now = session(
        "2026-10-20T18:00",
        "2026-10-21T02:00",
        t1=plain(now_day),
        t2=plain(now_night),
        session_id=before.session_id,
    )
    adjusted = compose(
        [], [Reconsidered(paid(before, plain(first.amount)), counted(now), OCTOBER)], plans
    )
    adjustments = sum((line.energy_kwh for line in adjusted.lines), Registers())
    settled_energy = first.energy_kwh + adjustments
    settled_amount = first.amount + sum(line.amount for line in adjusted.lines)
    # Paid in total exactly what the session is worth now, to the cent.
    worth_now = compose([now], plans=plans).lines[0]
    assert settled_energy == worth_now.energy_kwh
    assert settled_amount == worth_now.amount
    # And looked at again after that, nothing more.
    again = compose(
        [],
        [Reconsidered(paid(before, plain(settled_amount), settled_energy), counted(now), OCTOBER)],
        plans,
    )
    assert again.lines == ()


def test_the_hash_is_of_the_canonical_document_and_moves_with_any_amount() -> None:
    statement = compose([session("2026-11-03T17:00", "2026-11-03T19:00", t1="10")])
    document = statement_document(statement)
    same = statement_document(statement)
    assert content_sha256(document) == content_sha256(dict(reversed(list(same.items()))))
    document["lines"][0]["amount"] = "3.01"
    assert content_sha256(document) != content_sha256(same)


def test_the_readmes_worked_example() -> None:
    """README "Reimbursement: a month, for finance", worked example: a contract of 0.3120 by
    day and 0.2150 at night capped by a Flanders maximum of 0.2845."""
    creg = RatePlan(
        uuid4(),
        "CREG maximum Flanders",
        "EUR",
        (RatePeriod(date(2026, 10, 1), date(2027, 1, 1), Registers(*[Decimal("0.2845")] * 4)),),
    )
    contract_prices = Registers(
        Decimal("0.3120"), Decimal("0.2150"), Decimal("0.3120"), Decimal("0.3120")
    )
    contract = RatePlan(
        uuid4(),
        "Contract E-1001",
        "EUR",
        (RatePeriod(date(2026, 1, 1), None, contract_prices),),
        creg,
    )
    sessions = [
        session("2026-10-03T16:10", "2026-10-03T19:40", t1="11.210", t2="0"),
        session("2026-10-14T20:30", "2026-10-15T03:10", t1="2.050", t2="24.730"),
        session("2026-10-25T18:00", "2026-10-26T08:00", t1="4.000", t2="10.000"),
    ]
    statement = compose_statement(
        tenant_id=uuid4(),
        driver=DRIVER_INFO,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 11, 1),
        policy=POLICY,
        plans=[PlanAssignment(contract, date(2026, 1, 1), None)],
        period_sessions=[counted(s) for s in sessions],
        reconsidered=(),
    )
    assert [plain(line.amount) for line in statement.lines] == ["3.19", "5.90", "3.29"]
    # By day the cap's 0.2845 applies, at night the contract's own 0.2150.
    for line in statement.lines:
        assert line.rates is not None
        assert "t1" in line.rates.capped
        assert "t2" not in line.rates.capped
    document = statement_document(statement)
    assert document["totals"]["amount"] == "12.38"
    assert (document["totals"]["energy"]["t1"], document["totals"]["energy"]["t2"]) == (
        "17.260",
        "34.730",
    )
