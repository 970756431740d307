"""The SQL of drivers, their assignments and their rate-plan assignments. Every read names the
tenant: another tenant's driver is not found, in the same words as one that never existed.

The loaders at the top (load_driver, load_assignments, load_tag_holders, driver_ids_page,
count_drivers) are what statements and statement runs call; they answer domain objects."""

import hashlib
from collections.abc import Collection
from datetime import date
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import Assignment, AssignmentKind
from chargeledger.domain.reimbursement.statements import DriverInfo
from chargeledger.storage.tables import (
    driver_assignments,
    driver_rate_plans,
    drivers,
    entities,
    rate_plans,
    statements,
)

# ---- loaders for statements and runs ---------------------------------------------------


def _driver_info(row: sa.Row[Any]) -> DriverInfo:
    return DriverInfo(
        id=row.id,
        name=row.name,
        employee_number=row.employee_number,
        region=row.region,
        email=row.email,
    )


def _assignment(row: sa.Row[Any]) -> Assignment:
    return Assignment(
        driver_id=row.driver_id,
        kind=AssignmentKind(row.kind),
        valid_from=date.fromisoformat(row.valid_from),
        valid_to=None if row.valid_to is None else date.fromisoformat(row.valid_to),
        entity_id=row.entity_id,
        id_tag=row.id_tag,
    )


async def load_driver(
    connection: AsyncConnection, tenant_id: UUID, driver_id: UUID
) -> DriverInfo | None:
    row = await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id)
    return None if row is None else _driver_info(row)


async def load_assignments(
    connection: AsyncConnection, tenant_id: UUID, driver_id: UUID
) -> list[Assignment]:
    """The driver's assignments of every kind, in order of validFrom, then creation."""
    return [
        _assignment(row)
        for row in await list_assignments(connection, tenant_id=tenant_id, driver_id=driver_id)
    ]


async def load_tag_holders(
    connection: AsyncConnection, tenant_id: UUID, tags: Collection[str]
) -> dict[str, list[Assignment]]:
    """Every idTag assignment of the tenant (any driver, any dates) of the tags given, by tag.
    A tag nobody was ever assigned is absent."""
    holders: dict[str, list[Assignment]] = {}
    wanted = sorted(set(tags))
    # Chunks keep the IN list within every backend's parameter limit.
    for start in range(0, len(wanted), 500):
        rows = await connection.execute(
            sa.select(driver_assignments)
            .where(
                driver_assignments.c.tenant_id == tenant_id,
                driver_assignments.c.kind == AssignmentKind.ID_TAG.value,
                driver_assignments.c.id_tag.in_(wanted[start : start + 500]),
            )
            .order_by(driver_assignments.c.valid_from, driver_assignments.c.created_ms)
        )
        for row in rows:
            holders.setdefault(row.id_tag, []).append(_assignment(row))
    return holders


async def driver_ids_page(
    connection: AsyncConnection, tenant_id: UUID, *, after: UUID | None, limit: int
) -> list[UUID]:
    """The tenant's driver ids in order of id, the `limit` after `after` (None: from the
    first)."""
    query = sa.select(drivers.c.id).where(drivers.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(drivers.c.id > after)
    rows = await connection.execute(query.order_by(drivers.c.id).limit(limit))
    return [row.id for row in rows]


async def count_drivers(connection: AsyncConnection, tenant_id: UUID) -> int:
    count = await connection.scalar(
        sa.select(sa.func.count()).select_from(drivers).where(drivers.c.tenant_id == tenant_id)
    )
    return int(count or 0)


# ---- drivers ---------------------------------------------------------------------------

DriverLock = Literal["update", "key_share"]


async def get_driver(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    lock: DriverLock | None = None,
) -> sa.Row[Any] | None:
    """The tenant's driver, None when missing or another tenant's.

    `lock` holds its row until the transaction ends (PostgreSQL): "update" to change or
    delete the driver or to add a rate plan (the overlap check of one driver's plans),
    "key_share" to add a row that references it (a delete waits, or has happened: None).
    """
    query = sa.select(drivers).where(drivers.c.id == driver_id, drivers.c.tenant_id == tenant_id)
    if lock == "update":
        query = query.with_for_update()
    elif lock == "key_share":
        query = query.with_for_update(read=True, key_share=True)
    return (await connection.execute(query)).first()


async def driver_with_employee_number(
    connection: AsyncConnection, *, tenant_id: UUID, employee_number: str
) -> sa.Row[Any] | None:
    query = sa.select(drivers).where(
        drivers.c.tenant_id == tenant_id, drivers.c.employee_number == employee_number
    )
    return (await connection.execute(query)).first()


async def insert_driver(connection: AsyncConnection, **values: Any) -> sa.Row[Any]:
    result = await connection.execute(sa.insert(drivers).values(**values).returning(drivers))
    row: sa.Row[Any] = result.one()
    return row


async def update_driver(
    connection: AsyncConnection, *, driver_id: UUID, **values: Any
) -> sa.Row[Any]:
    result = await connection.execute(
        sa.update(drivers).where(drivers.c.id == driver_id).values(**values).returning(drivers)
    )
    row: sa.Row[Any] = result.one()
    return row


async def list_drivers(
    connection: AsyncConnection, *, tenant_id: UUID, after: tuple[int, UUID] | None, limit: int
) -> list[sa.Row[Any]]:
    """Oldest first, keyset-paged by (created_ms, id)."""
    query = sa.select(drivers).where(drivers.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(sa.tuple_(drivers.c.created_ms, drivers.c.id) > sa.tuple_(*after))
    query = query.order_by(drivers.c.created_ms, drivers.c.id).limit(limit)
    return list((await connection.execute(query)).all())


async def has_statements(connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID) -> bool:
    found = await connection.scalar(
        sa.select(statements.c.id)
        .where(statements.c.tenant_id == tenant_id, statements.c.driver_id == driver_id)
        .limit(1)
    )
    return found is not None


async def delete_driver(connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID) -> None:
    """The driver with its assignments and rate-plan assignments."""
    for table in (driver_assignments, driver_rate_plans):
        await connection.execute(
            sa.delete(table).where(table.c.tenant_id == tenant_id, table.c.driver_id == driver_id)
        )
    await connection.execute(
        sa.delete(drivers).where(drivers.c.tenant_id == tenant_id, drivers.c.id == driver_id)
    )


# ---- assignments -----------------------------------------------------------------------


async def list_assignments(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID
) -> list[sa.Row[Any]]:
    query = (
        sa.select(driver_assignments)
        .where(
            driver_assignments.c.tenant_id == tenant_id,
            driver_assignments.c.driver_id == driver_id,
        )
        .order_by(
            driver_assignments.c.valid_from,
            driver_assignments.c.created_ms,
            driver_assignments.c.id,
        )
    )
    return list((await connection.execute(query)).all())


async def get_assignment(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> sa.Row[Any] | None:
    query = sa.select(driver_assignments).where(
        driver_assignments.c.id == assignment_id,
        driver_assignments.c.tenant_id == tenant_id,
        driver_assignments.c.driver_id == driver_id,
    )
    return (await connection.execute(query)).first()


async def entity_type(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID
) -> str | None:
    """The type of the tenant's entity (EV, ChargePoint, ...), None when it is not theirs."""
    found = await connection.scalar(
        sa.select(entities.c.type).where(
            entities.c.id == entity_id, entities.c.tenant_id == tenant_id
        )
    )
    return None if found is None else str(found)


async def lock_assigned(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID | None, id_tag: str | None
) -> None:
    """Serializes the overlap check and the write of assignments of one entity (or tag) of
    one tenant until the transaction ends, so that two conflicting assignments made at the
    same moment cannot both pass the check. PostgreSQL: a transaction-scoped advisory lock
    on a hash of (tenant, entity or tag); it works for tags too, which have no row to lock.
    SQLite: its writers are serial already (BEGIN IMMEDIATE)."""
    if connection.dialect.name != "postgresql":
        return
    subject = f"entity:{entity_id}" if entity_id is not None else f"idTag:{id_tag}"
    digest = hashlib.sha256(f"driver-assignment:{tenant_id}:{subject}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    await connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


async def overlapping_assignments(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID | None,
    id_tag: str | None,
    valid_from: date,
    valid_to: date | None,
    except_id: UUID | None = None,
) -> list[sa.Row[Any]]:
    """The tenant's assignments (any driver) of the same entity or tag whose validity
    overlaps [valid_from, valid_to): a.from < b.to and b.from < a.to, open ends infinite.
    ISO dates compare as text in date order."""
    table = driver_assignments
    query = sa.select(table).where(table.c.tenant_id == tenant_id)
    if entity_id is not None:
        query = query.where(table.c.entity_id == entity_id)
    else:
        query = query.where(table.c.kind == AssignmentKind.ID_TAG.value, table.c.id_tag == id_tag)
    query = query.where(
        sa.or_(table.c.valid_to.is_(None), table.c.valid_to > valid_from.isoformat())
    )
    if valid_to is not None:
        query = query.where(table.c.valid_from < valid_to.isoformat())
    if except_id is not None:
        query = query.where(table.c.id != except_id)
    query = query.order_by(table.c.valid_from, table.c.created_ms)
    return list((await connection.execute(query)).all())


async def insert_assignment(connection: AsyncConnection, **values: Any) -> sa.Row[Any]:
    result = await connection.execute(
        sa.insert(driver_assignments).values(**values).returning(driver_assignments)
    )
    row: sa.Row[Any] = result.one()
    return row


async def update_assignment_end(
    connection: AsyncConnection, *, assignment_id: UUID, valid_to: date | None
) -> sa.Row[Any]:
    result = await connection.execute(
        sa.update(driver_assignments)
        .where(driver_assignments.c.id == assignment_id)
        .values(valid_to=None if valid_to is None else valid_to.isoformat())
        .returning(driver_assignments)
    )
    row: sa.Row[Any] = result.one()
    return row


async def delete_assignment(connection: AsyncConnection, *, assignment_id: UUID) -> None:
    await connection.execute(
        sa.delete(driver_assignments).where(driver_assignments.c.id == assignment_id)
    )


# ---- driver rate plans -----------------------------------------------------------------


async def plan_exists(connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID) -> bool:
    """Whether the tenant has the plan; its row is held (FOR KEY SHARE, PostgreSQL) so that it
    cannot be deleted before the assignment that names it is committed."""
    found = await connection.scalar(
        sa.select(rate_plans.c.id)
        .where(rate_plans.c.id == plan_id, rate_plans.c.tenant_id == tenant_id)
        .with_for_update(read=True, key_share=True)
    )
    return found is not None


async def list_driver_plans(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID
) -> list[sa.Row[Any]]:
    table = driver_rate_plans
    query = (
        sa.select(table)
        .where(table.c.tenant_id == tenant_id, table.c.driver_id == driver_id)
        .order_by(table.c.valid_from, table.c.created_ms, table.c.id)
    )
    return list((await connection.execute(query)).all())


async def get_driver_plan(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> sa.Row[Any] | None:
    table = driver_rate_plans
    query = sa.select(table).where(
        table.c.id == assignment_id,
        table.c.tenant_id == tenant_id,
        table.c.driver_id == driver_id,
    )
    return (await connection.execute(query)).first()


async def insert_driver_plan(connection: AsyncConnection, **values: Any) -> sa.Row[Any]:
    result = await connection.execute(
        sa.insert(driver_rate_plans).values(**values).returning(driver_rate_plans)
    )
    row: sa.Row[Any] = result.one()
    return row


async def update_driver_plan_end(
    connection: AsyncConnection, *, assignment_id: UUID, valid_to: date | None
) -> sa.Row[Any]:
    result = await connection.execute(
        sa.update(driver_rate_plans)
        .where(driver_rate_plans.c.id == assignment_id)
        .values(valid_to=None if valid_to is None else valid_to.isoformat())
        .returning(driver_rate_plans)
    )
    row: sa.Row[Any] = result.one()
    return row


async def delete_driver_plan(connection: AsyncConnection, *, assignment_id: UUID) -> None:
    await connection.execute(
        sa.delete(driver_rate_plans).where(driver_rate_plans.c.id == assignment_id)
    )
