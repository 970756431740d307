"""/v1/drivers/{driverId}/rate-plans: a plan of the tenant, one plan at a time per driver."""

import uuid
from typing import Any

from chargeledger.storage.database import Database
from tests.drivers.support import create_driver, insert_plan
from tests.support.api import TenantApi
from tests.support.problems import assert_problem

PLAN_KEYS = {"id", "driverId", "planId", "validFrom", "validTo", "created"}


def url(driver: dict[str, Any], item: dict[str, Any] | None = None) -> str:
    base = f"/v1/drivers/{driver['id']}/rate-plans"
    return base if item is None else f"{base}/{item['id']}"


async def test_a_driver_plan_is_answered_located_listed_ended_and_deleted(
    api: TenantApi, database: Database
) -> None:
    driver = await create_driver(api)
    plan_id = str(await insert_plan(database, api.tenant_id))
    response = await api.http.post(url(driver), json={"planId": plan_id, "validFrom": "2026-10-01"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == PLAN_KEYS
    assert created == {
        "id": created["id"],
        "driverId": driver["id"],
        "planId": plan_id,
        "validFrom": "2026-10-01",
        "validTo": None,
        "created": created["created"],
    }
    assert response.headers["location"] == url(driver, created)
    assert (await api.http.get(url(driver))).json() == {"data": [created]}
    ended = await api.http.patch(url(driver, created), json={"validTo": "2027-01-01"})
    assert ended.status_code == 200, ended.text
    assert ended.json() == {**created, "validTo": "2027-01-01"}
    deleted = await api.http.delete(url(driver, created))
    assert deleted.status_code == 204, deleted.text
    assert (await api.http.get(url(driver))).json() == {"data": []}
    assert_problem(await api.http.delete(url(driver, created)), 404)


async def test_a_driver_has_one_plan_at_a_time(api: TenantApi, database: Database) -> None:
    driver = await create_driver(api)
    contract = str(await insert_plan(database, api.tenant_id))
    regional = str(await insert_plan(database, api.tenant_id))
    first = (
        await api.http.post(
            url(driver),
            json={"planId": contract, "validFrom": "2026-01-01", "validTo": "2026-10-01"},
        )
    ).json()
    clash = await api.http.post(url(driver), json={"planId": regional, "validFrom": "2026-09-30"})
    detail = assert_problem(clash, 409)["detail"]
    assert first["id"] in detail
    assert "from 2026-01-01 until 2026-10-01" in detail
    # From the day the first ends: no overlap.
    second = await api.http.post(url(driver), json={"planId": regional, "validFrom": "2026-10-01"})
    assert second.status_code == 201, second.text
    # Opening the first again would overlap the second.
    assert_problem(await api.http.patch(url(driver, first), json={"validTo": None}), 409)
    # Another driver may have the same plan over the same days.
    other = await create_driver(api)
    shared = await api.http.post(url(other), json={"planId": contract, "validFrom": "2026-01-01"})
    assert shared.status_code == 201, shared.text


async def test_the_plan_must_be_the_tenants(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    driver = await create_driver(api)
    theirs = await insert_plan(database, other_api.tenant_id)
    for plan_id in (theirs, uuid.uuid4()):
        response = await api.http.post(
            url(driver), json={"planId": str(plan_id), "validFrom": "2026-10-01"}
        )
        assert str(plan_id) in assert_problem(response, 404)["detail"]
    assert (await api.http.get(url(driver))).json() == {"data": []}


async def test_bad_driver_plan_bodies_are_problems(api: TenantApi, database: Database) -> None:
    driver = await create_driver(api)
    plan_id = str(await insert_plan(database, api.tenant_id))
    for body, field in [
        ({"validFrom": "2026-10-01"}, "planId"),
        ({"planId": "nope", "validFrom": "2026-10-01"}, "planId"),
        ({"planId": plan_id}, "validFrom"),
        ({"planId": plan_id, "validFrom": "2026-13-01"}, "validFrom"),
        ({"planId": plan_id, "validFrom": "2026-10-01", "validTo": "2026-10-01"}, "validTo"),
    ]:
        assert_problem(await api.http.post(url(driver), json=body), 400, names=[field])
    created = (
        await api.http.post(url(driver), json={"planId": plan_id, "validFrom": "2026-10-01"})
    ).json()
    refused = await api.http.patch(url(driver, created), json={"validTo": "2026-09-01"})
    assert_problem(refused, 400, names=["validTo"])
