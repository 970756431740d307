"""Tenants, API clients, and the bearer tokens they authenticate with."""

import asyncio
import base64
import binascii
import secrets
import uuid
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from uuid import UUID

import jwt
import orjson
import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import repository as tenants_repository
from chargeledger.auth.hashing_gate import HashingGate
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import (
    HashingBusyError,
    NotFoundError,
    UnauthorizedError,
    entity_not_found,
)
from chargeledger.storage.database import Database

ACCESS_TOKEN_TTL_S = 3600
# re.alto answers expires_in 3599: one second short of the token's life, so a client that
# renews at expiry never sends a token that has just expired.
EXPIRES_IN_S = ACCESS_TOKEN_TTL_S - 1
_ISSUER = "chargeledger"
_ALGORITHM = "HS256"
_MAX_HEADER_CHARS = 1024  # of a token's header, where its key id is read; ours are 59
_NOT_SIGNED_HERE = "the access token is malformed or not signed by this server"

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost
# Verifying against this when the client does not exist makes unknown and known client ids
# take the same time, so response times do not reveal which client ids exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def configure_secret_hashing(*, time_cost: int, memory_kib: int) -> None:
    """Set the argon2id cost of client secrets (at start-up, from the settings). Secrets
    hashed at another cost still verify, and are rehashed at this one when next used."""
    global _hasher, _DUMMY_HASH
    if (_hasher.time_cost, _hasher.memory_cost) == (time_cost, memory_kib):
        return
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: UUID
    client_id: UUID


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    tenant_id: UUID
    client_id: UUID
    client_secret: str


async def _hash_secret(secret: str) -> str:
    # argon2 is deliberately slow; keep it off the event loop.
    return await asyncio.to_thread(_hasher.hash, secret)


async def create_tenant(
    connection: AsyncConnection, *, name: str, now_ms: int
) -> ClientCredentials:
    tenant_id = uuid.uuid4()
    await tenants_repository.insert_tenant(
        connection, tenant_id=tenant_id, name=name, now_ms=now_ms
    )
    return await create_client(connection, tenant_id=tenant_id, now_ms=now_ms)


async def create_client(
    connection: AsyncConnection, *, tenant_id: UUID, now_ms: int
) -> ClientCredentials:
    if not await tenants_repository.tenant_exists(connection, tenant_id=tenant_id):
        raise NotFoundError(f"tenant {tenant_id} does not exist")
    client_id = uuid.uuid4()
    client_secret = secrets.token_urlsafe(32)
    await tenants_repository.insert_client(
        connection,
        client_id=client_id,
        tenant_id=tenant_id,
        secret_hash=await _hash_secret(client_secret),
        now_ms=now_ms,
    )
    return ClientCredentials(tenant_id=tenant_id, client_id=client_id, client_secret=client_secret)


async def revoke_client(connection: AsyncConnection, *, client_id: UUID, now_ms: int) -> None:
    if not await tenants_repository.revoke_client(connection, client_id=client_id, now_ms=now_ms):
        raise NotFoundError(f"client {client_id} does not exist")


_BAD_CREDENTIALS = "clientId or clientSecret is wrong, or the client was revoked"


async def authenticate_client(
    database: Database,
    *,
    client_id: str,
    client_secret: str,
    hashing: HashingGate,
    known: bool = False,
) -> Principal:
    """The client's principal if the secret is right and the client not revoked.

    The secret is hashed with no transaction open and no connection held: an argon2id check
    is slow on purpose, and on SQLite a write transaction around it held the database's only
    write lock for its whole length (a flood of wrong secrets then stalled every write).
    `known`: the client authenticated from this address before; its check goes first.
    """
    try:
        client_uuid: UUID | None = UUID(client_id)
    except ValueError:
        client_uuid = None
    client = None
    if client_uuid is not None:
        async with database.read() as connection:
            client = await tenants_repository.get_client(connection, client_id=client_uuid)
    stored_hash = _DUMMY_HASH if client is None else client.secret_hash
    try:
        await hashing.run(_hasher.verify, stored_hash, client_secret, known=known)
    except (VerificationError, InvalidHashError):
        raise UnauthorizedError(_BAD_CREDENTIALS) from None
    if client is None or client.revoked_ms is not None:
        raise UnauthorizedError(_BAD_CREDENTIALS)
    principal = Principal(tenant_id=client.tenant_id, client_id=client.id)
    if _hasher.check_needs_rehash(stored_hash):
        try:
            new_hash = await hashing.run(_hasher.hash, client_secret)
        except HashingBusyError:
            return principal  # the secret was right; it is rehashed on a quieter occasion
        async with database.write() as connection:
            await tenants_repository.replace_client_secret_hash(
                connection, client_id=client.id, old_hash=stored_hash, new_hash=new_hash
            )
    return principal


def issue_access_token(principal: Principal, *, keys: TokenKeys, now_s: int) -> str:
    claims = {
        "iss": _ISSUER,
        "sub": str(principal.client_id),
        "tid": str(principal.tenant_id),
        "iat": now_s,
        "exp": now_s + ACCESS_TOKEN_TTL_S,
        "jti": uuid.uuid4().hex,
    }
    # kid: the master key that signed, so tokens keep verifying while it retires after a
    # rotation.
    return jwt.encode(claims, keys.signing, algorithm=_ALGORITHM, headers={"kid": keys.signing_id})


def access_token_key_id(token: str) -> str | None:
    """The key id a token names, unverified: only to pick the key that verifies it. None for
    a token without one (issued before tokens named their key) or that is not a JWT."""
    # Read here rather than with jwt.get_unverified_header, which takes 100 times as long
    # on every request; whatever this reads, the signature check decides.
    header = token.partition(".")[0]
    if len(header) > _MAX_HEADER_CHARS:
        return None
    try:
        fields = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error):
        return None
    key_id = fields.get("kid") if isinstance(fields, dict) else None
    return key_id if isinstance(key_id, str) else None


def decode_access_token(token: str, *, keys: TokenKeys, now_s: int) -> Principal:
    """The principal a token names; UnauthorizedError if it is malformed, forged, signed with
    a key that retired, or expired."""
    key_id = access_token_key_id(token)
    if key_id is None:
        candidates = keys.without_key_id
    else:
        key = keys.verifying.get(key_id)
        candidates = () if key is None else (key,)
    for key in candidates:
        try:
            principal, exp = _verified_claims(token, key)
        except UnauthorizedError:
            continue
        if exp <= now_s:
            raise UnauthorizedError("the access token has expired; authenticate again")
        return principal
    raise UnauthorizedError(_NOT_SIGNED_HERE)


# A client sends the same token for an hour: its signature is verified once per process,
# its expiry on every request (revocation is checked against the database, per request).
@lru_cache(maxsize=16_384)
def _verified_claims(token: str, key: bytes) -> tuple[Principal, int]:
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[_ALGORITHM],  # never "none", never an algorithm the token picks
            issuer=_ISSUER,
            # Expiry is checked below against the caller's clock, which tests can set.
            options={
                "require": ["exp", "iat", "sub", "tid", "iss"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
        exp = int(claims["exp"])
        principal = Principal(tenant_id=UUID(claims["tid"]), client_id=UUID(claims["sub"]))
    except (jwt.InvalidTokenError, ValueError, TypeError, KeyError):
        raise UnauthorizedError(_NOT_SIGNED_HERE) from None
    return principal, exp


async def check_client_active(connection: AsyncConnection, *, principal: Principal) -> None:
    """A revoked client's tokens stop working at once, not when they expire."""
    client = await tenants_repository.get_client(connection, client_id=principal.client_id)
    if client is None or client.revoked_ms is not None or client.tenant_id != principal.tenant_id:
        raise UnauthorizedError("the client of this access token was revoked")


async def entity_of_principal(
    connection: AsyncConnection, *, principal: Principal, entity_id: UUID
) -> sa.Row[Any]:
    """The entity, checked in one query together with the client: a revoked client is a
    401; an entity that does not exist or belongs to another tenant a 404."""
    row = await tenants_repository.client_and_entity(
        connection, client_id=principal.client_id, entity_id=entity_id
    )
    if (
        row is None
        or row.client_revoked_ms is not None
        or row.client_tenant_id != principal.tenant_id
    ):
        raise UnauthorizedError("the client of this access token was revoked")
    if row.id is None:
        raise entity_not_found(entity_id)
    return row
