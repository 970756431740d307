"""A charge point's OCPP credentials (security profile 1: HTTP Basic with its identity and a
password) and the check of them at its handshake.

Identities are per tenant: a charger connects at /ocpp/<tenant id>/<identity>
(domain/ocpp_identity.py), so registering an identity another tenant uses is no different
from registering a free one, and a connection names the tenant whose station it reaches.
"""

import asyncio
from dataclasses import dataclass
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.ocpp_identity import (
    IDENTITY_CHARACTERS,
    MAX_IDENTITY_LENGTH,
    ChargerAddress,
    is_charger_identity,
)
from chargeledger.entities.service import EntityType, get_entity
from chargeledger.errors import ConflictError, InvalidInputError
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp.service import Station
from chargeledger.storage.database import Database

# Charger passwords are long random strings (OCPP security profile 1 asks for 16 to 40
# characters), not what people choose, so a light argon2 suffices; a charger fleet
# reconnecting after an outage must not cost minutes of CPU.
_hasher = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-real-password-0000")
MIN_PASSWORD_LENGTH = 16
MAX_PASSWORD_LENGTH = 40


@dataclass(frozen=True, slots=True)
class StationEndpoint:
    """Where a station's charger connects."""

    tenant_id: UUID
    identity: str
    # Registered before identities were per tenant: it also answers at /ocpp/<identity>.
    legacy_path: bool


async def hash_password(password: str) -> str:
    """The stored form of a charger's password; hashed before any transaction opens, so
    no database lock is held while it runs."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"the password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters",
            errors=[{"name": "password", "in": "body", "detail": "wrong length"}],
        )
    return await asyncio.to_thread(_hasher.hash, password)


async def set_credentials(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    password_hash: str,
    now_ms: int,
) -> StationEndpoint:
    """Let the ChargePoint connect with its identifier as identity and the password hashed
    by hash_password, in its tenant's namespace of identities."""
    entity = await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id, lock="update")
    if entity.type != EntityType.CHARGE_POINT:
        raise ConflictError(
            f"entity {entity_id} is a {entity.type}; only a ChargePoint speaks OCPP"
        )
    if not entity.identifier:
        raise ConflictError(
            f"entity {entity_id} has no identifier; its OCPP identity is its identifier"
        )
    identity = str(entity.identifier)
    if not is_charger_identity(identity):
        raise ConflictError(
            f"identifier '{identity}' cannot be an OCPP identity: a charger puts it in the URL "
            f"and in HTTP Basic authentication, so it must be 1 to {MAX_IDENTITY_LENGTH} of "
            f"the characters {IDENTITY_CHARACTERS}"
        )
    # Only this tenant's stations are looked at: another tenant's use of the identity is
    # invisible here (their chargers connect under their own tenant's path).
    claimed = await ocpp_repository.find_station(connection, tenant_id=tenant_id, identity=identity)
    if claimed is not None and claimed.entity_id != entity_id:
        raise ConflictError(
            f"OCPP identity '{identity}' already belongs to another charge point of this tenant"
        )
    stored = await ocpp_repository.put_station(
        connection,
        tenant_id=tenant_id,
        identity=identity,
        entity_id=entity_id,
        password_hash=password_hash,
        now_ms=now_ms,
    )
    return StationEndpoint(
        tenant_id=tenant_id, identity=identity, legacy_path=stored.legacy_identity is not None
    )


async def authenticate_station(
    database: Database, *, address: ChargerAddress, password: str
) -> Station | None:
    """The station at this address, if there is one and the password is right; else None.
    An unknown tenant, an unknown identity and a wrong password cost the same and look the
    same (a hash is checked in every case)."""
    async with database.read() as connection:
        station = await ocpp_repository.find_station(
            connection, tenant_id=address.tenant_id, identity=address.identity
        )
    stored_hash = _DUMMY_HASH if station is None else station.password_hash
    try:
        await asyncio.to_thread(_hasher.verify, stored_hash, password)
    except (VerificationError, InvalidHashError):
        return None
    if station is None:
        return None
    return Station(
        identity=address.identity,
        entity_id=station.entity_id,
        tenant_id=station.tenant_id,
        zoneless_timestamps_as_utc=bool(station.zoneless_timestamps_as_utc),
        numbers_as_strings=bool(station.numbers_as_strings),
    )
