"""Recomputing the stored readings-based sessions with the current detection rules
(`chargeledger redetect`, once after an upgrade that changed them).

Each entity is walked from its oldest stored reading (or detected session) to its newest in
windows of about WINDOW_MS, and every window is handed to services.detection.redetect, the
same step that ingesting a batch takes: it widens the window until no stored session is cut,
detects the sessions from the stored readings and replaces the stored ones, keeping the id and
`created` of a session found again. Only one window of readings is in memory at a time.

Windows end, where the readings allow, at a silence longer than the detector's context (no
session spans one, and redetect looks no further than that beyond a window's edge). Where an
entity reported around the clock for two windows (a charge point that never falls silent), a
window is cut after WINDOW_MS instead: redetect then looks past the cut for a charge running
across it, and the next window starts a day before the cut, so the sessions there are
detected again, whole, by the next window too.

Transactions: one per entity, holding the entity's row lock for the whole walk, not one per
window. Between two windows the entity's sessions are half by the new rules and half by
the old, and a session found by the old ones across a window's edge may be changed by one
window and again by the next: with a transaction per window such states would be visible to
clients and would outlive a crash or a failing window. In one transaction clients see the
entity's sessions by the old rules or by the new, never a mixture, and a failing entity is
left exactly as it was, to be run again. Memory stays bounded all the same: the readings
are loaded window by window, and the transaction's pending writes are the database's to hold,
not ours. The price is that the entity's own writers (its readings batches) wait for its
walk, and on SQLite, which has one writer at a time, every writer does: run it while the
server is quiet there.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import repository as tenants_repository
from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.entities import repository as entities_repository
from chargeledger.entities.service import CHARGING_TYPES
from chargeledger.errors import NotFoundError
from chargeledger.readings import detector_state_repository as state_repository
from chargeledger.readings import repository as readings_repository
from chargeledger.readings.detection import detects_sessions, redetect
from chargeledger.storage.database import Database

DAY_MS = 24 * 60 * 60 * 1000
WINDOW_MS = 30 * DAY_MS
# How far a window starts before a cut made where the readings never fell silent.
CUT_OVERLAP_MS = DAY_MS

# (done, total) of the entity's time span, in ms, after each window.
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class EntityRedetection:
    entity_id: UUID
    status: str  # "redetected", "skipped" (detects no sessions) or "failed"
    sessions_before: int = 0
    sessions_after: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    windows: int = 0
    error: str | None = None


async def entities_to_redetect(
    connection: AsyncConnection, *, tenant_id: UUID | None, entity_id: UUID | None
) -> list[UUID]:
    """The entities named: one entity (of the tenant, if one is given), a tenant's charging
    entities, or every charging entity. NotFoundError for an unknown tenant or entity."""
    if tenant_id is not None and not await tenants_repository.tenant_exists(
        connection, tenant_id=tenant_id
    ):
        raise NotFoundError(f"tenant {tenant_id} does not exist")
    if entity_id is not None:
        entity = await entities_repository.get_entity_any_tenant(connection, entity_id=entity_id)
        if entity is None or (tenant_id is not None and entity.tenant_id != tenant_id):
            owner = "" if tenant_id is None else f" of tenant {tenant_id}"
            raise NotFoundError(f"entity {entity_id}{owner} does not exist")
        return [entity_id]
    return await entities_repository.ids_of_types(
        connection, types=[str(entity_type) for entity_type in CHARGING_TYPES], tenant_id=tenant_id
    )


async def redetect_entity(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    now_ms: int,
    config: DetectorConfig,
    window_ms: int = WINDOW_MS,
    on_progress: ProgressCallback | None = None,
) -> EntityRedetection:
    """Recompute the entity's readings-based sessions, in the caller's write transaction."""
    entity = await entities_repository.get_entity_any_tenant(
        connection, entity_id=entity_id, lock="update"
    )
    if entity is None:
        raise NotFoundError(f"entity {entity_id} does not exist")
    if not await detects_sessions(connection, entity):
        return EntityRedetection(entity_id=entity_id, status="skipped")
    before, created_before, updated_before = await sessions_repository.detected_counts(
        connection, entity_id=entity_id, stamped_ms=now_ms
    )
    span = await _time_span(connection, entity_id=entity_id)
    windows = 0
    if span is not None:
        windows = await _walk(
            connection,
            entity=entity,
            span=span,
            now_ms=now_ms,
            config=config,
            window_ms=window_ms,
            on_progress=on_progress,
        )
    after, created_now, updated_now = await sessions_repository.detected_counts(
        connection, entity_id=entity_id, stamped_ms=now_ms
    )
    created = created_now - created_before
    # Stamped with now_ms: created, or updated because a value changed (redetect writes a
    # session found again only when something differs).
    updated = (updated_now - updated_before) - created
    return EntityRedetection(
        entity_id=entity_id,
        status="redetected",
        sessions_before=before,
        sessions_after=after,
        created=created,
        updated=updated,
        removed=before + created - after,
        windows=windows,
    )


async def _time_span(connection: AsyncConnection, *, entity_id: UUID) -> tuple[int, int] | None:
    """From the oldest reading or detected session to the newest: a detected session where no
    reading supports it any more must be visited too, to be removed."""
    spans = [
        span
        for span in (
            await readings_repository.time_span(connection, entity_id=entity_id),
            await sessions_repository.detected_time_span(connection, entity_id=entity_id),
        )
        if span is not None
    ]
    if not spans:
        return None
    return min(span[0] for span in spans), max(span[1] for span in spans)


async def _walk(
    connection: AsyncConnection,
    *,
    entity: Any,
    span: tuple[int, int],
    now_ms: int,
    config: DetectorConfig,
    window_ms: int,
    on_progress: ProgressCallback | None,
) -> int:
    """Redetect [first, last] window by window, oldest first; how many windows."""
    first_ms, last_ms = span
    margin = config.context_ms  # how far around a stretch redetect looks
    state = await state_repository.get(connection, entity_id=entity.id)
    if state is not None and state.open_since_ms is not None:
        # redetect stretches every window over an ongoing session up to the newest reading;
        # from an old window that would read everything since. The last window, which
        # reaches the newest reading, tells again whether (and since when) charging goes on.
        await state_repository.forget_open_session(connection, entity_id=entity.id)
    windows = 0
    cursor: int | None = first_ms
    while cursor is not None:
        overlap = 0
        if last_ms <= cursor + 2 * window_ms:
            end = last_ms  # the rest fits: the last window reaches the newest reading
        else:
            silent = await readings_repository.last_before_silence(
                connection,
                entity_id=entity.id,
                from_ms=cursor + window_ms,
                to_ms=cursor + 2 * window_ms,
                silence_ms=margin,
            )
            if silent is not None:
                end = silent
            else:
                end, overlap = cursor + window_ms, min(CUT_OVERLAP_MS, window_ms // 2)
        await redetect(
            connection,
            entity=entity,
            from_ms=cursor,
            to_ms=end,
            now_ms=now_ms,
            config=config,
            reason="redetected",
        )
        windows += 1
        if on_progress is not None:
            on_progress(end - first_ms, last_ms - first_ms)
        cursor = None if end >= last_ms else await _next_start(connection, entity.id, end - overlap)
    if state is not None:
        after = await state_repository.get(connection, entity_id=entity.id)
        if after is not None and (after.open_since_ms, after.last_reading_ms) == (
            state.open_since_ms,
            state.last_reading_ms,
        ):
            # Nothing changed: leave the row as it was (a second run changes no row at all).
            await state_repository.restore(connection, row=state)
    return windows


async def _next_start(connection: AsyncConnection, entity_id: UUID, after_ms: int) -> int | None:
    """Where the next window starts: the first reading or detected session after the instant
    (a silence of days or years between them is skipped, not walked)."""
    starts = [
        start
        for start in (
            await readings_repository.timestamp_after(
                connection, entity_id=entity_id, after_ms=after_ms
            ),
            await sessions_repository.first_detected_start_after(
                connection, entity_id=entity_id, after_ms=after_ms
            ),
        )
        if start is not None
    ]
    return min(starts) if starts else None


async def redetect_entities(
    database: Database,
    *,
    entity_ids: list[UUID],
    config: DetectorConfig,
    clock_ms: Callable[[], int],
    window_ms: int = WINDOW_MS,
    on_entity: Callable[[UUID], None] | None = None,
    on_progress: ProgressCallback | None = None,
    on_done: Callable[[EntityRedetection], None] | None = None,
) -> list[EntityRedetection]:
    """Redetect each entity in its own transaction; a failing one is reported (and left as
    it was, its transaction rolled back) and the others go on."""
    outcomes = []
    for entity_id in entity_ids:
        if on_entity is not None:
            on_entity(entity_id)
        try:
            async with database.write() as connection:
                outcome = await redetect_entity(
                    connection,
                    entity_id=entity_id,
                    now_ms=clock_ms(),
                    config=config,
                    window_ms=window_ms,
                    on_progress=on_progress,
                )
        except Exception as error:  # reported; the next entity goes on
            outcome = EntityRedetection(
                entity_id=entity_id, status="failed", error=f"{type(error).__name__}: {error}"
            )
        outcomes.append(outcome)
        if on_done is not None:
            on_done(outcome)
    return outcomes
