"""The benchmark's app (bench/app.py) wraps the product: the product has no bench route under
any setting, and the benchmark's app is the product's plus the routes it compares against: a
body of the asked size behind the same bearer check, the same pages by OFFSET as by
continuation token, and an OCPP WebSocket that answers every call. `python -m bench.serve`
serves it as `chargeledger serve` serves the product."""

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets
from bench.app import create_bench_app
from bench.common import start_server
from starlette.routing import NoMatchFound

from chargeledger.api.app import create_app
from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from tests.support.api import TenantApi, session_body
from tests.support.keys import suite_key_environment

# The benchmark's routes: name, path parameters, and the path they give.
BENCH_ROUTES = [
    ("static_body", {}, "/bench/static"),
    ("offset_page", {"entityId": "E"}, "/bench/offset/v1/entities/E/charge-sessions"),
    ("ocpp_floor", {"identity": "CP-1"}, "/bench/ocpp-floor/CP-1"),
]


def test_only_the_bench_app_has_the_bench_routes_and_the_api_document_is_the_products(
    database_url: str,
) -> None:
    settings = Settings(DATABASE_URL=database_url)
    product, bench = create_app(settings), create_bench_app(settings)
    for name, parameters, path in BENCH_ROUTES:
        with pytest.raises(NoMatchFound):
            product.url_path_for(name, **parameters)
        assert bench.url_path_for(name, **parameters) == path
    assert not [path for path in product.openapi()["paths"] if "bench" in path]
    assert bench.openapi()["paths"] == product.openapi()["paths"]


async def test_the_served_product_refuses_every_bench_path(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    static = await api.http.get("/bench/static", params={"size": 100})
    offset = await api.http.get(
        f"/bench/offset/v1/entities/{entity['id']}/charge-sessions",
        params={"start": "2024-05-01T00:00:00Z", "page": 1},
    )
    assert (static.status_code, offset.status_code) == (404, 404)
    url = live_server.replace("http://", "ws://") + "/bench/ocpp-floor/FLOOR-1"
    with pytest.raises(websockets.InvalidStatus):
        async with websockets.connect(url, subprotocols=["ocpp1.6"]):  # type: ignore[list-item]
            pass


@pytest.fixture
async def bench_api(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[TenantApi]:
    """A new tenant's client of the benchmark's app, in this process on the suite's database."""
    for name, value in suite_key_environment({}).items():
        monkeypatch.setenv(name, value)
    app = create_bench_app(Settings(DATABASE_URL=database_url))
    async with database.write() as connection:
        credentials = await auth.create_tenant(
            connection, name="bench tenant", now_ms=system_clock_ms()
        )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench.test", timeout=30
        ) as http,
    ):
        yield await TenantApi.logged_in(http, credentials)


async def test_static_body_has_the_asked_size_behind_the_bearer_check(
    bench_api: TenantApi,
) -> None:
    response = await bench_api.http.get("/bench/static", params={"size": 6400})
    assert response.status_code == 200
    assert len(response.content) == 6400
    assert json.loads(response.content)["data"].startswith("xxx")
    refused = await bench_api.http.get(
        "/bench/static", params={"size": 10}, headers={"Authorization": ""}
    )
    assert refused.status_code == 401


async def test_offset_pages_equal_the_keyset_pages(bench_api: TenantApi) -> None:
    entity = await bench_api.create_entity("EV")
    for hour in range(7):
        body = session_body(
            external_id=f"bench-{hour}",
            start=f"2024-05-01T{hour:02d}:00:00Z",
            end=f"2024-05-01T{hour:02d}:30:00Z",
        )
        assert (await bench_api.post_session(entity["id"], body)).status_code == 201
    frame: dict[str, Any] = {
        "start": "2024-05-01T00:00:00Z",
        "end": "2024-05-02T00:00:00Z",
        "pageSize": 3,
    }
    keyset_pages = []
    response = await bench_api.list_sessions(entity["id"], **frame)
    while True:
        page = response.json()
        keyset_pages.append([record["id"] for record in page["data"]])
        if page["links"]["next"] is None:
            break
        response = await bench_api.http.get(page["links"]["next"])
    offset_pages = []
    for number in range(1, len(keyset_pages) + 1):
        offset = await bench_api.http.get(
            f"/bench/offset/v1/entities/{entity['id']}/charge-sessions",
            params={**frame, "page": number},
        )
        assert offset.status_code == 200, offset.text
        offset_pages.append([record["id"] for record in offset.json()["data"]])
    assert [len(page) for page in keyset_pages] == [3, 3, 1]
    assert offset_pages == keyset_pages


@pytest.fixture(scope="module")
def bench_server(database_url: str) -> Iterator[str]:
    """`python -m bench.serve` on the suite's database, with the suite's key."""
    server = start_server(database_url, workers=1, bench_routes=True, env=suite_key_environment({}))
    try:
        yield server.base_url
    finally:
        server.stop()


async def test_bench_serve_serves_the_bench_app_with_the_products_routes(
    bench_server: str, api: TenantApi
) -> None:
    async with httpx.AsyncClient(
        base_url=bench_server, headers=dict(api.http.headers), timeout=30
    ) as http:
        static = await http.get("/bench/static", params={"size": 100})
        entities = await http.get("/v1/entities")
    assert static.status_code == 200
    assert len(static.content) == 100
    assert entities.status_code == 200, entities.text


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
