"""GET /v1/entities/{entityId}/charge-sessions/{sessionId}/versions: a session's history,
oldest first, paged like the sessions list; a removed session keeps answering; what is not the
caller's is a 404 like what does not exist."""

from typing import Any
from uuid import UUID, uuid4

import orjson
import sqlalchemy as sa

from chargeledger.domain.instants import format_instant
from chargeledger.storage.database import Database
from chargeledger.storage.tables import charge_session_versions
from tests.support.api import TenantApi, session_body
from tests.support.problems import assert_problem

RECORDED_MS = 1_733_220_000_000


def _version(
    entity_id: UUID,
    session_id: UUID,
    version: int,
    change: str,
    *,
    reason: str = "detected",
    replaced_by: list[UUID] | None = None,
) -> dict[str, Any]:
    """A charge_session_versions row, its record telling the versions apart."""
    record = {"id": str(session_id), "entityId": str(entity_id), "data": {"version": version}}
    return {
        "entity_id": entity_id,
        "session_id": session_id,
        "version": version,
        "recorded_ms": RECORDED_MS + version * 1000,
        "change": change,
        "reason": reason,
        "source": "readings",
        "record_json": orjson.dumps(record).decode(),
        "replaced_by_json": None
        if replaced_by is None
        else orjson.dumps([str(other) for other in replaced_by]).decode(),
    }


def _listed(row: dict[str, Any]) -> dict[str, Any]:
    """The row as the endpoint must serve it."""
    return {
        "version": row["version"],
        "change": row["change"],
        "reason": row["reason"],
        "source": row["source"],
        "recorded": format_instant(row["recorded_ms"]),
        "record": orjson.loads(row["record_json"]),
        "replacedBy": None
        if row["replaced_by_json"] is None
        else orjson.loads(row["replaced_by_json"]),
    }


async def _store(database: Database, rows: list[dict[str, Any]]) -> None:
    async with database.write() as connection:
        await connection.execute(sa.insert(charge_session_versions), rows)


def _url(entity_id: object, session_id: object) -> str:
    return f"/v1/entities/{entity_id}/charge-sessions/{session_id}/versions"


async def test_versions_come_oldest_first_with_reason_source_instant_and_record(
    api: TenantApi, database: Database
) -> None:
    entity_id = UUID((await api.create_entity("EV"))["id"])
    session_id = uuid4()
    # Stored out of order: the answer is ordered by version, not by insertion.
    rows = [
        _version(entity_id, session_id, 2, "updated", reason="resplit"),
        _version(entity_id, session_id, 1, "created"),
        _version(entity_id, session_id, 3, "updated", reason="rematched"),
    ]
    await _store(database, rows)

    response = await api.http.get(_url(entity_id, session_id))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == [_listed(rows[1]), _listed(rows[0]), _listed(rows[2])]
    assert body["links"]["next"] is None
    assert body["meta"] == {"continuationToken": None, "pageSize": 25}


async def test_versions_page_through_links_next_which_is_null_on_the_last_page(
    api: TenantApi, database: Database
) -> None:
    entity_id = UUID((await api.create_entity("ChargePoint"))["id"])
    session_id = uuid4()
    rows = [_version(entity_id, session_id, n, "updated") for n in range(1, 6)]
    await _store(database, rows)

    pages = [(await api.http.get(_url(entity_id, session_id), params={"pageSize": 2})).json()]
    while pages[-1]["links"]["next"] is not None:
        pages.append((await api.http.get(pages[-1]["links"]["next"])).json())

    assert [[item["version"] for item in page["data"]] for page in pages] == [[1, 2], [3, 4], [5]]
    assert pages[-1]["meta"]["continuationToken"] is None


async def test_a_removed_session_still_answers_and_its_last_version_names_its_replacements(
    api: TenantApi, database: Database
) -> None:
    """Removed sessions are gone from the sessions list and GET, not from their history."""
    entity_id = UUID((await api.create_entity("EV"))["id"])
    session_id, replacement = uuid4(), uuid4()
    rows = [
        _version(entity_id, session_id, 1, "created"),
        _version(
            entity_id, session_id, 2, "removed", reason="redetected", replaced_by=[replacement]
        ),
    ]
    await _store(database, rows)

    gone = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")
    response = await api.http.get(_url(entity_id, session_id))

    assert_problem(gone, 404)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [_listed(row) for row in rows]
    assert response.json()["data"][-1]["replacedBy"] == [str(replacement)]


async def test_a_session_never_seen_is_404_as_is_another_entitys_or_tenants(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    entity_id = UUID((await api.create_entity("EV"))["id"])
    sibling_id = UUID((await api.create_entity("EV"))["id"])
    heat_pump_id = (await api.create_entity("HeatPump"))["id"]
    session_id = uuid4()
    await _store(database, [_version(entity_id, session_id, 1, "created")])

    never = await api.http.get(_url(entity_id, uuid4()))
    under_sibling = await api.http.get(_url(sibling_id, session_id))
    other_tenant = await other_api.http.get(_url(entity_id, session_id))
    missing_entity = await api.http.get(_url(uuid4(), session_id))
    heat_pump = await api.http.get(_url(heat_pump_id, session_id))

    assert "charge session" in assert_problem(never, 404)["detail"]
    assert "charge session" in assert_problem(under_sibling, 404)["detail"]
    # Another tenant's entity is answered exactly like one that does not exist.
    assert assert_problem(other_tenant, 404)["detail"] == f"entity {entity_id} was not found"
    assert assert_problem(missing_entity, 404)["detail"].startswith("entity ")
    assert_problem(heat_pump, 404)


async def test_a_token_of_another_sessions_versions_is_refused(
    api: TenantApi, database: Database
) -> None:
    entity_id = UUID((await api.create_entity("EV"))["id"])
    sibling_id = UUID((await api.create_entity("EV"))["id"])
    one, two = uuid4(), uuid4()
    await _store(
        database,
        [_version(entity_id, one, n, "updated") for n in (1, 2)]
        + [_version(entity_id, two, n, "updated") for n in (1, 2)]
        + [_version(sibling_id, one, n, "updated") for n in (1, 2)],  # same id, other entity
    )
    token = (await api.http.get(_url(entity_id, one), params={"pageSize": 1})).json()["meta"][
        "continuationToken"
    ]

    for url in (_url(entity_id, two), _url(sibling_id, one)):
        response = await api.http.get(url, params={"pageSize": 1, "continuationToken": token})
        body = assert_problem(response, 400)
        assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"
    same = await api.http.get(
        _url(entity_id, one), params={"pageSize": 1, "continuationToken": token}
    )
    assert [item["version"] for item in same.json()["data"]] == [2]


async def test_posting_and_correcting_a_session_makes_two_versions_and_two_events(
    api: TenantApi,
) -> None:
    """Through the API end to end: the one writer keeps the history and the feed."""
    entity_id = (await api.create_entity("EV"))["id"]
    body = session_body("ext-1", "2024-05-01T20:00:00Z", "2024-05-01T22:00:00Z", total_kwh=10.0)
    posted = await api.post_session(entity_id, body)
    assert posted.status_code == 201, posted.text
    corrected = await api.post_session(entity_id, {**body, "end": "2024-05-01T23:00:00Z"})
    assert corrected.status_code == 200, corrected.text
    session_id = posted.json()["id"]

    versions = (await api.http.get(_url(entity_id, session_id))).json()["data"]
    feed = (await api.http.get("/v1/events", params={"entityId": entity_id})).json()["data"]
    served = (await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")).json()

    assert [(v["version"], v["change"], v["reason"]) for v in versions] == [
        (1, "created", "posted"),
        (2, "updated", "posted"),
    ]
    assert versions[0]["record"] == posted.json()
    assert versions[1]["record"] == corrected.json() == served
    assert [(e["type"], e["data"]["version"]) for e in feed] == [
        ("charge-session.created", 1),
        ("charge-session.updated", 2),
    ]
    assert [e["data"]["record"] for e in feed] == [v["record"] for v in versions]
    assert all(e["data"]["sessionId"] == session_id for e in feed)
