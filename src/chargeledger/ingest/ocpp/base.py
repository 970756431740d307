"""What every charge point connection shares: the context it records into, CALLERRORs for
frames the `ocpp` package cannot even parse, and sessions computed after the answer."""

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

import ocpp.messages
from ocpp.charge_point import ChargePoint
from ocpp.exceptions import OCPPError, PropertyConstraintViolationError
from ocpp.messages import CallError, unpack

from chargeledger.domain.meter_values import (
    InvalidMeterValueError,
    Sample,
    samples_from_meter_values,
)
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.services import ocpp as ocpp_service
from chargeledger.services.ocpp_meter_writer import MeterValueWriter
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")

# The `ocpp` package validates every payload against its JSON schema in a worker thread by
# default: two thread hops per call, each contending with the event loop for the GIL. A
# charger's payloads are small (a MeterValues call validates in about 0.2 ms), so on the
# loop it costs less CPU and no hop (docs/benchmarks.md).
ocpp.messages.ASYNC_VALIDATION = False


@dataclass(frozen=True)
class OcppContext:
    database: Database
    meter_writer: MeterValueWriter
    station: ocpp_service.Station
    detector_config: DetectorConfig
    clock_ms: Callable[[], int]
    heartbeat_interval_s: int = 300


def _unique_id(raw: str) -> str:
    """The message's unique id if the frame gets that far, else "-1" as OCPP-J asks."""
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return "-1"
    if isinstance(message, list) and len(message) > 1 and isinstance(message[1], str):
        return message[1][:36]
    return "-1"


def _message_type_of(raw: str) -> int | None:
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if isinstance(message, list) and message and isinstance(message[0], int):
        return message[0]
    return None


def now_text(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class LedgerChargePoint(ChargePoint):
    """Base of the 1.6 and 2.0.1 handlers; subclasses mix in the version's ChargePoint."""

    # Error codes the `ocpp` package uses that this OCPP version spells differently.
    error_code_spelling: ClassVar[Mapping[str, str]] = MappingProxyType({})
    # What to answer a frame of a message type that does not exist (2.0.1 has a code for it).
    unknown_message_type_code = "PropertyConstraintViolation"

    def __init__(self, identity: str, connection: Any, context: OcppContext) -> None:
        super().__init__(identity, connection)
        self.context = context
        self._owed: dict[str, UUID] = {}  # call unique id -> transaction whose session is owed
        self._tasks: set[asyncio.Task[None]] = set()

    async def route_message(self, raw_msg: str) -> None:
        try:
            unpack(raw_msg)
        except OCPPError as error:
            # The package logs such frames and answers nothing; the charger would wait for
            # an answer that never comes. OCPP-J says: answer a CALLERROR.
            code = error.code
            if _message_type_of(raw_msg) not in (None, 2, 3, 4):
                code = self.unknown_message_type_code
            logger.warning("%s sent a malformed frame: %s", self.id, error.description)
            await self._send(
                CallError(
                    _unique_id(raw_msg), code, error.description or "malformed frame", {}
                ).to_json()
            )
            return
        await super().route_message(raw_msg)

    async def _send(self, message: str) -> None:
        if self.error_code_spelling and message.startswith("[4,"):
            frame = json.loads(message)
            frame[2] = self.error_code_spelling.get(frame[2], frame[2])
            message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)

    def now_ms(self) -> int:
        return self.context.clock_ms()

    def samples(self, meter_values: list[dict[str, Any]] | None) -> list[Sample]:
        try:
            return samples_from_meter_values(meter_values or [])
        except InvalidMeterValueError as error:
            raise self.property_violation(str(error)) from None

    def property_violation(self, detail: str) -> OCPPError:
        return PropertyConstraintViolationError(description=detail)

    def owe_session(self, call_unique_id: str, transaction_id: UUID | None) -> None:
        if transaction_id is not None:
            self._owed[call_unique_id] = transaction_id

    def compute_owed_session(self, call_unique_id: str) -> None:
        """Runs after the answer went out: the session of a finished transaction."""
        transaction_id = self._owed.pop(call_unique_id, None)
        if transaction_id is None:
            return
        task = asyncio.create_task(self._compute(transaction_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compute(self, transaction_id: UUID) -> None:
        try:
            await ocpp_service.compute_transaction_session(
                self.context.database,
                transaction_id=transaction_id,
                config=self.context.detector_config,
                now_ms=self.now_ms(),
            )
        except Exception:
            # The transaction stays marked as owing its session; the sweep computes it later.
            logger.exception("computing the session of transaction %s failed", transaction_id)

    async def drain(self) -> None:
        """Let the sessions still being computed finish (on disconnect)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
