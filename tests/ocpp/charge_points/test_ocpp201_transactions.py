"""OCPP 2.0.1 transactions over real sockets, end to end: TransactionEvent Started, Updated
and Ended with the station's own string transactionId and seqNo, sent by the `ocpp`
package's 2.0.1 client to the live server; sessions read back through the seed's endpoint.

The charge is the one of the 1.6 tests (charger.py): Monday 2024-06-03 19:30Z to 20:30Z
(21:30 to 22:30 in Brussels), 11 kW, from 1 234 567 Wh (Started, Transaction.Begin) to
1 245 567 Wh (Ended, Transaction.End), an Updated with the register every minute (seqNo 1 to
59; the one of minute 30 in kWh). BE-day-night switches to night at 22:00 local: t1 = t2 =
5.5 kWh, total 11.0 kWh, average 11.0 kW."""

import random
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v201 import call as call201

from chargeledger.storage.database import Database
from chargeledger.storage.tables import ocpp_transaction_events, ocpp_transactions
from tests.ocpp.charge_points.charger import (
    EVENING,
    KWH_MINUTE,
    METER_START_WH,
    MINUTES,
    ChargePointSetup,
    connect_client,
    energy201,
    expected_data,
    list_readings,
    list_sessions,
    meter_value_snake,
    meter_wh,
    minutes_after,
    power201,
    register_charge_point,
    settle,
    soc201,
    soc_at,
    stamp,
    tiers,
    wait_for_sessions,
)
from tests.support.api import TenantApi

START_TEXT = "2024-06-03T19:30:00Z"
END_TEXT = "2024-06-03T20:30:00Z"
METER_STOP_WH = meter_wh(MINUTES)
TOKEN = {"id_token": "RFID-0001", "type": "ISO14443"}


def new_transaction_id() -> str:
    return str(uuid.uuid4())  # 36 characters, the most 2.0.1 allows


def started(
    transaction_id: str, *, dc: bool = False, wh: int = METER_START_WH, offline: bool = False
) -> dict[str, Any]:
    sampled = [energy201(wh, context="Transaction.Begin")]
    if dc:
        sampled.append(soc201(soc_at(0)))
    return {
        "event_type": "Started",
        "timestamp": stamp(EVENING),
        "trigger_reason": "Authorized",
        "seq_no": 0,
        "transaction_info": {"transaction_id": transaction_id, "charging_state": "Charging"},
        "evse": {"id": 1, "connector_id": 1},
        "id_token": TOKEN,
        "meter_value": [meter_value_snake(EVENING, *sampled)],
        **({"offline": True} if offline else {}),
    }


def updated(
    transaction_id: str,
    minute: int,
    *,
    dc: bool = False,
    wh: int | None = None,
    power_kw: float = 11.0,
    offline: bool = False,
) -> dict[str, Any]:
    unit = "kWh" if minute == KWH_MINUTE else "Wh"
    sampled = [
        energy201(meter_wh(minute) if wh is None else wh, unit=unit, context="Sample.Periodic"),
        power201(power_kw),
    ]
    if dc:
        sampled.append(soc201(soc_at(minute)))
    instant = minutes_after(EVENING, minute)
    return {
        "event_type": "Updated",
        "timestamp": stamp(instant),
        "trigger_reason": "MeterValuePeriodic",
        "seq_no": minute,
        "transaction_info": {"transaction_id": transaction_id},
        "meter_value": [meter_value_snake(instant, *sampled)],
        **({"offline": True} if offline else {}),
    }


def ended(
    transaction_id: str, *, dc: bool = False, wh: int = METER_STOP_WH, offline: bool = False
) -> dict[str, Any]:
    sampled = [energy201(wh, context="Transaction.End")]
    if dc:
        sampled.append(soc201(soc_at(MINUTES)))
    instant = minutes_after(EVENING, MINUTES)
    return {
        "event_type": "Ended",
        "timestamp": stamp(instant),
        "trigger_reason": "EVCommunicationLost",
        "seq_no": MINUTES,
        "transaction_info": {
            "transaction_id": transaction_id,
            "charging_state": "Idle",
            "stopped_reason": "EVDisconnected",
        },
        "id_token": TOKEN,
        "meter_value": [meter_value_snake(instant, *sampled)],
        **({"offline": True} if offline else {}),
    }


def evening_events(
    transaction_id: str, *, dc: bool = False, offline: bool = False
) -> list[dict[str, Any]]:
    return [
        started(transaction_id, dc=dc, offline=offline),
        *(updated(transaction_id, minute, dc=dc, offline=offline) for minute in range(1, MINUTES)),
        ended(transaction_id, dc=dc, offline=offline),
    ]


async def send(client: Any, event: dict[str, Any]) -> None:
    answer = await client.call(call201.TransactionEvent(**event), suppress=False)
    expected_token_info = {"status": "Accepted"} if "id_token" in event else None
    assert answer.id_token_info == expected_token_info


async def boot(client: Any) -> None:
    answer = await client.call(
        call201.BootNotification(
            charging_station={"model": "Wallbox 11", "vendor_name": "Acme"}, reason="PowerUp"
        ),
        suppress=False,
    )
    assert answer.status == "Accepted"


def evening_data(setup: ChargePointSetup, *, dc: bool = False) -> dict[str, Any]:
    return expected_data(
        setup,
        start=START_TEXT,
        end=END_TEXT,
        total=tiers(5.5, 5.5, 0.0, 0.0, 11.0),
        average_kw=11.0,
        soc=(20.0, 80.0) if dc else None,
    )


async def transaction_rows(database: Database, entity_id: str) -> list[Any]:
    async with database.read() as connection:
        result = await connection.execute(
            sa.select(ocpp_transactions).where(
                ocpp_transactions.c.entity_id == uuid.UUID(entity_id)
            )
        )
        return list(result.all())


async def event_count(database: Database, transaction_row_id: Any) -> int:
    async with database.read() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).where(
                ocpp_transaction_events.c.transaction_id == transaction_row_id
            )
        )
    return int(count or 0)


# ---- a full transaction ------------------------------------------------------------------------


@pytest.mark.parametrize("dc", [False, True], ids=["ac", "dc-with-soc"])
async def test_a_transaction_across_the_day_night_boundary_becomes_one_session(
    api: TenantApi, live_server: str, database: Database, dc: bool
) -> None:
    setup = await register_charge_point(api)
    transaction_id = new_transaction_id()
    async with connect_client(live_server, setup, "2.0.1") as client:
        await boot(client)
        for event in evening_events(transaction_id, dc=dc):
            await send(client, event)

    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["entityId"] == setup.entity_id
    assert session["data"] == evening_data(setup, dc=dc)
    (row,) = await transaction_rows(database, setup.entity_id)
    assert (row.transaction_key, row.number, row.status, row.id_tag) == (
        transaction_id,
        None,
        "stopped",
        "RFID-0001",
    )
    assert str(row.session_id) == session["id"]
    assert await settle(api, setup.entity_id, 0.5) == [session]


async def test_the_sampled_values_become_readings_of_the_charge_point(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "2.0.1") as client:
        for event in evening_events(new_transaction_id(), dc=True):
            await send(client, event)

    readings = await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")
    expected = []
    for minute in range(MINUTES + 1):
        reading: dict[str, Any] = {
            "timestamp": stamp(minutes_after(EVENING, minute)),
            "stateOfCharge": {"unit": "%", "value": soc_at(minute)},
            "positiveActiveEnergy": {
                "t1": None,
                "t2": None,
                "t3": None,
                "t4": None,
                "total": meter_wh(minute) / 1000,
                "unit": "kWh",
            },
        }
        if 0 < minute < MINUTES:
            reading["positiveActiveInstantaneousPower"] = {"unit": "W", "value": 11000.0}
        expected.append(reading)
    for reading in readings:  # to the micro-kWh (see the 1.6 test of exact registers)
        energy = reading["positiveActiveEnergy"]
        energy["total"] = round(energy["total"], 6)
    assert readings == expected


async def test_meter_values_outside_a_transaction_are_readings_only(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "2.0.1") as client:
        answer = await client.call(
            call201.MeterValues(
                evse_id=1,
                meter_value=[
                    meter_value_snake(EVENING, energy201(METER_START_WH), power201(0.0)),
                    meter_value_snake(minutes_after(EVENING, 15), energy201(METER_START_WH)),
                ],
            ),
            suppress=False,
        )
        assert answer is not None
    readings = await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")
    assert [(r["timestamp"], r["positiveActiveEnergy"]["total"]) for r in readings] == [
        ("2024-06-03T19:30:00Z", 1234.567),
        ("2024-06-03T19:45:00Z", 1234.567),
    ]
    assert readings[0]["positiveActiveInstantaneousPower"] == {"unit": "W", "value": 0.0}
    assert await settle(api, setup.entity_id, 1.0) == []


# ---- at-least-once delivery ----------------------------------------------------------------------


async def test_every_event_delivered_twice_makes_one_session_with_the_same_energy(
    api: TenantApi, live_server: str, database: Database
) -> None:
    setup = await register_charge_point(api)
    transaction_id = new_transaction_id()
    async with connect_client(live_server, setup, "2.0.1") as client:
        for event in evening_events(transaction_id):
            await send(client, event)
            await send(client, event)
        (session,) = await wait_for_sessions(api, setup.entity_id)
        # A repeat is the same event (the same content). Events reusing a seqNo with other
        # content are events of their own (stations reuse seqNos), kept; but the first
        # Started and Ended stand, and the first value of an instant: none of these
        # changes the session.
        await send(client, updated(transaction_id, 30, wh=METER_START_WH + 9_000, power_kw=30.0))
        await send(client, ended(transaction_id, wh=METER_STOP_WH + 5_000))
        await send(client, started(transaction_id, wh=METER_START_WH - 5_000))
    assert session["data"] == evening_data(setup)
    assert await settle(api, setup.entity_id) == [session]
    (row,) = await transaction_rows(database, setup.entity_id)
    assert await event_count(database, row.id) == MINUTES + 1 + 3
    assert (row.meter_start_wh, row.meter_stop_wh) == (METER_START_WH, METER_STOP_WH)


async def test_two_stations_may_use_the_same_transaction_id(
    api: TenantApi, live_server: str
) -> None:
    """transactionIds are the station's own: the same one at two stations is two
    transactions, each its station's session."""
    first = await register_charge_point(api)
    second = await register_charge_point(api)
    transaction_id = "1"
    for setup in (first, second):
        async with connect_client(live_server, setup, "2.0.1") as client:
            for event in evening_events(transaction_id):
                await send(client, event)
    for setup in (first, second):
        (session,) = await wait_for_sessions(api, setup.entity_id)
        assert session["data"] == evening_data(setup)


# ---- offline backlog: late and out of order ----------------------------------------------------


def _reordered(events: list[dict[str, Any]], order: str) -> list[dict[str, Any]]:
    if order == "ended-first-then-backwards":
        return list(reversed(events))
    if order == "ended-updated-started":
        return [events[-1], *events[1:-1], events[0]]
    shuffled = list(events)
    random.Random(4).shuffle(shuffled)
    return shuffled


@pytest.mark.parametrize(
    "order", ["ended-first-then-backwards", "ended-updated-started", "shuffled"]
)
async def test_an_offline_backlog_out_of_order_still_makes_the_right_session(
    api: TenantApi, live_server: str, order: str
) -> None:
    """The station was offline for the whole charge and sends its queue (offline = true,
    the charge's own old timestamps) in another order than it happened: once every event
    has arrived, the session is the one of the in-order charge."""
    setup = await register_charge_point(api)
    events = _reordered(evening_events(new_transaction_id(), offline=True), order)
    async with connect_client(live_server, setup, "2.0.1") as client:
        await boot(client)
        for event in events:
            await send(client, event)
        listed = await wait_for_sessions(
            api,
            setup.entity_id,
            until=lambda sessions: sessions[0]["data"] == evening_data(setup),
        )
    assert [session["data"] for session in listed] == [evening_data(setup)]
    assert await settle(api, setup.entity_id, 1.0) == listed


async def test_updates_arriving_after_the_end_change_the_profile_not_the_total(
    api: TenantApi, live_server: str
) -> None:
    """Started and Ended arrive first; the Updated events (offline) later. The charge:
    4 kW for the day half hour (2 kWh), 16 kW for the night half hour (8 kWh). With only the
    start and end registers the 10 kWh spread evenly: t1 = t2 = 5; with the updates
    t1 = 2, t2 = 8, the same session, the same total."""
    setup = await register_charge_point(api)
    transaction_id = new_transaction_id()

    def register(minute: int) -> int:
        if minute <= 30:
            return METER_START_WH + round(4000 * minute / 60)
        return METER_START_WH + 2000 + round(16000 * (minute - 30) / 60)

    async with connect_client(live_server, setup, "2.0.1") as client:
        await send(client, started(transaction_id))
        await send(client, ended(transaction_id, wh=register(MINUTES)))
        (before,) = await wait_for_sessions(api, setup.entity_id)
        for minute in range(1, MINUTES):
            power = 4.0 if minute < 30 else 16.0
            await send(
                client,
                updated(transaction_id, minute, wh=register(minute), power_kw=power, offline=True),
            )
        (after,) = await wait_for_sessions(
            api,
            setup.entity_id,
            until=lambda listed: listed[0]["data"]["charge"]["total"]["t1"] != 5.0,
        )

    def data(t1: float, t2: float) -> dict[str, Any]:
        return expected_data(
            setup,
            start=START_TEXT,
            end=END_TEXT,
            total=tiers(t1, t2, 0.0, 0.0, 10.0),
            average_kw=10.0,
            soc=None,
        )

    assert before["data"] == data(5.0, 5.0)
    assert after["id"] == before["id"]
    assert after["data"] == data(2.0, 8.0)


# ---- CaptureChargeSessions off ---------------------------------------------------------------


async def test_with_capture_disabled_the_transaction_is_recorded_but_no_session(
    api: TenantApi, live_server: str, database: Database
) -> None:
    setup = await register_charge_point(api)
    switched = await api.http.patch(
        f"/v1/entities/{setup.entity_id}/features",
        json={"feature": "CaptureChargeSessions", "enabled": False},
    )
    assert switched.status_code == 200, switched.text
    transaction_id = new_transaction_id()
    async with connect_client(live_server, setup, "2.0.1") as client:
        for event in evening_events(transaction_id):
            await send(client, event)

    assert await settle(api, setup.entity_id) == []
    (row,) = await transaction_rows(database, setup.entity_id)
    assert (row.transaction_key, row.status, row.start_ms, row.stop_ms) == (
        transaction_id,
        "stopped",
        1717443000000,  # 2024-06-03T19:30:00Z
        1717446600000,  # 2024-06-03T20:30:00Z
    )
    assert (row.meter_start_wh, row.meter_stop_wh, row.session_id) == (
        METER_START_WH,
        METER_STOP_WH,
        None,
    )
    assert await event_count(database, row.id) == MINUTES + 1
    assert len(await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")) == MINUTES + 1
    assert await list_sessions(api, setup.entity_id) == []
