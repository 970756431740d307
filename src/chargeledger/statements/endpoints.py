"""Statements: a driver's draft for a period, finalising it, the finalised statements (kept
byte for byte as finalised) and their exports as CSV, XLSX or PDF."""

import io
import re
import tempfile
from datetime import date
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from chargeledger.api.context import Context
from chargeledger.errors import InvalidInputError
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, PageSize
from chargeledger.kit.path_alias import path_as_requested
from chargeledger.kit.responses import json_response, next_page_url
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.statements import service
from chargeledger.statements.exports.csv_export import write_csv
from chargeledger.statements.exports.pdf_export import write_pdf
from chargeledger.statements.exports.xlsx_export import write_xlsx
from chargeledger.statements.periods import Period, PeriodError, parse_period
from chargeledger.statements.schemas import (
    PERIOD_DESCRIPTION,
    PERIOD_EXAMPLE,
    FinaliseIn,
    StatementDocument,
    StatementPage,
    summary_resource,
)

router = APIRouter(route_class=JsonBodyRoute, tags=["Statements"])

DriverId = Annotated[UUID, Path(description="The id of the driver")]
StatementId = Annotated[UUID, Path(description="The id of the finalised statement")]
PeriodParam = Annotated[
    str, Query(max_length=32, description=PERIOD_DESCRIPTION, examples=[PERIOD_EXAMPLE])
]

_DOCUMENT = (
    "The statement document has one line per counted session (the strongest evidence of "
    "each charge: a session seen by the car and by the home charge point counts once, the "
    "other named in `alsoSeenBy`), each priced at the driver's rate plan of the local date "
    "it started (kWh x price per register, rounded once, half up, to the currency's minor "
    "unit), then one adjustment line per session of an earlier finalised statement that "
    "changed since or arrived late (the difference to what was paid, referencing that "
    "statement). Money, prices and kWh are decimal strings. `contentSha256` is the SHA-256 of "
    "the document's canonical JSON (keys sorted, no spaces) without `contentSha256`."
)

# ---- exports -------------------------------------------------------------------------------

ExportFormat = Literal["csv", "xlsx", "pdf"]
_MEDIA_TYPES: dict[str, str] = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_FILE = {"type": "string", "format": "binary"}
EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as an attachment named "
        "statement-<number or draft>-<employeeNumber>.<format>",
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            _MEDIA_TYPES["xlsx"]: {"schema": _FILE},
            _MEDIA_TYPES["pdf"]: {"schema": _FILE},
        },
        "headers": {
            "Content-Disposition": {
                "description": 'attachment; filename="statement-2026-000042-E-10442.pdf"',
                "schema": {"type": "string"},
            }
        },
    }
}
FormatParam = Annotated[
    ExportFormat,
    Query(alias="format", description="csv, xlsx (a sheet per driver) or pdf"),
]
_UNSAFE_IN_FILE_NAMES = re.compile(r"[^A-Za-z0-9._-]+", re.ASCII)


def export_bytes(document: dict[str, Any], export_format: ExportFormat) -> bytes:
    """One statement document (with its contentSha256) as a file. Blocking: run it in a
    thread."""
    if export_format == "csv":
        text = io.StringIO(newline="")
        write_csv([document], text)
        return text.getvalue().encode()
    if export_format == "pdf":
        binary = io.BytesIO()
        write_pdf(document, binary)
        return binary.getvalue()
    with tempfile.TemporaryDirectory(prefix="chargeledger-export-") as directory:
        path = FilePath(directory) / "statement.xlsx"
        write_xlsx([document], path)
        return path.read_bytes()


def export_response(
    document: dict[str, Any], export_format: ExportFormat, *, label: str
) -> Response:
    employee_number = _UNSAFE_IN_FILE_NAMES.sub("_", document["driver"]["employeeNumber"])
    file_name = (
        f"statement-{_UNSAFE_IN_FILE_NAMES.sub('_', label)}-{employee_number}.{export_format}"
    )
    return Response(
        export_bytes(document, export_format),
        media_type=_MEDIA_TYPES[export_format],
        headers={"Content-Disposition": f'attachment; filename="{file_name}"'},
    )


def _period(text: str, where: Literal["query", "body"]) -> Period:
    try:
        return parse_period(text)
    except PeriodError as error:
        raise InvalidInputError(
            f"period: {error}", errors=[{"name": "period", "in": where, "detail": str(error)}]
        ) from None


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def _date(text: str, name: str) -> date:
    detail = f"must be a date as YYYY-MM-DD, such as 2026-10-01; got {text!r}"
    day = None
    if _DATE.fullmatch(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            detail = f"{text} is not a date of the calendar"
    if day is None:
        raise InvalidInputError(
            f"{name}: {detail}", errors=[{"name": name, "in": "query", "detail": detail}]
        )
    return day


def _document_response(content: bytes, status_code: int = 200) -> Response:
    return Response(content, status_code=status_code, media_type="application/json")


@router.get(
    "/v1/drivers/{driverId}/statements/draft",
    summary="Compute a driver's draft statement",
    description="The driver's statement for the period as it would be finalised now, with its "
    "`contentSha256`: pass that to finalise exactly what was checked. Nothing is stored. "
    + _DOCUMENT,
    response_model=StatementDocument,
    responses=READ,
)
async def get_draft(
    driverId: DriverId,  # noqa: N803
    period: PeriodParam,
    context: Context,
) -> Response:
    parsed = _period(period, "query")
    async with context.read() as connection:
        draft = await service.compute_draft(
            connection, context.principal.tenant_id, driverId, parsed
        )
    return _document_response(service.HashedDocument.of(draft).response_bytes())


@router.post(
    "/v1/drivers/{driverId}/statements",
    status_code=201,
    summary="Finalise a driver's statement",
    description="Computes the draft and keeps it, numbered (`<year>-<nnnnnn>`, one sequence "
    "per tenant), as it is at this moment: it never changes afterwards, and sessions that "
    "change later are settled by adjustment lines in the driver's next statement. 409 when "
    "a finalised statement of the driver overlaps the period, when the draft has problems "
    "(they are listed), or when `expectedContentSha256` is given and the draft is no longer "
    "that one. The event `statement.finalised` is recorded. " + _DOCUMENT,
    response_model=StatementDocument,
    responses={
        201: {
            "description": "Finalised",
            "headers": {
                "Location": {
                    "description": "The path of the finalised statement",
                    "schema": {
                        "type": "string",
                        "example": "/v1/statements/3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10",
                    },
                }
            },
        },
        **WRITE,
        **problems(409),
    },
)
async def finalise(
    request: Request,
    driverId: DriverId,  # noqa: N803
    body: FinaliseIn,
    context: Context,
) -> Response:
    parsed = _period(body.period, "body")
    async with context.write() as connection:
        stored = await service.finalise(
            connection,
            context.principal.tenant_id,
            driverId,
            parsed,
            body.expectedContentSha256,
            context.now_ms,
        )
    response = _document_response(stored.response_bytes(), 201)
    # The alias prefix (/api) the request came with, if any, then the statement's path.
    prefix = path_as_requested(request).removesuffix(request.url.path)
    response.headers["Location"] = f"{prefix}/v1/statements/{stored.id}"
    return response


@router.get(
    "/v1/statements",
    summary="List the finalised statements",
    description="In order of period start, then driver id. Follow `links.next` (or pass "
    "`meta.continuationToken` with the same filters) for the next page; both are null on the "
    "last page.",
    response_model=StatementPage,
    responses=READ,
)
async def list_statements(
    request: Request,
    context: Context,
    driverId: Annotated[  # noqa: N803
        UUID | None, Query(description="Only this driver's statements")
    ] = None,
    periodStart: Annotated[  # noqa: N803
        str | None,
        Query(
            max_length=10,
            description="Only the statements whose period starts on this date (YYYY-MM-DD)",
            examples=["2026-10-01"],
        ),
    ] = None,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    period_start = None if periodStart is None else _date(periodStart, "periodStart")
    async with context.read() as connection:
        page = await service.list_statements(
            connection,
            tenant_id=context.principal.tenant_id,
            driver_id=driverId,
            period_start=period_start,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    token = page.continuation_token
    next_url = None
    if token is not None:
        params = {"pageSize": str(page.page_size)}
        if driverId is not None:
            params["driverId"] = str(driverId)
        if period_start is not None:
            params["periodStart"] = period_start.isoformat()
        next_url = next_page_url(request, context.state.settings.public_url, token, params)
    body: dict[str, Any] = {
        "data": [summary_resource(row) for row in page.rows],
        "links": {"next": next_url},
        "meta": {"continuationToken": token, "pageSize": page.page_size},
    }
    return json_response(body)


@router.get(
    "/v1/statements/{statementId}",
    summary="Retrieve a finalised statement",
    description="Byte for byte the document as it was finalised, with its `contentSha256`.",
    response_model=StatementDocument,
    responses=READ,
)
async def get_statement(statementId: StatementId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        stored = await service.get_statement(connection, context.principal.tenant_id, statementId)
    return _document_response(stored.response_bytes())


@router.get(
    "/v1/statements/{statementId}/export",
    summary="Export a finalised statement",
    description="As a file to download: CSV (one row per line, then a total row), XLSX or PDF "
    "(with a chart of the kWh per day).",
    response_class=Response,
    responses={**EXPORT_RESPONSES, **READ},
)
async def export_statement(
    statementId: StatementId,  # noqa: N803
    export_format: FormatParam,
    context: Context,
) -> Response:
    async with context.read() as connection:
        stored = await service.get_statement(connection, context.principal.tenant_id, statementId)
    return await run_in_threadpool(
        export_response, stored.document(), export_format, label=stored.number
    )


@router.get(
    "/v1/drivers/{driverId}/statements/draft/export",
    summary="Export a driver's draft statement",
    description="The draft as GET .../statements/draft computes it now, as a file: CSV, XLSX "
    "or PDF.",
    response_class=Response,
    responses={**EXPORT_RESPONSES, **READ},
)
async def export_draft(
    driverId: DriverId,  # noqa: N803
    period: PeriodParam,
    export_format: FormatParam,
    context: Context,
) -> Response:
    parsed = _period(period, "query")
    async with context.read() as connection:
        draft = await service.compute_draft(
            connection, context.principal.tenant_id, driverId, parsed
        )
    document = service.HashedDocument.of(draft).with_hash()
    return await run_in_threadpool(export_response, document, export_format, label="draft")
