"""What every charge point connection shares: the context it records into, how a CALL is
answered (validated, handled, recorded, answered; refused with one log line), CALLERRORs for
frames that are no OCPP-J message (too large or deep to read: ocpp/charge_points/frames.py), values
out of range recorded as rejected, and sessions computed after the answer."""

import asyncio
import hashlib
import inspect
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

import ocpp.messages
import orjson
from ocpp.charge_point import (
    ChargePoint,
    camel_to_snake_case,
    remove_nones,
    serialize_as_dict,
    snake_to_camel_case,
)
from ocpp.exceptions import (
    InternalError,
    NotSupportedError,
    OCPPError,
    PropertyConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import Call, CallError, MessageType, validate_payload

from chargeledger.domain.instants import InvalidInstantError, parse_charger_instant
from chargeledger.domain.meter_values import (
    IntegerRange,
    MeterValuesRead,
    read_meter_values,
    value_text,
)
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp.charge_points.frames import (
    BoundedLogMessages,
    MalformedFrameError,
    loggable,
    unpack_frame,
)
from chargeledger.ocpp.charge_points.tolerance import numbers_as_strings
from chargeledger.ocpp.charger_events import json_safe, record_charger_events
from chargeledger.ocpp.meter_writer import MeterValueWriter
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")
# The `ocpp` package logs every frame it receives and sends, idTags included, at INFO, and a
# traceback with the payload for every refused call. Ours says one line per refused or failed
# call instead; the package's own lines are kept for debugging only.
_package_logger = logging.getLogger("chargeledger.ocpp.frames")
_package_logger.setLevel(logging.WARNING)
# The package's warnings quote whole frames (a CALLERROR a charger answered, a stray answer);
# ours quote bits of what a charger sent. A log line is for reading: none may carry a
# megabyte or a line break of a charger's making.
for _logger in (logger, _package_logger):
    if not any(isinstance(f, BoundedLogMessages) for f in _logger.filters):
        _logger.addFilter(BoundedLogMessages())

# The `ocpp` package validates every payload against its JSON schema in a worker thread by
# default: two thread hops per call, each contending with the event loop for the GIL. A
# charger's payloads are small (a MeterValues call validates in about 0.2 ms), so on the
# loop it costs less CPU and no hop (docs/benchmarks.md).
ocpp.messages.ASYNC_VALIDATION = False

# Calls stored in their own form rather than as charger events: meter values become readings
# and samples, heartbeats the station's last-seen time. Logging them as events too would
# double the writes of the busiest path for nothing.
_NOT_LOGGED = frozenset({"MeterValues", "Heartbeat"})


@dataclass(frozen=True)
class OcppContext:
    database: Database
    meter_writer: MeterValueWriter
    station: ocpp_service.Station
    detector_config: DetectorConfig
    clock_ms: Callable[[], int]
    heartbeat_interval_s: int = 300


def now_text(now_ms: int) -> str:
    return datetime.fromtimestamp(now_ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def content_digest(payload: Mapping[str, Any]) -> str:
    """What makes two calls the same call: their content, whatever order its keys came in.
    `offline` is left out: a queued event is the same event whether flagged or not."""
    content = {key: value for key, value in payload.items() if key != "offline"}
    try:
        encoded = orjson.dumps(content, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits: as text, the same way every time
        encoded = orjson.dumps(json_safe(content), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(encoded).hexdigest()


class LedgerChargePoint(ChargePoint):
    """Base of the 1.6 and 2.0.1 handlers; subclasses mix in the version's ChargePoint."""

    # Error codes the `ocpp` package uses that this OCPP version spells differently.
    error_code_spelling: ClassVar[Mapping[str, str]] = MappingProxyType({})
    # What to answer a frame of a message type that does not exist (2.0.1 has a code for it).
    unknown_message_type_code = "PropertyConstraintViolation"
    # Charger messages we record (as charger events) and answer with a fixed payload.
    recorded_only: ClassVar[Mapping[str, Mapping[str, Any]]] = MappingProxyType({})
    # Every action of this OCPP version (an action we do not handle is NotImplemented; one
    # the version does not have, NotSupported).
    actions: ClassVar[frozenset[str]] = frozenset()
    _ocpp_version: str

    def __init__(self, identity: str, connection: Any, context: OcppContext) -> None:
        super().__init__(identity, connection, logger=_package_logger)
        self.context = context
        self._owed: dict[str, UUID] = {}  # call unique id -> transaction whose session is owed
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: list[tuple[str, dict[str, Any]]] = []  # of the call being answered
        self._repeats: dict[tuple[str, ...], int] = {}  # how often each kind of note came
        self.last_heard_ms = context.clock_ms()

    # --- frames -------------------------------------------------------------------------

    async def route_message(self, raw_msg: str) -> None:
        self.last_heard_ms = self.now_ms()
        try:
            message = unpack_frame(raw_msg)
        except MalformedFrameError as error:
            # The package logs such frames and answers nothing; the charger would wait for
            # an answer that never comes. OCPP-J says: answer a CALLERROR.
            code = error.code
            if code == "MessageTypeNotSupported":
                code = self.unknown_message_type_code
            logger.warning("%s sent a malformed frame: %s", self.id, error.description)
            await self._send(CallError(error.unique_id, code, error.description, {}).to_json())
            return
        if message.message_type_id == MessageType.Call:
            await self._answer(message)
        elif message.message_type_id in (MessageType.CallResult, MessageType.CallError):
            self._response_queue.put_nowait(message)

    async def _send(self, message: str) -> None:
        if self.error_code_spelling and message.startswith("[4,"):
            frame = json.loads(message)
            frame[2] = self.error_code_spelling.get(frame[2], frame[2])
            message = json.dumps(frame, separators=(",", ":"))
        await super()._send(message)

    # --- calls --------------------------------------------------------------------------

    async def _answer(self, call: Call) -> None:
        """Handle a CALL and answer it. A refused call (invalid, or unusable as a whole) and
        a failed one get a CALLERROR, one log line (never the payload: idTags), and a
        charger event saying why."""
        self._events = []
        try:
            payload, after = await self._handle(call)
        except OCPPError as error:
            # Ours or the package's text, which may quote a value (a timestamp as sent): cut
            # short for the answer (OCPP-J allows 255 characters) and the log.
            description = loggable(error.description or error.default_description, 200)
            cause = _cause_of(error)
            # The cause can quote the payload (an idTag), so it goes to the charger and its
            # event log, not the log.
            logger.warning(
                "%s: %s refused: %s %s", self.id, loggable(call.action, 60), error.code, description
            )
            self._events.append(
                (
                    "CallRefused",
                    {
                        "action": call.action,
                        "errorCode": error.code,
                        "description": description,
                        "cause": cause,
                    },
                )
            )
            await self._flush_events_or_log()
            details = {} if cause is None else {"cause": cause}
            await self._send(CallError(call.unique_id, error.code, description, details).to_json())
            return
        except Exception as error:  # the charger must get an answer
            logger.error(
                "%s: %s failed: %s",
                self.id,
                loggable(call.action, 60),
                type(error).__name__,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )
            self._events.append(
                ("CallFailed", {"action": call.action, "error": type(error).__name__})
            )
            await self._flush_events_or_log()
            await self._send(call.create_call_error(InternalError()).to_json())
            return
        if call.action not in _NOT_LOGGED and not (
            call.action == "TransactionEvent" and call.payload.get("eventType") == "Updated"
        ):
            self._events.append((call.action, call.payload))
        await self._flush_events_or_log()
        await self._send(call.create_call_result(payload).to_json())
        if after is not None:
            after()

    async def _handle(self, call: Call) -> tuple[dict[str, Any], Callable[[], Any] | None]:
        """The answer's payload (camelCase) and what to run once it is sent."""
        station = self.context.station
        if station.numbers_as_strings:
            call.payload, repaired = numbers_as_strings(
                call.payload, action=call.action, ocpp_version=self._ocpp_version
            )
            if repaired:
                self.deviation("numberAsString", f"{repaired} number(s) sent where text is due")
        fixed = self.recorded_only.get(call.action)
        if fixed is not None:
            await validate_payload(call, self._ocpp_version)
            return dict(fixed), None
        handlers = self.route_map.get(call.action)
        if handlers is None or "_on_action" not in handlers:
            raise self._unknown_action(call.action)
        await validate_payload(call, self._ocpp_version)
        snake_payload = camel_to_snake_case(call.payload)
        handler = handlers["_on_action"]
        if _wants_unique_id(handler):
            response = handler(**snake_payload, call_unique_id=call.unique_id)
        else:
            response = handler(**snake_payload)
        if inspect.isawaitable(response):
            response = await response
        answer = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        after_handler = handlers.get("_after_action")

        def after() -> None:
            if after_handler is None:
                return
            if _wants_unique_id(after_handler):
                result = after_handler(**snake_payload, call_unique_id=call.unique_id)
            else:
                result = after_handler(**snake_payload)
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return answer, after

    def _unknown_action(self, action: str) -> OCPPError:
        if action in self.actions:
            return OcppNotImplementedError(description=f"no handler for {action}")
        return NotSupportedError(
            description=f"{loggable(action, 60)} is not an OCPP {self._ocpp_version} action"
        )

    async def _flush_events_or_log(self) -> None:
        """Record the call's events. The charger's answer does not wait on its event log:
        if it cannot be written (the database may be why the call failed), one log line
        says so and the answer goes out."""
        events, self._events = self._events, []
        try:
            await record_charger_events(
                self.context.database, self.context.station.entity_id, events, now_ms=self.now_ms()
            )
        except Exception as error:
            logger.error(
                "%s: %d charger event(s) not recorded: %s",
                self.id,
                len(events),
                type(error).__name__,
                exc_info=logger.isEnabledFor(logging.DEBUG),
            )

    # --- what handlers share ------------------------------------------------------------

    def now_ms(self) -> int:
        return self.context.clock_ms()

    def note(self, kind: str, key: tuple[str, ...], detail: dict[str, Any]) -> bool:
        """Record what we did about a message, in the charger's event log. A charger repeats
        itself (the same bad value every 10 s): the same note is recorded the 1st, 10th,
        100th, ... time on a connection, with how often it came, so that a misbehaving
        charger costs a few writes, not one per call. True when recorded."""
        count = self._repeats.get((kind, *key), 0) + 1
        self._repeats[(kind, *key)] = count
        if not _is_power_of_ten(count):
            return False
        self._events.append((kind, {**detail, "occurrences": count}))
        return True

    def deviation(self, kind: str, detail: str) -> None:
        """A deviation from the specification tolerated for this charger: recorded."""
        self.note("DeviationTolerated", (kind,), {"deviation": kind, "detail": detail})

    def instant(self, text: str) -> int:
        """A timestamp field of the call; refused (the call with it) if unusable."""
        try:
            instant_ms, zoneless = parse_charger_instant(
                text, zoneless_as_utc=self.context.station.zoneless_timestamps_as_utc
            )
        except InvalidInstantError as error:
            raise self.property_violation(str(error)) from None
        if zoneless:
            self.deviation("timestampWithoutZone", f"'{text}' read as UTC")
        return instant_ms

    def meter_values(self, meter_values: list[dict[str, Any]] | None) -> MeterValuesRead:
        """The call's meter values: a value that cannot be used is dropped, with its reason
        recorded; the rest is kept."""
        read = read_meter_values(
            meter_values or [],
            zoneless_as_utc=self.context.station.zoneless_timestamps_as_utc,
        )
        if read.zoneless_timestamps:
            self.deviation(
                "timestampWithoutZone",
                f"{read.zoneless_timestamps} meter value timestamp(s) read as UTC",
            )
        if read.dropped:
            reasons = tuple(sorted({f"{d.measurand}: {d.reason}" for d in read.dropped}))
            noted = self.note(
                "ValuesDropped",
                reasons,
                {
                    "values": [
                        {"measurand": d.measurand, "value": d.value, "reason": d.reason}
                        for d in read.dropped[:50]
                    ]
                },
            )
            if noted:
                logger.warning(
                    "%s: %d sampled value(s) dropped: %s",
                    self.id,
                    len(read.dropped),
                    loggable(reasons[0]),
                )
        return read

    def reject(
        self,
        action: str,
        field: str,
        value: Any,
        allowed: IntegerRange,
        *,
        transaction_id: str | None,
    ) -> None:
        """Record a value out of its range as rejected, on the transaction it came with: the
        call is still answered and stored, without the value (a charger told no would send
        the same call again and again; a meter register of 1e30 Wh is no reason to lose the
        transaction around it)."""
        text = value_text(value)
        noted = self.note(
            "ValueRejected",
            (action, field, transaction_id or "", text),
            {
                "action": action,
                "field": field,
                "value": text,
                "allowed": str(allowed),
                "transactionId": transaction_id,
            },
        )
        if noted:
            logger.warning("%s: %s %s rejected: not %s", self.id, action, field, allowed)

    def property_violation(self, detail: str) -> OCPPError:
        return PropertyConstraintViolationError(description=detail)

    # --- sessions owed ------------------------------------------------------------------

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


def _is_power_of_ten(count: int) -> bool:
    while count % 10 == 0:
        count //= 10
    return count == 1


def _cause_of(error: OCPPError) -> str | None:
    details = error.details if isinstance(error.details, Mapping) else {}
    cause = details.get("cause")
    return cause[:500] if isinstance(cause, str) else None


_WANTS_UNIQUE_ID: dict[Any, bool] = {}


def _wants_unique_id(handler: Any) -> bool:
    """Whether a handler takes the call's unique id; asked once per handler, not per call."""
    key = getattr(handler, "__func__", handler)
    wants = _WANTS_UNIQUE_ID.get(key)
    if wants is None:
        wants = "call_unique_id" in inspect.signature(handler).parameters
        _WANTS_UNIQUE_ID[key] = wants
    return wants
