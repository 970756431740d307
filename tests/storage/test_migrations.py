"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL, and
can be undone and redone."""

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from chargeledger.storage.database import Database
from chargeledger.storage.migrate import alembic_config, upgrade_to_head_async
from chargeledger.storage.tables import metadata
from tests.support.databases import fresh_database


async def _schema_differences(database: Database) -> list[object]:
    async with database.engine.connect() as connection:

        def compare(sync_connection: sa.Connection) -> list[object]:
            context = MigrationContext.configure(sync_connection)
            return list(compare_metadata(context, metadata))

        return await connection.run_sync(compare)


async def test_head_matches_the_declared_tables(database: Database) -> None:
    assert await _schema_differences(database) == []


async def test_downgrade_to_base_and_upgrade_again(tmp_path: Path) -> None:
    async with fresh_database(tmp_path, name_hint="migrations") as url:
        await upgrade_to_head_async(url)
        await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
        database = Database(url)
        try:
            async with database.read() as connection:
                tables = await connection.run_sync(lambda sync: sa.inspect(sync).get_table_names())
            assert set(tables) <= {"alembic_version"}
            await upgrade_to_head_async(url)
            assert await _schema_differences(database) == []
        finally:
            await database.dispose()


async def test_upgrading_twice_is_harmless(database_url: str, database: Database) -> None:
    await upgrade_to_head_async(database_url)
    assert await _schema_differences(database) == []


async def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    try:
        async with database.read() as connection:
            mode = await connection.scalar(sa.text("PRAGMA journal_mode"))
            synchronous = await connection.scalar(sa.text("PRAGMA synchronous"))
        assert mode == "wal"
        assert synchronous == 2  # FULL
    finally:
        await database.dispose()


async def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    """Two transactions that read then write at once both commit: BEGIN IMMEDIATE queues the
    second behind the first instead of failing it with 'database is locked'."""
    url = f"sqlite:///{tmp_path / 'writers.db'}"
    await upgrade_to_head_async(url)
    database = Database(url)
    try:

        async def read_then_write(name: str) -> None:
            async with database.write() as connection:
                await connection.execute(sa.text("SELECT count(*) FROM tenants"))
                await asyncio.sleep(0.2)
                await connection.execute(
                    sa.text("INSERT INTO tenants (id, name, created_ms) VALUES (:id, :n, 0)"),
                    {"id": name.ljust(32, "0"), "n": name},
                )

        await asyncio.gather(*(read_then_write(f"{i:x}") for i in range(5)))
        async with database.read() as connection:
            assert await connection.scalar(sa.text("SELECT count(*) FROM tenants")) == 5
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+asyncpg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("sqlite:///chargeledger.db", "sqlite+aiosqlite:///chargeledger.db"),
    ],
)
def test_database_urls_map_to_the_async_drivers(given: str, expected: str) -> None:
    from chargeledger.storage.database import async_database_url

    assert async_database_url(given) == expected


def test_unsupported_database_is_refused_with_a_reason() -> None:
    from chargeledger.storage.database import DatabaseUrlError, async_database_url

    with pytest.raises(DatabaseUrlError, match="unsupported database 'mysql'"):
        async_database_url("mysql://u@h/db")
