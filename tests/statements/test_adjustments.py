"""Changes after finalising become adjustment lines of the driver's next statement, exactly
once, referencing the statement they settle; a finalised statement never changes. In-process
on the real database (rolled back); amounts worked out by hand at 0.30 EUR/kWh."""

from typing import Any
from uuid import UUID

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.statements import statement_document
from chargeledger.statements import service
from chargeledger.statements.service import StoredStatement, compute_draft, finalise, get_statement
from chargeledger.storage.tables import statement_lines
from tests.statements.builders import ELSEWHERE, Fleet, local_ms, period_of

OCTOBER_FINALISED_MS = local_ms("2026-11-02 09:00")
CHANGED_MS = local_ms("2026-11-05 10:00")
NOVEMBER_FINALISED_MS = local_ms("2026-12-02 09:00")
CHANGED_AGAIN_MS = local_ms("2026-12-05 10:00")


async def draft(
    connection: AsyncConnection, fleet: Fleet, driver_id: UUID, period: str
) -> dict[str, Any]:
    return statement_document(
        await compute_draft(connection, fleet.tenant_id, driver_id, period_of(period))
    )


async def finalised(
    connection: AsyncConnection, fleet: Fleet, driver_id: UUID, period: str, now_ms: int
) -> StoredStatement:
    return await finalise(connection, fleet.tenant_id, driver_id, period_of(period), None, now_ms)


def kinds(document: dict[str, Any]) -> list[str]:
    return [line["kind"] for line in document["lines"]]


async def test_a_corrected_session_is_settled_once_in_the_next_statement(
    connection: AsyncConnection,
) -> None:
    """October: 10 kWh -> 3.00, finalised as 2026-000001. The session is posted again with
    12.5 kWh (version 2). November (its own session 5 kWh -> 1.50) gets one adjustment:
    +2.500 kWh and 12.5 x 0.30 - 3.00 = 3.75 - 3.00 = +0.75, referencing 2026-000001;
    total 1.50 + 0.75 = 2.25. October's statement is unchanged, byte for byte. Once November
    is finalised, December's draft settles nothing again."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="oct")
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    corrected = await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 22:00",
        kwh=12.5,
        external_id="oct",
        now_ms=CHANGED_MS,
    )
    await fleet.session(car_id, "2026-11-10 19:00", "2026-11-10 20:00", kwh=5.0, now_ms=CHANGED_MS)
    assert corrected.version == 2

    november = await draft(connection, fleet, driver_id, "2026-11")

    assert kinds(november) == ["session", "adjustment"]
    adjustment = november["lines"][1]
    assert adjustment["sessionId"] == str(corrected.id)
    assert adjustment["sessionVersion"] == 2
    assert adjustment["start"] == "2026-10-05T17:00:00Z"
    assert adjustment["energy"]["t1"] == "2.500"
    assert adjustment["energy"]["total"] == "2.500"
    assert adjustment["amount"] == "0.75"
    assert adjustment["adjusts"] == {"statementId": str(october.id), "number": "2026-000001"}
    assert november["totals"]["amount"] == "2.25"
    assert (november["totals"]["sessionLines"], november["totals"]["adjustmentLines"]) == (1, 1)
    assert await get_statement(connection, fleet.tenant_id, october.id) == october

    await finalised(connection, fleet, driver_id, "2026-11", NOVEMBER_FINALISED_MS)
    december = await draft(connection, fleet, driver_id, "2026-12")

    assert december["lines"] == []
    assert december["totals"]["amount"] == "0.00"


async def test_a_second_correction_is_settled_against_everything_paid_so_far(
    connection: AsyncConnection,
) -> None:
    """10 kWh paid 3.00 in October, corrected to 12.5 kWh and settled +0.75 in November;
    corrected again to 11 kWh: December settles 11 x 0.30 - (3.00 + 0.75) = 3.30 - 3.75 =
    -0.45, and -1.500 kWh, still referencing October's statement (the session's first)."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="oct")
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 22:00",
        kwh=12.5,
        external_id="oct",
        now_ms=CHANGED_MS,
    )
    await finalised(connection, fleet, driver_id, "2026-11", NOVEMBER_FINALISED_MS)
    await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 22:00",
        kwh=11.0,
        external_id="oct",
        now_ms=CHANGED_AGAIN_MS,
    )

    december = await draft(connection, fleet, driver_id, "2026-12")

    (adjustment,) = december["lines"]
    assert adjustment["kind"] == "adjustment"
    assert (adjustment["energy"]["total"], adjustment["amount"]) == ("-1.500", "-0.45")
    assert adjustment["adjusts"]["number"] == october.number
    assert december["totals"]["amount"] == "-0.45"


async def test_a_session_arriving_after_its_month_was_finalised_is_paid_as_an_adjustment(
    connection: AsyncConnection,
) -> None:
    """A session of October 20th (4 kWh) is posted on November 5th, after October was
    finalised with nothing for it: November pays 4 x 0.30 = 1.20 as an adjustment of
    October's statement (not as a November session)."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    late = await fleet.session(
        car_id, "2026-10-20 19:00", "2026-10-20 20:00", kwh=4.0, now_ms=CHANGED_MS
    )

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert (line["kind"], line["sessionId"], line["amount"]) == ("adjustment", str(late.id), "1.20")
    assert line["energy"]["total"] == "4.000"
    assert line["adjusts"] == {"statementId": str(october.id), "number": october.number}
    assert line["countedAs"] == "carAtHome"


async def test_a_paid_session_that_was_removed_is_taken_back(connection: AsyncConnection) -> None:
    """October paid 10 kWh (3.00) for a session that re-detection then removed: November has
    -10.000 kWh and -3.00, with the session's start and end as October's statement showed."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    gone = await fleet.session(
        car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="gone"
    )
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.remove(car_id, "gone", now_ms=CHANGED_MS)

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert (line["kind"], line["sessionId"], line["sessionVersion"]) == (
        "adjustment",
        str(gone.id),
        None,
    )
    assert (line["energy"]["total"], line["amount"]) == ("-10.000", "-3.00")
    assert (line["start"], line["end"]) == ("2026-10-05T17:00:00Z", "2026-10-05T20:00:00Z")
    assert line["adjusts"]["number"] == october.number
    assert line["countedAs"] is None
    assert line["evidence"] is None


async def test_a_paid_session_moved_into_this_period_is_settled_not_paid_twice(
    connection: AsyncConnection,
) -> None:
    """October paid a session of 10-31 23:30 (10 kWh, 3.00). Its start is corrected to 11-01
    00:30 and its energy to 12 kWh: November has no session line for it, only the adjustment
    12 x 0.30 - 3.00 = +0.60 (+2.000 kWh)."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-31 23:30", "2026-11-01 02:00", kwh=10.0, external_id="x")
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(
        car_id, "2026-11-01 00:30", "2026-11-01 02:00", kwh=12.0, external_id="x", now_ms=CHANGED_MS
    )

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert line["kind"] == "adjustment"
    assert (line["energy"]["total"], line["amount"]) == ("2.000", "0.60")
    assert line["start"] == "2026-10-31T23:30:00Z"
    assert line["adjusts"]["number"] == october.number


async def test_an_unchanged_month_is_not_settled_again(connection: AsyncConnection) -> None:
    """October finalised, nothing changed since: November has only its own session."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0)
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(car_id, "2026-11-05 19:00", "2026-11-05 20:00", kwh=2.0, now_ms=CHANGED_MS)

    november = await draft(connection, fleet, driver_id, "2026-11")

    assert kinds(november) == ["session"]
    assert november["totals"]["amount"] == "0.60"


async def test_a_change_that_does_not_change_the_amount_or_energy_adds_no_line(
    connection: AsyncConnection,
) -> None:
    """The October session is written again with a new end (a new version) but the same
    10 kWh: worth what was paid, so November has nothing to settle."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="s")
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    changed = await fleet.session(
        car_id, "2026-10-05 19:00", "2026-10-05 22:30", kwh=10.0, external_id="s", now_ms=CHANGED_MS
    )
    assert changed.version == 2

    november = await draft(connection, fleet, driver_id, "2026-11")

    assert november["lines"] == []


async def test_taking_back_a_session_paid_nothing_is_zero_not_minus_zero(
    connection: AsyncConnection,
) -> None:
    """A free period (0.00 per kWh) paid 10 kWh for 0.00; the session is removed: November
    takes back -10.000 kWh and 0.00 (not "-0.00")."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0")
    await fleet.session(
        car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="free"
    )
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.remove(car_id, "free", now_ms=CHANGED_MS)

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert (line["energy"]["total"], line["amount"]) == ("-10.000", "0.00")
    assert november["totals"]["amount"] == "0.00"


async def test_a_paid_session_that_no_longer_counts_is_taken_back_once(
    connection: AsyncConnection,
) -> None:
    """October paid 10 kWh (3.00) at Home; the session is corrected to a position far from
    Home (version 2): it no longer counts, November takes back -3.00. The line row keeps the
    version it looked at (2), so after November is finalised December settles nothing."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="s")
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    moved = await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 22:00",
        kwh=10.0,
        external_id="s",
        at=ELSEWHERE,
        now_ms=CHANGED_MS,
    )

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert (line["amount"], line["sessionVersion"], line["countedAs"]) == ("-3.00", None, None)
    stored = await finalised(connection, fleet, driver_id, "2026-11", NOVEMBER_FINALISED_MS)
    (row,) = (
        await connection.execute(
            sa.select(statement_lines).where(statement_lines.c.statement_id == stored.id)
        )
    ).all()
    assert (row.session_id, row.session_version, row.amount) == (moved.id, 2, "-3.00")
    assert (await draft(connection, fleet, driver_id, "2026-12"))["lines"] == []


async def test_a_change_is_settled_whatever_the_clock_of_the_writer_said(
    connection: AsyncConnection,
) -> None:
    """A writer whose clock is an hour behind stamps its change of the paid session (10 ->
    11 kWh) before October's finalisation, though it comes after: the new version is what
    counts, November settles +0.30 (11 x 0.30 - 3.00)."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="s")
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(
        car_id,
        "2026-10-05 19:00",
        "2026-10-05 22:00",
        kwh=11.0,
        external_id="s",
        now_ms=OCTOBER_FINALISED_MS - 3_600_000,
    )

    november = await draft(connection, fleet, driver_id, "2026-11")

    assert [(line["kind"], line["amount"]) for line in november["lines"]] == [
        ("adjustment", "0.30")
    ]


async def test_a_late_session_stamped_just_before_the_finalisation_is_still_paid(
    connection: AsyncConnection,
) -> None:
    """A session of October written by a request that took its time 5 minutes before
    October's finalisation read the sessions, and committed after: November pays it
    (2 x 0.30 = 0.60) as an adjustment of October."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    october = await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(
        car_id,
        "2026-10-30 19:00",
        "2026-10-30 20:00",
        kwh=2.0,
        now_ms=OCTOBER_FINALISED_MS - 300_000,
    )

    november = await draft(connection, fleet, driver_id, "2026-11")

    (line,) = november["lines"]
    assert (line["kind"], line["amount"], line["adjusts"]["number"]) == (
        "adjustment",
        "0.60",
        october.number,
    )


async def test_a_period_settled_by_a_later_statement_is_not_counted_again(
    connection: AsyncConnection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """October's change was settled when November was finalised: December's draft counts
    December only. (Without this, every later draft would count October again, and a driver's
    drafts would grow slower with every month of history.)"""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=10.0, external_id="s")
    await finalised(connection, fleet, driver_id, "2026-10", OCTOBER_FINALISED_MS)
    await fleet.session(
        car_id, "2026-10-05 19:00", "2026-10-05 22:00", kwh=12.0, external_id="s", now_ms=CHANGED_MS
    )
    counted_periods: list[str] = []
    counted = service._counted

    async def recording(connection: AsyncConnection, driver: Any, start: Any, end: Any) -> Any:
        counted_periods.append(f"{start}/{end}")
        return await counted(connection, driver, start, end)

    monkeypatch.setattr(service, "_counted", recording)

    november = await finalised(connection, fleet, driver_id, "2026-11", NOVEMBER_FINALISED_MS)
    assert counted_periods == ["2026-11-01/2026-12-01", "2026-10-01/2026-11-01"]
    counted_periods.clear()
    december = await draft(connection, fleet, driver_id, "2026-12")

    assert counted_periods == ["2026-12-01/2027-01-01"]
    assert december["lines"] == []
    assert orjson.loads(november.content_json)["totals"]["amount"] == "0.60"  # 12 x 0.30 - 3.00
