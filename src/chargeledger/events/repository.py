"""Reading a tenant's events by sequence (they are written by events/recording.py only)."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import events


async def list_page(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    types: Sequence[str],
    entity_id: UUID | None,
    after_sequence: int,
    limit: int,
) -> Sequence[Any]:  # rows of (sequence, payload_json)
    """The tenant's events after `after_sequence`, in sequence order; `types` empty means
    every type, `entity_id` None every entity.

    One range scan of the primary key (tenant_id, sequence), or of the (tenant_id, type,
    sequence) or (tenant_id, entity_id, sequence) index: a deep page costs what the first does.
    """
    query = (
        sa.select(events.c.sequence, events.c.payload_json)
        .where(events.c.tenant_id == tenant_id, events.c.sequence > after_sequence)
        .order_by(events.c.sequence)
        .limit(limit)
    )
    if types:
        query = query.where(events.c.type.in_(types))
    if entity_id is not None:
        query = query.where(events.c.entity_id == entity_id)
    return (await connection.execute(query)).all()
