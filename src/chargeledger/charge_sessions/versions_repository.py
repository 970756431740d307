"""Reading a session's versions (written by charge_sessions/writer.py only)."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.storage.tables import charge_session_versions

_VERSIONS = charge_session_versions.c


async def list_page(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    session_id: UUID,
    after_version: int,
    limit: int,
) -> Sequence[Any]:
    """The session's versions after `after_version`, oldest first: one range scan of the
    primary key (entity_id, session_id, version)."""
    query = (
        sa.select(
            _VERSIONS.version,
            _VERSIONS.recorded_ms,
            _VERSIONS.change,
            _VERSIONS.reason,
            _VERSIONS.source,
            _VERSIONS.record_json,
            _VERSIONS.replaced_by_json,
        )
        .where(
            _VERSIONS.entity_id == entity_id,
            _VERSIONS.session_id == session_id,
            _VERSIONS.version > after_version,
        )
        .order_by(_VERSIONS.version)
        .limit(limit)
    )
    return (await connection.execute(query)).all()
