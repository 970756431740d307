"""The key file on disk: read, replaced atomically (write a 0600 temporary, then rename),
and changed by one process at a time (an exclusive lock on its directory)."""

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from chargeledger.domain.signing_keys import MasterKey, parse_key_file, render_key_file
from chargeledger.storage.file_modes import PRIVATE_MODE, tighten_to_private


@dataclass(frozen=True, slots=True)
class FileVersion:
    """What changes when the file is replaced: a rename gives it a new inode."""

    inode: int
    modified_ns: int
    size: int


def file_version(path: Path) -> FileVersion | None:
    try:
        status = path.stat()
    except FileNotFoundError:
        return None
    return FileVersion(status.st_ino, status.st_mtime_ns, status.st_size)


def read_key_file(path: Path) -> tuple[tuple[MasterKey, ...], FileVersion]:
    """The keys and the version read; KeyFileError if the content is unusable, OSError if
    the file cannot be read."""
    tighten_to_private(path)
    with path.open("rb") as file:
        status = os.fstat(file.fileno())
        content = file.read()
    return parse_key_file(content), FileVersion(status.st_ino, status.st_mtime_ns, status.st_size)


def write_key_file(path: Path, keys: Sequence[MasterKey]) -> None:
    """Replace the file at once: readers see the old keys or the new, never half a file."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(render_key_file(keys))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    # The rename itself survives a power cut only once the directory is on disk.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def changing(path: Path) -> Iterator[None]:
    """Hold while reading and then rewriting the file: other processes (server workers
    starting, `chargeledger keys rotate`) wait, so no change is lost. Blocking."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path.parent, os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # releases the lock
