"""OCPP 1.6J transactions over real sockets, end to end: the `ocpp` package's charge point
client talks to the live server's /ocpp/<tenant id>/<identity>, and the sessions are read
back through GET /v1/entities/{id}/charge-sessions.

The charge (see charger.py): Monday 2024-06-03 from 21:30 to 22:30 Brussels time (19:30Z to
20:30Z), 11 kW, a MeterValues every minute with the register in Wh (the one of minute 30,
20:00Z, in kWh), from 1 234 567 Wh to 1 245 567 Wh. BE-day-night: 22:00 local is
the day/night boundary, so at constant power t1 = t2 = 11 kWh / 2 = 5.5 kWh; total
(meterStop - meterStart) / 1000 = 11.0 kWh; average power 11 kWh / 1 h = 11.0 kW."""

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from ocpp.v16 import call as call16

from chargeledger.storage.database import Database
from chargeledger.storage.tables import ocpp_transactions
from tests.ocpp.charge_points.charger import (
    EVENING,
    KWH_MINUTE,
    METER_START_WH,
    MINUTES,
    ChargePointSetup,
    connect_client,
    connect_raw,
    energy16,
    expected_data,
    list_readings,
    list_sessions,
    meter_value_snake,
    meter_wh,
    minutes_after,
    power16,
    raw_call,
    register_charge_point,
    settle,
    soc16,
    soc_at,
    stamp,
    tiers,
    wait_for_sessions,
)
from tests.support.api import TenantApi

START_TEXT = "2024-06-03T19:30:00Z"
END_TEXT = "2024-06-03T20:30:00Z"
METER_STOP_WH = meter_wh(MINUTES)  # 1 245 567


def sampled_at(minute: int, *, dc: bool) -> list[dict[str, Any]]:
    unit = "kWh" if minute == KWH_MINUTE else "Wh"
    values = [energy16(meter_wh(minute), unit=unit), power16(11.0)]
    if dc:
        values.append(soc16(soc_at(minute)))
    return values


def transaction_data(*, dc: bool) -> list[dict[str, Any]]:
    begin = [energy16(METER_START_WH, context="Transaction.Begin")]
    end = [energy16(METER_STOP_WH, context="Transaction.End")]
    if dc:
        begin.append(soc16(soc_at(0)))
        end.append(soc16(soc_at(MINUTES)))
    return [
        meter_value_snake(EVENING, *begin),
        meter_value_snake(minutes_after(EVENING, MINUTES), *end),
    ]


async def start(client: Any, *, connector_id: int = 1, id_tag: str = "RFID-0001") -> int:
    started = await client.call(
        call16.StartTransaction(
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start=METER_START_WH,
            timestamp=stamp(EVENING),
        ),
        suppress=False,
    )
    assert started.id_tag_info == {"status": "Accepted"}
    transaction_id: int = started.transaction_id
    return transaction_id


async def send_meter_values(
    client: Any, transaction_id: int, minute: int, sampled: list[dict[str, Any]]
) -> None:
    answer = await client.call(
        call16.MeterValues(
            connector_id=1,
            transaction_id=transaction_id,
            meter_value=[meter_value_snake(minutes_after(EVENING, minute), *sampled)],
        ),
        suppress=False,
    )
    assert answer is not None


async def stop(
    client: Any,
    transaction_id: int,
    *,
    meter_stop: int = METER_STOP_WH,
    data: list[dict[str, Any]] | None = None,
) -> None:
    answer = await client.call(
        call16.StopTransaction(
            meter_stop=meter_stop,
            timestamp=stamp(minutes_after(EVENING, MINUTES)),
            transaction_id=transaction_id,
            reason="EVDisconnected",
            id_tag="RFID-0001",
            transaction_data=data,
        ),
        suppress=False,
    )
    assert answer.id_tag_info == {"status": "Accepted"}


async def run_evening_charge(client: Any, *, dc: bool, repeat: int = 1) -> int:
    """Boot, start, a MeterValues every minute, stop; each message `repeat` times."""
    await client.call(
        call16.BootNotification(charge_point_vendor="Acme", charge_point_model="Wallbox 11"),
        suppress=False,
    )
    transaction_id = await start(client)
    for _ in range(repeat - 1):
        assert await start(client) == transaction_id
    for minute in range(1, MINUTES):
        for _ in range(repeat):
            await send_meter_values(client, transaction_id, minute, sampled_at(minute, dc=dc))
    for _ in range(repeat):
        await stop(client, transaction_id, data=transaction_data(dc=dc))
    return transaction_id


def evening_data(setup: ChargePointSetup, *, dc: bool) -> dict[str, Any]:
    return expected_data(
        setup,
        start=START_TEXT,
        end=END_TEXT,
        total=tiers(5.5, 5.5, 0.0, 0.0, 11.0),
        average_kw=11.0,
        soc=(20.0, 80.0) if dc else None,
    )


def register_kwh(wh: int) -> dict[str, Any]:
    return {"t1": None, "t2": None, "t3": None, "t4": None, "total": wh / 1000, "unit": "kWh"}


def rounded(reading: dict[str, Any]) -> dict[str, Any]:
    """The reading with its register total rounded to the micro-kWh."""
    energy = reading.get("positiveActiveEnergy")
    if energy is None or energy.get("total") is None:
        return reading
    return {**reading, "positiveActiveEnergy": {**energy, "total": round(energy["total"], 6)}}


async def transactions_of(database: Database, entity_id: str) -> list[Any]:
    async with database.read() as connection:
        result = await connection.execute(
            sa.select(ocpp_transactions)
            .where(ocpp_transactions.c.entity_id == uuid.UUID(entity_id))
            .order_by(ocpp_transactions.c.created_ms, ocpp_transactions.c.transaction_key)
        )
        return list(result.all())


# ---- a full transaction ------------------------------------------------------------------------


@pytest.mark.parametrize("dc", [False, True], ids=["ac", "dc-with-soc"])
async def test_a_transaction_across_the_day_night_boundary_becomes_one_session(
    api: TenantApi, live_server: str, dc: bool
) -> None:
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        transaction_id = await run_evening_charge(client, dc=dc)
    assert transaction_id == 1  # the charge point's first transaction, numbered by us

    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["entityId"] == setup.entity_id
    assert session["data"] == evening_data(setup, dc=dc)
    assert await settle(api, setup.entity_id, 0.5) == [session]


async def test_the_sampled_values_become_readings_of_the_charge_point(
    api: TenantApi, live_server: str
) -> None:
    """Every meter value (MeterValues and the StopTransaction's transactionData) is a reading
    of the ChargePoint entity: the register in kWh, the power in W and the car's SoC. (The
    register is compared here to the micro-kWh; the next test asks for it exactly.)"""
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        await run_evening_charge(client, dc=True)

    readings = await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")

    expected = []
    for minute in range(MINUTES + 1):
        reading: dict[str, Any] = {
            "timestamp": stamp(minutes_after(EVENING, minute)),
            "stateOfCharge": {"unit": "%", "value": soc_at(minute)},
            "positiveActiveEnergy": register_kwh(meter_wh(minute)),
        }
        if 0 < minute < MINUTES:
            reading["positiveActiveInstantaneousPower"] = {"unit": "W", "value": 11000.0}
        expected.append(reading)
    assert [rounded(reading) for reading in readings] == expected
    assert round(readings[KWH_MINUTE]["positiveActiveEnergy"]["total"], 6) == 1240.067


async def test_reading_registers_are_the_reported_wh_in_kwh_exactly(
    api: TenantApi, live_server: str
) -> None:
    """A register reported as 1235850 Wh is the reading 1235.85 kWh (wh / 1000, the double
    nearest to the value the charger sent), not a float-noise neighbour of it."""
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        await run_evening_charge(client, dc=False)

    readings = await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")
    totals = [reading["positiveActiveEnergy"]["total"] for reading in readings]
    expected = [meter_wh(minute) / 1000 for minute in range(MINUTES + 1)]
    noisy = [
        (stamp(minutes_after(EVENING, minute)), meter_wh(minute), got)
        for minute, (got, want) in enumerate(zip(totals, expected, strict=True))
        if got != want
    ]
    assert noisy == [], f"(instant, Wh sent, kWh listed) differing from Wh / 1000: {noisy}"


async def test_a_charge_point_without_location_makes_a_session_without_location(
    api: TenantApi, live_server: str
) -> None:
    setup = await register_charge_point(api, location=False)
    async with connect_client(live_server, setup, "1.6") as client:
        await run_evening_charge(client, dc=False)
    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == evening_data(setup, dc=False)
    assert session["data"]["location"] == {"address": None, "latitude": None, "longitude": None}
    assert session["data"]["locationMatches"] == []


@pytest.mark.parametrize(("charged_wh", "listed"), [(49, False), (50, True)])
async def test_transactions_under_50_wh_are_not_listed(
    api: TenantApi, live_server: str, charged_wh: int, listed: bool
) -> None:
    """Plugged in but (almost) never charged: 49 Wh is no charge session, 50 Wh is one."""
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        transaction_id = await start(client)
        await stop(client, transaction_id, meter_stop=METER_START_WH + charged_wh)
    if not listed:
        assert await settle(api, setup.entity_id) == []
        return
    (session,) = await wait_for_sessions(api, setup.entity_id)
    assert session["data"] == expected_data(
        setup,
        start=START_TEXT,
        end=END_TEXT,
        total=tiers(0.025, 0.025, 0.0, 0.0, 0.05),
        average_kw=0.05,
        soc=None,
    )


# ---- at-least-once delivery ----------------------------------------------------------------------


async def test_a_repeated_start_transaction_gets_the_same_transaction_id(
    api: TenantApi, live_server: str, database: Database
) -> None:
    """The same StartTransaction (connector, idTag, timestamp, meterStart) again is the same
    transaction; one differing in any of them is a new one, numbered next."""
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        first = await start(client)
        assert [await start(client) for _ in range(3)] == [first] * 3
        other_connector = await start(client, connector_id=2)
        other_tag = await start(client, id_tag="RFID-0002")
    assert (first, other_connector, other_tag) == (1, 2, 3)
    rows = await transactions_of(database, setup.entity_id)
    assert sorted((row.number, row.connector_id, row.id_tag) for row in rows) == [
        (1, 1, "RFID-0001"),
        (2, 2, "RFID-0001"),
        (3, 1, "RFID-0002"),
    ]
    assert {row.status for row in rows} == {"open"}


async def test_every_message_delivered_twice_makes_one_session_with_the_same_energy(
    api: TenantApi, live_server: str
) -> None:
    """StartTransaction, every MeterValues and the StopTransaction each arrive twice (the
    charger did not see our answer and sent again): one session, energy not doubled."""
    setup = await register_charge_point(api)
    async with connect_client(live_server, setup, "1.6") as client:
        transaction_id = await run_evening_charge(client, dc=False, repeat=2)
        (session,) = await wait_for_sessions(api, setup.entity_id)
        # The start once more, after the stop: still the same transaction, no new session.
        assert await start(client) == transaction_id
        await send_meter_values(client, transaction_id, 10, sampled_at(10, dc=False))
    assert session["data"] == evening_data(setup, dc=False)
    assert await settle(api, setup.entity_id) == [session]


# ---- late meter values -------------------------------------------------------------------------


async def test_meter_values_arriving_after_the_stop_change_the_profile_not_the_total(
    api: TenantApi, live_server: str
) -> None:
    """A charger that was offline sends its queued MeterValues after the StopTransaction.
    The charge: 4 kW for the first (day) half hour, 2 kWh; 16 kW for the second (night) half
    hour, 8 kWh; 10 kWh in all. Before the meter values the session only knows the start and
    stop registers, spread evenly over the hour: t1 = t2 = 5 kWh. With them: t1 = 2, t2 = 8,
    total still 10 kWh, the same session."""
    setup = await register_charge_point(api)

    def register(minute: int) -> int:
        if minute <= 30:
            return METER_START_WH + round(4000 * minute / 60)
        return METER_START_WH + 2000 + round(16000 * (minute - 30) / 60)

    async with connect_client(live_server, setup, "1.6") as client:
        transaction_id = await start(client)
        await stop(client, transaction_id, meter_stop=register(MINUTES))
        (before,) = await wait_for_sessions(api, setup.entity_id)
        for minute in range(1, MINUTES):
            power = 4.0 if minute < 30 else 16.0
            await send_meter_values(
                client, transaction_id, minute, [energy16(register(minute)), power16(power)]
            )
        (after,) = await wait_for_sessions(
            api,
            setup.entity_id,
            until=lambda listed: listed[0]["data"]["charge"]["total"]["t1"] != 5.0,
        )

    assert before["data"] == expected_data(
        setup,
        start=START_TEXT,
        end=END_TEXT,
        total=tiers(5.0, 5.0, 0.0, 0.0, 10.0),
        average_kw=10.0,
        soc=None,
    )
    assert after["id"] == before["id"]
    assert after["data"] == expected_data(
        setup,
        start=START_TEXT,
        end=END_TEXT,
        total=tiers(2.0, 8.0, 0.0, 0.0, 10.0),
        average_kw=10.0,
        soc=None,
    )


# ---- StopTransaction for a transaction we never saw start ----------------------------------------


async def test_a_stop_for_an_unknown_transaction_is_answered_and_recorded(
    api: TenantApi, live_server: str, database: Database
) -> None:
    setup = await register_charge_point(api)
    async with connect_raw(live_server, setup.path, setup.password) as connection:
        answer = await raw_call(
            connection,
            "stop-unknown-1",
            "StopTransaction",
            {
                "transactionId": 987654,
                "meterStop": METER_STOP_WH,
                "timestamp": END_TEXT,
                "reason": "PowerLoss",
                "idTag": "RFID-0001",
                "transactionData": [
                    {
                        "timestamp": START_TEXT,
                        "sampledValue": [{"value": str(METER_START_WH), "unit": "Wh"}],
                    }
                ],
            },
        )
        assert answer == [3, "stop-unknown-1", {"idTagInfo": {"status": "Accepted"}}]
        without_tag = await raw_call(
            connection,
            "stop-unknown-2",
            "StopTransaction",
            {"transactionId": 987655, "meterStop": METER_STOP_WH, "timestamp": END_TEXT},
        )
        assert without_tag == [3, "stop-unknown-2", {}]
        heartbeat = await raw_call(connection, "hb", "Heartbeat", {})
        assert heartbeat[:2] == [3, "hb"]

    rows = await transactions_of(database, setup.entity_id)
    # Recorded apart from the numbers we hand out ourselves, which may one day be these.
    assert [(row.transaction_key, row.number, row.status) for row in rows] == [
        ("unknown:987654", None, "unknown-start"),
        ("unknown:987655", None, "unknown-start"),
    ]
    assert (rows[0].stop_ms, rows[0].meter_stop_wh, rows[0].stop_reason) == (
        1717446600000,  # 2024-06-03T20:30:00Z
        float(METER_STOP_WH),
        "PowerLoss",
    )
    assert rows[0].start_ms is None
    assert await settle(api, setup.entity_id) == []


@pytest.mark.parametrize("unknown_id", [1, 2])
async def test_transactions_still_start_after_a_stop_for_an_unknown_transaction(
    api: TenantApi, live_server: str, database: Database, unknown_id: int
) -> None:
    """A charger that was connected to another central system before stops a transaction
    of that time (transactionId 1 or 2, numbers we hand out ourselves too). Its next
    transactions must still start (a CALLRESULT with a transactionId of their own) and
    become sessions."""
    setup = await register_charge_point(api)
    async with connect_raw(live_server, setup.path, setup.password) as connection:
        answer = await raw_call(
            connection,
            "old-stop",
            "StopTransaction",
            {
                "transactionId": unknown_id,
                "meterStop": 500_000,
                "timestamp": "2024-06-01T08:00:00Z",
            },
        )
        assert answer == [3, "old-stop", {}]
        numbers = []
        for index, day in enumerate((3, 4, 5)):
            started = await raw_call(
                connection,
                f"start-{index}",
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": "RFID-0001",
                    "meterStart": METER_START_WH + index * 20_000,
                    "timestamp": f"2024-06-0{day}T19:30:00Z",
                },
            )
            assert started[:2] == [3, f"start-{index}"], (
                f"StartTransaction {index + 1} after a StopTransaction for unknown "
                f"transactionId {unknown_id} was answered {started}"
            )
            number = started[2]["transactionId"]
            numbers.append(number)
            stopped = await raw_call(
                connection,
                f"stop-{index}",
                "StopTransaction",
                {
                    "transactionId": number,
                    "meterStop": METER_START_WH + index * 20_000 + 11_000,
                    "timestamp": f"2024-06-0{day}T20:30:00Z",
                },
            )
            assert stopped == [3, f"stop-{index}", {}]
    assert len(set(numbers)) == 3
    sessions = await wait_for_sessions(api, setup.entity_id, 3)
    assert sorted(
        (s["data"]["start"], s["data"]["charge"]["total"]["total"]) for s in sessions
    ) == [
        ("2024-06-03T19:30:00Z", 11.0),
        ("2024-06-04T19:30:00Z", 11.0),
        ("2024-06-05T19:30:00Z", 11.0),
    ]
    rows = await transactions_of(database, setup.entity_id)
    assert [row.status for row in rows if row.number is None] == ["unknown-start"]


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
    async with connect_client(live_server, setup, "1.6") as client:
        transaction_id = await run_evening_charge(client, dc=False)

    assert await settle(api, setup.entity_id) == []
    (row,) = await transactions_of(database, setup.entity_id)
    assert (row.number, row.status, row.start_ms, row.stop_ms) == (
        transaction_id,
        "stopped",
        1717443000000,  # 2024-06-03T19:30:00Z
        1717446600000,  # 2024-06-03T20:30:00Z
    )
    assert (row.meter_start_wh, row.meter_stop_wh) == (METER_START_WH, METER_STOP_WH)
    assert row.session_id is None
    assert len(await list_readings(api, setup.entity_id, "2024-06-03T19:00:00Z")) == MINUTES + 1
    assert await list_sessions(api, setup.entity_id) == []
