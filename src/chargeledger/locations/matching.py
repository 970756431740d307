"""Keeping each session's locationMatches in step with its entity's configured locations."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import write_session
from chargeledger.domain.location_matching import Geofence
from chargeledger.domain.session_columns import derive_session, stored_content
from chargeledger.domain.tariffs import CalendarBook
from chargeledger.locations import repository as locations_repository


def geofence_from_row(row: sa.Row[Any]) -> Geofence:
    return Geofence(
        id=row.id,
        label=row.label,
        address=row.address,
        latitude=row.latitude,
        longitude=row.longitude,
        radius_m=row.radius_m,
    )


async def entity_geofences(connection: AsyncConnection, *, entity_id: UUID) -> list[Geofence]:
    rows = await locations_repository.list_locations(connection, entity_id=entity_id)
    return [geofence_from_row(row) for row in rows]


async def rematch_entity_sessions(
    connection: AsyncConnection, *, entity: sa.Row[Any], now_ms: int
) -> int:
    """Match every positioned session again after the entity's locations changed. Their
    t1..t4 stay here: where a location's own calendar now applies, the caller splits again."""
    geofences = await entity_geofences(connection, entity_id=entity.id)
    sessions = await sessions_repository.positioned_sessions(connection, entity_id=entity.id)
    no_calendars = CalendarBook(entity_versions=[])
    for session in sessions:
        await write_session(
            connection,
            tenant_id=entity.tenant_id,
            entity_id=entity.id,
            stored=session,
            derived=derive_session(
                stored_content(session._mapping, profile=None, keep_split=True),
                geofences=geofences,
                book=no_calendars,  # not consulted: the split is kept
            ),
            reason="rematched",
            now_ms=now_ms,
        )
    return len(sessions)
