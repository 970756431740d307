"""The statements API over HTTP against the real server: draft, finalise, the finalised
statement byte for byte, the list, the event, exports, and every refusal as problem+json.
Sessions are posted through the charge-sessions API; drivers and plans are written straight
into the tables (their own APIs are tested in tests/drivers and tests/rate_plans)."""

import csv
import hashlib
import io
from typing import Any
from uuid import UUID, uuid4

import orjson
import pytest

from chargeledger.storage.database import Database
from tests.statements.builders import Fleet
from tests.support.api import TenantApi, session_body
from tests.support.problems import assert_problem

HOME = (50.87405, 4.70043)


async def driver_at_home(
    api: TenantApi, database: Database, *, price: str = "0.30", plan_from: str = "2026-01-01"
) -> tuple[UUID, str]:
    """(driver id, car id): a car with a Home location, assigned to a new driver with a plan."""
    car = await api.create_entity("EV", name="company car")
    await api.create_location(car["id"], label="Home", radius=60)
    async with database.write() as connection:
        fleet = await Fleet.create(connection, api.tenant_id)
        driver_id = await fleet.driver("An Peeters", employee_number=f"E/{uuid4().hex[:6]}")
        await fleet.assign(driver_id, "car", entity_id=UUID(car["id"]))
        plan_id = await fleet.plan([(plan_from, None, {"t1": "0.30", "t2": "0.20"})])
        await fleet.give_plan(driver_id, plan_id)
    return driver_id, car["id"]


async def post_home_session(
    api: TenantApi, car_id: str, external_id: str, start: str, end: str, **fields: Any
) -> dict[str, Any]:
    response = await api.post_session(
        car_id, session_body(external_id, start, end, position=HOME, accuracy_m=5, **fields)
    )
    assert response.status_code in (200, 201), response.text
    session: dict[str, Any] = response.json()
    return session


def canonical_hash(document: dict[str, Any]) -> str:
    without = {key: value for key, value in document.items() if key != "contentSha256"}
    return hashlib.sha256(orjson.dumps(without, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def test_draft_finalise_and_read_back_byte_for_byte(
    api: TenantApi, database: Database
) -> None:
    """Two October sessions posted with t1/t2: 8 + 2 kWh and 4 + 0 kWh; day 0.30, night 0.20:
    8 x 0.30 + 2 x 0.20 = 2.40 + 0.40 = 2.80, and 4 x 0.30 = 1.20; total 4.00. The draft's
    hash finalises it; GET /v1/statements/{id} answers the very bytes POST did."""
    driver_id, car_id = await driver_at_home(api, database)
    await post_home_session(
        api,
        car_id,
        "a",
        "2026-10-05T17:00:00Z",
        "2026-10-05T21:00:00Z",
        total_kwh=10.0,
        tiers_kwh=(8.0, 2.0, 0.0, 0.0),
    )
    await post_home_session(
        api, car_id, "b", "2026-10-07T17:00:00Z", "2026-10-07T19:00:00Z", total_kwh=4.0
    )

    drafted = await api.http.get(
        f"/v1/drivers/{driver_id}/statements/draft", params={"period": "2026-10"}
    )

    assert drafted.status_code == 200, drafted.text
    assert drafted.headers["content-type"] == "application/json"
    draft = drafted.json()
    assert draft["contentSha256"] == canonical_hash(draft)
    assert [line["amount"] for line in draft["lines"]] == ["2.80", "1.20"]
    assert draft["totals"]["amount"] == "4.00"
    assert draft["status"] == "draft"

    posted = await api.http.post(
        f"/v1/drivers/{driver_id}/statements",
        json={"period": "2026-10", "expectedContentSha256": draft["contentSha256"]},
    )

    assert posted.status_code == 201, posted.text
    statement = posted.json()
    assert statement["status"] == "finalised"
    assert statement["number"].startswith("2026-")
    assert statement["totals"]["amount"] == "4.00"
    assert statement["contentSha256"] == canonical_hash(statement)
    assert posted.headers["location"] == f"/v1/statements/{statement['id']}"
    fetched = await api.http.get(posted.headers["location"])
    assert fetched.status_code == 200
    assert fetched.content == posted.content

    listed = await api.http.get("/v1/statements", params={"driverId": str(driver_id)})
    assert listed.status_code == 200
    assert listed.json() == {
        "data": [
            {
                "id": statement["id"],
                "number": statement["number"],
                "driverId": str(driver_id),
                "period": {"start": "2026-10-01", "end": "2026-11-01"},
                "currency": "EUR",
                "totalAmount": "4.00",
                "finalised": statement["finalised"],
                "contentSha256": statement["contentSha256"],
            }
        ],
        "links": {"next": None},
        "meta": {"continuationToken": None, "pageSize": 25},
    }

    events = await api.http.get("/v1/events", params={"type": "statement.finalised"})
    assert events.status_code == 200
    (event,) = events.json()["data"]
    assert event["data"] == {
        "statementId": statement["id"],
        "number": statement["number"],
        "driverId": str(driver_id),
        "period": {"start": "2026-10-01", "end": "2026-11-01"},
        "currency": "EUR",
        "totalAmount": "4.00",
        "contentSha256": statement["contentSha256"],
    }


async def test_a_correction_over_http_leaves_october_as_it_was(
    api: TenantApi, database: Database
) -> None:
    """October finalised with 10 kWh (3.00); the session is posted again with 12 kWh: the
    November draft settles +2.000 kWh and 12 x 0.30 - 3.00 = +0.60 against October's number;
    October's statement answers the same bytes as before."""
    driver_id, car_id = await driver_at_home(api, database)
    await post_home_session(
        api, car_id, "s", "2026-10-05T17:00:00Z", "2026-10-05T20:00:00Z", total_kwh=10.0
    )
    posted = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})
    assert posted.status_code == 201, posted.text
    before = await api.http.get(posted.headers["location"])

    await post_home_session(
        api, car_id, "s", "2026-10-05T17:00:00Z", "2026-10-05T20:00:00Z", total_kwh=12.0
    )
    november = await api.http.get(
        f"/v1/drivers/{driver_id}/statements/draft", params={"period": "2026-11"}
    )

    (line,) = november.json()["lines"]
    assert (line["kind"], line["energy"]["total"], line["amount"]) == (
        "adjustment",
        "2.000",
        "0.60",
    )
    assert line["adjusts"] == {
        "statementId": posted.json()["id"],
        "number": posted.json()["number"],
    }
    after = await api.http.get(posted.headers["location"])
    assert after.content == before.content == posted.content


async def test_finalising_twice_or_overlapping_is_409(api: TenantApi, database: Database) -> None:
    driver_id, _ = await driver_at_home(api, database)
    first = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})
    assert first.status_code == 201, first.text

    for period in ("2026-10", "2026-Q4", "2026-10-31/2026-11-02"):
        again = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": period})
        body = assert_problem(again, 409)
        assert first.json()["number"] in body["detail"]


async def test_a_draft_with_a_missing_rate_lists_it_and_cannot_be_finalised(
    api: TenantApi, database: Database
) -> None:
    driver_id, car_id = await driver_at_home(api, database, plan_from="2026-10-15")
    await post_home_session(api, car_id, "early", "2026-10-03T17:00:00Z", "2026-10-03T18:00:00Z")

    draft = (
        await api.http.get(
            f"/v1/drivers/{driver_id}/statements/draft", params={"period": "2026-10"}
        )
    ).json()
    refused = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})

    assert draft["problems"] == [
        "line 1: rate plan 'Employee contract' has no price for 2026-10-03"
    ]
    body = assert_problem(refused, 409)
    assert "no price for 2026-10-03" in body["detail"]
    assert (await api.http.get("/v1/statements")).json()["data"] == []


async def test_an_expected_hash_that_is_no_longer_the_drafts_is_409(
    api: TenantApi, database: Database
) -> None:
    driver_id, car_id = await driver_at_home(api, database)
    draft = (
        await api.http.get(
            f"/v1/drivers/{driver_id}/statements/draft", params={"period": "2026-10"}
        )
    ).json()
    await post_home_session(api, car_id, "new", "2026-10-03T17:00:00Z", "2026-10-03T18:00:00Z")

    refused = await api.http.post(
        f"/v1/drivers/{driver_id}/statements",
        json={"period": "2026-10", "expectedContentSha256": draft["contentSha256"]},
    )

    body = assert_problem(refused, 409)
    assert draft["contentSha256"] in body["detail"]


@pytest.mark.parametrize(
    ("period", "why"),
    [
        ("2026-13", "no month 13"),
        ("2026/10", '"2026-Q4"'),
        ("last month", '"2026-Q4"'),
        ("2026-01-01/2027-06-01", "at most 366 days"),
        ("", '"2026-Q4"'),
    ],
)
async def test_a_bad_period_is_400_saying_why(
    api: TenantApi, database: Database, period: str, why: str
) -> None:
    driver_id, _ = await driver_at_home(api, database)

    drafted = await api.http.get(
        f"/v1/drivers/{driver_id}/statements/draft", params={"period": period}
    )
    posted = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": period})

    body = assert_problem(drafted, 400, names=["period"])
    assert body["errors"][0]["in"] == "query"
    posted_body = assert_problem(posted, 400, names=["period"])
    assert posted_body["errors"][0]["in"] == "body"
    assert why in body["detail"]
    assert why in posted_body["detail"]


@pytest.mark.parametrize(
    "body",
    [
        {"period": "2026-10", "expectedContentSha256": "abc"},
        {"period": "2026-10", "expectedContentSha256": "z" * 64},
        {"period": 202610},
        {"period": "2026-10", "extra": True},
        {},
    ],
)
async def test_a_bad_finalise_body_is_400(
    api: TenantApi, database: Database, body: dict[str, Any]
) -> None:
    driver_id, _ = await driver_at_home(api, database)

    response = await api.http.post(f"/v1/drivers/{driver_id}/statements", json=body)

    assert_problem(response, 400)


async def test_unknown_and_other_tenants_drivers_and_statements_are_404(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    driver_id, _ = await driver_at_home(api, database)
    posted = await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})
    statement_id = posted.json()["id"]

    for client, driver, statement in (
        (api, uuid4(), uuid4()),
        (other_api, driver_id, statement_id),
    ):
        draft = await client.http.get(
            f"/v1/drivers/{driver}/statements/draft", params={"period": "2026-10"}
        )
        assert_problem(draft, 404)
        assert_problem(
            await client.http.post(f"/v1/drivers/{driver}/statements", json={"period": "2026-10"}),
            404,
        )
        assert_problem(await client.http.get(f"/v1/statements/{statement}"), 404)
        assert_problem(
            await client.http.get(f"/v1/statements/{statement}/export", params={"format": "csv"}),
            404,
        )
    assert (await other_api.http.get("/v1/statements")).json()["data"] == []
    assert (await other_api.http.get("/v1/statements", params={"driverId": str(driver_id)})).json()[
        "data"
    ] == []


async def test_the_list_pages_in_order_of_period_then_driver_and_filters(
    api: TenantApi, database: Database
) -> None:
    an, _ = await driver_at_home(api, database)
    bart, _ = await driver_at_home(api, database)
    for driver, period in ((an, "2026-09"), (an, "2026-10"), (bart, "2026-10")):
        created = await api.http.post(f"/v1/drivers/{driver}/statements", json={"period": period})
        assert created.status_code == 201, created.text

    first = (await api.http.get("/v1/statements", params={"pageSize": 2})).json()
    second = (await api.http.get(first["links"]["next"])).json()
    october = (await api.http.get("/v1/statements", params={"periodStart": "2026-10-01"})).json()
    bad = await api.http.get("/v1/statements", params={"periodStart": "2026-10-32"})
    foreign = await api.http.get(
        "/v1/statements",
        params={"driverId": str(an), "continuationToken": first["meta"]["continuationToken"]},
    )

    listed = [
        (item["driverId"], item["period"]["start"]) for item in first["data"] + second["data"]
    ]
    october_drivers = sorted([str(an), str(bart)])
    assert listed == [
        (str(an), "2026-09-01"),
        *((driver, "2026-10-01") for driver in october_drivers),
    ]
    assert second["links"]["next"] is None
    assert [item["driverId"] for item in october["data"]] == october_drivers
    assert_problem(bad, 400, names=["periodStart"])
    for not_a_date in ("2026-10-01T00:00:00", "1790000000", "01/10/2026"):
        refused = await api.http.get("/v1/statements", params={"periodStart": not_a_date})
        assert_problem(refused, 400, names=["periodStart"])
    assert_problem(foreign, 400)  # a token of the unfiltered list is not one of this list


async def test_exports_of_a_finalised_statement_and_of_a_draft(
    api: TenantApi, database: Database
) -> None:
    """The CSV of a finalised statement has its lines and a total row with the document's
    total; XLSX and PDF are what their signatures say. File names carry the number (or
    'draft') and the employee number made safe for a header ('/' -> '_')."""
    driver_id, car_id = await driver_at_home(api, database)
    await post_home_session(
        api, car_id, "a", "2026-10-05T17:00:00Z", "2026-10-05T20:00:00Z", total_kwh=10.0
    )
    statement = (
        await api.http.post(f"/v1/drivers/{driver_id}/statements", json={"period": "2026-10"})
    ).json()
    employee = statement["driver"]["employeeNumber"].replace("/", "_")

    as_csv = await api.http.get(
        f"/v1/statements/{statement['id']}/export", params={"format": "csv"}
    )
    as_xlsx = await api.http.get(
        f"/v1/statements/{statement['id']}/export", params={"format": "xlsx"}
    )
    as_pdf = await api.http.get(
        f"/v1/statements/{statement['id']}/export", params={"format": "pdf"}
    )
    draft_pdf = await api.http.get(
        f"/v1/drivers/{driver_id}/statements/draft/export",
        params={"period": "2026-11", "format": "pdf"},
    )
    refused = await api.http.get(
        f"/v1/statements/{statement['id']}/export", params={"format": "docx"}
    )

    assert as_csv.status_code == 200, as_csv.text
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    assert as_csv.headers["content-disposition"] == (
        f'attachment; filename="statement-{statement["number"]}-{employee}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert "3.00" in {value for row in rows for value in row.values()}
    assert rows[-1]["kind"] == "total"
    assert rows[-1]["amount"] == statement["totals"]["amount"] == "3.00"
    assert as_xlsx.status_code == 200
    assert as_xlsx.headers["content-type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert as_xlsx.content[:2] == b"PK"
    assert as_pdf.status_code == 200
    assert as_pdf.headers["content-type"] == "application/pdf"
    assert as_pdf.content.startswith(b"%PDF")
    assert draft_pdf.status_code == 200
    assert draft_pdf.content.startswith(b"%PDF")
    assert (
        draft_pdf.headers["content-disposition"]
        == f'attachment; filename="statement-draft-{employee}.pdf"'
    )
    assert_problem(refused, 400, names=["format"])
