"""A transaction left open by a charger that never comes back is closed by the server after
a configured silence, at the last meter value, and marked so (data.method "ocppTimeout").

These tests run their own `chargeledger serve` on a database of their own, with the silence
limit at 0.0005 h (1.8 s) and the sweep every 0.5 s, so the shared live server's open
transactions are none of their business (nor theirs of it)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from tests.ocpp.charge_points.charger import (
    EVENING,
    METER_START_WH,
    ChargePointSetup,
    connect_client,
    energy16,
    energy201,
    expected_data,
    list_sessions,
    meter_value_snake,
    meter_wh,
    minutes_after,
    power16,
    power201,
    register_charge_point,
    stamp,
    tiers,
    wait_for_sessions,
)
from tests.support.api import TenantApi
from tests.support.databases import fresh_database
from tests.support.servers import ServerProcess

TIMEOUT_ENV = {
    "CHARGELEDGER_OCPP_TRANSACTION_TIMEOUT_HOURS": "0.0005",  # 1.8 s
    "CHARGELEDGER_STALE_SESSION_SWEEP_SECONDS": "0.5",
}
LAST_MINUTE = 10  # meter values at 19:31Z .. 19:40Z, then silence
# 11 kW for 10 minutes: round(11000 * 10 / 60) = 1833 Wh, all before 22:00 local (t1).
LAST_WH = meter_wh(LAST_MINUTE)


@dataclass
class TimeoutServer:
    base_url: str
    credentials: auth.ClientCredentials


@pytest.fixture(scope="module")
async def timeout_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[TimeoutServer]:
    directory: Path = tmp_path_factory.mktemp("ocpp-timeout")
    async with fresh_database(directory, name_hint="ocpp_timeout") as url:
        await upgrade_to_head_async(url)
        database = Database(url)
        try:
            async with database.write() as connection:
                credentials = await auth.create_tenant(
                    connection, name="timeout tenant", now_ms=system_clock_ms()
                )
        finally:
            await database.dispose()
        server = ServerProcess(url, env=TIMEOUT_ENV, log_path=directory / "server.log")
        await asyncio.to_thread(server.start)
        try:
            yield TimeoutServer(server.base_url, credentials)
        finally:
            await asyncio.to_thread(server.stop)


@pytest.fixture
async def timeout_api(timeout_server: TimeoutServer) -> AsyncIterator[tuple[TenantApi, str]]:
    """The timeout server's tenant (an authenticated client) and the server's base URL."""
    credentials = timeout_server.credentials
    async with httpx.AsyncClient(base_url=timeout_server.base_url, timeout=30) as http:
        api = await TenantApi.logged_in(http, credentials)
        yield api, timeout_server.base_url


async def _silent_16(client: Any) -> int:
    started = await client.call(
        call16.StartTransaction(
            connector_id=1, id_tag="RFID-0001", meter_start=METER_START_WH, timestamp=stamp(EVENING)
        ),
        suppress=False,
    )
    transaction_id: int = started.transaction_id
    for minute in range(1, LAST_MINUTE + 1):
        await client.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=transaction_id,
                meter_value=[
                    meter_value_snake(
                        minutes_after(EVENING, minute), energy16(meter_wh(minute)), power16(11.0)
                    )
                ],
            ),
            suppress=False,
        )
    return transaction_id


async def _silent_201(client: Any, transaction_id: str) -> None:
    await client.call(
        call201.TransactionEvent(
            event_type="Started",
            timestamp=stamp(EVENING),
            trigger_reason="Authorized",
            seq_no=0,
            transaction_info={"transaction_id": transaction_id},
            meter_value=[meter_value_snake(EVENING, energy201(METER_START_WH))],
        ),
        suppress=False,
    )
    for minute in range(1, LAST_MINUTE + 1):
        instant = minutes_after(EVENING, minute)
        await client.call(
            call201.TransactionEvent(
                event_type="Updated",
                timestamp=stamp(instant),
                trigger_reason="MeterValuePeriodic",
                seq_no=minute,
                transaction_info={"transaction_id": transaction_id},
                meter_value=[
                    meter_value_snake(instant, energy201(meter_wh(minute)), power201(11.0))
                ],
            ),
            suppress=False,
        )


def _timed_out_data(setup: ChargePointSetup, version: str) -> dict[str, Any]:
    kwh = (LAST_WH - METER_START_WH) / 1000  # 1.833
    return expected_data(
        setup,
        start="2024-06-03T19:30:00Z",
        end="2024-06-03T19:40:00Z",
        total=tiers(kwh, 0.0, 0.0, 0.0, kwh),
        average_kw=round(kwh * 6, 3),  # 1.833 kWh in 1/6 h = 10.998 kW
        soc=None,
        method="ocppTimeout",
        id_tag="RFID-0001" if version == "1.6" else None,  # the 2.0.1 charger names no token
    )


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_transaction_left_open_is_closed_at_the_last_meter_value(
    timeout_api: tuple[TenantApi, str], version: str
) -> None:
    """The charger starts, sends meter values for 10 minutes and disconnects without
    stopping. Within a few seconds of silence the session appears: method ocppTimeout, from
    the start to the last meter value's time, with the last meter value's energy."""
    api, base_url = timeout_api
    setup = await register_charge_point(api)
    async with connect_client(base_url, setup, version) as client:
        if version == "1.6":
            await _silent_16(client)
        else:
            await _silent_201(client, str(uuid.uuid4()))
    (session,) = await wait_for_sessions(api, setup.entity_id, timeout_s=10)
    assert session["data"] == _timed_out_data(setup, version)


@pytest.mark.parametrize("version", ["1.6", "2.0.1"])
async def test_a_charger_coming_back_after_the_timeout_still_ends_its_transaction(
    timeout_api: tuple[TenantApi, str], version: str
) -> None:
    """After the timeout closed the transaction, the charger reconnects and sends its real
    stop (20:30Z, 11 kWh): the same session now ends there, as a normal OCPP session."""
    api, base_url = timeout_api
    setup = await register_charge_point(api)
    transaction_key = str(uuid.uuid4())
    async with connect_client(base_url, setup, version) as client:
        if version == "1.6":
            number = await _silent_16(client)
        else:
            await _silent_201(client, transaction_key)
    (timed_out,) = await wait_for_sessions(api, setup.entity_id, timeout_s=10)
    assert timed_out["data"]["method"] == "ocppTimeout"

    end = minutes_after(EVENING, 60)
    async with connect_client(base_url, setup, version) as client:
        if version == "1.6":
            await client.call(
                call16.StopTransaction(
                    meter_stop=meter_wh(60), timestamp=stamp(end), transaction_id=number
                ),
                suppress=False,
            )
        else:
            await client.call(
                call201.TransactionEvent(
                    event_type="Ended",
                    timestamp=stamp(end),
                    trigger_reason="EVCommunicationLost",
                    seq_no=LAST_MINUTE + 1,
                    transaction_info={"transaction_id": transaction_key},
                    meter_value=[meter_value_snake(end, energy201(meter_wh(60)))],
                ),
                suppress=False,
            )
    (stopped,) = await wait_for_sessions(
        api,
        setup.entity_id,
        until=lambda listed: listed[0]["data"]["method"] == "ocpp",
    )
    # 1.833 kWh metered by 19:40Z (t1); the remaining 9.167 kWh spread evenly over
    # 19:40Z..20:30Z, 20 of those 50 minutes before 22:00 local: 3.667 kWh more t1, 5.5 t2.
    assert stopped["id"] == timed_out["id"]
    assert stopped["data"] == expected_data(
        setup,
        start="2024-06-03T19:30:00Z",
        end="2024-06-03T20:30:00Z",
        total=tiers(5.5, 5.5, 0.0, 0.0, 11.0),
        average_kw=11.0,
        soc=None,
        id_tag="RFID-0001" if version == "1.6" else None,
    )
    assert await list_sessions(api, setup.entity_id) == [stopped]
