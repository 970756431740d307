from fastapi import APIRouter, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.errors import InvalidInputError, UnsupportedMediaTypeError
from chargeledger.kit.openapi_responses import READ, WRITE
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, EntityId, FrameEnd, FrameStart, PageSize
from chargeledger.kit.responses import json_response, page_response, reading_resource
from chargeledger.kit.routing import JsonBodyRoute, is_json_media_type
from chargeledger.readings import service as readings
from chargeledger.readings.schemas import (
    LastReading,
    ReadingBatchResult,
    ReadingPage,
    parse_readings_body,
)
from chargeledger.readings.service import MAX_READINGS_PER_BATCH

router = APIRouter(route_class=JsonBodyRoute, tags=["Readings API"])

READINGS_BODY_SCHEMA = {
    "type": "array",
    "maxItems": MAX_READINGS_PER_BATCH,
    "items": {"$ref": "#/components/schemas/ReadingIn"},
}


@router.post(
    "/v1/entities/{entityId}/readings",
    summary="Ingest Readings",
    description="A batch of up to 10,000 readings in re.alto's normalized Reading shape. Units "
    "are converted on the way in. Readings are idempotent on (entity, timestamp): a repeat is "
    "counted as a duplicate, not stored twice. A bad reading is rejected by its index and the "
    "good ones are stored. The answer comes only after the stored readings, and the charge "
    "sessions detected from them, are committed. Bodies may be up to 16 MiB.",
    response_model=ReadingBatchResult,
    responses=WRITE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": READINGS_BODY_SCHEMA}},
        }
    },
)
async def post_readings(
    request: Request,
    entityId: EntityId,  # noqa: N803
    context: Context,
) -> Response:
    # The body is read here, not declared: orjson parses a 10,000-reading batch several
    # times faster than the framework's json, and each reading is validated on its own
    # below, so one bad reading does not refuse the batch (the document is in openapi_extra).
    accepted, rejected = parse_readings_body(
        await _json_body(request), now_ms=context.now_ms, max_readings=MAX_READINGS_PER_BATCH
    )
    async with context.write() as connection:
        result = await readings.ingest_readings(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            readings=accepted,
            now_ms=context.now_ms,
            config=context.state.settings.detector_config,
        )
    return json_response(
        {"stored": result.stored, "duplicates": result.duplicates, "rejected": rejected}
    )


async def _json_body(request: Request) -> bytes:
    raw = await request.body()
    if not raw:
        raise InvalidInputError(
            "the body is required: a JSON array of readings",
            errors=[{"name": "body", "in": "body", "detail": "is required"}],
        )
    content_type = request.headers.get("content-type")
    if content_type is None or not is_json_media_type(content_type):
        raise UnsupportedMediaTypeError(
            f"Content-Type {content_type or 'missing'} is not supported; send application/json"
        )
    return raw


@router.get(
    "/v1/entities/{entityId}/readings",
    summary="List the Readings of an Entity",
    description="Readings with `start <= timestamp < end`, oldest first, paged like charge "
    "sessions.",
    response_model=ReadingPage,
    responses=READ,
)
async def list_readings(
    request: Request,
    entityId: EntityId,  # noqa: N803
    start: FrameStart,
    context: Context,
    end: FrameEnd = None,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read_entity(entityId) as (connection, entity):
        page = await readings.list_readings(
            connection,
            entity=entity,
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
        reading_resource,
        public_url=context.state.settings.public_url,
    )


@router.get(
    "/v1/entities/{entityId}/readings/last",
    summary="Retrieve the last Reading of an Entity",
    response_model=LastReading,
    responses=READ,
)
async def last_reading(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await readings.last_reading(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
    return json_response({"data": reading_resource(row)})
