"""A charger cannot wedge or poison anything, over a real socket (issue 10, findings 1, 8, 9):

- a value out of its physical or storable range (a meterStop of 1e30 Wh, a meterStart of -1,
  a seqNo of 2^63, a connectorId of 2^40) is recorded as rejected on the transaction (a
  ValueRejected event on the charger naming the field, the value as sent and the allowed
  range), the call is answered as usual, and the session is computed without the value;
- no integer a charger sends, of any size, makes an InternalError;
- a frame nested deeper than 64 levels or larger than 1 MiB gets a CALLERROR and the
  connection carries on;
- what a charger sends reaches the log cut short, one line, and never its idTags.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.ocpp.charge_points.frames import MAX_DEPTH, MAX_FRAME_CHARACTERS
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import ocpp_transaction_events, ocpp_transactions
from tests.ocpp.charge_points.charger import (
    EVENING,
    METER_START_WH,
    ChargePointSetup,
    connect_raw,
    energy16,
    energy201,
    list_ocpp_events,
    meter_value,
    meter_wh,
    minutes_after,
    power16,
    raw_call,
    register_charge_point,
    send_text,
    stamp,
    wait_for_sessions,
)
from tests.support.api import TenantApi
from tests.support.databases import fresh_database
from tests.support.servers import ServerProcess

FORMAT_VIOLATION = {"ocpp1.6": "FormationViolation", "ocpp2.0.1": "FormatViolation"}
VERSIONS = ["ocpp1.6", "ocpp2.0.1"]
REGISTER_RANGE = "0 to 1000000000000 Wh"


@pytest.fixture
async def station(api: TenantApi) -> ChargePointSetup:
    return await register_charge_point(api, location=False, calendar="BE-day-night")


async def assert_still_open(connection: Any) -> None:
    unique_id = f"hb-{uuid.uuid4().hex[:8]}"
    answer = await raw_call(connection, unique_id, "Heartbeat", {})
    assert answer[:2] == [3, unique_id], answer


async def rejections(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    events = await list_ocpp_events(api, entity_id)
    return [event["detail"] for event in events if event["kind"] == "ValueRejected"]


def total_kwh(session: dict[str, Any]) -> Any:
    return session["data"]["charge"]["total"]["total"]


async def start16(connection: Any, *, meter_start: int, connector_id: int = 1) -> int:
    answer = await raw_call(
        connection,
        "start-1",
        "StartTransaction",
        {
            "connectorId": connector_id,
            "idTag": "RFID-0001",
            "meterStart": meter_start,
            "timestamp": stamp(EVENING),
        },
    )
    assert answer[:2] == [3, "start-1"], answer
    # Answered like any start: a transactionId, and the tag accepted.
    assert answer[2]["idTagInfo"] == {"status": "Accepted"}, answer
    transaction_id: int = answer[2]["transactionId"]
    assert isinstance(transaction_id, int)
    return transaction_id


async def meter_values16(connection: Any, transaction_id: int, minutes: list[int]) -> None:
    for minute in minutes:
        answer = await raw_call(
            connection,
            f"mv-{minute}",
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": transaction_id,
                "meterValue": [
                    meter_value(
                        minutes_after(EVENING, minute), energy16(meter_wh(minute)), power16(11.0)
                    )
                ],
            },
        )
        assert answer == [3, f"mv-{minute}", {}], answer


async def stop16(connection: Any, transaction_id: int, *, meter_stop: int) -> None:
    answer = await raw_call(
        connection,
        "stop-1",
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "idTag": "RFID-0001",
            "meterStop": meter_stop,
            "timestamp": stamp(minutes_after(EVENING, 60)),
            "reason": "EVDisconnected",
        },
    )
    assert answer == [3, "stop-1", {"idTagInfo": {"status": "Accepted"}}], answer


# ---- finding 1: values out of their physical range --------------------------------------


@pytest.mark.parametrize("meter_stop", [10**30, -1, 2**63, 10**400])
async def test_a_meter_stop_out_of_range_is_rejected_and_the_session_ends_at_the_last_meter_value(
    api: TenantApi, live_server: str, station: ChargePointSetup, meter_stop: int
) -> None:
    """The StopTransaction is answered as any other; its meterStop is recorded as rejected
    and the transaction ends at its last meter value in range (minute 40): 11 kW for 40
    minutes, 7.333 kWh, computed at once (before, 1e30 Wh wedged the worker)."""
    async with connect_raw(live_server, station.path, station.password) as connection:
        transaction_id = await start16(connection, meter_start=METER_START_WH)
        await meter_values16(connection, transaction_id, [20, 40])
        await stop16(connection, transaction_id, meter_stop=meter_stop)
        await assert_still_open(connection)
    (session,) = await wait_for_sessions(api, station.entity_id, timeout_s=15)
    assert total_kwh(session) == pytest.approx((meter_wh(40) - METER_START_WH) / 1000)
    assert session["data"]["end"] == "2024-06-03T20:30:00Z"
    (rejected,) = await rejections(api, station.entity_id)
    assert rejected == {
        "action": "StopTransaction",
        "field": "meterStop",
        "value": str(meter_stop) if len(str(meter_stop)) <= 80 else str(meter_stop)[:79] + "…",
        "allowed": REGISTER_RANGE,
        "transactionId": str(transaction_id),
        "occurrences": 1,
    }


@pytest.mark.parametrize("meter_start", [-1, 2**63, 10**30, 10**13])
async def test_a_meter_start_out_of_range_is_rejected_and_energy_counts_from_the_first_value(
    api: TenantApi, live_server: str, station: ChargePointSetup, meter_start: int
) -> None:
    """The charger still gets its transactionId and Accepted (told anything else it would
    retry for ever, or stop the charge); the energy is counted from its first meter value in
    range (minute 20) to meterStop (minute 60): 11 kW for 40 minutes."""
    async with connect_raw(live_server, station.path, station.password) as connection:
        transaction_id = await start16(connection, meter_start=meter_start)
        await meter_values16(connection, transaction_id, [20, 40])
        await stop16(connection, transaction_id, meter_stop=meter_wh(60))
    (session,) = await wait_for_sessions(api, station.entity_id, timeout_s=15)
    assert total_kwh(session) == pytest.approx((meter_wh(60) - meter_wh(20)) / 1000)
    (rejected,) = await rejections(api, station.entity_id)
    assert (rejected["field"], rejected["value"], rejected["allowed"]) == (
        "meterStart",
        str(meter_start),
        REGISTER_RANGE,
    )
    assert rejected["transactionId"] == str(transaction_id)


async def test_a_repeated_start_with_a_rejected_meter_start_is_still_the_same_transaction(
    api: TenantApi, live_server: str, station: ChargePointSetup
) -> None:
    """At-least-once delivery: the same StartTransaction again gets the same transactionId,
    though its meterStart (and connectorId) were stored as unknown."""
    async with connect_raw(live_server, station.path, station.password) as connection:
        first = await start16(connection, meter_start=-5, connector_id=2**40)
        again = await start16(connection, meter_start=-5, connector_id=2**40)
    assert again == first
    fields = sorted(r["field"] for r in await rejections(api, station.entity_id))
    assert fields == ["connectorId", "meterStart"]  # noted once per connection


async def test_a_201_energy_register_of_1e30_wh_is_dropped_and_the_session_ends_before_it(
    api: TenantApi, live_server: str, station: ChargePointSetup
) -> None:
    transaction = "tx-" + uuid.uuid4().hex[:8]
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        for seq_no, (event_type, minute, wh) in enumerate(
            [("Started", 0, METER_START_WH), ("Updated", 30, meter_wh(30)), ("Ended", 60, 10**30)]
        ):
            answer = await raw_call(
                connection,
                f"te-{seq_no}",
                "TransactionEvent",
                {
                    "eventType": event_type,
                    "timestamp": stamp(minutes_after(EVENING, minute)),
                    "triggerReason": "Authorized",
                    "seqNo": seq_no,
                    "transactionInfo": {"transactionId": transaction},
                    "meterValue": [meter_value(minutes_after(EVENING, minute), energy201(wh))],
                },
            )
            assert answer[:2] == [3, f"te-{seq_no}"], answer
    (session,) = await wait_for_sessions(api, station.entity_id, timeout_s=15)
    assert total_kwh(session) == pytest.approx((meter_wh(30) - METER_START_WH) / 1000)
    dropped = [
        e for e in await list_ocpp_events(api, station.entity_id) if e["kind"] == "ValuesDropped"
    ]
    assert len(dropped) == 1


# ---- finding 8: every integer a charger sends, of any size ------------------------------


async def transaction_events(database: Database, entity_id: str) -> list[Any]:
    async with database.read() as connection:
        result = await connection.execute(
            sa.select(ocpp_transaction_events.c.seq_no, ocpp_transactions.c.evse_id)
            .join(
                ocpp_transactions,
                ocpp_transactions.c.id == ocpp_transaction_events.c.transaction_id,
            )
            .where(ocpp_transactions.c.entity_id == uuid.UUID(entity_id))
        )
        return list(result.all())


@pytest.mark.parametrize("seq_no", [2**63, 2**70, -1, -(2**63) - 1])
async def test_a_seq_no_beyond_64_bits_or_negative_keeps_the_event_and_is_rejected(
    api: TenantApi, database: Database, live_server: str, station: ChargePointSetup, seq_no: int
) -> None:
    """Before: InternalError (the seqNo reached a BIGINT column). Now the event is stored,
    its seqNo recorded as rejected, and the transaction goes on to its session."""
    transaction = "tx-" + uuid.uuid4().hex[:8]
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=["ocpp2.0.1"]
    ) as connection:
        for index, (event_type, minute, wh) in enumerate(
            [("Started", 0, METER_START_WH), ("Ended", 60, meter_wh(60))]
        ):
            answer = await raw_call(
                connection,
                f"te-{index}",
                "TransactionEvent",
                {
                    "eventType": event_type,
                    "timestamp": stamp(minutes_after(EVENING, minute)),
                    "triggerReason": "Authorized",
                    "seqNo": seq_no if index == 0 else 1,
                    "transactionInfo": {"transactionId": transaction},
                    "evse": {"id": 2**40, "connectorId": 1},
                    "meterValue": [meter_value(minutes_after(EVENING, minute), energy201(wh))],
                },
            )
            assert answer[:2] == [3, f"te-{index}"], answer
    (session,) = await wait_for_sessions(api, station.entity_id, timeout_s=15)
    assert total_kwh(session) == pytest.approx(11.0)
    assert sorted(await transaction_events(database, station.entity_id)) == [(-1, None), (1, None)]
    by_field = {r["field"]: r for r in await rejections(api, station.entity_id)}
    assert by_field["seqNo"]["value"] == str(seq_no)
    assert by_field["seqNo"]["allowed"] == f"0 to {2**63 - 1}"
    assert by_field["seqNo"]["transactionId"] == transaction
    assert by_field["evse.id"]["value"] == str(2**40)


HUGE = 2**70
EVENT = {
    "eventType": "Started",
    "timestamp": "2024-06-03T19:30:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "huge-numbers"},
}


@pytest.mark.parametrize(
    ("subprotocol", "action", "payload"),
    [
        (
            "ocpp1.6",
            "StartTransaction",
            {
                "connectorId": HUGE,
                "idTag": "RFID-0001",
                "meterStart": -HUGE,
                "timestamp": "2024-06-03T19:30:00Z",
                "reservationId": HUGE,
            },
        ),
        (
            "ocpp1.6",
            "StopTransaction",
            {"transactionId": 10**300, "meterStop": HUGE, "timestamp": "2024-06-03T20:30:00Z"},
        ),
        (
            "ocpp1.6",
            "StopTransaction",
            {"transactionId": -HUGE, "meterStop": 1000, "timestamp": "2024-06-03T20:30:00Z"},
        ),
        (
            "ocpp1.6",
            "MeterValues",
            {
                "connectorId": HUGE,
                "transactionId": HUGE,
                "meterValue": [meter_value(EVENING, energy16(1000))],
            },
        ),
        (
            "ocpp1.6",
            "StatusNotification",
            {"connectorId": HUGE, "errorCode": "NoError", "status": "Available"},
        ),
        ("ocpp1.6", "LogStatusNotification", {"status": "Uploaded", "requestId": HUGE}),
        (
            "ocpp2.0.1",
            "TransactionEvent",
            {
                **EVENT,
                "seqNo": HUGE,
                "numberOfPhasesUsed": HUGE,
                "cableMaxCurrent": -HUGE,
                "reservationId": HUGE,
                "evse": {"id": HUGE, "connectorId": -HUGE},
                "transactionInfo": {
                    "transactionId": "huge-numbers",
                    "remoteStartId": HUGE,
                    "timeSpentCharging": HUGE,
                },
            },
        ),
        (
            "ocpp2.0.1",
            "StatusNotification",
            {
                "timestamp": "2024-06-03T19:30:00Z",
                "connectorStatus": "Available",
                "evseId": HUGE,
                "connectorId": HUGE,
            },
        ),
        (
            "ocpp2.0.1",
            "MeterValues",
            {"evseId": HUGE, "meterValue": [meter_value(EVENING, energy201(1000))]},
        ),
        (
            "ocpp2.0.1",
            "NotifyEvent",
            {
                "generatedAt": "2024-06-03T19:30:00Z",
                "seqNo": HUGE,
                "eventData": [
                    {
                        "eventId": HUGE,
                        "timestamp": "2024-06-03T19:30:00Z",
                        "trigger": "Alerting",
                        "actualValue": "x",
                        "eventNotificationType": "HardWiredNotification",
                        "component": {"name": "EVSE", "evse": {"id": HUGE}},
                        "variable": {"name": "Problem"},
                    }
                ],
            },
        ),
        ("ocpp2.0.1", "DataTransfer", {"vendorId": "com.example", "data": [HUGE, -HUGE]}),
    ],
    ids=[
        "16-start",
        "16-stop-transactionId-300-digits",
        "16-stop-negative-transactionId",
        "16-meter-values",
        "16-status",
        "16-log-status",
        "201-transaction-event",
        "201-status",
        "201-meter-values",
        "201-notify-event",
        "201-data-transfer",
    ],
)
async def test_no_integer_of_any_size_makes_an_internal_error(
    live_server: str,
    station: ChargePointSetup,
    subprotocol: str,
    action: str,
    payload: dict[str, Any],
) -> None:
    """The schemas bound no integer; each is either stored within its column's range (or
    recorded as rejected) or kept as text in the charger's event log: every call is
    answered with its CALLRESULT, on both databases."""
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "huge-1", action, payload)
        assert answer[:2] == [3, "huge-1"], answer
        await assert_still_open(connection)


# ---- finding 8: frames nested deep, and frames too large ---------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("subprotocol", "frame"),
    [
        # 2.0.1 DataTransfer data may be anything: before, 300 levels passed validation and
        # broke recording it (orjson stops at 255), dropping the connection unanswered.
        ("ocpp2.0.1", '[2,"deep-1","DataTransfer",{"vendorId":"v","data":' + nested(300) + "}]"),
        (
            "ocpp2.0.1",
            '[2,"deep-1","BootNotification",{"reason":"PowerUp","chargingStation":'
            '{"model":"m","vendorName":"v","customData":{"vendorId":"v","x":'
            + nested(MAX_DEPTH)
            + "}}}]",
        ),
        ("ocpp1.6", '[2,"deep-1","Heartbeat",{"a":' + nested(10_000) + "}]"),
        ("ocpp2.0.1", '[2,"deep-1","Heartbeat",{"a":' + nested(10_000) + "}]"),
        ("ocpp1.6", '[2,"deep-1","Heartbeat",{"a":' + "[" * 100_000 + "}]"),
    ],
    ids=["201-data-transfer-300", "201-custom-data-65", "16-10000", "201-10000", "16-unclosed"],
)
async def test_a_frame_nested_too_deep_gets_a_call_error_and_the_connection_carries_on(
    live_server: str, station: ChargePointSetup, subprotocol: str, frame: str
) -> None:
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await send_text(connection, frame)
        assert answer[:3] == [4, "deep-1", FORMAT_VIOLATION[subprotocol]], answer
        assert str(MAX_DEPTH) in answer[3]
        await assert_still_open(connection)


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_frame_larger_than_1_mib_gets_a_call_error_for_its_unique_id(
    api: TenantApi, live_server: str, station: ChargePointSetup, subprotocol: str
) -> None:
    """Valid but too large (before, it was read and recorded in full): refused unread, with
    the unique id from its head so the charger knows which call failed."""
    data = "x" * MAX_FRAME_CHARACTERS
    async with connect_raw(
        live_server, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(
            connection, "big-1", "DataTransfer", {"vendorId": "com.example", "data": data}
        )
        assert answer[:3] == [4, "big-1", FORMAT_VIOLATION[subprotocol]], answer
        assert "exceeds" in answer[3]
        await assert_still_open(connection)
    kinds = [event["kind"] for event in await list_ocpp_events(api, station.entity_id)]
    assert "DataTransfer" not in kinds


async def test_a_large_meter_values_batch_under_the_limit_is_read(
    live_server: str, station: ChargePointSetup
) -> None:
    """The limit is generous: a charger back from a day offline sends 1,440 meter values of
    a minute each (about 250 kB) in one call, and it is stored."""
    batch = [
        meter_value(minutes_after(EVENING, minute), energy16(meter_wh(minute)), power16(11.0))
        for minute in range(1440)
    ]
    async with connect_raw(live_server, station.path, station.password) as connection:
        frame = json.dumps([2, "batch-1", "MeterValues", {"connectorId": 1, "meterValue": batch}])
        assert 200_000 < len(frame) < MAX_FRAME_CHARACTERS
        answer = await send_text(connection, frame)
        assert answer == [3, "batch-1", {}], answer


# ---- finding 9: what reaches the log ------------------------------------------------------


@pytest.fixture(scope="module")
async def logged_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[tuple[str, auth.ClientCredentials, Path]]:
    """A server of its own whose log this module reads."""
    directory: Path = tmp_path_factory.mktemp("ocpp-log")
    async with fresh_database(directory, name_hint="ocpp_log") as url:
        await upgrade_to_head_async(url)
        database = Database(url)
        try:
            async with database.write() as connection:
                credentials = await auth.create_tenant(
                    connection, name="log tenant", now_ms=system_clock_ms()
                )
        finally:
            await database.dispose()
        log_path = directory / "server.log"
        server = ServerProcess(url, log_path=log_path)
        await asyncio.to_thread(server.start)
        try:
            yield server.base_url, credentials, log_path
        finally:
            await asyncio.to_thread(server.stop)


@pytest.fixture
async def logged_api(
    logged_server: tuple[str, auth.ClientCredentials, Path],
) -> AsyncIterator[TenantApi]:
    base_url, credentials, _ = logged_server
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield await TenantApi.logged_in(http, credentials)


async def log_grows_by(log_path: Path, size_before: int, marker: str) -> str:
    """What the server logged since `size_before`, once a line with `marker` is in it."""
    deadline = time.monotonic() + 30
    while True:
        logged = (await asyncio.to_thread(log_path.read_bytes))[size_before:].decode(
            "utf-8", "replace"
        )
        if marker in logged:
            return logged
        if time.monotonic() > deadline:
            raise AssertionError(f"the server never logged {marker!r}: {logged[-2000:]!r}")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("subprotocol", VERSIONS)
async def test_a_megabyte_of_a_chargers_text_reaches_the_log_as_one_short_line(
    logged_server: tuple[str, auth.ClientCredentials, Path],
    logged_api: TenantApi,
    subprotocol: str,
) -> None:
    """Before, an unknown action of 1 MiB (with line breaks that forge log lines) was quoted
    whole in the log line that refused it; a timestamp the same."""
    base_url, _, log_path = logged_server
    station = await register_charge_point(logged_api, location=False, calendar=None)
    forged = "\n2024-06-03 12:00:00 CRITICAL FORGED line\r\n"
    action = "Nonsense" + (forged + "x" * 1000) * 900  # 0.9 MiB, under the frame limit
    timestamp = "2024-06-03" + (forged + "y" * 1000) * 900
    size_before = log_path.stat().st_size
    async with connect_raw(
        base_url, station.path, station.password, subprotocols=[subprotocol]
    ) as connection:
        answer = await raw_call(connection, "action-1", action, {})
        assert answer[:3] == [4, "action-1", "NotSupported"], answer[:3]
        assert len(answer[3]) <= 255
        start = {
            "ocpp1.6": (
                "StartTransaction",
                {"connectorId": 1, "idTag": "T", "meterStart": 0, "timestamp": timestamp},
            ),
            "ocpp2.0.1": ("TransactionEvent", {**EVENT, "timestamp": timestamp}),
        }[subprotocol]
        answer = await raw_call(connection, "time-1", *start)
        assert answer[:3] == [4, "time-1", "PropertyConstraintViolation"], answer[:3]
        assert len(answer[3]) <= 255
        await assert_still_open(connection)
    logged = await log_grows_by(log_path, size_before, "refused: PropertyConstraintViolation")
    assert "NotSupported" in logged
    assert len(logged) < 4000, logged
    assert "\nFORGED" not in logged
    assert "\n2024-06-03 12:00:00 CRITICAL" not in logged


async def test_an_id_tag_never_reaches_the_log(
    logged_server: tuple[str, auth.ClientCredentials, Path], logged_api: TenantApi
) -> None:
    """A refused call's cause quotes the idTag: it goes to the charger and its event log,
    never to the server's log; nor does an accepted one's."""
    base_url, _, log_path = logged_server
    station = await register_charge_point(logged_api, location=False, calendar=None)
    long_tag = "SECRET-TAG-" + uuid.uuid4().hex  # longer than 1.6's 20 characters
    size_before = log_path.stat().st_size
    async with connect_raw(base_url, station.path, station.password) as connection:
        answer = await raw_call(connection, "auth-1", "Authorize", {"idTag": long_tag})
        assert answer[:3] == [4, "auth-1", "TypeConstraintViolation"], answer
        assert long_tag in json.dumps(answer[4])  # the charger learns what was wrong
        answer = await raw_call(
            connection,
            "start-1",
            "StartTransaction",
            {"connectorId": 1, "idTag": "SECRET-TAG-2", "meterStart": -1, "timestamp": "now"},
        )
        assert answer[:3] == [4, "start-1", "PropertyConstraintViolation"], answer
    logged = await log_grows_by(log_path, size_before, "refused: PropertyConstraintViolation")
    assert "SECRET-TAG" not in logged, logged
