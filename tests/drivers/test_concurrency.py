"""Two conflicting assignments made at the same moment cannot both succeed (PostgreSQL, where
writers run side by side; SQLite's writers take turns by construction).

The second one is made while the first is written but not committed: without a lock, its
check could not see the first (READ COMMITTED) and both would be stored. The test waits,
by asking PostgreSQL, until the second is blocked on the entity's lock, then commits the
first: the second must then see it and be refused."""

import asyncio
import time
import uuid
from datetime import date
from typing import Any
from uuid import UUID

import pytest
import sqlalchemy as sa

from chargeledger.domain.reimbursement.counting import AssignmentKind
from chargeledger.drivers import service
from chargeledger.errors import ConflictError
from chargeledger.storage.database import Database
from chargeledger.storage.tables import driver_assignments, entities, tenants
from tests.support.databases import is_postgresql, requested_backend

pytestmark = pytest.mark.skipif(
    not is_postgresql(requested_backend()), reason="SQLite's writers are serial"
)
NOW_MS = 1_790_000_000_000


async def _setup(database: Database) -> tuple[UUID, UUID, UUID, UUID]:
    """A tenant with a car and two drivers, committed."""
    tenant_id, entity_id = uuid.uuid4(), uuid.uuid4()
    async with database.write() as connection:
        await connection.execute(
            sa.insert(tenants).values(id=tenant_id, name="race", created_ms=NOW_MS)
        )
        await connection.execute(
            sa.insert(entities).values(
                id=entity_id,
                tenant_id=tenant_id,
                type="EV",
                name="contested",
                properties_json="{}",
                capture_charge_sessions=True,
                created_ms=NOW_MS,
            )
        )
        driver_ids = [
            (
                await service.create_driver(
                    connection,
                    tenant_id=tenant_id,
                    name=number,
                    employee_number=number,
                    region=None,
                    email=None,
                    now_ms=NOW_MS,
                )
            ).id
            for number in ("E-1", "E-2")
        ]
    return tenant_id, entity_id, driver_ids[0], driver_ids[1]


async def _wait_until_blocked(database: Database, pid: int, contender: asyncio.Task[None]) -> None:
    """Until the backend `pid` waits for a lock (or the contender is done without waiting:
    then the test's assertions tell)."""
    deadline = time.monotonic() + 20
    while not contender.done():
        async with database.read() as connection:
            waiting = await connection.scalar(
                sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                {"pid": pid},
            )
        if waiting == "Lock":
            return
        assert time.monotonic() < deadline, "the second assignment neither waited nor finished"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", [AssignmentKind.CAR, AssignmentKind.ID_TAG])
async def test_two_conflicting_assignments_at_once_cannot_both_succeed(
    database: Database, kind: AssignmentKind
) -> None:
    tenant_id, entity_id, first, second = await _setup(database)
    target: dict[str, Any] = {"entity_id": entity_id, "id_tag": None}
    if kind is AssignmentKind.ID_TAG:
        # A tag has no row to lock: the lock is on (tenant, tag) itself.
        target = {"entity_id": None, "id_tag": f"TAG-{tenant_id}"}
    pid_known: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def assign(driver_id: UUID, valid_from: date) -> None:
        await service.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=driver_id,
            kind=kind,
            valid_from=valid_from,
            valid_to=None,
            now_ms=NOW_MS,
            **target,
        )

    async def contend() -> None:
        async with database.write() as other:
            pid_known.set_result(int(await other.scalar(sa.text("SELECT pg_backend_pid()"))))
            await service.create_assignment(
                other,
                tenant_id=tenant_id,
                driver_id=second,
                kind=kind,
                valid_from=date(2026, 10, 20),
                valid_to=None,
                now_ms=NOW_MS,
                **target,
            )

    async with database.write() as connection:
        await assign(first, date(2026, 10, 1))
        contender = asyncio.create_task(contend())
        await _wait_until_blocked(database, await pid_known, contender)
    with pytest.raises(ConflictError, match=str(first)):
        await contender
    async with database.read() as connection:
        holders = (
            await connection.execute(
                sa.select(driver_assignments.c.driver_id).where(
                    driver_assignments.c.tenant_id == tenant_id
                )
            )
        ).all()
    assert [row.driver_id for row in holders] == [first]
