"""Engines and transactions for SQLite (default) and PostgreSQL."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

_WRITE_OPTION = "chargeledger_write"


class DatabaseUrlError(ValueError):
    pass


def async_database_url(url: str) -> str:
    """Map the URLs people write (`postgres://`, `sqlite:///x.db`) to the async drivers we use."""
    try:
        parsed = make_url(url)
    except sa.exc.ArgumentError:
        raise DatabaseUrlError(f"'{url}' is not a database URL") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)
    if backend == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite").render_as_string(hide_password=False)
    raise DatabaseUrlError(f"unsupported database '{backend}': use sqlite or postgresql")


def _configure_sqlite(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below) so that writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        # FULL: a committed transaction survives a power cut, not just a process crash;
        # acknowledged data must never be lost.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY) if
        # another writer committed meanwhile; IMMEDIATE takes the write lock first and waits.
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class Database:
    """One engine per process; `read()` and `write()` are the transaction boundaries."""

    def __init__(self, url: str, *, pool_size: int = 20) -> None:
        self.url = async_database_url(url)
        self.dialect = make_url(self.url).get_backend_name()
        options: dict[str, Any] = {}
        if self.dialect == "postgresql":
            # No overflow: connections beyond the pool would be opened and closed per request
            # under load (a TCP and auth handshake each); requests wait for one instead.
            options.update(pool_size=pool_size, max_overflow=0, pool_timeout=30)
        self.engine = create_async_engine(self.url, **options)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        # PostgreSQL reads run each statement in its own snapshot, with no BEGIN and COMMIT
        # round trips around them: no read here needs two statements to agree (keyset pages
        # do not). SQLite's BEGIN costs nothing and keeps WAL readers on one snapshot.
        self._reader = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.dialect == "postgresql"
            else self.engine
        )

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        if self.dialect == "postgresql":
            async with self._reader.connect() as connection:
                yield connection
            return
        async with self.engine.connect() as connection, connection.begin():
            yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends and rolls back if it raises."""
        async with self.engine.connect() as connection:
            await connection.execution_options(**{_WRITE_OPTION: True})
            async with connection.begin():
                yield connection

    async def dispose(self) -> None:
        await self.engine.dispose()
