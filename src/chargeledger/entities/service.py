"""Entities and Entity Settings > Features."""

import uuid
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.entities import repository as entities_repository
from chargeledger.errors import ConflictError, NotFoundError, entity_not_found
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position


class EntityType(StrEnum):
    EV = "EV"
    CHARGE_POINT = "ChargePoint"
    BATTERY = "Battery"
    HEAT_PUMP = "HeatPump"
    SOLAR_PLANT = "SolarPlant"
    METER = "Meter"
    RETROFIT_METER = "RetrofitMeter"
    INVERTER = "Inverter"


# Charge sessions exist only for what charges a vehicle.
CHARGING_TYPES = frozenset({EntityType.EV, EntityType.CHARGE_POINT})


class Feature(StrEnum):
    CAPTURE_CHARGE_SESSIONS = "CaptureChargeSessions"


async def create_entity(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_type: EntityType,
    name: str,
    identifier: str | None,
    brand: str | None,
    properties: dict[str, Any],
    now_ms: int,
) -> sa.Row[Any]:
    if identifier is not None and await entities_repository.find_by_identifier(
        connection, tenant_id=tenant_id, identifier=identifier
    ):
        raise ConflictError(f"another entity of this tenant already has identifier '{identifier}'")
    entity_id = uuid.uuid4()
    try:
        await entities_repository.insert_entity(
            connection,
            id=entity_id,
            tenant_id=tenant_id,
            type=entity_type.value,
            name=name,
            identifier=identifier,
            brand=brand,
            properties_json=orjson.dumps(properties).decode(),
            capture_charge_sessions=entity_type in CHARGING_TYPES,
            created_ms=now_ms,
        )
    except sa.exc.IntegrityError:
        # Another request created the same identifier since we looked.
        raise ConflictError(
            f"another entity of this tenant already has identifier '{identifier}'"
        ) from None
    return await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)


async def get_entity(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    lock: Literal["share", "update"] | None = None,
) -> sa.Row[Any]:
    entity = await entities_repository.get_entity(
        connection, tenant_id=tenant_id, entity_id=entity_id, lock=lock
    )
    if entity is None:
        raise entity_not_found(entity_id)
    return entity


def require_charging(entity: sa.Row[Any]) -> sa.Row[Any]:
    """The entity, which must be of a type that has charge sessions."""
    if entity.type not in CHARGING_TYPES:
        raise NotFoundError(
            f"entity {entity.id} is a {entity.type}; charge sessions exist only for "
            "EV and ChargePoint entities"
        )
    return entity


async def get_charging_entity(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    lock: Literal["share", "update"] | None = None,
) -> sa.Row[Any]:
    """The entity, which must be of a type that has charge sessions."""
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock=lock)
    return require_charging(entity)


def feature_statuses(entity: sa.Row[Any]) -> list[dict[str, Any]]:
    return [
        {
            "feature": Feature.CAPTURE_CHARGE_SESSIONS.value,
            "enabled": bool(entity.capture_charge_sessions),
        }
    ]


async def set_feature(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    feature: Feature,
    enabled: bool,
) -> list[dict[str, Any]]:
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    if enabled and entity.type not in CHARGING_TYPES:
        raise ConflictError(
            f"{feature.value} cannot be enabled on a {entity.type}: charge sessions exist only "
            "for EV and ChargePoint entities"
        )
    await entities_repository.set_capture_charge_sessions(
        connection, entity_id=entity_id, enabled=enabled
    )
    return feature_statuses(await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id))


async def list_entities_page(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    after = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.ENTITIES, scope_id=tenant_id
    )
    rows = await entities_repository.list_entities(
        connection, tenant_id=tenant_id, after=after, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.ENTITIES,
        scope_id=tenant_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )
