"""`chargeledger redetect`: recompute readings-based sessions with the current rules."""

import asyncio
from typing import Annotated, Any
from uuid import UUID

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from chargeledger.api.context import system_clock_ms
from chargeledger.cli.common import DatabaseOption, fail, migrate_or_exit, print_json, settings_for
from chargeledger.errors import ChargeLedgerError
from chargeledger.readings.redetection import (
    DAY_MS,
    EntityRedetection,
    entities_to_redetect,
    redetect_entities,
)
from chargeledger.storage.database import Database


def redetect_command(
    tenant: Annotated[
        UUID | None, typer.Option("--tenant", help="Only this tenant's entities")
    ] = None,
    entity: Annotated[UUID | None, typer.Option("--entity", help="Only this entity")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Recompute the sessions detected from readings with the current detection rules, from
    the stored readings (all charging entities when neither --tenant nor --entity is given).

    Idempotent: a second run changes nothing. Sessions found again keep their ids. Prints a
    JSON summary on stdout; the exit code is 1 if any entity failed (the others are done).
    """
    settings = settings_for(database_url)
    migrate_or_exit(settings)
    console = Console(stderr=True)

    async def run() -> list[EntityRedetection]:
        database = Database(settings.database_url)
        try:
            async with database.read() as connection:
                entity_ids = await entities_to_redetect(
                    connection, tenant_id=tenant, entity_id=entity
                )
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
            ) as progress:
                overall = progress.add_task("entities", total=len(entity_ids))
                # One bar per entity, over the span of its readings in days; replaced by a
                # line that stays once the entity is done.
                current: list[TaskID] = []

                def finish_entity() -> None:
                    if current:
                        progress.remove_task(current.pop())
                        progress.update(overall, advance=1)

                def on_entity(entity_id: UUID) -> None:
                    finish_entity()
                    current.append(progress.add_task(f"entity {entity_id} (days)", total=None))

                def on_progress(done_ms: int, total_ms: int) -> None:
                    progress.update(
                        current[-1],
                        completed=done_ms // DAY_MS,
                        total=max(1, -(-total_ms // DAY_MS)),
                    )

                def on_done(outcome: EntityRedetection) -> None:
                    progress.console.print(
                        _outcome_line(outcome), markup=False, highlight=False, soft_wrap=True
                    )

                outcomes = await redetect_entities(
                    database,
                    entity_ids=entity_ids,
                    config=settings.detector_config,
                    clock_ms=system_clock_ms,
                    on_entity=on_entity,
                    on_progress=on_progress,
                    on_done=on_done,
                )
                finish_entity()
            return outcomes
        finally:
            await database.dispose()

    try:
        outcomes = asyncio.run(run())
    except ChargeLedgerError as error:
        raise fail(error.detail) from None
    print_json(summary(outcomes))
    if any(outcome.status == "failed" for outcome in outcomes):
        raise typer.Exit(code=1)


def _outcome_line(outcome: EntityRedetection) -> str:
    if outcome.status == "failed":
        return f"entity {outcome.entity_id} failed: {outcome.error}"
    if outcome.status == "skipped":
        return f"entity {outcome.entity_id} skipped: it detects no sessions"
    return (
        f"entity {outcome.entity_id}: {outcome.sessions_before} -> {outcome.sessions_after} "
        f"sessions, {outcome.created} created, {outcome.updated} updated, "
        f"{outcome.removed} removed"
    )


def summary(outcomes: list[EntityRedetection]) -> dict[str, Any]:
    done = [outcome for outcome in outcomes if outcome.status == "redetected"]
    return {
        "entities": len(outcomes),
        "redetected": len(done),
        "skipped": sum(outcome.status == "skipped" for outcome in outcomes),
        "failed": [
            {"entityId": str(outcome.entity_id), "error": outcome.error}
            for outcome in outcomes
            if outcome.status == "failed"
        ],
        "sessionsBefore": sum(outcome.sessions_before for outcome in done),
        "sessionsAfter": sum(outcome.sessions_after for outcome in done),
        "created": sum(outcome.created for outcome in done),
        "updated": sum(outcome.updated for outcome in done),
        "removed": sum(outcome.removed for outcome in done),
    }
