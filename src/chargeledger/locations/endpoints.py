from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, EntityId, PageSize
from chargeledger.kit.responses import json_response, location_resource, page_response
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.locations import service as locations
from chargeledger.locations.schemas import Location, LocationIn, LocationPage

router = APIRouter(route_class=JsonBodyRoute, tags=["Entity Settings"])

LocationId = Annotated[UUID, Path(description="The id of the Location")]
_MATCHING_NOTE = (
    " The entity's stored charge sessions are matched against its locations again, so their "
    "locationMatches always reflect the current locations."
)


@router.get(
    "/v1/entities/{entityId}/locations",
    summary="List the Locations of an Entity",
    response_model=LocationPage,
    responses=READ,
)
async def list_locations(
    request: Request,
    entityId: EntityId,  # noqa: N803
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await locations.list_locations_page(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    return page_response(
        request, page, location_resource, public_url=context.state.settings.public_url
    )


@router.post(
    "/v1/entities/{entityId}/locations",
    status_code=201,
    summary="Add a Location to an Entity",
    description="A circle (centre and radius in metres) that sessions are matched against."
    + _MATCHING_NOTE,
    response_model=Location,
    responses={**WRITE, **problems(409)},
)
async def create_location(
    entityId: EntityId,  # noqa: N803
    body: LocationIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await locations.create_location(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            label=body.label,
            address=body.address,
            latitude=body.latitude,
            longitude=body.longitude,
            radius_m=body.radius,
            now_ms=context.now_ms,
            detector_config=context.state.settings.detector_config,
        )
    return json_response(location_resource(row), status_code=201)


@router.get(
    "/v1/entities/{entityId}/locations/{locationId}",
    summary="Retrieve a Location of an Entity",
    response_model=Location,
    responses=READ,
)
async def get_location(
    entityId: EntityId,  # noqa: N803
    locationId: LocationId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.read() as connection:
        row = await locations.get_location(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            location_id=locationId,
        )
    return json_response(location_resource(row))


@router.put(
    "/v1/entities/{entityId}/locations/{locationId}",
    summary="Replace a Location of an Entity",
    description="Replaces every field of the location." + _MATCHING_NOTE,
    response_model=Location,
    responses=WRITE,
)
async def replace_location(
    entityId: EntityId,  # noqa: N803
    locationId: LocationId,  # noqa: N803
    body: LocationIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await locations.replace_location(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            location_id=locationId,
            label=body.label,
            address=body.address,
            latitude=body.latitude,
            longitude=body.longitude,
            radius_m=body.radius,
            now_ms=context.now_ms,
            detector_config=context.state.settings.detector_config,
        )
    return json_response(location_resource(row))


@router.delete(
    "/v1/entities/{entityId}/locations/{locationId}",
    status_code=204,
    summary="Remove a Location from an Entity",
    description="Removes the location." + _MATCHING_NOTE,
    responses=READ,
)
async def delete_location(
    entityId: EntityId,  # noqa: N803
    locationId: LocationId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.write() as connection:
        await locations.delete_location(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            location_id=locationId,
            now_ms=context.now_ms,
            detector_config=context.state.settings.detector_config,
        )
    return Response(status_code=204)
