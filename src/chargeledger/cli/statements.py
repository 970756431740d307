"""`chargeledger statements run`: every driver's statement for a period, straight on the
database, with a progress bar; CSV, XLSX and a PDF per driver written as the drivers go by."""

import asyncio
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from chargeledger.api.context import system_clock_ms
from chargeledger.cli.common import DatabaseOption, fail, migrate_or_exit, settings_for
from chargeledger.drivers.repository import count_drivers, load_driver
from chargeledger.errors import ChargeLedgerError
from chargeledger.statements import runs_repository
from chargeledger.statements.periods import Period, PeriodError, parse_period
from chargeledger.storage.database import Database

statements_app = typer.Typer(
    help="Reimbursement statements: every driver's, for a period.", no_args_is_help=True
)

_FORMS = {
    "--month": (re.compile(r"\d{4}-\d{2}", re.ASCII), "a month such as 2026-10"),
    "--quarter": (re.compile(r"\d{4}-Q[1-4]", re.ASCII), "a quarter such as 2026-Q4"),
    "--period": (
        re.compile(r"\d{4}-\d{2}-\d{2}/\d{4}-\d{2}-\d{2}", re.ASCII),
        "two dates such as 2026-10-01/2026-11-01 (the end not included)",
    ),
}
REGISTERS = ("t1", "t2", "t3", "t4")


@dataclass
class _CurrencyTotals:
    statements: int = 0
    lines: int = 0
    kwh: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(REGISTERS, Decimal(0)))
    amount: Decimal = Decimal(0)

    def add(self, document: dict[str, Any]) -> None:
        totals = document["totals"]
        self.statements += 1
        self.lines += len(document["lines"])
        for register in REGISTERS:
            self.kwh[register] += Decimal(totals["energy"][register])
        self.amount += Decimal(totals["amount"])


@dataclass
class _Report:
    drivers: int = 0
    totals: dict[str, _CurrencyTotals] = field(default_factory=dict)
    problems: list[tuple[str, UUID, str]] = field(default_factory=list)  # employee number, id


def _chosen_period(month: str | None, quarter: str | None, period: str | None) -> str:
    given = [(name, value) for name, value in zip(_FORMS, (month, quarter, period), strict=True)]
    chosen = [(name, value) for name, value in given if value is not None]
    if len(chosen) != 1:
        raise fail("give exactly one of --month, --quarter or --period")
    name, value = chosen[0]
    pattern, example = _FORMS[name]
    if not pattern.fullmatch(value.strip()):
        raise fail(f"{name} {value!r}: give {example}")
    return value.strip()


@statements_app.command("run")
def run_command(
    tenant: Annotated[UUID, typer.Option("--tenant", help="The tenant's id")],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            file_okay=False,
            help="Where to write statements.csv, statements.xlsx and pdf/<employeeNumber>.pdf "
            "(made if missing; files there are replaced)",
        ),
    ],
    month: Annotated[str | None, typer.Option("--month", help="A month: 2026-10")] = None,
    quarter: Annotated[str | None, typer.Option("--quarter", help="A quarter: 2026-Q4")] = None,
    period: Annotated[
        str | None,
        typer.Option("--period", help="Local dates start/end, end excluded: 2026-10-01/2026-11-01"),
    ] = None,
    finalise: Annotated[
        bool,
        typer.Option(
            "--finalise",
            help="Finalise each driver's statement (one already finalised for exactly this "
            "period is taken as it is); without it, drafts",
        ),
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Compute (with --finalise: finalise) every driver's statement for the period.

    Each driver is done in a transaction of its own, one at a time: memory does not grow with
    the number of drivers. A driver whose statement has problems (a session without a rate,
    a finalised statement overlapping the period) is listed at the end; with --finalise it is
    left unfinalised and out of the files. The exit code is then 1.
    """
    try:
        chosen = parse_period(_chosen_period(month, quarter, period))
    except PeriodError as error:
        raise fail(str(error)) from None
    settings = settings_for(database_url)
    migrate_or_exit(settings)
    try:
        report = asyncio.run(
            _run(settings.database_url, tenant, chosen, finalise=finalise, out=out)
        )
    except ChargeLedgerError as error:
        raise fail(error.detail) from None
    _print_report(report, chosen, finalise=finalise, out=out)
    if report.problems:
        raise typer.Exit(code=1)


async def _run(
    database_url: str, tenant_id: UUID, period: Period, *, finalise: bool, out: Path
) -> _Report:
    # Imported here: the exports pull in openpyxl and reportlab, which other commands skip.
    from chargeledger.statements.runs_service import (
        DocumentSinks,
        csv_file_writer,
        driver_statement,
        each_driver,
        pdf_files_writer,
        xlsx_file_writer,
    )

    database = Database(database_url)
    report = _Report()
    try:
        async with database.read() as connection:
            if not await runs_repository.tenant_exists(connection, tenant_id):
                raise fail(f"tenant {tenant_id} was not found")
            total = await count_drivers(connection, tenant_id)
        (out / "pdf").mkdir(parents=True, exist_ok=True)
        sinks = DocumentSinks(
            [
                csv_file_writer(out / "statements.csv"),
                xlsx_file_writer(out / "statements.xlsx"),
                pdf_files_writer(out / "pdf"),
            ]
        )
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            ) as progress:
                task = progress.add_task(
                    "finalising" if finalise else "computing drafts", total=total
                )
                async for driver_id in each_driver(database, tenant_id):
                    outcome = await driver_statement(
                        database,
                        tenant_id=tenant_id,
                        driver_id=driver_id,
                        period_start=period.start,
                        period_end=period.end,
                        finalise=finalise,
                        now_ms=system_clock_ms(),
                    )
                    report.drivers += 1
                    document = outcome.document()
                    if document is not None:
                        currency = report.totals.setdefault(document["currency"], _CurrencyTotals())
                        currency.add(document)
                        await sinks.send(document)
                    if outcome.problems:
                        if document is not None:
                            number = document["driver"]["employeeNumber"]
                        else:
                            async with database.read() as connection:
                                info = await load_driver(connection, tenant_id, driver_id)
                            number = "?" if info is None else info.employee_number
                        for problem in outcome.problems:
                            report.problems.append((number, driver_id, problem))
                    progress.update(task, advance=1, total=max(total, report.drivers))
        finally:
            await sinks.finish()
    finally:
        await database.dispose()
    return report


def _print_report(report: _Report, period: Period, *, finalise: bool, out: Path) -> None:
    console = Console()
    last_day = period.end - timedelta(days=1)
    title = (
        f"{'Finalised statements' if finalise else 'Draft statements'}, "
        f"{period.start.isoformat()} to {last_day.isoformat()}: "
        f"{report.drivers} drivers"
    )
    table = Table(title=title)
    for column in ("Currency", "Statements", "Lines", *(f"{r} kWh" for r in REGISTERS)):
        table.add_column(column, justify="left" if column == "Currency" else "right")
    table.add_column("Total kWh", justify="right")
    table.add_column("Amount", justify="right")
    for currency, totals in sorted(report.totals.items()):
        table.add_row(
            currency,
            str(totals.statements),
            str(totals.lines),
            *(str(totals.kwh[register]) for register in REGISTERS),
            str(sum(totals.kwh.values(), Decimal(0))),
            str(totals.amount),
        )
    console.print(table)
    console.print(
        f"Written: {out / 'statements.csv'}, {out / 'statements.xlsx'}, {out / 'pdf'}/",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if not report.problems:
        return
    what = "not finalised" if finalise else "to solve before finalising"
    console.print(f"{len(report.problems)} problems ({what}):", markup=False, highlight=False)
    for number, driver_id, problem in report.problems:
        # One whole line per problem, however long: scripts grep for them.
        console.print(
            f"{number} (driver {driver_id}): {problem}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
