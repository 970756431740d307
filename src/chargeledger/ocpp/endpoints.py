"""OCPP: a charge point's credentials and settings, its event log, the evidence behind an
OCPP session (REST), and its WebSocket."""

import logging
from typing import Annotated
from uuid import UUID

import orjson
from fastapi import APIRouter, Path, Request, WebSocket
from pydantic import BaseModel, Field
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from chargeledger.api.context import Context, app_state_of
from chargeledger.charge_sessions import service as charge_sessions
from chargeledger.domain.instants import format_instant
from chargeledger.domain.ocpp_identity import (
    charger_address,
    charger_path,
    legacy_charger_path,
    tenant_base_path,
)
from chargeledger.kit.openapi_responses import READ, WRITE, problems
from chargeledger.kit.paging import DEFAULT_PAGE_SIZE
from chargeledger.kit.params import ContinuationToken, EntityId, PageSize
from chargeledger.kit.responses import json_response, page_response
from chargeledger.kit.routing import JsonBodyRoute
from chargeledger.kit.schemas import Strict
from chargeledger.ocpp import charger_events as ocpp_events
from chargeledger.ocpp import credentials as ocpp_credentials
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp import station_settings as ocpp_settings
from chargeledger.ocpp.charge_points.handshake import SUPPORTED_SUBPROTOCOLS, loggable
from chargeledger.ocpp.charge_points.server import serve_charge_point
from chargeledger.ocpp.evidence_resource import session_evidence_resource
from chargeledger.ocpp.schemas import OcppEventPage, OcppSettings, OcppSettingsIn, SessionEvidence
from chargeledger.ocpp.station_settings import OcppSettings as Settings

router = APIRouter(route_class=JsonBodyRoute, tags=["OCPP"])
logger = logging.getLogger("chargeledger.ocpp")


class _AnyPathConvertor(Convertor[str]):
    """Starlette's `path` stops at a line break (its regex is `.*`), so a path holding a
    URL-encoded one (/ocpp/CP%0Afake) would match no route and be refused unlogged, or, with
    the break last, be served as the identity before it. This one takes every character:
    such a path is ours to refuse and to log, escaped."""

    regex = r"[\s\S]*"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("ocpp_path", _AnyPathConvertor())


class OcppCredentialsIn(Strict):
    password: Annotated[
        str,
        Field(
            min_length=ocpp_credentials.MIN_PASSWORD_LENGTH,
            max_length=ocpp_credentials.MAX_PASSWORD_LENGTH,
            description="The charge point's HTTP Basic password (OCPP security profile 1)",
        ),
    ]


class OcppEndpoint(BaseModel):
    identity: str = Field(description="The OCPP identity: the entity's identifier")
    path: str = Field(
        description="Where the charge point connects, on this server: /ocpp/<tenant id>/<identity>"
    )
    basePath: str = Field(  # noqa: N815
        description="The URL path the tenant's chargers are configured with, /ocpp/<tenant "
        "id>: a charger appends its identity to it (else configure it with `path`)"
    )
    legacyPath: str | None = Field(  # noqa: N815
        description="/ocpp/<identity>, for a charge point registered before identities were "
        "per tenant (its charger was configured with it, and it keeps working); null for "
        "every other"
    )
    subprotocols: list[str]


@router.put(
    "/v1/entities/{entityId}/ocpp-credentials",
    summary="Set a ChargePoint's OCPP password",
    description="Lets the ChargePoint connect over OCPP 1.6J or 2.0.1 at "
    "`ws(s)://<this server>/ocpp/<tenant id>/<identifier>` with HTTP Basic authentication "
    "(security profile 1): user name its identifier, this password (16 to 40 characters, "
    "stored only as a hash and never returned). Identities are per tenant: another "
    "tenant's charger with the same identity is another charger. Setting it again replaces "
    "the old one.",
    response_model=OcppEndpoint,
    responses={**WRITE, **problems(409)},
)
async def put_ocpp_credentials(
    entityId: EntityId,  # noqa: N803
    body: OcppCredentialsIn,
    context: Context,
) -> Response:
    password_hash = await ocpp_credentials.hash_password(body.password)
    async with context.write() as connection:
        endpoint = await ocpp_credentials.set_credentials(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            password_hash=password_hash,
            now_ms=context.now_ms,
        )
    return json_response(
        {
            "identity": endpoint.identity,
            "path": charger_path(endpoint.tenant_id, endpoint.identity),
            "basePath": tenant_base_path(endpoint.tenant_id),
            "legacyPath": legacy_charger_path(endpoint.identity) if endpoint.legacy_path else None,
            "subprotocols": list(SUPPORTED_SUBPROTOCOLS),
        }
    )


def _settings_resource(settings: Settings) -> dict[str, object]:
    return {
        "identity": settings.identity,
        "meterPublicKey": settings.meter_public_key,
        "toleratesZonelessTimestamps": settings.zoneless_timestamps_as_utc,
        "toleratesNumbersAsStrings": settings.numbers_as_strings,
    }


@router.get(
    "/v1/entities/{entityId}/ocpp-settings",
    summary="Retrieve a ChargePoint's OCPP settings",
    response_model=OcppSettings,
    responses={**READ, **problems(409)},
)
async def get_ocpp_settings(entityId: EntityId, context: Context) -> Response:  # noqa: N803
    async with context.read() as connection:
        settings = await ocpp_settings.get_settings(
            connection, tenant_id=context.principal.tenant_id, entity_id=entityId
        )
    return json_response(_settings_resource(settings))


@router.put(
    "/v1/entities/{entityId}/ocpp-settings",
    summary="Set a ChargePoint's OCPP settings",
    description="The public key of its calibrated meter (to verify signed meter values) and "
    "the deviations from the OCPP specification tolerated for it. Replaces all settings: a "
    "field left out takes its default. The ChargePoint needs OCPP credentials first (409).",
    response_model=OcppSettings,
    responses={**WRITE, **problems(409)},
)
async def put_ocpp_settings(
    entityId: EntityId,  # noqa: N803
    body: OcppSettingsIn,
    context: Context,
) -> Response:
    async with context.write() as connection:
        settings = await ocpp_settings.put_settings(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            meter_public_key=body.meterPublicKey,
            zoneless_timestamps_as_utc=body.toleratesZonelessTimestamps,
            numbers_as_strings=body.toleratesNumbersAsStrings,
            config=context.state.settings.detector_config,
            now_ms=context.now_ms,
        )
    return json_response(_settings_resource(settings))


@router.get(
    "/v1/entities/{entityId}/ocpp-events",
    summary="List a ChargePoint's OCPP events",
    description="What the charger said besides meter values and transactions' samples "
    "(boots, status changes, transactions' start and end, notifications, data transfers), "
    "and what the server did about its messages (values dropped and why, deviations "
    "tolerated, calls refused, connections replaced or lost). Newest first; MeterValues and "
    "Heartbeat are not listed (they are in the Readings API and the charger's last-seen).",
    response_model=OcppEventPage,
    responses=READ,
)
async def list_ocpp_events(
    request: Request,
    entityId: EntityId,  # noqa: N803
    context: Context,
    pageSize: PageSize = DEFAULT_PAGE_SIZE,  # noqa: N803
    continuationToken: ContinuationToken = None,  # noqa: N803
) -> Response:
    async with context.read() as connection:
        page = await ocpp_events.list_charger_events(
            connection,
            tenant_id=context.principal.tenant_id,
            entity_id=entityId,
            page_size=pageSize,
            continuation_token=continuationToken,
            cursor_key=context.cursor_keys,
        )
    return page_response(
        request,
        page,
        lambda row: {
            "id": str(row.id),
            "received": format_instant(row.received_ms),
            "kind": row.kind,
            "detail": orjson.Fragment(row.detail_json),
        },
        public_url=context.state.settings.public_url,
    )


@router.get(
    "/v1/entities/{entityId}/charge-sessions/{sessionId}/evidence",
    summary="Retrieve the evidence behind a Charge Session's energy",
    description="Where the energy comes from and how sure it is. For a session recorded "
    "over OCPP: its transaction (idTag, meter start and stop) and, when the charger signs "
    "its meter values, each signed value as sent, what it says (OCMF: meter, readings, "
    "pagination) and whether its signature verifies with the public key configured for the "
    "charger (PUT .../ocpp-settings). `signedMeter.verified` means the energy comes from a "
    "verified calibrated meter.",
    response_model=SessionEvidence,
    responses=READ,
)
async def get_session_evidence(
    entityId: EntityId,  # noqa: N803
    sessionId: Annotated[UUID, Path(description="The id of the Charge Session")],  # noqa: N803
    context: Context,
) -> Response:
    async with context.read_entity(entityId) as (connection, entity):
        session = await charge_sessions.get_session(connection, entity=entity, session_id=sessionId)
        evidence = await ocpp_service.session_evidence(
            connection, entity_id=entity.id, session_id=session.id, energy_kwh=session.energy_kwh
        )
    return json_response(session_evidence_resource(session, evidence))


@router.websocket("/ocpp/{path:ocpp_path}")
async def ocpp_websocket(websocket: WebSocket, path: str) -> None:
    """A charger connects at /ocpp/<tenant id>/<identity>, or at /ocpp/<identity> if it was
    registered before identities were per tenant; stray slashes are forgiven (a URL typed
    with one: /ocpp/T/CP1/ or /ocpp/T//CP1)."""
    address = charger_address(path)
    if address is None:
        client = websocket.client.host if websocket.client else "?"
        # The path is the client's: escaped and cut short, it cannot forge a log line.
        logger.warning(
            "refused a connection from %s: /ocpp/%s names no charger", client, loggable(path)
        )
        await websocket.close(code=1008)  # before the handshake: HTTP 403
        return
    state = app_state_of(websocket)
    await serve_charge_point(
        websocket,
        address,
        database=state.database,
        meter_writer=state.meter_writer,
        detector_config=state.settings.detector_config,
        clock_ms=state.clock_ms,
        connections=state.connections,
    )
