"""The server's own log (issue 10, finding 9): every line, from every logger, is one JSON
object; each request has one access line with its request id; what clients and chargers
send cannot forge a line (an identity with `%0A`), cannot flood the log (an invalid 1 MiB
frame), and secrets never reach it."""

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import websockets

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.storage.database import Database
from tests.ocpp.charge_points.charger import (
    ChargePointSetup,
    connect_raw,
    register_charge_point,
    send_text,
)
from tests.support.api import TenantApi
from tests.support.servers import running_server

ESSENTIALS = ("timestamp", "level", "logger", "event")
FORGED_EVENT = "forged-admin-login"
# Short: the OCPP route quotes at most about a hundred characters of a path.
FORGED_LINE = json.dumps({"level": "info", "event": FORGED_EVENT})


@pytest.fixture(scope="module")
def server_log(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A server of this module's own, whose log the tests read (stdout and stderr)."""
    log_path = tmp_path_factory.mktemp("logged-server") / "server.log"
    with running_server(database_url, log_path=log_path) as base_url:
        log_path.with_suffix(".url").write_text(base_url)
        yield log_path


@pytest.fixture
def base_url(server_log: Path) -> str:
    return server_log.with_suffix(".url").read_text()


@pytest.fixture
async def tenant(database: Database, base_url: str) -> AsyncIterator[TenantApi]:
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="logs", now_ms=system_clock_ms())
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield await TenantApi.logged_in(http, credentials)


def log_lines(log_path: Path) -> list[dict[str, Any]]:
    """Every line of the log, each of which must be one JSON object with the essentials."""
    lines = []
    for number, text in enumerate(log_path.read_text().splitlines(), start=1):
        try:
            line = json.loads(text)
        except ValueError:
            pytest.fail(f"line {number} of the log is not JSON: {text[:300]!r}")
        assert isinstance(line, dict), text[:300]
        for key in ESSENTIALS:
            assert key in line, f"line {number} has no {key}: {text[:300]}"
        lines.append(line)
    return lines


def log_text(log_path: Path) -> str:
    return log_path.read_text()


def log_size(log_path: Path) -> int:
    return log_path.stat().st_size


def wait_for_line(
    log_path: Path, matches: Callable[[dict[str, Any]], bool], timeout_s: float = 30
) -> dict[str, Any]:
    """The first line that matches, once written (access lines follow their answer)."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = [line for line in log_lines(log_path) if matches(line)]
        if found:
            return found[0]
        assert time.monotonic() < deadline, "no such line in the log"
        time.sleep(0.05)


async def test_every_request_has_one_access_line_with_its_id_and_no_query_or_token(
    server_log: Path, tenant: TenantApi
) -> None:
    request_id = f"trace-{uuid.uuid4().hex}"
    token = tenant.http.headers["Authorization"].removeprefix("Bearer ")
    response = await tenant.http.get(
        "/api/v1/entities", params={"pageSize": "7"}, headers={"X-Request-Id": request_id}
    )
    assert response.status_code == 200
    line = wait_for_line(server_log, lambda line: line.get("request_id") == request_id)
    assert line["logger"] == "chargeledger.access"
    assert (line["method"], line["path"], line["status"]) == ("GET", "/api/v1/entities", 200)
    assert isinstance(line["duration_ms"], float)
    access_lines = [
        line
        for line in log_lines(server_log)
        if line.get("request_id") == request_id and line["logger"] == "chargeledger.access"
    ]
    assert len(access_lines) == 1
    text = log_text(server_log)
    assert token not in text
    assert "pageSize" not in json.dumps(access_lines)


async def test_the_server_starts_and_logs_only_json_lines(server_log: Path) -> None:
    lines = log_lines(server_log)
    assert any(line["logger"].startswith("_granian") for line in lines), "Granian's own lines"
    assert all(line["timestamp"].endswith("Z") for line in lines)


@pytest.fixture
async def station(tenant: TenantApi) -> ChargePointSetup:
    return await register_charge_point(tenant, calendar=None)


async def test_a_charger_identity_with_a_line_break_cannot_forge_a_log_line(
    server_log: Path, base_url: str, tenant: TenantApi, station: ChargePointSetup
) -> None:
    identity = quote(f"CP\n{FORGED_LINE}\n", safe="")
    for path in (f"/ocpp/{tenant.tenant_id}/{identity}", f"/ocpp/{identity}"):
        with pytest.raises(websockets.InvalidStatus):
            async with connect_raw(base_url, path, station.password):
                pass
    wait_for_line(server_log, lambda line: FORGED_EVENT in json.dumps(line))
    assert all(line["event"] != FORGED_EVENT for line in log_lines(server_log))


async def test_an_invalid_megabyte_frame_does_not_flood_the_log(
    server_log: Path, base_url: str, station: ChargePointSetup
) -> None:
    async with connect_raw(base_url, station.path, station.password) as connection:
        size_before = log_size(server_log)
        answer = await send_text(connection, '[2, "big", "Heartbeat", {"x": "' + "A" * 1_000_000)
    assert answer[0] == 4  # a CALLERROR
    log_lines(server_log)  # still all JSON lines
    assert log_size(server_log) - size_before < 16 * 1024


async def test_secrets_never_reach_the_log(
    server_log: Path, base_url: str, tenant: TenantApi, station: ChargePointSetup
) -> None:
    wrong_password = f"wrong-password-{uuid.uuid4().hex}"
    with pytest.raises(websockets.InvalidStatus):
        async with connect_raw(base_url, station.path, wrong_password):
            pass
    wrong_secret = f"wrong-{uuid.uuid4().hex}"
    request_id = f"secrets-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
        refused = await anonymous.post(
            "/v1/authentication",
            json={"clientId": str(tenant.client_id), "clientSecret": wrong_secret},
            headers={"X-Request-Id": request_id},
        )
    assert refused.status_code == 401
    wait_for_line(server_log, lambda line: line.get("request_id") == request_id)
    text = log_text(server_log)
    for secret in (
        wrong_secret,
        wrong_password,
        tenant.client_secret,
        station.password,
        tenant.http.headers["Authorization"].removeprefix("Bearer "),
    ):
        assert secret not in text
