"""Bring a database's schema up to date (`chargeledger migrate`, and `serve` on start)."""

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

from chargeledger.storage.database import async_database_url
from chargeledger.storage.file_modes import make_sqlite_file_private

_MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # ConfigParser interpolation would eat a '%' in a password.
    config.set_main_option("sqlalchemy.url", async_database_url(database_url).replace("%", "%%"))
    return config


def upgrade_to_head(database_url: str) -> None:
    """Blocking; env.py runs its own event loop, so call this outside of one."""
    make_sqlite_file_private(database_url)  # before SQLite creates it world-readable
    command.upgrade(alembic_config(database_url), "head")


async def upgrade_to_head_async(database_url: str) -> None:
    await asyncio.to_thread(upgrade_to_head, database_url)
