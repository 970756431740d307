"""Recording events: kept with the transaction that caused them, numbered at its very end.

A writer calls `record_event`; nothing is written then. When the transaction is about to
commit, `flush` takes the tenant's counter row (a row lock held until the commit), numbers the
transaction's events after it, inserts them and one webhook delivery per subscription that
wants each. Because the counter row is locked until commit, sequence order is commit order
within a tenant: a client reading events after sequence N never misses one that commits later
with a smaller number (GET /v1/events pages by sequence). The lock is held only for the last
statements of a transaction, so writers of one tenant queue for about one commit each.
"""

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.instants import format_instant
from chargeledger.storage.database import after_commit, before_commit, transaction_list
from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import (
    event_counters,
    events,
    webhook_deliveries,
    webhook_subscriptions,
)
from chargeledger.webhooks import wakeup

_PENDING = "chargeledger_pending_events"
# PostgreSQL's channel for "new deliveries": every serving process listens (webhooks/dispatcher).
DELIVERIES_CHANNEL = "chargeledger_webhook_deliveries"


@dataclass(frozen=True, slots=True)
class PendingEvent:
    id: UUID
    tenant_id: UUID
    type: str
    entity_id: UUID | None
    subject_id: UUID | None
    version: int | None
    occurred_ms: int
    data: dict[str, Any]

    def payload(self) -> dict[str, Any]:
        """The event as GET /v1/events lists it and a webhook delivers it (Standard Webhooks:
        type, timestamp, data; the id is also the delivery's webhook-id)."""
        return {
            "id": str(self.id),
            "type": self.type,
            "timestamp": format_instant(self.occurred_ms),
            "data": self.data,
        }


def record_event(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    type: str,
    entity_id: UUID | None,
    subject_id: UUID | None,
    version: int | None,
    occurred_ms: int,
    data: dict[str, Any],
) -> UUID:
    """Add an event to this transaction; it is stored (numbered) when the transaction commits
    and never if it rolls back."""
    event = PendingEvent(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        type=type,
        entity_id=entity_id,
        subject_id=subject_id,
        version=version,
        occurred_ms=occurred_ms,
        data=data,
    )
    transaction_list(connection, _PENDING).append(event)
    before_commit(connection, _PENDING, flush)
    return event.id


async def flush(connection: AsyncConnection) -> None:
    """Number and insert the transaction's events, and queue their webhook deliveries."""
    pending: list[PendingEvent] = list(transaction_list(connection, _PENDING))
    transaction_list(connection, _PENDING).clear()
    by_tenant: dict[UUID, list[PendingEvent]] = {}
    for event in pending:
        by_tenant.setdefault(event.tenant_id, []).append(event)
    queued = 0
    # Tenants in a fixed order: two transactions that both write events of tenants A and B
    # lock their counters in the same order and cannot deadlock.
    for tenant_id in sorted(by_tenant, key=str):
        tenant_events = by_tenant[tenant_id]
        last = await _take_sequences(connection, tenant_id, len(tenant_events))
        first = last - len(tenant_events) + 1
        rows = [
            {
                "tenant_id": tenant_id,
                "sequence": first + index,
                "id": event.id,
                "type": event.type,
                "entity_id": event.entity_id,
                "subject_id": event.subject_id,
                "version": event.version,
                "occurred_ms": event.occurred_ms,
                "payload_json": orjson.dumps(event.payload()).decode(),
            }
            for index, event in enumerate(tenant_events)
        ]
        await connection.execute(_INSERT_EVENTS, rows)
        queued += await _queue_deliveries(connection, tenant_id, rows)
    if queued:
        if connection.dialect.name == "postgresql":
            # Delivered to every listening process when (and only if) this transaction commits.
            await connection.execute(sa.select(sa.func.pg_notify(DELIVERIES_CHANNEL, "")))
        after_commit(connection, wakeup.deliveries_queued)


# Built once: every transaction that changes a session runs these.
_TAKE = (
    sa.update(event_counters)
    .where(event_counters.c.tenant_id == sa.bindparam("b_tenant_id"))
    .values(last_sequence=event_counters.c.last_sequence + sa.bindparam("b_count"))
    .returning(event_counters.c.last_sequence)
)
_INSERT_EVENTS = sa.insert(events)
_INSERT_DELIVERIES = sa.insert(webhook_deliveries)
_SUBSCRIPTIONS = sa.select(
    webhook_subscriptions.c.id, webhook_subscriptions.c.event_types_json
).where(
    webhook_subscriptions.c.tenant_id == sa.bindparam("tenant_id"),
    webhook_subscriptions.c.enabled == sa.true(),
    webhook_subscriptions.c.deleted_ms.is_(None),
)


async def _take_sequences(connection: AsyncConnection, tenant_id: UUID, count: int) -> int:
    """Reserve `count` sequence numbers of the tenant; returns the last one. The counter row
    stays locked until this transaction ends."""
    last = await connection.scalar(_TAKE, {"b_tenant_id": tenant_id, "b_count": count})
    if last is not None:
        return int(last)
    # The tenant's first event: create its counter. Two first events at once: one inserts,
    # the other's insert does nothing, and it takes the row as an update like any later one.
    await connection.execute(
        insert_on_conflict(connection, event_counters)
        .values(tenant_id=tenant_id, last_sequence=0)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    return await _take_sequences(connection, tenant_id, count)


async def _queue_deliveries(
    connection: AsyncConnection, tenant_id: UUID, rows: list[dict[str, Any]]
) -> int:
    subscriptions = (await connection.execute(_SUBSCRIPTIONS, {"tenant_id": tenant_id})).all()
    if not subscriptions:
        return 0
    deliveries = []
    for subscription in subscriptions:
        wanted = set(orjson.loads(subscription.event_types_json))
        for row in rows:
            if wanted and row["type"] not in wanted:
                continue
            deliveries.append(
                {
                    "id": uuid.uuid4(),
                    "subscription_id": subscription.id,
                    "tenant_id": tenant_id,
                    "event_sequence": row["sequence"],
                    "event_id": row["id"],
                    "ordering_key": ordering_key(row),
                    "status": "pending",
                    "attempts": 0,
                    "next_attempt_ms": row["occurred_ms"],
                    "lease_until_ms": None,
                    "created_ms": row["occurred_ms"],
                }
            )
    if deliveries:
        await connection.execute(_INSERT_DELIVERIES, deliveries)
    return len(deliveries)


def ordering_key(event_row: dict[str, Any]) -> str:
    """Deliveries with one key go out one at a time, in sequence order: a session's versions
    (or whatever else the event is about) arrive in the order they were made."""
    subject = event_row["subject_id"]
    return str(subject) if subject is not None else f"event:{event_row['id']}"
