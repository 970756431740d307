"""Entities: create, retrieve, list page by page, and tenant isolation."""

import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.api import TenantApi

PROBLEM = "application/problem+json"
ENTITY_TYPES = [
    "EV",
    "ChargePoint",
    "Battery",
    "HeatPump",
    "SolarPlant",
    "Meter",
    "RetrofitMeter",
    "Inverter",
]
CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of that status: the media type and the four members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    return body


def error_names(body: dict[str, Any]) -> list[str]:
    return [error["name"] for error in body["errors"]]


def created_instant(text: str) -> float:
    assert CREATED.match(text), text
    return (
        datetime.strptime(text.rstrip("Z")[:19], "%Y-%m-%dT%H:%M:%S")
        .replace(tzinfo=UTC)
        .timestamp()
    )


async def test_create_entity_answers_201_with_exactly_the_entity_fields(api: TenantApi) -> None:
    before = time.time()
    response = await api.http.post(
        "/v1/entities",
        json={
            "type": "EV",
            "name": "Company car",
            "identifier": "WVWZZZ1JZ3W386752",
            "brand": "Volkswagen",
            "properties": {"plate": "1-ABC-123"},
        },
    )
    after = time.time()
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"id", "type", "name", "identifier", "brand", "properties", "created"}
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["type"] == "EV"
    assert body["name"] == "Company car"
    assert body["identifier"] == "WVWZZZ1JZ3W386752"
    assert body["brand"] == "Volkswagen"
    assert body["properties"] == {"plate": "1-ABC-123"}
    assert int(before) - 1 <= created_instant(body["created"]) <= after + 1


async def test_optional_entity_fields_default_to_null_and_empty_properties(
    api: TenantApi,
) -> None:
    response = await api.http.post("/v1/entities", json={"type": "Meter", "name": "Home meter"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["identifier"] is None
    assert body["brand"] is None
    assert body["properties"] == {}


@pytest.mark.parametrize("entity_type", ENTITY_TYPES)
async def test_every_documented_entity_type_is_accepted(api: TenantApi, entity_type: str) -> None:
    response = await api.http.post("/v1/entities", json={"type": entity_type, "name": "x"})
    assert response.status_code == 201, response.text
    assert response.json()["type"] == entity_type
    fetched = await api.http.get(f"/v1/entities/{response.json()['id']}")
    assert fetched.json()["type"] == entity_type


@pytest.mark.parametrize("entity_type", ["Car", "ev", "", "Collective"])
async def test_unknown_entity_type_is_400_naming_type(api: TenantApi, entity_type: str) -> None:
    response = await api.http.post("/v1/entities", json={"type": entity_type, "name": "x"})
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-input"
    assert error_names(body) == ["type"]
    assert body["errors"][0]["in"] == "body"


async def test_missing_type_and_name_are_400_naming_both(api: TenantApi) -> None:
    body = assert_problem(await api.http.post("/v1/entities", json={}), 400)
    assert body["errors"] == [
        {"name": "type", "in": "body", "detail": "is required"},
        {"name": "name", "in": "body", "detail": "is required"},
    ]


async def test_duplicate_identifier_in_one_tenant_is_409(api: TenantApi) -> None:
    first = await api.create_entity("EV", identifier="VIN-1")
    response = await api.http.post(
        "/v1/entities", json={"type": "ChargePoint", "name": "other", "identifier": "VIN-1"}
    )
    body = assert_problem(response, 409)
    assert body["type"] == "urn:chargeledger:problem:conflict"
    assert "VIN-1" in body["detail"]
    listed = (await api.http.get("/v1/entities")).json()["data"]
    assert [entity["id"] for entity in listed] == [first["id"]]


async def test_same_identifier_is_allowed_in_another_tenant(
    api: TenantApi, other_api: TenantApi
) -> None:
    mine = await api.create_entity("EV", identifier="VIN-shared")
    theirs = await other_api.create_entity("EV", identifier="VIN-shared")
    assert mine["id"] != theirs["id"]
    assert theirs["identifier"] == "VIN-shared"


async def test_many_entities_without_identifier_are_allowed(api: TenantApi) -> None:
    first = await api.create_entity("EV")
    second = await api.create_entity("EV")
    assert first["identifier"] is None
    assert second["identifier"] is None
    assert first["id"] != second["id"]


async def test_get_entity_returns_what_create_returned(api: TenantApi) -> None:
    created = await api.create_entity(
        "ChargePoint", name="Driveway", identifier="CP-1", brand="Alfen", properties={"k": 1}
    )
    response = await api.http.get(f"/v1/entities/{created['id']}")
    assert response.status_code == 200, response.text
    assert response.json() == created


async def test_unknown_entity_is_404_problem(api: TenantApi) -> None:
    missing = uuid.uuid4()
    body = assert_problem(await api.http.get(f"/v1/entities/{missing}"), 404)
    assert body["type"] == "urn:chargeledger:problem:not-found"
    assert body["detail"] == f"entity {missing} was not found"


async def test_other_tenants_entity_is_404_exactly_like_a_random_id(
    api: TenantApi, other_api: TenantApi
) -> None:
    theirs = await other_api.create_entity("EV", identifier="VIN-theirs")
    random_id = str(uuid.uuid4())
    for suffix in ("", "/features", "/locations"):
        hidden = await api.http.get(f"/v1/entities/{theirs['id']}{suffix}")
        missing = await api.http.get(f"/v1/entities/{random_id}{suffix}")
        hidden_body = assert_problem(hidden, 404)
        missing_body = assert_problem(missing, 404)
        assert hidden_body["detail"] == missing_body["detail"].replace(random_id, theirs["id"])
        assert {**hidden_body, "detail": ""} == {**missing_body, "detail": ""}
        assert theirs["id"] in hidden_body["detail"]


async def test_entity_list_pages_follow_links_next_over_every_entity_once_in_creation_order(
    api: TenantApi, other_api: TenantApi
) -> None:
    await other_api.create_entity("EV", name="not mine")
    created = [await api.create_entity("EV", name=f"car {n}") for n in range(5)]
    await other_api.create_entity("EV", name="not mine either")

    pages: list[dict[str, Any]] = []
    response = await api.http.get("/v1/entities", params={"pageSize": 2})
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        assert set(page) == {"data", "links", "meta"}
        pages.append(page)
        if page["links"]["next"] is None:
            break
        response = await api.http.get(page["links"]["next"])

    assert [len(page["data"]) for page in pages] == [2, 2, 1]
    listed = [entity for page in pages for entity in page["data"]]
    assert listed == created
    for page in pages[:-1]:
        token = page["meta"]["continuationToken"]
        assert page["meta"] == {"continuationToken": token, "pageSize": 2}
        query = parse_qs(urlsplit(page["links"]["next"]).query)
        assert query == {"pageSize": ["2"], "continuationToken": [token]}
        assert urlsplit(page["links"]["next"]).path == "/v1/entities"
    assert pages[-1]["links"] == {"next": None}
    assert pages[-1]["meta"] == {"continuationToken": None, "pageSize": 2}


async def test_continuation_token_as_a_parameter_gives_the_next_page(api: TenantApi) -> None:
    created = [await api.create_entity("EV", name=f"car {n}") for n in range(3)]
    first = (await api.http.get("/v1/entities", params={"pageSize": 2})).json()
    second = await api.http.get(
        "/v1/entities",
        params={"pageSize": 2, "continuationToken": first["meta"]["continuationToken"]},
    )
    assert second.status_code == 200, second.text
    assert second.json()["data"] == created[2:]


async def test_entity_list_default_page_size_is_25(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.get("/v1/entities")
    assert response.json() == {
        "data": [entity],
        "links": {"next": None},
        "meta": {"continuationToken": None, "pageSize": 25},
    }


async def test_entity_list_of_a_new_tenant_is_empty(api: TenantApi, other_api: TenantApi) -> None:
    await other_api.create_entity("EV")
    response = await api.http.get("/v1/entities")
    assert response.json()["data"] == []


@pytest.mark.parametrize("page_size", ["0", "1001", "-1", "two"])
async def test_bad_page_size_is_400_naming_it(api: TenantApi, page_size: str) -> None:
    response = await api.http.get("/v1/entities", params={"pageSize": page_size})
    body = assert_problem(response, 400)
    assert body["errors"][0]["name"] == "pageSize"
    assert body["errors"][0]["in"] == "query"


async def test_page_size_1000_is_accepted(api: TenantApi) -> None:
    response = await api.http.get("/v1/entities", params={"pageSize": 1000})
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["pageSize"] == 1000


async def test_forged_continuation_token_is_400(api: TenantApi) -> None:
    response = await api.http.get("/v1/entities", params={"continuationToken": "garbage"})
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


async def test_other_tenants_continuation_token_is_400(
    api: TenantApi, other_api: TenantApi
) -> None:
    for n in range(2):
        await other_api.create_entity("EV", name=f"theirs {n}")
    token = (await other_api.http.get("/v1/entities", params={"pageSize": 1})).json()["meta"][
        "continuationToken"
    ]
    assert token is not None
    response = await api.http.get(
        "/v1/entities", params={"pageSize": 1, "continuationToken": token}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


async def test_nested_properties_round_trip_exactly(api: TenantApi) -> None:
    properties = {
        "battery": {"capacityKwh": 77.0, "usableKwh": 74.5},
        "tags": ["company", "lease", None, True, False],
        "nested": {"deeper": {"deepest": [1, [2, [3, {"four": 4}]]]}},
        "largest": 2**63 - 1,
        "smallest": -(2**63),
        "text": "Brussel–Leuven ☀ 😀",
        "empty": {},
    }
    created = await api.create_entity("EV", properties=properties)
    assert created["properties"] == properties
    fetched = (await api.http.get(f"/v1/entities/{created['id']}")).json()
    assert fetched["properties"] == properties
    listed = (await api.http.get("/v1/entities")).json()["data"]
    assert listed[0]["properties"] == properties


async def test_name_with_nul_character_is_400_not_500(api: TenantApi) -> None:
    response = await api.http.post("/v1/entities", json={"type": "EV", "name": "a\x00b"})
    body = assert_problem(response, 400)
    assert body["errors"] == [
        {"name": "name", "in": "body", "detail": "must not contain the NUL character"}
    ]


@pytest.mark.parametrize("field", ["identifier", "brand"])
async def test_other_text_fields_with_nul_character_are_400(api: TenantApi, field: str) -> None:
    response = await api.http.post("/v1/entities", json={"type": "EV", "name": "x", field: "\x00"})
    body = assert_problem(response, 400)
    assert error_names(body) == [field]


async def test_name_with_a_lone_surrogate_is_400_not_500(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities",
        content=b'{"type": "EV", "name": "a\\ud800b"}',
        headers={"Content-Type": "application/json"},
    )
    body = assert_problem(response, 400)
    assert error_names(body) == ["name"]


@pytest.mark.parametrize(
    "properties",
    [{"big": 2**70}, {"nested": {"list": [1, 2**70]}}, {"negative": -(2**70)}, {"u": 2**64}],
)
async def test_integer_beyond_64_bits_in_properties_is_400_not_500(
    api: TenantApi, properties: dict[str, Any]
) -> None:
    response = await api.http.post(
        "/v1/entities", json={"type": "EV", "name": "x", "properties": properties}
    )
    body = assert_problem(response, 400)
    assert error_names(body) == ["properties"]
    assert (await api.http.get("/v1/entities")).json()["data"] == []


async def test_properties_must_be_an_object(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities", json={"type": "EV", "name": "x", "properties": [1, 2]}
    )
    body = assert_problem(response, 400)
    assert error_names(body) == ["properties"]


@pytest.mark.parametrize(("name", "status"), [("", 400), ("n" * 200, 201), ("n" * 201, 400)])
async def test_name_length_is_1_to_200(api: TenantApi, name: str, status: int) -> None:
    response = await api.http.post("/v1/entities", json={"type": "EV", "name": name})
    assert response.status_code == status, response.text
    if status == 400:
        assert error_names(response.json()) == ["name"]


async def test_unknown_entity_field_is_400_naming_it(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/entities", json={"type": "EV", "name": "x", "isOnline": True}
    )
    body = assert_problem(response, 400)
    assert error_names(body) == ["isOnline"]


async def test_entity_id_that_is_not_a_uuid_is_400_naming_it(api: TenantApi) -> None:
    body = assert_problem(await api.http.get("/v1/entities/car-1"), 400)
    assert body["errors"][0]["name"] == "entityId"
    assert body["errors"][0]["in"] == "path"
