"""Finalising in-process on the real database (rolled back): what is stored (the document,
its hash, its lines, the number, the event), and every refusal (409) with nothing stored."""

import hashlib
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.instants import format_instant
from chargeledger.errors import NotFoundError
from chargeledger.statements.service import (
    ContentChangedError,
    HashedDocument,
    StatementOverlapError,
    StatementProblemsError,
    compute_draft,
    finalise,
    finalise_if_needed,
    get_statement,
)
from chargeledger.storage.database import run_before_commit
from chargeledger.storage.tables import events, statement_lines, statements
from tests.statements.builders import Fleet, local_ms, period_of

FINALISED_MS = local_ms("2026-11-02 09:00")


async def october_of(connection: AsyncConnection) -> tuple[Fleet, UUID]:
    """A driver whose October has 10 kWh and 5 kWh at 0.30: 3.00 + 1.50 = 4.50."""
    fleet = await Fleet.create(connection)
    driver_id, car_id = await fleet.driver_with_car(price="0.30")
    await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 21:00", kwh=10.0)
    await fleet.session(car_id, "2026-10-09 19:00", "2026-10-09 20:00", kwh=5.0)
    return fleet, driver_id


async def stored_rows(connection: AsyncConnection, tenant_id: UUID) -> list[Any]:
    result = await connection.execute(
        sa.select(statements).where(statements.c.tenant_id == tenant_id)
    )
    return list(result)


async def test_finalising_keeps_the_numbered_document_its_hash_and_its_lines(
    connection: AsyncConnection,
) -> None:
    fleet, driver_id = await october_of(connection)

    stored = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS
    )

    assert stored.number == "2026-000001"
    assert stored.total_amount == "4.50"
    assert stored.content_sha256 == hashlib.sha256(stored.content_json.encode()).hexdigest()
    document = orjson.loads(stored.content_json)
    assert document["status"] == "finalised"
    assert (document["id"], document["number"]) == (str(stored.id), "2026-000001")
    assert document["finalised"] == format_instant(FINALISED_MS) == "2026-11-02T08:00:00Z"
    assert document["totals"]["amount"] == "4.50"
    # Canonical: what is stored is exactly the sorted, spaceless serialization.
    assert stored.content_json.encode() == orjson.dumps(document, option=orjson.OPT_SORT_KEYS)
    (row,) = await stored_rows(connection, fleet.tenant_id)
    assert (row.period_start, row.period_end, row.currency) == ("2026-10-01", "2026-11-01", "EUR")
    assert (row.content_json, row.content_sha256) == (stored.content_json, stored.content_sha256)
    lines = (
        await connection.execute(
            sa.select(statement_lines)
            .where(statement_lines.c.statement_id == stored.id)
            .order_by(statement_lines.c.line_number)
        )
    ).all()
    assert [(line.kind, line.t1_kwh, line.t2_kwh, line.amount) for line in lines] == [
        ("session", "10.000", "0.000", "3.00"),
        ("session", "5.000", "0.000", "1.50"),
    ]
    assert [line.session_start_ms for line in lines] == [
        local_ms("2026-10-05 19:00"),
        local_ms("2026-10-09 19:00"),
    ]
    assert {line.driver_id for line in lines} == {driver_id}


async def test_finalising_records_the_statement_finalised_event(
    connection: AsyncConnection,
) -> None:
    fleet, driver_id = await october_of(connection)

    stored = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS
    )
    await run_before_commit(connection)

    (event,) = (
        await connection.execute(
            sa.select(events).where(
                events.c.tenant_id == fleet.tenant_id, events.c.type == "statement.finalised"
            )
        )
    ).all()
    assert (event.subject_id, event.entity_id, event.version) == (stored.id, None, None)
    assert orjson.loads(event.payload_json)["data"] == {
        "statementId": str(stored.id),
        "number": "2026-000001",
        "driverId": str(driver_id),
        "period": {"start": "2026-10-01", "end": "2026-11-01"},
        "currency": "EUR",
        "totalAmount": "4.50",
        "contentSha256": stored.content_sha256,
    }


async def test_numbers_follow_one_sequence_per_tenant_with_the_year_of_the_period_start(
    connection: AsyncConnection,
) -> None:
    fleet, an = await october_of(connection)
    bart, _ = await fleet.driver_with_car(name="Bart")
    other_fleet, other_driver = await october_of(connection)

    first = await finalise(
        connection, fleet.tenant_id, an, period_of("2026-10"), None, FINALISED_MS
    )
    second = await finalise(
        connection, fleet.tenant_id, bart, period_of("2026-Q4"), None, FINALISED_MS
    )
    third = await finalise(
        connection, fleet.tenant_id, an, period_of("2027-01"), None, FINALISED_MS
    )
    other = await finalise(
        connection, other_fleet.tenant_id, other_driver, period_of("2026-10"), None, FINALISED_MS
    )

    assert [first.number, second.number, third.number] == [
        "2026-000001",
        "2026-000002",
        "2027-000003",
    ]
    assert other.number == "2026-000001"  # another tenant counts on its own


@pytest.mark.parametrize(
    "period", ["2026-10", "2026-10-15/2026-11-15", "2026-Q4", "2026-09-30/2026-10-02"]
)
async def test_a_period_overlapping_a_finalised_statement_is_refused(
    connection: AsyncConnection, period: str
) -> None:
    fleet, driver_id = await october_of(connection)
    october = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS
    )

    with pytest.raises(StatementOverlapError) as raised:
        await finalise(
            connection, fleet.tenant_id, driver_id, period_of(period), None, FINALISED_MS
        )

    assert raised.value.status == 409
    assert "2026-000001" in raised.value.detail
    assert "overlaps" in raised.value.detail
    assert [row.id for row in await stored_rows(connection, fleet.tenant_id)] == [october.id]


async def test_adjacent_periods_do_not_overlap(connection: AsyncConnection) -> None:
    fleet, driver_id = await october_of(connection)
    await finalise(connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS)

    september = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-09"), None, FINALISED_MS
    )
    november = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-11"), None, FINALISED_MS
    )

    assert (september.number, november.number) == ("2026-000002", "2026-000003")


async def test_a_draft_with_problems_is_not_finalised_and_uses_no_number(
    connection: AsyncConnection,
) -> None:
    """A session on 10-10 before the plan's first price (10-15): 409 listing the problem;
    nothing stored; the next statement still gets number 1."""
    fleet = await Fleet.create(connection)
    driver_id = await fleet.driver()
    car_id = await fleet.entity("EV")
    await fleet.assign(driver_id, "car", entity_id=car_id)
    await fleet.give_plan(driver_id, await fleet.plan([("2026-10-15", None, {"t1": "0.30"})]))
    await fleet.session(car_id, "2026-10-10 20:00", "2026-10-10 21:00", kwh=4.0)

    with pytest.raises(StatementProblemsError) as raised:
        await finalise(
            connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS
        )

    assert raised.value.status == 409
    assert raised.value.problems == (
        "line 1: rate plan 'Employee contract' has no price for 2026-10-10",
    )
    assert (
        "line 1: rate plan 'Employee contract' has no price for 2026-10-10" in raised.value.detail
    )
    assert await stored_rows(connection, fleet.tenant_id) == []
    november = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-11"), None, FINALISED_MS
    )
    assert november.number == "2026-000001"


async def test_the_expected_hash_must_be_the_drafts_at_this_moment(
    connection: AsyncConnection,
) -> None:
    """The hash of the draft as checked finalises it; once a session changed, that hash is
    refused (409) and the new one works. The finalised document is the checked draft with
    status, id, number and finalised set."""
    fleet, driver_id = await october_of(connection)
    period = period_of("2026-10")
    checked = HashedDocument.of(await compute_draft(connection, fleet.tenant_id, driver_id, period))
    car_id = UUID(checked.document["lines"][0]["entityId"])
    await fleet.session(car_id, "2026-10-20 19:00", "2026-10-20 20:00", kwh=1.0)

    with pytest.raises(ContentChangedError) as raised:
        await finalise(
            connection, fleet.tenant_id, driver_id, period, checked.content_sha256, FINALISED_MS
        )
    assert raised.value.status == 409
    assert checked.content_sha256 in raised.value.detail
    assert await stored_rows(connection, fleet.tenant_id) == []

    again = HashedDocument.of(await compute_draft(connection, fleet.tenant_id, driver_id, period))
    stored = await finalise(
        connection, fleet.tenant_id, driver_id, period, again.content_sha256, FINALISED_MS
    )
    finalised = orjson.loads(stored.content_json)
    assert {
        key: value
        for key, value in finalised.items()
        if key not in ("status", "id", "number", "finalised")
    } == {
        key: value
        for key, value in again.document.items()
        if key not in ("status", "id", "number", "finalised")
    }


async def test_finalise_if_needed_returns_the_statement_already_finalised_for_the_period(
    connection: AsyncConnection,
) -> None:
    fleet, driver_id = await october_of(connection)
    first = await finalise_if_needed(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), FINALISED_MS
    )

    again = await finalise_if_needed(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), FINALISED_MS + 1000
    )

    assert again == first
    assert len(await stored_rows(connection, fleet.tenant_id)) == 1
    with pytest.raises(StatementOverlapError):
        await finalise_if_needed(
            connection, fleet.tenant_id, driver_id, period_of("2026-Q4"), FINALISED_MS
        )


async def test_an_unknown_or_another_tenants_driver_is_not_found(
    connection: AsyncConnection,
) -> None:
    fleet, driver_id = await october_of(connection)
    other = await Fleet.create(connection)

    for tenant_id, unknown in ((fleet.tenant_id, uuid4()), (other.tenant_id, driver_id)):
        with pytest.raises(NotFoundError):
            await compute_draft(connection, tenant_id, unknown, period_of("2026-10"))
        with pytest.raises(NotFoundError):
            await finalise(connection, tenant_id, unknown, period_of("2026-10"), None, FINALISED_MS)
    stored = await finalise(
        connection, fleet.tenant_id, driver_id, period_of("2026-10"), None, FINALISED_MS
    )
    with pytest.raises(NotFoundError):
        await get_statement(connection, other.tenant_id, stored.id)
    assert await get_statement(connection, fleet.tenant_id, stored.id) == stored
