"""What every command shares: settings from flags and environment, errors, migrations."""

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import orjson
import typer
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth.service import configure_secret_hashing
from chargeledger.errors import ChargeLedgerError
from chargeledger.settings import Settings
from chargeledger.storage.database import Database, DatabaseUrlError
from chargeledger.storage.migrate import upgrade_to_head

T = TypeVar("T")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///file.db or postgresql://...; default: $DATABASE_URL, "
        "else sqlite:///chargeledger.db",
        show_default=False,
    ),
]


def settings_for(database_url: str | None) -> Settings:
    settings = Settings()
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    configure_secret_hashing(
        time_cost=settings.secret_hash_time_cost, memory_kib=settings.secret_hash_memory_kib
    )
    return settings


def fail(message: str) -> typer.Exit:
    """Print the reason on stderr; raise the returned Exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def migrate_or_exit(settings: Settings) -> None:
    try:
        upgrade_to_head(settings.database_url)
    except DatabaseUrlError as error:
        raise fail(str(error)) from None
    except Exception as error:
        # Any driver error (refused, bad password, no such database): the reason, no traceback.
        raise fail(f"cannot migrate the database: {error}") from None


def run_in_transaction(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run `work(connection)` in one committed transaction on a migrated database."""
    migrate_or_exit(settings)

    async def run() -> T:
        database = Database(settings.database_url)
        try:
            async with database.write() as connection:
                return await work(connection)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except ChargeLedgerError as error:
        raise fail(error.detail) from None


def print_json(value: object) -> None:
    """One JSON document on stdout, and nothing else there: scripts parse it."""
    sys.stdout.write(orjson.dumps(value).decode() + "\n")
    sys.stdout.flush()
