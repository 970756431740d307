"""Charge sessions: keyset pages by (start, id) within one entity; the statements of the one
writer (charge_sessions/writer.py), which alone inserts, updates and deletes sessions."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import (
    api_clients,
    charge_session_versions,
    charge_sessions,
    entities,
)

# Built once: every posted session looks its external id up.
_BY_EXTERNAL_ID = sa.select(charge_sessions).where(
    charge_sessions.c.entity_id == sa.bindparam("entity_id"),
    charge_sessions.c.external_id == sa.bindparam("external_id"),
)
_BY_EXTERNAL_ID_FOR_UPDATE = _BY_EXTERNAL_ID.with_for_update()


async def find_by_external_id(
    connection: AsyncConnection, *, entity_id: UUID, external_id: str, for_update: bool = False
) -> sa.Row[Any] | None:
    """The entity's session with this external id; `for_update` locks it (PostgreSQL) so that
    the caller's comparison stays true until it writes."""
    query = _BY_EXTERNAL_ID_FOR_UPDATE if for_update else _BY_EXTERNAL_ID
    parameters = {"entity_id": entity_id, "external_id": external_id}
    return (await connection.execute(query, parameters)).first()


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
) -> Sequence[sa.Row[Any]]:
    """Every session of the entity that has coordinates: those whose matches change when the
    entity's locations do."""
    result = await connection.execute(
        sa.select(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.latitude.is_not(None),
            charge_sessions.c.longitude.is_not(None),
        )
    )
    return result.all()


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


_INSERT = sa.insert(charge_sessions)
_INSERT_NEW_EXTERNAL_ID: dict[str, Any] = {}


async def insert_row(connection: AsyncConnection, *, values: dict[str, Any]) -> bool:
    """Insert a session; False (nothing written) when its external id is already stored."""
    if values.get("external_id") is None:
        await connection.execute(_INSERT, values)
        return True
    dialect = connection.dialect.name
    statement = _INSERT_NEW_EXTERNAL_ID.get(dialect)
    if statement is None:
        statement = _INSERT_NEW_EXTERNAL_ID[dialect] = insert_on_conflict(
            connection, charge_sessions
        ).on_conflict_do_nothing(index_elements=["entity_id", "external_id"])
    result = await connection.execute(statement, values)
    return bool(result.rowcount)


async def update_row(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    session_id: UUID,
    expected_version: int,
    values: dict[str, Any],
) -> bool:
    """Update a session that is still at `expected_version`; False when it is not (another
    transaction changed it since it was read)."""
    result = await connection.execute(
        sa.update(charge_sessions)
        .where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.id == session_id,
            charge_sessions.c.version == expected_version,
        )
        .values(**values)
    )
    return bool(result.rowcount)


async def delete_row(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID, expected_version: int
) -> bool:
    result = await connection.execute(
        sa.delete(charge_sessions).where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.id == session_id,
            charge_sessions.c.version == expected_version,
        )
    )
    return bool(result.rowcount)


_INSERT_VERSION = sa.insert(charge_session_versions)


async def insert_version(connection: AsyncConnection, *, values: dict[str, Any]) -> None:
    await connection.execute(_INSERT_VERSION, values)
