"""OCPP 2.0.1: what a charging station sends us, and our answers."""

from types import MappingProxyType
from typing import Any

from ocpp.routing import after, on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action, AuthorizationStatusEnumType, RegistrationStatusEnumType

from chargeledger.domain.meter_values import CONNECTOR_IDS, SEQ_NOS
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp.charge_points.base import LedgerChargePoint, content_digest, now_text

# We record charging; we do not decide who may charge: every token is accepted.
ACCEPTED = {"status": AuthorizationStatusEnumType.accepted}


class ChargePoint201(LedgerChargePoint):
    _call = call
    _call_result = call_result
    _ocpp_version = "2.0.1"
    unknown_message_type_code = "MessageTypeNotSupported"
    actions = frozenset(action.value for action in Action)
    # Messages we record as charger events and answer as the specification says. Where an
    # answer must say more than "received": no vendor extensions (DataTransfer), no
    # certificate authority or OCSP responder (SignCertificate, GetCertificateStatus,
    # Get15118EVCertificate), no smart charging (NotifyEVChargingNeeds: Rejected, which the
    # station reads as "no schedule will follow").
    recorded_only = MappingProxyType(
        {
            "ClearedChargingLimit": {},
            "DataTransfer": {"status": "UnknownVendorId"},
            "FirmwareStatusNotification": {},
            "Get15118EVCertificate": {"status": "Failed", "exiResponse": ""},
            "GetCertificateStatus": {"status": "Failed"},
            "LogStatusNotification": {},
            "NotifyChargingLimit": {},
            "NotifyCustomerInformation": {},
            "NotifyDisplayMessages": {},
            "NotifyEVChargingNeeds": {"status": "Rejected"},
            "NotifyEVChargingSchedule": {"status": "Accepted"},
            "NotifyEvent": {},
            "NotifyMonitoringReport": {},
            "NotifyReport": {},
            "PublishFirmwareStatusNotification": {},
            "ReportChargingProfiles": {},
            "ReservationStatusUpdate": {},
            "SecurityEventNotification": {},
            "SignCertificate": {"status": "Rejected"},
        }
    )

    async def probe(self) -> None:
        """A call every 2.0.1 station answers, without side effects (B06, core)."""
        await self.call(
            call.GetVariables(
                get_variable_data=[
                    {
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            ),
            suppress=True,
        )

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charging_station: dict[str, Any], reason: str, **details: Any
    ) -> call_result.BootNotification:
        now_ms = self.now_ms()
        await ocpp_service.record_connection(
            self.context.database,
            self.context.station,
            protocol="ocpp2.0.1",
            now_ms=now_ms,
            vendor=charging_station.get("vendor_name"),
            model=charging_station.get("model"),
            serial_number=charging_station.get("serial_number"),
            firmware_version=charging_station.get("firmware_version"),
        )
        return call_result.BootNotification(
            current_time=now_text(now_ms),
            interval=self.context.heartbeat_interval_s,
            status=RegistrationStatusEnumType.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        now_ms = self.now_ms()
        await ocpp_service.record_connection(
            self.context.database, self.context.station, protocol=None, now_ms=now_ms
        )
        return call_result.Heartbeat(current_time=now_text(now_ms))

    @on(Action.status_notification)
    async def on_status_notification(self, **details: Any) -> call_result.StatusNotification:
        await ocpp_service.record_connection(
            self.context.database, self.context.station, protocol=None, now_ms=self.now_ms()
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_token: dict[str, Any], **details: Any) -> call_result.Authorize:
        return call_result.Authorize(id_token_info=ACCEPTED)

    @on(Action.transaction_event)
    async def on_transaction_event(
        self,
        event_type: str,
        timestamp: str,
        trigger_reason: str,
        seq_no: int,
        transaction_info: dict[str, Any],
        call_unique_id: str,
        meter_value: list[dict[str, Any]] | None = None,
        evse: dict[str, Any] | None = None,
        id_token: dict[str, Any] | None = None,
        **details: Any,
    ) -> call_result.TransactionEvent:
        read = self.meter_values(meter_value)
        timestamp_ms = self.instant(timestamp)
        transaction_key = str(transaction_info["transaction_id"])
        evse_id = None if evse is None else evse.get("id")
        connector_id = None if evse is None else evse.get("connector_id")
        # A number out of range is recorded as rejected and the event kept without it.
        for field, value, allowed in (
            ("seqNo", seq_no, SEQ_NOS),
            ("evse.id", evse_id, CONNECTOR_IDS),
            ("evse.connectorId", connector_id, CONNECTOR_IDS),
        ):
            if value is not None and not allowed.admits(value):
                self.reject(
                    "TransactionEvent", field, value, allowed, transaction_id=transaction_key
                )
        event = ocpp_service.TransactionEventV201(
            event_type=event_type,
            transaction_key=transaction_key,
            seq_no=seq_no if SEQ_NOS.admits(seq_no) else ocpp_service.SEQ_NO_REJECTED,
            timestamp_ms=timestamp_ms,
            samples=read.samples,
            evse_id=evse_id if CONNECTOR_IDS.admits(evse_id) else None,
            connector_id=connector_id if CONNECTOR_IDS.admits(connector_id) else None,
            id_token=None if id_token is None else id_token.get("id_token"),
            stopped_reason=transaction_info.get("stopped_reason"),
            digest=content_digest(
                {
                    "event_type": event_type,
                    "timestamp": timestamp,
                    "trigger_reason": trigger_reason,
                    "seq_no": seq_no,
                    "transaction_info": transaction_info,
                    "meter_value": meter_value,
                    "evse": evse,
                    "id_token": id_token,
                    **details,
                }
            ),
            signed=tuple(read.signed),
        )
        if event.event_type == "Updated":  # the frequent one: stored in group commits
            transaction_id, session_owed = await self.context.meter_writer.record_update(
                self.context.station, event, now_ms=self.now_ms()
            )
        else:
            transaction_id, session_owed = await ocpp_service.record_transaction_event_v201(
                self.context.database, self.context.station, event, now_ms=self.now_ms()
            )
        if session_owed:
            self.owe_session(call_unique_id, transaction_id)
        return call_result.TransactionEvent(id_token_info=ACCEPTED if id_token else None)

    @after(Action.transaction_event)
    def after_transaction_event(self, call_unique_id: str, **payload: Any) -> None:
        self.compute_owed_session(call_unique_id)

    @on(Action.meter_values)
    async def on_meter_values(
        self, evse_id: int, meter_value: list[dict[str, Any]], **details: Any
    ) -> call_result.MeterValues:
        # Meter values outside a transaction: readings of the charging station only.
        read = self.meter_values(meter_value)
        await self.context.meter_writer.record(
            self.context.station,
            transaction_key=None,
            samples=read.samples,
            now_ms=self.now_ms(),
        )
        return call_result.MeterValues()
