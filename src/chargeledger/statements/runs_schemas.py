"""The shapes of /v1/statement-runs: the request body, the run as documented, rows to dicts."""

from typing import Annotated, Any, Literal
from uuid import UUID

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

from chargeledger.domain.instants import format_instant
from chargeledger.kit.schemas import PageOf, Strict

RunStatus = Literal["pending", "running", "succeeded", "failed"]
ExportFormat = Literal["csv", "xlsx", "pdf"]

PERIOD_DESCRIPTION = (
    'The period: a month ("2026-10"), a quarter ("2026-Q4") or a custom period '
    '("2026-10-01/2026-11-01": start included, end excluded, at most 366 days), in local '
    "dates of the tenant's reimbursement time zone"
)

# ---- requests --------------------------------------------------------------------------


class RunIn(Strict):
    period: StrictStr = Field(
        min_length=1, max_length=32, description=PERIOD_DESCRIPTION, examples=["2026-10"]
    )
    finalise: StrictBool = Field(
        default=False,
        description="true: finalise every driver's statement (a driver already finalised for "
        "exactly this period counts as done; one whose draft has problems is listed in "
        "`problems` and left as it is). false: compute the drafts only, to check them",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"period": "2026-10", "finalise": False}]},
    )


# ---- responses (as documented; built as dicts below) -----------------------------------

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
LocalDate = Annotated[str, Field(json_schema_extra={"format": "date"})]


class RunPeriod(BaseModel):
    start: LocalDate = Field(description="The first day of the period", examples=["2026-10-01"])
    end: LocalDate = Field(
        description="The first day after the period (exclusive)", examples=["2026-11-01"]
    )


class RunProblem(BaseModel):
    driverId: UUID  # noqa: N815
    problem: str = Field(
        description="Why the driver's statement was not made or finalised",
        examples=["line 3: no rate plan for 2026-10-14"],
    )


class Run(BaseModel):
    """A statement run: every driver of the tenant, one after the other, in the background."""

    id: UUID
    status: RunStatus = Field(
        description="pending (waiting for a worker), running, succeeded (every driver was "
        "looked at; some may be in `problems`) or failed (see `error`)"
    )
    period: RunPeriod
    finalise: bool
    driverCount: int = Field(  # noqa: N815
        description="The tenant's drivers (counted again when a worker starts the run)"
    )
    driversDone: int = Field(  # noqa: N815
        description="Drivers looked at so far, those with problems included. A run taken "
        "over from a worker that stopped starts counting again: drivers already finalised "
        "count as done at once"
    )
    totalAmount: str | None = Field(  # noqa: N815
        description="The sum of the statements' totals so far (decimal text), drivers with "
        "problems left out; null before any statement, or when the statements are in more "
        "than one currency",
        examples=["1234.56"],
    )
    problems: list[RunProblem]
    error: str | None = Field(description="Why the run failed; null unless it did")
    created: Instant
    finished: Instant | None = Field(description="When it succeeded or failed")


class RunPage(PageOf[Run]):
    """A page of statement runs, oldest first"""


# ---- rows to response dicts ------------------------------------------------------------


def run_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "status": row.status,
        "period": {"start": row.period_start, "end": row.period_end},
        "finalise": row.finalise,
        "driverCount": row.driver_count,
        "driversDone": row.drivers_done,
        "totalAmount": row.total_amount,
        "problems": orjson.Fragment(row.problems_json),
        "error": row.error,
        "created": format_instant(row.created_ms),
        "finished": None if row.finished_ms is None else format_instant(row.finished_ms),
    }
