"""The SQL of statement runs: creating and listing them, and the worker's claim and lease.

A worker holds a run while `lease_until_ms` is in the future. Every write it makes to a run it
holds (progress, the end) is conditional on the lease still being the value it set: a worker
whose lease ran out and was taken over by another finds its update matching no row and stops,
so it never overwrites the progress of the worker that took over. A new lease is always later
than the one it replaces (it is taken only after that one ran out), so the values never repeat.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import statement_runs, statements, tenants

PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"

_r = statement_runs


@dataclass(frozen=True, slots=True)
class Progress:
    drivers_done: int
    total_amount: str | None
    problems_json: str

    def values(self) -> dict[str, Any]:
        return {
            "drivers_done": self.drivers_done,
            "total_amount": self.total_amount,
            "problems_json": self.problems_json,
        }


@dataclass(frozen=True, slots=True)
class Lease:
    """A run this worker holds until `until_ms`, as long as nobody took it over."""

    run_id: UUID
    until_ms: int


async def insert_run(connection: AsyncConnection, **values: Any) -> sa.Row[Any]:
    result = await connection.execute(sa.insert(_r).values(**values).returning(_r))
    row: sa.Row[Any] = result.one()
    return row


async def get_run(
    connection: AsyncConnection, *, tenant_id: UUID, run_id: UUID
) -> sa.Row[Any] | None:
    """The tenant's run; None when missing or another tenant's."""
    query = sa.select(_r).where(_r.c.id == run_id, _r.c.tenant_id == tenant_id)
    return (await connection.execute(query)).first()


async def list_runs(
    connection: AsyncConnection, *, tenant_id: UUID, after: tuple[int, UUID] | None, limit: int
) -> list[sa.Row[Any]]:
    """Oldest first, keyset-paged by (created_ms, id)."""
    query = sa.select(_r).where(_r.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(sa.tuple_(_r.c.created_ms, _r.c.id) > sa.tuple_(*after))
    query = query.order_by(_r.c.created_ms, _r.c.id).limit(limit)
    return list((await connection.execute(query)).all())


def _claimable(now_ms: int) -> sa.ColumnElement[bool]:
    """Waiting to start, or started by a worker whose lease ran out (it died or hangs)."""
    return sa.or_(
        _r.c.status == PENDING,
        sa.and_(_r.c.status == RUNNING, _r.c.lease_until_ms < now_ms),
    )


async def any_claimable(connection: AsyncConnection, *, now_ms: int) -> bool:
    """A read first, so that an idle worker never takes SQLite's write lock to find nothing."""
    found = await connection.scalar(sa.select(_r.c.id).where(_claimable(now_ms)).limit(1))
    return found is not None


async def claim_run(
    connection: AsyncConnection,
    *,
    now_ms: int,
    lease_ms: int,
    driver_count: Callable[[AsyncConnection, UUID], Awaitable[int]],
) -> sa.Row[Any] | None:
    """Take the oldest claimable run: running, leased until now + lease_ms, its progress reset
    (the worker walks every driver again; drivers already finalised count as done at once).
    FOR UPDATE SKIP LOCKED on PostgreSQL: workers claiming at once take different runs. On
    SQLite the write transaction holds the database's only write lock, so the plain select is
    enough. `driver_count(connection, tenant_id)` counts the tenant's drivers now."""
    row = (
        await connection.execute(
            sa.select(_r.c.id, _r.c.tenant_id)
            .where(_claimable(now_ms))
            .order_by(_r.c.created_ms, _r.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).first()
    if row is None:
        return None
    count = await driver_count(connection, row.tenant_id)
    result = await connection.execute(
        sa.update(_r)
        .where(_r.c.id == row.id)
        .values(
            status=RUNNING,
            lease_until_ms=now_ms + lease_ms,
            driver_count=count,
            drivers_done=0,
            total_amount=None,
            problems_json="[]",
            error=None,
        )
        .returning(_r)
    )
    claimed: sa.Row[Any] = result.one()
    return claimed


async def record_progress(
    connection: AsyncConnection,
    *,
    lease: Lease,
    new_until_ms: int,
    progress: Progress,
) -> bool:
    """Progress after a page of drivers, and the lease renewed; False when the lease is no
    longer ours (nothing written)."""
    result = await connection.execute(
        sa.update(_r)
        .where(
            _r.c.id == lease.run_id, _r.c.status == RUNNING, _r.c.lease_until_ms == lease.until_ms
        )
        .values(lease_until_ms=new_until_ms, **progress.values())
    )
    return bool(result.rowcount)


async def finish_run(
    connection: AsyncConnection,
    *,
    lease: Lease,
    status: str,
    now_ms: int,
    progress: Progress,
    error: str | None = None,
) -> bool:
    """The run's end (succeeded or failed); False when the lease is no longer ours."""
    result = await connection.execute(
        sa.update(_r)
        .where(
            _r.c.id == lease.run_id, _r.c.status == RUNNING, _r.c.lease_until_ms == lease.until_ms
        )
        .values(
            status=status,
            lease_until_ms=None,
            finished_ms=now_ms,
            error=error,
            **progress.values(),
        )
    )
    return bool(result.rowcount)


async def finalised_for_period(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    period_start: str,
    period_end: str,
    after_driver: UUID | None,
    limit: int,
) -> list[sa.Row[Any]]:
    """The tenant's statements finalised for exactly this period, with their documents, in
    order of driver (a driver has at most one: its statements never overlap)."""
    query = sa.select(statements).where(
        statements.c.tenant_id == tenant_id,
        statements.c.period_start == period_start,
        statements.c.period_end == period_end,
    )
    if after_driver is not None:
        query = query.where(statements.c.driver_id > after_driver)
    query = query.order_by(statements.c.driver_id).limit(limit)
    return list((await connection.execute(query)).all())


async def tenant_exists(connection: AsyncConnection, tenant_id: UUID) -> bool:
    found = await connection.scalar(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))
    return found is not None
