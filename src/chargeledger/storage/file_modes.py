"""Files only their owner may read: the SQLite database (with its -wal and -shm, which
SQLite creates with the database file's mode) and the key file. Whoever can read either can
read every tenant's data or mint tokens for every tenant."""

import logging
import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

logger = logging.getLogger("chargeledger")

PRIVATE_MODE = 0o600


def tighten_to_private(path: Path) -> None:
    """A file others may read or write is made 0600, with a warning (they may have read it)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        try:
            path.chmod(mode & 0o700)
        except PermissionError:
            logger.warning(
                "%s is readable or writable by others (mode %04o) and not ours to change; "
                "make it 0600",
                path,
                mode,
            )
            return
        logger.warning(
            "%s was readable or writable by others (mode %04o); it is now %04o. Whoever "
            "could read it may have copied it.",
            path,
            mode,
            mode & 0o700,
        )


def create_private_file(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists; an existing one is tightened."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE))
    except FileExistsError:
        tighten_to_private(path)


def sqlite_database_path(database_url: str) -> Path | None:
    """The file of a SQLite URL; None for PostgreSQL, in-memory and URI-style databases."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None  # not a URL: whoever opens it reports that
    if url.get_backend_name() != "sqlite":
        return None
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def make_sqlite_file_private(database_url: str) -> None:
    """Before SQLite first opens the database: create its file 0600 (SQLite would create it
    0644), so its -wal and -shm are 0600 too; tighten the three if they are more open."""
    path = sqlite_database_path(database_url)
    if path is None or not path.parent.is_dir():
        return  # no directory: SQLite reports it as it always did
    create_private_file(path)
    for companion in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        tighten_to_private(companion)
