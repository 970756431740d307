from fastapi import APIRouter, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.entities import service as entities
from chargeledger.entities.schemas import (
    Entity,
    EntityIn,
    EntityPage,
    FeatureActivationIn,
    FeatureStatus,
)
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, EntityId, PageSize
from chargeledger.kit.responses import entity_resource, json_response, page_response
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Entities"])


@router.post(
    "/v1/entities",
    status_code=201,
    summary="Create an Entity",
    response_model=Entity,
    responses=problems(400, 401, 408, 409, 413, 415, 429),
)
async def create_entity(body: EntityIn, context: Context) -> Response:
    async with context.write() as connection:
        row = await entities.create_entity(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_type=body.type,
            name=body.name,
            identifier=body.identifier,
            brand=body.brand,
            properties=body.properties,
            now_ms=context.now_ms,
        )
    return json_response(entity_resource(row), status_code=201)


@router.get(
    "/v1/entities",
    summary="List all Entities",
    response_model=EntityPage,
    responses=problems(400, 401),
)
async def list_entities(
    request: Request,
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803 - re.alto's parameter name
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await entities.list_entities_page(
            connection,
            tenant_id=context.principal.tenant_id,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    return page_response(
        request, page, entity_resource, public_url=context.state.settings.public_url
    )


@router.get(
    "/v1/entities/{entityId}", summary="Retrieve an Entity", response_model=Entity, responses=READ
)
async def get_entity(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await entities.get_entity(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
    return json_response(entity_resource(row))


@router.get(
    "/v1/entities/{entityId}/features",
    summary="List the features of an Entity",
    tags=["Entity Settings"],
    response_model=list[FeatureStatus],
    responses=READ,
)
async def list_features(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await entities.get_entity(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
    return json_response(entities.feature_statuses(row))


@router.patch(
    "/v1/entities/{entityId}/features",
    summary="Activate or deactivate an Entity feature",
    description="Activates or deactivates a feature for an Entity. `CaptureChargeSessions` is "
    "on by default for EV and ChargePoint entities; while it is off, no new charge sessions "
    "are recorded for the entity.",
    tags=["Entity Settings"],
    response_model=list[FeatureStatus],
    responses={**WRITE, **problems(409)},
)
async def set_feature(
    entityId: EntityId,  # noqa: N803
    body: FeatureActivationIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        statuses = await entities.set_feature(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            feature=body.feature,
            enabled=body.enabled,
        )
    return json_response(statuses)
