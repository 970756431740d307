"""Every wait on the database is bounded, and a database that cannot serve now (down,
frozen, a statement over its timeout, SQLite's write lock held too long) is reported as
DatabaseUnavailableError; other database errors stay what they are, and the connection pool
recovers once the database does."""

import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import sqlalchemy as sa

from chargeledger.errors import DatabaseUnavailableError
from chargeledger.storage.database import Database
from chargeledger.storage.tables import tenants
from tests.support.databases import is_postgresql, requested_backend
from tests.support.tcp_proxy import TcpProxy, database_target, tcp_proxy, through

postgresql_only = pytest.mark.skipif(
    not is_postgresql(requested_backend()), reason="PostgreSQL's timeouts and connections"
)
sqlite_only = pytest.mark.skipif(is_postgresql(requested_backend()), reason="SQLite's write lock")
# Small, so that the tests are quick; what is asserted is the kind of failure, not its time.
TIMEOUT_S = 1.0


async def select_one(database: Database) -> int | None:
    async with database.read() as connection:
        value: int | None = await connection.scalar(sa.text("SELECT 1"))
        return value


@pytest.fixture
def proxy(database_url: str) -> Iterator[TcpProxy]:
    with tcp_proxy(*database_target(database_url)) as running:
        yield running


@pytest.fixture
async def proxied(database_url: str, proxy: TcpProxy) -> AsyncIterator[Database]:
    database = Database(
        through(proxy, database_url),
        pool_size=2,
        pool_timeout_s=TIMEOUT_S,
        connect_timeout_s=TIMEOUT_S,
        statement_timeout_s=TIMEOUT_S,
    )
    yield database
    await database.dispose()


@postgresql_only
async def test_a_database_that_is_down_is_unavailable(proxy: TcpProxy, proxied: Database) -> None:
    assert await select_one(proxied) == 1  # a pooled connection, which the outage cuts
    proxy.close()
    for _ in range(2):  # the pooled connection, then a new one that is refused
        with pytest.raises(DatabaseUnavailableError) as raised:
            await select_one(proxied)
        assert "database" in raised.value.detail
    with pytest.raises(DatabaseUnavailableError):
        async with proxied.write() as connection:
            await connection.execute(sa.text("SELECT 1"))


@postgresql_only
async def test_a_frozen_database_is_unavailable_after_the_timeouts_and_then_recovers(
    proxy: TcpProxy, proxied: Database
) -> None:
    assert await select_one(proxied) == 1
    proxy.freeze()
    try:
        for _ in range(3):  # the pooled connection, then new ones that never get an answer
            with pytest.raises(DatabaseUnavailableError):
                await select_one(proxied)
    finally:
        proxy.thaw()
    assert await select_one(proxied) == 1


@postgresql_only
async def test_a_statement_over_the_statement_timeout_is_unavailable_and_the_pool_goes_on(
    proxied: Database,
) -> None:
    with pytest.raises(DatabaseUnavailableError) as raised:
        async with proxied.read() as connection:
            await connection.execute(sa.text("SELECT pg_sleep(30)"))
    assert "statement timeout" in raised.value.detail
    for _ in range(3):
        assert await select_one(proxied) == 1


@postgresql_only
async def test_waiting_for_a_pooled_connection_is_bounded(proxied: Database) -> None:
    async with proxied.read(), proxied.read():  # the whole pool of two
        with pytest.raises(DatabaseUnavailableError) as raised:
            await select_one(proxied)
    assert "pool timeout" in raised.value.detail
    assert await select_one(proxied) == 1


@sqlite_only
async def test_a_write_waiting_for_the_lock_beyond_the_busy_timeout_is_unavailable(
    database_url: str,
) -> None:
    database = Database(database_url, busy_timeout_s=0.1)
    assert await select_one(database) == 1  # the file is in WAL mode, as the server leaves it
    path = database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(DatabaseUnavailableError) as raised:
            async with database.write() as connection:
                await connection.execute(sa.text("SELECT 1"))
        assert "locked" in raised.value.detail
        assert await select_one(database) == 1  # readers are not held up (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    async with database.write() as connection:
        await connection.execute(sa.text("SELECT 1"))
    await database.dispose()


async def test_other_database_errors_stay_what_they_are(database: Database) -> None:
    """A bug or a conflict is no outage: it must not be answered 503 (nor retried)."""
    with pytest.raises(sa.exc.DBAPIError) as raised:
        async with database.read() as connection:
            await connection.execute(sa.text("SELECT * FROM no_such_table"))
    assert not isinstance(raised.value, DatabaseUnavailableError)
    tenant = {"id": uuid.uuid4(), "name": "twice", "created_ms": 0}
    async with database.write() as connection:
        await connection.execute(sa.insert(tenants).values(**tenant))
    with pytest.raises(sa.exc.IntegrityError):
        async with database.write() as connection:
            await connection.execute(sa.insert(tenants).values(**tenant))
