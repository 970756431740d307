"""The master keys that sign access tokens and continuation tokens, and where they come from.

Never from the database: whoever can read it must not be able to mint tokens. Sources, in
order: CHARGELEDGER_SECRET_KEY (with CHARGELEDGER_PREVIOUS_SECRET_KEYS still verifying), or
a key file (CHARGELEDGER_SECRET_KEY_FILE; on SQLite by default `<database file>.key`, made on
first start). A key file can be rotated (`chargeledger keys rotate`) while servers run: each
process re-reads it when it changes.

Earlier releases generated the master secret into the database (server_secrets). On start it
is taken out: into the key file when one is used (so the tokens it signed keep verifying),
else it is just deleted.
"""

import asyncio
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from chargeledger.auth import key_file, secrets_repository
from chargeledger.domain.signing_keys import (
    MIN_SECRET_CHARS,
    KeyFileError,
    MasterKey,
    PurposeKeys,
    TokenKeys,
    derive_purpose_keys,
    key_id_of,
    new_key,
    rotated,
    signing_key,
    token_keys,
    with_legacy_key,
)
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from chargeledger.storage.file_modes import sqlite_database_path

logger = logging.getLogger("chargeledger")

LEGACY_SECRET_NAME = "master_signing_secret"  # noqa: S105 - a name, not a secret
# The secret moved out of the database into an existing key file verifies this long: tokens
# it signed (access tokens live an hour, continuation tokens as long as a client pages) keep
# working through the upgrade.
LEGACY_GRACE_MS = 24 * 3_600_000
# How often a process looks at the key file for a rotation (a stat); a token naming a key
# the process does not know makes it look at once.
KEY_FILE_CHECK_INTERVAL_S = 2.0
_GENERATED_SECRET_BYTES = 48


class KeyConfigurationError(Exception):
    """No usable master key is configured; the message says what to set."""


def generate_secret() -> str:
    return secrets.token_urlsafe(_GENERATED_SECRET_BYTES)


# ---- where the keys come from -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySource:
    """Either keys from the environment, or a key file (and then the keys are in it)."""

    key_file: Path | None
    environment_keys: tuple[MasterKey, ...] = ()  # the first one signs


NO_KEY_ON_POSTGRESQL = (
    "PostgreSQL needs a master key that is not kept in the database: set "
    "CHARGELEDGER_SECRET_KEY to a random secret (python3 -c 'import secrets; "
    "print(secrets.token_urlsafe(48))') or CHARGELEDGER_SECRET_KEY_FILE to a key file "
    '(made, 0600, if it does not exist). README, "Keys".'
)


def key_source(settings: Settings) -> KeySource:
    """Where this configuration takes its master keys from; KeyConfigurationError if none."""
    if settings.secret_key:
        if settings.secret_key_file:
            logger.warning(
                "CHARGELEDGER_SECRET_KEY and CHARGELEDGER_SECRET_KEY_FILE are both set; the "
                "secret key is used and the key file ignored"
            )
        return KeySource(key_file=None, environment_keys=_environment_keys(settings))
    if settings.previous_secret_keys:
        raise KeyConfigurationError(
            "CHARGELEDGER_PREVIOUS_SECRET_KEYS is set without CHARGELEDGER_SECRET_KEY: set the "
            "secret that signs now in CHARGELEDGER_SECRET_KEY"
        )
    if settings.secret_key_file:
        return KeySource(key_file=settings.secret_key_file)
    database_path = sqlite_database_path(settings.database_url)
    if database_path is not None:
        # The one-command local path (the demo): a key file kept next to the database.
        return KeySource(key_file=Path(f"{database_path}.key"))
    if settings.database_url.startswith("sqlite"):
        raise KeyConfigurationError(
            "a SQLite database without a file has no place for a key file: set "
            "CHARGELEDGER_SECRET_KEY or CHARGELEDGER_SECRET_KEY_FILE"
        )
    raise KeyConfigurationError(NO_KEY_ON_POSTGRESQL)


def _environment_keys(settings: Settings) -> tuple[MasterKey, ...]:
    assert settings.secret_key
    previous = (settings.previous_secret_keys or "").split(",")
    keys: dict[str, MasterKey] = {}
    for secret in (settings.secret_key, *(text.strip() for text in previous)):
        if not secret:
            continue
        if len(secret) < MIN_SECRET_CHARS:
            logger.warning(
                "a configured master secret (key %s) is shorter than %d characters: tokens "
                "it signs can be attacked offline; use a random one of 48 bytes",
                key_id_of(secret),
                MIN_SECRET_CHARS,
            )
        # These secrets may have signed tokens before tokens named their key: legacy.
        key = MasterKey(
            id=key_id_of(secret), secret=secret, created_ms=None, retires_ms=None, legacy=True
        )
        keys.setdefault(key.id, key)
    return tuple(keys.values())


# ---- on start: the key file exists, and the database holds no secret ----------------------


async def prepare_keys(database: Database, settings: Settings, *, now_ms: int) -> KeySource:
    """Resolve the source, take an earlier release's secret out of the database, and make the
    key file if there is none yet. Idempotent; safe with several processes at once."""
    source = key_source(settings)
    async with database.write() as connection:
        legacy_secret = await secrets_repository.take_secret(connection, name=LEGACY_SECRET_NAME)
        if legacy_secret is not None:
            if source.key_file is None:
                logger.warning(
                    "deleted the master secret an earlier release kept in the database; "
                    "keys come from CHARGELEDGER_SECRET_KEY"
                )
            else:
                # Within the transaction that deletes it: if writing the file fails, the
                # delete rolls back and the secret is not lost. Other processes wait on the
                # delete, then find it gone and the file written.
                await asyncio.to_thread(
                    _adopt_legacy_secret, source.key_file, legacy_secret, now_ms
                )
    if source.key_file is not None:
        await asyncio.to_thread(_ensure_key_file, source.key_file, now_ms)
    return source


def _adopt_legacy_secret(path: Path, legacy_secret: str, now_ms: int) -> None:
    with key_file.changing(path):
        if path.exists():
            keys, _ = key_file.read_key_file(path)
            adopted = with_legacy_key(
                keys, legacy_secret=legacy_secret, now_ms=now_ms, grace_ms=LEGACY_GRACE_MS
            )
            if adopted != keys:
                key_file.write_key_file(path, adopted)
            logger.warning(
                "moved the master secret an earlier release kept in the database into %s: "
                "tokens it signed verify for %d more hours",
                path,
                LEGACY_GRACE_MS // 3_600_000,
            )
            return
        key_file.write_key_file(path, [new_key(secret=legacy_secret, now_ms=now_ms, legacy=True)])
        logger.warning(
            "moved the master secret an earlier release kept in the database into a new key "
            "file %s (0600), where it signs as before. Copies of the database (backups) hold "
            "it: run `chargeledger keys rotate` to replace it.",
            path,
        )


def _ensure_key_file(path: Path, now_ms: int) -> None:
    if path.exists():
        return
    with key_file.changing(path):
        if path.exists():  # another process made it while we waited
            return
        key_file.write_key_file(path, [new_key(secret=generate_secret(), now_ms=now_ms)])
    logger.warning("generated a master key into %s (0600); keep it with the database", path)


def rotate_key_file(path: Path, *, now_ms: int, grace_ms: int) -> tuple[MasterKey, ...]:
    """A new key signs from now on; the one that signed verifies `grace_ms` more; keys already
    retired are dropped. Blocking. Running servers pick the change up by themselves."""
    with key_file.changing(path):
        keys, _ = key_file.read_key_file(path)
        fresh = new_key(secret=generate_secret(), now_ms=now_ms)
        while any(key.id == fresh.id for key in keys):  # 1 in 4 billion
            fresh = new_key(secret=generate_secret(), now_ms=now_ms)
        changed = rotated(keys, new=fresh, now_ms=now_ms, grace_ms=grace_ms)
        key_file.write_key_file(path, changed)
    return changed


# ---- the keys one process signs and verifies with ----------------------------------------


@dataclass(frozen=True, slots=True)
class _Loaded:
    keys: tuple[MasterKey, ...]
    signer: MasterKey
    access: Mapping[str, bytes]
    continuation: Mapping[str, bytes]
    version: key_file.FileVersion | None
    # The instants at which a key retires, when the verifying set changes.
    retirements_ms: tuple[int, ...]

    @classmethod
    def of(
        cls, keys: Sequence[MasterKey], signer: MasterKey, version: key_file.FileVersion | None
    ) -> "_Loaded":
        derived: dict[str, PurposeKeys] = {key.id: derive_purpose_keys(key.secret) for key in keys}
        return cls(
            keys=tuple(keys),
            signer=signer,
            access={key_id: pair.access_token for key_id, pair in derived.items()},
            continuation={key_id: pair.continuation_token for key_id, pair in derived.items()},
            version=version,
            retirements_ms=tuple(
                sorted({key.retires_ms for key in keys if key.retires_ms is not None})
            ),
        )


@dataclass
class _Window:
    """Token keys valid from `start_ms` (inclusive) to `end_ms` (exclusive)."""

    loaded: _Loaded
    start_ms: float
    end_ms: float
    keys: TokenKeys


@dataclass
class KeyRing:
    """The master keys of one process. A key file is followed: a rotation is picked up within
    KEY_FILE_CHECK_INTERVAL_S, or at once by a token naming a key not seen yet."""

    source: KeySource
    monotonic_s: Callable[[], float] = time.monotonic
    _loaded: _Loaded = field(init=False)
    _checked_s: float = field(init=False)
    _unusable: key_file.FileVersion | None = field(init=False, default=None)
    _windows: dict[str, _Window] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.source.key_file is None:
            keys = self.source.environment_keys
            self._loaded = _Loaded.of(keys, keys[0], None)
        else:
            self._loaded = self._read(self.source.key_file)
        self._checked_s = self.monotonic_s()

    @staticmethod
    def _read(path: Path) -> _Loaded:
        keys, version = key_file.read_key_file(path)
        return _Loaded.of(keys, signing_key(keys), version)

    def access_tokens(self, now_ms: int, *, key_id: str | None = None) -> TokenKeys:
        """`key_id`: the key a token to verify names; one not known yet makes the key file
        be looked at now, in case it was just rotated."""
        self.refresh(force=key_id is not None and key_id not in self._loaded.access)
        return self._keys_at("access", self._loaded.access, now_ms)

    def continuation_tokens(self, now_ms: int) -> TokenKeys:
        self.refresh()
        return self._keys_at("continuation", self._loaded.continuation, now_ms)

    def refresh(self, *, force: bool = False) -> None:
        path = self.source.key_file
        now_s = self.monotonic_s()
        if path is None or (not force and now_s - self._checked_s < KEY_FILE_CHECK_INTERVAL_S):
            return
        self._checked_s = now_s
        version = key_file.file_version(path)
        if version is None or version in (self._loaded.version, self._unusable):
            return
        try:
            self._loaded = self._read(path)
        except (KeyFileError, OSError) as error:
            # Keep signing and verifying with the keys we have rather than stop serving.
            self._unusable = version
            logger.error(
                "the key file %s changed and cannot be used (%s); keeping the keys read before",
                path,
                error,
            )
            return
        logger.info("read the rotated key file %s; key %s signs", path, self._loaded.signer.id)

    def _keys_at(self, purpose: str, derived: Mapping[str, bytes], now_ms: int) -> TokenKeys:
        # Which keys verify changes only when one retires: compute the set once per window.
        window = self._windows.get(purpose)
        if (
            window is not None
            and window.loaded is self._loaded
            and window.start_ms <= now_ms < window.end_ms
        ):
            return window.keys
        loaded = self._loaded
        keys = token_keys(loaded.keys, derived, signer=loaded.signer, now_ms=now_ms)
        start_ms = max((at for at in loaded.retirements_ms if at <= now_ms), default=-float("inf"))
        end_ms = min((at for at in loaded.retirements_ms if at > now_ms), default=float("inf"))
        self._windows[purpose] = _Window(loaded, start_ms, end_ms, keys)
        return keys


async def open_key_ring(database: Database, settings: Settings, *, now_ms: int) -> KeyRing:
    """For a server process on start."""
    source = await prepare_keys(database, settings, now_ms=now_ms)
    return await asyncio.to_thread(KeyRing, source)
