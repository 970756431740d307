import asyncio
from typing import Annotated, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from pydantic import BaseModel
from starlette.responses import Response

from chargeledger.api.context import AppState, app_state
from chargeledger.errors import DatabaseUnavailableError
from chargeledger.kit.openapi_responses import problems
from chargeledger.kit.responses import json_response

router = APIRouter(tags=["Operations"])


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]


@router.get(
    "/healthz",
    summary="Liveness",
    description="200 while the process serves requests, whether or not the database answers: "
    "restart the process when this fails, not when /readyz does.",
    response_model=Liveness,
)
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get(
    "/readyz",
    summary="Readiness",
    description="200 when the database answers `SELECT 1` within the readiness timeout "
    "(`CHARGELEDGER_READINESS_TIMEOUT_SECONDS`, 2 s); else 503 with `Retry-After`: send no "
    "traffic here until it is 200 again.",
    response_model=Readiness,
    responses=problems(503),
)
async def readyz(state: Annotated[AppState, Depends(app_state)]) -> Response:
    timeout_s = state.settings.readiness_timeout_seconds
    try:
        async with asyncio.timeout(timeout_s):
            async with state.database.read() as connection:
                await connection.execute(sa.text("SELECT 1"))
    except TimeoutError:
        raise DatabaseUnavailableError(
            f"the database did not answer SELECT 1 within {timeout_s:g} s"
        ) from None
    return json_response({"status": "ready"})
