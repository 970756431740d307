"""/v1/drivers: drivers, their assignments (cars, home charge points, tags) and their rate
plans, each with validity dates (validTo: the first day no longer included)."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from chargeledger.api.context import Context, RequestContext
from chargeledger.drivers import service
from chargeledger.drivers.schemas import (
    Assignment,
    AssignmentIn,
    AssignmentList,
    Driver,
    DriverIn,
    DriverPage,
    DriverPatch,
    DriverPlan,
    DriverPlanIn,
    DriverPlanList,
    EndIn,
    assignment_resource,
    driver_plan_resource,
    driver_resource,
)
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE, Page
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.path_alias import path_as_requested
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute

router = APIRouter(route_class=JsonBodyRoute, tags=["Drivers"])

DriverId = Annotated[UUID, Path(description="The id of the driver")]
AssignmentId = Annotated[UUID, Path(description="The id of the assignment")]
DriverPlanId = Annotated[UUID, Path(description="The id of the rate-plan assignment")]


def _location(example: str) -> dict[str, Any]:
    return {
        "Location": {
            "description": "The path of what was created",
            "schema": {"type": "string", "example": example},
        }
    }


_DRIVER_EXAMPLE = "/v1/drivers/3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10"
_ONE_AT_A_TIME = (
    "A car, a home charge point or a tag has one driver at a time: 409 when the same entity "
    "(or idTag) is assigned, to any driver, over overlapping dates; the detail names the "
    "other driver and the dates. A car that changes hands on 2026-10-16: PATCH the old "
    "assignment's `validTo` to 2026-10-16, then POST the new driver's from 2026-10-16."
)


# ---- drivers ---------------------------------------------------------------------------


@router.post(
    "/v1/drivers",
    status_code=201,
    summary="Create a driver",
    description="An employee who is reimbursed. `employeeNumber` is unique among the "
    "tenant's drivers (409 when taken).",
    response_model=Driver,
    responses={
        201: {"description": "Created", "headers": _location(_DRIVER_EXAMPLE)},
        **WRITE,
        **problems(409),
    },
)
async def create_driver(request: Request, body: DriverIn, context: Context) -> Response:
    async with context.write() as connection:
        row = await service.create_driver(
            connection,
            tenant_id=context.principal.tenant_id,
            name=body.name,
            employee_number=body.employeeNumber,
            region=body.region,
            email=body.email,
            now_ms=context.now_ms,
        )
    response = json_response(driver_resource(row), 201)
    response.headers["Location"] = f"{path_as_requested(request)}/{row.id}"
    return response


@router.get(
    "/v1/drivers",
    summary="List the drivers",
    description="Oldest first. Follow `links.next` (or pass `meta.continuationToken`) for the "
    "next page; both are null on the last page.",
    response_model=DriverPage,
    responses=READ,
)
async def list_drivers(
    request: Request,
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await service.list_drivers(
            connection,
            tenant_id=context.principal.tenant_id,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    return _page_response(request, context, page, [driver_resource(row) for row in page.rows])


@router.get(
    "/v1/drivers/{driverId}",
    summary="Retrieve a driver",
    response_model=Driver,
    responses=READ,
)
async def get_driver(driverId: DriverId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await service.get_driver(
            connection, tenant_id=context.principal.tenant_id, driver_id=driverId
        )
    return json_response(driver_resource(row))


@router.patch(
    "/v1/drivers/{driverId}",
    summary="Change a driver",
    description="Changes the fields given, keeps the others; `region: null` and `email: null` "
    "clear them. 409 when the new `employeeNumber` is another driver's.",
    response_model=Driver,
    responses={**WRITE, **problems(409)},
)
async def update_driver(
    driverId: DriverId,  # noqa: N803
    body: DriverPatch,
    context: Context,
) -> Response:
    changes = service.DriverChanges(
        given=frozenset(
            {"employeeNumber": "employee_number"}.get(name, name) for name in body.model_fields_set
        ),
        name=body.name,
        employee_number=body.employeeNumber,
        region=body.region,
        email=body.email,
    )
    async with context.write() as connection:
        row = await service.update_driver(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            changes=changes,
            now_ms=context.now_ms,
        )
    return json_response(driver_resource(row))


@router.delete(
    "/v1/drivers/{driverId}",
    status_code=204,
    summary="Delete a driver",
    description="Deletes the driver with their assignments and rate-plan assignments. 409 "
    "once a finalised statement names the driver: statements are kept, and so is the driver "
    "(end their assignments instead).",
    responses={**READ, **problems(409)},
)
async def delete_driver(driverId: DriverId, context: Context) -> Response:  # noqa: N803
    async with context.write() as connection:
        await service.delete_driver(
            connection, tenant_id=context.principal.tenant_id, driver_id=driverId
        )
    return Response(status_code=204)


# ---- assignments -----------------------------------------------------------------------


@router.post(
    "/v1/drivers/{driverId}/assignments",
    status_code=201,
    summary="Assign a car, home charge point or tag to a driver",
    description="`kind` car takes `entityId` of an EV, homeChargePoint of a ChargePoint (404 "
    "when the entity is not the tenant's, 400 when it is of another type); idTag takes "
    "`idTag`. Dates are local dates of the reimbursement policy's time zone; `validTo` is "
    "the first day no longer included (null: open).\n\n" + _ONE_AT_A_TIME,
    response_model=Assignment,
    responses={
        201: {
            "description": "Created",
            "headers": _location(
                _DRIVER_EXAMPLE + "/assignments/9b2d7e0a-5c1f-4e8b-a0d3-6f4e2c1b7a95"
            ),
        },
        **WRITE,
        **problems(409),
    },
)
async def create_assignment(
    request: Request,
    driverId: DriverId,  # noqa: N803
    body: AssignmentIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await service.create_assignment(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            kind=body.assignment_kind,
            entity_id=body.entityId,
            id_tag=body.idTag,
            valid_from=body.validFrom,
            valid_to=body.validTo,
            now_ms=context.now_ms,
        )
    response = json_response(assignment_resource(row), 201)
    response.headers["Location"] = f"{path_as_requested(request)}/{row.id}"
    return response


@router.get(
    "/v1/drivers/{driverId}/assignments",
    summary="List a driver's assignments",
    description="All of them, ended ones too, by `validFrom`, then when they were created "
    "(not paged: a driver has few).",
    response_model=AssignmentList,
    responses=READ,
)
async def list_assignments(driverId: DriverId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        rows = await service.list_assignments(
            connection, tenant_id=context.principal.tenant_id, driver_id=driverId
        )
    return json_response({"data": [assignment_resource(row) for row in rows]})


@router.patch(
    "/v1/drivers/{driverId}/assignments/{assignmentId}",
    summary="End an assignment",
    description="Sets `validTo`, the first day no longer included (e.g. the day the car "
    "changes hands); null opens it again. Checked for overlap like a new assignment (409).",
    response_model=Assignment,
    responses={**WRITE, **problems(409)},
)
async def end_assignment(
    driverId: DriverId,  # noqa: N803
    assignmentId: AssignmentId,  # noqa: N803
    body: EndIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await service.end_assignment(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            assignment_id=assignmentId,
            valid_to=body.validTo,
        )
    return json_response(assignment_resource(row))


@router.delete(
    "/v1/drivers/{driverId}/assignments/{assignmentId}",
    status_code=204,
    summary="Delete an assignment",
    description="As if it never was: statements computed from now on do not see it. To end "
    "one that was true, PATCH its `validTo` instead.",
    responses=READ,
)
async def delete_assignment(
    driverId: DriverId,  # noqa: N803
    assignmentId: AssignmentId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.write() as connection:
        await service.delete_assignment(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            assignment_id=assignmentId,
        )
    return Response(status_code=204)


# ---- driver rate plans -----------------------------------------------------------------


@router.post(
    "/v1/drivers/{driverId}/rate-plans",
    status_code=201,
    summary="Price a driver's charging with a rate plan",
    description="From `validFrom` until `validTo` (exclusive; null: open). 404 when the plan "
    "is not the tenant's; 409 when it overlaps another of the driver's rate-plan assignments "
    "(one plan at a time).",
    response_model=DriverPlan,
    responses={
        201: {
            "description": "Created",
            "headers": _location(
                _DRIVER_EXAMPLE + "/rate-plans/0c8e5d3a-7b1f-4a2e-9d6c-3e5f7a9b1c2d"
            ),
        },
        **WRITE,
        **problems(409),
    },
)
async def create_driver_plan(
    request: Request,
    driverId: DriverId,  # noqa: N803
    body: DriverPlanIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await service.create_driver_plan(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            plan_id=body.planId,
            valid_from=body.validFrom,
            valid_to=body.validTo,
            now_ms=context.now_ms,
        )
    response = json_response(driver_plan_resource(row), 201)
    response.headers["Location"] = f"{path_as_requested(request)}/{row.id}"
    return response


@router.get(
    "/v1/drivers/{driverId}/rate-plans",
    summary="List a driver's rate plans",
    description="Every rate-plan assignment of the driver, by `validFrom` (not paged).",
    response_model=DriverPlanList,
    responses=READ,
)
async def list_driver_plans(driverId: DriverId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        rows = await service.list_driver_plans(
            connection, tenant_id=context.principal.tenant_id, driver_id=driverId
        )
    return json_response({"data": [driver_plan_resource(row) for row in rows]})


@router.patch(
    "/v1/drivers/{driverId}/rate-plans/{driverPlanId}",
    summary="End a driver's rate plan",
    description="Sets `validTo` (exclusive; null opens it again); 409 when that overlaps "
    "another of the driver's rate-plan assignments.",
    response_model=DriverPlan,
    responses={**WRITE, **problems(409)},
)
async def end_driver_plan(
    driverId: DriverId,  # noqa: N803
    driverPlanId: DriverPlanId,  # noqa: N803
    body: EndIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        row = await service.end_driver_plan(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            assignment_id=driverPlanId,
            valid_to=body.validTo,
        )
    return json_response(driver_plan_resource(row))


@router.delete(
    "/v1/drivers/{driverId}/rate-plans/{driverPlanId}",
    status_code=204,
    summary="Delete a driver's rate plan",
    responses=READ,
)
async def delete_driver_plan(
    driverId: DriverId,  # noqa: N803
    driverPlanId: DriverPlanId,  # noqa: N803
    context: Context,
) -> Response:
    async with context.write() as connection:
        await service.delete_driver_plan(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            assignment_id=driverPlanId,
        )
    return Response(status_code=204)


def _page_response(
    request: Request, context: RequestContext, page: Page[Any], items: list[dict[str, Any]]
) -> Response:
    """The list envelope of every list (data, links.next, meta)."""
    token = page.continuation_token
    next_url = None
    if token is not None:
        next_url = next_page_url(
            request, context.state.settings.public_url, token, {"pageSize": str(page.page_size)}
        )
    return json_response(
        {
            "data": items,
            "links": {"next": next_url},
            "meta": {"continuationToken": token, "pageSize": page.page_size},
        }
    )
