"""/v1/rate-plans: rate plans, their periods, and their import from CSV."""

from datetime import date
from email.message import Message
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.errors import InvalidInputError, UnsupportedMediaTypeError
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.path_alias import path_as_requested
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.rate_plans import csv_import, service
from chargeledger.rate_plans.schemas import (
    PRICES_AS_STRINGS,
    ImportResult,
    PeriodPut,
    RatePlan,
    RatePlanIn,
    RatePlanPage,
    RatePlanPatch,
    parse_local_date,
    plan_resource,
)
from chargeledger.rate_plans.service import PlanView

router = APIRouter(route_class=JsonBodyRoute, tags=["Rate plans"])

PlanId = Annotated[UUID, Path(description="The id of the rate plan")]
PeriodStart = Annotated[
    str,
    Path(
        description="The first day of the period, YYYY-MM-DD",
        examples=["2026-10-01"],
        json_schema_extra={"format": "date"},
    ),
]

_LOCATION = {
    "Location": {
        "description": "The path of what was created",
        "schema": {
            "type": "string",
            "example": "/v1/rate-plans/3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10",
        },
    }
}
_PRICES = (
    "Prices are per kWh, per register t1..t4, as JSON strings of decimals "
    f"(0 to 1000, at most 6 decimals; a JSON number is refused: {PRICES_AS_STRINGS}); a "
    "register left out costs t1's price. Dates are local dates YYYY-MM-DD; `validTo` is the "
    "first day no longer included, null for open."
)
_CSV_FORMAT = """\
The body is a CSV file (`Content-Type: text/csv`, at most 1 MiB), UTF-8 with or without a byte
order mark, comma-separated, quoted as spreadsheets do, with a header row naming its columns in
any order (names are matched ignoring case and surrounding spaces):

| column | required | content |
|---|---|---|
| `plan` | yes | the plan's name, 1 to 200 characters |
| `currency` | yes | ISO 4217, e.g. `EUR`: the same on all rows of a plan, and as stored |
| `valid_from` | yes | the period's first day, `YYYY-MM-DD` |
| `valid_to` | no | the first day no longer included (after `valid_from`); empty: open |
| `t1_price_per_kwh` | yes | a decimal with `.` as the mark, 0 to 1000, at most 6 decimals |
| `t2_price_per_kwh`, `t3_price_per_kwh`, `t4_price_per_kwh` | no | the same; empty: t1's price |

A plan the tenant has no plan of that name is created (without a cap); otherwise each row
replaces the plan's period with the same `valid_from` (its end and prices), and the plan's other
periods stay. A plan's periods (the file's and those stored) must not overlap. Empty rows are
skipped. All or nothing: any problem refuses the whole file with 400, each problem as
"row N, column C: why" (the header is row 1), and nothing is stored.

Example (the CREG maximum per region, one quarter):

```csv
plan,currency,valid_from,valid_to,t1_price_per_kwh,t2_price_per_kwh
CREG maximum Flanders,EUR,2026-10-01,2027-01-01,0.2845,0.2845
```"""


def _plan_response(view: PlanView, status_code: int = 200) -> Response:
    return json_response(plan_resource(view.row, view.periods), status_code)


@router.post(
    "/v1/rate-plans",
    status_code=201,
    summary="Create a rate plan",
    description="A price list: per period of local dates, a price per kWh for each register, "
    "optionally capped by another plan of the same currency (per register, the lower price "
    "applies: an employee's contract price capped by the regional maximum). " + _PRICES,
    response_model=RatePlan,
    responses={201: {"description": "Created", "headers": _LOCATION}, **WRITE},
)
async def create_rate_plan(request: Request, body: RatePlanIn, context: Context) -> Response:
    async with context.write() as connection:
        view = await service.create_plan(
            connection,
            tenant_id=context.principal.tenant_id,
            name=body.name,
            currency=body.currency,
            cap_plan_id=body.capPlanId,
            periods=[period.period() for period in body.periods],
            now_ms=context.now_ms,
        )
    response = _plan_response(view, 201)
    response.headers["Location"] = f"{path_as_requested(request)}/{view.row.id}"
    return response


@router.get(
    "/v1/rate-plans",
    summary="List the rate plans",
    description="Oldest first, each with its periods. Follow `links.next` (or pass "
    "`meta.continuationToken`) for the next page; both are null on the last page.",
    response_model=RatePlanPage,
    responses=READ,
)
async def list_rate_plans(
    request: Request,
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page, periods = await service.list_plans(
            connection,
            tenant_id=context.principal.tenant_id,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    token = page.continuation_token
    next_url = None
    if token is not None:
        next_url = next_page_url(
            request, context.state.settings.public_url, token, {"pageSize": str(page.page_size)}
        )
    return json_response(
        {
            "data": [plan_resource(row, periods[row.id]) for row in page.rows],
            "links": {"next": next_url},
            "meta": {"continuationToken": token, "pageSize": page.page_size},
        }
    )


@router.post(
    "/v1/rate-plans/import",
    summary="Import rate plans from CSV",
    description=_CSV_FORMAT,
    response_model=ImportResult,
    responses=WRITE,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": "plan,currency,valid_from,valid_to,t1_price_per_kwh,"
                    "t2_price_per_kwh\nCREG maximum Flanders,EUR,2026-10-01,2027-01-01,"
                    "0.2845,0.2845\n",
                }
            },
        }
    },
)
async def import_rate_plans(request: Request, context: Context) -> Response:
    content_type = request.headers.get("content-type")
    data = await request.body()  # bounded to 1 MiB by the body size limit
    _check_csv_media_type(content_type)
    plans = csv_import.parse_plans(data)
    async with context.write() as connection:
        imported = await csv_import.import_plans(
            connection, tenant_id=context.principal.tenant_id, plans=plans, now_ms=context.now_ms
        )
    return json_response(
        {
            "plans": [
                {
                    "id": str(plan.id),
                    "name": plan.name,
                    "created": plan.created,
                    "periodsImported": plan.periods_imported,
                }
                for plan in imported
            ]
        }
    )


def _check_csv_media_type(content_type: str | None) -> None:
    message = Message()
    message["content-type"] = content_type or ""
    if content_type is None or message.get_content_type() != "text/csv":
        raise UnsupportedMediaTypeError(
            f"Content-Type {content_type or 'missing'} is not supported; send text/csv"
        )
    charset = message.get_param("charset")
    if isinstance(charset, str) and charset.lower().replace("_", "-") not in ("utf-8", "utf8"):
        raise UnsupportedMediaTypeError(f"charset {charset} is not supported; send UTF-8")


@router.get(
    "/v1/rate-plans/{planId}",
    summary="Retrieve a rate plan",
    response_model=RatePlan,
    responses=READ,
)
async def get_rate_plan(planId: PlanId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        view = await service.get_plan(
            connection, tenant_id=context.principal.tenant_id, plan_id=planId
        )
    return _plan_response(view)


@router.patch(
    "/v1/rate-plans/{planId}",
    summary="Change a rate plan",
    description="Changes the fields given, keeps the others. `capPlanId: null` removes the "
    "cap; a cap must be another plan of the tenant in the same currency, not capped by this "
    "one (directly or through others). Periods change with PUT and DELETE "
    "`.../periods/{validFrom}`.",
    response_model=RatePlan,
    responses=WRITE,
)
async def update_rate_plan(
    planId: PlanId,  # noqa: N803
    body: RatePlanPatch,
    context: Context,
) -> Response:
    async with context.write() as connection:
        view = await service.update_plan(
            connection,
            tenant_id=context.principal.tenant_id,
            plan_id=planId,
            name=body.name,
            change_cap="capPlanId" in body.model_fields_set,
            cap_plan_id=body.capPlanId,
            now_ms=context.now_ms,
        )
    return _plan_response(view)


@router.delete(
    "/v1/rate-plans/{planId}",
    status_code=204,
    summary="Delete a rate plan",
    description="With its periods. Refused (409) while a driver is assigned the plan or it "
    "caps another plan.",
    responses={**READ, **problems(409)},
)
async def delete_rate_plan(planId: PlanId, context: Context) -> Response:  # noqa: N803
    async with context.write() as connection:
        await service.delete_plan(connection, tenant_id=context.principal.tenant_id, plan_id=planId)
    return Response(status_code=204)


def _period_start(text: str) -> date:
    try:
        return parse_local_date(text)
    except ValueError as error:
        raise InvalidInputError(
            f"validFrom: {error}",
            errors=[{"name": "validFrom", "in": "path", "detail": str(error)}],
        ) from None


@router.put(
    "/v1/rate-plans/{planId}/periods/{validFrom}",
    summary="Create or replace a period of a rate plan",
    description="The period starting on `validFrom` gets the end and prices given (created if "
    "the plan has none starting that day), and the answer is the whole plan. 409 when it "
    "would overlap another of the plan's periods. " + _PRICES,
    response_model=RatePlan,
    responses={**WRITE, **problems(409)},
)
async def put_rate_plan_period(
    planId: PlanId,  # noqa: N803
    validFrom: PeriodStart,  # noqa: N803
    body: PeriodPut,
    context: Context,
) -> Response:
    start = _period_start(validFrom)
    async with context.write() as connection:
        view = await service.put_period(
            connection,
            tenant_id=context.principal.tenant_id,
            plan_id=planId,
            period=body.period(start),
            now_ms=context.now_ms,
        )
    return _plan_response(view)


@router.delete(
    "/v1/rate-plans/{planId}/periods/{validFrom}",
    status_code=204,
    summary="Delete a period of a rate plan",
    description="404 when the plan has no period starting on `validFrom`.",
    responses=READ,
)
async def delete_rate_plan_period(
    planId: PlanId,  # noqa: N803
    validFrom: PeriodStart,  # noqa: N803
    context: Context,
) -> Response:
    start = _period_start(validFrom)
    async with context.write() as connection:
        await service.delete_period(
            connection,
            tenant_id=context.principal.tenant_id,
            plan_id=planId,
            valid_from=start,
            now_ms=context.now_ms,
        )
    return Response(status_code=204)
