"""server_secrets: where earlier releases kept the generated master secret, in plain text.
Nothing is stored there any more; a secret found there is taken out (auth/keys.py)."""

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import server_secrets


async def take_secret(connection: AsyncConnection, *, name: str) -> str | None:
    """Delete the secret and return it; None if it is not (or no longer) there. Of several
    processes taking it at once exactly one gets it: the delete is the arbiter (the others
    wait for its transaction, then find nothing)."""
    value = await connection.scalar(
        sa.delete(server_secrets)
        .where(server_secrets.c.name == name)
        .returning(server_secrets.c.value)
    )
    return None if value is None else str(value)
