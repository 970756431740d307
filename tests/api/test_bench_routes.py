"""The benchmark's comparison routes (api/routes/bench.py): absent from a normal server,
and when mounted they serve what the benchmark compares against: a body of the asked size
behind the same bearer check, the same pages by OFFSET as by continuation token, and an
OCPP WebSocket that answers every call."""

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.api import TenantApi, session_body
from tests.support.servers import running_server


@pytest.fixture(scope="module")
def bench_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path: Path = tmp_path_factory.mktemp("bench-server") / "server.log"
    with running_server(
        database_url, env={"CHARGELEDGER_BENCH_ROUTES": "1"}, log_path=log_path
    ) as base_url:
        yield base_url


@pytest.fixture
async def bench_http(bench_server: str, api: TenantApi) -> AsyncIterator[httpx.AsyncClient]:
    """The tenant's client, against the bench server (same database, same keys)."""
    async with httpx.AsyncClient(
        base_url=bench_server, headers=dict(api.http.headers), timeout=30
    ) as http:
        yield http


async def test_a_normal_server_has_no_bench_routes(api: TenantApi) -> None:
    response = await api.http.get("/bench/static", params={"size": 100})
    assert response.status_code == 404
    assert "/bench/static" not in (await api.http.get("/openapi.json")).text


async def test_static_body_has_the_asked_size_behind_the_bearer_check(
    bench_http: httpx.AsyncClient, bench_server: str
) -> None:
    response = await bench_http.get("/bench/static", params={"size": 6400})
    assert response.status_code == 200
    assert len(response.content) == 6400
    assert json.loads(response.content)["data"].startswith("xxx")
    async with httpx.AsyncClient(base_url=bench_server) as anonymous:
        refused = await anonymous.get("/bench/static", params={"size": 10})
    assert refused.status_code == 401


async def test_offset_pages_equal_the_keyset_pages(
    api: TenantApi, bench_http: httpx.AsyncClient
) -> None:
    entity = await api.create_entity("EV")
    for hour in range(7):
        body = session_body(
            external_id=f"bench-{hour}",
            start=f"2024-05-01T{hour:02d}:00:00Z",
            end=f"2024-05-01T{hour:02d}:30:00Z",
        )
        assert (await api.post_session(entity["id"], body)).status_code == 201
    frame: dict[str, Any] = {
        "start": "2024-05-01T00:00:00Z",
        "end": "2024-05-02T00:00:00Z",
        "pageSize": 3,
    }
    keyset_pages = []
    response = await api.list_sessions(entity["id"], **frame)
    while True:
        page = response.json()
        keyset_pages.append([record["id"] for record in page["data"]])
        if page["links"]["next"] is None:
            break
        response = await api.http.get(page["links"]["next"])
    offset_pages = []
    for number in range(1, len(keyset_pages) + 1):
        offset = await bench_http.get(
            f"/bench/offset/v1/entities/{entity['id']}/charge-sessions",
            params={**frame, "page": number},
        )
        assert offset.status_code == 200, offset.text
        offset_pages.append([record["id"] for record in offset.json()["data"]])
    assert [len(page) for page in keyset_pages] == [3, 3, 1]
    assert offset_pages == keyset_pages


async def test_ocpp_floor_answers_every_call(bench_server: str) -> None:
    url = bench_server.replace("http://", "ws://") + "/bench/ocpp-floor/FLOOR-1"
    async with websockets.connect(url, subprotocols=["ocpp1.6"]) as connection:  # type: ignore[list-item]
        assert connection.subprotocol == "ocpp1.6"
        calls = [
            ("1", "BootNotification", {"chargePointVendor": "v", "chargePointModel": "m"}),
            ("2", "StartTransaction", {"connectorId": 1, "idTag": "T", "meterStart": 0}),
            ("3", "MeterValues", {"connectorId": 1, "meterValue": []}),
        ]
        answers = []
        for unique_id, action, payload in calls:
            await connection.send(json.dumps([2, unique_id, action, payload]))
            answers.append(json.loads(await connection.recv()))
    assert [answer[:2] for answer in answers] == [[3, "1"], [3, "2"], [3, "3"]]
    assert answers[0][2]["status"] == "Accepted"
    assert answers[1][2]["transactionId"] == 1
    assert answers[2][2] == {}
