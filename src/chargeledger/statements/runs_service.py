"""Statement runs: every driver of a tenant for one period, drafted or finalised one driver at a
time, and their exports. Used by the API (runs_endpoints), the background worker (runs_worker)
and `chargeledger statements run` (cli/statements.py).

Nothing here holds more than one driver's statement at a time: a run may cover 10,000 drivers.
Exports are written by the synchronous writers of statements/exports in threads of their own,
fed one document at a time through small bounded queues (DocumentSinks).
"""

import asyncio
import contextlib
import os
import queue
import re
import tempfile
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.reimbursement.statements import Statement
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.drivers.repository import count_drivers, driver_ids_page
from chargeledger.errors import ConflictError, InvalidInputError, NotFoundError
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.statements import runs_repository as repository
from chargeledger.statements.exports.csv_export import write_csv
from chargeledger.statements.exports.pdf_export import write_pdf, write_pdfs
from chargeledger.statements.exports.xlsx_export import write_xlsx
from chargeledger.statements.periods import Period, PeriodError, parse_period
from chargeledger.statements.runs_repository import PENDING, RUNNING
from chargeledger.statements.service import (
    HashedDocument,
    StatementProblemsError,
    StoredStatement,
    compute_draft,
    finalise_if_needed,
)
from chargeledger.storage.database import Database, after_commit

# Statements read per transaction when exporting a finalised run.
EXPORT_PAGE_SIZE = 100

MEDIA_TYPES: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def run_not_found(run_id: object) -> NotFoundError:
    return NotFoundError(f"statement run {run_id} was not found")


# ---- waking the workers of this process ---------------------------------------------------

_waiting: set[asyncio.Event] = set()


def runs_queued() -> None:
    """Wake this process's workers: a run was just committed."""
    for event in _waiting:
        event.set()


def wake_on_new_runs(event: asyncio.Event) -> None:
    _waiting.add(event)


def stop_waking(event: asyncio.Event) -> None:
    _waiting.discard(event)


# ---- runs ---------------------------------------------------------------------------------


def checked_period(text: str, *, name: str = "period", where: str = "body") -> Period:
    try:
        return parse_period(text)
    except PeriodError as error:
        raise InvalidInputError(
            str(error), errors=[{"name": name, "in": where, "detail": str(error)}]
        ) from None


async def create_run(
    connection: AsyncConnection, *, tenant_id: UUID, period: Period, finalise: bool, now_ms: int
) -> sa.Row[Any]:
    row = await repository.insert_run(
        connection,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        period_start=period.start.isoformat(),
        period_end=period.end.isoformat(),
        finalise=finalise,
        status=PENDING,
        lease_until_ms=None,
        driver_count=await count_drivers(connection, tenant_id),
        drivers_done=0,
        total_amount=None,
        problems_json="[]",
        error=None,
        created_ms=now_ms,
        finished_ms=None,
    )
    after_commit(connection, runs_queued)
    return row


async def get_run(connection: AsyncConnection, *, tenant_id: UUID, run_id: UUID) -> sa.Row[Any]:
    row = await repository.get_run(connection, tenant_id=tenant_id, run_id=run_id)
    if row is None:
        raise run_not_found(run_id)
    return row


async def list_runs(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    after = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.STATEMENT_RUNS, scope_id=tenant_id
    )
    rows = await repository.list_runs(
        connection, tenant_id=tenant_id, after=after, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.STATEMENT_RUNS,
        scope_id=tenant_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )


# ---- one driver ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DriverOutcome:
    """One driver's part of a run: the draft or the finalised statement, or why there is none
    (`problems`; a finalising run leaves such a driver as it was). Neither for a driver that
    was deleted meanwhile."""

    draft: Statement | None = None
    stored: StoredStatement | None = None
    problems: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal | None:
        if self.stored is not None:
            return Decimal(self.stored.total_amount)
        return None if self.draft is None else self.draft.total_amount

    @property
    def currency(self) -> str | None:
        if self.stored is not None:
            return self.stored.currency
        return None if self.draft is None else self.draft.currency

    def document(self) -> dict[str, Any] | None:
        """The statement document with its contentSha256, as exports take it."""
        if self.stored is not None:
            return self.stored.document()
        return None if self.draft is None else HashedDocument.of(self.draft).with_hash()


async def driver_statement(
    database: Database,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    period_start: date,
    period_end: date,
    finalise: bool,
    now_ms: int,
) -> DriverOutcome:
    """The driver's draft (a read), or its statement finalised (a write transaction of its own;
    a statement already finalised for exactly this period is taken as it is)."""
    period = Period(period_start, period_end)
    try:
        if not finalise:
            async with database.read() as connection:
                draft = await compute_draft(connection, tenant_id, driver_id, period)
            return DriverOutcome(draft=draft, problems=draft.problems)
        async with database.write() as connection:
            stored = await finalise_if_needed(connection, tenant_id, driver_id, period, now_ms)
        return DriverOutcome(stored=stored)
    except StatementProblemsError as error:
        return DriverOutcome(problems=error.problems)
    except ConflictError as error:
        # A finalised statement overlapping the period (another period's): never replaced.
        return DriverOutcome(problems=(error.detail,))
    except NotFoundError:
        return DriverOutcome()  # deleted since its id was read


# ---- the documents of a run ---------------------------------------------------------------


async def each_driver(
    database: Database, tenant_id: UUID, *, page_size: int = EXPORT_PAGE_SIZE
) -> AsyncIterator[UUID]:
    """The tenant's driver ids in order, a page per read."""
    after: UUID | None = None
    while True:
        async with database.read() as connection:
            driver_ids = await driver_ids_page(connection, tenant_id, after=after, limit=page_size)
        for driver_id in driver_ids:
            yield driver_id
        if len(driver_ids) < page_size:
            return
        after = driver_ids[-1]


async def run_documents(
    database: Database, *, tenant_id: UUID, period: Period, finalised: bool
) -> AsyncIterator[dict[str, Any]]:
    """The tenant's statements of the period one at a time, in order of driver: those
    finalised (as stored), or every driver's draft computed now. Each page is read in a
    transaction of its own."""
    if finalised:
        after: UUID | None = None
        while True:
            async with database.read() as connection:
                rows = await repository.finalised_for_period(
                    connection,
                    tenant_id=tenant_id,
                    period_start=period.start.isoformat(),
                    period_end=period.end.isoformat(),
                    after_driver=after,
                    limit=EXPORT_PAGE_SIZE,
                )
            for row in rows:
                yield StoredStatement.from_row(row).document()
            if len(rows) < EXPORT_PAGE_SIZE:
                return
            after = rows[-1].driver_id
    async for driver_id in each_driver(database, tenant_id):
        try:
            async with database.read() as connection:
                draft = await compute_draft(connection, tenant_id, driver_id, period)
        except NotFoundError:
            continue  # deleted since its id was read
        yield HashedDocument.of(draft).with_hash()


# ---- writing documents through the synchronous writers -------------------------------------

DocumentWriter = Callable[[Iterable[Mapping[str, Any]]], None]
_END = object()


class DocumentSinks:
    """Writers that each read the same documents once, each in a thread of its own, fed
    through bounded queues: a few documents in memory at a time, however many there are.
    A writer that fails takes (and drops) what is still sent, so the producer never blocks
    on it; close() raises its error."""

    def __init__(self, writers: Sequence[DocumentWriter], *, depth: int = 4) -> None:
        self._queues: list[queue.Queue[object]] = [queue.Queue(maxsize=depth) for _ in writers]
        self._errors: list[BaseException] = []
        self._threads = [
            threading.Thread(target=self._consume, args=(writer, q), daemon=True)
            for writer, q in zip(writers, self._queues, strict=True)
        ]
        for thread in self._threads:
            thread.start()

    def _consume(self, writer: DocumentWriter, source: "queue.Queue[object]") -> None:
        ended = False

        def documents() -> Iterator[Mapping[str, Any]]:
            nonlocal ended
            while True:
                item = source.get()
                if item is _END:
                    ended = True
                    return
                yield item  # type: ignore[misc]

        try:
            writer(documents())
        except BaseException as error:  # handed to close()
            self._errors.append(error)
        while not ended:
            ended = source.get() is _END

    def put(self, document: Mapping[str, Any]) -> None:
        for target in self._queues:
            target.put(document)

    async def send(self, document: Mapping[str, Any]) -> None:
        await asyncio.to_thread(self.put, document)

    def close(self) -> None:
        """The end of the documents: waits for every writer to finish."""
        for target in self._queues:
            target.put(_END)
        for thread in self._threads:
            thread.join()
        if self._errors:
            raise self._errors[0]

    async def finish(self) -> None:
        await asyncio.to_thread(self.close)


def csv_file_writer(path: Path) -> DocumentWriter:
    def write(documents: Iterable[Mapping[str, Any]]) -> None:
        with path.open("w", encoding="utf-8", newline="") as out:
            write_csv(documents, out)

    return write


def xlsx_file_writer(path: Path) -> DocumentWriter:
    def write(documents: Iterable[Mapping[str, Any]]) -> None:
        write_xlsx(documents, path)

    return write


def pdf_file_writer(path: Path) -> DocumentWriter:
    def write(documents: Iterable[Mapping[str, Any]]) -> None:
        with path.open("wb") as out:
            write_pdfs(documents, out)

    return write


def pdf_name(employee_number: str, taken: set[str]) -> str:
    """A file name for the driver's PDF: the employee number with anything but letters,
    digits, '.', '_' and '-' replaced, made unique."""
    base = re.sub(r"[^A-Za-z0-9._-]", "_", employee_number).lstrip(".") or "driver"
    name, suffix = f"{base}.pdf", 2
    while name.casefold() in taken:
        name, suffix = f"{base}-{suffix}.pdf", suffix + 1
    taken.add(name.casefold())
    return name


def pdf_files_writer(directory: Path) -> DocumentWriter:
    """Each statement in a PDF of its own, named by the driver's employee number."""

    def write(documents: Iterable[Mapping[str, Any]]) -> None:
        taken: set[str] = set()
        for document in documents:
            name = pdf_name(document["driver"]["employeeNumber"], taken)
            with (directory / name).open("wb") as out:
                write_pdf(document, out)

    return write


WRITERS: Final = {"csv": csv_file_writer, "xlsx": xlsx_file_writer, "pdf": pdf_file_writer}


def remove_file(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


EXPORT_CHUNK_BYTES = 64 * 1024


def open_export(path: Path) -> tuple[Iterator[bytes], int]:
    """The file's chunks and size; the file is opened and unlinked at once, so it is gone
    however its reading ends (the open handle keeps its data until it is closed)."""
    file = path.open("rb")
    size = os.fstat(file.fileno()).st_size
    remove_file(path)

    def chunks() -> Iterator[bytes]:
        with file:
            while chunk := file.read(EXPORT_CHUNK_BYTES):
                yield chunk

    return chunks(), size


@dataclass(frozen=True, slots=True)
class ExportFile:
    """A written export in a temporary file (the caller removes it once sent)."""

    path: Path
    media_type: str
    filename: str


async def finished_run(
    connection: AsyncConnection, *, tenant_id: UUID, run_id: UUID
) -> sa.Row[Any]:
    """The run, once it has finished: 409 while it is pending or running."""
    run = await get_run(connection, tenant_id=tenant_id, run_id=run_id)
    if run.status in (PENDING, RUNNING):
        raise ConflictError(
            f"statement run {run_id} is {run.status}: its statements can be exported once it "
            "has finished (GET it to follow its progress)"
        )
    return run


async def export_run(
    database: Database, *, tenant_id: UUID, run: sa.Row[Any], export_format: str
) -> ExportFile:
    """Every statement of a finished run in one file: a finalising run's statements as
    stored, a draft run's drafts computed now."""
    period = Period(date.fromisoformat(run.period_start), date.fromisoformat(run.period_end))
    descriptor, name = tempfile.mkstemp(prefix="chargeledger-run-", suffix=f".{export_format}")
    os.close(descriptor)
    path = Path(name)
    try:
        sinks = DocumentSinks([WRITERS[export_format](path)])
        try:
            async for document in run_documents(
                database, tenant_id=tenant_id, period=period, finalised=run.finalise
            ):
                await sinks.send(document)
        finally:
            await sinks.finish()
    except BaseException:
        remove_file(path)
        raise
    kind = "" if run.finalise else "-draft"
    return ExportFile(
        path=path,
        media_type=MEDIA_TYPES[export_format],
        filename=f"statements-{run.period_start}-{run.period_end}{kind}.{export_format}",
    )
