"""Tariff calendar versions of an entity (location_id None) or of one of its locations."""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import tariff_calendars


async def versions(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID | None
) -> Sequence[sa.Row[Any]]:
    location_filter = (
        tariff_calendars.c.location_id.is_(None)
        if location_id is None
        else tariff_calendars.c.location_id == location_id
    )
    result = await connection.execute(
        sa.select(tariff_calendars)
        .where(tariff_calendars.c.entity_id == entity_id, location_filter)
        .order_by(tariff_calendars.c.valid_from_ms)
    )
    return result.all()


async def location_versions(
    connection: AsyncConnection, *, entity_id: UUID
) -> dict[UUID, list[sa.Row[Any]]]:
    """Every location calendar of the entity, by location, oldest version first."""
    result = await connection.execute(
        sa.select(tariff_calendars)
        .where(
            tariff_calendars.c.entity_id == entity_id,
            tariff_calendars.c.location_id.is_not(None),
        )
        .order_by(tariff_calendars.c.valid_from_ms)
    )
    by_location: dict[UUID, list[sa.Row[Any]]] = defaultdict(list)
    for row in result:
        by_location[row.location_id].append(row)
    return dict(by_location)


# Every calendar of an entity and of its locations, oldest version first: what splitting one
# of its sessions may need, in one statement built once.
_ALL_OF_ENTITY = (
    sa.select(tariff_calendars)
    .where(tariff_calendars.c.entity_id == sa.bindparam("entity_id"))
    .order_by(tariff_calendars.c.valid_from_ms)
)


async def all_versions(connection: AsyncConnection, *, entity_id: UUID) -> Sequence[sa.Row[Any]]:
    return (await connection.execute(_ALL_OF_ENTITY, {"entity_id": entity_id})).all()


async def put_version(
    connection: AsyncConnection,
    *,
    calendar_id: UUID,
    entity_id: UUID,
    location_id: UUID | None,
    valid_from_ms: int,
    definition_json: str,
    now_ms: int,
) -> None:
    """Store a version; one already valid from that same instant is replaced."""
    location_filter = (
        tariff_calendars.c.location_id.is_(None)
        if location_id is None
        else tariff_calendars.c.location_id == location_id
    )
    await connection.execute(
        sa.delete(tariff_calendars).where(
            tariff_calendars.c.entity_id == entity_id,
            location_filter,
            tariff_calendars.c.valid_from_ms == valid_from_ms,
        )
    )
    await connection.execute(
        sa.insert(tariff_calendars).values(
            id=calendar_id,
            entity_id=entity_id,
            location_id=location_id,
            valid_from_ms=valid_from_ms,
            definition_json=definition_json,
            created_ms=now_ms,
        )
    )


async def delete_for_location(connection: AsyncConnection, *, location_id: UUID) -> None:
    await connection.execute(
        sa.delete(tariff_calendars).where(tariff_calendars.c.location_id == location_id)
    )
