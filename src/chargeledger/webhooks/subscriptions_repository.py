"""The SQL of webhook subscriptions. A deleted subscription keeps its row (deleted_ms) for the
deliveries that name it; every read here leaves it out, so it is not found like a missing one."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import tenants, webhook_subscriptions

_LIVE = webhook_subscriptions.c.deleted_ms.is_(None)


async def lock_tenant(connection: AsyncConnection, *, tenant_id: UUID) -> None:
    """Serializes the tenant's subscription creations (PostgreSQL; SQLite's writers are serial
    anyway) so a count checked before an insert still holds at commit. NO KEY UPDATE: rows
    that merely reference the tenant (its entities, its events) are not held up."""
    await connection.execute(
        sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update(key_share=True)
    )


async def count_subscriptions(connection: AsyncConnection, *, tenant_id: UUID) -> int:
    count = await connection.scalar(
        sa.select(sa.func.count())
        .select_from(webhook_subscriptions)
        .where(webhook_subscriptions.c.tenant_id == tenant_id, _LIVE)
    )
    return int(count or 0)


async def insert_subscription(connection: AsyncConnection, **values: Any) -> sa.Row[Any]:
    result = await connection.execute(
        sa.insert(webhook_subscriptions).values(**values).returning(webhook_subscriptions)
    )
    row: sa.Row[Any] = result.one()
    return row


async def get_subscription(
    connection: AsyncConnection, *, tenant_id: UUID, subscription_id: UUID, lock: bool = False
) -> sa.Row[Any] | None:
    """The tenant's subscription, None when it is missing, deleted or another tenant's.

    `lock` holds its row until the transaction ends (PostgreSQL): a change to the
    subscription, a redelivery and the dispatcher disabling it happen one after the other.
    """
    query = sa.select(webhook_subscriptions).where(
        webhook_subscriptions.c.id == subscription_id,
        webhook_subscriptions.c.tenant_id == tenant_id,
        _LIVE,
    )
    if lock:
        query = query.with_for_update()
    return (await connection.execute(query)).first()


async def list_subscriptions(
    connection: AsyncConnection, *, tenant_id: UUID, after: tuple[int, UUID] | None, limit: int
) -> list[sa.Row[Any]]:
    """Oldest first, keyset-paged by (created_ms, id)."""
    query = sa.select(webhook_subscriptions).where(
        webhook_subscriptions.c.tenant_id == tenant_id, _LIVE
    )
    if after is not None:
        query = query.where(
            sa.tuple_(webhook_subscriptions.c.created_ms, webhook_subscriptions.c.id)
            > sa.tuple_(*after)
        )
    query = query.order_by(webhook_subscriptions.c.created_ms, webhook_subscriptions.c.id)
    return list((await connection.execute(query.limit(limit))).all())


async def update_subscription(
    connection: AsyncConnection, *, subscription_id: UUID, **values: Any
) -> sa.Row[Any]:
    result = await connection.execute(
        sa.update(webhook_subscriptions)
        .where(webhook_subscriptions.c.id == subscription_id)
        .values(**values)
        .returning(webhook_subscriptions)
    )
    row: sa.Row[Any] = result.one()
    return row
