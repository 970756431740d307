"""GET /v1/entities/{entityId}/charge-sessions/{sessionId} over HTTP: one record, the same as
listed; 404 for sessions that are not this entity's, and tenant isolation."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.api import TenantApi, session_body

T0 = datetime(2024, 5, 27, 13, 0, tzinfo=UTC)
PROBLEM_KEYS = {"type", "title", "status", "detail"}


def at(minutes: float = 0) -> str:
    """An instant `minutes` after 2024-05-27T13:00:00Z as RFC 3339 text."""
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_problem(
    response: httpx.Response, status: int, *, names: Sequence[str] = ()
) -> dict[str, Any]:
    """An RFC 9457 problem with the given status, naming each of `names` in `errors`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() in (PROBLEM_KEYS, PROBLEM_KEYS | {"errors"}), body
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail"))
    named = [error["name"] for error in body.get("errors", [])]
    for name in names:
        assert name in named, body
    return body


def session_url(entity_id: str, session_id: str) -> str:
    return f"/v1/entities/{entity_id}/charge-sessions/{session_id}"


async def post_ok(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post_session(entity_id, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def test_get_returns_the_record_exactly_as_listed(api: TenantApi) -> None:
    """For full, bare and located sessions, GET of each id answers 200 application/json with
    a body equal to that session's entry in the list (and to the POST's answer)."""
    entity = await api.create_entity("EV")
    await api.create_location(entity["id"], address="Home street 1")
    posted = [
        await post_ok(api, entity["id"], session_body("full", at(0), at(90), total_kwh=7.0)),
        await post_ok(api, entity["id"], {"externalId": "bare", "start": at(100), "end": at(110)}),
        await post_ok(
            api,
            entity["id"],
            session_body("home", at(120), at(180), position=(50.87405, 4.70043)),
        ),
    ]
    page = await api.list_sessions(entity["id"], start=at(0), end=at(240))
    assert page.status_code == 200, page.text
    listed = page.json()["data"]
    assert [r["id"] for r in listed] == [r["id"] for r in posted]

    for record in listed:
        response = await api.http.get(session_url(entity["id"], record["id"]))
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json() == record
    assert listed == posted
    assert listed[0]["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 4.667}
    assert [len(r["data"]["locationMatches"]) for r in listed] == [0, 0, 1]


async def test_unknown_session_id_is_404(api: TenantApi) -> None:
    """A session id that does not exist answers a 404 problem naming that id."""
    entity = await api.create_entity("EV")
    await post_ok(api, entity["id"], session_body("exists", at(0), at(60)))
    missing = str(uuid.uuid4())

    response = await api.http.get(session_url(entity["id"], missing))

    problem = assert_problem(response, 404)
    assert problem["detail"] == f"charge session {missing} was not found"


async def test_malformed_session_id_is_400_naming_session_id(api: TenantApi) -> None:
    """A session id that is not a UUID is refused naming sessionId."""
    entity = await api.create_entity("EV")

    response = await api.http.get(session_url(entity["id"], "not-a-uuid"))

    assert_problem(response, 400, names=["sessionId"])


async def test_another_entitys_session_is_404_under_this_entity(api: TenantApi) -> None:
    """A session of entity B, asked for under entity A of the same tenant, is 404 exactly as a
    session id that does not exist; under B it is found."""
    entity_a = await api.create_entity("EV")
    entity_b = await api.create_entity("EV")
    session_b = await post_ok(api, entity_b["id"], session_body("b", at(0), at(60)))
    missing = str(uuid.uuid4())

    wrong_entity = await api.http.get(session_url(entity_a["id"], session_b["id"]))
    unknown = await api.http.get(session_url(entity_a["id"], missing))

    assert_problem(wrong_entity, 404)
    assert wrong_entity.content.replace(session_b["id"].encode(), b"<id>") == (
        unknown.content.replace(missing.encode(), b"<id>")
    )
    right = await api.http.get(session_url(entity_b["id"], session_b["id"]))
    assert right.json() == session_b


async def test_getting_under_a_heat_pump_is_404(api: TenantApi) -> None:
    """A HeatPump has no charge sessions: 404."""
    entity = await api.create_entity("HeatPump")

    response = await api.http.get(session_url(entity["id"], str(uuid.uuid4())))

    assert_problem(response, 404)


async def test_other_tenant_getting_a_session_gets_the_same_404_as_for_a_missing_entity(
    api: TenantApi, other_api: TenantApi
) -> None:
    """Another tenant asking for this tenant's session under its entity gets a 404
    byte-identical, apart from the entity id, to asking under an entity that does not exist;
    under its own entity the id is just an unknown session."""
    entity = await api.create_entity("EV")
    session = await post_ok(api, entity["id"], session_body("secret", at(0), at(60)))
    theirs = await other_api.create_entity("EV")
    missing_entity = str(uuid.uuid4())
    missing_session = str(uuid.uuid4())

    foreign = await other_api.http.get(session_url(entity["id"], session["id"]))
    missing = await other_api.http.get(session_url(missing_entity, session["id"]))
    under_own_entity = await other_api.http.get(session_url(theirs["id"], session["id"]))
    unknown_under_own = await other_api.http.get(session_url(theirs["id"], missing_session))

    problem = assert_problem(foreign, 404)
    assert problem["detail"] == f"entity {entity['id']} was not found"
    assert_problem(missing, 404)
    assert foreign.content.replace(entity["id"].encode(), b"<id>") == missing.content.replace(
        missing_entity.encode(), b"<id>"
    )
    assert foreign.headers["content-type"] == missing.headers["content-type"]
    assert_problem(under_own_entity, 404)
    assert under_own_entity.content.replace(session["id"].encode(), b"<id>") == (
        unknown_under_own.content.replace(missing_session.encode(), b"<id>")
    )
    assert (await api.http.get(session_url(entity["id"], session["id"]))).json() == session
