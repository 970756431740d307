"""Webhook subscriptions through the API, and what the dispatcher would have written (events,
deliveries, attempts) put straight into storage, so the delivery log can be checked against
rows whose every value the test chose."""

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.events.recording import record_event
from chargeledger.storage.database import Database
from chargeledger.storage.tables import events, webhook_attempts, webhook_deliveries
from tests.support.api import TenantApi

# Never resolves (RFC 2606): if a dispatcher tries one of these tests' deliveries, it fails
# without reaching anything.
RECEIVER_URL = "https://receiver.invalid/hooks"
# Pending deliveries the tests insert are due in a day: no dispatcher touches them meanwhile.
DAY_MS = 86_400_000


async def create_webhook(api: TenantApi, **fields: Any) -> dict[str, Any]:
    response = await api.http.post("/v1/webhooks", json={"url": RECEIVER_URL, **fields})
    assert response.status_code == 201, response.text
    webhook: dict[str, Any] = response.json()
    return webhook


@dataclass(frozen=True)
class StoredEvent:
    id: UUID
    sequence: int
    type: str


async def record_events(database: Database, tenant_id: UUID, types: list[str]) -> list[StoredEvent]:
    """Events of the tenant, committed as a writer commits them (numbered at commit). Recorded
    before the test creates its webhooks, so none is queued for them by itself."""
    async with database.write() as connection:
        ids = [
            record_event(
                connection,
                tenant_id=tenant_id,
                type=event_type,
                entity_id=None,
                subject_id=uuid.uuid4(),
                version=1,
                occurred_ms=system_clock_ms(),
                data={"test": index},
            )
            for index, event_type in enumerate(types)
        ]
    async with database.read() as connection:
        rows = (
            await connection.execute(
                sa.select(events.c.id, events.c.sequence, events.c.type).where(events.c.id.in_(ids))
            )
        ).all()
    by_id = {row.id: StoredEvent(row.id, row.sequence, row.type) for row in rows}
    return [by_id[event_id] for event_id in ids]


async def insert_delivery(
    database: Database,
    *,
    tenant_id: UUID,
    webhook_id: str,
    event: StoredEvent,
    status: str,
    created_ms: int,
    attempts: Sequence[dict[str, Any]] = (),
    **values: Any,
) -> UUID:
    """A delivery as the dispatcher leaves it, with its attempts (each a webhook_attempts row
    without delivery_id and attempt, numbered from 1)."""
    delivery_id = uuid.uuid4()
    row = {
        "id": delivery_id,
        "subscription_id": UUID(webhook_id),
        "tenant_id": tenant_id,
        "event_sequence": event.sequence,
        "event_id": event.id,
        "ordering_key": f"order-{event.sequence}",
        "status": status,
        "attempts": len(attempts),
        "next_attempt_ms": created_ms + DAY_MS,
        "lease_until_ms": None,
        "created_ms": created_ms,
        "last_attempt_ms": None,
        "last_response_status": None,
        "last_error": None,
        "delivered_ms": None,
        **values,
    }
    async with database.write() as connection:
        await connection.execute(sa.insert(webhook_deliveries).values(**row))
        if attempts:
            await connection.execute(
                sa.insert(webhook_attempts),
                [
                    {"delivery_id": delivery_id, "attempt": number, **attempt}
                    for number, attempt in enumerate(attempts, start=1)
                ],
            )
    return delivery_id


async def delivery_row(database: Database, delivery_id: UUID | str) -> Any:
    async with database.read() as connection:
        return (
            await connection.execute(
                sa.select(webhook_deliveries).where(
                    webhook_deliveries.c.id == UUID(str(delivery_id))
                )
            )
        ).one()


def assert_standard_webhooks_secret(secret: str) -> None:
    """whsec_ and the base64 of 24 to 64 random bytes (the Standard Webhooks spec)."""
    assert secret.startswith("whsec_"), secret
    assert 24 <= len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) <= 64
