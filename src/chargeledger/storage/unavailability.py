"""Which database errors mean "cannot serve now" (down, unreachable, frozen, locked, out of
connections) rather than a bug or a conflict. Those become DatabaseUnavailableError, which the
API answers 503 with Retry-After; the rest stay what they are."""

import socket
import sqlite3

import sqlalchemy as sa

# PostgreSQL SQLSTATEs: class 08 is "connection exception"; the others are the server
# cancelling a statement (statement_timeout), shutting down or starting up, or out of slots.
_POSTGRES_UNAVAILABLE_CLASSES = ("08",)
_POSTGRES_UNAVAILABLE_STATES = {
    "57014": "the database did not finish the statement within the statement timeout",
    "57P01": "the database is shutting down",
    "57P02": "the database is shutting down",
    "57P03": "the database is starting up",
    "53300": "the database has no connection slot free",
}
# SQLite primary result codes (the low byte of an extended code).
_SQLITE_UNAVAILABLE_CODES = {
    sqlite3.SQLITE_BUSY: "the database is locked by another writer beyond the busy timeout",
    sqlite3.SQLITE_LOCKED: "the database is locked by another writer beyond the busy timeout",
    sqlite3.SQLITE_IOERR: "the database file cannot be read or written",
    sqlite3.SQLITE_FULL: "the disk holding the database is full",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
}
_UNREACHABLE = "the database cannot be reached"
_TIMED_OUT = "the database did not answer in time"


def unavailability(error: BaseException, *, connecting: bool) -> str | None:
    """Why the database cannot serve now, or None when `error` means something else.

    `connecting`: raised while a connection was being obtained, where any socket error is
    the database's (drivers raise them raw there); later only connection errors are."""
    if isinstance(error, sa.exc.TimeoutError):
        return "no database connection became free within the pool timeout"
    if isinstance(error, sa.exc.DBAPIError):
        return _dbapi_unavailability(error)
    # asyncpg raises these raw: TimeoutError for its connect and command timeouts (a server
    # that does not answer at all), socket errors when the server is down or unknown.
    if isinstance(error, TimeoutError):
        return _TIMED_OUT
    if isinstance(error, ConnectionError | socket.gaierror) or (
        connecting and isinstance(error, OSError)
    ):
        return _UNREACHABLE
    return None


def _dbapi_unavailability(error: sa.exc.DBAPIError) -> str | None:
    original = error.orig
    if isinstance(original, sqlite3.Error):
        code = getattr(original, "sqlite_errorcode", None)
        if code is not None:
            return _SQLITE_UNAVAILABLE_CODES.get(code & 0xFF)
        return _SQLITE_UNAVAILABLE_CODES[sqlite3.SQLITE_BUSY] if "locked" in str(original) else None
    state = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if isinstance(state, str):
        if state in _POSTGRES_UNAVAILABLE_STATES:
            return _POSTGRES_UNAVAILABLE_STATES[state]
        if state.startswith(_POSTGRES_UNAVAILABLE_CLASSES):
            return "the connection to the database was lost"
    if error.connection_invalidated:
        return "the connection to the database was lost"
    return None
