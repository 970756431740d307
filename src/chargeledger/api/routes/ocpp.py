"""OCPP: a charge point's credentials (REST) and its WebSocket."""

from typing import Annotated

from fastapi import APIRouter, Path, WebSocket
from pydantic import BaseModel, Field
from starlette.responses import Response

from chargeledger.api.context import Context, app_state_of
from chargeledger.api.openapi_responses import WRITE, problems
from chargeledger.api.params import EntityId
from chargeledger.api.routing import JsonBodyRoute
from chargeledger.api.schemas.common import Strict
from chargeledger.api.serialization import json_response
from chargeledger.ingest.ocpp.handshake import SUPPORTED_SUBPROTOCOLS
from chargeledger.ingest.ocpp.server import serve_charge_point
from chargeledger.services import ocpp as ocpp_service

router = APIRouter(route_class=JsonBodyRoute, tags=["OCPP"])


class OcppCredentialsIn(Strict):
    password: Annotated[
        str,
        Field(
            min_length=ocpp_service.MIN_PASSWORD_LENGTH,
            max_length=ocpp_service.MAX_PASSWORD_LENGTH,
            description="The charge point's HTTP Basic password (OCPP security profile 1)",
        ),
    ]


class OcppEndpoint(BaseModel):
    identity: str = Field(description="The OCPP identity: the entity's identifier")
    path: str = Field(description="Where the charge point connects, on this server")
    subprotocols: list[str]


@router.put(
    "/v1/entities/{entityId}/ocpp-credentials",
    summary="Set a ChargePoint's OCPP password",
    description="Lets the ChargePoint connect over OCPP 1.6J or 2.0.1 at "
    "`ws(s)://<this server>/ocpp/<identifier>` with HTTP Basic authentication "
    "(security profile 1): user name its identifier, this password (16 to 40 characters, "
    "stored only as a hash and never returned). Setting it again replaces the old one.",
    response_model=OcppEndpoint,
    responses={**WRITE, **problems(409)},
)
async def put_ocpp_credentials(
    entityId: EntityId,  # noqa: N803
    body: OcppCredentialsIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        identity = await ocpp_service.set_credentials(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            password=body.password,
            now_ms=context.now_ms,
        )
    return json_response(
        {
            "identity": identity,
            "path": f"/ocpp/{identity}",
            "subprotocols": list(SUPPORTED_SUBPROTOCOLS),
        }
    )


@router.websocket("/ocpp/{identity}")
async def ocpp_websocket(
    websocket: WebSocket,
    identity: Annotated[str, Path(max_length=48)],
) -> None:
    state = app_state_of(websocket)
    await serve_charge_point(
        websocket,
        identity,
        database=state.database,
        meter_writer=state.meter_writer,
        detector_config=state.settings.detector_config,
        clock_ms=state.clock_ms,
    )
