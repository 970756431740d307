"""Claiming and recording deliveries (chargeledger.webhooks.deliveries_repository): leases,
order per session, retries, giving up, a failing subscription disabled. On a database of its
own (claims take every tenant's due deliveries), emptied of deliveries before each test."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.storage.database import Database
from chargeledger.storage.tables import (
    events,
    webhook_attempts,
    webhook_deliveries,
    webhook_subscriptions,
)
from chargeledger.webhooks.deliveries_repository import (
    CANCELLED,
    DELIVERED,
    FAILED,
    PENDING,
    ClaimedDelivery,
    Recorded,
    any_due,
    claim_due,
    record_attempt,
)
from chargeledger.webhooks.sending import Outcome
from tests.support.databases import migrated_database
from tests.support.webhook_receiver import (
    add_subscription,
    create_tenant,
    record_session_versions,
)

LEASE_MS = 30_000
DAY_MS = 86_400_000
OK = Outcome(200, None, 12)
FAILURE = Outcome(500, "HTTP 500", 34)


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(
        tmp_path_factory.mktemp("deliveries"), name_hint="deliveries"
    ) as database:
        yield database


@pytest.fixture
async def tenant(database: Database) -> UUID:
    async with database.write() as connection:
        await connection.execute(sa.delete(webhook_deliveries))
    return await create_tenant(database)


async def subscribe(database: Database, tenant: UUID) -> UUID:
    subscription_id, _secret = await add_subscription(database, tenant, "https://hooks.example/x")
    return subscription_id


async def claim(database: Database, now_ms: int, limit: int = 100) -> list[ClaimedDelivery]:
    async with database.write() as connection:
        return await claim_due(connection, now_ms=now_ms, lease_ms=LEASE_MS, limit=limit)


async def record(
    database: Database,
    delivery: ClaimedDelivery,
    outcome: Outcome,
    now_ms: int,
    *,
    delay_ms: int | None = 1_000,
    disable_after_ms: int = 5 * DAY_MS,
) -> Recorded:
    async with database.write() as connection:
        return await record_attempt(
            connection,
            delivery,
            outcome,
            started_ms=now_ms,
            now_ms=now_ms,
            retry_delay_ms=lambda _failures: delay_ms,
            disable_after_ms=disable_after_ms,
        )


async def delivery_row(database: Database, delivery_id: UUID) -> sa.Row[Any]:
    async with database.read() as connection:
        return (
            await connection.execute(
                sa.select(webhook_deliveries).where(webhook_deliveries.c.id == delivery_id)
            )
        ).one()


async def subscription_row(database: Database, subscription_id: UUID) -> sa.Row[Any]:
    async with database.read() as connection:
        return (
            await connection.execute(
                sa.select(webhook_subscriptions).where(
                    webhook_subscriptions.c.id == subscription_id
                )
            )
        ).one()


def versions(claimed: list[ClaimedDelivery]) -> list[tuple[str, int]]:
    result = []
    for delivery in claimed:
        data = json.loads(delivery.payload_json)["data"]
        result.append((data["sessionId"], data["version"]))
    return sorted(result)


async def test_a_claim_takes_each_sessions_first_version_under_a_lease(
    database: Database, tenant: UUID
) -> None:
    subscription_id = await subscribe(database, tenant)
    a, b = uuid4(), uuid4()
    await record_session_versions(database, tenant, a, [1, 2, 3])
    await record_session_versions(database, tenant, b, [1, 2])
    now = system_clock_ms()

    claimed = await claim(database, now)

    assert versions(claimed) == sorted([(str(a), 1), (str(b), 1)])
    first = claimed[0]
    assert first.subscription_id == subscription_id
    assert first.url == "https://hooks.example/x"
    assert first.lease_until_ms == now + LEASE_MS
    assert json.loads(first.payload_json)["id"] == str(first.event_id)
    assert (await delivery_row(database, first.id)).lease_until_ms == now + LEASE_MS
    # Leased: nobody else takes them, and the later versions wait for them.
    assert await claim(database, now + 1) == []
    async with database.read() as connection:
        assert not await any_due(connection, now_ms=now + 1)


async def test_a_lease_that_ran_out_is_claimed_again(database: Database, tenant: UUID) -> None:
    """What a process that died while sending held is sent again, by another process."""
    await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    [held] = await claim(database, now)
    assert await claim(database, now + LEASE_MS) == []  # the lease's last millisecond
    [again] = await claim(database, now + LEASE_MS + 1)
    assert again.id == held.id
    assert again.event_id == held.event_id  # the same webhook-id: a duplicate, not a new event
    assert again.lease_until_ms == now + 2 * LEASE_MS + 1


async def test_the_next_version_goes_once_the_earlier_one_is_delivered(
    database: Database, tenant: UUID
) -> None:
    await subscribe(database, tenant)
    session = uuid4()
    await record_session_versions(database, tenant, session, [1, 2])
    now = system_clock_ms()
    [first] = await claim(database, now)

    assert await record(database, first, OK, now) == Recorded(DELIVERED)

    [second] = await claim(database, now)
    assert versions([second]) == [(str(session), 2)]
    row = await delivery_row(database, first.id)
    assert (row.status, row.attempts, row.delivered_ms, row.lease_until_ms) == (
        DELIVERED,
        1,
        now,
        None,
    )
    assert (row.last_attempt_ms, row.last_response_status, row.last_error) == (now, 200, None)


async def test_a_failure_is_retried_after_the_delay_and_holds_back_the_session(
    database: Database, tenant: UUID
) -> None:
    subscription_id = await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1, 2])
    now = system_clock_ms()
    [first] = await claim(database, now)

    assert await record(database, first, FAILURE, now, delay_ms=5_000) == Recorded(
        PENDING, now + 5_000
    )

    row = await delivery_row(database, first.id)
    assert (row.status, row.attempts, row.next_attempt_ms, row.lease_until_ms) == (
        PENDING,
        1,
        now + 5_000,
        None,
    )
    assert (row.last_response_status, row.last_error) == (500, "HTTP 500")
    assert await claim(database, now + 4_999) == []  # not due, and version 2 waits behind it
    [retry] = await claim(database, now + 5_000)
    assert retry.id == first.id
    assert (await subscription_row(database, subscription_id)).failing_since_ms == now


async def test_every_attempt_is_logged(database: Database, tenant: UUID) -> None:
    await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    [delivery] = await claim(database, now)
    await record(database, delivery, Outcome(None, "could not connect", 7), now, delay_ms=1)
    [delivery] = await claim(database, now + 1)
    await record(database, delivery, OK, now + 1)
    async with database.read() as connection:
        attempts = (
            await connection.execute(
                sa.select(webhook_attempts)
                .where(webhook_attempts.c.delivery_id == delivery.id)
                .order_by(webhook_attempts.c.attempt)
            )
        ).all()
    assert [
        (a.attempt, a.started_ms, a.duration_ms, a.response_status, a.error) for a in attempts
    ] == [
        (1, now, 7, None, "could not connect"),
        (2, now + 1, 12, 200, None),
    ]


async def test_when_the_schedule_is_over_the_delivery_fails_and_the_next_goes(
    database: Database, tenant: UUID
) -> None:
    await subscribe(database, tenant)
    session = uuid4()
    await record_session_versions(database, tenant, session, [1, 2])
    now = system_clock_ms()
    [first] = await claim(database, now)

    assert await record(database, first, FAILURE, now, delay_ms=None) == Recorded(FAILED)

    assert (await delivery_row(database, first.id)).status == FAILED
    [second] = await claim(database, now)
    assert versions([second]) == [(str(session), 2)]


async def test_a_success_clears_failing_since(database: Database, tenant: UUID) -> None:
    subscription_id = await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1])
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    first, second = await claim(database, now)
    await record(database, first, FAILURE, now)
    await record(database, second, FAILURE, now + 10)
    assert (await subscription_row(database, subscription_id)).failing_since_ms == now
    [retried, _] = sorted(await claim(database, now + 2_000), key=lambda d: d.id != first.id)
    await record(database, retried, OK, now + 2_000)
    assert (await subscription_row(database, subscription_id)).failing_since_ms is None


async def test_a_subscription_failing_too_long_is_disabled_and_that_is_recorded(
    database: Database, tenant: UUID
) -> None:
    subscription_id = await subscribe(database, tenant)
    watcher_id = await subscribe(database, tenant)  # another subscription of the tenant
    await record_session_versions(database, tenant, uuid4(), [1, 2])
    now = system_clock_ms()
    claimed = await claim(database, now)
    [first] = [d for d in claimed if d.subscription_id == subscription_id]
    await record(database, first, FAILURE, now, disable_after_ms=DAY_MS)
    later = now + DAY_MS  # not longer than a day yet: still enabled
    [first] = [d for d in await claim(database, later) if d.subscription_id == subscription_id]
    recorded = await record(database, first, FAILURE, later, disable_after_ms=DAY_MS)
    assert recorded.status == PENDING
    assert (await subscription_row(database, subscription_id)).enabled
    later += 2_000
    [first] = [d for d in await claim(database, later) if d.subscription_id == subscription_id]

    recorded = await record(database, first, FAILURE, later, disable_after_ms=DAY_MS)

    assert recorded == Recorded(CANCELLED)
    subscription = await subscription_row(database, subscription_id)
    assert (subscription.enabled, subscription.disabled_ms, subscription.updated_ms) == (
        False,
        later,
        later,
    )
    assert "every delivery attempt failed since" in subscription.disabled_reason
    assert "HTTP 500" in subscription.disabled_reason
    async with database.read() as connection:
        statuses = (
            await connection.execute(
                sa.select(webhook_deliveries.c.status).where(
                    webhook_deliveries.c.subscription_id == subscription_id
                )
            )
        ).scalars()
        assert set(statuses) == {CANCELLED}
        disabled_event = (
            await connection.execute(
                sa.select(events).where(
                    events.c.tenant_id == tenant, events.c.type == "webhook.disabled"
                )
            )
        ).one()
    assert disabled_event.subject_id == subscription_id
    data = json.loads(disabled_event.payload_json)["data"]
    assert data["subscriptionId"] == str(subscription_id)
    # The tenant's other subscription hears of it (the disabled one no longer gets events).
    delivered_to = {d.subscription_id for d in await claim(database, later + LEASE_MS + 1)}
    assert delivered_to == {watcher_id}


@pytest.mark.parametrize("change", ["disabled", "deleted"])
async def test_deliveries_of_a_disabled_or_deleted_subscription_are_cancelled_at_claim(
    database: Database, tenant: UUID, change: str
) -> None:
    subscription_id = await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    values = {"enabled": False} if change == "disabled" else {"deleted_ms": now}
    async with database.write() as connection:
        await connection.execute(
            sa.update(webhook_subscriptions)
            .where(webhook_subscriptions.c.id == subscription_id)
            .values(**values)
        )
    assert await claim(database, now) == []
    async with database.read() as connection:
        status = await connection.scalar(
            sa.select(webhook_deliveries.c.status).where(
                webhook_deliveries.c.subscription_id == subscription_id
            )
        )
    assert status == CANCELLED


async def test_a_process_whose_lease_ran_out_only_adds_its_attempt(
    database: Database, tenant: UUID
) -> None:
    """The process taking it over records the slow one's try as abandoned (its outcome
    unknown then); the slow one's late failure is added as an attempt and does not
    reschedule what another process now holds."""
    await subscribe(database, tenant)
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    [slow] = await claim(database, now)
    [taken_over] = await claim(database, now + LEASE_MS + 1)
    row = await delivery_row(database, slow.id)
    due_ms = row.next_attempt_ms
    assert row.attempts == 1  # the abandoned try, on record

    assert await record(database, slow, FAILURE, now + LEASE_MS + 2) == Recorded(PENDING)

    row = await delivery_row(database, slow.id)
    assert (row.attempts, row.lease_until_ms, row.next_attempt_ms) == (
        2,
        taken_over.lease_until_ms,
        due_ms,
    )
    assert await record(database, taken_over, OK, now + LEASE_MS + 3) == Recorded(DELIVERED)
    assert (await delivery_row(database, slow.id)).attempts == 3


async def test_concurrent_claims_take_disjoint_deliveries(database: Database, tenant: UUID) -> None:
    await subscribe(database, tenant)
    for _ in range(12):
        await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()

    batches = await asyncio.gather(*(claim(database, now, limit=3) for _ in range(6)))

    ids = [delivery.id for batch in batches for delivery in batch]
    assert len(ids) == 12
    assert len(set(ids)) == 12


async def test_only_due_and_free_deliveries_count_as_due(database: Database, tenant: UUID) -> None:
    await subscribe(database, tenant)
    async with database.read() as connection:
        assert not await any_due(connection, now_ms=system_clock_ms())
    await record_session_versions(database, tenant, uuid4(), [1])
    now = system_clock_ms()
    async with database.read() as connection:
        assert await any_due(connection, now_ms=now)
        assert not await any_due(connection, now_ms=now - 60_000)
