"""/v1/drivers/{driverId}/assignments: which entity a car or home charge point assignment
may name, and that a car, charge point or tag has one driver at a time, across all the
tenant's drivers, with the mid-month handover as the ordinary case."""

import uuid
from typing import Any

import pytest

from tests.drivers.support import assign, create_driver
from tests.support.api import TenantApi
from tests.support.problems import assert_problem, error_detail

ASSIGNMENT_KEYS = {"id", "driverId", "kind", "entityId", "idTag", "validFrom", "validTo", "created"}


def url(driver: dict[str, Any], assignment: dict[str, Any] | None = None) -> str:
    base = f"/v1/drivers/{driver['id']}/assignments"
    return base if assignment is None else f"{base}/{assignment['id']}"


async def test_a_car_assignment_is_answered_located_and_listed(api: TenantApi) -> None:
    driver = await create_driver(api)
    car = await api.create_entity("EV")
    response = await api.http.post(
        url(driver),
        json={
            "kind": "car",
            "entityId": car["id"],
            "validFrom": "2026-10-01",
            "validTo": "2027-01-01",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == ASSIGNMENT_KEYS
    assert created == {
        "id": created["id"],
        "driverId": driver["id"],
        "kind": "car",
        "entityId": car["id"],
        "idTag": None,
        "validFrom": "2026-10-01",
        "validTo": "2027-01-01",
        "created": created["created"],
    }
    assert response.headers["location"] == url(driver, created)
    listed = await api.http.get(url(driver))
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"data": [created]}


async def test_the_list_is_sorted_by_valid_from_then_creation(api: TenantApi) -> None:
    driver = await create_driver(api)
    later = await assign(api, driver["id"], kind="idTag", idTag="T-2", validFrom="2026-11-01")
    first = await assign(api, driver["id"], kind="idTag", idTag="T-1", validFrom="2026-10-01")
    same_day = await assign(api, driver["id"], kind="idTag", idTag="T-3", validFrom="2026-10-01")
    charger = await api.create_entity("ChargePoint")
    home = await assign(
        api, driver["id"], kind="homeChargePoint", entityId=charger["id"], validFrom="2026-09-01"
    )
    listed = (await api.http.get(url(driver))).json()["data"]
    assert [item["id"] for item in listed] == [home["id"], first["id"], same_day["id"], later["id"]]


async def test_the_car_changes_hands_mid_month(api: TenantApi) -> None:
    """The old assignment ends on 2026-10-16 (exclusive) and the new driver's starts that
    same day: no overlap, no 409."""
    first, second = await create_driver(api), await create_driver(api)
    car = await api.create_entity("EV")
    old = await assign(api, first["id"], kind="car", entityId=car["id"], validFrom="2026-01-01")
    ended = await api.http.patch(url(first, old), json={"validTo": "2026-10-16"})
    assert ended.status_code == 200, ended.text
    assert ended.json() == {**old, "validTo": "2026-10-16"}
    new = await assign(api, second["id"], kind="car", entityId=car["id"], validFrom="2026-10-16")
    assert new["validTo"] is None
    assert (await api.http.get(url(first))).json()["data"] == [ended.json()]
    assert (await api.http.get(url(second))).json()["data"] == [new]
    # Opening the old one again would give the car two drivers from 2026-10-16.
    reopened = await api.http.patch(url(first, old), json={"validTo": None})
    detail = assert_problem(reopened, 409)["detail"]
    assert second["id"] in detail
    assert "2026-10-16" in detail


async def test_a_car_has_one_driver_at_a_time(api: TenantApi) -> None:
    first, second = await create_driver(api), await create_driver(api)
    car = await api.create_entity("EV")
    held = await assign(
        api,
        first["id"],
        kind="car",
        entityId=car["id"],
        validFrom="2026-10-01",
        validTo="2026-11-01",
    )
    for valid_from, valid_to in [
        ("2026-10-31", None),  # starts on its last day
        ("2026-09-01", "2026-10-02"),  # ends on its second day
        ("2026-10-10", "2026-10-11"),  # inside it
        ("2026-01-01", None),  # open, around it
    ]:
        body: dict[str, Any] = {"kind": "car", "entityId": car["id"], "validFrom": valid_from}
        if valid_to is not None:
            body["validTo"] = valid_to
        response = await api.http.post(url(second), json=body)
        detail = assert_problem(response, 409)["detail"]
        assert first["id"] in detail, detail
        assert "from 2026-10-01 until 2026-11-01" in detail, detail
        assert held["id"] in detail
    # The same driver cannot hold it twice over the same days either.
    assert_problem(
        await api.http.post(
            url(first), json={"kind": "car", "entityId": car["id"], "validFrom": "2026-10-15"}
        ),
        409,
    )
    # Before and after it: free.
    await assign(
        api,
        second["id"],
        kind="car",
        entityId=car["id"],
        validFrom="2026-09-01",
        validTo="2026-10-01",
    )
    await assign(api, second["id"], kind="car", entityId=car["id"], validFrom="2026-11-01")


async def test_a_home_charge_point_and_a_tag_have_one_driver_at_a_time(api: TenantApi) -> None:
    first, second = await create_driver(api), await create_driver(api)
    charger = await api.create_entity("ChargePoint")
    await assign(
        api, first["id"], kind="homeChargePoint", entityId=charger["id"], validFrom="2026-10-01"
    )
    taken = await api.http.post(
        url(second),
        json={"kind": "homeChargePoint", "entityId": charger["id"], "validFrom": "2027-01-01"},
    )
    assert first["id"] in assert_problem(taken, 409)["detail"]
    await assign(api, first["id"], kind="idTag", idTag="04A2B3", validFrom="2026-10-01")
    taken = await api.http.post(
        url(second), json={"kind": "idTag", "idTag": "04A2B3", "validFrom": "2026-10-05"}
    )
    detail = assert_problem(taken, 409)["detail"]
    assert first["id"] in detail
    assert "04A2B3" in detail
    # Another tag, or the same tag of another tenant, is no conflict.
    await assign(api, second["id"], kind="idTag", idTag="04A2B4", validFrom="2026-10-05")


async def test_the_same_tag_in_another_tenant_is_no_conflict(
    api: TenantApi, other_api: TenantApi
) -> None:
    mine, theirs = await create_driver(api), await create_driver(other_api)
    await assign(api, mine["id"], kind="idTag", idTag="SHARED", validFrom="2026-10-01")
    await assign(other_api, theirs["id"], kind="idTag", idTag="SHARED", validFrom="2026-10-01")


async def test_the_entity_must_be_the_tenants_and_of_the_right_type(
    api: TenantApi, other_api: TenantApi
) -> None:
    driver = await create_driver(api)
    car = await api.create_entity("EV")
    charger = await api.create_entity("ChargePoint")
    theirs = await other_api.create_entity("EV")
    for entity_id in (theirs["id"], str(uuid.uuid4())):
        response = await api.http.post(
            url(driver), json={"kind": "car", "entityId": entity_id, "validFrom": "2026-10-01"}
        )
        detail = assert_problem(response, 404)["detail"]
        assert f"entity {entity_id}" in detail
    wrong = await api.http.post(
        url(driver), json={"kind": "car", "entityId": charger["id"], "validFrom": "2026-10-01"}
    )
    detail = error_detail(assert_problem(wrong, 400, names=["entityId"]), "entityId")
    assert "type ChargePoint; kind car needs an entity of type EV" in detail
    wrong = await api.http.post(
        url(driver),
        json={"kind": "homeChargePoint", "entityId": car["id"], "validFrom": "2026-10-01"},
    )
    detail = error_detail(assert_problem(wrong, 400, names=["entityId"]), "entityId")
    assert "type EV; kind homeChargePoint needs an entity of type ChargePoint" in detail
    assert (await api.http.get(url(driver))).json()["data"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "car", "validFrom": "2026-10-01"}, "entityId"),
        ({"kind": "homeChargePoint", "validFrom": "2026-10-01"}, "entityId"),
        ({"kind": "idTag", "validFrom": "2026-10-01"}, "idTag"),
        ({"kind": "idTag", "idTag": "", "validFrom": "2026-10-01"}, "idTag"),
        ({"kind": "idTag", "idTag": "T" * 65, "validFrom": "2026-10-01"}, "idTag"),
        (
            {
                "kind": "idTag",
                "idTag": "T",
                "entityId": str(uuid.UUID(int=1)),
                "validFrom": "2026-10-01",
            },
            "entityId",
        ),
        (
            {
                "kind": "car",
                "entityId": str(uuid.UUID(int=1)),
                "idTag": "T",
                "validFrom": "2026-10-01",
            },
            "idTag",
        ),
        ({"kind": "car", "entityId": "not-a-uuid", "validFrom": "2026-10-01"}, "entityId"),
        ({"kind": "truck", "idTag": "T", "validFrom": "2026-10-01"}, "kind"),
        ({"kind": "idTag", "idTag": "T"}, "validFrom"),
        ({"kind": "idTag", "idTag": "T", "validFrom": "2026-02-30"}, "validFrom"),
        ({"kind": "idTag", "idTag": "T", "validFrom": "01/10/2026"}, "validFrom"),
        ({"kind": "idTag", "idTag": "T", "validFrom": "2026-10-01T00:00:00Z"}, "validFrom"),
        ({"kind": "idTag", "idTag": "T", "validFrom": 20261001}, "validFrom"),
        (
            {"kind": "idTag", "idTag": "T", "validFrom": "2026-10-01", "validTo": "2026-10-01"},
            "validTo",
        ),
        (
            {"kind": "idTag", "idTag": "T", "validFrom": "2026-10-01", "validTo": "2026-09-30"},
            "validTo",
        ),
        ({"kind": "idTag", "idTag": "T", "validFrom": "2026-10-01", "owner": "me"}, "owner"),
    ],
)
async def test_bad_assignment_bodies_are_problems_naming_the_field(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    driver = await create_driver(api)
    assert_problem(await api.http.post(url(driver), json=body), 400, names=[field])


async def test_an_end_before_the_start_is_refused(api: TenantApi) -> None:
    driver = await create_driver(api)
    held = await assign(api, driver["id"], kind="idTag", idTag="T", validFrom="2026-10-10")
    for end in ("2026-10-10", "2026-10-01"):
        refused = await api.http.patch(url(driver, held), json={"validTo": end})
        assert "2026-10-10" in error_detail(
            assert_problem(refused, 400, names=["validTo"]), "validTo"
        )
    assert_problem(await api.http.patch(url(driver, held), json={}), 400, names=["validTo"])
    assert_problem(
        await api.http.patch(url(driver, held), json={"validTo": "soon"}), 400, names=["validTo"]
    )
    assert (await api.http.get(url(driver))).json()["data"] == [held]


async def test_delete_an_assignment_frees_the_car(api: TenantApi) -> None:
    first, second = await create_driver(api), await create_driver(api)
    car = await api.create_entity("EV")
    held = await assign(api, first["id"], kind="car", entityId=car["id"], validFrom="2026-10-01")
    # Another driver's path does not reach it.
    assert_problem(await api.http.delete(url(second, held)), 404)
    assert_problem(await api.http.patch(url(second, held), json={"validTo": None}), 404)
    deleted = await api.http.delete(url(first, held))
    assert deleted.status_code == 204, deleted.text
    assert_problem(await api.http.delete(url(first, held)), 404)
    assert (await api.http.get(url(first))).json()["data"] == []
    await assign(api, second["id"], kind="car", entityId=car["id"], validFrom="2026-10-01")
