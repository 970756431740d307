"""The SQL of finalised statements, their lines and the tenant's statement numbers.

A finalised statement's row is written once and never updated: content_json is the document as
finalised (canonical JSON), content_sha256 its hash. Its lines are kept as rows too, so that a
later statement knows what was paid for each session without reading documents.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import charge_sessions, statement_counters, statement_lines
from chargeledger.storage.tables import statements as statements_table

# Bound on the values of one IN list (every backend allows far more parameters).
_CHUNK = 1000

# Every column but the document: what lists and checks need.
SUMMARY_COLUMNS = tuple(
    column for column in statements_table.c if column.name not in ("content_json",)
)


async def lock_counter(connection: AsyncConnection, tenant_id: UUID) -> None:
    """Hold the tenant's statement_counters row until the transaction ends: one finalisation
    of the tenant at a time, so the overlap check and the number stay true until commit.
    Inserted first if missing (two first finalisations at once: one inserts, the other's
    insert does nothing and it waits for the row like any later one). SQLite: the write
    transaction already holds the database's only write lock."""
    await connection.execute(
        insert_on_conflict(connection, statement_counters)
        .values(tenant_id=tenant_id, last_number=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    if connection.dialect.name == "postgresql":
        await connection.execute(
            sa.select(statement_counters.c.last_number)
            .where(statement_counters.c.tenant_id == tenant_id)
            .with_for_update()
        )


async def next_number(connection: AsyncConnection, tenant_id: UUID) -> int:
    """The tenant's next statement number (its counter row must be locked: lock_counter)."""
    number = await connection.scalar(
        sa.update(statement_counters)
        .where(statement_counters.c.tenant_id == tenant_id)
        .values(last_number=statement_counters.c.last_number + 1)
        .returning(statement_counters.c.last_number)
    )
    assert number is not None, "lock_counter makes the row"
    return int(number)


async def overlapping(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, start: date, end: date
) -> list[sa.Row[Any]]:
    """The driver's finalised statements whose period overlaps [start, end). ISO dates compare
    as text in date order."""
    result = await connection.execute(
        sa.select(*SUMMARY_COLUMNS)
        .where(
            statements_table.c.tenant_id == tenant_id,
            statements_table.c.driver_id == driver_id,
            statements_table.c.period_start < end.isoformat(),
            statements_table.c.period_end > start.isoformat(),
        )
        .order_by(statements_table.c.period_start)
    )
    return list(result.all())


async def finalised_before(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, before: date
) -> list[sa.Row[Any]]:
    """The driver's finalised statements that end on or before `before`, oldest first."""
    result = await connection.execute(
        sa.select(*SUMMARY_COLUMNS)
        .where(
            statements_table.c.tenant_id == tenant_id,
            statements_table.c.driver_id == driver_id,
            statements_table.c.period_end <= before.isoformat(),
        )
        .order_by(statements_table.c.period_start)
    )
    return list(result.all())


async def insert_statement(connection: AsyncConnection, **values: Any) -> None:
    await connection.execute(sa.insert(statements_table).values(**values))


async def insert_lines(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await connection.execute(sa.insert(statement_lines), list(rows))


async def get_statement(
    connection: AsyncConnection, *, tenant_id: UUID, statement_id: UUID
) -> sa.Row[Any] | None:
    """The tenant's statement with its document; None when missing or another tenant's."""
    result = await connection.execute(
        sa.select(statements_table).where(
            statements_table.c.id == statement_id, statements_table.c.tenant_id == tenant_id
        )
    )
    return result.first()


async def list_statements(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID | None,
    period_start: date | None,
    after: tuple[str, UUID] | None,
    limit: int,
) -> list[sa.Row[Any]]:
    """Summaries in order of period start, then driver id: keyset-paged on an index whatever
    the filters ((period start, driver) is unique: a driver's statements never overlap)."""
    table = statements_table
    query = sa.select(*SUMMARY_COLUMNS).where(table.c.tenant_id == tenant_id)
    if driver_id is not None:
        query = query.where(table.c.driver_id == driver_id)
    if period_start is not None:
        query = query.where(table.c.period_start == period_start.isoformat())
    if after is not None:
        query = query.where(sa.tuple_(table.c.period_start, table.c.driver_id) > sa.tuple_(*after))
    query = query.order_by(table.c.period_start, table.c.driver_id).limit(limit)
    return list((await connection.execute(query)).all())


@dataclass(frozen=True, slots=True)
class Window:
    """Sessions of these entities starting in [start_ms, end_ms) changed after changed_after_ms."""

    entity_ids: Collection[UUID]
    start_ms: int
    end_ms: int
    changed_after_ms: int


async def changed_sessions(
    connection: AsyncConnection, windows: Sequence[Window]
) -> list[sa.Row[Any]]:
    """(entity_id, start_ms) of the sessions changed in any of the windows, in one query."""
    conditions = [
        sa.and_(
            charge_sessions.c.entity_id.in_(sorted(window.entity_ids, key=str)),
            charge_sessions.c.start_ms >= window.start_ms,
            charge_sessions.c.start_ms < window.end_ms,
            charge_sessions.c.updated_ms > window.changed_after_ms,
        )
        for window in windows
        if window.entity_ids
    ]
    if not conditions:
        return []
    query: sa.Select[Any] = sa.select(
        charge_sessions.c.entity_id, charge_sessions.c.start_ms
    ).where(sa.or_(*conditions))
    return list((await connection.execute(query)).all())


async def changed_paid_sessions(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, statement_ids: Sequence[UUID]
) -> list[sa.Row[Any]]:
    """The sessions these statements (the driver's) paid for that changed since they were
    last paid: their version is no longer the newest one a line priced, or they no longer
    exist and no line has taken their payment back yet. By version, not by time: exact
    whatever the clocks of the processes that wrote them. (entity_id, session_id, start_ms:
    the earliest start a line gave it)."""
    if not statement_ids:
        return []
    lines = statement_lines
    paid = (
        sa.select(
            lines.c.entity_id,
            lines.c.session_id,
            sa.func.max(lines.c.session_version).label("paid_version"),
            # A line with no version took back the payment of a session that was removed.
            sa.func.sum(sa.case((lines.c.session_version.is_(None), 1), else_=0)).label(
                "taken_back"
            ),
            sa.func.min(lines.c.session_start_ms).label("start_ms"),
        )
        .where(
            lines.c.tenant_id == tenant_id,
            lines.c.driver_id == driver_id,
            lines.c.statement_id.in_(list(statement_ids)),
        )
        .group_by(lines.c.entity_id, lines.c.session_id)
        .subquery()
    )
    query: sa.Select[Any] = (
        sa.select(paid.c.entity_id, paid.c.session_id, paid.c.start_ms)
        .outerjoin(
            charge_sessions,
            sa.and_(
                charge_sessions.c.entity_id == paid.c.entity_id,
                charge_sessions.c.id == paid.c.session_id,
            ),
        )
        .where(
            sa.or_(
                sa.and_(charge_sessions.c.id.is_(None), paid.c.taken_back == 0),
                charge_sessions.c.version != paid.c.paid_version,
            )
        )
    )
    return list((await connection.execute(query)).all())


_LINE_COLUMNS = (
    statement_lines,
    statements_table.c.number,
    statements_table.c.finalised_ms,
)


async def paid_lines(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    statement_ids: Sequence[UUID],
    session_ids: Collection[UUID],
    windows: Sequence[tuple[int, int]],
) -> list[sa.Row[Any]]:
    """Every line (of these statements, the driver's) of the sessions `session_ids` and of the
    sessions that have a line starting in one of `windows`, with its statement's number and
    finalisation instant; in order of finalisation, then line number."""
    if not statement_ids:
        return []
    lines, statements = statement_lines, statements_table
    base = (
        sa.select(*_LINE_COLUMNS)
        .join(statements, statements.c.id == lines.c.statement_id)
        .where(
            lines.c.tenant_id == tenant_id,
            lines.c.driver_id == driver_id,
            lines.c.statement_id.in_(list(statement_ids)),
        )
    )
    selects = []
    if windows:
        in_windows = sa.select(lines.c.session_id).where(
            lines.c.tenant_id == tenant_id,
            lines.c.driver_id == driver_id,
            sa.or_(
                *(
                    sa.and_(lines.c.session_start_ms >= start, lines.c.session_start_ms < end)
                    for start, end in windows
                )
            ),
        )
        selects.append(base.where(lines.c.session_id.in_(in_windows)))
    wanted = sorted(session_ids, key=str)
    for offset in range(0, len(wanted), _CHUNK):
        selects.append(base.where(lines.c.session_id.in_(wanted[offset : offset + _CHUNK])))
    found: dict[tuple[UUID, int], sa.Row[Any]] = {}
    for query in selects:
        for row in await connection.execute(query):
            found[(row.statement_id, row.line_number)] = row
    return sorted(
        found.values(), key=lambda row: (row.finalised_ms, str(row.statement_id), row.line_number)
    )


async def content_of(connection: AsyncConnection, statement_id: UUID) -> str | None:
    found = await connection.scalar(
        sa.select(statements_table.c.content_json).where(statements_table.c.id == statement_id)
    )
    return None if found is None else str(found)


async def current_versions(
    connection: AsyncConnection, keys: Collection[tuple[UUID, UUID]]
) -> dict[tuple[UUID, UUID], int]:
    """The version of each (entity id, session id) that exists."""
    versions: dict[tuple[UUID, UUID], int] = {}
    wanted = sorted(keys, key=str)
    for offset in range(0, len(wanted), _CHUNK):
        chunk = wanted[offset : offset + _CHUNK]
        result = await connection.execute(
            sa.select(
                charge_sessions.c.entity_id, charge_sessions.c.id, charge_sessions.c.version
            ).where(charge_sessions.c.id.in_([session_id for _, session_id in chunk]))
        )
        for row in result:
            if (row.entity_id, row.id) in keys:
                versions[(row.entity_id, row.id)] = row.version
    return versions
