"""`chargeledger import FILE --entity ID`, with a progress bar."""

import asyncio
from pathlib import Path
from typing import Annotated
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from chargeledger.api.context import system_clock_ms
from chargeledger.charge_sessions.session_files import (
    FileFormat,
    FileFormatError,
    count_lines,
    detect_format,
    format_named,
)
from chargeledger.charge_sessions.session_import import ImportReport, import_session_file
from chargeledger.cli.common import DatabaseOption, fail, migrate_or_exit, settings_for
from chargeledger.errors import ChargeLedgerError
from chargeledger.storage.database import Database


def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    entity: Annotated[UUID, typer.Option("--entity", help="The id of the EV or ChargePoint")],
    file_format: Annotated[
        str | None, typer.Option("--format", help="csv or jsonl (default: from the file name)")
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Import charge sessions from CSV or JSON Lines (idempotent by externalId).

    Bad rows are reported by line number on stderr and skipped; the exit code is 1 if any
    row was rejected.
    """
    settings = settings_for(database_url)
    try:
        chosen: FileFormat = (
            detect_format(file) if file_format is None else format_named(file_format)
        )
    except FileFormatError as error:
        raise fail(str(error)) from None
    migrate_or_exit(settings)
    console = Console(stderr=True)

    async def run() -> ImportReport:
        database = Database(settings.database_url)
        try:
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console,
            ) as progress:
                task = progress.add_task(f"importing {file.name}", total=count_lines(file))
                report = await import_session_file(
                    database,
                    path=file,
                    file_format=chosen,
                    entity_id=entity,
                    clock_ms=system_clock_ms,
                    on_progress=lambda line: progress.update(task, completed=line),
                )
                progress.update(task, completed=count_lines(file))
                return report
        finally:
            await database.dispose()

    try:
        report = asyncio.run(run())
    except ChargeLedgerError as error:
        raise fail(error.detail) from None
    except FileFormatError as error:
        raise fail(str(error)) from None
    for line, reason in report.rejected:
        # One whole line per rejected row, however long: scripts grep for '^line '.
        console.print(f"line {line}: {reason}", markup=False, highlight=False, soft_wrap=True)
    outcomes = report.outcomes
    console.print(
        f"{outcomes['created']} created, {outcomes['already recorded']} already recorded "
        f"(unchanged or corrected), {len(report.rejected)} rejected",
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    if report.rejected:
        raise typer.Exit(code=1)
