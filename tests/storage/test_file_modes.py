"""Files only their owner may read (storage/file_modes.py, auth/key_file.py): whoever can
read the SQLite database reads every tenant's data, whoever can read the key file mints
tokens for every tenant. These tests use SQLite files of their own, whichever database the
run is for."""

import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from chargeledger.auth.key_file import read_key_file, write_key_file
from chargeledger.auth.keys import generate_secret
from chargeledger.domain.signing_keys import new_key
from chargeledger.storage.database import Database
from chargeledger.storage.file_modes import sqlite_database_path
from chargeledger.storage.migrate import upgrade_to_head


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual umask, 022, under which SQLite would make its files 0644."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


async def test_a_database_file_sqlite_makes_is_0600_and_so_are_its_wal_and_shm(
    tmp_path: Path,
) -> None:
    path = tmp_path / "fresh.db"
    database = Database(f"sqlite:///{path}")
    try:
        async with database.write() as connection:
            await connection.execute(sa.text("CREATE TABLE t (x INTEGER)"))
            await connection.execute(sa.text("INSERT INTO t VALUES (1)"))
        async with database.read() as connection:
            assert await connection.scalar(sa.text("SELECT x FROM t")) == 1
            for name in ("fresh.db", "fresh.db-wal", "fresh.db-shm"):
                assert mode_of(tmp_path / name) == 0o600, name
    finally:
        await database.dispose()


def test_a_database_file_a_migration_makes_is_0600(tmp_path: Path) -> None:
    path = tmp_path / "migrated.db"
    upgrade_to_head(f"sqlite:///{path}")
    assert mode_of(path) == 0o600


async def test_an_existing_database_file_open_to_others_is_tightened_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "old.db"
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        (tmp_path / name).touch()
        (tmp_path / name).chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="chargeledger"):
        database = Database(f"sqlite:///{path}")
        await database.dispose()
    for name in ("old.db", "old.db-wal", "old.db-shm"):
        assert mode_of(tmp_path / name) == 0o600, name
    warnings = [record.getMessage() for record in caplog.records]
    assert any(f"{path} was readable or writable by others (mode 0644)" in w for w in warnings)


def test_only_sqlite_files_are_touched() -> None:
    assert sqlite_database_path("postgresql://db.example/ledger") is None
    assert sqlite_database_path("sqlite://") is None
    assert sqlite_database_path("sqlite:///:memory:") is None
    assert sqlite_database_path("not a url") is None
    assert sqlite_database_path("sqlite+aiosqlite:///a/b.db") == Path("a/b.db")


def test_a_key_file_is_written_0600_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = new_key(secret=generate_secret(), now_ms=0)
    write_key_file(path, [first])
    assert mode_of(path) == 0o600
    second = new_key(secret=generate_secret(), now_ms=1)
    write_key_file(path, [first, second])
    assert mode_of(path) == 0o600
    assert read_key_file(path)[0] == (first, second)
    assert sorted(child.name for child in tmp_path.iterdir()) == ["keys.json"]  # no temporary


def test_a_key_file_open_to_others_is_tightened_when_read(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "keys.json"
    write_key_file(path, [new_key(secret=generate_secret(), now_ms=0)])
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="chargeledger"):
        read_key_file(path)
    assert mode_of(path) == 0o600
    assert "readable or writable by others" in caplog.text
