"""`chargeledger statements run`, run as a user runs it (a subprocess) on the fleet of
tests/statements/test_runs_fleet.py (totals by hand there): the three files written and read
back with the same totals, finalised statements in the database, problems listed with exit
code 1, and bad arguments refused with a reason."""

import asyncio
import subprocess
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from chargeledger.cli.main import app
from chargeledger.storage.database import Database
from chargeledger.storage.tables import statements
from tests.statements.test_runs_fleet import (
    EXPECTED_RUN_TOTAL,
    EXPECTED_TOTALS,
    Fleet,
    add_driver,
    build_fleet,
    csv_totals,
    pdf_text,
    xlsx_totals,
)
from tests.support.databases import migrated_database
from tests.support.servers import chargeledger_command


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(
        tmp_path_factory.mktemp("statements-cli"), name_hint="statementscli"
    ) as database:
        yield database


async def statements_run(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    command = chargeledger_command("statements", "run", *args, "--database-url", database.url)
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, timeout=300, check=False
    )


async def finalised_numbers(database: Database, fleet: Fleet) -> list[str]:
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(statements.c.number)
            .where(statements.c.tenant_id == fleet.tenant_id)
            .order_by(statements.c.number)
        )
        return [row.number for row in rows]


async def test_finalising_writes_the_three_files_and_lists_the_driver_with_a_problem(
    database: Database, tmp_path: Path
) -> None:
    fleet = await build_fleet(database)
    async with database.write() as connection:
        await add_driver(  # no rate plan: its session has no price
            connection,
            fleet,
            "E-D",
            sessions=[("2026-10-09T18:00:00Z", "2026-10-09T20:00:00Z", 8.0, 0.0, True)],
        )
    out = tmp_path / "october"

    done = await statements_run(
        database, "--tenant", str(fleet.tenant_id), "--month", "2026-10", "--finalise",
        "--out", str(out),
    )  # fmt: skip

    assert done.returncode == 1, done.stderr
    assert "E-D" in done.stdout
    assert "no rate plan for 2026-10-09" in done.stdout
    assert "12.55" in done.stdout  # the summary's total: 5.55 + 7.00 + 0.00
    assert len(await finalised_numbers(database, fleet)) == 3  # E-D is not finalised
    assert csv_totals((out / "statements.csv").read_bytes()) == EXPECTED_TOTALS
    by_driver, total, sheets = xlsx_totals(out / "statements.xlsx")
    assert by_driver == EXPECTED_TOTALS
    assert total == EXPECTED_RUN_TOTAL
    assert sheets[0] == "Summary"
    assert sorted(sheets[1:]) == ["E-A", "E-B", "E-C"]
    assert sorted(path.name for path in (out / "pdf").iterdir()) == [
        "E-A.pdf",
        "E-B.pdf",
        "E-C.pdf",
    ]
    pages, text = pdf_text((out / "pdf" / "E-B.pdf").read_bytes())
    assert pages >= 1
    assert "7.00" in text
    assert "E-B" in text

    # Again: everything is finalised already, nothing twice; the same files.
    again = await statements_run(
        database, "--tenant", str(fleet.tenant_id), "--month", "2026-10", "--finalise",
        "--out", str(out),
    )  # fmt: skip
    assert again.returncode == 1  # E-D still has its problem
    assert await finalised_numbers(database, fleet) == [
        "2026-000001",
        "2026-000002",
        "2026-000003",
    ]
    assert csv_totals((out / "statements.csv").read_bytes()) == EXPECTED_TOTALS


async def test_drafts_are_written_and_nothing_is_finalised(
    database: Database, tmp_path: Path
) -> None:
    fleet = await build_fleet(database)

    done = await statements_run(
        database, "--tenant", str(fleet.tenant_id), "--period", "2026-10-01/2026-11-01",
        "--out", str(tmp_path),
    )  # fmt: skip

    assert done.returncode == 0, done.stderr + done.stdout
    assert "Draft statements" in done.stdout
    assert await finalised_numbers(database, fleet) == []
    assert csv_totals((tmp_path / "statements.csv").read_bytes()) == EXPECTED_TOTALS
    rows = (tmp_path / "statements.csv").read_text(encoding="utf-8").splitlines()
    assert all(",draft," in row for row in rows[1:])
    by_driver, total, _ = xlsx_totals(tmp_path / "statements.xlsx")
    assert (by_driver, total) == (EXPECTED_TOTALS, Decimal("12.55"))


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        (("--month", "2026-Q4"), "--month '2026-Q4': give a month such as 2026-10"),
        (("--quarter", "2026-10"), "--quarter '2026-10': give a quarter such as 2026-Q4"),
        (("--month", "2026-13"), "there is no month 13"),
        (("--month", "2026-10", "--quarter", "2026-Q4"), "exactly one of"),
        ((), "exactly one of"),
        (("--period", "2026-11-01/2026-10-01"), "must be after the start"),
    ],
)
def test_a_bad_period_is_refused_with_the_reason(
    tmp_path: Path, arguments: tuple[str, ...], reason: str
) -> None:
    """Refused before the database is opened (in-process: no database is needed)."""
    result = CliRunner().invoke(
        app,
        ["statements", "run", "--tenant", str(uuid4()), *arguments, "--out", str(tmp_path)],
    )
    assert result.exit_code == 1
    assert reason in result.stderr


def test_an_unknown_tenant_is_refused(database: Database, tmp_path: Path) -> None:
    tenant = uuid4()
    result = CliRunner().invoke(
        app,
        [
            "statements", "run", "--tenant", str(tenant), "--month", "2026-10",
            "--out", str(tmp_path), "--database-url", database.url,
        ],
    )  # fmt: skip
    assert result.exit_code == 1
    assert f"tenant {tenant} was not found" in result.stderr
