"""Locations configured on an entity (Entity Settings > Locations)."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import locations


async def insert_location(connection: AsyncConnection, **values: Any) -> None:
    await connection.execute(sa.insert(locations).values(**values))


async def get_location(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(locations).where(
            locations.c.entity_id == entity_id, locations.c.id == location_id
        )
    )
    return result.first()


# What every session of a positioned entity is matched against: built once.
_ALL_OF_ENTITY = (
    sa.select(locations)
    .where(locations.c.entity_id == sa.bindparam("entity_id"))
    .order_by(locations.c.created_ms, locations.c.id)
)


async def list_locations(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    after: tuple[int, UUID] | None = None,
    limit: int | None = None,
) -> list[sa.Row[Any]]:
    """In creation order; all of them unless a page (`after`, `limit`) is asked for."""
    if after is None and limit is None:
        return list((await connection.execute(_ALL_OF_ENTITY, {"entity_id": entity_id})).all())
    query = sa.select(locations).where(locations.c.entity_id == entity_id)
    if after is not None:
        query = query.where(sa.tuple_(locations.c.created_ms, locations.c.id) > sa.tuple_(*after))
    query = query.order_by(locations.c.created_ms, locations.c.id)
    if limit is not None:
        query = query.limit(limit)
    return list((await connection.execute(query)).all())


async def update_location(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID, **values: Any
) -> bool:
    result = await connection.execute(
        sa.update(locations)
        .where(locations.c.entity_id == entity_id, locations.c.id == location_id)
        .values(**values)
    )
    return result.rowcount > 0


async def delete_location(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID
) -> bool:
    result = await connection.execute(
        sa.delete(locations).where(
            locations.c.entity_id == entity_id, locations.c.id == location_id
        )
    )
    return result.rowcount > 0
