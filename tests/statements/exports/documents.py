"""Statement documents for the export tests, composed by the domain from hand-made sessions
(no database): what the API and the statement runs hand to the exporters."""

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import uuid4

from chargeledger.domain.reimbursement.counting import AlsoSeen, CountedAs, CountedSession, Policy
from chargeledger.domain.reimbursement.evidence import Evidence
from chargeledger.domain.reimbursement.statements import (
    DriverInfo,
    PaidSoFar,
    Reconsidered,
    StatementRef,
    StatementStatus,
    compose_statement,
    content_sha256,
    statement_document,
)
from tests.domain.reimbursement.factories import (
    CAR,
    CHARGE_POINT,
    day_night_plan,
    session,
    utc_ms,
)

POLICY = Policy()  # Europe/Brussels, EUR
OCTOBER = StatementRef(uuid4(), "2026-000001")
NOVEMBER = (date(2026, 11, 1), date(2026, 12, 1))


def with_hash(composed: dict[str, Any]) -> dict[str, Any]:
    """The document as the exporters get it: with its content hash."""
    return {**composed, "contentSha256": content_sha256(composed)}


def document(
    *,
    name: str = "An Peeters",
    employee_number: str = "E-001",
    sessions: tuple[CountedSession, ...] = (),
    reconsidered: tuple[Reconsidered, ...] = (),
    number: str | None = None,
    period: tuple[date, date] = NOVEMBER,
    policy: Policy = POLICY,
    plans: list[Any] | None = None,
) -> dict[str, Any]:
    statement = compose_statement(
        tenant_id=uuid4(),
        driver=DriverInfo(uuid4(), name, employee_number, "BE-VLG"),
        period_start=period[0],
        period_end=period[1],
        policy=policy,
        plans=day_night_plan() if plans is None else plans,
        period_sessions=sessions,
        reconsidered=reconsidered,
    )
    if number is not None:
        statement = replace(
            statement,
            status=StatementStatus.FINALISED,
            id=uuid4(),
            number=number,
            finalised_ms=utc_ms("2026-12-02T09:30:00"),
        )
    return with_hash(statement_document(statement))


def at_home(start: str, end: str, t1: str, t2: str = "0") -> CountedSession:
    return CountedSession(session(start, end, t1=t1, t2=t2), CountedAs.CAR_AT_HOME)


def rich_document(**overrides: Any) -> dict[str, Any]:
    """November for one driver: a day charge, a night charge across midnight, a home charge
    point's charge the car saw too, a correction of an October session and an October
    session that was removed since.

    Day 0.30, night 0.20 per kWh:
      line 1: 10.5 day                      = 3.15
      line 2: 2 day + 20.25 night           = 0.60 + 4.05 = 4.65
      line 3: 7.125 day (charge point)      = 2.1375 -> 2.14
      line 4: October 10 -> 12.5 day        = +2.5 kWh, +0.75
      line 5: October 5 day removed         = -5 kWh, -1.50
      total: 10.5+2+7.125+2.5-5 = 17.125 day, 20.25 night; 3.15+4.65+2.14+0.75-1.50 = 9.19
    """
    charge_point = CountedSession(
        session("2026-11-20T19:00", "2026-11-20T22:00", entity=CHARGE_POINT, t1="7.125"),
        CountedAs.HOME_CHARGE_POINT,
        (AlsoSeen(CAR, uuid4(), Evidence.CAR_POWER),),
    )
    corrected_before = session("2026-10-20T18:00", "2026-10-20T20:00", t1="10")
    corrected_now = session(
        "2026-10-20T18:00", "2026-10-20T20:30", t1="12.5", session_id=corrected_before.session_id
    )
    removed = session("2026-10-25T18:00", "2026-10-25T19:00", t1="5")
    reconsidered = (
        Reconsidered(
            _paid(corrected_before, "3.00"),
            CountedSession(corrected_now, CountedAs.CAR_AT_HOME),
            OCTOBER,
        ),
        Reconsidered(_paid(removed, "1.50"), None, OCTOBER),
    )
    arguments: dict[str, Any] = {
        "sessions": (
            at_home("2026-11-03T08:00", "2026-11-03T10:00", t1="10.5"),
            at_home("2026-11-10T20:00", "2026-11-11T05:00", t1="2", t2="20.25"),
            charge_point,
        ),
        "reconsidered": reconsidered,
        **overrides,
    }
    return document(**arguments)


def _paid(facts: Any, amount: str) -> PaidSoFar:
    return PaidSoFar(
        facts.entity_id,
        facts.session_id,
        facts.start_ms,
        facts.end_ms,
        facts.energy_kwh,
        Decimal(amount),
        OCTOBER,
    )


def small_document(index: int) -> dict[str, Any]:
    """A driver with one session, numbered: many of these make a statement run."""
    return document(
        name=f"Driver {index}",
        employee_number=f"E-{index:05d}",
        sessions=(at_home("2026-11-05T19:00", "2026-11-05T21:00", t1=f"{index % 40 + 1}.5"),),
        number=f"2026-{index:06d}",
    )
