"""Keeping each session's locationMatches in step with its entity's configured locations."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.location_matching import Geofence, LocationMatch, Position, match_positions
from chargeledger.storage import charge_sessions as sessions_repository
from chargeledger.storage import locations as locations_repository


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


def stored_matches(matches: Sequence[LocationMatch]) -> tuple[str, str | None]:
    """The serialized locationMatches and the best match's address, as sessions store them."""
    serialized = orjson.dumps(
        [
            {
                "accuracy": match.accuracy,
                "location": {"id": str(match.geofence.id), "label": match.geofence.label},
            }
            for match in matches
        ]
    ).decode()
    return serialized, matches[0].geofence.address if matches else None


async def rematch_entity_sessions(connection: AsyncConnection, *, entity_id: UUID) -> int:
    """Recompute every positioned session's matches after the entity's locations changed."""
    geofences = await entity_geofences(connection, entity_id=entity_id)
    sessions = await sessions_repository.positioned_sessions(connection, entity_id=entity_id)
    positions = [Position(lat, lon, uncertainty) for _, lat, lon, uncertainty in sessions]
    all_matches = match_positions(positions, geofences)
    await sessions_repository.update_matches(
        connection,
        entity_id=entity_id,
        matches=(
            (session[0], *stored_matches(matches))
            for session, matches in zip(sessions, all_matches, strict=True)
        ),
    )
    return len(sessions)
