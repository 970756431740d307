"""Readings: storing what vehicles and chargers report, and reading it back."""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.session_detection import DetectorConfig, Reading
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.entities import repository as entities_repository
from chargeledger.entities.service import get_entity
from chargeledger.errors import InvalidInputError, NotFoundError
from chargeledger.kit.paging import Frame, Page, make_page, resume_after
from chargeledger.readings import detector_state_repository as state_repository
from chargeledger.readings import repository as readings_repository
from chargeledger.readings.detection import detects_sessions, redetect
from chargeledger.storage.database import Database

logger = logging.getLogger(__name__)

MAX_READINGS_PER_BATCH = 10_000
NIL_ID = UUID(int=0)  # readings are keyed by time alone; the cursor's tie-breaker is unused


@dataclass(frozen=True, slots=True)
class IncomingReading:
    """A validated reading in stored units, with the fields we keep but do not interpret."""

    reading: Reading
    energy_tiers_kwh: tuple[float | None, float | None, float | None, float | None]
    extra: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class IngestResult:
    stored: int
    duplicates: int


def _row(entity_id: UUID, incoming: IncomingReading, now_ms: int) -> dict[str, Any]:
    reading = incoming.reading
    t1, t2, t3, t4 = incoming.energy_tiers_kwh
    return {
        "entity_id": entity_id,
        "timestamp_ms": reading.timestamp_ms,
        "received_ms": now_ms,
        "soc_pct": reading.soc_pct,
        "range_km": reading.range_km,
        "is_charging": reading.is_charging,
        "is_plugged_in": reading.is_plugged_in,
        "energy_t1_kwh": t1,
        "energy_t2_kwh": t2,
        "energy_t3_kwh": t3,
        "energy_t4_kwh": t4,
        "energy_total_kwh": reading.energy_counter_kwh,
        "power_kw": reading.power_kw,
        "latitude": reading.latitude,
        "longitude": reading.longitude,
        "position_uncertainty_m": reading.position_uncertainty_m,
        "odometer_km": reading.odometer_km,
        "speed_kmh": reading.speed_kmh,
        "extra_json": None if not incoming.extra else orjson.dumps(incoming.extra).decode(),
    }


async def ingest_readings(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    readings: Sequence[IncomingReading],
    now_ms: int,
    config: DetectorConfig,
) -> IngestResult:
    """Store the readings not stored yet (a repeated instant is a duplicate) and detect the
    sessions they touch, all in the caller's transaction."""
    if len(readings) > MAX_READINGS_PER_BATCH:
        raise InvalidInputError(
            f"a batch holds at most {MAX_READINGS_PER_BATCH} readings; split it",
            errors=[{"name": "body", "in": "body", "detail": "too many readings"}],
        )
    # The entity lock serializes batches of one entity: detection sees every stored reading.
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    first_of_each_instant: dict[int, IncomingReading] = {}
    for incoming in readings:
        first_of_each_instant.setdefault(incoming.reading.timestamp_ms, incoming)
    stored = await readings_repository.insert_new(
        connection, [_row(entity_id, r, now_ms) for r in first_of_each_instant.values()]
    )
    if stored and await detects_sessions(connection, entity):
        await redetect(
            connection,
            entity=entity,
            from_ms=min(stored),
            to_ms=max(stored),
            now_ms=now_ms,
            config=config,
        )
    return IngestResult(stored=len(stored), duplicates=len(readings) - len(stored))


async def list_readings(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    frame_start_ms: int,
    frame_end_ms: int | None,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
    now_ms: int,
) -> Page[sa.Row[Any]]:
    """A page of the entity's readings; the caller checked the entity (entity_of_principal)."""
    entity_id = UUID(str(entity.id))
    after_ms: int | None = None
    if continuation_token is None:
        end_ms = max(now_ms, frame_start_ms) if frame_end_ms is None else frame_end_ms
        frame = Frame(frame_start_ms, end_ms)
    else:
        frame, after = resume_after(
            continuation_token,
            key=cursor_key,
            kind=CursorKind.READINGS,
            scope_id=entity_id,
            frame_start_ms=frame_start_ms,
            frame_end_ms=frame_end_ms,
        )
        after_ms = None if after is None else after[0]
    if frame.end_ms < frame.start_ms:
        raise InvalidInputError(
            "end must not be before start",
            errors=[{"name": "end", "in": "query", "detail": "end must not be before start"}],
        )
    rows = await readings_repository.list_page(
        connection,
        entity_id=entity_id,
        frame_start_ms=frame.start_ms,
        frame_end_ms=frame.end_ms,
        after_ms=after_ms,
        limit=page_size + 1,
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=frame,
        key=cursor_key,
        kind=CursorKind.READINGS,
        scope_id=entity_id,
        sort_key=lambda row: (row.timestamp_ms, NIL_ID),
    )


async def last_reading(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID
) -> sa.Row[Any]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    row = await readings_repository.last(connection, entity_id=entity_id)
    if row is None:
        raise NotFoundError(f"entity {entity_id} has no readings yet")
    return row


async def close_stale_sessions(database: Database, *, now_ms: int, config: DetectorConfig) -> int:
    """Close ongoing sessions of entities that went silent for longer than the gap limit
    (a car that lost its connection mid-charge); run periodically. Returns how many.

    Each entity is closed in a transaction of its own: one that fails is logged with its id
    and left for the next round, and the others are closed all the same.
    """
    silent_since_ms = now_ms - config.gap_limit_ms
    async with database.read() as connection:
        entity_ids = await state_repository.stale_open_entities(
            connection, silent_since_ms=silent_since_ms, limit=500
        )
    closed = 0
    for entity_id in entity_ids:
        try:
            closed += await _close_stale_session(
                database,
                entity_id=entity_id,
                silent_since_ms=silent_since_ms,
                now_ms=now_ms,
                config=config,
            )
        except Exception:
            logger.exception(
                "closing the stale session of entity %s failed; it is tried again next round",
                entity_id,
            )
    return closed


async def _close_stale_session(
    database: Database,
    *,
    entity_id: UUID,
    silent_since_ms: int,
    now_ms: int,
    config: DetectorConfig,
) -> int:
    """1 if the entity's ongoing session was closed, 0 if there was nothing to close."""
    async with database.write() as connection:
        entity = await entities_repository.get_entity_any_tenant(
            connection, entity_id=entity_id, lock="update"
        )
        state = await state_repository.get(connection, entity_id=entity_id)
        if entity is None or state is None or state.open_since_ms is None:
            return 0
        if state.last_reading_ms is None or state.last_reading_ms >= silent_since_ms:
            return 0  # a reading arrived since we looked
        if not await detects_sessions(connection, entity):
            await state_repository.save(
                connection,
                entity_id=entity_id,
                open_since_ms=None,
                last_reading_ms=state.last_reading_ms,
                now_ms=now_ms,
            )
            return 0
        await redetect(
            connection,
            entity=entity,
            from_ms=state.open_since_ms,
            to_ms=state.last_reading_ms,
            now_ms=now_ms,
            config=config,
        )
        return 1
