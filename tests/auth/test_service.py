"""Authenticating a client (services/auth.authenticate_client), through the real app in
process, with a hasher the test can hold mid-hash: the secret is hashed with no database
connection held, a busy process answers 503 at once, and the timing-oracle protection and
rehashing still work."""

import asyncio
import threading
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.auth.service import ClientCredentials
from chargeledger.storage.database import Database
from chargeledger.storage.tables import api_clients
from tests.support.in_process import app_in_process, client_of


class HeldHasher(PasswordHasher):
    """The current cost, but every verification waits until the test lets it go on."""

    def __init__(self, *, hold: bool = True) -> None:
        super().__init__(time_cost=auth._hasher.time_cost, memory_cost=auth._hasher.memory_cost)
        self.verifying = threading.Event()
        self.go_on = threading.Event()
        if not hold:
            self.go_on.set()
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Any:
        self.verifications += 1
        self.verifying.set()
        assert self.go_on.wait(timeout=60), "the test never let the verification go on"
        return super().verify(hash, password)


async def new_client(database: Database) -> ClientCredentials:
    async with database.write() as connection:
        return await auth.create_tenant(connection, name="auth test", now_ms=system_clock_ms())


def body(credentials: ClientCredentials, secret: str | None = None) -> dict[str, str]:
    return {
        "clientId": str(credentials.client_id),
        "clientSecret": secret or credentials.client_secret,
    }


async def wait_for(condition: threading.Event) -> None:
    assert await asyncio.to_thread(condition.wait, 60)


async def test_the_secret_is_verified_with_no_database_connection_held(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding 2 of issue 10: the argon2id check ran inside the write transaction, so on
    SQLite a flood of wrong secrets held the only write lock, hash after hash."""
    credentials = await new_client(database)
    # Without the process's background workers (webhook dispatcher, statement runs), whose
    # polls take a connection now and then: the count below is the request's alone.
    quiet = {"webhook_dispatcher": False, "statement_runs_worker": False}
    async with app_in_process(database_url, monkeypatch, **quiet) as (app, state):
        hasher = HeldHasher()
        monkeypatch.setattr(auth, "_hasher", hasher)
        async with client_of(app, "192.0.2.10") as http:
            answer = asyncio.create_task(http.post("/v1/authentication", json=body(credentials)))
            try:
                await wait_for(hasher.verifying)
                pool = state.database.engine.pool
                assert isinstance(pool, sa.pool.QueuePool)
                assert pool.checkedout() == 0
                # And another writer goes ahead meanwhile (on SQLite: the write lock is free).
                async with database.write() as connection:
                    await connection.execute(sa.text("SELECT 1"))
            finally:
                hasher.go_on.set()
            response = await answer
    assert response.status_code == 200, response.text


async def test_a_full_hashing_queue_answers_503_with_retry_after_at_once(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = await new_client(database)
    async with app_in_process(
        database_url, monkeypatch, auth_hash_concurrency=1, auth_hash_queue=0
    ) as (app, _state):
        hasher = HeldHasher()
        monkeypatch.setattr(auth, "_hasher", hasher)
        async with client_of(app, "192.0.2.20") as first, client_of(app, "192.0.2.21") as second:
            held = asyncio.create_task(first.post("/v1/authentication", json=body(credentials)))
            try:
                await wait_for(hasher.verifying)
                refused = await second.post("/v1/authentication", json=body(credentials))
            finally:
                hasher.go_on.set()
            assert (await held).status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:chargeledger:problem:authentication-busy"
    assert int(refused.headers["retry-after"]) >= 1


async def test_an_unknown_client_id_still_costs_a_verification(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown and known clientIds take the same time: no oracle for which ones exist."""
    async with app_in_process(database_url, monkeypatch) as (app, _state):
        hasher = HeldHasher(hold=False)
        monkeypatch.setattr(auth, "_hasher", hasher)
        async with client_of(app, "192.0.2.30") as http:
            for client_id in (str(uuid.uuid4()), "not-a-uuid"):
                response = await http.post(
                    "/v1/authentication", json={"clientId": client_id, "clientSecret": "x"}
                )
                assert response.status_code == 401, response.text
    assert hasher.verifications == 2


async def test_a_secret_hashed_at_another_cost_is_rehashed_after_a_success(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = await new_client(database)
    old_cost = PasswordHasher(time_cost=auth._hasher.time_cost + 1, memory_cost=64)
    async with database.write() as connection:
        await connection.execute(
            sa.update(api_clients)
            .where(api_clients.c.id == credentials.client_id)
            .values(secret_hash=old_cost.hash(credentials.client_secret))
        )
    async with (
        app_in_process(database_url, monkeypatch) as (app, _state),
        client_of(app, "192.0.2.40") as http,
    ):
        response = await http.post("/v1/authentication", json=body(credentials))
    assert response.status_code == 200, response.text
    async with database.read() as connection:
        stored = await connection.scalar(
            sa.select(api_clients.c.secret_hash).where(api_clients.c.id == credentials.client_id)
        )
    assert isinstance(stored, str)
    assert not auth._hasher.check_needs_rehash(stored)
    auth._hasher.verify(stored, credentials.client_secret)


async def test_a_revoked_client_with_the_right_secret_is_401(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = await new_client(database)
    async with database.write() as connection:
        await auth.revoke_client(
            connection, client_id=credentials.client_id, now_ms=system_clock_ms()
        )
    async with (
        app_in_process(database_url, monkeypatch) as (app, _state),
        client_of(app, "192.0.2.50") as http,
    ):
        response = await http.post("/v1/authentication", json=body(credentials))
    assert response.status_code == 401, response.text
