from typing import Annotated, Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.charge_sessions import versions_service
from chargeledger.charge_sessions.versions_schemas import ChargeSessionVersionPage
from chargeledger.domain.instants import format_instant
from chargeledger.kit.openapi_responses import READ
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, EntityId, PageSize
from chargeledger.kit.responses import page_response
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Charge Sessions API"])

SessionId = Annotated[UUID, Path(description="The id of the Charge Session")]


@router.get(
    "/v1/entities/{entityId}/charge-sessions/{sessionId}/versions",
    summary="List the versions of a Charge Session",
    description="Every state the session has had, oldest first: its record at that version, "
    "why it changed (`reason`), which channel changed it (`source`) and when (`recorded`). "
    "The last one is what GET .../charge-sessions/{sessionId} serves now. A session that a "
    "re-derivation removed (two pieces found to be one charge, say) still answers here: its "
    "last version has `change` removed and names the sessions that replaced it in "
    "`replacedBy`. Sessions stored before history was kept start with version 1, reason "
    "`migrated`: their state at that time. Paged like the sessions list: follow `links.next` "
    "(null on the last page).",
    response_model=ChargeSessionVersionPage,
    response_description="OK",
    responses=READ,
)
async def list_charge_session_versions(
    request: Request,
    entityId: EntityId,  # noqa: N803
    sessionId: SessionId,  # noqa: N803
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read_entity(entityId) as (connection, entity):
        page = await versions_service.list_versions(
            connection,
            entity=entity,
            session_id=sessionId,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    return page_response(request, page, _version_item, public_url=context.state.settings.public_url)


def _version_item(row: sa.Row[Any]) -> dict[str, Any]:
    """The stored record and replacedBy spliced in as they are: never parsed again."""
    return {
        "version": row.version,
        "change": row.change,
        "reason": row.reason,
        "source": row.source,
        "recorded": format_instant(row.recorded_ms),
        "record": orjson.Fragment(row.record_json),
        "replacedBy": None
        if row.replaced_by_json is None
        else orjson.Fragment(row.replaced_by_json),
    }
