"""Routes for the benchmark's side-by-side comparisons (bench/), mounted only when
CHARGELEDGER_BENCH_ROUTES=1: never in production, not in the OpenAPI document."""

from functools import lru_cache
from typing import Annotated

import orjson
from fastapi import APIRouter, Query, WebSocket
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from chargeledger.api.context import Context
from chargeledger.api.params import EntityId, FrameEnd, FrameStart, PageSize
from chargeledger.api.serialization import charge_session_record, json_response
from chargeledger.services.entities import get_charging_entity
from chargeledger.storage import charge_sessions as sessions_repository

router = APIRouter(include_in_schema=False)


@lru_cache(maxsize=64)
def _body_of_size(size: int) -> bytes:
    filler = max(0, size - len(b'{"data":""}'))
    return b'{"data":"' + b"x" * filler + b'"}'


@router.get("/bench/static")
async def static_body(
    context: Context,  # the same bearer token check, which needs no database
    size: Annotated[int, Query(ge=0, le=10_000_000)],
) -> Response:
    """The framework floor: the server stack and auth, a precomputed body, no database."""
    return Response(_body_of_size(size), media_type="application/json")


_FLOOR_ANSWERS = {
    "BootNotification": {
        "status": "Accepted",
        "currentTime": "2024-01-01T00:00:00Z",
        "interval": 60,
    },
    "StartTransaction": {"transactionId": 1, "idTagInfo": {"status": "Accepted"}},
}


@router.websocket("/bench/ocpp-floor/{identity}")
async def ocpp_floor(websocket: WebSocket, identity: str) -> None:
    """The OCPP floor: the same server's WebSocket path answering every CALL at once, with no
    password check, no `ocpp` package and no database."""
    await websocket.accept(subprotocol="ocpp1.6")
    try:
        while True:
            frame = orjson.loads(await websocket.receive_text())
            answer = _FLOOR_ANSWERS.get(frame[2], {})
            await websocket.send_text(orjson.dumps([3, frame[1], answer]).decode())
    except WebSocketDisconnect:
        return


@router.get("/bench/offset/v1/entities/{entityId}/charge-sessions")
async def offset_page(
    entityId: EntityId,  # noqa: N803
    start: FrameStart,
    end: FrameEnd,
    context: Context,
    page: Annotated[int, Query(ge=1)] = 1,
    pageSize: PageSize = 25,  # noqa: N803
) -> Response:
    """The usual approach: the same page reached by OFFSET/LIMIT instead of a keyset."""
    async with context.read() as connection:
        await get_charging_entity(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
        rows = await sessions_repository.list_page_by_offset(
            connection,
            entity_id=entityId,
            frame_start_ms=start,
            frame_end_ms=context.now_ms if end is None else end,
            offset=(page - 1) * pageSize,
            limit=pageSize,
        )
    return json_response(
        {
            "data": [charge_session_record(row) for row in rows],
            "links": {"next": None},
            "meta": {"continuationToken": None, "pageSize": pageSize},
        }
    )
