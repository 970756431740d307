"""Master keys: which one signs, which still verify at an instant, and the key file's format.

Tokens name the master key that signed them (a JWT `kid`, a key id inside a continuation
token), so a key can be replaced while tokens signed with the previous one keep verifying
until it retires. Each purpose derives its own key from a master secret: a continuation
token can never pass for an access token.
"""

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from chargeledger.domain.instants import InvalidInstantError, format_instant, parse_instant_ms

# 4 bytes, written as 8 hex digits: short enough for every continuation token to carry it.
KEY_ID_BYTES = 4
_KEY_ID = re.compile(r"[0-9a-f]{8}")
# Below this a master secret is guessable offline from any token it signed.
MIN_SECRET_CHARS = 32


@dataclass(frozen=True, slots=True)
class MasterKey:
    id: str
    secret: str
    created_ms: int | None  # None for a key from the environment: it was never recorded
    retires_ms: int | None  # from this instant on it verifies nothing; None: not retiring
    # It signed tokens before tokens named their key (the secret an earlier release kept in
    # the database, or a CHARGELEDGER_SECRET_KEY), so it also verifies tokens without a key id.
    legacy: bool = False

    def verifies_at(self, now_ms: int) -> bool:
        return self.retires_ms is None or now_ms < self.retires_ms


@dataclass(frozen=True, slots=True)
class PurposeKeys:
    """One master key's derived keys."""

    access_token: bytes
    continuation_token: bytes


@dataclass(frozen=True, slots=True)
class TokenKeys:
    """The keys of one kind of token at an instant."""

    signing_id: str
    signing: bytes
    verifying: Mapping[str, bytes]  # by key id; the signing key is among them
    without_key_id: tuple[bytes, ...] = ()  # verify tokens issued before tokens named a key


class KeyFileError(ValueError):
    """A key file that cannot be used; the message says what is wrong with it."""


def derive_purpose_keys(master_secret: str) -> PurposeKeys:
    def derive(purpose: bytes) -> bytes:
        return hmac.new(master_secret.encode(), purpose, hashlib.sha256).digest()

    return PurposeKeys(
        access_token=derive(b"chargeledger/access-token/v1"),
        continuation_token=derive(b"chargeledger/continuation-token/v1"),
    )


def key_id_of(master_secret: str) -> str:
    """The id of a master secret: derived from it (one-way), so the same secret always has
    the same id, in every process, on every start, in every place it is configured."""
    digest = hmac.new(master_secret.encode(), b"chargeledger/key-id/v1", hashlib.sha256)
    return digest.hexdigest()[: 2 * KEY_ID_BYTES]


def is_key_id(text: str) -> bool:
    return _KEY_ID.fullmatch(text) is not None


def signing_key(keys: Sequence[MasterKey]) -> MasterKey:
    """The newest key that is not retiring signs."""
    candidates = [key for key in keys if key.retires_ms is None]
    if not candidates:
        raise KeyFileError("no key signs: every key has a retiresAt")
    return max(candidates, key=lambda key: (key.created_ms or 0, key.id))


def token_keys(
    keys: Sequence[MasterKey],
    derived: Mapping[str, bytes],
    *,
    signer: MasterKey,
    now_ms: int,
) -> TokenKeys:
    """The keys that verify at `now_ms` and the one that signs, for one purpose (`derived`:
    the purpose's key of each master key, by id)."""
    verifying = [key for key in keys if key.verifies_at(now_ms)]
    return TokenKeys(
        signing_id=signer.id,
        signing=derived[signer.id],
        verifying={key.id: derived[key.id] for key in verifying},
        without_key_id=tuple(derived[key.id] for key in verifying if key.legacy),
    )


def new_key(*, secret: str, now_ms: int, legacy: bool = False) -> MasterKey:
    return MasterKey(
        id=key_id_of(secret), secret=secret, created_ms=now_ms, retires_ms=None, legacy=legacy
    )


def rotated(
    keys: Sequence[MasterKey], *, new: MasterKey, now_ms: int, grace_ms: int
) -> tuple[MasterKey, ...]:
    """`new` signs from now on; the key that signed until now verifies for `grace_ms` more;
    keys already retired are dropped (a key retiring sooner keeps its own instant)."""
    if any(key.id == new.id for key in keys):
        raise KeyFileError(f"a key with id {new.id} is already in the key file")
    retire_at_ms = now_ms + grace_ms
    kept = []
    for key in keys:
        if not key.verifies_at(now_ms):
            continue
        if key.retires_ms is None or key.retires_ms > retire_at_ms:
            key = replace(key, retires_ms=retire_at_ms)
        kept.append(key)
    return (*kept, new)


def with_legacy_key(
    keys: Sequence[MasterKey], *, legacy_secret: str, now_ms: int, grace_ms: int
) -> tuple[MasterKey, ...]:
    """The key file with the secret an earlier release kept in the database: verifying
    only, for `grace_ms`. Adding it again changes nothing."""
    legacy = new_key(secret=legacy_secret, now_ms=now_ms, legacy=True)
    if any(key.id == legacy.id for key in keys):
        return tuple(keys)
    return (*keys, replace(legacy, retires_ms=now_ms + grace_ms))


# ---- the key file -------------------------------------------------------------------------


def render_key_file(keys: Iterable[MasterKey]) -> bytes:
    entries = []
    for key in keys:
        entry: dict[str, Any] = {
            "id": key.id,
            "secret": key.secret,
            "createdAt": None if key.created_ms is None else format_instant(key.created_ms),
            "retiresAt": None if key.retires_ms is None else format_instant(key.retires_ms),
        }
        if key.legacy:
            entry["legacy"] = True
        entries.append(entry)
    return (json.dumps({"keys": entries}, indent=2) + "\n").encode()


def parse_key_file(content: bytes) -> tuple[MasterKey, ...]:
    """The keys of a key file; KeyFileError naming the problem (never a secret) if it is not
    one this release can use."""
    try:
        document = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        raise KeyFileError("the key file is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise KeyFileError('the key file must be a JSON object with a list "keys"')
    keys = tuple(_parse_key(entry, index) for index, entry in enumerate(document["keys"]))
    ids = [key.id for key in keys]
    if len(set(ids)) != len(ids):
        raise KeyFileError("two keys in the key file have the same id")
    signing_key(keys)  # raises when none signs
    return keys


def _parse_key(entry: object, index: int) -> MasterKey:
    where = f"keys[{index}]"
    if not isinstance(entry, dict):
        raise KeyFileError(f"{where} is not an object")
    key_id, secret = entry.get("id"), entry.get("secret")
    if not isinstance(key_id, str) or not is_key_id(key_id):
        raise KeyFileError(f"{where}.id must be 8 lowercase hex digits")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
        raise KeyFileError(f"{where}.secret must be a string of {MIN_SECRET_CHARS}+ characters")
    legacy = entry.get("legacy", False)
    if not isinstance(legacy, bool):
        raise KeyFileError(f"{where}.legacy must be true or false")
    return MasterKey(
        id=key_id,
        secret=secret,
        created_ms=_parse_optional_instant(entry.get("createdAt"), f"{where}.createdAt"),
        retires_ms=_parse_optional_instant(entry.get("retiresAt"), f"{where}.retiresAt"),
        legacy=legacy,
    )


def _parse_optional_instant(value: object, where: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise KeyFileError(f"{where} must be an RFC 3339 instant or null")
    try:
        return parse_instant_ms(value)
    except InvalidInstantError:
        raise KeyFileError(f"{where} must be an RFC 3339 instant or null") from None
