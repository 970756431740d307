"""The SQL of a subscription's delivery log as the API shows it: its deliveries with their
events' types, each delivery's attempts, and a redelivery. The dispatcher's own SQL (claiming,
recording attempts, cancelling) is in deliveries_repository.py."""

import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.events.recording import DELIVERIES_CHANNEL
from chargeledger.storage.database import after_commit
from chargeledger.storage.tables import events, webhook_attempts, webhook_deliveries
from chargeledger.webhooks import wakeup

_DELIVERY_WITH_EVENT = sa.select(webhook_deliveries, events.c.type.label("event_type")).join(
    events,
    # The event's primary key: a delivery names its event's tenant and sequence.
    sa.and_(
        events.c.tenant_id == webhook_deliveries.c.tenant_id,
        events.c.sequence == webhook_deliveries.c.event_sequence,
    ),
)


async def list_deliveries(
    connection: AsyncConnection,
    *,
    subscription_id: UUID,
    status: str | None,
    before: tuple[int, UUID] | None,
    limit: int,
) -> list[sa.Row[Any]]:
    """Newest first, keyset-paged by (created_ms, id) descending; `before` is the last row
    of the previous page."""
    query = _DELIVERY_WITH_EVENT.where(webhook_deliveries.c.subscription_id == subscription_id)
    if status is not None:
        query = query.where(webhook_deliveries.c.status == status)
    if before is not None:
        query = query.where(
            sa.tuple_(webhook_deliveries.c.created_ms, webhook_deliveries.c.id) < sa.tuple_(*before)
        )
    query = query.order_by(
        webhook_deliveries.c.created_ms.desc(), webhook_deliveries.c.id.desc()
    ).limit(limit)
    return list((await connection.execute(query)).all())


async def get_delivery(
    connection: AsyncConnection, *, subscription_id: UUID, delivery_id: UUID
) -> sa.Row[Any] | None:
    query = _DELIVERY_WITH_EVENT.where(
        webhook_deliveries.c.id == delivery_id,
        webhook_deliveries.c.subscription_id == subscription_id,
    )
    return (await connection.execute(query)).first()


async def attempts_of(
    connection: AsyncConnection, *, delivery_ids: Sequence[UUID]
) -> dict[UUID, list[sa.Row[Any]]]:
    """Each delivery's attempts, first attempt first; one query for a whole page."""
    by_delivery: dict[UUID, list[sa.Row[Any]]] = {delivery_id: [] for delivery_id in delivery_ids}
    if not delivery_ids:
        return by_delivery
    rows = await connection.execute(
        sa.select(webhook_attempts)
        .where(webhook_attempts.c.delivery_id.in_(delivery_ids))
        .order_by(webhook_attempts.c.delivery_id, webhook_attempts.c.attempt)
    )
    for row in rows:
        by_delivery[row.delivery_id].append(row)
    return by_delivery


async def insert_redelivery(
    connection: AsyncConnection, *, original: sa.Row[Any], now_ms: int
) -> sa.Row[Any]:
    """A new pending delivery of the original's event, due now, and the dispatchers woken
    (every process on PostgreSQL once this commits; this process's in any case)."""
    new_id = uuid.uuid4()
    await connection.execute(
        sa.insert(webhook_deliveries).values(
            id=new_id,
            subscription_id=original.subscription_id,
            tenant_id=original.tenant_id,
            event_sequence=original.event_sequence,
            event_id=original.event_id,
            ordering_key=original.ordering_key,
            status="pending",
            attempts=0,
            next_attempt_ms=now_ms,
            lease_until_ms=None,
            created_ms=now_ms,
        )
    )
    if connection.dialect.name == "postgresql":
        await connection.execute(sa.select(sa.func.pg_notify(DELIVERIES_CHANNEL, "")))
    after_commit(connection, wakeup.deliveries_queued)
    redelivery = await get_delivery(
        connection, subscription_id=original.subscription_id, delivery_id=new_id
    )
    assert redelivery is not None  # inserted just above, in this transaction
    return redelivery
