"""Importing a file of sessions measured elsewhere, each row through the same validation and
service as `POST /v1/entities/{id}/charge-sessions`."""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID

from pydantic import ValidationError

from chargeledger.charge_sessions.schemas import ChargeSessionIn
from chargeledger.charge_sessions.service import record_external_session
from chargeledger.charge_sessions.session_files import FileFormat, FileRecord, read_records
from chargeledger.entities import repository as entities_repository
from chargeledger.errors import ChargeLedgerError, entity_not_found
from chargeledger.storage.database import Database

# Rows per transaction: large enough to be fast, small enough that a crash loses little
# (and a re-run is harmless: rows are idempotent by externalId).
BATCH_ROWS = 500


@dataclass
class ImportReport:
    outcomes: Counter[str] = field(default_factory=Counter)  # "created", "already recorded"
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _validation_message(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


async def import_session_file(
    database: Database,
    *,
    path: Path,
    file_format: FileFormat,
    entity_id: UUID,
    clock_ms: Callable[[], int],
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Store every good record of the file; bad ones are reported by line and skipped."""
    async with database.read() as connection:
        entity = await entities_repository.get_entity_any_tenant(connection, entity_id=entity_id)
    if entity is None:
        raise entity_not_found(entity_id)
    report = ImportReport()

    async def store(batch: list[FileRecord]) -> None:
        async with database.write() as connection:
            for record in batch:
                if record.body is None:
                    report.rejected.append((record.line, record.error or "unreadable"))
                    continue
                try:
                    body = ChargeSessionIn.model_validate(record.body)
                    session, claimed_kw = body.to_record()
                    # A savepoint per row: a row that fails leaves no trace, the rest commit.
                    async with connection.begin_nested():
                        result = await record_external_session(
                            connection,
                            tenant_id=entity.tenant_id,
                            entity_id=entity_id,
                            external_id=body.externalId,
                            record=session,
                            claimed_average_power_kw=claimed_kw,
                            now_ms=clock_ms(),
                            reason="imported",
                        )
                except ValidationError as error:
                    report.rejected.append((record.line, _validation_message(error)))
                    continue
                except ChargeLedgerError as error:
                    report.rejected.append((record.line, error.detail))
                    continue
                report.outcomes["created" if result.created else "already recorded"] += 1
        if on_progress is not None and batch:
            on_progress(batch[-1].line)

    with path.open(encoding="utf-8", newline="") as stream:
        batch: list[FileRecord] = []
        for record in read_records(stream, file_format):
            batch.append(record)
            if len(batch) >= BATCH_ROWS:
                await store(batch)
                batch = []
        await store(batch)
    report.rejected.sort()
    return report
