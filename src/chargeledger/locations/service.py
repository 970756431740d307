"""Entity Settings > Locations. Every change re-matches the entity's stored sessions."""

import uuid
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.entities.service import get_entity
from chargeledger.errors import ConflictError, location_not_found
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.locations import repository as locations_repository
from chargeledger.locations.matching import rematch_entity_sessions
from chargeledger.tariffs import repository as calendars_repository
from chargeledger.tariffs.service import resplit_sessions

# Matching cost grows with locations x sessions; no real entity has more homes than this.
MAX_LOCATIONS_PER_ENTITY = 100


async def create_location(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    label: str,
    address: str | None,
    latitude: float,
    longitude: float,
    radius_m: float,
    now_ms: int,
    detector_config: DetectorConfig,
) -> sa.Row[Any]:
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    existing = await locations_repository.list_locations(connection, entity_id=entity_id)
    if len(existing) >= MAX_LOCATIONS_PER_ENTITY:
        raise ConflictError(
            f"entity {entity_id} already has {MAX_LOCATIONS_PER_ENTITY} locations, the maximum"
        )
    location_id = uuid.uuid4()
    await locations_repository.insert_location(
        connection,
        id=location_id,
        entity_id=entity_id,
        label=label,
        address=address,
        latitude=latitude,
        longitude=longitude,
        radius_m=radius_m,
        created_ms=now_ms,
    )
    await _locations_changed(
        connection, entity=entity, now_ms=now_ms, detector_config=detector_config
    )
    return await get_location(
        connection, tenant_id=tenant_id, entity_id=entity_id, location_id=location_id
    )


async def get_location(
    connection: AsyncConnection, *, tenant_id: UUID, entity_id: UUID, location_id: UUID
) -> sa.Row[Any]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    location = await locations_repository.get_location(
        connection, entity_id=entity_id, location_id=location_id
    )
    if location is None:
        raise location_not_found(location_id)
    return location


async def replace_location(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    location_id: UUID,
    label: str,
    address: str | None,
    latitude: float,
    longitude: float,
    radius_m: float,
    now_ms: int,
    detector_config: DetectorConfig,
) -> sa.Row[Any]:
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    updated = await locations_repository.update_location(
        connection,
        entity_id=entity_id,
        location_id=location_id,
        label=label,
        address=address,
        latitude=latitude,
        longitude=longitude,
        radius_m=radius_m,
    )
    if not updated:
        raise location_not_found(location_id)
    await _locations_changed(
        connection, entity=entity, now_ms=now_ms, detector_config=detector_config
    )
    return await get_location(
        connection, tenant_id=tenant_id, entity_id=entity_id, location_id=location_id
    )


async def delete_location(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    location_id: UUID,
    now_ms: int,
    detector_config: DetectorConfig,
) -> None:
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    had_calendar = bool(
        await calendars_repository.versions(
            connection, entity_id=entity_id, location_id=location_id
        )
    )
    await calendars_repository.delete_for_location(connection, location_id=location_id)
    if not await locations_repository.delete_location(
        connection, entity_id=entity_id, location_id=location_id
    ):
        raise location_not_found(location_id)
    await _locations_changed(
        connection,
        entity=entity,
        now_ms=now_ms,
        detector_config=detector_config,
        force_resplit=had_calendar,
    )


async def _locations_changed(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    now_ms: int,
    detector_config: DetectorConfig,
    force_resplit: bool = False,
) -> None:
    """Match every stored session again; where locations carry their own tariff calendars, a
    session's best match decides its calendar, so its t1..t4 are split again too."""
    await rematch_entity_sessions(connection, entity=entity, now_ms=now_ms)
    has_location_calendars = bool(
        await calendars_repository.location_versions(connection, entity_id=entity.id)
    )
    if force_resplit or has_location_calendars:
        await resplit_sessions(
            connection, entity=entity, ending_after_ms=-1, config=detector_config, now_ms=now_ms
        )


async def list_locations_page(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    after = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.LOCATIONS, scope_id=entity_id
    )
    rows = await locations_repository.list_locations(
        connection, entity_id=entity_id, after=after, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.LOCATIONS,
        scope_id=entity_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )
