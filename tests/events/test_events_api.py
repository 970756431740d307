"""GET /v1/events: a tenant's events in commit order, exactly as stored, paged with signed
tokens that always resume after the last event seen, filtered by type and entity, and never
another tenant's."""

from uuid import uuid4

import sqlalchemy as sa

from chargeledger.events.types import EVENT_TYPES
from chargeledger.storage.database import Database
from chargeledger.storage.tables import events
from tests.events.support import SessionEvent, created, page, record, without_sequences
from tests.support.api import TenantApi
from tests.support.problems import assert_problem, error_detail

INVALID_TOKEN = "urn:chargeledger:problem:invalid-continuation-token"


async def test_events_are_listed_in_commit_order_exactly_as_stored_with_their_sequence(
    api: TenantApi, database: Database
) -> None:
    entity_id, session_id = uuid4(), uuid4()
    first = await record(
        database,
        api.tenant_id,
        [
            created(entity_id, session_id),
            SessionEvent("charge-session.updated", entity_id, session_id, 2),
        ],
    )
    second = await record(
        database, api.tenant_id, [SessionEvent("charge-session.removed", entity_id, session_id, 3)]
    )

    body = await page(api.http)

    assert [item["sequence"] for item in body["data"]] == [1, 2, 3]
    assert without_sequences(body["data"]) == first + second
    # The stored payload is spliced in after the sequence, key order kept.
    assert list(body["data"][0]) == ["sequence", "id", "type", "timestamp", "data"]


async def test_every_page_has_a_token_that_resumes_after_its_last_event_even_at_the_end(
    api: TenantApi, database: Database
) -> None:
    """The feed has no last page: the last (partial) page, and the empty one after it, still
    carry links.next, and following it later yields exactly the events committed since."""
    entity_id = uuid4()
    recorded = await record(database, api.tenant_id, [created(entity_id) for _ in range(5)])

    pages = [await page(api.http, pageSize=2)]
    while pages[-1]["meta"]["hasMore"]:
        pages.append(await page(api.http, pages[-1]["links"]["next"]))
    caught_up = await page(api.http, pages[-1]["links"]["next"])
    later = await record(database, api.tenant_id, [created(entity_id) for _ in range(2)])
    resumed = await page(api.http, caught_up["links"]["next"])

    assert [[item["sequence"] for item in p["data"]] for p in pages] == [[1, 2], [3, 4], [5]]
    assert [p["meta"]["hasMore"] for p in pages] == [True, True, False]
    assert without_sequences([item for p in pages for item in p["data"]]) == recorded
    assert caught_up["data"] == []
    assert caught_up["meta"]["hasMore"] is False
    assert caught_up["meta"]["continuationToken"] is not None
    assert [item["sequence"] for item in resumed["data"]] == [6, 7]
    assert without_sequences(resumed["data"]) == later
    for body in (*pages, caught_up, resumed):
        token = body["meta"]["continuationToken"]
        assert body["links"]["next"].endswith(f"continuationToken={token}")
        assert body["meta"]["pageSize"] == 2


async def test_a_tenant_without_events_gets_a_token_that_later_sees_its_first_ones(
    api: TenantApi, database: Database
) -> None:
    empty = await page(api.http)
    recorded = await record(database, api.tenant_id, [created(uuid4())])

    assert empty["data"] == []
    assert empty["meta"]["hasMore"] is False
    assert without_sequences((await page(api.http, empty["links"]["next"]))["data"]) == recorded


async def test_type_filter_takes_repeats_and_comma_lists_and_links_next_keeps_it(
    api: TenantApi, database: Database
) -> None:
    entity_id, session_id = uuid4(), uuid4()
    events = [
        created(entity_id, session_id),
        SessionEvent("charge-session.updated", entity_id, session_id, 2),
        SessionEvent("charge-session.removed", entity_id, session_id, 3),
        created(entity_id),
    ]
    recorded = await record(database, api.tenant_id, events)
    wanted = [item for item in recorded if item["type"] != "charge-session.updated"]

    repeated = await page(
        api.http, type=["charge-session.removed", "charge-session.created"], pageSize=2
    )
    comma = await page(api.http, type=" charge-session.created,charge-session.removed", pageSize=2)
    rest = await page(api.http, repeated["links"]["next"])

    assert without_sequences(repeated["data"]) == wanted[:2]
    assert [item["sequence"] for item in repeated["data"]] == [1, 3]
    assert comma["data"] == repeated["data"]
    assert "type=charge-session.created%2Ccharge-session.removed" in repeated["links"]["next"]
    assert without_sequences(rest["data"]) == wanted[2:]
    assert rest["meta"]["hasMore"] is False


async def test_an_unknown_type_is_refused_naming_the_known_ones(api: TenantApi) -> None:
    response = await api.http.get(
        "/v1/events", params={"type": ["charge-session.created", "session.created"]}
    )

    body = assert_problem(response, 400, names=["type"])
    detail = error_detail(body, "type")
    assert "'session.created'" in detail
    assert all(known in detail for known in EVENT_TYPES)


async def test_entity_filter_lists_only_that_entitys_events(
    api: TenantApi, database: Database
) -> None:
    one, other = uuid4(), uuid4()
    recorded = await record(
        database, api.tenant_id, [created(one), created(other), created(one), created(other)]
    )

    first = await page(api.http, entityId=str(one), pageSize=1)
    second = await page(api.http, first["links"]["next"])
    nobody = await page(api.http, entityId=str(uuid4()))

    assert without_sequences(first["data"] + second["data"]) == [recorded[0], recorded[2]]
    assert f"entityId={one}" in first["links"]["next"]
    assert nobody["data"] == []


async def test_a_tenant_never_sees_another_tenants_events_nor_resumes_its_token(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    entity_id = uuid4()
    await record(database, api.tenant_id, [created(entity_id)])
    theirs = await record(database, other_api.tenant_id, [created(uuid4())])

    mine = await page(api.http)
    their_page = await page(other_api.http)
    by_entity = await page(other_api.http, entityId=str(entity_id))
    replayed = await other_api.http.get(mine["links"]["next"])

    assert without_sequences(their_page["data"]) == theirs
    assert their_page["data"][0]["sequence"] == 1  # each tenant has its own sequence
    assert by_entity["data"] == []
    assert_problem(replayed, 400)
    assert replayed.json()["type"] == INVALID_TOKEN


async def test_a_token_is_refused_with_other_filters(api: TenantApi, database: Database) -> None:
    entity_id = uuid4()
    await record(database, api.tenant_id, [created(entity_id), created(entity_id)])
    token = (await page(api.http, type="charge-session.created", pageSize=1))["meta"][
        "continuationToken"
    ]

    for other_filters in (
        {},
        {"type": "charge-session.created,charge-session.updated"},
        {"type": "charge-session.created", "entityId": str(entity_id)},
    ):
        response = await api.http.get(
            "/v1/events", params={**other_filters, "continuationToken": token}
        )
        body = assert_problem(response, 400)
        assert body["type"] == INVALID_TOKEN
        assert "other filters" in body["detail"]
    same = await page(api.http, type="charge-session.created", continuationToken=token, pageSize=1)
    assert [item["sequence"] for item in same["data"]] == [2]


async def test_an_altered_or_foreign_token_is_refused(api: TenantApi, database: Database) -> None:
    await record(database, api.tenant_id, [created(uuid4()), created(uuid4())])
    token = (await page(api.http, pageSize=1))["meta"]["continuationToken"]
    flipped = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    await api.create_entity()
    await api.create_entity()
    # A token of the tenant's entity list: same tenant, another list.
    entities_token = (await api.http.get("/v1/entities", params={"pageSize": 1})).json()["meta"][
        "continuationToken"
    ]

    for bad in (flipped, "not-a-token", token[:-4], entities_token):
        response = await api.http.get("/v1/events", params={"continuationToken": bad})
        assert_problem(response, 400)
        assert response.json()["type"] == INVALID_TOKEN


async def test_after_resumes_after_a_sequence_but_not_together_with_a_token(
    api: TenantApi, database: Database
) -> None:
    """The way back in for a client whose token was refused after a key rotation."""
    recorded = await record(database, api.tenant_id, [created(uuid4()) for _ in range(3)])
    token = (await page(api.http, pageSize=1))["meta"]["continuationToken"]

    resumed = await page(api.http, after=1)
    both = await api.http.get("/v1/events", params={"after": 1, "continuationToken": token})
    negative = await api.http.get("/v1/events", params={"after": -1})

    assert without_sequences(resumed["data"]) == recorded[1:]
    assert resumed["meta"]["hasMore"] is False
    assert_problem(both, 400, names=["after"])
    assert_problem(negative, 400, names=["after"])


async def test_an_event_with_an_empty_payload_object_is_still_valid_json(
    api: TenantApi, database: Database
) -> None:
    """The sequence is spliced into the stored text; an event whose payload is `{}` (no such
    writer today) must not turn the page into invalid JSON."""
    async with database.write() as connection:
        await connection.execute(
            sa.insert(events).values(
                tenant_id=api.tenant_id,
                sequence=1,
                id=uuid4(),
                type="charge-session.created",
                entity_id=None,
                subject_id=None,
                version=None,
                occurred_ms=0,
                payload_json="{}",
            )
        )

    assert (await page(api.http))["data"] == [{"sequence": 1}]
