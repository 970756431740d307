"""Acceptance (issue 11): GET /v1/events pages through 100,000 events exactly once while
sessions keep changing.

A real server on a database of its own holds 100,000 events of one tenant. A client pages
through them with pageSize=1000 over HTTP while several writers (real transactions on their
own connections, overlapping on PostgreSQL) keep recording session changes of that tenant.
Every event is seen exactly once, in strictly increasing sequence, with no gap; and the token
of the page that caught up, kept and used again later, picks up exactly what was written since.
"""

import asyncio
import random
from collections import Counter
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from tests.events.support import SessionEvent, created, record, without_sequences
from tests.support.api import TenantApi
from tests.support.databases import fresh_database, is_postgresql, requested_backend
from tests.support.servers import ServerProcess

EXISTING_EVENTS = 100_000
SEED_BATCH = 10_000  # events per seeding transaction
PAGE_SIZE = 1000
# Transactions the writers may commit per page the client reads: writing goes on throughout,
# yet the client is sure to catch up with it in the end.
CREDITS_PER_PAGE = 6
INTERLEAVED_PAGES = 5  # pages each read only after the writers committed again
WRITERS = 4 if is_postgresql(requested_backend()) else 2
DEADLINE_S = 120.0  # for every wait on the writers; a hang fails, it does not block


class Writers:
    """Tasks that each commit session changes of one tenant, one transaction per credit the
    client grants, until stopped."""

    def __init__(self, database: Database, tenant_id: UUID) -> None:
        self.database = database
        self.tenant_id = tenant_id
        self.credits = 0
        self.committed = 0  # transactions
        self.written: list[dict[str, Any]] = []  # events as the feed must list them
        self._stopping = False
        self._changed = asyncio.Condition()
        self._tasks = [asyncio.create_task(self._write(index)) for index in range(WRITERS)]

    async def grant(self, transactions: int) -> None:
        async with self._changed:
            self.credits += transactions
            self._changed.notify_all()

    async def wait_for_commits(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: self.committed >= count), DEADLINE_S
            )

    async def stop(self) -> None:
        async with self._changed:
            self._stopping = True
            self._changed.notify_all()
        await asyncio.gather(*self._tasks)

    async def _write(self, index: int) -> None:
        rng = random.Random(index)
        entity_id = uuid4()
        sessions = {uuid4(): 1 for _ in range(5)}  # session -> its current version
        while True:
            async with self._changed:
                await self._changed.wait_for(lambda: self._stopping or self.credits > 0)
                if self._stopping:
                    return
                self.credits -= 1
            changes = []
            for session_id in rng.sample(list(sessions), rng.randint(1, 3)):
                sessions[session_id] += 1
                changes.append(
                    SessionEvent(
                        "charge-session.updated", entity_id, session_id, sessions[session_id]
                    )
                )
            listed = await record(self.database, self.tenant_id, changes)
            async with self._changed:
                self.written.extend(listed)
                self.committed += 1
                self._changed.notify_all()


@pytest.fixture
async def feed_server(tmp_path: Path) -> AsyncIterator[tuple[Database, str]]:
    """A database of its own (100,000 events stay out of the suite's) and a server on it."""
    async with fresh_database(tmp_path, name_hint="feed") as url:
        await upgrade_to_head_async(url)
        database = Database(url)
        server = ServerProcess(url, log_path=tmp_path / "server.log")
        try:
            await asyncio.to_thread(server.start)
            yield database, server.base_url
        finally:
            await asyncio.to_thread(server.stop)
            await database.dispose()


async def _seed(database: Database, tenant_id: UUID) -> list[dict[str, Any]]:
    entity_ids = [uuid4() for _ in range(50)]
    seeded: list[dict[str, Any]] = []
    for start in range(0, EXISTING_EVENTS, SEED_BATCH):
        batch = [created(entity_ids[n % len(entity_ids)]) for n in range(start, start + SEED_BATCH)]
        seeded.extend(await record(database, tenant_id, batch))
    return seeded


async def _read(http: httpx.AsyncClient, url: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    response = await http.get(url)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    seen.extend(body["data"])
    return body


async def test_events_page_through_100000_exactly_once_while_sessions_keep_changing(
    feed_server: tuple[Database, str],
) -> None:
    database, base_url = feed_server
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="feed", now_ms=system_clock_ms())
    seeded = await _seed(database, credentials.tenant_id)

    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        api = await TenantApi.logged_in(http, credentials)
        writers = Writers(database, api.tenant_id)
        seen: list[dict[str, Any]] = []
        try:
            body = {"links": {"next": f"/v1/events?pageSize={PAGE_SIZE}"}}
            pages = 0
            while pages == 0 or body["meta"]["hasMore"]:
                await writers.grant(CREDITS_PER_PAGE)
                if pages < INTERLEAVED_PAGES:
                    await writers.wait_for_commits((pages + 1) * CREDITS_PER_PAGE)
                body = await _read(http, body["links"]["next"], seen)
                pages += 1
            caught_up = len(seen)
            committed_while_paging = writers.committed
            # Kept while more is written, then used again.
            resume_url = body["links"]["next"]
            committed = writers.committed
            await writers.grant(CREDITS_PER_PAGE)
            await writers.wait_for_commits(committed + CREDITS_PER_PAGE)
        finally:
            await writers.stop()
        body = await _read(http, resume_url, seen)
        while body["meta"]["hasMore"]:
            body = await _read(http, body["links"]["next"], seen)

    sequences = [item["sequence"] for item in seen]
    assert pages >= EXISTING_EVENTS // PAGE_SIZE
    assert committed_while_paging >= INTERLEAVED_PAGES * CREDITS_PER_PAGE, "written meanwhile"
    assert len(seen) > caught_up, "the kept token must pick up what was written since"
    assert all(a < b for a, b in pairwise(sequences)), "increasing"
    assert sequences[:EXISTING_EVENTS] == list(range(1, EXISTING_EVENTS + 1)), "no gap"
    assert sequences == list(range(1, len(seen) + 1)), "no gap in what was written meanwhile"
    duplicates = [i for i, n in Counter(item["id"] for item in seen).items() if n > 1]
    assert duplicates == []
    # Exactly what was written, each exactly as recorded: the seed first (it committed before
    # paging began), then the writers' events in whichever order they committed.
    listed = without_sequences(seen)
    assert listed[:EXISTING_EVENTS] == seeded
    later = sorted(listed[EXISTING_EVENTS:], key=lambda event: event["id"])
    assert later == sorted(writers.written, key=lambda event: event["id"])
