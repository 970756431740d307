"""/v1/statement-runs over HTTP against the suite's server, whose worker carries the runs out:
202 with Location, progress to `succeeded` with the hand-computed totals of
tests/statements/test_runs_fleet.py, the exports of a finished run in the three formats read
back with the same totals, 409 while a run is running, paging, validation and isolation."""

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.storage.database import Database
from chargeledger.storage.tables import statement_runs
from tests.statements.test_runs_fleet import (
    EXPECTED_RUN_TOTAL,
    EXPECTED_TOTALS,
    build_fleet,
    csv_totals,
    pdf_text,
    xlsx_totals,
)
from tests.support.api import TenantApi

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


async def finished(api: TenantApi, location: str, timeout_s: float = 60) -> dict[str, Any]:
    """The run once it has finished, polled (the server's worker takes it within seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        response = await api.http.get(location)
        assert response.status_code == 200, response.text
        run: dict[str, Any] = response.json()
        if run["status"] in ("succeeded", "failed"):
            return run
        assert asyncio.get_running_loop().time() < deadline, run
        await asyncio.sleep(0.1)


async def start_run(api: TenantApi, **body: Any) -> httpx.Response:
    return await api.http.post("/v1/statement-runs", json=body)


async def test_a_finalising_run_finishes_with_the_totals_and_exports_them(
    api: TenantApi, database: Database, tmp_path: Path
) -> None:
    await build_fleet(database, api.tenant_id)

    response = await start_run(api, period="2026-10", finalise=True)

    assert response.status_code == 202, response.text
    run = response.json()
    assert response.headers["Location"] == f"/v1/statement-runs/{run['id']}"
    assert run["status"] in ("pending", "running")  # the worker may be quick
    assert run["period"] == {"start": "2026-10-01", "end": "2026-11-01"}
    assert (run["finalise"], run["driverCount"], run["error"], run["finished"]) == (
        True,
        3,
        None,
        None,
    )
    done = await finished(api, response.headers["Location"])
    assert done["status"] == "succeeded", done
    assert (done["driversDone"], done["problems"]) == (3, [])
    assert Decimal(done["totalAmount"]) == EXPECTED_RUN_TOTAL  # 5.55 + 7.00 + 0.00
    assert done["finished"] is not None

    csv_file = await api.http.get(f"/v1/statement-runs/{run['id']}/export?format=csv")
    assert csv_file.status_code == 200, csv_file.text
    assert csv_file.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_file.headers["content-disposition"] == (
        'attachment; filename="statements-2026-10-01-2026-11-01.csv"'
    )
    assert csv_totals(csv_file.content) == EXPECTED_TOTALS

    xlsx_file = await api.http.get(f"/v1/statement-runs/{run['id']}/export?format=xlsx")
    assert xlsx_file.status_code == 200
    assert xlsx_file.headers["content-type"] == XLSX
    (tmp_path / "run.xlsx").write_bytes(xlsx_file.content)
    by_driver, total, sheets = xlsx_totals(tmp_path / "run.xlsx")
    assert (by_driver, total) == (EXPECTED_TOTALS, EXPECTED_RUN_TOTAL)
    assert len(sheets) == 4  # Summary and one per driver

    pdf_file = await api.http.get(f"/v1/statement-runs/{run['id']}/export?format=pdf")
    assert pdf_file.status_code == 200
    assert pdf_file.headers["content-type"] == "application/pdf"
    pages, text = pdf_text(pdf_file.content)
    assert pages >= 3  # each statement from a new page
    for number, amount in EXPECTED_TOTALS.items():
        assert number in text
        assert str(amount) in text
    # The finalised statements' numbers, as stored.
    assert all(f"2026-00000{n}" in text for n in (1, 2, 3))


async def test_a_draft_run_exports_drafts_computed_now(api: TenantApi, database: Database) -> None:
    await build_fleet(database, api.tenant_id)
    response = await start_run(api, period="2026-10-01/2026-11-01")
    assert response.status_code == 202, response.text
    assert response.json()["finalise"] is False
    done = await finished(api, response.headers["Location"])
    assert (done["status"], Decimal(done["totalAmount"])) == ("succeeded", EXPECTED_RUN_TOTAL)

    csv_file = await api.http.get(f"/v1/statement-runs/{done['id']}/export?format=csv")
    assert csv_file.status_code == 200
    assert csv_file.headers["content-disposition"].endswith('-draft.csv"')
    assert csv_totals(csv_file.content) == EXPECTED_TOTALS
    assert ",draft," in csv_file.text.splitlines()[1]
    listed = await api.http.get("/v1/statements")  # a draft run finalises nothing
    assert listed.status_code == 200
    assert listed.json()["data"] == []


async def test_a_run_not_finished_cannot_be_exported(api: TenantApi, database: Database) -> None:
    """A run another worker holds (its lease far ahead): 409, with what to do."""
    run_id = uuid.uuid4()
    async with database.write() as connection:
        await connection.execute(
            sa.insert(statement_runs).values(
                id=run_id,
                tenant_id=api.tenant_id,
                period_start="2026-10-01",
                period_end="2026-11-01",
                finalise=False,
                status="running",
                lease_until_ms=system_clock_ms() + 100 * 365 * 86_400_000,
                driver_count=0,
                drivers_done=0,
                created_ms=system_clock_ms(),
            )
        )
    response = await api.http.get(f"/v1/statement-runs/{run_id}/export?format=csv")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert "is running" in response.json()["detail"]
    run = (await api.http.get(f"/v1/statement-runs/{run_id}")).json()
    assert (run["status"], run["totalAmount"], run["problems"]) == ("running", None, [])


async def test_runs_are_listed_oldest_first_page_by_page(api: TenantApi) -> None:
    """A tenant without drivers: each run succeeds at once, with nothing to total."""
    created = []
    for period in ("2026-08", "2026-09", "2026-Q3"):
        response = await start_run(api, period=period)
        assert response.status_code == 202, response.text
        created.append((response.json()["created"], response.json()["id"]))
    seen: list[str] = []
    url: str | None = "/v1/statement-runs?pageSize=2"
    while url is not None:
        page = await api.http.get(url)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["meta"]["pageSize"] == 2
        seen += [run["id"] for run in body["data"]]
        url = body["links"]["next"]
    assert seen == [run_id for _, run_id in sorted(created)]  # by created, then id
    done = await finished(api, f"/v1/statement-runs/{created[-1][1]}")
    assert (done["status"], done["driverCount"], done["totalAmount"]) == ("succeeded", 0, None)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"period": "October"}, 'a month "2026-10", a quarter "2026-Q4"'),
        ({"period": "2026-10-01/2027-12-01"}, "at most 366 days"),
        ({"period": "2026-10", "finalise": "yes"}, "finalise"),
        ({"period": 202610}, "period"),
        ({}, "period"),
        ({"period": "2026-10", "driverId": str(uuid.uuid4())}, "driverId"),
    ],
)
async def test_bad_input_is_refused_with_a_problem(
    api: TenantApi, body: dict[str, Any], detail: str
) -> None:
    response = await start_run(api, **body)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert detail in response.json()["detail"]


async def test_an_unknown_export_format_is_refused(api: TenantApi) -> None:
    run = (await start_run(api, period="2026-10")).json()
    response = await api.http.get(f"/v1/statement-runs/{run['id']}/export?format=docx")
    assert response.status_code == 400
    assert "format" in response.json()["detail"]


async def test_another_tenants_run_is_not_found(api: TenantApi, other_api: TenantApi) -> None:
    run = (await start_run(api, period="2026-10")).json()
    for path in (f"/v1/statement-runs/{run['id']}", f"/v1/statement-runs/{run['id']}/export"):
        response = await other_api.http.get(path, params={"format": "csv"})
        assert response.status_code == 404, response.text
        assert response.json()["detail"] == f"statement run {run['id']} was not found"
    listed = (await other_api.http.get("/v1/statement-runs")).json()
    assert listed["data"] == []
