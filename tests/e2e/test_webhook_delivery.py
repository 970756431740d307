"""Webhook delivery end to end: real `chargeledger serve` processes deliver to a real local
receiver that verifies every request with the Standard Webhooks library. The receiver goes
down, answers 500, answers too slowly; a server is SIGKILLed while the receiver holds its
request; two servers share one PostgreSQL. Every event arrives, in version order per
session, and a webhook-id arrives twice only where a retry happened.

Events are recorded with events.recording.record_event, as the one writer records them, from
this process: the servers learn of them as they would of another process's (NOTIFY on
PostgreSQL, the poll on SQLite). Retry delays are scaled down by a setting, not waited for.
"""

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import webhook_attempts, webhook_deliveries
from tests.support.databases import fresh_database, is_postgresql, requested_backend
from tests.support.servers import ServerProcess
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

# 5 s -> 0.5 ms, 5 min -> 30 ms, 30 min -> 180 ms, 2 h -> 0.7 s, 5 h -> 1.8 s, 10 h -> 3.6 s.
# A generous timeout and lease: only the tests about them make them short, so a loaded
# machine never turns a slow answer into an extra attempt where none is expected.
SERVER_ENV = {
    "CHARGELEDGER_WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8",
    "CHARGELEDGER_WEBHOOK_RETRY_SCALE": "0.0001",
    "CHARGELEDGER_WEBHOOK_TIMEOUT_SECONDS": "10",
    "CHARGELEDGER_WEBHOOK_LEASE_SECONDS": "30",
    "CHARGELEDGER_WEBHOOK_POLL_SECONDS": "0.2",
}
SHORT_TIMEOUT_S = 1.0
SHORT = {
    "CHARGELEDGER_WEBHOOK_TIMEOUT_SECONDS": str(SHORT_TIMEOUT_S),
    "CHARGELEDGER_WEBHOOK_LEASE_SECONDS": "3",
}
WAIT_S = 60


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_path, name_hint="webhooks") as url:
        await upgrade_to_head_async(url)
        yield url


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts servers on the test's database (their log in tmp_path); stops them after."""
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(
            database_url,
            env={**SERVER_ENV, **env},
            log_path=tmp_path / f"server-{len(started)}.log",
        ).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([]) as receiver:
        yield receiver
        receiver.release()


async def subscribe(database: Database, receiver: WebhookReceiver) -> UUID:
    tenant = await create_tenant(database)
    _subscription_id, secret = await add_subscription(database, tenant, receiver.url)
    receiver.secrets.append(secret)
    return tenant


async def arrived(
    receiver: WebhookReceiver, predicate: Callable[[list[Arrival]], bool]
) -> list[Arrival]:
    return await asyncio.to_thread(receiver.wait_for, predicate, WAIT_S)


async def attempts_of(database: Database, tenant: UUID) -> list[tuple[int, int | None, str]]:
    """(attempt, response status, error) of the tenant's attempts, oldest first."""
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(
                webhook_attempts.c.attempt,
                webhook_attempts.c.response_status,
                webhook_attempts.c.error,
            )
            .join(webhook_deliveries, webhook_deliveries.c.id == webhook_attempts.c.delivery_id)
            .where(webhook_deliveries.c.tenant_id == tenant)
            .order_by(webhook_attempts.c.started_ms)
        )
        return [(row.attempt, row.response_status, row.error or "") for row in rows]


async def until(check: Callable[[], object], timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():  # type: ignore[misc]
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.1)


async def all_delivered(database: Database, tenant: UUID, count: int) -> bool:
    async with database.read() as connection:
        statuses = (
            await connection.execute(
                sa.select(webhook_deliveries.c.status).where(
                    webhook_deliveries.c.tenant_id == tenant
                )
            )
        ).scalars()
        return sorted(statuses) == ["delivered"] * count


def assert_in_order_and_duplicated_only_on_retry(arrivals: list[Arrival]) -> None:
    """A session's versions arrive in order: every arrival of version n (its retries too)
    before any of n + 1. A webhook-id that arrived more than once had its earlier arrivals
    answered with a failure."""
    for session, versions in versions_by_session(arrivals).items():
        assert versions == sorted(versions), f"session {session} out of order: {versions}"
    by_id: dict[str, list[Arrival]] = {}
    for arrival in arrivals:
        by_id.setdefault(arrival.webhook_id, []).append(arrival)
    for webhook_id, repeated in by_id.items():
        assert all(not a.accepted for a in repeated[:-1]), f"{webhook_id} repeated after a 2xx"
        assert repeated[-1].accepted, f"{webhook_id} never accepted"


async def test_a_receiver_that_was_down_gets_everything_once_it_is_up(
    database: Database, receiver: WebhookReceiver, servers: Callable[..., ServerProcess]
) -> None:
    servers()
    receiver.go_down()
    tenant = await subscribe(database, receiver)
    sessions = [uuid4() for _ in range(3)]
    for session in sessions:
        await record_session_versions(database, tenant, session, [1, 2])

    async def failed_twice() -> bool:
        return sum(1 for _, _, error in await attempts_of(database, tenant) if error) >= 2

    await until(failed_twice)
    assert all("could not connect" in error for _, _, error in await attempts_of(database, tenant))
    receiver.come_up()

    arrivals = await arrived(receiver, lambda a: len(accepted_ids(a)) == 6)

    assert versions_by_session(arrivals) == {str(s): [1, 2] for s in sessions}
    assert len(arrivals) == 6  # nothing reached it while down, nothing twice since
    await until(lambda: all_delivered(database, tenant, 6))


async def test_answers_of_500_are_retried_until_accepted(
    database: Database, receiver: WebhookReceiver, servers: Callable[..., ServerProcess]
) -> None:
    servers()
    receiver.answer_next(*[Answer(status=500)] * 4)
    tenant = await subscribe(database, receiver)
    sessions = [uuid4() for _ in range(2)]
    for version in (1, 2, 3):
        for session in sessions:
            await record_session_versions(database, tenant, session, [version])

    arrivals = await arrived(receiver, lambda a: len(accepted_ids(a)) == 6)

    assert sum(1 for a in arrivals if a.answered == 500) == 4
    assert len(arrivals) == 10
    assert all(a.verified for a in arrivals)
    assert_in_order_and_duplicated_only_on_retry(arrivals)
    assert {s: sorted(set(v)) for s, v in versions_by_session(arrivals).items()} == {
        str(s): [1, 2, 3] for s in sessions
    }
    await until(lambda: all_delivered(database, tenant, 6))


async def test_an_answer_slower_than_the_timeout_is_tried_again(
    database: Database, receiver: WebhookReceiver, servers: Callable[..., ServerProcess]
) -> None:
    servers(**SHORT)
    receiver.answer_next(Answer(delay_s=SHORT_TIMEOUT_S + 2))
    tenant = await subscribe(database, receiver)
    session = uuid4()
    await record_session_versions(database, tenant, session, [1, 2])

    arrivals = await arrived(receiver, lambda a: len(accepted_ids(a)) == 2)
    await until(lambda: all_delivered(database, tenant, 2))

    assert [a.version for a in arrivals] == [1, 1, 2]
    assert arrivals[0].webhook_id == arrivals[1].webhook_id
    attempts = await attempts_of(database, tenant)
    assert [(attempt, status) for attempt, status, _ in attempts] == [(1, None), (2, 200), (1, 200)]
    assert f"within {SHORT_TIMEOUT_S:g} s" in attempts[0][2]


async def test_a_delivery_held_by_a_killed_server_is_sent_again_after_its_lease(
    database: Database, receiver: WebhookReceiver, servers: Callable[..., ServerProcess]
) -> None:
    first = servers(**SHORT)
    receiver.answer_next(Answer(hold=True))
    tenant = await subscribe(database, receiver)
    session = uuid4()
    await record_session_versions(database, tenant, session, [1, 2])
    await arrived(receiver, lambda a: len(a) == 1)  # the request is in the receiver's hands
    async with database.read() as connection:
        lease_until_ms = await connection.scalar(
            sa.select(webhook_deliveries.c.lease_until_ms).where(
                webhook_deliveries.c.tenant_id == tenant,
                webhook_deliveries.c.lease_until_ms.is_not(None),
            )
        )
    assert lease_until_ms is not None

    first.kill()
    receiver.release()
    servers(**SHORT)

    arrivals = await arrived(receiver, lambda a: len(a) == 3 and a[-1].accepted)
    await until(lambda: all_delivered(database, tenant, 2))

    assert [a.version for a in arrivals] == [1, 1, 2]
    assert arrivals[0].webhook_id == arrivals[1].webhook_id  # the same message, again
    assert arrivals[1].arrived_ms >= lease_until_ms  # not before the dead server's lease ran out
    # The killed server never recorded its attempt; the one that took over did.
    assert [(attempt, status) for attempt, status, _ in await attempts_of(database, tenant)] == [
        (1, 200),
        (1, 200),
    ]


@pytest.mark.skipif(
    not is_postgresql(requested_backend()),
    reason="on SQLite one process delivers (a lock file): there is no shared work to test",
)
async def test_two_servers_on_one_postgresql_deliver_everything_in_order(
    database: Database, receiver: WebhookReceiver, servers: Callable[..., ServerProcess]
) -> None:
    servers()
    servers()
    rng = random.Random(11)
    receiver.answer_next(*[Answer(status=rng.choice([200, 200, 200, 500])) for _ in range(60)])
    tenant = await subscribe(database, receiver)
    sessions = [uuid4() for _ in range(10)]

    async def change(session: UUID) -> None:
        await record_session_versions(database, tenant, session, range(1, 6))

    await asyncio.gather(*(change(session) for session in sessions))

    arrivals = await arrived(receiver, lambda a: len(accepted_ids(a)) == 50)
    await until(lambda: all_delivered(database, tenant, 50))

    assert all(a.verified for a in arrivals)
    assert {s: sorted(set(v)) for s, v in versions_by_session(arrivals).items()} == {
        str(s): [1, 2, 3, 4, 5] for s in sessions
    }
    assert_in_order_and_duplicated_only_on_retry(arrivals)
    assert any(a.answered == 500 for a in arrivals)  # retries did happen
