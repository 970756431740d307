"""POST /v1/rate-plans/import: the CSV file creates and updates plans, all or nothing."""

import pytest

from tests.rate_plans.helpers import create_plan, import_csv
from tests.support.api import TenantApi
from tests.support.problems import assert_problem

HEADER = "plan,currency,valid_from,valid_to,t1_price_per_kwh,t2_price_per_kwh\n"
# The CREG maximum per region for one quarter (prices illustrative but for Flanders').
CREG_Q4 = HEADER + (
    "CREG maximum Flanders,EUR,2026-10-01,2027-01-01,0.2845,0.2845\n"
    "CREG maximum Wallonia,EUR,2026-10-01,2027-01-01,0.3012,0.2511\n"
    "CREG maximum Brussels,EUR,2026-10-01,2027-01-01,0.2933,0.2410\n"
)
CREG_Q1 = HEADER + (
    "CREG maximum Flanders,EUR,2027-01-01,2027-04-01,0.2790,0.2790\n"
    "CREG maximum Wallonia,EUR,2027-01-01,2027-04-01,0.2950,0.2450\n"
    "CREG maximum Brussels,EUR,2026-10-01,2027-01-01,0.2900,0.2400\n"
    "CREG maximum Brussels,EUR,2027-01-01,,0.2880,0.2380\n"
)


async def plans_by_name(api: TenantApi) -> dict[str, dict]:  # type: ignore[type-arg]
    data = (await api.http.get("/v1/rate-plans", params={"pageSize": 100})).json()["data"]
    return {plan["name"]: plan for plan in data}


async def test_the_creg_file_creates_a_plan_per_region(api: TenantApi) -> None:
    response = await import_csv(api, CREG_Q4)

    assert response.status_code == 200, response.text
    imported = response.json()["plans"]
    assert [(p["name"], p["created"], p["periodsImported"]) for p in imported] == [
        ("CREG maximum Flanders", True, 1),
        ("CREG maximum Wallonia", True, 1),
        ("CREG maximum Brussels", True, 1),
    ]
    plans = await plans_by_name(api)
    assert {name: plan["id"] for name, plan in plans.items()} == {
        p["name"]: p["id"] for p in imported
    }
    wallonia = plans["CREG maximum Wallonia"]
    assert wallonia["currency"] == "EUR"
    assert wallonia["capPlanId"] is None
    assert wallonia["periods"] == [
        {
            "validFrom": "2026-10-01",
            "validTo": "2027-01-01",
            "prices": {"t1": "0.3012", "t2": "0.2511", "t3": "0.3012", "t4": "0.3012"},
        }
    ]


async def test_a_second_file_adds_periods_and_replaces_those_with_the_same_start(
    api: TenantApi,
) -> None:
    first = (await import_csv(api, CREG_Q4)).json()["plans"]

    response = await import_csv(api, CREG_Q1)

    assert response.status_code == 200, response.text
    second = response.json()["plans"]
    assert [(p["id"], p["created"], p["periodsImported"]) for p in second] == [
        (first[0]["id"], False, 1),
        (first[1]["id"], False, 1),
        (first[2]["id"], False, 2),
    ]
    plans = await plans_by_name(api)
    assert len(plans) == 3
    assert [(p["validFrom"], p["validTo"]) for p in plans["CREG maximum Flanders"]["periods"]] == [
        ("2026-10-01", "2027-01-01"),
        ("2027-01-01", "2027-04-01"),
    ]
    brussels = plans["CREG maximum Brussels"]["periods"]
    assert [(p["validFrom"], p["validTo"], p["prices"]["t1"]) for p in brussels] == [
        ("2026-10-01", "2027-01-01", "0.29"),  # replaced: 0.2933 before
        ("2027-01-01", None, "0.288"),
    ]


async def test_a_bad_row_refuses_the_whole_file_and_stores_nothing(api: TenantApi) -> None:
    await import_csv(api, CREG_Q4)
    before = await plans_by_name(api)
    bad = HEADER + (
        "CREG maximum Flanders,EUR,2027-01-01,2027-04-01,0.2790,0.2790\n"
        "New plan,EUR,2027-01-01,2027-04-01,0.30,0.30\n"
        "CREG maximum Wallonia,EUR,2027-01-01,2027-04-01,0.29x,0.2450\n"
    )

    response = await import_csv(api, bad)

    body = assert_problem(response, 400)
    assert body["detail"].startswith(
        "row 4, column t1_price_per_kwh: '0.29x' is not a decimal number"
    )
    assert "Nothing was imported" in body["detail"]
    assert await plans_by_name(api) == before


async def test_every_bad_row_is_reported_with_its_row_and_column(api: TenantApi) -> None:
    bad = (
        "plan,currency,valid_from,valid_to,t1_price_per_kwh,t3_price_per_kwh\n"
        ",EUR,2026-10-01,,0.3,\n"
        "A,XYZ,2026-10-01,,0.3,\n"
        "B,EUR,2026-10-32,,0.3,\n"
        "C,EUR,2026-10-01,2026-09-01,0.3,\n"
        "D,EUR,2026-10-01,,,0.2\n"
        "E,EUR,2026-10-01,,0.3,-1\n"
        "F,EUR,2026-10-01\n"
    )

    response = await import_csv(api, bad)

    detail = assert_problem(response, 400)["detail"]
    for expected in (
        "row 2, column plan: the plan's name is required",
        "row 3, column currency: 'XYZ' is not an ISO 4217 code",
        "row 4, column valid_from: 2026-10-32 is not a date of the calendar",
        "row 5, column valid_to: 2026-09-01 is not after valid_from (2026-10-01)",
        "row 6, column t1_price_per_kwh: the price is required",
        "row 7, column t3_price_per_kwh: -1 is outside 0..1000",
        "row 8: has 3 values, the header 6 columns",
    ):
        assert expected in detail, detail
    assert await plans_by_name(api) == {}


async def test_a_file_with_a_byte_order_mark_and_crlf_lines_is_read(api: TenantApi) -> None:
    text = CREG_Q4.replace("\n", "\r\n")

    response = await import_csv(api, b"\xef\xbb\xbf" + text.encode(), "text/csv; charset=utf-8")

    assert response.status_code == 200, response.text
    assert len(response.json()["plans"]) == 3
    assert "CREG maximum Flanders" in await plans_by_name(api)


async def test_columns_in_any_order_quoted_values_and_blank_lines_are_accepted(
    api: TenantApi,
) -> None:
    text = (
        " T1_Price_Per_KWh ,valid_from,plan,currency\n"
        '0.25,2026-10-01,"Contract, Leuven",EUR\n'
        "\n"
        ",,,\n"
    )

    response = await import_csv(api, text)

    assert response.status_code == 200, response.text
    plan = (await plans_by_name(api))["Contract, Leuven"]
    assert plan["periods"][0]["prices"] == {"t1": "0.25", "t2": "0.25", "t3": "0.25", "t4": "0.25"}
    assert plan["periods"][0]["validTo"] is None


async def test_unknown_columns_are_refused_naming_them(api: TenantApi) -> None:
    response = await import_csv(api, "plan,currency,valid_from,t1_price_per_kwh,price,region\n")

    detail = assert_problem(response, 400)["detail"]
    assert "unknown columns 'price', 'region'" in detail


async def test_a_semicolon_separated_file_is_refused_with_a_hint(api: TenantApi) -> None:
    response = await import_csv(
        api, "plan;currency;valid_from;t1_price_per_kwh\nA;EUR;2026-10-01;1\n"
    )

    assert "separated by commas" in assert_problem(response, 400)["detail"]


async def test_a_missing_required_column_is_refused(api: TenantApi) -> None:
    response = await import_csv(api, "plan,valid_from,t1_price_per_kwh\nA,2026-10-01,0.3\n")

    assert "the required column currency is missing" in assert_problem(response, 400)["detail"]


async def test_one_plan_in_two_currencies_is_refused(api: TenantApi) -> None:
    text = HEADER + "A,EUR,2026-10-01,2027-01-01,0.3,0.3\nA,GBP,2027-01-01,,0.3,0.3\n"

    detail = assert_problem(await import_csv(api, text), 400)["detail"]

    assert "row 3, column currency: plan 'A' is in EUR on row 2" in detail


async def test_a_plan_stored_in_another_currency_is_refused(api: TenantApi) -> None:
    await create_plan(api, name="A", currency="GBP")

    response = await import_csv(api, HEADER + "A,EUR,2026-10-01,,0.3,0.3\n")

    assert (
        "row 2, column currency: plan 'A' exists in GBP, not EUR"
        in (assert_problem(response, 400)["detail"])
    )


async def test_overlapping_periods_in_the_file_or_with_stored_ones_are_refused(
    api: TenantApi,
) -> None:
    in_file = HEADER + "A,EUR,2026-10-01,,0.3,0.3\nA,EUR,2027-01-01,,0.3,0.3\n"
    detail = assert_problem(await import_csv(api, in_file), 400)["detail"]
    assert "row 3, column valid_from: plan 'A': the periods from 2026-10-01" in detail

    await import_csv(api, HEADER + "B,EUR,2026-10-01,,0.3,0.3\n")
    with_stored = HEADER + "B,EUR,2027-01-01,,0.3,0.3\n"
    detail = assert_problem(await import_csv(api, with_stored), 400)["detail"]
    assert "row 2, column valid_from: plan 'B'" in detail
    assert "stored, not replaced by the file" in detail
    assert (await plans_by_name(api))["B"]["periods"][0]["validTo"] is None

    # Ending the stored open period in the same file makes room for the next one.
    fixed = HEADER + "B,EUR,2026-10-01,2027-01-01,0.3,0.3\nB,EUR,2027-01-01,,0.31,0.31\n"
    assert (await import_csv(api, fixed)).status_code == 200


async def test_the_same_period_twice_in_the_file_is_refused(api: TenantApi) -> None:
    text = HEADER + "A,EUR,2026-10-01,,0.3,0.3\nA,EUR,2026-10-01,,0.31,0.31\n"

    detail = assert_problem(await import_csv(api, text), 400)["detail"]

    assert "row 3, column valid_from: plan 'A' has a period from 2026-10-01 on row 2" in detail


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "the file is empty"),
        (HEADER.encode(), "no rows after its header"),
        (HEADER.encode() + b"Caf\xe9,EUR,2026-10-01,,1,1\n", "not UTF-8: line 2"),
        (HEADER.encode() + b'"A,EUR,2026-10-01,,1,1\n', "not readable as CSV"),
        (HEADER.encode() + b"A\x00,EUR,2026-10-01,,1,1\n", "NUL"),
    ],
)
async def test_unreadable_files_are_refused(api: TenantApi, content: bytes, why: str) -> None:
    assert why in assert_problem(await import_csv(api, content), 400)["detail"]


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "text/csv; charset=latin-1"]
)
async def test_other_media_types_are_refused(api: TenantApi, content_type: str) -> None:
    assert_problem(await import_csv(api, CREG_Q4, content_type), 415)


async def test_a_file_over_one_mib_is_refused(api: TenantApi) -> None:
    line = "CREG maximum Flanders,EUR,2026-10-01,2027-01-01,0.2845,0.2845\n"
    text = HEADER + line * (1024 * 1024 // len(line) + 1)

    assert_problem(await import_csv(api, text), 413)


async def test_imports_see_only_the_callers_plans(api: TenantApi, other_api: TenantApi) -> None:
    theirs = await create_plan(other_api, name="CREG maximum Flanders", currency="GBP")

    response = await import_csv(api, CREG_Q4)

    assert response.status_code == 200, response.text
    assert all(plan["created"] for plan in response.json()["plans"])
    assert (await other_api.http.get(f"/v1/rate-plans/{theirs['id']}")).json() == theirs
    assert list(await plans_by_name(other_api)) == ["CREG maximum Flanders"]
