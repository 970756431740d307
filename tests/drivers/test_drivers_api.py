"""/v1/drivers through the HTTP API: create, list, get, change, delete; unique employee
numbers; another tenant's driver is not found; bad input is a problem, never a 500."""

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import pytest
import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.tables import driver_assignments, driver_rate_plans, drivers
from tests.drivers.support import assign, create_driver, insert_plan, insert_statement
from tests.support.api import TenantApi
from tests.support.problems import assert_problem

DRIVER_KEYS = {"id", "name", "employeeNumber", "region", "email", "created", "updated"}


async def test_a_created_driver_is_answered_located_and_found_again(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/drivers",
        json={
            "name": "An Peeters",
            "employeeNumber": "E-10442",
            "region": "BE-VLG",
            "email": "an.peeters@example.com",
        },
    )
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == DRIVER_KEYS
    assert created == {
        "id": created["id"],
        "name": "An Peeters",
        "employeeNumber": "E-10442",
        "region": "BE-VLG",
        "email": "an.peeters@example.com",
        "created": created["created"],
        "updated": created["created"],
    }
    assert str(UUID(created["id"])) == created["id"]
    assert response.headers["location"] == f"/v1/drivers/{created['id']}"
    fetched = await api.http.get(response.headers["location"])
    assert fetched.status_code == 200, fetched.text
    assert fetched.json() == created


async def test_region_and_email_are_optional(api: TenantApi) -> None:
    created = await create_driver(api)
    assert created["region"] is None
    assert created["email"] is None


async def test_an_employee_number_is_unique_per_tenant(
    api: TenantApi, other_api: TenantApi
) -> None:
    first = await create_driver(api, employeeNumber="E-1")
    body = assert_problem(
        await api.http.post("/v1/drivers", json={"name": "B", "employeeNumber": "E-1"}), 409
    )
    assert "E-1" in body["detail"]
    # Another tenant may use the same number.
    await create_driver(other_api, employeeNumber="E-1")
    second = await create_driver(api, employeeNumber="E-2")
    taken = await api.http.patch(f"/v1/drivers/{second['id']}", json={"employeeNumber": "E-1"})
    assert "E-1" in assert_problem(taken, 409)["detail"]
    # Setting a driver's own number again changes nothing and is no conflict.
    same = await api.http.patch(f"/v1/drivers/{first['id']}", json={"employeeNumber": "E-1"})
    assert same.status_code == 200, same.text
    assert same.json() == first


async def test_the_list_pages_oldest_first_with_continuation_tokens(api: TenantApi) -> None:
    ids = [(await create_driver(api))["id"] for _ in range(3)]
    first = (await api.http.get("/v1/drivers", params={"pageSize": 2})).json()
    assert [item["id"] for item in first["data"]] == ids[:2]
    assert first["meta"]["pageSize"] == 2
    token = first["meta"]["continuationToken"]
    assert token is not None
    next_url = urlsplit(first["links"]["next"])
    assert next_url.path == "/v1/drivers"
    assert parse_qs(next_url.query) == {"pageSize": ["2"], "continuationToken": [token]}
    second = (await api.http.get(f"{next_url.path}?{next_url.query}")).json()
    assert [item["id"] for item in second["data"]] == ids[2:]
    assert second["links"]["next"] is None
    assert second["meta"]["continuationToken"] is None


async def test_a_continuation_token_of_another_list_is_refused(api: TenantApi) -> None:
    for _ in range(2):
        await api.http.post("/v1/webhooks", json={"url": "https://example.com/hook"})
        await create_driver(api)
    webhooks = (await api.http.get("/v1/webhooks", params={"pageSize": 1})).json()
    token = webhooks["meta"]["continuationToken"]
    refused = await api.http.get("/v1/drivers", params={"continuationToken": token})
    assert_problem(refused, 400)
    drivers_page = (await api.http.get("/v1/drivers", params={"pageSize": 1})).json()
    refused = await api.http.get(
        "/v1/webhooks", params={"continuationToken": drivers_page["meta"]["continuationToken"]}
    )
    assert_problem(refused, 400)


async def test_patch_changes_the_fields_given_and_null_clears_region_and_email(
    api: TenantApi,
) -> None:
    created = await create_driver(api, region="BE-VLG", email="a@example.com")
    url = f"/v1/drivers/{created['id']}"
    renamed = await api.http.patch(url, json={"name": "An Janssens", "region": None})
    assert renamed.status_code == 200, renamed.text
    changed = renamed.json()
    assert changed["name"] == "An Janssens"
    assert changed["region"] is None
    assert changed["email"] == "a@example.com"
    assert changed["employeeNumber"] == created["employeeNumber"]
    assert changed["updated"] >= created["updated"]
    assert (await api.http.get(url)).json() == changed
    for field in ("name", "employeeNumber"):
        assert_problem(await api.http.patch(url, json={field: None}), 400, names=[field])


async def test_delete_removes_the_driver_with_assignments_and_plans(
    api: TenantApi, database: Database
) -> None:
    driver = await create_driver(api)
    car = await api.create_entity("EV")
    await assign(api, driver["id"], kind="car", entityId=car["id"], validFrom="2026-10-01")
    plan_id = await insert_plan(database, api.tenant_id)
    planned = await api.http.post(
        f"/v1/drivers/{driver['id']}/rate-plans",
        json={"planId": str(plan_id), "validFrom": "2026-10-01"},
    )
    assert planned.status_code == 201, planned.text
    deleted = await api.http.delete(f"/v1/drivers/{driver['id']}")
    assert deleted.status_code == 204, deleted.text
    assert_problem(await api.http.get(f"/v1/drivers/{driver['id']}"), 404)
    assert_problem(await api.http.delete(f"/v1/drivers/{driver['id']}"), 404)
    async with database.read() as connection:
        for table in (drivers, driver_assignments, driver_rate_plans):
            column = table.c.id if table is drivers else table.c.driver_id
            count = await connection.scalar(
                sa.select(sa.func.count()).select_from(table).where(column == UUID(driver["id"]))
            )
            assert count == 0, table.name
    # The car is free again for another driver.
    other = await create_driver(api)
    await assign(api, other["id"], kind="car", entityId=car["id"], validFrom="2026-10-01")


async def test_a_driver_named_by_a_finalised_statement_cannot_be_deleted(
    api: TenantApi, database: Database
) -> None:
    driver = await create_driver(api)
    await insert_statement(database, api.tenant_id, UUID(driver["id"]))
    body = assert_problem(await api.http.delete(f"/v1/drivers/{driver['id']}"), 409)
    assert "statement" in body["detail"]
    assert (await api.http.get(f"/v1/drivers/{driver['id']}")).status_code == 200


async def test_another_tenants_driver_is_not_found(api: TenantApi, other_api: TenantApi) -> None:
    theirs = await create_driver(other_api)
    url = f"/v1/drivers/{theirs['id']}"
    unknown = f"/v1/drivers/{uuid.uuid4()}"
    for path in (url, unknown):
        detail = assert_problem(await api.http.get(path), 404)["detail"]
        assert "driver" in detail
        assert_problem(await api.http.patch(path, json={"name": "X"}), 404)
        assert_problem(await api.http.delete(path), 404)
        assert_problem(await api.http.get(f"{path}/assignments"), 404)
        assert_problem(await api.http.get(f"{path}/rate-plans"), 404)
        assert_problem(
            await api.http.post(
                f"{path}/assignments",
                json={"kind": "idTag", "idTag": "T1", "validFrom": "2026-10-01"},
            ),
            404,
        )
    assert (await api.http.get("/v1/drivers")).json()["data"] == []
    assert (await other_api.http.get(url)).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"employeeNumber": "E-1"}, "name"),
        ({"name": "A"}, "employeeNumber"),
        ({"name": "", "employeeNumber": "E-1"}, "name"),
        ({"name": "A" * 201, "employeeNumber": "E-1"}, "name"),
        ({"name": "A", "employeeNumber": "E" * 65}, "employeeNumber"),
        ({"name": "A", "employeeNumber": ""}, "employeeNumber"),
        ({"name": "A", "employeeNumber": "E-1", "region": "R" * 33}, "region"),
        ({"name": "A", "employeeNumber": "E-1", "email": "not-an-address"}, "email"),
        ({"name": "A", "employeeNumber": "E-1", "email": "a@" + "b" * 253}, "email"),
        ({"name": "A\x00", "employeeNumber": "E-1"}, "name"),
        ({"name": 12, "employeeNumber": "E-1"}, "name"),
        ({"name": "A", "employeeNumber": "E-1", "nickname": "Anny"}, "nickname"),
    ],
)
async def test_bad_driver_bodies_are_problems_naming_the_field(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    assert_problem(await api.http.post("/v1/drivers", json=body), 400, names=[field])


async def test_a_malformed_driver_id_or_page_size_is_a_problem(api: TenantApi) -> None:
    assert_problem(await api.http.get("/v1/drivers/not-a-uuid"), 400, names=["driverId"])
    assert_problem(await api.http.get("/v1/drivers", params={"pageSize": 0}), 400)
    assert_problem(await api.http.get("/v1/drivers", params={"continuationToken": "x"}), 400)


async def test_drivers_need_the_bearer_token(anonymous: Any) -> None:
    assert_problem(anonymous.get("/v1/drivers"), 401)
    assert_problem(anonymous.post("/v1/drivers", json={"name": "A", "employeeNumber": "1"}), 401)
