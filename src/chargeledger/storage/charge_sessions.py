"""Charge sessions: keyset pages by (start, id) within one entity, idempotent upserts."""

from collections.abc import Iterable, Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.record_json import charge_record_json
from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import api_clients, charge_sessions, entities

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
    if result.rowcount > 0:
        await rebuild_records(connection, entity_id=values["entity_id"], session_ids=[values["id"]])
        return True
    return False


async def update_record(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID, values: dict[str, Any]
) -> None:
    await connection.execute(
        sa.update(charge_sessions)
        .where(charge_sessions.c.entity_id == entity_id, charge_sessions.c.id == session_id)
        .values(**values)
    )
    await rebuild_records(connection, entity_id=entity_id, session_ids=[session_id])


async def get_session(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id, charge_sessions.c.id == session_id
        )
    )
    return result.first()


# The hot query, built once: only its parameters change from request to request. It checks
# the caller too: the client must be active, the entity its tenant's and one that charges.
_FIRST_PAGE = (
    sa.select(charge_sessions.c.start_ms, charge_sessions.c.id, charge_sessions.c.record_json)
    .join(entities, entities.c.id == charge_sessions.c.entity_id)
    .join(api_clients, api_clients.c.tenant_id == entities.c.tenant_id)
    .where(
        api_clients.c.id == sa.bindparam("client_id"),
        api_clients.c.revoked_ms.is_(None),
        entities.c.id == sa.bindparam("entity_id"),
        entities.c.tenant_id == sa.bindparam("tenant_id"),
        # Constants in the SQL, not an expanding parameter: a list parameter is re-rendered
        # into the statement on every execution (measurable on the hottest query).
        entities.c.type.in_([sa.literal_column("'EV'"), sa.literal_column("'ChargePoint'")]),
        charge_sessions.c.entity_id == sa.bindparam("entity_id"),
        charge_sessions.c.start_ms >= sa.bindparam("frame_start_ms"),
        charge_sessions.c.start_ms < sa.bindparam("frame_end_ms"),
    )
    .order_by(charge_sessions.c.start_ms, charge_sessions.c.id)
    .limit(sa.bindparam("limit"))
)
_NEXT_PAGE = _FIRST_PAGE.where(
    sa.tuple_(charge_sessions.c.start_ms, charge_sessions.c.id)
    > sa.tuple_(sa.bindparam("after_start_ms"), sa.bindparam("after_id", type_=sa.Uuid))
)


async def list_page(
    connection: AsyncConnection,
    *,
    client_id: UUID,
    tenant_id: UUID,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int,
    after: tuple[int, UUID] | None,
    limit: int,
) -> Sequence[Any]:  # rows of (start_ms, id, record_json)
    """Sessions with frame_start <= start < frame_end, after the keyset position, in order,
    if the client is active and the entity a charging entity of its tenant (else none).

    One range scan of the (entity_id, start_ms, id) index whatever the page's depth.
    """
    parameters: dict[str, Any] = {
        "client_id": client_id,
        "tenant_id": tenant_id,
        "entity_id": entity_id,
        "frame_start_ms": frame_start_ms,
        "frame_end_ms": frame_end_ms,
        "limit": limit,
    }
    if after is None:
        return (await connection.execute(_FIRST_PAGE, parameters)).all()
    parameters.update(after_start_ms=after[0], after_id=after[1])
    return (await connection.execute(_NEXT_PAGE, parameters)).all()


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
    triples = list(matches)
    rows = [
        {"b_id": session_id, "b_matches": matches_json, "b_address": address}
        for session_id, matches_json, address in triples
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
    await rebuild_records(
        connection, entity_id=entity_id, session_ids=[triple[0] for triple in triples]
    )


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
    await rebuild_records(connection, entity_id=values["entity_id"], session_ids=[values["id"]])


_REBUILD_BATCH = 500


async def rebuild_records(
    connection: AsyncConnection, *, entity_id: UUID, session_ids: Sequence[UUID]
) -> None:
    """Rebuild the stored record JSON of these sessions from their columns: every write of a
    session ends here, so what is served is always what is stored."""
    for first in range(0, len(session_ids), _REBUILD_BATCH):
        chunk = list(session_ids[first : first + _REBUILD_BATCH])
        result = await connection.execute(
            sa.select(charge_sessions).where(
                charge_sessions.c.entity_id == entity_id, charge_sessions.c.id.in_(chunk)
            )
        )
        rows = [{"b_id": row.id, "b_record": charge_record_json(row._asdict())} for row in result]
        if rows:
            await connection.execute(
                sa.update(charge_sessions)
                .where(
                    charge_sessions.c.entity_id == entity_id,
                    charge_sessions.c.id == sa.bindparam("b_id"),
                )
                .values(record_json=sa.bindparam("b_record")),
                rows,
            )


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


async def detected_time_span(
    connection: AsyncConnection, *, entity_id: UUID
) -> tuple[int, int] | None:
    """(earliest start, latest end) of the sessions detected from the entity's readings."""
    row = (
        await connection.execute(
            sa.select(
                sa.func.min(charge_sessions.c.start_ms), sa.func.max(charge_sessions.c.end_ms)
            ).where(
                charge_sessions.c.entity_id == entity_id, charge_sessions.c.source == "readings"
            )
        )
    ).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))


async def first_detected_start_after(
    connection: AsyncConnection, *, entity_id: UUID, after_ms: int
) -> int | None:
    value = await connection.scalar(
        sa.select(sa.func.min(charge_sessions.c.start_ms)).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.source == "readings",
            charge_sessions.c.start_ms > after_ms,
        )
    )
    return None if value is None else int(value)


async def detected_counts(
    connection: AsyncConnection, *, entity_id: UUID, stamped_ms: int
) -> tuple[int, int, int]:
    """How many sessions detected from the entity's readings there are, how many of them
    were created at the instant, and how many updated at it (created ones included)."""
    row = (
        await connection.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(charge_sessions.c.created_ms == stamped_ms),
                sa.func.count().filter(charge_sessions.c.updated_ms == stamped_ms),
            ).where(
                charge_sessions.c.entity_id == entity_id, charge_sessions.c.source == "readings"
            )
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2])
