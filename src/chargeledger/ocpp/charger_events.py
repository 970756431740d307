"""A charger's event log: what it said besides meter values and transactions, and what we
did about its messages (values dropped and why, deviations tolerated, connections replaced).
Listed newest first, paged like every other list."""

from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.entities.service import get_entity
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.storage.database import Database

# What one event may keep of a message: NotifyReport and friends can be large, and the log
# is for reading, not for replaying megabytes.
MAX_DETAIL_BYTES = 16 * 1024


async def record_charger_events(
    database: Database, entity_id: UUID, events: list[tuple[str, dict[str, Any]]], *, now_ms: int
) -> None:
    """Store (kind, detail) events of one charger, in one transaction."""
    if events:
        async with database.write() as connection:
            await ocpp_repository.add_charger_events(
                connection,
                [(entity_id, kind, bounded(detail), now_ms) for kind, detail in events],
            )


def bounded(detail: dict[str, Any]) -> dict[str, Any]:
    """The detail, or what can be said of it when it is too large to keep."""
    try:
        size = len(orjson.dumps(detail, default=str))
    except TypeError:  # an integer beyond 64 bits, which JSON allows and orjson refuses
        detail = json_safe(detail)
        size = len(orjson.dumps(detail, default=str))
    if size <= MAX_DETAIL_BYTES:
        return detail
    return {"truncated": True, "bytes": size, "fields": sorted(detail)[:50]}


def json_safe(value: Any) -> Any:
    """The value with integers beyond 64 bits as their text (frames nest a bounded depth:
    ocpp/charge_points/frames.py)."""
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, int) and not -(2**63) <= value < 2**64:
        return str(value)
    return value


async def list_charger_events(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    await get_entity(connection, tenant_id=tenant_id, entity_id=entity_id)
    before = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.OCPP_EVENTS, scope_id=entity_id
    )
    rows = await ocpp_repository.charger_events_page(
        connection, entity_id=entity_id, before=before, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.OCPP_EVENTS,
        scope_id=entity_id,
        sort_key=lambda row: (row.received_ms, row.id),
    )
