"""/v1/rate-plans through the HTTP API: plans with periods, caps, period upserts, deletes,
paging and tenant isolation."""

import uuid
from typing import Any

import pytest

from tests.rate_plans.helpers import Q4_2026, create_plan, plan_body
from tests.support.api import TenantApi
from tests.support.problems import assert_problem

RESOURCE_KEYS = {"id", "name", "currency", "capPlanId", "periods", "created", "updated"}


def period(valid_from: str, valid_to: str | None, **prices: str) -> dict[str, Any]:
    return {"validFrom": valid_from, "validTo": valid_to, "prices": prices}


async def test_a_plan_is_created_with_its_periods_sorted_and_read_back(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/rate-plans",
        json=plan_body(
            periods=[
                period("2027-01-01", None, t1="0.31", t2="0.25", t3="0.2", t4="0.1"),
                period("2026-10-01", "2027-01-01", t1="0.30", t2="0.2400", t3="0", t4="0.123456"),
            ]
        ),
    )

    assert response.status_code == 201, response.text
    plan = response.json()
    assert set(plan) == RESOURCE_KEYS
    assert response.headers["Location"] == f"/v1/rate-plans/{plan['id']}"
    assert plan["name"] == "Contract price"
    assert plan["currency"] == "EUR"
    assert plan["capPlanId"] is None
    assert plan["periods"] == [
        period("2026-10-01", "2027-01-01", t1="0.3", t2="0.24", t3="0", t4="0.123456"),
        period("2027-01-01", None, t1="0.31", t2="0.25", t3="0.2", t4="0.1"),
    ]
    assert plan["created"] == plan["updated"]
    fetched = await api.http.get(f"/v1/rate-plans/{plan['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == plan


async def test_a_flat_plan_gives_t1_price_to_every_register(api: TenantApi) -> None:
    plan = await create_plan(api, periods=[{**Q4_2026, "prices": {"t1": "0.2845"}}])

    assert plan["periods"] == [
        period("2026-10-01", "2027-01-01", t1="0.2845", t2="0.2845", t3="0.2845", t4="0.2845")
    ]


@pytest.mark.parametrize("price", [0.2845, 1, True])
async def test_a_price_given_as_a_json_number_is_refused(api: TenantApi, price: object) -> None:
    response = await api.http.post(
        "/v1/rate-plans",
        json=plan_body(periods=[{**Q4_2026, "prices": {"t1": "0.30", "t2": price}}]),
    )

    body = assert_problem(response, 400, names=["periods.0.prices.t2"])
    assert 'give prices as strings, e.g. \\"0.2845\\"' in response.text
    assert 'give prices as strings, e.g. "0.2845"' in body["detail"]


@pytest.mark.parametrize(
    ("price", "why"),
    [
        ("-0.01", "outside 0..1000"),
        ("1000.01", "outside 0..1000"),
        ("0.1234567", "more than 6 decimals"),
        ("0,28", "not a decimal number"),
        ("NaN", "not a decimal number"),
    ],
)
async def test_a_price_out_of_range_or_malformed_is_refused(
    api: TenantApi, price: str, why: str
) -> None:
    response = await api.http.post(
        "/v1/rate-plans", json=plan_body(periods=[{**Q4_2026, "prices": {"t1": price}}])
    )

    body = assert_problem(response, 400, names=["periods.0.prices.t1"])
    assert why in body["detail"]


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"name": ""}, "name"),
        ({"periods": [{"validFrom": "2026-10-1", "prices": {"t1": "1"}}]}, "periods.0.validFrom"),
        ({"periods": [{"validFrom": "2026-02-30", "prices": {"t1": "1"}}]}, "periods.0.validFrom"),
        ({"periods": [{"validFrom": "2026-10-01", "prices": {}}]}, "periods.0.prices.t1"),
        (
            {"periods": [{"validFrom": "2026-10-01", "prices": {"t5": "1", "t1": "1"}}]},
            "periods.0.prices.t5",
        ),
    ],
)
async def test_bad_fields_are_refused_naming_them(
    api: TenantApi, fields: dict[str, Any], name: str
) -> None:
    response = await api.http.post("/v1/rate-plans", json=plan_body(**fields))

    assert_problem(response, 400, names=[name])


async def test_overlapping_periods_are_refused_naming_the_dates(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/rate-plans",
        json=plan_body(
            periods=[
                period("2026-10-01", None, t1="0.30"),
                period("2026-12-01", "2027-01-01", t1="0.31"),
            ]
        ),
    )

    body = assert_problem(response, 400, names=["periods"])
    assert "2026-10-01" in body["detail"]
    assert "2026-12-01" in body["detail"]
    assert (await api.http.get("/v1/rate-plans")).json()["data"] == []


async def test_a_period_ending_before_it_starts_is_refused(api: TenantApi) -> None:
    response = await api.http.post(
        "/v1/rate-plans", json=plan_body(periods=[period("2026-10-01", "2026-10-01", t1="1")])
    )

    body = assert_problem(response, 400)
    assert "ends on 2026-10-01" in body["detail"]


async def test_a_cap_must_be_in_the_same_currency(api: TenantApi) -> None:
    pounds = await create_plan(api, name="UK maximum", currency="GBP")

    response = await api.http.post(
        "/v1/rate-plans", json=plan_body(currency="EUR", capPlanId=pounds["id"])
    )

    body = assert_problem(response, 400, names=["capPlanId"])
    assert "GBP" in body["detail"]
    assert "EUR" in body["detail"]
    euros = await create_plan(api, currency="EUR")
    patched = await api.http.patch(
        f"/v1/rate-plans/{euros['id']}", json={"capPlanId": pounds["id"]}
    )
    assert_problem(patched, 400, names=["capPlanId"])


async def test_a_plan_capped_by_another_shows_it_and_the_cap_can_be_removed(
    api: TenantApi,
) -> None:
    maximum = await create_plan(api, name="CREG maximum Flanders")
    contract = await create_plan(api, capPlanId=maximum["id"])
    assert contract["capPlanId"] == maximum["id"]

    removed = await api.http.patch(f"/v1/rate-plans/{contract['id']}", json={"capPlanId": None})

    assert removed.status_code == 200, removed.text
    assert removed.json()["capPlanId"] is None
    assert removed.json()["updated"] >= contract["updated"]


async def test_a_cycle_of_caps_is_refused(api: TenantApi) -> None:
    a = await create_plan(api, name="A")
    b = await create_plan(api, name="B", capPlanId=a["id"])
    c = await create_plan(api, name="C", capPlanId=b["id"])

    itself = await api.http.patch(f"/v1/rate-plans/{a['id']}", json={"capPlanId": a["id"]})
    through_others = await api.http.patch(f"/v1/rate-plans/{a['id']}", json={"capPlanId": c["id"]})

    for response in (itself, through_others):
        body = assert_problem(response, 400, names=["capPlanId"])
        assert "capped by itself" in body["detail"]
    assert (await api.http.get(f"/v1/rate-plans/{a['id']}")).json()["capPlanId"] is None


async def test_an_unknown_cap_is_not_found(api: TenantApi) -> None:
    unknown = uuid.uuid4()
    response = await api.http.post("/v1/rate-plans", json=plan_body(capPlanId=str(unknown)))

    body = assert_problem(response, 404)
    assert body["detail"] == f"rate plan {unknown} was not found"


async def test_patch_renames_and_refuses_a_null_name(api: TenantApi) -> None:
    plan = await create_plan(api)

    renamed = await api.http.patch(f"/v1/rate-plans/{plan['id']}", json={"name": "New name"})
    nulled = await api.http.patch(f"/v1/rate-plans/{plan['id']}", json={"name": None})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["name"] == "New name"
    assert_problem(nulled, 400, names=["name"])


async def test_a_period_is_created_replaced_and_deleted_by_its_start(api: TenantApi) -> None:
    plan = await create_plan(api, periods=[period("2026-07-01", "2026-10-01", t1="0.29")])
    url = f"/v1/rate-plans/{plan['id']}/periods/2026-10-01"

    created = await api.http.put(url, json={"validTo": "2027-01-01", "prices": {"t1": "0.30"}})
    assert created.status_code == 200, created.text
    assert [p["validFrom"] for p in created.json()["periods"]] == ["2026-07-01", "2026-10-01"]

    replaced = await api.http.put(url, json={"prices": {"t1": "0.31", "t2": "0.22"}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["periods"][1] == period(
        "2026-10-01", None, t1="0.31", t2="0.22", t3="0.31", t4="0.31"
    )

    deleted = await api.http.delete(url)
    assert deleted.status_code == 204, deleted.text
    remaining = (await api.http.get(f"/v1/rate-plans/{plan['id']}")).json()["periods"]
    assert [p["validFrom"] for p in remaining] == ["2026-07-01"]
    again = await api.http.delete(url)
    body = assert_problem(again, 404)
    assert "no period from 2026-10-01" in body["detail"]


async def test_a_period_overlapping_a_stored_one_is_a_conflict(api: TenantApi) -> None:
    plan = await create_plan(api, periods=[period("2026-10-01", None, t1="0.30")])

    response = await api.http.put(
        f"/v1/rate-plans/{plan['id']}/periods/2027-01-01", json={"prices": {"t1": "0.31"}}
    )

    body = assert_problem(response, 409)
    assert "2026-10-01" in body["detail"]
    assert "2027-01-01" in body["detail"]
    stored = (await api.http.get(f"/v1/rate-plans/{plan['id']}")).json()["periods"]
    assert [p["validFrom"] for p in stored] == ["2026-10-01"]


@pytest.mark.parametrize("start", ["2026-13-01", "20261001", "yesterday"])
async def test_a_bad_period_start_in_the_path_is_refused(api: TenantApi, start: str) -> None:
    plan = await create_plan(api)

    put = await api.http.put(
        f"/v1/rate-plans/{plan['id']}/periods/{start}", json={"prices": {"t1": "1"}}
    )
    delete = await api.http.delete(f"/v1/rate-plans/{plan['id']}/periods/{start}")

    assert_problem(put, 400, names=["validFrom"])
    assert_problem(delete, 400, names=["validFrom"])


async def test_a_plan_capping_another_cannot_be_deleted_until_uncapped(api: TenantApi) -> None:
    maximum = await create_plan(api, name="CREG maximum Wallonia")
    contract = await create_plan(api, name="Contract", capPlanId=maximum["id"])

    refused = await api.http.delete(f"/v1/rate-plans/{maximum['id']}")
    body = assert_problem(refused, 409)
    assert "'Contract'" in body["detail"]

    await api.http.patch(f"/v1/rate-plans/{contract['id']}", json={"capPlanId": None})
    deleted = await api.http.delete(f"/v1/rate-plans/{maximum['id']}")
    assert deleted.status_code == 204, deleted.text
    assert_problem(await api.http.get(f"/v1/rate-plans/{maximum['id']}"), 404)


async def test_the_list_is_paged_oldest_first(api: TenantApi) -> None:
    created = [await create_plan(api, name=f"plan {n}") for n in range(3)]

    first = await api.http.get("/v1/rate-plans", params={"pageSize": 2})
    assert first.status_code == 200, first.text
    page = first.json()
    assert [plan["id"] for plan in page["data"]] == [plan["id"] for plan in created[:2]]
    assert page["meta"]["pageSize"] == 2
    assert page["links"]["next"] is not None
    second = await api.http.get(page["links"]["next"])
    assert second.status_code == 200, second.text
    assert second.json()["data"] == [created[2]]
    assert second.json()["links"]["next"] is None
    assert second.json()["meta"]["continuationToken"] is None


async def test_another_tenants_plan_is_not_found_and_cannot_be_a_cap(
    api: TenantApi, other_api: TenantApi
) -> None:
    theirs = await create_plan(other_api, periods=[period("2026-10-01", None, t1="0.3")])
    url = f"/v1/rate-plans/{theirs['id']}"
    not_found = f"rate plan {theirs['id']} was not found"

    answers = [
        await api.http.get(url),
        await api.http.patch(url, json={"name": "mine"}),
        await api.http.delete(url),
        await api.http.put(f"{url}/periods/2027-01-01", json={"prices": {"t1": "1"}}),
        await api.http.delete(f"{url}/periods/2026-10-01"),
        await api.http.post("/v1/rate-plans", json=plan_body(capPlanId=theirs["id"])),
    ]

    for response in answers:
        assert assert_problem(response, 404)["detail"] == not_found
    assert (await api.http.get("/v1/rate-plans")).json()["data"] == []
    assert (await other_api.http.get(url)).json() == theirs


async def test_another_tenants_continuation_token_is_refused(
    api: TenantApi, other_api: TenantApi
) -> None:
    for n in range(2):
        await create_plan(other_api, name=f"plan {n}")
    token = (await other_api.http.get("/v1/rate-plans", params={"pageSize": 1})).json()["meta"][
        "continuationToken"
    ]

    response = await api.http.get("/v1/rate-plans", params={"continuationToken": token})

    assert_problem(response, 400)
