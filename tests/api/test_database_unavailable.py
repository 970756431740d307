"""Honest failure (issue 10, finding 10): when the database is down, frozen or locked, the
API answers 503 problem+json with Retry-After instead of 500 or silence, `/readyz` says so,
`/healthz` stays 200 (the process lives), and service resumes when the database does.

Each test runs its own server on the suite's database, reaching PostgreSQL through a proxy
the test controls, with small timeouts so that the tests are quick."""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.storage.database import Database
from tests.api.test_errors import assert_problem
from tests.support.databases import is_postgresql, requested_backend
from tests.support.servers import running_server
from tests.support.tcp_proxy import TcpProxy, database_target, tcp_proxy, through

postgresql_only = pytest.mark.skipif(
    not is_postgresql(requested_backend()), reason="PostgreSQL's outages"
)
sqlite_only = pytest.mark.skipif(is_postgresql(requested_backend()), reason="SQLite's lock")

TIMEOUTS = {
    "CHARGELEDGER_DATABASE_POOL_TIMEOUT_SECONDS": "2",
    "CHARGELEDGER_DATABASE_CONNECT_TIMEOUT_SECONDS": "2",
    "CHARGELEDGER_DATABASE_STATEMENT_TIMEOUT_SECONDS": "2",
    "CHARGELEDGER_DATABASE_BUSY_TIMEOUT_SECONDS": "0.2",
    "CHARGELEDGER_READINESS_TIMEOUT_SECONDS": "2",
}
# Far beyond every timeout above: a request that takes this long is hanging.
CLIENT_TIMEOUT_S = 30
ENTITY = {"type": "EV", "name": "outage EV"}


def assert_unavailable(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 503)
    assert body["type"] == "urn:chargeledger:problem:database-unavailable"
    assert response.headers["retry-after"] == "5"
    return body


@pytest.fixture
async def credentials(database: Database) -> auth.ClientCredentials:
    async with database.write() as connection:
        return await auth.create_tenant(connection, name="outage", now_ms=system_clock_ms())


@contextmanager
def authenticated(base_url: str, credentials: auth.ClientCredentials) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, timeout=CLIENT_TIMEOUT_S) as client:
        response = client.post(
            "/v1/authentication",
            json={
                "clientId": str(credentials.client_id),
                "clientSecret": credentials.client_secret,
            },
        )
        assert response.status_code == 200, response.text
        client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
        yield client


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    with tcp_proxy(*database_target(database_url)) as running:
        yield running


@pytest.fixture
def proxied_server(database_url: str, proxy: TcpProxy, tmp_path: Path) -> Iterator[str]:
    with running_server(
        through(proxy, database_url), env=TIMEOUTS, log_path=tmp_path / "server.log"
    ) as base_url:
        yield base_url


def wait_until_ready(client: httpx.Client, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while (status := client.get("/readyz").status_code) != 200:
        assert time.monotonic() < deadline, f"/readyz still answers {status}"
        time.sleep(0.1)


@postgresql_only
def test_with_postgresql_down_reads_and_writes_answer_503_and_readyz_too_but_healthz_200(
    proxied_server: str, proxy: TcpProxy, credentials: auth.ClientCredentials
) -> None:
    with authenticated(proxied_server, credentials) as client:
        entity = client.post("/v1/entities", json=ENTITY).json()
        assert client.get("/readyz").json() == {"status": "ready"}
        proxy.close()
        body = assert_unavailable(client.post("/v1/entities", json=ENTITY))
        assert "database" in body["detail"]
        assert_unavailable(client.get(f"/v1/entities/{entity['id']}"))
        assert_unavailable(client.get("/v1/entities"))
        assert_unavailable(client.get("/readyz"))
        assert client.get("/healthz").status_code == 200


@postgresql_only
def test_with_postgresql_frozen_requests_answer_503_instead_of_hanging_and_then_recover(
    proxied_server: str, proxy: TcpProxy, credentials: auth.ClientCredentials
) -> None:
    with authenticated(proxied_server, credentials) as client:
        entity = client.post("/v1/entities", json=ENTITY).json()
        proxy.freeze()
        try:
            assert_unavailable(client.get(f"/v1/entities/{entity['id']}"))
            assert_unavailable(client.post("/v1/entities", json=ENTITY))
            assert_unavailable(client.get("/readyz"))
            assert client.get("/healthz").status_code == 200
        finally:
            proxy.thaw()
        wait_until_ready(client)
        assert client.get(f"/v1/entities/{entity['id']}").status_code == 200
        assert client.post("/v1/entities", json=ENTITY).status_code == 201


@sqlite_only
def test_with_sqlites_write_lock_held_beyond_the_busy_timeout_writes_answer_503(
    database_url: str, credentials: auth.ClientCredentials, tmp_path: Path
) -> None:
    with (
        running_server(database_url, env=TIMEOUTS, log_path=tmp_path / "server.log") as base,
        authenticated(base, credentials) as client,
    ):
        entity = client.post("/v1/entities", json=ENTITY).json()
        holder = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")  # another process writes, and takes its time
            body = assert_unavailable(client.post("/v1/entities", json=ENTITY))
            assert "locked" in body["detail"]
            # Readers are not held up by a writer (WAL): the API still reads, and is ready.
            assert client.get(f"/v1/entities/{entity['id']}").status_code == 200
            assert client.get("/readyz").status_code == 200
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.post("/v1/entities", json=ENTITY).status_code == 201
