"""Entity Settings > Battery Capacity: what turns state-of-charge changes into energy."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.domain.session_detection import DetectorConfig, EnergyMethod
from chargeledger.entities import repository as entities_repository
from chargeledger.entities.service import get_entity
from chargeledger.readings.detection import detects_sessions, redetect


async def set_battery_capacity(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    capacity_kwh: float,
    now_ms: int,
    config: DetectorConfig,
) -> sa.Row[Any]:
    """Set the capacity, then measure again every detected session whose energy came, or
    could only come, from the state of charge."""
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    await entities_repository.set_battery_capacity(
        connection, entity_id=entity_id, capacity_kwh=capacity_kwh
    )
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    if await detects_sessions(connection, entity):
        spans = await sessions_repository.detected_spans_measured_by(
            connection, entity_id=entity_id, energy_methods=(None, EnergyMethod.STATE_OF_CHARGE)
        )
        for start_ms, end_ms in spans:
            await redetect(
                connection,
                entity=entity,
                from_ms=start_ms,
                to_ms=end_ms,
                now_ms=now_ms,
                config=config,
                reason="batteryCapacity",
            )
    return entity
