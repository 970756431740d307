from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import server_secrets


async def get_or_create_secret(
    connection: AsyncConnection, *, name: str, generate: Callable[[], str], now_ms: int
) -> str:
    """The stored secret of that name; the first caller's generated value wins any race."""
    insert = insert_on_conflict(connection, server_secrets).values(
        name=name, value=generate(), created_ms=now_ms
    )
    await connection.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
    value = await connection.scalar(
        sa.select(server_secrets.c.value).where(server_secrets.c.name == name)
    )
    assert value is not None
    return str(value)
