"""Test databases: a fresh SQLite file, or a fresh database on the PostgreSQL server.

Choose with CHARGELEDGER_TEST_DATABASE: `sqlite` (the default) or a PostgreSQL URL such as
postgresql://postgres@127.0.0.1:5432/test. For PostgreSQL a new database is created for the
run next to the given one and dropped afterwards, so each run starts from an empty schema.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async

SQLITE = "sqlite"


def requested_backend() -> str:
    return os.environ.get("CHARGELEDGER_TEST_DATABASE", SQLITE).strip() or SQLITE


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql:", "postgres:", "postgresql+"))


def _asyncpg_dsn(url: str, database: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if database is not None:
        parsed = parsed.set(database=database)
    return parsed.render_as_string(hide_password=False)


@asynccontextmanager
async def fresh_database(directory: Path, *, name_hint: str = "run") -> AsyncIterator[str]:
    """Yield the URL of an empty database of the requested backend; remove it afterwards."""
    backend = requested_backend()
    if backend == SQLITE:
        yield f"sqlite:///{directory / f'chargeledger-{name_hint}.db'}"
        return
    if not is_postgresql(backend):
        raise RuntimeError(
            f"CHARGELEDGER_TEST_DATABASE must be 'sqlite' or a PostgreSQL URL, not {backend}"
        )
    name = f"chargeledger_test_{name_hint}_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(_asyncpg_dsn(backend))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield _asyncpg_dsn(backend, name)
    finally:
        admin = await asyncpg.connect(_asyncpg_dsn(backend))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def migrated_database(directory: Path, *, name_hint: str) -> AsyncIterator[Database]:
    """A fresh database of the caller's own, migrated to head, disposed of afterwards: for
    tests that write rows straight through storage, away from the shared suite database."""
    async with fresh_database(directory, name_hint=name_hint) as url:
        await upgrade_to_head_async(url)
        database = Database(url)
        try:
            yield database
        finally:
            await database.dispose()
