"""The app the benchmark serves: the product's app, as `chargeledger serve` builds it, plus the
routes the benchmark compares against. They live here and not in the product, so a production
server cannot mount them by any setting:

- `/bench/static`: the framework floor, a precomputed body behind the same bearer check;
- `/bench/offset/v1/entities/{id}/charge-sessions`: the same pages by OFFSET/LIMIT, the usual
  approach the continuation tokens are compared with;
- `/bench/ocpp-floor/{identity}`: an OCPP WebSocket that answers every call at once.

Served by `python -m bench.serve` (bench/serve.py)."""

from collections.abc import Sequence
from functools import lru_cache
from typing import Annotated, Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from fastapi import APIRouter, FastAPI, Query, WebSocket
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.responses import Response
from starlette.websockets import WebSocketDisconnect

from chargeledger.api.app import create_app, create_app_from_environment
from chargeledger.api.context import Context
from chargeledger.entities.service import get_charging_entity
from chargeledger.kit.params import EntityId, FrameEnd, FrameStart, PageSize
from chargeledger.kit.responses import charge_session_record, json_response
from chargeledger.settings import Settings
from chargeledger.storage.tables import charge_sessions

router = APIRouter(include_in_schema=False)


def create_bench_app(settings: Settings | None = None) -> FastAPI:
    """The product's app with the benchmark's routes added after its own."""
    app = create_app(settings)
    app.include_router(router)
    return app


def create_bench_app_from_environment() -> FastAPI:
    """Factory for the server workers, as the product's: configuration from the environment."""
    app = create_app_from_environment()
    app.include_router(router)
    return app


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


async def list_page_by_offset(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int,
    offset: int,
    limit: int,
) -> Sequence[sa.Row[Any]]:
    """The usual OFFSET/LIMIT paging on the same index as the product's keyset pages: the
    database reads and throws away `offset` rows, so deep pages cost more and more."""
    result = await connection.execute(
        sa.select(charge_sessions)
        .where(
            charge_sessions.c.entity_id == entity_id,
            charge_sessions.c.start_ms >= frame_start_ms,
            charge_sessions.c.start_ms < frame_end_ms,
        )
        .order_by(charge_sessions.c.start_ms, charge_sessions.c.id)
        .offset(offset)
        .limit(limit)
    )
    return result.all()


@router.get("/bench/offset/v1/entities/{entityId}/charge-sessions")
async def offset_page(
    entityId: EntityId,  # noqa: N803
    start: FrameStart,
    end: FrameEnd,
    context: Context,
    page: Annotated[int, Query(ge=1)] = 1,
    pageSize: PageSize = 25,  # noqa: N803
) -> Response:
    """The same page as the product's list, reached by OFFSET/LIMIT instead of a keyset."""
    async with context.read() as connection:
        await get_charging_entity(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
        rows = await list_page_by_offset(
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
