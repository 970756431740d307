"""The dispatcher's SQL: claiming due deliveries under a lease, recording how an attempt went.

Claiming (one short transaction): due pending deliveries whose lease is free and that have no
earlier pending delivery with the same subscription and ordering key (a session's versions go
out one at a time, in order) are locked with FOR UPDATE SKIP LOCKED, so processes claiming at
once take disjoint sets, and leased until now + lease. A process that dies holding a lease
lets the delivery go when the lease runs out; another process sends it again (a duplicate
only of something that was in flight, with the same webhook-id). SQLite has no row locks and
needs none: there one process delivers (webhooks/dispatcher.py).

Locks are taken in one order everywhere, subscription row before delivery rows, so recording,
disabling a subscription and the API changing one cannot deadlock. The claim waits on no lock.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.instants import format_instant
from chargeledger.events.recording import record_event
from chargeledger.events.types import WEBHOOK_DISABLED
from chargeledger.storage.tables import (
    events,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from chargeledger.webhooks.sending import Outcome
from chargeledger.webhooks.signing import active_secrets

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
CANCELLED = "cancelled"
DISABLED_EVENT_TYPE = WEBHOOK_DISABLED

_d = webhook_deliveries
_s = webhook_subscriptions


@dataclass(frozen=True, slots=True)
class Recorded:
    """The delivery's status after an attempt, and when it is tried next (pending only)."""

    status: str
    next_attempt_ms: int | None = None


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery this process holds until `lease_until_ms`, with what sending it needs."""

    id: UUID
    subscription_id: UUID
    tenant_id: UUID
    event_id: UUID
    lease_until_ms: int
    url: str
    signing_secrets: list[str]
    payload_json: str


def _claimable(now_ms: int) -> list[sa.ColumnElement[bool]]:
    """Due, not leased, and no earlier delivery of its subscription and ordering key pending."""
    earlier = _d.alias("earlier")
    earlier_pending = (
        sa.select(sa.literal(1))
        .where(
            earlier.c.subscription_id == _d.c.subscription_id,
            earlier.c.ordering_key == _d.c.ordering_key,
            earlier.c.status == PENDING,
            earlier.c.event_sequence < _d.c.event_sequence,
        )
        .exists()
    )
    return [
        _d.c.status == PENDING,
        _d.c.next_attempt_ms <= now_ms,
        sa.or_(_d.c.lease_until_ms.is_(None), _d.c.lease_until_ms < now_ms),
        ~earlier_pending,
    ]


async def any_due(connection: AsyncConnection, *, now_ms: int) -> bool:
    """Whether a claim would find something: a read first, so that an idle dispatcher never
    takes SQLite's write lock (or a PostgreSQL transaction) just to find nothing."""
    due = await connection.scalar(sa.select(_d.c.id).where(*_claimable(now_ms)).limit(1))
    return due is not None


async def claim_due(
    connection: AsyncConnection, *, now_ms: int, lease_ms: int, limit: int
) -> list[ClaimedDelivery]:
    """Take up to `limit` due deliveries; those of a disabled or deleted subscription are
    cancelled instead."""
    rows = (
        await connection.execute(
            sa.select(
                _d.c.id,
                _d.c.subscription_id,
                _d.c.tenant_id,
                _d.c.event_id,
                _d.c.event_sequence,
                _d.c.attempts,
                _d.c.lease_until_ms,
            )
            .where(*_claimable(now_ms))
            .order_by(_d.c.next_attempt_ms, _d.c.event_sequence)
            .limit(limit)
            .with_for_update(skip_locked=True, of=_d)
        )
    ).all()
    if not rows:
        return []
    subscriptions = {
        row.id: row
        for row in await connection.execute(
            sa.select(
                _s.c.id,
                _s.c.url,
                _s.c.enabled,
                _s.c.deleted_ms,
                _s.c.secret,
                _s.c.previous_secret,
                _s.c.previous_secret_expires_ms,
            ).where(_s.c.id.in_({row.subscription_id for row in rows}))
        )
    }

    def live(subscription_id: UUID) -> bool:
        subscription = subscriptions.get(subscription_id)
        return subscription is not None and subscription.enabled and subscription.deleted_ms is None

    cancelled = [row.id for row in rows if not live(row.subscription_id)]
    if cancelled:
        await connection.execute(
            sa.update(_d)
            .where(_d.c.id.in_(cancelled))
            .values(status=CANCELLED, lease_until_ms=None)
        )
    claimed = [row for row in rows if live(row.subscription_id)]
    if not claimed:
        return []
    lease_until_ms = now_ms + lease_ms
    await connection.execute(
        sa.update(_d)
        .where(_d.c.id.in_([row.id for row in claimed]))
        .values(lease_until_ms=lease_until_ms)
    )
    await _record_abandoned(connection, [row for row in claimed if row.lease_until_ms is not None])
    payloads = {
        (row.tenant_id, row.sequence): row.payload_json
        for row in await connection.execute(
            sa.select(events.c.tenant_id, events.c.sequence, events.c.payload_json).where(
                events.c.id.in_([row.event_id for row in claimed])
            )
        )
    }
    result = []
    for row in claimed:
        subscription = subscriptions[row.subscription_id]
        result.append(
            ClaimedDelivery(
                id=row.id,
                subscription_id=row.subscription_id,
                tenant_id=row.tenant_id,
                event_id=row.event_id,
                lease_until_ms=lease_until_ms,
                url=subscription.url,
                signing_secrets=active_secrets(
                    subscription.secret,
                    subscription.previous_secret,
                    subscription.previous_secret_expires_ms,
                    now_ms=now_ms,
                ),
                payload_json=payloads[(row.tenant_id, row.event_sequence)],
            )
        )
    return result


ABANDONED = (
    "outcome unknown: the process sending it stopped before recording the answer (its lease "
    "ran out), so it may have arrived; sent again"
)


async def _record_abandoned(connection: AsyncConnection, rows: Sequence[Any]) -> None:
    """A delivery taken over after its lease ran out was being sent by a process that died
    (or hung): that try is an attempt on record, with its outcome unknown, so the log explains
    the duplicate a receiver may see."""
    if not rows:
        return
    await connection.execute(
        sa.insert(webhook_attempts),
        [
            {
                "delivery_id": row.id,
                "attempt": row.attempts + 1,
                "started_ms": row.lease_until_ms,  # when it was given up on, at the latest
                "duration_ms": 0,
                "response_status": None,
                "error": ABANDONED,
            }
            for row in rows
        ],
    )
    await connection.execute(
        sa.update(_d)
        .where(_d.c.id == sa.bindparam("b_id"))
        .values(attempts=sa.bindparam("b_attempts")),
        [{"b_id": row.id, "b_attempts": row.attempts + 1} for row in rows],
    )


async def record_attempt(
    connection: AsyncConnection,
    delivery: ClaimedDelivery,
    outcome: Outcome,
    *,
    started_ms: int,
    now_ms: int,
    retry_delay_ms: Callable[[int], int | None],
    disable_after_ms: int,
) -> Recorded:
    """Store the attempt and what follows from it: delivered, tried again after
    `retry_delay_ms(failed attempts)`, or failed when that is None.

    The subscription's failing_since_ms is set at its first failure and cleared by a success;
    one failing for longer than `disable_after_ms` is disabled, its pending deliveries
    cancelled and a webhook.disabled event recorded."""
    subscription_failing_since = await _update_subscription_health(
        connection, delivery, outcome, started_ms=started_ms
    )
    current = (
        await connection.execute(
            sa.select(_d.c.status, _d.c.attempts, _d.c.lease_until_ms)
            .where(_d.c.id == delivery.id)
            .with_for_update()
        )
    ).one_or_none()
    if current is None:
        return Recorded(CANCELLED)
    attempt = current.attempts + 1
    await connection.execute(
        sa.insert(webhook_attempts).values(
            delivery_id=delivery.id,
            attempt=attempt,
            started_ms=started_ms,
            duration_ms=outcome.duration_ms,
            response_status=outcome.response_status,
            error=outcome.error,
        )
    )
    values: dict[str, object] = {
        "attempts": attempt,
        "last_attempt_ms": started_ms,
        "last_response_status": outcome.response_status,
        "last_error": outcome.error,
    }
    status: str = current.status
    next_attempt_ms: int | None = None
    if status == PENDING and outcome.succeeded:
        # Even if our lease ran out and another process is sending it again: it arrived.
        status = DELIVERED
        values.update(status=status, delivered_ms=now_ms, lease_until_ms=None)
    elif status == PENDING and current.lease_until_ms == delivery.lease_until_ms:
        delay_ms = retry_delay_ms(attempt)
        if delay_ms is None:
            status = FAILED
            values.update(status=status, lease_until_ms=None)
        else:
            next_attempt_ms = now_ms + delay_ms
            values.update(next_attempt_ms=next_attempt_ms, lease_until_ms=None)
    # Otherwise the delivery is no longer ours to schedule (another process took it over
    # after our lease ran out, or it was cancelled or redelivered meanwhile): the attempt is
    # counted, its status left alone.
    await connection.execute(sa.update(_d).where(_d.c.id == delivery.id).values(**values))
    if (
        subscription_failing_since is not None
        and now_ms - subscription_failing_since > disable_after_ms
    ):
        await _disable(
            connection,
            delivery,
            outcome,
            failing_since_ms=subscription_failing_since,
            now_ms=now_ms,
        )
        if status == PENDING:
            return Recorded(CANCELLED)
    return Recorded(status, next_attempt_ms if status == PENDING else None)


async def _update_subscription_health(
    connection: AsyncConnection, delivery: ClaimedDelivery, outcome: Outcome, *, started_ms: int
) -> int | None:
    """Set or clear failing_since_ms; returns it after a failure (None after a success).
    The subscription row is locked first (see the module's docstring) and only when it
    changes: a healthy subscription's deliveries do not queue for its row."""
    if outcome.succeeded:
        failing_since = await connection.scalar(
            sa.select(_s.c.failing_since_ms).where(_s.c.id == delivery.subscription_id)
        )
        if failing_since is not None:
            await connection.execute(
                sa.update(_s)
                .where(_s.c.id == delivery.subscription_id)
                .values(failing_since_ms=None)
            )
        return None
    failing_since = await connection.scalar(
        sa.update(_s)
        .where(_s.c.id == delivery.subscription_id)
        .values(failing_since_ms=sa.func.coalesce(_s.c.failing_since_ms, started_ms))
        .returning(_s.c.failing_since_ms)
    )
    return None if failing_since is None else int(failing_since)


async def _disable(
    connection: AsyncConnection,
    delivery: ClaimedDelivery,
    outcome: Outcome,
    *,
    failing_since_ms: int,
    now_ms: int,
) -> None:
    days = (now_ms - failing_since_ms) / 86_400_000
    reason = (
        f"every delivery attempt failed since {format_instant(failing_since_ms)} "
        f"({days:.1f} days); the last: {outcome.error}"
    )
    disabled = await connection.execute(
        sa.update(_s)
        .where(_s.c.id == delivery.subscription_id, _s.c.enabled == sa.true())
        .values(enabled=False, disabled_ms=now_ms, disabled_reason=reason, updated_ms=now_ms)
    )
    if disabled.rowcount != 1:
        return  # disabled already, by another process or the API
    await cancel_pending(connection, delivery.subscription_id)
    record_event(
        connection,
        tenant_id=delivery.tenant_id,
        type=DISABLED_EVENT_TYPE,
        entity_id=None,
        subject_id=delivery.subscription_id,
        version=None,
        occurred_ms=now_ms,
        data={
            "subscriptionId": str(delivery.subscription_id),
            "url": delivery.url,
            "failingSince": format_instant(failing_since_ms),
            "reason": reason,
        },
    )


async def cancel_pending(connection: AsyncConnection, subscription_id: UUID) -> int:
    """Cancel a subscription's pending deliveries (it was disabled or deleted); returns how
    many. A caller that changes the subscription row does so first (lock order)."""
    result = await connection.execute(
        sa.update(_d)
        .where(_d.c.subscription_id == subscription_id, _d.c.status == PENDING)
        .values(status=CANCELLED, lease_until_ms=None)
    )
    return int(result.rowcount)
