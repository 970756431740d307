"""Speed of readings, energy uncertainty of sessions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 10:12:40.118306
"""

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from chargeledger.domain.record_json import charge_record_json

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000


def upgrade() -> None:
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("speed_kmh", sa.Double(), nullable=True))
    with op.batch_alter_table("charge_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("energy_uncertainty_kwh", sa.Double(), nullable=True))
    # Every record gains data.energyUncertainty: rebuild each from its columns.
    _rewrite_records(lambda row: charge_record_json(row._asdict()))


def downgrade() -> None:
    # The records go back to their shape before this revision: without energyUncertainty.
    _rewrite_records(_without_energy_uncertainty)
    with op.batch_alter_table("charge_sessions", schema=None) as batch_op:
        batch_op.drop_column("energy_uncertainty_kwh")
    with op.batch_alter_table("readings", schema=None) as batch_op:
        batch_op.drop_column("speed_kmh")


def _without_energy_uncertainty(row: Any) -> str:
    record = orjson.loads(row.record_json)
    record["data"].pop("energyUncertainty", None)
    return orjson.dumps(record).decode()


_COLUMNS = (
    "entity_id", "id", "start_ms", "end_ms", "created_ms", "energy_kwh", "t1_kwh", "t2_kwh",
    "t3_kwh", "t4_kwh", "average_power_kw", "soc_start_pct", "soc_end_pct", "range_start_km",
    "range_end_km", "latitude", "longitude", "address", "location_matches_json",
    "matched_address", "method", "energy_method", "energy_uncertainty_kwh", "record_json",
)  # fmt: skip


def _rewrite_records(record_of: Any) -> None:
    """Store record_of(row) as the record of every session, a batch at a time (as 0004);
    called while energy_uncertainty_kwh exists (after adding it, before dropping it)."""
    connection = op.get_bind()
    # Typed ids: SQLite keeps a UUID as 32 hex digits, which the record must show dashed.
    sessions = sa.table(
        "charge_sessions",
        *(sa.column(name, sa.Uuid if name in ("entity_id", "id") else None) for name in _COLUMNS),
    )
    last: tuple[object, object] | None = None
    while True:
        query = sa.select(sessions).order_by(sessions.c.entity_id, sessions.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(sa.tuple_(sessions.c.entity_id, sessions.c.id) > sa.tuple_(*last))
        rows = connection.execute(query).all()
        if not rows:
            break
        connection.execute(
            sa.update(sessions)
            .where(
                sessions.c.entity_id == sa.bindparam("b_entity"),
                sessions.c.id == sa.bindparam("b_id"),
            )
            .values(record_json=sa.bindparam("b_record")),
            [
                {"b_entity": row.entity_id, "b_id": row.id, "b_record": record_of(row)}
                for row in rows
            ],
        )
        last = (rows[-1].entity_id, rows[-1].id)
