"""The session detector's per-entity memory: where an ongoing session began."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import detector_state


async def get(connection: AsyncConnection, *, entity_id: UUID) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(detector_state).where(detector_state.c.entity_id == entity_id)
    )
    return result.first()


async def save(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    open_since_ms: int | None,
    last_reading_ms: int | None,
    now_ms: int,
) -> None:
    values = {
        "open_since_ms": open_since_ms,
        "last_reading_ms": last_reading_ms,
        "updated_ms": now_ms,
    }
    statement = insert_on_conflict(connection, detector_state).values(entity_id=entity_id, **values)
    await connection.execute(
        statement.on_conflict_do_update(index_elements=["entity_id"], set_=values)
    )


async def stale_open_entities(
    connection: AsyncConnection, *, silent_since_ms: int, limit: int
) -> list[UUID]:
    """Entities with an ongoing session whose last reading is older than silent_since_ms."""
    result = await connection.execute(
        sa.select(detector_state.c.entity_id)
        .where(
            detector_state.c.open_since_ms.is_not(None),
            detector_state.c.last_reading_ms < silent_since_ms,
        )
        .limit(limit)
    )
    return [row.entity_id for row in result]


async def forget_open_session(connection: AsyncConnection, *, entity_id: UUID) -> None:
    """Forget where an ongoing session began, without stamping the row: detection that
    reaches the newest reading finds it again."""
    await connection.execute(
        sa.update(detector_state)
        .where(detector_state.c.entity_id == entity_id)
        .values(open_since_ms=None)
    )


async def restore(connection: AsyncConnection, *, row: sa.Row[Any]) -> None:
    """Put back a state row exactly as it was read, updated_ms included."""
    await connection.execute(
        sa.update(detector_state)
        .where(detector_state.c.entity_id == row.entity_id)
        .values(
            open_since_ms=row.open_since_ms,
            last_reading_ms=row.last_reading_ms,
            updated_ms=row.updated_ms,
        )
    )
