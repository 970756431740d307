"""The seed's paths: every `/v1/...` route also answers under `/api/v1/...` (re.alto writes
its URLs so), with the same answer, and links.next keeps the prefix the client used."""

import asyncio
import re
import uuid
from typing import Any

import httpx
import orjson
import pytest

from chargeledger.api.app import create_app
from tests.ocpp.charge_points.charger import connect_raw, raw_call, register_charge_point
from tests.support.api import TenantApi, session_body

ROUTING_404 = "there is no such resource; see /docs for the API"
PATHS: dict[str, Any] = create_app().openapi()["paths"]
V1_OPERATIONS = [
    (method.upper(), path)
    for path, item in PATHS.items()
    if path.startswith("/v1/")
    for method in item
]


def test_every_v1_route_is_listed() -> None:
    assert len(V1_OPERATIONS) >= 25, V1_OPERATIONS


@pytest.fixture
async def seeded(api: TenantApi) -> dict[str, str]:
    """Ids for every path parameter: a charge point with a location, a session, a reading
    and OCPP credentials, so that every read under either prefix finds something."""
    station = await register_charge_point(api, calendar="BE-day-night")
    assert station.location is not None
    posted = await api.post_session(
        station.entity_id,
        session_body("alias", "2024-01-01T22:00:00Z", "2024-01-02T02:00:00Z"),
    )
    assert posted.status_code == 201, posted.text
    reading = {"timestamp": "2024-01-03T10:00:00Z", "isCharging": False}
    stored = await api.http.post(f"/v1/entities/{station.entity_id}/readings", json=[reading])
    assert stored.status_code == 200, stored.text
    # A disabled webhook that existed when a session was posted: it has a delivery, and
    # nothing the test sends it (a redelivery) can change it.
    webhook = await api.http.post(
        "/v1/webhooks", json={"url": "https://receiver.example/hooks", "enabled": True}
    )
    assert webhook.status_code == 201, webhook.text
    webhook_id = webhook.json()["id"]
    posted_later = await api.post_session(
        station.entity_id,
        session_body("alias-2", "2024-01-02T22:00:00Z", "2024-01-03T02:00:00Z"),
    )
    assert posted_later.status_code == 201, posted_later.text
    disabled = await api.http.patch(f"/v1/webhooks/{webhook_id}", json={"enabled": False})
    assert disabled.status_code == 200, disabled.text
    deliveries = await api.http.get(f"/v1/webhooks/{webhook_id}/deliveries")
    assert deliveries.status_code == 200, deliveries.text
    return {
        "entityId": station.entity_id,
        "locationId": station.location["id"],
        "sessionId": posted.json()["id"],
        "webhookId": webhook_id,
        "deliveryId": deliveries.json()["data"][0]["id"],
        **await seed_reimbursement(api),
    }


async def seed_reimbursement(api: TenantApi) -> dict[str, str]:
    """A driver with an assignment and a rate plan, a finalised statement (no sessions: it
    needs no price) and a finished statement run."""
    driver = await api.http.post("/v1/drivers", json={"name": "A", "employeeNumber": "alias"})
    assert driver.status_code == 201, driver.text
    driver_id = driver.json()["id"]
    plan = await api.http.post("/v1/rate-plans", json={"name": "flat", "currency": "EUR"})
    assert plan.status_code == 201, plan.text
    plan_id = plan.json()["id"]
    driver_plan = await api.http.post(
        f"/v1/drivers/{driver_id}/rate-plans", json={"planId": plan_id, "validFrom": "2026-01-01"}
    )
    assert driver_plan.status_code == 201, driver_plan.text
    assignment = await api.http.post(
        f"/v1/drivers/{driver_id}/assignments",
        json={"kind": "idTag", "idTag": "alias", "validFrom": "2026-01-01"},
    )
    assert assignment.status_code == 201, assignment.text
    statement = await api.http.post(
        f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"}
    )
    assert statement.status_code == 201, statement.text
    run = await api.http.post("/v1/statement-runs", json={"period": "2026-10"})
    assert run.status_code == 202, run.text
    run_id = run.json()["id"]
    for _ in range(600):  # the serving process's worker runs it
        if (await api.http.get(f"/v1/statement-runs/{run_id}")).json()["status"] == "succeeded":
            break
        await asyncio.sleep(0.1)
    return {
        "driverId": driver_id,
        "assignmentId": assignment.json()["id"],
        "driverPlanId": driver_plan.json()["id"],
        "planId": plan_id,
        "validFrom": "2026-01-01",
        "statementId": statement.json()["id"],
        "runId": run_id,
    }


# Values for the query parameters some reads require.
REQUIRED_QUERY = {"start": "2024-01-01T00:00:00Z", "period": "2026-10", "format": "csv"}
# Deletes name what does not exist: nothing changes, the answer (404) is compared.
DELETED_IDS = ("locationId", "webhookId", "driverId", "assignmentId", "driverPlanId", "planId")


def required_query(method: str, path: str) -> dict[str, str]:
    parameters = PATHS[path][method.lower()].get("parameters", [])
    return {
        parameter["name"]: REQUIRED_QUERY[parameter["name"]]
        for parameter in parameters
        if parameter["in"] == "query" and parameter.get("required")
    }


def with_ids(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda match: ids[match.group(1)], path)


def answer_of(response: httpx.Response) -> tuple[int, Any]:
    """Status and body, links written with either prefix read alike."""
    if not response.headers.get("content-type", "").endswith("json"):
        return response.status_code, response.content  # an export: the same bytes
    body = orjson.loads(response.content) if response.content else None
    text = orjson.dumps(body).decode().replace("/api/v1/", "/v1/")
    return response.status_code, orjson.loads(text)


async def test_every_route_answers_the_same_under_api_v1(
    api: TenantApi, seeded: dict[str, str]
) -> None:
    """Reads with real ids; writes with an empty body (refused alike: nothing changes) and
    deletes of a location that does not exist: each reaches its route under both paths."""
    differences = []
    for method, path in V1_OPERATIONS:
        ids = dict(seeded)
        if method == "DELETE":
            ids.update({name: str(uuid.uuid4()) for name in DELETED_IDS})
        target = with_ids(path, ids)
        content = None if method in ("GET", "DELETE") else b"{}"
        if path.endswith("/secret/rotate"):
            content = b'{"expireCurrentInHours": -1}'  # an empty body would rotate it
        headers = {"Content-Type": "application/json"} if content is not None else {}
        query = required_query(method, path)
        plain, aliased = [
            await api.http.request(method, url, content=content, headers=headers, params=query)
            for url in (target, f"/api{target}")
        ]
        if answer_of(aliased) != answer_of(plain):
            differences.append(f"{method} {path}: {plain.text} under /v1, {aliased.text} aliased")
        if plain.status_code == 404 and plain.json()["detail"] == ROUTING_404:
            differences.append(f"{method} {path}: not routed ({plain.text})")
        if method == "GET" and plain.status_code != 200:
            differences.append(f"{method} {path}: read nothing ({plain.text})")
    assert differences == []


async def test_the_aliased_authentication_gives_a_working_token(
    api: TenantApi, live_server: str
) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as anonymous:
        response = await anonymous.post(
            "/api/v1/authentication",
            json={"clientId": str(api.client_id), "clientSecret": api.client_secret},
        )
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        listed = await anonymous.get(
            "/api/v1/entities", headers={"Authorization": f"Bearer {token}"}
        )
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize("path", ["/api", "/api/", "/api/healthz", "/api/v2/entities", "/apiv1"])
def test_only_v1_paths_have_the_alias(anonymous: httpx.Client, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 404
    assert response.json()["detail"] == ROUTING_404


async def pages_under_api_v1(api: TenantApi, path: str, **params: str) -> list[dict[str, Any]]:
    """Every page of a list read under /api/v1, following links.next; each link must keep
    the prefix."""
    pages = []
    response = await api.http.get(f"/api{path}", params={**params, "pageSize": "1"})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        next_link = page["links"]["next"]
        if next_link is None:
            return pages
        assert httpx.URL(next_link).path == f"/api{path}", next_link
        response = await api.http.get(next_link)


async def test_links_next_keeps_the_api_prefix_on_every_paged_list(
    api: TenantApi, live_server: str
) -> None:
    station = await register_charge_point(api, calendar=None)
    entity_id = station.entity_id
    await api.create_location(entity_id, label="Depot")
    await api.create_entity("EV", name="a second entity, for a second page")
    for index in range(2):
        start, end = f"2024-01-0{index + 1}T22:00:00Z", f"2024-01-0{index + 2}T02:00:00Z"
        posted = await api.post_session(entity_id, session_body(f"s{index}", start, end))
        assert posted.status_code == 201, posted.text
    idle = {"unit": "W", "value": 0}
    readings = [
        {"timestamp": "2024-02-01T10:00:00Z", "positiveActiveInstantaneousPower": idle},
        {"timestamp": "2024-02-01T10:05:00Z", "positiveActiveInstantaneousPower": idle},
    ]
    stored = await api.http.post(f"/v1/entities/{entity_id}/readings", json=readings)
    assert stored.status_code == 200, stored.text
    async with connect_raw(live_server, station.path, station.password) as connection:
        await raw_call(
            connection, "b", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}
        )
        await raw_call(
            connection,
            "s",
            "StatusNotification",
            {"connectorId": 1, "errorCode": "NoError", "status": "Available"},
        )

    frame = {"start": "2024-01-01T00:00:00Z", "end": "2024-03-01T00:00:00Z"}
    lists = {
        "charge-sessions": (f"/v1/entities/{entity_id}/charge-sessions", frame),
        "readings": (f"/v1/entities/{entity_id}/readings", frame),
        "locations": (f"/v1/entities/{entity_id}/locations", {}),
        "ocpp-events": (f"/v1/entities/{entity_id}/ocpp-events", {}),
        "entities": ("/v1/entities", {}),
    }
    for name, (path, params) in lists.items():
        pages = await pages_under_api_v1(api, path, **params)
        assert len(pages) >= 2, f"{name}: one page only, nothing followed"
