"""Finalisations at the same moment, in real committed transactions: the tenant's counter row
serializes them, so one driver's period is finalised once, and numbers are never handed out
twice (PostgreSQL runs them truly concurrently; SQLite's writers queue for its write lock)."""

import asyncio
from uuid import UUID

import sqlalchemy as sa

from chargeledger.statements.service import StatementOverlapError, StoredStatement, finalise
from chargeledger.storage.database import Database
from chargeledger.storage.tables import statements
from tests.statements.builders import Fleet, local_ms, period_of

NOW_MS = local_ms("2026-11-02 09:00")


async def attempt(
    database: Database, tenant_id: UUID, driver_id: UUID, period: str
) -> StoredStatement | StatementOverlapError:
    try:
        async with database.write() as connection:
            return await finalise(connection, tenant_id, driver_id, period_of(period), None, NOW_MS)
    except StatementOverlapError as error:
        return error


async def test_the_same_period_finalised_at_once_twice_is_finalised_once(
    database: Database,
) -> None:
    async with database.write() as connection:
        fleet = await Fleet.create(connection)
        driver_id, car_id = await fleet.driver_with_car()
        await fleet.session(car_id, "2026-10-05 19:00", "2026-10-05 20:00", kwh=2.0)
        # The tenant's counter row exists already (a first finalisation would also queue the
        # others behind its insert of the row): what serializes them is the row's lock.
        colleague, _ = await fleet.driver_with_car(name="colleague")
        await finalise(connection, fleet.tenant_id, colleague, period_of("2026-09"), None, NOW_MS)

    results = await asyncio.gather(
        *(
            attempt(database, fleet.tenant_id, driver_id, period)
            for period in ("2026-10", "2026-Q4", "2026-10")
        )
    )

    finalised = [result for result in results if isinstance(result, StoredStatement)]
    refused = [result for result in results if isinstance(result, StatementOverlapError)]
    assert (len(finalised), len(refused)) == (1, 2)
    async with database.read() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count())
            .select_from(statements)
            .where(statements.c.tenant_id == fleet.tenant_id)
        )
    assert count == 2  # the colleague's and one of the three


async def test_drivers_finalised_at_once_get_distinct_consecutive_numbers(
    database: Database,
) -> None:
    async with database.write() as connection:
        fleet = await Fleet.create(connection)
        drivers = [(await fleet.driver_with_car(name=f"driver {n}"))[0] for n in range(6)]

    results = await asyncio.gather(
        *(attempt(database, fleet.tenant_id, driver, "2026-10") for driver in drivers)
    )

    numbers = sorted(result.number for result in results if isinstance(result, StoredStatement))
    assert numbers == [f"2026-{n:06d}" for n in range(1, 7)]
