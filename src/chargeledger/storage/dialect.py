"""The one place where SQLite and PostgreSQL differ in SQL we write: INSERT ... ON CONFLICT."""

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


def insert_on_conflict(connection: AsyncConnection, table: sa.Table) -> Any:
    """An INSERT with `on_conflict_do_nothing` / `on_conflict_do_update`, for either database."""
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
