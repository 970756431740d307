"""Engines and transactions for SQLite (default) and PostgreSQL."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from chargeledger.errors import DatabaseUnavailableError
from chargeledger.storage.file_modes import make_sqlite_file_private
from chargeledger.storage.unavailability import unavailability

_WRITE_OPTION = "chargeledger_write"
# The client gives up this long after PostgreSQL's statement timeout: while the server runs,
# its own cancel answers first (and leaves the connection usable); the client's is for a
# server that cannot answer at all (frozen, or the network dropped it).
_CLIENT_TIMEOUT_MARGIN_S = 1.0


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


def _configure_sqlite(engine: AsyncEngine, *, busy_timeout_s: float) -> None:
    @sa.event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below) so that writers can take the lock up front.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # How long a writer waits for the write lock before giving up (503 over HTTP).
        cursor.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
        # Readers never block the writer. The mode stays in the file: setting it again needs
        # a lock, so a connection opened while another writes would wait (or fail) for it.
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0].lower() != "wal":
            cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed transaction survives a power cut, not just a process crash;
        # acknowledged data must never be lost.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A deferred transaction that reads and then writes fails at once (SQLITE_BUSY) if
        # another writer committed meanwhile; IMMEDIATE takes the write lock first and waits.
        writes = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


class Database:
    """One engine per process; `read()` and `write()` are the transaction boundaries.

    Every wait is bounded: on PostgreSQL for a pooled connection (`pool_timeout_s`), for a new
    one (`connect_timeout_s`) and for a statement (`statement_timeout_s`); on SQLite for the
    write lock and a pooled connection (`busy_timeout_s`). A block that fails because the
    database cannot serve now raises DatabaseUnavailableError. The defaults suit batch
    commands, which would rather wait; the server passes its settings (README, "Operations").
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 20,
        pool_timeout_s: float = 30.0,
        connect_timeout_s: float = 60.0,
        statement_timeout_s: float | None = None,
        busy_timeout_s: float = 30.0,
    ) -> None:
        self.url = async_database_url(url)
        make_sqlite_file_private(self.url)  # before SQLite creates it world-readable
        self.dialect = make_url(self.url).get_backend_name()
        # SQLite's pooled connections are held by writers waiting for the write lock: a
        # request waits for one as long as for the lock.
        options: dict[str, Any] = {
            "pool_timeout": pool_timeout_s if self.dialect == "postgresql" else busy_timeout_s
        }
        if self.dialect == "postgresql":
            # No overflow: connections beyond the pool would be opened and closed per request
            # under load (a TCP and auth handshake each); requests wait for one instead.
            options.update(pool_size=pool_size, max_overflow=0)
            connect_args: dict[str, Any] = {"timeout": connect_timeout_s}
            if statement_timeout_s is not None:
                connect_args["server_settings"] = {
                    "statement_timeout": str(round(statement_timeout_s * 1000))
                }
                connect_args["command_timeout"] = statement_timeout_s + _CLIENT_TIMEOUT_MARGIN_S
            options["connect_args"] = connect_args
        # A database error's message never quotes the statement's parameters: they would put
        # idTags, secrets' hashes and customers' data into tracebacks in the logs.
        self.engine = create_async_engine(self.url, hide_parameters=True, **options)
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine, busy_timeout_s=busy_timeout_s)
        _track_savepoints(self.engine)
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
        connecting = True
        try:
            if self.dialect == "postgresql":
                async with self._reader.connect() as connection:
                    connecting = False
                    yield connection
                return
            async with self.engine.connect() as connection, connection.begin():
                connecting = False
                yield connection
        except Exception as error:
            _raise_unavailable_or_again(error, connecting=connecting)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends and rolls back if it raises.

        Work registered with `before_commit` runs last inside the transaction (the events a
        block recorded get their sequence numbers there), `after_commit` once it committed.
        """
        connecting = True
        after: list[Callable[[], None]] = []
        try:
            async with self.engine.connect() as connection:
                await connection.execution_options(**{_WRITE_OPTION: True})
                try:
                    async with connection.begin():
                        connecting = False
                        yield connection
                        await run_before_commit(connection)
                        after = connection.info.pop(_AFTER_COMMIT, [])
                finally:
                    # connection.info outlives the checkout (it is the pooled connection's):
                    # nothing registered by this block may leak into the next one.
                    forget_transaction_state(connection)
        except Exception as error:
            _raise_unavailable_or_again(error, connecting=connecting)
        for callback in after:
            callback()

    async def dispose(self) -> None:
        await self.engine.dispose()


_BEFORE_COMMIT = "chargeledger_before_commit"
_AFTER_COMMIT = "chargeledger_after_commit"
_LISTS = "chargeledger_transaction_lists"
_SAVEPOINT_MARKS = "chargeledger_savepoint_marks"

BeforeCommit = Callable[[AsyncConnection], Awaitable[None]]


def before_commit(connection: AsyncConnection, key: str, work: BeforeCommit) -> None:
    """Run `work` at the end of this transaction, once per key however often registered."""
    connection.info.setdefault(_BEFORE_COMMIT, {}).setdefault(key, work)


def after_commit(connection: AsyncConnection, callback: Callable[[], None]) -> None:
    """Call `callback` (no I/O, it cannot fail the transaction) once it has committed."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


def transaction_list(connection: AsyncConnection, key: str) -> list[Any]:
    """A list kept with the current transaction: what is appended inside a savepoint that
    rolls back is dropped with it (an import's rejected row records no event), and the list
    is gone when the transaction ends."""
    info = connection.info
    info.setdefault(_LISTS, set()).add(key)
    items: list[Any] = info.setdefault(key, [])
    return items


def forget_transaction_state(connection: AsyncConnection) -> None:
    """Drop everything kept with the transaction (a caller that rolled back its own)."""
    sync = connection.sync_connection
    if sync is None or sync.closed or sync.invalidated:
        # Its DBAPI connection is gone and the info with it; touching `info` now would
        # reconnect, with I/O outside the driver's context.
        return
    info = connection.info
    for key in info.pop(_LISTS, set()):
        info.pop(key, None)
    for key in (_BEFORE_COMMIT, _AFTER_COMMIT, _SAVEPOINT_MARKS):
        info.pop(key, None)


def _track_savepoints(engine: AsyncEngine) -> None:
    @sa.event.listens_for(engine.sync_engine, "savepoint")
    def _on_savepoint(connection: sa.Connection, _name: str | None) -> None:
        info = connection.info
        lengths = {key: len(info.get(key, ())) for key in info.get(_LISTS, ())}
        info.setdefault(_SAVEPOINT_MARKS, []).append(lengths)

    @sa.event.listens_for(engine.sync_engine, "rollback_savepoint")
    def _on_rollback(connection: sa.Connection, _name: str, _context: Any) -> None:
        lengths = _pop_mark(connection.info)
        for key in connection.info.get(_LISTS, ()):
            # A list first used inside the savepoint had nothing before it.
            del connection.info[key][lengths.get(key, 0) :]

    @sa.event.listens_for(engine.sync_engine, "release_savepoint")
    def _on_release(connection: sa.Connection, _name: str, _context: Any) -> None:
        _pop_mark(connection.info)


def _pop_mark(info: dict[Any, Any]) -> dict[str, int]:
    # Savepoints nest: the one that ends is the newest. (Its name is not known yet when the
    # `savepoint` event fires, so marks are not matched by name.)
    marks = info.get(_SAVEPOINT_MARKS, [])
    return dict(marks.pop()) if marks else {}


async def run_before_commit(connection: AsyncConnection) -> None:
    """What `write()` does before committing; a caller that owns its own transaction (a test
    on a connection rolled back at the end) calls it before it looks at the results."""
    pending: dict[str, BeforeCommit] = connection.info.pop(_BEFORE_COMMIT, {})
    for work in pending.values():
        await work(connection)


def _raise_unavailable_or_again(error: Exception, *, connecting: bool) -> NoReturn:
    reason = unavailability(error, connecting=connecting)
    if reason is None:
        raise error
    raise DatabaseUnavailableError(reason) from error
