"""Malformed frames over a real socket get the proper OCPP-J CALLERROR, and the connection
stays open: a Heartbeat right after is still answered.

A CALLERROR is [4, uniqueId, errorCode, errorDescription, errorDetails]. When the frame is
not even JSON its uniqueId cannot be read and OCPP-J says to answer with "-1". The error
codes differ per version: OCPP-J 1.6 knows FormationViolation and (sic)
OccurenceConstraintViolation; 2.0.1 renamed them FormatViolation and
OccurrenceConstraintViolation and added RpcFrameworkError and MessageTypeNotSupported."""

import asyncio
import json
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.tables import ocpp_transactions
from tests.ocpp.charge_points.charger import (
    ChargePointSetup,
    connect_raw,
    list_ocpp_events,
    list_readings,
    raw_call,
    register_charge_point,
    send_text,
)
from tests.support.api import TenantApi

CODES = {
    "ocpp1.6": {
        "NotImplemented",
        "NotSupported",
        "InternalError",
        "ProtocolError",
        "SecurityError",
        "FormationViolation",
        "PropertyConstraintViolation",
        "OccurenceConstraintViolation",
        "TypeConstraintViolation",
        "GenericError",
    },
    "ocpp2.0.1": {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    },
}
FORMAT_VIOLATION = {"ocpp1.6": "FormationViolation", "ocpp2.0.1": "FormatViolation"}
OCCURRENCE_VIOLATION = {
    "ocpp1.6": "OccurenceConstraintViolation",
    "ocpp2.0.1": "OccurrenceConstraintViolation",
}
VERSIONS = ["ocpp1.6", "ocpp2.0.1"]


@pytest.fixture
async def station(api: TenantApi) -> ChargePointSetup:
    return await register_charge_point(api, location=False, calendar=None)


def assert_call_error(
    answer: list[Any], unique_id: str, subprotocol: str, codes: set[str] | str
) -> str:
    """A well-formed CALLERROR for `unique_id`, with a code of this OCPP version among
    `codes`; returns the code."""
    allowed = {codes} if isinstance(codes, str) else codes
    assert len(answer) == 5, answer
    message_type, answered_id, code, description, details = answer
    assert (message_type, answered_id) == (4, unique_id), answer
    assert code in CODES[subprotocol], f"{code} is no OCPP {subprotocol} error code: {answer}"
    assert code in allowed, answer
    assert isinstance(description, str), answer
    assert len(description) <= 255, answer
    assert isinstance(details, dict), answer
    return str(code)


async def assert_still_open(connection: Any) -> None:
    unique_id = f"hb-{uuid.uuid4().hex[:8]}"
    answer = await raw_call(connection, unique_id, "Heartbeat", {})
    assert answer[:2] == [3, unique_id], answer
    assert set(answer[2]) == {"currentTime"}


# ---- frames that are not OCPP-J at all ----------------------------------------------------------


@pytest.mark.parametrize("subprotocol", VERSIONS)
@pytest.mark.parametrize(
    "frame",
    ["{not json", "", "[2, 'single-quotes', 'Heartbeat', {}]", '[2, "u", "Heartbeat", {}'],
    ids=["garbage", "empty", "single-quotes", "unterminated"],
)
async def test_invalid_json_is_a_format_violation_for_unique_id_minus_1(
    live_server: str, station: ChargePointSetup, subprotocol: str, frame: str
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await send_text(connection, frame)
        assert_call_error(answer, "-1", subprotocol, FORMAT_VIOLATION[subprotocol])
        await assert_still_open(connection)


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_binary_frame_that_is_not_utf8_is_a_format_violation(
    live_server: str, station: ChargePointSetup, subprotocol: str
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        await connection.send(b"\xff\xfe\x00\x80")
        answer = json.loads(await connection.recv())
        assert_call_error(answer, "-1", subprotocol, FORMAT_VIOLATION[subprotocol])
        await assert_still_open(connection)


@pytest.mark.parametrize("subprotocol", VERSIONS)
@pytest.mark.parametrize(
    ("frame", "unique_id"),
    [("{}", "-1"), ("[]", "-1"), ('"Heartbeat"', "-1"), ('[2, "only-id"]', "only-id")],
    ids=["object", "empty-array", "string", "no-action"],
)
async def test_json_that_is_no_ocpp_message_is_answered_with_a_call_error(
    live_server: str, station: ChargePointSetup, subprotocol: str, frame: str, unique_id: str
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await send_text(connection, frame)
        assert_call_error(
            answer,
            unique_id,
            subprotocol,
            {"ProtocolError", FORMAT_VIOLATION[subprotocol], "RpcFrameworkError"},
        )
        await assert_still_open(connection)


async def test_an_unknown_message_type_is_message_type_not_supported_in_201(
    live_server: str, station: ChargePointSetup
) -> None:
    """MessageTypeId 7 does not exist. OCPP-J 2.0.1 has an error code for exactly this:
    MessageTypeNotSupported, for the frame's uniqueId."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        answer = await send_text(connection, '[7, "type-7", "Heartbeat", {}]')
        assert_call_error(answer, "type-7", "ocpp2.0.1", "MessageTypeNotSupported")
        await assert_still_open(connection)


async def test_an_unknown_message_type_in_16_is_ignored_or_answered_with_a_16_code(
    live_server: str, station: ChargePointSetup
) -> None:
    """OCPP-J 1.6 has no code for it (it says to ignore the payload): either no answer at
    all or a CALLERROR with a 1.6 code; either way the connection carries on."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp1.6"]
    ) as connection:
        await connection.send('[7, "type-7", "Heartbeat", {}]')
        await connection.send('[2, "hb-after", "Heartbeat", {}]')
        answer = json.loads(await asyncio.wait_for(connection.recv(), timeout=10))
        if answer[1] == "type-7":
            assert_call_error(answer, "type-7", "ocpp1.6", CODES["ocpp1.6"])
            answer = json.loads(await asyncio.wait_for(connection.recv(), timeout=10))
        assert answer[:2] == [3, "hb-after"], answer


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_stray_call_result_is_ignored(
    live_server: str, station: ChargePointSetup, subprotocol: str
) -> None:
    """A CALLRESULT or CALLERROR for a CALL we never sent gets no answer (answering an
    answer would loop); the next CALL is answered as usual."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        await connection.send('[3, "never-asked", {}]')
        await connection.send('[4, "never-asked-2", "GenericError", "", {}]')
        await assert_still_open(connection)


# ---- CALLs the server cannot serve --------------------------------------------------------------


@pytest.mark.parametrize("subprotocol", VERSIONS)
@pytest.mark.parametrize("action", ["FooBar", "heartbeat", "Héllo"])
async def test_an_unknown_action_is_not_implemented_or_not_supported(
    live_server: str, station: ChargePointSetup, subprotocol: str, action: str
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "unknown-action-1", action, {})
        assert_call_error(
            answer, "unknown-action-1", subprotocol, {"NotImplemented", "NotSupported"}
        )
        await assert_still_open(connection)


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        # A central system's own action, sent by a charger: the version has it, we do not.
        ("ocpp1.6", "Reset", {"type": "Soft"}),
        ("ocpp1.6", "TransactionEvent", {}),  # a 2.0.1 action on a 1.6 connection
        ("ocpp2.0.1", "RequestStartTransaction", {"idToken": {"idToken": "A", "type": "Local"}}),
        ("ocpp2.0.1", "StartTransaction", {}),  # a 1.6 action on a 2.0.1 connection
    ],
    ids=["16-reset", "16-transaction-event", "201-request-start", "201-start-transaction"],
)
async def test_an_action_without_handler_is_not_implemented_or_not_supported(
    live_server: str,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "no-handler-1", action, payload)
        assert_call_error(answer, "no-handler-1", subprotocol, {"NotImplemented", "NotSupported"})
        await assert_still_open(connection)


# ---- schema-invalid payloads ---------------------------------------------------------------------

START_16 = {
    "connectorId": 1,
    "idTag": "RFID-0001",
    "meterStart": 1000,
    "timestamp": "2024-06-03T19:30:00Z",
}
EVENT_201 = {
    "eventType": "Started",
    "timestamp": "2024-06-03T19:30:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "bad-payload-tx"},
}


def without(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in payload.items() if name != key}


async def transactions_of(database: Database, entity_id: str) -> list[Any]:
    async with database.read() as connection:
        result = await connection.execute(
            sa.select(ocpp_transactions).where(
                ocpp_transactions.c.entity_id == uuid.UUID(entity_id)
            )
        )
        return list(result.all())


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        ("ocpp1.6", "StartTransaction", without(START_16, "meterStart")),
        ("ocpp1.6", "StartTransaction", without(START_16, "timestamp")),
        ("ocpp2.0.1", "TransactionEvent", without(EVENT_201, "seqNo")),
        ("ocpp2.0.1", "TransactionEvent", without(EVENT_201, "transactionInfo")),
    ],
    ids=["16-no-meterStart", "16-no-timestamp", "201-no-seqNo", "201-no-transactionInfo"],
)
async def test_a_payload_missing_a_required_field_is_answered_with_a_call_error(
    live_server: str,
    database: Database,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    """ProtocolError ("payload for action is incomplete") is the code for it in both
    versions; an occurrence or format violation would do too. Nothing is recorded."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "incomplete-1", action, payload)
        assert_call_error(
            answer,
            "incomplete-1",
            subprotocol,
            {"ProtocolError", OCCURRENCE_VIOLATION[subprotocol], FORMAT_VIOLATION[subprotocol]},
        )
        await assert_still_open(connection)
    assert await transactions_of(database, station.entity_id) == []


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        ("ocpp1.6", "StartTransaction", {**START_16, "meterStart": "abc"}),
        ("ocpp1.6", "StartTransaction", {**START_16, "connectorId": "1"}),
        ("ocpp2.0.1", "TransactionEvent", {**EVENT_201, "seqNo": "zero"}),
        ("ocpp2.0.1", "TransactionEvent", {**EVENT_201, "transactionInfo": "tx"}),
    ],
    ids=["16-meterStart-text", "16-connectorId-text", "201-seqNo-text", "201-info-text"],
)
async def test_a_field_of_the_wrong_type_is_a_type_constraint_violation(
    live_server: str,
    database: Database,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "wrong-type-1", action, payload)
        assert_call_error(answer, "wrong-type-1", subprotocol, "TypeConstraintViolation")
        await assert_still_open(connection)
    assert await transactions_of(database, station.entity_id) == []


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        ("ocpp1.6", "StartTransaction", {**START_16, "colour": "blue"}),
        ("ocpp1.6", "Heartbeat", {"uptime": 5}),
        ("ocpp2.0.1", "TransactionEvent", {**EVENT_201, "colour": "blue"}),
        ("ocpp2.0.1", "Heartbeat", {"uptime": 5}),
    ],
    ids=["16-start", "16-heartbeat", "201-event", "201-heartbeat"],
)
async def test_an_unexpected_field_is_a_format_violation_of_the_version(
    live_server: str,
    database: Database,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    """The schemas allow no additional properties. The answer is OCPP 1.6's
    FormationViolation on a 1.6 connection (FormatViolation is no 1.6 error code) and
    2.0.1's FormatViolation on a 2.0.1 one."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "extra-field-1", action, payload)
        assert_call_error(answer, "extra-field-1", subprotocol, FORMAT_VIOLATION[subprotocol])
        await assert_still_open(connection)
    assert await transactions_of(database, station.entity_id) == []


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        ("ocpp1.6", "StartTransaction", {**START_16, "timestamp": "yesterday"}),
        ("ocpp1.6", "StartTransaction", {**START_16, "timestamp": "2024-06-03T19:30:00"}),
        ("ocpp2.0.1", "TransactionEvent", {**EVENT_201, "timestamp": "2024-13-03T19:30:00Z"}),
    ],
    ids=["16-words", "16-no-zone", "201-month-13"],
)
async def test_a_timestamp_that_is_no_instant_is_a_property_constraint_violation(
    live_server: str,
    database: Database,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "bad-time-1", action, payload)
        assert_call_error(answer, "bad-time-1", subprotocol, "PropertyConstraintViolation")
        await assert_still_open(connection)
    assert await transactions_of(database, station.entity_id) == []


@pytest.mark.parametrize(
    "sampled",
    [
        {"value": "lots", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "NaN", "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
        {"value": "120", "measurand": "SoC", "unit": "Percent"},
        {"value": "5", "measurand": "Energy.Active.Import.Register", "unit": "varh"},
    ],
    ids=["not-a-number", "nan", "soc-120", "reactive-unit"],
)
async def test_a_meter_value_that_makes_no_sense_is_dropped_and_the_rest_is_kept(
    api: TenantApi, live_server: str, station: ChargePointSetup, sampled: dict[str, Any]
) -> None:
    """One unusable sampled value costs only itself: the call is answered, the energy
    register next to it is stored (a reading of 1000 Wh), and the charger's event log says
    which value was dropped and why."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp1.6"]
    ) as connection:
        answer = await raw_call(
            connection,
            "bad-meter-1",
            "MeterValues",
            {
                "connectorId": 1,
                "meterValue": [
                    {
                        "timestamp": "2024-06-03T19:30:00Z",
                        "sampledValue": [
                            {"value": "1000", "unit": "Wh"},
                            sampled,
                        ],
                    }
                ],
            },
        )
        assert answer == [3, "bad-meter-1", {}]
        await assert_still_open(connection)
    readings = await list_readings(api, station.entity_id, "2024-06-03T00:00:00Z")
    assert [(r["timestamp"], r["positiveActiveEnergy"]["total"]) for r in readings] == [
        ("2024-06-03T19:30:00Z", 1.0)
    ]
    (dropped,) = [
        e for e in await list_ocpp_events(api, station.entity_id) if e["kind"] == "ValuesDropped"
    ]
    (value,) = dropped["detail"]["values"]
    assert (value["measurand"], value["value"]) == (sampled["measurand"], sampled["value"])
    assert value["reason"]


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_burst_of_malformed_frames_never_drops_the_connection(
    live_server: str, station: ChargePointSetup, subprotocol: str
) -> None:
    """Twenty frames of every kind above in a row, each answered in order, then a Heartbeat."""
    frames = [
        ("{not json", "-1"),
        ("[]", "-1"),
        ('[2, "b-no-action"]', "b-no-action"),
        ('[2, "b-foo", "FooBar", {}]', "b-foo"),
        ('[2, "b-type", "Heartbeat", []]', "b-type"),
    ] * 4
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        for frame, unique_id in frames:
            answer = await send_text(connection, frame)
            assert answer[:2] == [4, unique_id], (frame, answer)
        await assert_still_open(connection)
