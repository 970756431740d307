from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.charge_sessions import service as charge_sessions
from chargeledger.charge_sessions.schemas import ChargeSessionIn, ChargingRecord, ChargingRecordPage
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import (
    ChargingRecordPageSize,
    ContinuationToken,
    EntityId,
    FrameEnd,
    FrameStart,
)
from chargeledger.kit.responses import charge_session_record, json_response, page_response
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Charge Sessions API"])

SessionId = Annotated[UUID, Path(description="The id of the Charge Session")]


@router.get(
    "/v1/entities/{entityId}/charge-sessions",
    summary="List all Charge Sessions for an Entity",
    description="Returns the list of Charging Records for the Entity for the defined time "
    "frame.\n\nA session is in the frame when `start <= session start < end`, so consecutive "
    "frames never list a session twice. Sessions come ordered by start, then id; only "
    "completed sessions are listed. Follow `links.next` (or pass `meta.continuationToken` "
    "with the same `start` and `end`) for the next page; both are null on the last page.",
    response_model=ChargingRecordPage,
    response_description="OK",
    responses=READ,
)
async def list_charge_sessions(
    request: Request,
    entityId: EntityId,  # noqa: N803
    start: FrameStart,
    context: Context,
    end: FrameEnd = None,
    pageSize: ChargingRecordPageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read_unchecked() as connection:
        page = await charge_sessions.list_sessions(
            connection,
            principal=context.principal,
            entity_id=entityId,
            frame_start_ms=start,
            frame_end_ms=end,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
            now_ms=context.now_ms,
        )
    return page_response(
        request,
        page,
        charge_session_record,
        public_url=context.state.settings.public_url,
    )


@router.get(
    "/v1/entities/{entityId}/charge-sessions/{sessionId}",
    summary="Retrieve a Charge Session",
    response_model=ChargingRecord,
    responses=READ,
)
async def get_charge_session(
    entityId: EntityId,  # noqa: N803
    sessionId: SessionId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.read_entity(entityId) as (connection, entity):
        row = await charge_sessions.get_session(connection, entity=entity, session_id=sessionId)
    return json_response(charge_session_record(row))


@router.post(
    "/v1/entities/{entityId}/charge-sessions",
    summary="Record a Charge Session measured elsewhere",
    description="Takes a Charging Record's `data` plus the sender's `externalId`. Idempotent: "
    "the same `externalId` again answers 200 with the same `id` and `created`; different "
    "content under the same `externalId` is a correction that replaces the stored values. "
    "`charge.total` must be consistent (t1+t2+t3+t4 = total within 0.001 kWh); "
    "`averagePower` is computed from the total and the duration (a given one must agree). "
    "409 when the entity's CaptureChargeSessions feature is off.",
    response_model=ChargingRecord,
    status_code=201,
    responses={
        200: {
            "description": "Already recorded under this externalId (returned as stored, "
            "after applying a correction if the content differed)",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/ChargingRecord"}}
            },
        },
        **WRITE,
        **problems(409),
    },
)
async def record_charge_session(
    entityId: EntityId,  # noqa: N803
    body: ChargeSessionIn,
    context: Context,
) -> Response:
    record, claimed_average_power_kw = body.to_record()
    async with context.write() as connection:
        recorded = await charge_sessions.record_external_session(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            external_id=body.externalId,
            record=record,
            claimed_average_power_kw=claimed_average_power_kw,
            now_ms=context.now_ms,
        )
    return json_response(
        orjson.Fragment(recorded.record_json), status_code=201 if recorded.created else 200
    )
