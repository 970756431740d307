"""/v1/statement-runs: every driver's statement for a period, in the background, and the
run's statements exported in one file."""

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from chargeledger.api.context import Context
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.path_alias import path_as_requested
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.statements import runs_service as service
from chargeledger.statements.runs_schemas import (
    ExportFormat,
    Run,
    RunIn,
    RunPage,
    run_resource,
)

router = APIRouter(route_class=JsonBodyRoute, tags=["Statement runs"])

RunId = Annotated[UUID, Path(description="The id of the statement run")]

_LOCATION = {
    "Location": {
        "description": "The path of the run: GET it to follow its progress",
        "schema": {
            "type": "string",
            "example": "/v1/statement-runs/3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10",
        },
    }
}
_HOW = """\
A worker of the server takes the run within seconds and walks the tenant's drivers, each in a
transaction of its own: with `finalise: true` it finalises each driver's statement (as
`POST /v1/drivers/{driverId}/statements` does; a driver already finalised for exactly this
period counts as done, so running it again finalises nothing twice), otherwise it computes the
drafts. A driver whose statement has problems (a session without a rate, a finalised statement
overlapping the period) is listed in `problems` and left as it is; the others go on. Follow
`driversDone` and `status` with `GET /v1/statement-runs/{runId}`; a run whose server stopped
is taken over by another after a few minutes."""


@router.post(
    "/v1/statement-runs",
    status_code=202,
    summary="Start a statement run",
    description="Starts computing (or finalising) the statement of every driver of the "
    "tenant for the period, and answers at once with the run (status `pending`).\n\n" + _HOW,
    response_model=Run,
    responses={202: {"description": "Accepted", "headers": _LOCATION}, **WRITE},
)
async def create_statement_run(request: Request, body: RunIn, context: Context) -> Response:
    period = service.checked_period(body.period)
    async with context.write() as connection:
        row = await service.create_run(
            connection,
            tenant_id=context.principal.tenant_id,
            period=period,
            finalise=body.finalise,
            now_ms=context.now_ms,
        )
    response = json_response(run_resource(row), 202)
    response.headers["Location"] = f"{path_as_requested(request)}/{row.id}"
    return response


@router.get(
    "/v1/statement-runs",
    summary="List the statement runs",
    description="Oldest first. Follow `links.next` (or pass `meta.continuationToken`) for the "
    "next page; both are null on the last page.",
    response_model=RunPage,
    responses=READ,
)
async def list_statement_runs(
    request: Request,
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await service.list_runs(
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
            request, context.state.settings.public_url, token, {"pageSize": str(pageSize)}
        )
    body: dict[str, Any] = {
        "data": [run_resource(row) for row in page.rows],
        "links": {"next": next_url},
        "meta": {"continuationToken": token, "pageSize": page.page_size},
    }
    return json_response(body)


@router.get(
    "/v1/statement-runs/{runId}",
    summary="Retrieve a statement run",
    description="Its status and progress: drivers done, the total so far, the drivers with "
    "problems.",
    response_model=Run,
    responses=READ,
)
async def get_statement_run(runId: RunId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        row = await service.get_run(connection, tenant_id=context.principal.tenant_id, run_id=runId)
    return json_response(run_resource(row))


_EXPORT_CONTENT = {
    media_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
    for media_type in service.MEDIA_TYPES.values()
}


@router.get(
    "/v1/statement-runs/{runId}/export",
    summary="Export a statement run",
    description="Every statement of a finished run in one file, in order of driver: for a "
    "finalising run the statements finalised for the period (as stored: byte for byte what "
    "was finalised), for a draft run every driver's draft computed now. `csv`: one row per "
    "line and a total row per statement; `xlsx`: a Summary sheet and a sheet per driver; "
    "`pdf`: each statement from a new page. 409 while the run is pending or running.",
    response_class=Response,
    responses={
        200: {
            "description": "The file (Content-Disposition: attachment)",
            "content": _EXPORT_CONTENT,
        },
        **READ,
        **problems(409),
    },
)
async def export_statement_run(
    runId: RunId,  # noqa: N803
    context: Context,
    format: Annotated[  # the parameter's documented name
        ExportFormat, Query(description="csv, xlsx or pdf")
    ],
) -> Response:
    async with context.read() as connection:
        run = await service.finished_run(
            connection, tenant_id=context.principal.tenant_id, run_id=runId
        )
    export = await service.export_run(
        context.state.database,
        tenant_id=context.principal.tenant_id,
        run=run,
        export_format=format,
    )
    # Streamed from the open file, which is already unlinked: nothing is left behind, however
    # the response ends. (Not FileResponse with a background removal: a server with the ASGI
    # pathsend extension reads the file after the app is done, when it would be gone.)
    chunks, size = service.open_export(export.path)
    return StreamingResponse(
        chunks,
        media_type=export.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{export.filename}"',
            "Content-Length": str(size),
        },
    )
