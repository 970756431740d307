"""Shared fixtures: one fresh database per run (SQLite or PostgreSQL, see
tests/support/databases.py), one real `chargeledger serve` on it, and a new tenant per test,
so tests never see each other's data."""

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import settings
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.auth.service import configure_secret_hashing
from chargeledger.storage.database import Database, forget_transaction_state
from chargeledger.storage.migrate import upgrade_to_head_async
from tests.support.api import TenantApi
from tests.support.databases import fresh_database, is_postgresql, requested_backend
from tests.support.servers import running_server

# Client secrets are still hashed with argon2id, at a test-sized cost: a run makes about a
# thousand tenants, and at the production cost hashing alone would take minutes. The servers
# the tests start read the same settings from the environment.
os.environ.setdefault("CHARGELEDGER_SECRET_HASH_TIME_COST", "1")
os.environ.setdefault("CHARGELEDGER_SECRET_HASH_MEMORY_KIB", "1024")
configure_secret_hashing(
    time_cost=int(os.environ["CHARGELEDGER_SECRET_HASH_TIME_COST"]),
    memory_kib=int(os.environ["CHARGELEDGER_SECRET_HASH_MEMORY_KIB"]),
)
# The suite authenticates about a thousand tenants, and sends wrong secrets on purpose, all
# from 127.0.0.1: its servers' authentication limits are out of the way. The limits have their
# own servers, with low ones (tests/auth/test_endpoints_limits.py).
for _name, _value in {
    "CHARGELEDGER_AUTH_FAILURES_PER_CLIENT": "1000000/minute",
    "CHARGELEDGER_AUTH_FAILURES_PER_ADDRESS": "1000000/minute",
    "CHARGELEDGER_AUTH_ATTEMPTS_PER_ADDRESS": "1000000/minute",
    "CHARGELEDGER_AUTH_IN_FLIGHT_PER_ADDRESS": "100000",
    "CHARGELEDGER_AUTH_HASH_QUEUE": "100000",
    "CHARGELEDGER_AUTH_HASH_WAIT_SECONDS": "60",
}.items():
    os.environ.setdefault(_name, _value)

# Property tests draw new examples on every local run, to keep finding bugs. CI draws a fixed
# set (derandomize), so a landing never hangs on a rare example nobody has seen yet; a bug
# found locally becomes an explicit example test. `deep` is for hunting: many more examples.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("deep", max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("CHARGELEDGER_HYPOTHESIS_PROFILE", "default"))


def pytest_report_header() -> str:
    return f"chargeledger test database: {requested_backend()}"


@pytest.fixture(scope="session", autouse=True)
def _record_backend(record_testsuite_property: Callable[[str, object], None]) -> None:
    # .ci/run reads this from the JUnit report to prove the PostgreSQL half really ran.
    backend = requested_backend()
    record_testsuite_property(
        "database_backend", "postgresql" if is_postgresql(backend) else "sqlite"
    )


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("db"), name_hint="suite") as url:
        await upgrade_to_head_async(url)
        yield url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.dispose()


@pytest.fixture
async def connection(database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection in a transaction that is rolled back at the end, for service and
    repository tests in-process (no server, no HTTP): nothing they write outlives them. Work
    due before a commit (events' numbering) is run by the test itself: run_before_commit."""
    async with database.engine.connect() as connection:
        transaction = await connection.begin()
        try:
            yield connection
        finally:
            await transaction.rollback()
            forget_transaction_state(connection)


@pytest.fixture(scope="session")
def live_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    with running_server(database_url, log_path=log_path) as base_url:
        yield base_url


TenantFactory = Callable[[], Awaitable[TenantApi]]


@pytest.fixture
async def make_tenant(database: Database, live_server: str) -> AsyncIterator[TenantFactory]:
    """Creates tenants with an authenticated client each; closes their clients afterwards."""
    clients: list[httpx.AsyncClient] = []

    async def make() -> TenantApi:
        async with database.write() as connection:
            credentials = await auth.create_tenant(
                connection, name="test tenant", now_ms=system_clock_ms()
            )
        http = httpx.AsyncClient(base_url=live_server, timeout=30)
        clients.append(http)
        return await TenantApi.logged_in(http, credentials)

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def api(make_tenant: TenantFactory) -> TenantApi:
    return await make_tenant()


@pytest.fixture
async def other_api(make_tenant: TenantFactory) -> TenantApi:
    """A second tenant, for isolation tests."""
    return await make_tenant()


@pytest.fixture
def anonymous(live_server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server, timeout=30) as client:
        yield client


@pytest.fixture
def tmp_dir(tmp_path: Path) -> Path:
    return tmp_path
