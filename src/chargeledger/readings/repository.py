"""Readings: one row per entity and instant; inserts skip instants already stored."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.session_detection import Reading
from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import readings


async def insert_new(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> set[int]:
    """Insert the rows whose (entity, timestamp) is not stored yet; their timestamps."""
    if not rows:
        return set()
    statement = (
        insert_on_conflict(connection, readings)
        .on_conflict_do_nothing(index_elements=["entity_id", "timestamp_ms"])
        .returning(readings.c.timestamp_ms)
    )
    result = await connection.execute(statement, list(rows))
    return {row.timestamp_ms for row in result}


async def list_page(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int,
    after_ms: int | None,
    limit: int,
) -> Sequence[sa.Row[Any]]:
    query = sa.select(readings).where(
        readings.c.entity_id == entity_id,
        readings.c.timestamp_ms >= frame_start_ms,
        readings.c.timestamp_ms < frame_end_ms,
    )
    if after_ms is not None:
        query = query.where(readings.c.timestamp_ms > after_ms)
    result = await connection.execute(query.order_by(readings.c.timestamp_ms).limit(limit))
    return result.all()


async def last(connection: AsyncConnection, *, entity_id: UUID) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(readings)
        .where(readings.c.entity_id == entity_id)
        .order_by(readings.c.timestamp_ms.desc())
        .limit(1)
    )
    return result.first()


async def latest_timestamp(connection: AsyncConnection, *, entity_id: UUID) -> int | None:
    value = await connection.scalar(
        sa.select(sa.func.max(readings.c.timestamp_ms)).where(readings.c.entity_id == entity_id)
    )
    return None if value is None else int(value)


async def timestamp_before(
    connection: AsyncConnection, *, entity_id: UUID, before_ms: int
) -> int | None:
    """The newest reading's instant strictly before the given one."""
    value = await connection.scalar(
        sa.select(sa.func.max(readings.c.timestamp_ms)).where(
            readings.c.entity_id == entity_id, readings.c.timestamp_ms < before_ms
        )
    )
    return None if value is None else int(value)


async def timestamp_after(
    connection: AsyncConnection, *, entity_id: UUID, after_ms: int
) -> int | None:
    """The oldest reading's instant strictly after the given one."""
    value = await connection.scalar(
        sa.select(sa.func.min(readings.c.timestamp_ms)).where(
            readings.c.entity_id == entity_id, readings.c.timestamp_ms > after_ms
        )
    )
    return None if value is None else int(value)


# In the order of Reading's fields, so rows become Readings positionally (the detector reads
# thousands of them per batch).
_DOMAIN_COLUMNS = (
    readings.c.timestamp_ms,
    readings.c.soc_pct,
    readings.c.range_km,
    readings.c.is_charging,
    readings.c.is_plugged_in,
    readings.c.energy_total_kwh,
    readings.c.power_kw,
    readings.c.latitude,
    readings.c.longitude,
    readings.c.position_uncertainty_m,
    readings.c.odometer_km,
    readings.c.speed_kmh,
)


async def domain_readings_between(
    connection: AsyncConnection, *, entity_id: UUID, from_ms: int, to_ms: int
) -> list[Reading]:
    """The entity's readings with from <= timestamp <= to, oldest first, for the detector."""
    result = await connection.execute(
        sa.select(*_DOMAIN_COLUMNS)
        .where(
            readings.c.entity_id == entity_id,
            readings.c.timestamp_ms >= from_ms,
            readings.c.timestamp_ms <= to_ms,
        )
        .order_by(readings.c.timestamp_ms)
    )
    return [Reading(*row) for row in result]


async def time_span(connection: AsyncConnection, *, entity_id: UUID) -> tuple[int, int] | None:
    """(oldest, newest) timestamp of the entity's readings; None when it has none."""
    row = (
        await connection.execute(
            sa.select(
                sa.func.min(readings.c.timestamp_ms), sa.func.max(readings.c.timestamp_ms)
            ).where(readings.c.entity_id == entity_id)
        )
    ).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))


async def last_before_silence(
    connection: AsyncConnection, *, entity_id: UUID, from_ms: int, to_ms: int, silence_ms: int
) -> int | None:
    """The first reading in [from, to] after which the entity was silent for longer than
    silence_ms (no reading in the following silence_ms); None if there is none. Computed in
    the database (a window function over the index), not by loading the readings."""
    timestamp = readings.c.timestamp_ms
    consecutive = (
        sa.select(
            timestamp.label("at"),
            sa.func.lead(timestamp).over(order_by=timestamp).label("following"),
        )
        .where(
            readings.c.entity_id == entity_id,
            timestamp >= from_ms,
            # One silence beyond `to`, so that the last reading in [from, to] has a follower
            # unless it really is followed by silence.
            timestamp <= to_ms + silence_ms + 1,
        )
        .subquery()
    )
    value = await connection.scalar(
        sa.select(consecutive.c.at)
        .where(
            consecutive.c.at <= to_ms,
            sa.or_(
                consecutive.c.following.is_(None),
                consecutive.c.following - consecutive.c.at > silence_ms,
            ),
        )
        .order_by(consecutive.c.at)
        .limit(1)
    )
    return None if value is None else int(value)
