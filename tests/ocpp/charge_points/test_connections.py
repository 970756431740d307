"""One live connection per charger, and connections checked for life (issue 9, point 5),
with a second server process on the same database that checks every second."""

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests.ocpp.charge_points.charger import (
    connect_client,
    connect_raw,
    list_ocpp_events,
    raw_call,
    register_charge_point,
)
from tests.support.api import TenantApi
from tests.support.servers import ServerProcess

CHECKING_ENV = {
    "CHARGELEDGER_OCPP_PING_INTERVAL_SECONDS": "1",
    "CHARGELEDGER_OCPP_PING_TIMEOUT_SECONDS": "1",
}
# Long enough for a check, its timeout and the close, on a loaded machine.
CLOSED_WITHIN_S = 30


class CheckingServer:
    def __init__(self, base_url: str, log_path: Path) -> None:
        self.base_url = base_url
        self.log_path = log_path


@pytest.fixture(scope="module")
async def checking_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[CheckingServer]:
    """`chargeledger serve` on the tests' database, checking connections every second."""
    log_path = tmp_path_factory.mktemp("checking") / "server.log"
    server = ServerProcess(database_url, env=CHECKING_ENV, log_path=log_path)
    await asyncio.to_thread(server.start)
    try:
        yield CheckingServer(server.base_url, log_path)
    finally:
        await asyncio.to_thread(server.stop)


async def closed_within(connection: object, seconds: float) -> bool:
    """Whether the server closes the connection within `seconds` (frames it sends before,
    such as a check, are read and left unanswered)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            await asyncio.wait_for(connection.recv(), timeout=deadline - time.monotonic())  # type: ignore[attr-defined]
        except ConnectionClosed:
            return True
        except TimeoutError:
            return False
    return False


async def test_a_new_connection_of_a_charger_closes_the_older_one(
    api: TenantApi, live_server: str
) -> None:
    """The charger reconnects while its old socket still looks open: the old one is closed,
    the new one is served, and the charger's log says so."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_raw(live_server, setup.path, setup.password) as older:
        assert (await raw_call(older, "h1", "Heartbeat", {}))[0] == 3
        async with connect_raw(live_server, setup.path, setup.password) as newer:
            assert await closed_within(older, CLOSED_WITHIN_S)
            assert (await raw_call(newer, "h2", "Heartbeat", {}))[0] == 3
    kinds = [event["kind"] for event in await list_ocpp_events(api, setup.entity_id)]
    assert "ConnectionReplaced" in kinds


async def test_a_connection_replaced_on_another_server_process_is_closed(
    api: TenantApi, live_server: str, checking_server: CheckingServer
) -> None:
    """Two processes (or machines) share the database: the charger's older connection, on
    one of them, is closed at that process's next check once it reconnected to the other."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_raw(checking_server.base_url, setup.path, setup.password) as older:
        assert (await raw_call(older, "h1", "Heartbeat", {}))[0] == 3
        async with connect_raw(live_server, setup.path, setup.password) as newer:
            assert (await raw_call(newer, "h2", "Heartbeat", {}))[0] == 3
            assert await closed_within(older, CLOSED_WITHIN_S)
            assert (await raw_call(newer, "h3", "Heartbeat", {}))[0] == 3


async def test_a_connection_that_answers_no_check_is_closed(
    api: TenantApi, checking_server: CheckingServer
) -> None:
    """A half-open socket: the client reads but never answers. After a silent interval the
    server checks it with a 1.6 GetConfiguration of the heartbeat interval (a call every
    charger must answer, without side effects), gets no answer, and closes it."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_raw(checking_server.base_url, setup.path, setup.password) as silent:
        frame = json.loads(await asyncio.wait_for(silent.recv(), timeout=CLOSED_WITHIN_S))
        assert frame[0] == 2
        assert frame[2:] == ["GetConfiguration", {"key": ["HeartbeatInterval"]}]
        assert await closed_within(silent, CLOSED_WITHIN_S)
    kinds = [event["kind"] for event in await list_ocpp_events(api, setup.entity_id)]
    assert "ConnectionLost" in kinds


async def test_a_charger_that_answers_its_checks_stays_connected(
    api: TenantApi, checking_server: CheckingServer
) -> None:
    """The `ocpp` package's 2.0.1 client answers the checks (here with a CALLERROR: it has
    no GetVariables handler; any answer proves the connection alive) and stays connected
    over several intervals."""
    setup = await register_charge_point(api, location=False, calendar=None)
    async with connect_client(checking_server.base_url, setup, "2.0.1") as client:
        await asyncio.sleep(4)
        from ocpp.v201 import call as call201

        answer = await client.call(call201.Heartbeat(), suppress=False)
        assert answer.current_time
    kinds = [event["kind"] for event in await list_ocpp_events(api, setup.entity_id)]
    assert "ConnectionLost" not in kinds


async def test_a_refused_call_is_one_log_line_without_its_id_tag(
    api: TenantApi, checking_server: CheckingServer
) -> None:
    """The log says which charger, which action and why, in one line; the idTag of the
    refused call (and of every other) is in no line of the log."""
    setup = await register_charge_point(api, location=False, calendar=None)
    secret_tag = "TAG-NOLOG-0042"  # 1.6 idTags are at most 20 characters
    async with connect_raw(checking_server.base_url, setup.path, setup.password) as connection:
        answer = await raw_call(
            connection,
            "refused-1",
            "StartTransaction",
            {"connectorId": 1, "idTag": secret_tag, "meterStart": 1000, "timestamp": "noon"},
        )
        assert answer[:2] == [4, "refused-1"]
        answer = await raw_call(connection, "ok-1", "Authorize", {"idTag": secret_tag})
        assert answer == [3, "ok-1", {"idTagInfo": {"status": "Accepted"}}]
    await asyncio.sleep(0.5)  # the log is written by another process
    log = checking_server.log_path.read_text()
    lines = [line for line in log.splitlines() if setup.identity in line and "refused" in line]
    assert len(lines) == 1, lines
    assert "StartTransaction" in lines[0]
    assert secret_tag not in log
