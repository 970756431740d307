"""Webhook delivery end to end (issue 11): real `chargeledger serve` processes deliver to a real
local receiver that verifies every request with the Standard Webhooks library. The receiver
goes down, answers 500, answers too slowly; a server is SIGKILLed while the receiver holds its
request; two servers share one PostgreSQL.

Everything goes through the HTTP API, as a client would do it: the subscription is created
with POST /v1/webhooks, and the events come from real session changes, sessions POSTed to a
few entities and corrections of some of them (the same externalId, other content: a new
version, `charge-session.updated`). Each scenario then checks the same things against the
API: every event that GET /v1/events lists arrives, signed, with the body the feed lists;
each session's versions arrive in increasing order; and every arrival is accounted for by an
attempt in the delivery log (GET /v1/webhooks/{id}/deliveries), so a webhook-id arrives twice
only where it was tried twice (or, in the SIGKILL test, where the killed server had it in
flight). Retry delays are scaled down by a setting, not waited for.
"""

import asyncio
import os
import random
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.auth.service import ClientCredentials
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from tests.support.api import TenantApi, session_body
from tests.support.databases import fresh_database, is_postgresql, requested_backend
from tests.support.servers import ServerProcess
from tests.support.webhook_receiver import Answer, Arrival, WebhookReceiver

# 5 s -> 0.5 ms, 5 min -> 30 ms, 30 min -> 180 ms, 2 h -> 0.7 s, 5 h -> 1.8 s, 10 h -> 3.6 s:
# a delivery is given up about 20 s after its first attempt. A generous timeout and lease:
# only the tests about them make them short, so a loaded machine never turns a slow answer
# into an extra attempt where none is expected.
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
# The SIGKILL test: the kill must come before the held request times out (a busy machine may
# take a second to post a correction first); the lease is what the next server waits out.
KILL_LEASE_S = 5.0
KILL = {
    "CHARGELEDGER_WEBHOOK_TIMEOUT_SECONDS": "4",
    "CHARGELEDGER_WEBHOOK_LEASE_SECONDS": str(KILL_LEASE_S),
}
WAIT_S = 60
POLL_S = 0.1
T0 = datetime(2024, 5, 27, 13, 0, tzinfo=UTC)
ServerFactory = Callable[..., Awaitable[ServerProcess]]
Login = Callable[[ServerProcess], Awaitable[TenantApi]]


# ---- servers, tenant, receiver --------------------------------------------------------------


@pytest.fixture
async def database_url(tmp_path: Path) -> AsyncIterator[str]:
    """A database of the test's own: its servers deliver only this test's events."""
    async with fresh_database(tmp_path, name_hint="webhooks") as url:
        await upgrade_to_head_async(url)
        yield url


@pytest.fixture
async def credentials(database_url: str) -> ClientCredentials:
    """A tenant and its API client (tenants are made by the operator, not over HTTP)."""
    database = Database(database_url)
    try:
        async with database.write() as connection:
            return await auth.create_tenant(
                connection, name="webhook tenant", now_ms=system_clock_ms()
            )
    finally:
        await database.dispose()


@pytest.fixture
async def servers(database_url: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Starts servers on the test's database (their logs in tmp_path); stops them after."""
    started: list[ServerProcess] = []

    async def start(**env: str) -> ServerProcess:
        server = ServerProcess(
            database_url,
            env={**SERVER_ENV, **env},
            log_path=tmp_path / f"server-{len(started)}.log",
        )
        started.append(server)
        return await asyncio.to_thread(server.start)

    yield start
    for server in started:
        await asyncio.to_thread(server.stop)


@pytest.fixture
async def connect(credentials: ClientCredentials) -> AsyncIterator[Login]:
    """Logs the tenant's client in on a server; closes the HTTP clients after."""
    clients: list[httpx.AsyncClient] = []

    async def login(server: ServerProcess) -> TenantApi:
        http = httpx.AsyncClient(base_url=server.base_url, timeout=30)
        clients.append(http)
        return await TenantApi.logged_in(http, credentials)

    yield login
    for client in clients:
        await client.aclose()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver([]) as receiver:
        yield receiver
        receiver.release()


async def subscribe(api: TenantApi, receiver: WebhookReceiver) -> str:
    """POST /v1/webhooks for every event type; the receiver learns the secret shown once."""
    response = await api.http.post(
        "/v1/webhooks", json={"url": receiver.url, "description": "test receiver"}
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    receiver.secrets.append(created["secret"])
    return str(created["id"])


# ---- session changes through the API --------------------------------------------------------


@dataclass
class PostedSession:
    """A session this test posts under its externalId, and what each POST answered: the
    record of version 1, 2, ... (every POST changes the content, so each makes a version)."""

    entity_id: str
    external_id: str
    start: datetime
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return str(self.records[0]["id"])


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


async def new_sessions(api: TenantApi, *, entities: int, per_entity: int) -> list[PostedSession]:
    """Entities made through the API, and sessions to post to them (not posted yet), each in
    a time slot of its own."""
    sessions = []
    for number in range(entities):
        entity = await api.create_entity("EV", name=f"car {number}")
        for slot in range(per_entity):
            sessions.append(
                PostedSession(entity["id"], f"trip-{number}-{slot}", T0 + timedelta(hours=3 * slot))
            )
    return sessions


async def post_version(api: TenantApi, session: PostedSession) -> None:
    """POST the session with new content: it is created the first time (201), corrected
    after (200, a new version), as the README describes corrections."""
    version = len(session.records) + 1
    body = session_body(
        session.external_id,
        _instant(session.start),
        _instant(session.start + timedelta(hours=2)),
        total_kwh=10.0 + version,
    )
    response = await api.post_session(session.entity_id, body)
    assert response.status_code == (201 if version == 1 else 200), response.text
    session.records.append(response.json())


async def post_versions(
    api: TenantApi, sessions: Sequence[PostedSession], versions: Sequence[int]
) -> None:
    """Post sessions[i] up to versions[i] times in all, round by round (every session's next
    version before any session's one after), so that a correction is often committed while
    the session's previous event is still being delivered."""
    for round_number in range(max(versions)):
        for session, count in zip(sessions, versions, strict=True):
            if len(session.records) <= round_number < count:
                await post_version(api, session)


def event_count(sessions: Sequence[PostedSession]) -> int:
    return sum(len(session.records) for session in sessions)


# ---- what the API says happened -------------------------------------------------------------


async def pages(api: TenantApi, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list, following the continuation tokens; the events feed has no
    last page, so it stops there when `meta.hasMore` is false."""
    items: list[dict[str, Any]] = []
    query: dict[str, Any] = {"pageSize": 1000}
    while True:
        response = await api.http.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["data"])
        token = page["meta"]["continuationToken"]
        if token is None or page["meta"].get("hasMore") is False:
            return items
        query = {**query, "continuationToken": token}


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = WAIT_S) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not within {timeout_s} s: {what}"
        await asyncio.sleep(POLL_S)


async def all_delivered(api: TenantApi, subscription_id: str, count: int) -> list[dict[str, Any]]:
    """The subscription's delivery log once it holds `count` deliveries, all delivered."""
    log: list[dict[str, Any]] = []

    async def done() -> bool:
        nonlocal log
        log = await pages(api, f"/v1/webhooks/{subscription_id}/deliveries")
        return len(log) == count and all(item["status"] == "delivered" for item in log)

    await until(done, f"{count} deliveries delivered")
    return log


async def arrived(
    receiver: WebhookReceiver, predicate: Callable[[list[Arrival]], bool]
) -> list[Arrival]:
    return await asyncio.to_thread(receiver.wait_for, predicate, WAIT_S)


@dataclass
class Delivered:
    feed: list[dict[str, Any]]  # GET /v1/events, oldest first
    log: dict[str, dict[str, Any]]  # the delivery log by event id (= webhook-id)
    arrivals: list[Arrival]  # everything the receiver got, in arrival order


async def assert_every_event_delivered_in_order(
    api: TenantApi,
    subscription_id: str,
    receiver: WebhookReceiver,
    sessions: Sequence[PostedSession],
    *,
    unrecorded: Counter[str] | None = None,
) -> Delivered:
    """What every scenario proves, once the delivery log says all is delivered:
    - the feed lists exactly the changes posted, each with the record its POST answered;
    - every event of the feed arrived, verified, with the body the feed lists (less its
      sequence), and nothing else arrived;
    - per session, the first arrivals of its webhook-ids come in increasing version order;
    - each webhook-id arrived at most as often as the log shows attempts for it, plus the
      attempts in `unrecorded` (sent by a server killed before it could record them): a
      duplicate only on a retry."""
    feed = await pages(api, "/v1/events")
    posted = {
        (session.id, version): record
        for session in sessions
        for version, record in enumerate(session.records, start=1)
    }
    assert sorted((e["data"]["sessionId"], e["data"]["version"]) for e in feed) == sorted(posted)
    for event in feed:
        data = event["data"]
        assert data["record"] == posted[(data["sessionId"], data["version"])]
        expected_type = "created" if data["version"] == 1 else "updated"
        assert event["type"] == f"charge-session.{expected_type}", event

    log = {item["eventId"]: item for item in await all_delivered(api, subscription_id, len(feed))}
    arrivals = receiver.snapshot()
    events = {event["id"]: event for event in feed}
    assert log.keys() == events.keys()  # one delivery per event

    assert all(arrival.verified for arrival in arrivals), [a.webhook_id for a in arrivals]
    assert {arrival.webhook_id for arrival in arrivals} == events.keys()
    for arrival in arrivals:
        listed = {k: v for k, v in events[arrival.webhook_id].items() if k != "sequence"}
        assert arrival.payload == listed, f"{arrival.webhook_id} differs from the feed"

    first_versions: dict[str, list[int]] = {}
    seen: set[str] = set()
    for arrival in arrivals:
        if arrival.webhook_id not in seen:
            seen.add(arrival.webhook_id)
            first_versions.setdefault(str(arrival.session_id), []).append(int(arrival.version or 0))
    assert first_versions == {
        session.id: list(range(1, len(session.records) + 1)) for session in sessions
    }

    unrecorded = unrecorded or Counter()
    for webhook_id, times in Counter(a.webhook_id for a in arrivals).items():
        attempts = log[webhook_id]["attempts"] + unrecorded[webhook_id]
        assert times <= attempts, f"{webhook_id} arrived {times} times, tried {attempts}"
    return Delivered(feed, log, arrivals)


def history(delivery: dict[str, Any]) -> list[tuple[int, int | None]]:
    """(attempt, response status) of a delivery's attempts, first first."""
    return [(a["attempt"], a["responseStatus"]) for a in delivery["attemptHistory"]]


# ---- the scenarios --------------------------------------------------------------------------


async def test_a_receiver_that_was_down_gets_everything_in_order_once_it_is_up(
    servers: ServerFactory,
    connect: Login,
    receiver: WebhookReceiver,
) -> None:
    """Changes posted while the receiver is down queue (connection errors, retried); once it
    is up every event arrives once, in version order per session."""
    api = await connect(await servers())
    receiver.go_down()
    subscription_id = await subscribe(api, receiver)
    sessions = await new_sessions(api, entities=2, per_entity=2)
    await post_versions(api, sessions, [3, 1, 2, 3])

    async def failed_twice() -> bool:
        log = await pages(api, f"/v1/webhooks/{subscription_id}/deliveries")
        errors = [a["error"] for item in log for a in item["attemptHistory"]]
        assert all("could not connect" in error for error in errors), errors
        return len(errors) >= 2

    await until(failed_twice, "two failed attempts")
    receiver.come_up()

    delivered = await assert_every_event_delivered_in_order(
        api, subscription_id, receiver, sessions
    )

    assert len(delivered.arrivals) == event_count(sessions)  # nothing twice
    assert any(item["attempts"] > 1 for item in delivered.log.values())  # it was down


async def test_answers_of_500_are_retried_until_accepted(
    servers: ServerFactory,
    connect: Login,
    receiver: WebhookReceiver,
) -> None:
    """The first four requests are answered 500: each of those events is sent again (same
    webhook-id) until accepted, the log shows every attempt, and order per session holds."""
    api = await connect(await servers())
    receiver.answer_next(*[Answer(status=500)] * 4)
    subscription_id = await subscribe(api, receiver)
    sessions = await new_sessions(api, entities=2, per_entity=2)
    await post_versions(api, sessions, [3, 1, 2, 3])

    delivered = await assert_every_event_delivered_in_order(
        api, subscription_id, receiver, sessions
    )

    assert sum(1 for a in delivered.arrivals if a.answered == 500) == 4
    assert len(delivered.arrivals) == event_count(sessions) + 4
    for delivery in delivered.log.values():
        statuses = [status for _, status in history(delivery)]
        assert statuses == [500] * (len(statuses) - 1) + [200], delivery
    assert sum(item["attempts"] - 1 for item in delivered.log.values()) == 4


async def test_an_answer_slower_than_the_timeout_is_tried_again(
    servers: ServerFactory,
    connect: Login,
    receiver: WebhookReceiver,
) -> None:
    """The first request is answered only after the sender's timeout: it is recorded as a
    failed attempt without a status and sent again; everything still arrives in order."""
    api = await connect(await servers(**SHORT))
    receiver.answer_next(Answer(delay_s=SHORT_TIMEOUT_S + 2))
    subscription_id = await subscribe(api, receiver)
    sessions = await new_sessions(api, entities=2, per_entity=2)
    await post_versions(api, sessions, [3, 1, 2, 2])

    delivered = await assert_every_event_delivered_in_order(
        api, subscription_id, receiver, sessions
    )

    slow = delivered.arrivals[0]  # the first arrival took the scripted answer
    assert [a.webhook_id for a in delivered.arrivals].count(slow.webhook_id) >= 2
    attempts = delivered.log[slow.webhook_id]["attemptHistory"]
    assert attempts[0]["responseStatus"] is None
    assert f"within {SHORT_TIMEOUT_S:g} s" in attempts[0]["error"]
    assert attempts[-1]["responseStatus"] == 200


async def test_a_delivery_held_by_a_killed_server_is_sent_again_after_its_lease(
    servers: ServerFactory,
    connect: Login,
    receiver: WebhookReceiver,
) -> None:
    """A server is SIGKILLed while the receiver holds its request (a session's version 1;
    its correction waits behind it). The next server sends that event again, only after the
    dead server's lease ran out, then the rest in order, changes posted to it too."""
    first = await servers(**KILL)
    api = await connect(first)
    subscription_id = await subscribe(api, receiver)
    sessions = await new_sessions(api, entities=2, per_entity=2)
    held_session, others = sessions[0], sessions[1:]
    await post_versions(api, others, [2, 1, 3])
    await all_delivered(api, subscription_id, event_count(others))  # nothing else in flight

    receiver.answer_next(Answer(hold=True))
    posted_ms = system_clock_ms()
    await post_versions(api, [held_session], [2])
    arrivals = await arrived(receiver, lambda a: any(x.session_id == held_session.id for x in a))
    (held,) = [a for a in arrivals if a.session_id == held_session.id]
    assert held.version == 1

    first.kill()
    receiver.release()  # the held request's connection is dead: its answer goes nowhere
    api = await connect(await servers(**KILL))
    await post_versions(api, sessions, [3, 3, 1, 3])

    delivered = await assert_every_event_delivered_in_order(
        api, subscription_id, receiver, sessions
    )

    again = [a for a in delivered.arrivals if a.webhook_id == held.webhook_id]
    assert len(again) == 2  # the same message, again
    assert again[1].arrived_ms >= posted_ms + KILL_LEASE_S * 1000  # not before the lease ran out
    # The killed server could not record its attempt; the one that took it over records it
    # as abandoned (outcome unknown), then its own: the log explains the duplicate.
    attempts = delivered.log[held.webhook_id]["attemptHistory"]
    assert history(delivered.log[held.webhook_id]) == [(1, None), (2, 200)]
    assert attempts[0]["error"].startswith("outcome unknown: the process sending it stopped")


def _connection_ports(process_group: int, remote_port: int) -> set[int]:
    """Local ports of the TCP connections to `remote_port` held open by the processes of a
    group (a server and its workers), read from Linux's /proc."""
    inodes: set[str] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != process_group:
                continue
            for fd in os.listdir(f"/proc/{pid}/fd"):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[len("socket:[") : -1])
        except OSError:
            continue  # a process that ended meanwhile
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, inode = fields[1], fields[2], fields[9]
        if inode in inodes and int(remote.split(":")[1], 16) == remote_port:
            ports.add(int(local.split(":")[1], 16))
    return ports


@pytest.mark.skipif(
    not is_postgresql(requested_backend()),
    reason="on SQLite one process delivers (a lock file): there is no shared work to test",
)
async def test_two_servers_on_one_postgresql_deliver_everything_in_order(
    servers: ServerFactory,
    connect: Login,
    receiver: WebhookReceiver,
) -> None:
    """Two servers on one database, changes posted to both at once (a session's corrections
    alternate between them), a quarter of the answers 500: both deliver, every event arrives
    once accepted, in order per session, repeated only where retried."""
    pair = [await servers(), await servers()]
    apis = [await connect(server) for server in pair]
    rng = random.Random(11)
    receiver.answer_next(*[Answer(status=rng.choice([200, 200, 200, 500])) for _ in range(60)])
    subscription_id = await subscribe(apis[0], receiver)
    sessions = await new_sessions(apis[0], entities=3, per_entity=3)
    versions = [5, 1, 4, 2, 5, 3, 1, 4, 5]

    async def change(index: int, session: PostedSession, count: int) -> None:
        for version in range(count):
            await post_version(apis[(index + version) % 2], session)

    await asyncio.gather(
        *(
            change(index, s, count)
            for index, (s, count) in enumerate(zip(sessions, versions, strict=True))
        )
    )

    delivered = await assert_every_event_delivered_in_order(
        apis[1], subscription_id, receiver, sessions
    )

    assert any(a.answered == 500 for a in delivered.arrivals)  # retries did happen
    for server in pair:
        assert server.process is not None
        ports = _connection_ports(server.process.pid, receiver.port)
        assert ports & {a.peer_port for a in delivered.arrivals}, f"{server.base_url} sent none"
