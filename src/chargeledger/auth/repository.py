"""Tenants and their API clients."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import api_clients, entities, tenants


async def insert_tenant(
    connection: AsyncConnection, *, tenant_id: UUID, name: str, now_ms: int
) -> None:
    await connection.execute(sa.insert(tenants).values(id=tenant_id, name=name, created_ms=now_ms))


async def tenant_exists(connection: AsyncConnection, *, tenant_id: UUID) -> bool:
    found = await connection.scalar(sa.select(tenants.c.id).where(tenants.c.id == tenant_id))
    return found is not None


async def insert_client(
    connection: AsyncConnection, *, client_id: UUID, tenant_id: UUID, secret_hash: str, now_ms: int
) -> None:
    await connection.execute(
        sa.insert(api_clients).values(
            id=client_id, tenant_id=tenant_id, secret_hash=secret_hash, created_ms=now_ms
        )
    )


# Every authenticated write looks its client up: the statement is built once.
_CLIENT = sa.select(api_clients).where(api_clients.c.id == sa.bindparam("client_id"))


async def get_client(connection: AsyncConnection, *, client_id: UUID) -> sa.Row[Any] | None:
    result = await connection.execute(_CLIENT, {"client_id": client_id})
    return result.first()


async def replace_client_secret_hash(
    connection: AsyncConnection, *, client_id: UUID, old_hash: str, new_hash: str
) -> None:
    """The same secret hashed anew; only if the stored hash is still the one that was read,
    so a rehash computed outside the transaction never overwrites a newer secret."""
    await connection.execute(
        sa.update(api_clients)
        .where(api_clients.c.id == client_id, api_clients.c.secret_hash == old_hash)
        .values(secret_hash=new_hash)
    )


async def revoke_client(connection: AsyncConnection, *, client_id: UUID, now_ms: int) -> bool:
    """True if the client existed; revoking twice keeps the first revocation time."""
    result = await connection.execute(
        sa.update(api_clients)
        .where(api_clients.c.id == client_id)
        .values(revoked_ms=sa.func.coalesce(api_clients.c.revoked_ms, now_ms))
    )
    return result.rowcount > 0


async def find_tenant_by_name(connection: AsyncConnection, *, name: str) -> UUID | None:
    found = await connection.scalar(
        sa.select(tenants.c.id)
        .where(tenants.c.name == name)
        .order_by(tenants.c.created_ms)
        .limit(1)
    )
    return found


_CLIENT_AND_ENTITY = (
    sa.select(
        api_clients.c.tenant_id.label("client_tenant_id"),
        api_clients.c.revoked_ms.label("client_revoked_ms"),
        entities,
    )
    .select_from(
        api_clients.outerjoin(
            entities,
            sa.and_(
                entities.c.id == sa.bindparam("entity_id"),
                entities.c.tenant_id == api_clients.c.tenant_id,
            ),
        )
    )
    .where(api_clients.c.id == sa.bindparam("client_id"))
)


async def client_and_entity(
    connection: AsyncConnection, *, client_id: UUID, entity_id: UUID
) -> sa.Row[Any] | None:
    """One round trip for what every entity request checks: the client (is it revoked?)
    and the entity, if it belongs to the client's tenant (else its columns are null)."""
    result = await connection.execute(
        _CLIENT_AND_ENTITY, {"client_id": client_id, "entity_id": entity_id}
    )
    return result.first()
