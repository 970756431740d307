"""Tariff calendars (Entity Settings, our extension) and the t1..t4 split they drive."""

import uuid
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import write_session
from chargeledger.domain.session_columns import derive_session, stored_content
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.domain.tariffs import (
    CalendarBook,
    CalendarVersion,
    TariffCalendar,
    UnsplittableProfileError,
    calendar_from_dict,
    calendar_to_dict,
)
from chargeledger.entities.service import get_entity
from chargeledger.errors import location_not_found
from chargeledger.locations import repository as locations_repository
from chargeledger.locations.matching import entity_geofences
from chargeledger.tariffs import repository as calendars_repository


def version_from_row(row: sa.Row[Any]) -> CalendarVersion:
    return CalendarVersion(valid_from_ms=row.valid_from_ms, calendar=_parsed(row.definition_json))


@lru_cache(maxsize=4096)
def _parsed(definition_json: str) -> TariffCalendar:
    # Calendars are immutable values and every split reads its entity's: parsed once each.
    return calendar_from_dict(orjson.loads(definition_json))


async def load_calendar_book(connection: AsyncConnection, *, entity_id: UUID) -> CalendarBook:
    entity_versions: list[CalendarVersion] = []
    location_versions: dict[UUID, list[CalendarVersion]] = {}
    for row in await calendars_repository.all_versions(connection, entity_id=entity_id):
        if row.location_id is None:
            entity_versions.append(version_from_row(row))
        else:
            location_versions.setdefault(row.location_id, []).append(version_from_row(row))
    return CalendarBook(entity_versions=entity_versions, location_versions=location_versions)


async def _check_location(
    connection: AsyncConnection, *, entity_id: UUID, location_id: UUID | None
) -> None:
    if location_id is not None and (
        await locations_repository.get_location(
            connection, entity_id=entity_id, location_id=location_id
        )
        is None
    ):
        raise location_not_found(location_id)


async def put_calendar(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    location_id: UUID | None,
    calendar: TariffCalendar,
    valid_from_ms: int,
    now_ms: int,
    detector_config: DetectorConfig,
) -> sa.Row[Any]:
    """Store a calendar version, then recompute t1..t4 of the sessions it now governs."""
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    await _check_location(connection, entity_id=entity_id, location_id=location_id)
    calendar_id = uuid.uuid4()
    await calendars_repository.put_version(
        connection,
        calendar_id=calendar_id,
        entity_id=entity_id,
        location_id=location_id,
        valid_from_ms=valid_from_ms,
        definition_json=orjson.dumps(calendar_to_dict(calendar)).decode(),
        now_ms=now_ms,
    )
    await resplit_sessions(
        connection,
        entity=entity,
        ending_after_ms=valid_from_ms,
        config=detector_config,
        now_ms=now_ms,
    )
    rows = await calendars_repository.versions(
        connection, entity_id=entity_id, location_id=location_id
    )
    return next(row for row in rows if row.id == calendar_id)


async def calendar_versions(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID, location_id: UUID | None
) -> Sequence[sa.Row[Any]]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    await _check_location(connection, entity_id=entity_id, location_id=location_id)
    return await calendars_repository.versions(
        connection, entity_id=entity_id, location_id=location_id
    )


async def resplit_sessions(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    ending_after_ms: int,
    config: DetectorConfig,
    now_ms: int,
) -> int:
    """Split t1..t4 again of every session whose registers come from a calendar (not given by
    the sender) and that ends after the instant; totals stay. Each is derived again from its
    source: sessions from readings are detected again, OCPP sessions measured again from their
    transaction's meter values, posted totals spread evenly as when they were posted."""
    # Both import this module for the calendar book: imported here, not above.
    from chargeledger.ocpp.service import rederive_transaction_session
    from chargeledger.readings.detection import redetect

    sessions = await sessions_repository.with_computed_tiers(
        connection, entity_id=entity.id, ending_after_ms=ending_after_ms
    )
    detected = [session for session in sessions if session.source == "readings"]
    if detected:
        await redetect(
            connection,
            entity=entity,
            from_ms=min(session.start_ms for session in detected),
            to_ms=max(session.end_ms for session in detected),
            now_ms=now_ms,
            config=config,
            reason="resplit",
        )
    book = await load_calendar_book(connection, entity_id=entity.id)
    geofences = await entity_geofences(connection, entity_id=entity.id)
    for session in sessions:
        if session.source == "readings":
            continue
        if session.source == "ocpp":
            await rederive_transaction_session(
                connection, entity=entity, session=session, config=config, now_ms=now_ms
            )
            continue
        try:
            derived = derive_session(
                stored_content(session._mapping, profile=None), geofences=geofences, book=book
            )
        except UnsplittableProfileError:
            # Stored before the physical ranges held (1e20 kWh on a single-register meter):
            # it keeps the split it has rather than fail the calendar for every session.
            continue
        await write_session(
            connection,
            tenant_id=entity.tenant_id,
            entity_id=entity.id,
            stored=session,
            derived=derived,
            reason="resplit",
            now_ms=now_ms,
        )
    return len(sessions)


def with_capacity(config: DetectorConfig, capacity_kwh: float | None) -> DetectorConfig:
    return replace(config, battery_capacity_kwh=capacity_kwh)
