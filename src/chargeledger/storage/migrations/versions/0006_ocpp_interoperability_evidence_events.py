"""OCPP interoperability: events by content, signed meter values, charger events, station
settings, idTag and meter evidence of sessions

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 23:30:00.000000
"""

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from alembic import op

from chargeledger.domain.record_json import charge_record_json

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 2000


def upgrade() -> None:
    # TransactionEvents were keyed by seqNo, which stations reuse: re-created keyed by a
    # digest of their content. Rows already seen keep a digest of their seqNo; an event sent
    # again after the upgrade is applied once more, which changes nothing (every event is
    # idempotent), and is then known by its content.
    _set_aside("ocpp_transaction_events", "ocpp_transaction_events_0005")
    _create_transaction_events()
    op.execute(
        "INSERT INTO ocpp_transaction_events "
        "(transaction_id, digest, seq_no, event_type, timestamp_ms, received_ms) "
        "SELECT transaction_id, 'seqNo:' || CAST(seq_no AS VARCHAR(20)), seq_no, event_type, "
        "timestamp_ms, received_ms FROM ocpp_transaction_events_0005"
    )
    op.drop_table("ocpp_transaction_events_0005")
    op.create_table(
        "ocpp_signed_values",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("context", sa.String(length=32), nullable=True),
        sa.Column("measurand", sa.String(length=64), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("encoding_method", sa.String(length=64), nullable=True),
        sa.Column("signing_method", sa.String(length=64), nullable=True),
        sa.Column("public_key", sa.Text(), nullable=True),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("transaction_id", "digest", name=op.f("pk_ocpp_signed_values")),
    )
    op.create_table(
        "ocpp_charger_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("detail_json", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_ocpp_charger_events_entity_id_entities")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ocpp_charger_events")),
    )
    op.create_index(
        op.f("ix_ocpp_charger_events_entity_id_received_ms_id"),
        "ocpp_charger_events",
        ["entity_id", "received_ms", "id"],
        unique=False,
    )
    with op.batch_alter_table("ocpp_stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("meter_public_key", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "zoneless_timestamps_as_utc",
                sa.Boolean(),
                server_default=sa.false(),
                nullable=False,
            )
        )
        batch_op.add_column(
            sa.Column("numbers_as_strings", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("connection_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("connected_ms", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("ocpp_transactions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("start_reported", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("charge_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("id_tag", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("meter_evidence", sa.String(length=24), nullable=True))
    # The idTag of each OCPP session is its transaction's.
    op.execute(
        "UPDATE charge_sessions SET id_tag = (SELECT t.id_tag FROM ocpp_transactions t "
        "WHERE t.session_id = charge_sessions.id) WHERE source = 'ocpp'"
    )
    # Every record gains data.idTag and data.meterEvidence: rebuild each from its columns.
    _rewrite_records(lambda row: charge_record_json(row._asdict()))


def downgrade() -> None:
    _rewrite_records(_without_new_fields)
    with op.batch_alter_table("charge_sessions", schema=None) as batch_op:
        batch_op.drop_column("meter_evidence")
        batch_op.drop_column("id_tag")
    with op.batch_alter_table("ocpp_transactions", schema=None) as batch_op:
        batch_op.drop_column("start_reported")
    with op.batch_alter_table("ocpp_stations", schema=None) as batch_op:
        batch_op.drop_column("connected_ms")
        batch_op.drop_column("connection_id")
        batch_op.drop_column("numbers_as_strings")
        batch_op.drop_column("zoneless_timestamps_as_utc")
        batch_op.drop_column("meter_public_key")
    op.drop_index(
        op.f("ix_ocpp_charger_events_entity_id_received_ms_id"), table_name="ocpp_charger_events"
    )
    op.drop_table("ocpp_charger_events")
    op.drop_table("ocpp_signed_values")
    # Back to one event per seqNo: of events sharing one, the first received is kept.
    _set_aside("ocpp_transaction_events", "ocpp_transaction_events_0006")
    op.create_table(
        "ocpp_transaction_events",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("seq_no", sa.Integer(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "transaction_id", "seq_no", name=op.f("pk_ocpp_transaction_events")
        ),
    )
    op.execute(
        "INSERT INTO ocpp_transaction_events "
        "(transaction_id, seq_no, event_type, timestamp_ms, received_ms) "
        "SELECT e.transaction_id, e.seq_no, e.event_type, e.timestamp_ms, e.received_ms "
        "FROM ocpp_transaction_events_0006 e WHERE e.seq_no BETWEEN -2147483648 AND 2147483647 "
        "AND e.digest = (SELECT MIN(f.digest) FROM ocpp_transaction_events_0006 f "
        "WHERE f.transaction_id = e.transaction_id AND f.seq_no = e.seq_no)"
    )
    op.drop_table("ocpp_transaction_events_0006")


def _set_aside(table: str, new_name: str) -> None:
    """Rename a table and, on PostgreSQL, its primary key (constraint names are per schema
    there, and the table made in its place takes the old name)."""
    op.rename_table(table, new_name)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {new_name} RENAME CONSTRAINT pk_{table} TO pk_{new_name}")


def _create_transaction_events() -> None:
    op.create_table(
        "ocpp_transaction_events",
        sa.Column("transaction_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("seq_no", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger(), nullable=False),
        sa.Column("received_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "transaction_id", "digest", name=op.f("pk_ocpp_transaction_events")
        ),
    )


def _without_new_fields(row: Any) -> str:
    record = orjson.loads(row.record_json)
    record["data"].pop("idTag", None)
    record["data"].pop("meterEvidence", None)
    return orjson.dumps(record).decode()


_COLUMNS = (
    "entity_id", "id", "start_ms", "end_ms", "created_ms", "energy_kwh", "t1_kwh", "t2_kwh",
    "t3_kwh", "t4_kwh", "average_power_kw", "soc_start_pct", "soc_end_pct", "range_start_km",
    "range_end_km", "latitude", "longitude", "address", "location_matches_json",
    "matched_address", "method", "energy_method", "energy_uncertainty_kwh", "id_tag",
    "meter_evidence", "record_json",
)  # fmt: skip


def _rewrite_records(record_of: Any) -> None:
    """Store record_of(row) as the record of every session, a batch at a time (as 0005);
    called while id_tag and meter_evidence exist."""
    connection = op.get_bind()
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
