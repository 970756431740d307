"""OCPP identities per tenant: stations keyed by (tenant, identity); those registered before
keep their global path

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ocpp_stations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tenant_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("legacy_identity", sa.String(length=48), nullable=True))
    # Every station registered so far was configured with /ocpp/<identity>: it keeps that
    # path (legacy_identity), its identity reserved there, across tenants, as it was.
    op.execute(
        "UPDATE ocpp_stations SET legacy_identity = identity, tenant_id = "
        "(SELECT e.tenant_id FROM entities e WHERE e.id = ocpp_stations.entity_id)"
    )
    with op.batch_alter_table("ocpp_stations", schema=None) as batch_op:
        batch_op.alter_column("tenant_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_constraint("pk_ocpp_stations", type_="primary")
        batch_op.create_primary_key("pk_ocpp_stations", ["tenant_id", "identity"])
        batch_op.create_foreign_key(
            batch_op.f("fk_ocpp_stations_tenant_id_tenants"), "tenants", ["tenant_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_ocpp_stations_legacy_identity"), ["legacy_identity"]
        )


def downgrade() -> None:
    # Identities are global again: of stations sharing one, the one on the legacy path (else
    # the first registered) keeps it; the others lose their credentials (set them again).
    op.execute(
        "DELETE FROM ocpp_stations WHERE legacy_identity IS NULL AND EXISTS ("
        "SELECT 1 FROM ocpp_stations o WHERE o.identity = ocpp_stations.identity "
        "AND o.entity_id <> ocpp_stations.entity_id AND (o.legacy_identity IS NOT NULL "
        "OR o.created_ms < ocpp_stations.created_ms OR (o.created_ms = ocpp_stations.created_ms "
        "AND o.entity_id < ocpp_stations.entity_id)))"
    )
    with op.batch_alter_table("ocpp_stations", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_ocpp_stations_legacy_identity"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_ocpp_stations_tenant_id_tenants"), type_="foreignkey"
        )
        batch_op.drop_constraint("pk_ocpp_stations", type_="primary")
        batch_op.create_primary_key("pk_ocpp_stations", ["identity"])
        batch_op.drop_column("legacy_identity")
        batch_op.drop_column("tenant_id")
