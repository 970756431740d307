"""Entities (EVs, charge points, ...) and their feature switches."""

from collections.abc import Sequence
from typing import Any, Literal
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import entities


async def insert_entity(connection: AsyncConnection, **values: Any) -> None:
    await connection.execute(sa.insert(entities).values(**values))


# Built once (every write of a session reads its entity), one per lock mode.
_ENTITY = sa.select(entities).where(
    entities.c.id == sa.bindparam("entity_id"), entities.c.tenant_id == sa.bindparam("tenant_id")
)
_ENTITY_OF_TENANT: dict[str | None, sa.Select[Any]] = {
    None: _ENTITY,
    "share": _ENTITY.with_for_update(read=True),
    "update": _ENTITY.with_for_update(),
}


async def get_entity(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    lock: Literal["share", "update"] | None = None,
) -> sa.Row[Any] | None:
    """The entity if it belongs to the tenant; another tenant's entity is simply not found.

    `lock` (PostgreSQL; SQLite's writers are serialized anyway): "update" while changing what
    every session depends on (locations), "share" while adding a session, so a session is
    never matched against locations that are being changed underneath it.
    """
    parameters = {"entity_id": entity_id, "tenant_id": tenant_id}
    row: sa.Row[Any] | None = (
        await connection.execute(_ENTITY_OF_TENANT[lock], parameters)
    ).first()
    return row


async def get_entity_any_tenant(
    connection: AsyncConnection, *, entity_id: UUID, lock: Literal["update"] | None = None
) -> sa.Row[Any] | None:
    """For trusted operator tools and background jobs, which name an entity without a tenant."""
    query = sa.select(entities).where(entities.c.id == entity_id)
    if lock is not None:
        query = query.with_for_update()
    return (await connection.execute(query)).first()


async def lock_entities(connection: AsyncConnection, entity_ids: Sequence[UUID]) -> None:
    """Lock several entities for this transaction, in id order: two transactions locking
    overlapping sets then wait for each other instead of deadlocking."""
    if entity_ids:
        await connection.execute(
            sa.select(entities.c.id)
            .where(entities.c.id.in_(sorted(entity_ids)))
            .order_by(entities.c.id)
            .with_for_update()
        )


async def list_entities(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    after: tuple[int, UUID] | None,
    limit: int,
) -> list[sa.Row[Any]]:
    query = sa.select(entities).where(entities.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(sa.tuple_(entities.c.created_ms, entities.c.id) > sa.tuple_(*after))
    query = query.order_by(entities.c.created_ms, entities.c.id).limit(limit)
    return list((await connection.execute(query)).all())


async def set_capture_charge_sessions(
    connection: AsyncConnection, *, entity_id: UUID, enabled: bool
) -> None:
    await connection.execute(
        sa.update(entities)
        .where(entities.c.id == entity_id)
        .values(capture_charge_sessions=enabled)
    )


async def find_by_identifier(
    connection: AsyncConnection, *, tenant_id: UUID, identifier: str
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(entities).where(
            entities.c.tenant_id == tenant_id, entities.c.identifier == identifier
        )
    )
    return result.first()


async def set_battery_capacity(
    connection: AsyncConnection, *, entity_id: UUID, capacity_kwh: float | None
) -> None:
    await connection.execute(
        sa.update(entities)
        .where(entities.c.id == entity_id)
        .values(battery_capacity_kwh=capacity_kwh)
    )


async def ids_of_types(
    connection: AsyncConnection, *, types: Sequence[str], tenant_id: UUID | None = None
) -> list[UUID]:
    """Ids of the entities of these types, of one tenant or of all, in id order."""
    query = sa.select(entities.c.id).where(entities.c.type.in_(sorted(types)))
    if tenant_id is not None:
        query = query.where(entities.c.tenant_id == tenant_id)
    result = await connection.execute(query.order_by(entities.c.id))
    return [row.id for row in result]
