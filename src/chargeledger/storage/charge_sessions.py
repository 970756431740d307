"""Charge sessions: keyset pages by (start, id) within one entity, idempotent upserts."""

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import charge_sessions

# The columns a client supplies (or a detector computes); a correction replaces exactly these.
RECORD_COLUMNS: tuple[str, ...] = (
    "start_ms",
    "end_ms",
    "energy_kwh",
    "t1_kwh",
    "t2_kwh",
    "t3_kwh",
    "t4_kwh",
    "average_power_kw",
    "soc_start_pct",
    "soc_end_pct",
    "range_start_km",
    "range_end_km",
    "latitude",
    "longitude",
    "position_uncertainty_m",
    "address",
    "tiers_given",
)


async def find_by_external_id(
    connection: AsyncConnection, *, entity_id: UUID, external_id: str
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.external_id == external_id,
        )
    )
    return result.first()


async def insert_if_new_external_id(connection: AsyncConnection, *, values: dict[str, Any]) -> bool:
    """Insert unless the entity already has a session with that external id (True if inserted)."""
    insert = insert_on_conflict(connection, charge_sessions).values(**values)
    result = await connection.execute(
        insert.on_conflict_do_nothing(index_elements=["entity_id", "external_id"])
    )
    return result.rowcount > 0


async def update_record(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID, values: dict[str, Any]
) -> None:
    await connection.execute(
        sa.update(charge_sessions)
        .where(charge_sessions.c.entity_id == entity_id, charge_sessions.c.id == session_id)
        .values(**values)
    )


async def get_session(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id, charge_sessions.c.id == session_id
        )
    )
    return result.first()


async def list_page(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int,
    after: tuple[int, UUID] | None,
    limit: int,
) -> Sequence[sa.Row[Any]]:
    """Sessions with frame_start <= start < frame_end, after the keyset position, in order.

    One range scan of the (entity_id, start_ms, id) index whatever the page's depth.
    """
    query = sa.select(charge_sessions).where(
        charge_sessions.c.entity_id == entity_id,
        charge_sessions.c.start_ms >= frame_start_ms,
        charge_sessions.c.start_ms < frame_end_ms,
    )
    if after is not None:
        query = query.where(
            sa.tuple_(charge_sessions.c.start_ms, charge_sessions.c.id) > sa.tuple_(*after)
        )
    query = query.order_by(charge_sessions.c.start_ms, charge_sessions.c.id).limit(limit)
    return (await connection.execute(query)).all()


async def positioned_sessions(
    connection: AsyncConnection, *, entity_id: UUID
) -> list[tuple[UUID, float, float, float | None]]:
    """(id, latitude, longitude, uncertainty) of every session of the entity that has
    coordinates: those whose matches change when the entity's locations do."""
    result = await connection.execute(
        sa.select(
            charge_sessions.c.id,
            charge_sessions.c.latitude,
            charge_sessions.c.longitude,
            charge_sessions.c.position_uncertainty_m,
        ).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.latitude.is_not(None),
            charge_sessions.c.longitude.is_not(None),
        )
    )
    return [(row.id, row.latitude, row.longitude, row.position_uncertainty_m) for row in result]


async def update_matches(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    matches: Iterable[tuple[UUID, str, str | None]],
) -> None:
    """Store recomputed (session id, locationMatches JSON, best match's address) triples."""
    rows = [
        {"b_id": session_id, "b_matches": matches_json, "b_address": address}
        for session_id, matches_json, address in matches
    ]
    if not rows:
        return
    statement = (
        sa.update(charge_sessions)
        .where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.id == sa.bindparam("b_id"),
        )
        .values(
            location_matches_json=sa.bindparam("b_matches"),
            matched_address=sa.bindparam("b_address"),
        )
    )
    await connection.execute(statement, rows)


async def detected_overlapping(
    connection: AsyncConnection, *, entity_id: UUID, from_ms: int, to_ms: int
) -> Sequence[sa.Row[Any]]:
    """Sessions detected from readings that overlap or touch [from, to], by start."""
    result = await connection.execute(
        sa.select(charge_sessions)
        .where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.source == "readings",
            charge_sessions.c.start_ms <= to_ms,
            charge_sessions.c.end_ms >= from_ms,
        )
        .order_by(charge_sessions.c.start_ms, charge_sessions.c.id)
    )
    return result.all()


async def insert_session(connection: AsyncConnection, *, values: dict[str, Any]) -> None:
    await connection.execute(sa.insert(charge_sessions).values(**values))


async def delete_sessions(
    connection: AsyncConnection, *, entity_id: UUID, session_ids: Sequence[UUID]
) -> None:
    if session_ids:
        await connection.execute(
            sa.delete(charge_sessions).where(
                charge_sessions.c.entity_id == entity_id,
                charge_sessions.c.id.in_(list(session_ids)),
            )
        )


async def with_computed_tiers(
    connection: AsyncConnection, *, entity_id: UUID, ending_after_ms: int
) -> Sequence[sa.Row[Any]]:
    """Sessions whose t1..t4 come from a tariff calendar and end after the instant."""
    result = await connection.execute(
        sa.select(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.tiers_given == sa.false(),
            charge_sessions.c.energy_kwh.is_not(None),
            charge_sessions.c.end_ms > ending_after_ms,
        )
    )
    return result.all()


async def detected_spans_measured_by(
    connection: AsyncConnection, *, entity_id: UUID, energy_methods: Sequence[str | None]
) -> list[tuple[int, int]]:
    """(start, end) of detected sessions whose energy was measured one of these ways (None:
    not measurable)."""
    named = [method for method in energy_methods if method is not None]
    conditions = [charge_sessions.c.energy_method.in_(named)] if named else []
    if None in energy_methods:
        conditions.append(charge_sessions.c.energy_method.is_(None))
    result = await connection.execute(
        sa.select(charge_sessions.c.start_ms, charge_sessions.c.end_ms).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.source == "readings",
            sa.or_(*conditions),
        )
    )
    return [(row.start_ms, row.end_ms) for row in result]


async def list_page_by_offset(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int,
    offset: int,
    limit: int,
) -> Sequence[sa.Row[Any]]:
    """The usual OFFSET/LIMIT paging, for the benchmark's comparison only: the database
    reads and throws away `offset` rows, so deep pages cost more and more."""
    result = await connection.execute(
        sa.select(charge_sessions)
        .where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.start_ms >= frame_start_ms,
            charge_sessions.c.start_ms < frame_end_ms,
        )
        .order_by(charge_sessions.c.start_ms, charge_sessions.c.id)
        .offset(offset)
        .limit(limit)
    )
    return result.all()
