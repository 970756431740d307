"""Entity Settings > Locations: create, read, replace, delete, list, and isolation."""

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.api import TenantApi

PROBLEM = "application/problem+json"
HOME = {
    "label": "Home",
    "address": "Naamsestraat 22, 3000 Leuven",
    "latitude": 50.87405,
    "longitude": 4.70043,
    "radius": 150.0,
}


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


def locations_url(entity_id: str, location_id: str | None = None) -> str:
    url = f"/v1/entities/{entity_id}/locations"
    return url if location_id is None else f"{url}/{location_id}"


async def test_location_crud_round_trip(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    created = await api.http.post(locations_url(entity["id"]), json=HOME)
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    location = created.json()
    assert set(location) == {"id", "label", "address", "latitude", "longitude", "radius"}
    assert str(uuid.UUID(location["id"])) == location["id"]
    assert location == {"id": location["id"], **HOME}

    fetched = await api.http.get(locations_url(entity["id"], location["id"]))
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == location

    office = {
        "label": "Office",
        "address": "Rue de la Loi 16, 1000 Brussels",
        "latitude": 50.84656,
        "longitude": 4.36644,
        "radius": 250.5,
    }
    replaced = await api.http.put(locations_url(entity["id"], location["id"]), json=office)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"id": location["id"], **office}
    fetched = await api.http.get(locations_url(entity["id"], location["id"]))
    assert fetched.json() == {"id": location["id"], **office}

    deleted = await api.http.delete(locations_url(entity["id"], location["id"]))
    assert deleted.status_code == 204, deleted.text
    assert deleted.content == b""
    gone = await api.http.get(locations_url(entity["id"], location["id"]))
    body = assert_problem(gone, 404)
    assert body["detail"] == f"location {location['id']} was not found"
    assert (await api.http.get(locations_url(entity["id"]))).json()["data"] == []


async def test_radius_defaults_to_100_and_address_to_null(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.post(
        locations_url(entity["id"]), json={"label": "Home", "latitude": 50.0, "longitude": 4.0}
    )
    assert response.status_code == 201, response.text
    location = response.json()
    assert location["radius"] == 100
    assert location["address"] is None


async def test_replace_resets_omitted_fields_to_their_defaults(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"], **HOME)
    response = await api.http.put(
        locations_url(entity["id"], location["id"]),
        json={"label": "Home", "latitude": 50.0, "longitude": 4.0},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": location["id"],
        "label": "Home",
        "address": None,
        "latitude": 50.0,
        "longitude": 4.0,
        "radius": 100,
    }


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"radius": 0}, "radius"),
        ({"radius": 0.99}, "radius"),
        ({"radius": 5001}, "radius"),
        ({"radius": -5}, "radius"),
        ({"latitude": 91}, "latitude"),
        ({"latitude": -90.5}, "latitude"),
        ({"longitude": -181}, "longitude"),
        ({"longitude": 180.01}, "longitude"),
        ({"label": ""}, "label"),
        ({"label": "x" * 201}, "label"),
        ({"label": "a\x00b"}, "label"),
        ({"address": "x" * 501}, "address"),
        ({"latitude": "north"}, "latitude"),
    ],
)
async def test_invalid_location_is_400_naming_the_field(
    api: TenantApi, change: dict[str, Any], field: str
) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.post(locations_url(entity["id"]), json={**HOME, **change})
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-input"
    assert [(error["name"], error["in"]) for error in body["errors"]] == [(field, "body")]
    assert (await api.http.get(locations_url(entity["id"]))).json()["data"] == []


@pytest.mark.parametrize("field", ["label", "latitude", "longitude"])
async def test_missing_required_location_field_is_400_naming_it(api: TenantApi, field: str) -> None:
    entity = await api.create_entity("EV")
    body = {key: value for key, value in HOME.items() if key != field}
    response = await api.http.post(locations_url(entity["id"]), json=body)
    problem = assert_problem(response, 400)
    assert problem["errors"] == [{"name": field, "in": "body", "detail": "is required"}]


async def test_invalid_replacement_is_400_and_leaves_the_location_unchanged(
    api: TenantApi,
) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"], **HOME)
    response = await api.http.put(
        locations_url(entity["id"], location["id"]), json={**HOME, "radius": 5001}
    )
    problem = assert_problem(response, 400)
    assert [error["name"] for error in problem["errors"]] == ["radius"]
    fetched = await api.http.get(locations_url(entity["id"], location["id"]))
    assert fetched.json() == location


@pytest.mark.parametrize("radius", [1, 5000])
async def test_radius_bounds_1_and_5000_are_accepted(api: TenantApi, radius: int) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"], radius=radius)
    assert location["radius"] == radius


@pytest.mark.parametrize(("latitude", "longitude"), [(90, 180), (-90, -180), (0, 0)])
async def test_coordinate_bounds_are_accepted(
    api: TenantApi, latitude: float, longitude: float
) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"], latitude=latitude, longitude=longitude)
    assert (location["latitude"], location["longitude"]) == (latitude, longitude)


async def test_other_tenants_locations_are_404(api: TenantApi, other_api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"], **HOME)
    url = locations_url(entity["id"], location["id"])
    expected_detail = f"entity {entity['id']} was not found"

    for response in (
        await other_api.http.get(url),
        await other_api.http.put(url, json={**HOME, "label": "Stolen"}),
        await other_api.http.delete(url),
        await other_api.http.get(locations_url(entity["id"])),
        await other_api.http.post(locations_url(entity["id"]), json=HOME),
    ):
        assert assert_problem(response, 404)["detail"] == expected_detail

    assert (await api.http.get(url)).json() == location
    assert (await api.http.get(locations_url(entity["id"]))).json()["data"] == [location]


async def test_location_of_another_entity_is_404_under_mine(
    api: TenantApi, other_api: TenantApi
) -> None:
    mine = await api.create_entity("EV")
    sibling = await api.create_entity("ChargePoint")
    sibling_location = await api.create_location(sibling["id"])
    theirs = await other_api.create_entity("EV")
    their_location = await other_api.create_location(theirs["id"])
    for location_id in (sibling_location["id"], their_location["id"]):
        url = locations_url(mine["id"], location_id)
        for response in (
            await api.http.get(url),
            await api.http.put(url, json=HOME),
            await api.http.delete(url),
        ):
            assert assert_problem(response, 404)["detail"] == (
                f"location {location_id} was not found"
            )
    assert (await api.http.get(locations_url(sibling["id"]))).json()["data"] == [sibling_location]
    assert (await other_api.http.get(locations_url(theirs["id"]))).json()["data"] == [
        their_location
    ]


async def test_unknown_location_is_404_for_get_put_and_delete(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    missing = str(uuid.uuid4())
    url = locations_url(entity["id"], missing)
    for response in (
        await api.http.get(url),
        await api.http.put(url, json=HOME),
        await api.http.delete(url),
    ):
        body = assert_problem(response, 404)
        assert body["type"] == "urn:chargeledger:problem:not-found"
        assert body["detail"] == f"location {missing} was not found"


async def test_locations_of_an_unknown_entity_are_404(api: TenantApi) -> None:
    missing = str(uuid.uuid4())
    for response in (
        await api.http.get(locations_url(missing)),
        await api.http.post(locations_url(missing), json=HOME),
    ):
        assert assert_problem(response, 404)["detail"] == f"entity {missing} was not found"


async def test_deleting_twice_is_404_the_second_time(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"])
    url = locations_url(entity["id"], location["id"])
    assert (await api.http.delete(url)).status_code == 204
    assert_problem(await api.http.delete(url), 404)


async def test_location_list_is_paged_in_the_standard_envelope(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    created = [
        await api.create_location(entity["id"], label=f"Place {n}", latitude=50.0 + n)
        for n in range(3)
    ]
    first = await api.http.get(locations_url(entity["id"]), params={"pageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    token = page["meta"]["continuationToken"]
    assert isinstance(token, str)
    assert page == {
        "data": created[:2],
        "links": {"next": page["links"]["next"]},
        "meta": {"continuationToken": token, "pageSize": 2},
    }
    next_url = urlsplit(page["links"]["next"])
    assert next_url.path == locations_url(entity["id"])
    assert parse_qs(next_url.query) == {"pageSize": ["2"], "continuationToken": [token]}

    second = await api.http.get(page["links"]["next"])
    assert second.status_code == 200, second.text
    assert second.json() == {
        "data": created[2:],
        "links": {"next": None},
        "meta": {"continuationToken": None, "pageSize": 2},
    }


async def test_location_list_defaults_to_page_size_25(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.get(locations_url(entity["id"]))
    assert response.json() == {
        "data": [],
        "links": {"next": None},
        "meta": {"continuationToken": None, "pageSize": 25},
    }


async def test_location_continuation_token_of_another_entity_is_400(api: TenantApi) -> None:
    first = await api.create_entity("EV")
    second = await api.create_entity("EV")
    for _ in range(2):
        await api.create_location(first["id"])
    token = (await api.http.get(locations_url(first["id"]), params={"pageSize": 1})).json()["meta"][
        "continuationToken"
    ]
    response = await api.http.get(
        locations_url(second["id"]), params={"pageSize": 1, "continuationToken": token}
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


async def test_an_entity_holds_at_most_100_locations(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    for n in range(100):
        await api.create_location(entity["id"], label=f"Place {n}")
    response = await api.http.post(locations_url(entity["id"]), json=HOME)
    body = assert_problem(response, 409)
    assert body["type"] == "urn:chargeledger:problem:conflict"
    listed = await api.http.get(locations_url(entity["id"]), params={"pageSize": 1000})
    assert len(listed.json()["data"]) == 100


async def test_location_id_that_is_not_a_uuid_is_400_naming_it(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    body = assert_problem(await api.http.get(locations_url(entity["id"], "home")), 400)
    assert body["errors"][0]["name"] == "locationId"
    assert body["errors"][0]["in"] == "path"
