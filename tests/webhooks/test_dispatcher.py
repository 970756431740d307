"""The dispatcher (chargeledger.webhooks.dispatcher) in this process, delivering to a real
local receiver that verifies every request: order per session, retries, giving up, wake-ups,
and one delivering process on SQLite. On a database of its own, emptied before each test."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.domain.retry_schedule import RetrySchedule
from chargeledger.events.recording import record_event
from chargeledger.settings import Settings
from chargeledger.storage.database import Database, run_before_commit
from chargeledger.storage.tables import webhook_attempts, webhook_deliveries
from chargeledger.webhooks.deliveries_repository import DELIVERED, FAILED
from chargeledger.webhooks.dispatcher import Dispatcher, DispatcherConfig
from tests.support.databases import migrated_database
from tests.support.webhook_receiver import (
    Answer,
    Arrival,
    WebhookReceiver,
    accepted_ids,
    add_subscription,
    create_tenant,
    record_session_versions,
    versions_by_session,
)

# Retries within milliseconds; a poll so slow that only a wake-up explains a prompt delivery.
FAST = DispatcherConfig(
    timeout_s=10,
    lease_ms=30_000,
    poll_s=60,
    concurrency=8,
    retry_schedule=RetrySchedule(scale=1e-4),
    allowed_networks="127.0.0.0/8",
)
DispatcherFactory = Callable[..., Dispatcher]


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(
        tmp_path_factory.mktemp("dispatcher"), name_hint="dispatcher"
    ) as database:
        yield database


@pytest.fixture
async def tenant(database: Database) -> UUID:
    async with database.write() as connection:
        await connection.execute(sa.delete(webhook_deliveries))
    return await create_tenant(database)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([]) as receiver:
        yield receiver


@pytest.fixture
async def start_dispatcher(database: Database) -> AsyncIterator[DispatcherFactory]:
    started: list[Dispatcher] = []

    def start(config: DispatcherConfig = FAST, **options: object) -> Dispatcher:
        dispatcher = Dispatcher(database, config, clock_ms=system_clock_ms, **options)  # type: ignore[arg-type]
        dispatcher.start()
        started.append(dispatcher)
        return dispatcher

    yield start
    for dispatcher in started:
        await dispatcher.stop()


async def subscribe(database: Database, tenant: UUID, receiver: WebhookReceiver) -> UUID:
    subscription_id, secret = await add_subscription(database, tenant, receiver.url)
    receiver.secrets.append(secret)
    return subscription_id


async def wait_for(receiver: WebhookReceiver, predicate: Callable[..., bool]) -> list[Arrival]:
    return await asyncio.to_thread(receiver.wait_for, predicate, 30)


async def statuses(database: Database) -> dict[str, int]:
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(webhook_deliveries.c.status, sa.func.count()).group_by(
                webhook_deliveries.c.status
            )
        )
        return {row[0]: row[1] for row in rows}


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    """Poll a database condition until it holds, failing at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


async def test_every_event_arrives_verified_and_in_order_per_session(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    await subscribe(database, tenant, receiver)
    start_dispatcher()
    sessions = [uuid4() for _ in range(4)]
    # Interleaved, as sessions of a fleet change.
    for version in (1, 2, 3):
        for session in sessions:
            await record_session_versions(database, tenant, session, [version])

    arrivals = await wait_for(receiver, lambda a: len(accepted_ids(a)) == 12)

    assert all(arrival.verified for arrival in arrivals)
    assert versions_by_session(arrivals) == {str(s): [1, 2, 3] for s in sessions}
    assert len(arrivals) == 12  # nothing twice: no attempt failed
    await until(lambda: _equals(statuses(database), {DELIVERED: 12}))


async def _equals(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


async def test_a_receiver_answering_500_gets_the_same_delivery_again(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    await subscribe(database, tenant, receiver)
    receiver.answer_next(Answer(status=500), Answer(status=503))
    start_dispatcher()
    session = uuid4()
    await record_session_versions(database, tenant, session, [1, 2])

    arrivals = await wait_for(receiver, lambda a: len(accepted_ids(a)) == 2)

    assert [(a.version, a.answered) for a in arrivals] == [(1, 500), (1, 503), (1, 200), (2, 200)]
    assert len({a.webhook_id for a in arrivals[:3]}) == 1  # one message, retried
    await until(lambda: _equals(statuses(database), {DELIVERED: 2}))
    async with database.read() as connection:
        attempts = (
            await connection.execute(
                sa.select(webhook_attempts.c.attempt, webhook_attempts.c.response_status)
                .join(webhook_deliveries, webhook_deliveries.c.id == webhook_attempts.c.delivery_id)
                .where(webhook_deliveries.c.tenant_id == tenant)
                .order_by(webhook_attempts.c.started_ms, webhook_attempts.c.attempt)
            )
        ).all()
    assert [tuple(a) for a in attempts] == [(1, 500), (2, 503), (3, 200), (1, 200)]


async def test_a_delivery_that_never_succeeds_is_given_up_and_the_next_goes(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    await subscribe(database, tenant, receiver)
    receiver.answer_by_default(Answer(status=500))
    schedule = RetrySchedule(scale=1e-6)  # the whole schedule in milliseconds
    start_dispatcher(replace(FAST, retry_schedule=schedule))
    await record_session_versions(database, tenant, uuid4(), [1, 2])

    arrivals = await wait_for(receiver, lambda a: len(a) == 2 * schedule.attempts)

    assert [a.version for a in arrivals] == [1] * schedule.attempts + [2] * schedule.attempts
    await until(lambda: _equals(statuses(database), {FAILED: 2}))


async def test_a_refused_target_is_a_failed_attempt_and_nothing_is_sent(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    await subscribe(database, tenant, receiver)
    start_dispatcher(replace(FAST, allowed_networks=""))
    await record_session_versions(database, tenant, uuid4(), [1])

    async def refused_once() -> bool:
        async with database.read() as connection:
            error = await connection.scalar(
                sa.select(webhook_attempts.c.error)
                .join(webhook_deliveries, webhook_deliveries.c.id == webhook_attempts.c.delivery_id)
                .where(webhook_deliveries.c.tenant_id == tenant)
            )
        return error is not None and error.startswith("refused:") and "loopback" in error

    await until(refused_once)
    assert receiver.snapshot() == []


async def test_deliveries_queued_by_another_process_are_found(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    """On PostgreSQL a NOTIFY wakes the dispatcher (its poll is a minute); on SQLite, where
    only the poll can tell, it is short."""
    await subscribe(database, tenant, receiver)
    poll_s = 60 if database.dialect == "postgresql" else 0.2
    dispatcher = start_dispatcher(replace(FAST, poll_s=poll_s))
    await until(lambda: _true(dispatcher.delivering))
    if database.dialect == "postgresql":
        # A NOTIFY before LISTEN reaches nobody (the poll would find it, a minute later).
        await asyncio.wait_for(dispatcher.listening.wait(), timeout=30)
    # Waiting, nothing pending: from here only a NOTIFY (or the poll) can wake it.
    await until(lambda: _true(dispatcher.idle))
    session = uuid4()
    # A transaction of "another process": no in-process wake-up follows its commit.
    other = Database(database.url)
    try:
        async with other.engine.begin() as connection:
            record_event(
                connection,
                tenant_id=tenant,
                type="charge-session.created",
                entity_id=None,
                subject_id=session,
                version=1,
                occurred_ms=system_clock_ms(),
                data={"sessionId": str(session), "version": 1},
            )
            await run_before_commit(connection)
            connection.info.clear()
    finally:
        await other.dispose()

    arrivals = await wait_for(receiver, lambda a: len(accepted_ids(a)) == 1)
    assert arrivals[0].session_id == str(session)


async def _true(value: bool) -> bool:
    return value


async def test_two_dispatchers_deliver_each_event_once(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    """On PostgreSQL both deliver, sharing the work; on SQLite the one holding the lock file
    does, and the other takes over when it stops."""
    await subscribe(database, tenant, receiver)
    first = start_dispatcher(lock_retry_s=0.1)
    await until(lambda: _true(first.delivering))
    second = start_dispatcher(lock_retry_s=0.1)
    sessions = [uuid4() for _ in range(6)]
    for version in (1, 2):
        for session in sessions:
            await record_session_versions(database, tenant, session, [version])

    arrivals = await wait_for(receiver, lambda a: len(accepted_ids(a)) == 12)

    assert len(arrivals) == 12
    assert versions_by_session(arrivals) == {str(s): [1, 2] for s in sessions}
    if database.dialect == "sqlite":
        assert not second.delivering
        await first.stop()
        await until(lambda: _true(second.delivering))
        await record_session_versions(database, tenant, sessions[0], [3])
        arrivals = await wait_for(receiver, lambda a: len(accepted_ids(a)) == 13)
        assert arrivals[-1].version == 3
    else:
        assert second.delivering


async def test_a_delivery_that_cannot_be_signed_is_a_failed_attempt_on_record(
    database: Database,
    tenant: UUID,
    receiver: WebhookReceiver,
    start_dispatcher: DispatcherFactory,
) -> None:
    """Not a silent retry after every lease: the attempt and its error are recorded."""
    await add_subscription(database, tenant, receiver.url, secret="whsec_")
    start_dispatcher()
    await record_session_versions(database, tenant, uuid4(), [1])

    async def recorded() -> bool:
        async with database.read() as connection:
            error = await connection.scalar(
                sa.select(webhook_deliveries.c.last_error).where(
                    webhook_deliveries.c.tenant_id == tenant
                )
            )
        return error is not None and error.startswith("not sent: EmptyWebhookSecretError")

    await until(recorded)
    assert receiver.snapshot() == []


def test_the_settings_make_the_config_and_a_lease_must_outlast_the_timeout() -> None:
    settings = Settings(
        webhook_timeout_seconds=10,
        webhook_lease_seconds=45,
        webhook_retry_scale=0.5,
        webhook_disable_after_hours=48,
        webhook_allowed_networks="10.1.2.0/24",
    )
    config = DispatcherConfig.from_settings(settings)
    assert (config.timeout_s, config.lease_ms, config.disable_after_ms) == (10, 45_000, 172_800_000)
    assert config.retry_schedule == RetrySchedule(scale=0.5)
    assert config.allowed_networks == "10.1.2.0/24"
    with pytest.raises(ValueError, match="longer than webhook_timeout_seconds"):
        Settings(webhook_timeout_seconds=10, webhook_lease_seconds=10)
    with pytest.raises(ValueError, match="does not appear to be"):
        Settings(webhook_allowed_networks="10.1.2.0/24,intranet")
