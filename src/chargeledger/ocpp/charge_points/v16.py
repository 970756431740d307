"""OCPP 1.6J: what a charge point sends us, and our answers."""

from types import MappingProxyType
from typing import Any

from ocpp.routing import after, on
from ocpp.v16 import call, call_result
from ocpp.v16.datatypes import IdTagInfo
from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus

from chargeledger.domain.meter_values import CONNECTOR_IDS, REGISTER_WH, value_text
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp.charge_points.base import LedgerChargePoint, now_text

# We record charging; we do not decide who may charge: every idTag is accepted.
ACCEPTED = IdTagInfo(status=AuthorizationStatus.accepted)


class ChargePoint16(LedgerChargePoint):
    _call = call
    _call_result = call_result
    _ocpp_version = "1.6"
    # 1.6 names these differently from 2.0.1, whose names the `ocpp` package uses; the 1.6
    # spelling of "Occurence" is the specification's own.
    error_code_spelling = MappingProxyType(
        {
            "FormatViolation": "FormationViolation",
            "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
        }
    )

    actions = frozenset(action.value for action in Action)
    # Messages we record as charger events and answer as the specification says: nothing to
    # add to an acknowledgement; no vendor extensions (DataTransfer); and no certificate
    # authority to sign a charger's certificate with (SignCertificate: Rejected).
    recorded_only = MappingProxyType(
        {
            "DataTransfer": {"status": "UnknownVendorId"},
            "DiagnosticsStatusNotification": {},
            "FirmwareStatusNotification": {},
            "LogStatusNotification": {},
            "SecurityEventNotification": {},
            "SignedFirmwareStatusNotification": {},
            "SignCertificate": {"status": "Rejected"},
        }
    )

    async def probe(self) -> None:
        """A call every 1.6 charger answers, without side effects (Core profile)."""
        await self.call(call.GetConfiguration(key=["HeartbeatInterval"]), suppress=True)

    @on(Action.boot_notification)
    async def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **details: Any
    ) -> call_result.BootNotification:
        now_ms = self.now_ms()
        await ocpp_service.record_connection(
            self.context.database,
            self.context.station,
            protocol="ocpp1.6",
            now_ms=now_ms,
            vendor=charge_point_vendor,
            model=charge_point_model,
            serial_number=details.get("charge_point_serial_number"),
            firmware_version=details.get("firmware_version"),
        )
        return call_result.BootNotification(
            current_time=now_text(now_ms),
            interval=self.context.heartbeat_interval_s,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self) -> call_result.Heartbeat:
        now_ms = self.now_ms()
        await ocpp_service.record_connection(
            self.context.database, self.context.station, protocol=None, now_ms=now_ms
        )
        return call_result.Heartbeat(current_time=now_text(now_ms))

    @on(Action.status_notification)
    async def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **details: Any
    ) -> call_result.StatusNotification:
        await ocpp_service.record_connection(
            self.context.database, self.context.station, protocol=None, now_ms=self.now_ms()
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str) -> call_result.Authorize:
        return call_result.Authorize(id_tag_info=ACCEPTED)

    @on(Action.start_transaction)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **details: Any
    ) -> call_result.StartTransaction:
        # A value out of range (a meterStart of -1 or 1e30 Wh) is stored as unknown and
        # recorded as rejected: the transaction's energy then comes from its meter values.
        # The answer is the one of any start, a transactionId and Accepted: the charge is
        # real, refusing the call would have the charger send it again and again, and an
        # Invalid tag would stop a charge that we only record.
        number = await ocpp_service.record_start_v16(
            self.context.database,
            self.context.station,
            connector_id=connector_id if CONNECTOR_IDS.admits(connector_id) else None,
            id_tag=id_tag,
            timestamp_ms=self.instant(timestamp),
            meter_start_wh=float(meter_start) if REGISTER_WH.admits(meter_start) else None,
            now_ms=self.now_ms(),
        )
        for field, value, allowed in (
            ("connectorId", connector_id, CONNECTOR_IDS),
            ("meterStart", meter_start, REGISTER_WH),
        ):
            if not allowed.admits(value):
                self.reject("StartTransaction", field, value, allowed, transaction_id=str(number))
        return call_result.StartTransaction(transaction_id=number, id_tag_info=ACCEPTED)

    @on(Action.meter_values)
    async def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[dict[str, Any]],
        call_unique_id: str,
        transaction_id: int | None = None,
        **details: Any,
    ) -> call_result.MeterValues:
        read = self.meter_values(meter_value)
        transaction = await self.context.meter_writer.record(
            self.context.station,
            transaction_key=None if transaction_id is None else str(transaction_id),
            samples=read.samples,
            now_ms=self.now_ms(),
            signed=read.signed,
        )
        self.owe_session(call_unique_id, transaction)
        return call_result.MeterValues()

    @after(Action.meter_values)
    def after_meter_values(self, call_unique_id: str, **payload: Any) -> None:
        # Late meter values of a finished transaction change its session.
        self.compute_owed_session(call_unique_id)

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        call_unique_id: str,
        reason: str | None = None,
        id_tag: str | None = None,
        transaction_data: list[dict[str, Any]] | None = None,
        **details: Any,
    ) -> call_result.StopTransaction:
        read = self.meter_values(transaction_data)
        timestamp_ms = self.instant(timestamp)
        # Out of range, meterStop is recorded as rejected and the transaction ends at its last
        # meter value in range (or with its energy unknown); the answer is as for any stop.
        if not REGISTER_WH.admits(meter_stop):
            self.reject(
                "StopTransaction",
                "meterStop",
                meter_stop,
                REGISTER_WH,
                transaction_id=value_text(transaction_id),
            )
        transaction = await ocpp_service.record_stop_v16(
            self.context.database,
            self.context.station,
            transaction_number=transaction_id,
            timestamp_ms=timestamp_ms,
            meter_stop_wh=float(meter_stop) if REGISTER_WH.admits(meter_stop) else None,
            reason=reason,
            samples=read.samples,
            now_ms=self.now_ms(),
            signed=read.signed,
        )
        self.owe_session(call_unique_id, transaction)
        return call_result.StopTransaction(id_tag_info=ACCEPTED if id_tag else None)

    @after(Action.stop_transaction)
    def after_stop_transaction(self, call_unique_id: str, **payload: Any) -> None:
        self.compute_owed_session(call_unique_id)
