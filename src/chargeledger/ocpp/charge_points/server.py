"""One charge point's WebSocket: handshake checks, then its messages until it disconnects."""

import logging
from collections.abc import Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from chargeledger.domain.ocpp_identity import ChargerAddress
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp.charge_points.base import LedgerChargePoint, OcppContext
from chargeledger.ocpp.charge_points.connection import ChargerDisconnectedError, StarletteConnection
from chargeledger.ocpp.charge_points.handshake import (
    SUPPORTED_SUBPROTOCOLS,
    basic_credentials,
    choose_subprotocol,
    loggable,
)
from chargeledger.ocpp.charge_points.registry import ConnectionRegistry, LiveConnection
from chargeledger.ocpp.charge_points.v16 import ChargePoint16
from chargeledger.ocpp.charge_points.v201 import ChargePoint201
from chargeledger.ocpp.credentials import authenticate_station
from chargeledger.ocpp.meter_writer import MeterValueWriter
from chargeledger.ocpp.service import Station
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")

_HANDLERS: dict[str, type[LedgerChargePoint]] = {
    "ocpp1.6": ChargePoint16,
    "ocpp2.0.1": ChargePoint201,
}
# WebSocket close codes for refusals after the handshake would have been too late; before
# it, closing makes the server answer the upgrade with HTTP 403.
_POLICY_VIOLATION = 1008
_PROTOCOL_ERROR = 1002


async def serve_charge_point(
    websocket: WebSocket,
    address: ChargerAddress,
    *,
    database: Database,
    meter_writer: MeterValueWriter,
    detector_config: DetectorConfig,
    clock_ms: Callable[[], int],
    connections: ConnectionRegistry,
) -> None:
    client = websocket.client.host if websocket.client else "?"
    offered = list(websocket.scope.get("subprotocols") or [])
    chosen = choose_subprotocol(offered)
    # The address passed the identity rules; escaped all the same, as all a client sends.
    charger = loggable(address.label)
    station = await _authenticate(websocket, address, database)
    if station is None:
        # Never the password in the log: who, from where, and why. An unknown tenant is an
        # unknown identity: the same words, the same refusal.
        logger.warning("refused %s from %s: unknown identity or wrong password", charger, client)
        await websocket.close(code=_POLICY_VIOLATION)
        return
    if chosen is None:
        # OCPP-J: a server that agrees to none of the offered subprotocols completes the
        # handshake without one and closes the connection at once.
        logger.warning(
            "refused %s from %s: it offers %s, we speak %s",
            charger,
            client,
            loggable(repr(offered)) if offered else "no subprotocol",
            ", ".join(SUPPORTED_SUBPROTOCOLS),
        )
        await websocket.accept()
        await websocket.close(code=_PROTOCOL_ERROR, reason="no OCPP version in common")
        return
    subprotocol, spelling = chosen
    await websocket.accept(subprotocol=spelling)
    context = OcppContext(
        database=database,
        meter_writer=meter_writer,
        station=station,
        detector_config=detector_config,
        clock_ms=clock_ms,
    )
    charge_point = _HANDLERS[subprotocol](address.identity, StarletteConnection(websocket), context)
    charge_point._response_timeout = connections.ping_timeout_s + 1
    live = LiveConnection(
        tenant_id=station.tenant_id,
        identity=address.identity,
        entity_id=station.entity_id,
        websocket=websocket,
        charge_point=charge_point,
    )
    logger.info("%s connected from %s speaking %s", charger, client, subprotocol)
    try:
        await ocpp_service.record_connection(
            context.database, station, protocol=subprotocol, now_ms=context.clock_ms()
        )
        await connections.open(live)
        await charge_point.start()
    except (ChargerDisconnectedError, WebSocketDisconnect):
        pass
    finally:
        connections.closed(live)
        await charge_point.drain()
        logger.info("%s disconnected", charger)


async def _authenticate(
    websocket: WebSocket, address: ChargerAddress, database: Database
) -> Station | None:
    credentials = basic_credentials(websocket.headers.get("authorization"))
    if credentials is None or credentials[0] != address.identity:
        return None
    return await authenticate_station(database, address=address, password=credentials[1])
