"""A session's history: every version the one writer made of it, oldest first."""

from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import versions_repository
from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.entities.service import require_charging
from chargeledger.errors import InvalidContinuationTokenError, NotFoundError
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position


async def list_versions(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    session_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    """One page of the versions of a session of an entity the caller was checked to see
    (entity_of_principal). A removed session still has them (it is no longer among the
    sessions, its history is); a session that never was is a 404."""
    entity_id = require_charging(entity).id
    after_version = 0
    position = unframed_position(
        continuation_token,
        key=cursor_key,
        kind=CursorKind.CHARGE_SESSION_VERSIONS,
        scope_id=session_id,
    )
    if position is not None:
        after_version, token_entity_id = position
        if token_entity_id != entity_id:
            raise InvalidContinuationTokenError(
                "continuationToken was issued for another list; start again without it"
            )
    rows = await versions_repository.list_page(
        connection,
        entity_id=entity_id,
        session_id=session_id,
        after_version=after_version,
        limit=page_size + 1,
    )
    if not rows and position is None:
        raise NotFoundError(f"charge session {session_id} was not found")
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.CHARGE_SESSION_VERSIONS,
        scope_id=session_id,
        sort_key=lambda row: (row.version, entity_id),
    )
