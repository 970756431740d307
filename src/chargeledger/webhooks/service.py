"""Webhook subscriptions and their delivery logs, for the tenant that owns them: another
tenant's subscription is not found, in the same words as one that never existed."""

import uuid
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import ConflictError, NotFoundError
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.webhooks import delivery_log
from chargeledger.webhooks import subscriptions_repository as repository
from chargeledger.webhooks.deliveries_repository import cancel_pending
from chargeledger.webhooks.signing import new_secret

# Every event is one delivery per subscription that wants it: a bound on the fan-out.
MAX_WEBHOOKS_PER_TENANT = 100
DISABLED_BY_CLIENT = "disabled by the client"


def webhook_not_found(subscription_id: object) -> NotFoundError:
    return NotFoundError(f"webhook {subscription_id} was not found")


async def create_webhook(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    url: str,
    event_types: list[str],
    description: str | None,
    enabled: bool,
    now_ms: int,
) -> sa.Row[Any]:
    """The new subscription's row, secret included (the only answer that shows it)."""
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    if await repository.count_subscriptions(connection, tenant_id=tenant_id) >= (
        MAX_WEBHOOKS_PER_TENANT
    ):
        raise ConflictError(
            f"the tenant already has {MAX_WEBHOOKS_PER_TENANT} webhooks, the maximum; "
            "delete one first"
        )
    return await repository.insert_subscription(
        connection,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        url=url,
        description=description,
        event_types_json=orjson.dumps(event_types).decode(),
        enabled=enabled,
        secret=new_secret(),
        previous_secret=None,
        previous_secret_expires_ms=None,
        created_ms=now_ms,
        updated_ms=now_ms,
        failing_since_ms=None,
        disabled_ms=None if enabled else now_ms,
        disabled_reason=None if enabled else DISABLED_BY_CLIENT,
        deleted_ms=None,
    )


async def get_webhook(
    connection: AsyncConnection, *, tenant_id: UUID, subscription_id: UUID, lock: bool = False
) -> sa.Row[Any]:
    row = await repository.get_subscription(
        connection, tenant_id=tenant_id, subscription_id=subscription_id, lock=lock
    )
    if row is None:
        raise webhook_not_found(subscription_id)
    return row


async def list_webhooks(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    after = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.WEBHOOKS, scope_id=tenant_id
    )
    rows = await repository.list_subscriptions(
        connection, tenant_id=tenant_id, after=after, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.WEBHOOKS,
        scope_id=tenant_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )


@dataclass(frozen=True, slots=True)
class WebhookChanges:
    """What a PATCH asks for; None leaves a field as it is (description: see its flag)."""

    url: str | None = None
    event_types: list[str] | None = None
    description: str | None = None
    change_description: bool = False
    enabled: bool | None = None


async def update_webhook(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    changes: WebhookChanges,
    now_ms: int,
) -> sa.Row[Any]:
    row = await get_webhook(
        connection, tenant_id=tenant_id, subscription_id=subscription_id, lock=True
    )
    values: dict[str, Any] = {}
    if changes.url is not None:
        values["url"] = changes.url
    if changes.event_types is not None:
        values["event_types_json"] = orjson.dumps(changes.event_types).decode()
    if changes.change_description:
        values["description"] = changes.description
    if changes.enabled is True and not row.enabled:
        # A fresh start: the failures that may have disabled it are history.
        values.update(enabled=True, disabled_ms=None, disabled_reason=None, failing_since_ms=None)
    elif changes.enabled is False and row.enabled:
        values.update(enabled=False, disabled_ms=now_ms, disabled_reason=DISABLED_BY_CLIENT)
        await cancel_pending(connection, subscription_id)
    values = {name: value for name, value in values.items() if getattr(row, name) != value}
    if not values:
        return row
    return await repository.update_subscription(
        connection, subscription_id=subscription_id, updated_ms=now_ms, **values
    )


async def delete_webhook(
    connection: AsyncConnection, *, tenant_id: UUID, subscription_id: UUID, now_ms: int
) -> None:
    """Soft: the row stays for its delivery log's sake, but nothing finds it any more."""
    await get_webhook(connection, tenant_id=tenant_id, subscription_id=subscription_id, lock=True)
    await cancel_pending(connection, subscription_id)
    await repository.update_subscription(
        connection, subscription_id=subscription_id, deleted_ms=now_ms, updated_ms=now_ms
    )


async def rotate_secret(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    expire_current_in_hours: int,
    now_ms: int,
) -> sa.Row[Any]:
    """A new secret; the current one keeps signing beside it for the hours given. A secret
    replaced by an earlier rotation stops signing now, whatever time it had left."""
    row = await get_webhook(
        connection, tenant_id=tenant_id, subscription_id=subscription_id, lock=True
    )
    keep_current = expire_current_in_hours > 0
    return await repository.update_subscription(
        connection,
        subscription_id=subscription_id,
        secret=new_secret(),
        previous_secret=row.secret if keep_current else None,
        previous_secret_expires_ms=(
            now_ms + expire_current_in_hours * 3_600_000 if keep_current else None
        ),
        updated_ms=now_ms,
    )


def _deliveries_scope(subscription_id: UUID, status: str | None) -> UUID:
    """A continuation token serves the list it came from: the filter is part of its scope."""
    if status is None:
        return subscription_id
    return uuid.uuid5(subscription_id, f"status={status}")


@dataclass(frozen=True, slots=True)
class DeliveryLogPage:
    page: Page[sa.Row[Any]]
    attempts: dict[UUID, list[sa.Row[Any]]]


async def list_deliveries(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    status: str | None,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> DeliveryLogPage:
    await get_webhook(connection, tenant_id=tenant_id, subscription_id=subscription_id)
    scope_id = _deliveries_scope(subscription_id, status)
    before = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.WEBHOOK_DELIVERIES, scope_id=scope_id
    )
    rows = await delivery_log.list_deliveries(
        connection,
        subscription_id=subscription_id,
        status=status,
        before=before,
        limit=page_size + 1,
    )
    page = make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.WEBHOOK_DELIVERIES,
        scope_id=scope_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )
    attempts = await delivery_log.attempts_of(
        connection, delivery_ids=[row.id for row in page.rows]
    )
    return DeliveryLogPage(page=page, attempts=attempts)


async def get_delivery(
    connection: AsyncConnection, *, tenant_id: UUID, subscription_id: UUID, delivery_id: UUID
) -> tuple[sa.Row[Any], list[sa.Row[Any]]]:
    """The delivery and its attempts."""
    await get_webhook(connection, tenant_id=tenant_id, subscription_id=subscription_id)
    row = await _delivery(connection, subscription_id=subscription_id, delivery_id=delivery_id)
    attempts = await delivery_log.attempts_of(connection, delivery_ids=[row.id])
    return row, attempts[row.id]


async def redeliver(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    subscription_id: UUID,
    delivery_id: UUID,
    now_ms: int,
) -> sa.Row[Any]:
    """A new pending delivery of the same event, due now; the original stays as it was."""
    # Locked: a concurrent PATCH disabling it cancels what is pending, this included.
    subscription = await get_webhook(
        connection, tenant_id=tenant_id, subscription_id=subscription_id, lock=True
    )
    if not subscription.enabled:
        raise ConflictError(
            f"webhook {subscription_id} is disabled ({subscription.disabled_reason}); "
            "enable it (PATCH with enabled: true) before asking for a redelivery"
        )
    original = await _delivery(connection, subscription_id=subscription_id, delivery_id=delivery_id)
    if original.status == "pending":
        raise ConflictError(
            f"delivery {delivery_id} is still pending (attempt {original.attempts + 1} is "
            "scheduled): it needs no redelivery"
        )
    return await delivery_log.insert_redelivery(connection, original=original, now_ms=now_ms)


async def _delivery(
    connection: AsyncConnection, *, subscription_id: UUID, delivery_id: UUID
) -> sa.Row[Any]:
    row = await delivery_log.get_delivery(
        connection, subscription_id=subscription_id, delivery_id=delivery_id
    )
    if row is None:
        raise NotFoundError(f"delivery {delivery_id} of webhook {subscription_id} was not found")
    return row
