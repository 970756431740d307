"""Reimbursement: drivers and their assignments, rate plans with periods and caps, the tenant's
policy, finalised statements with their lines, statement numbers and statement runs

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29 08:04:43.300489
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "statement_counters",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_statement_counters")),
    )
    op.create_table(
        "drivers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("employee_number", sa.Text(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_drivers_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drivers")),
        sa.UniqueConstraint(
            "tenant_id", "employee_number", name=op.f("uq_drivers_tenant_id_employee_number")
        ),
    )
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_drivers_tenant_id_created_ms_id"),
            ["tenant_id", "created_ms", "id"],
            unique=False,
        )

    op.create_table(
        "rate_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("cap_plan_id", sa.Uuid(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cap_plan_id"], ["rate_plans.id"], name=op.f("fk_rate_plans_cap_plan_id_rate_plans")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rate_plans_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_plans")),
    )
    with op.batch_alter_table("rate_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rate_plans_tenant_id_created_ms_id"),
            ["tenant_id", "created_ms", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_rate_plans_tenant_id_name"), ["tenant_id", "name"], unique=False
        )

    op.create_table(
        "reimbursement_policies",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("time_zone", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=3), server_default="EUR", nullable=False),
        sa.Column("home_location_label", sa.Text(), nullable=False),
        sa.Column("minimum_accuracy", sa.Text(), nullable=False),
        sa.Column("count_car_at_home", sa.Boolean(), nullable=False),
        sa.Column("count_home_charge_point", sa.Boolean(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_reimbursement_policies_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_reimbursement_policies")),
    )
    op.create_table(
        "statement_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("period_start", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.String(length=10), nullable=False),
        sa.Column("finalise", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("lease_until_ms", sa.BigInteger(), nullable=True),
        sa.Column("driver_count", sa.Integer(), nullable=False),
        sa.Column("drivers_done", sa.Integer(), nullable=False),
        sa.Column("total_amount", sa.Text(), nullable=True),
        sa.Column("problems_json", sa.Text(), server_default="[]", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_statement_runs_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statement_runs")),
    )
    with op.batch_alter_table("statement_runs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statement_runs_tenant_id_created_ms_id"),
            ["tenant_id", "created_ms", "id"],
            unique=False,
        )

    op.create_table(
        "driver_assignments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("driver_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column("id_tag", sa.Text(), nullable=True),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_to", sa.String(length=10), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_driver_assignments_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["entity_id"], ["entities.id"], name=op.f("fk_driver_assignments_entity_id_entities")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_driver_assignments_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_assignments")),
    )
    with op.batch_alter_table("driver_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_driver_assignments_tenant_id_driver_id_valid_from"),
            ["tenant_id", "driver_id", "valid_from"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_driver_assignments_tenant_id_entity_id"),
            ["tenant_id", "entity_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_driver_assignments_tenant_id_id_tag"),
            ["tenant_id", "id_tag"],
            unique=False,
        )

    op.create_table(
        "driver_rate_plans",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("driver_id", sa.Uuid(), nullable=False),
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_to", sa.String(length=10), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_driver_rate_plans_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["rate_plans.id"], name=op.f("fk_driver_rate_plans_plan_id_rate_plans")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_driver_rate_plans_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_driver_rate_plans")),
    )
    with op.batch_alter_table("driver_rate_plans", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_driver_rate_plans_tenant_id_driver_id_valid_from"),
            ["tenant_id", "driver_id", "valid_from"],
            unique=False,
        )

    op.create_table(
        "rate_plan_periods",
        sa.Column("plan_id", sa.Uuid(), nullable=False),
        sa.Column("valid_from", sa.String(length=10), nullable=False),
        sa.Column("valid_to", sa.String(length=10), nullable=True),
        sa.Column("t1_price", sa.Text(), nullable=False),
        sa.Column("t2_price", sa.Text(), nullable=False),
        sa.Column("t3_price", sa.Text(), nullable=False),
        sa.Column("t4_price", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["rate_plans.id"], name=op.f("fk_rate_plan_periods_plan_id_rate_plans")
        ),
        sa.PrimaryKeyConstraint("plan_id", "valid_from", name=op.f("pk_rate_plan_periods")),
    )
    op.create_table(
        "statements",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("driver_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("period_start", sa.String(length=10), nullable=False),
        sa.Column("period_end", sa.String(length=10), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("total_amount", sa.Text(), nullable=False),
        sa.Column("finalised_ms", sa.BigInteger(), nullable=False),
        sa.Column("content_json", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["drivers.id"], name=op.f("fk_statements_driver_id_drivers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_statements_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_statements")),
        sa.UniqueConstraint("tenant_id", "number", name=op.f("uq_statements_tenant_id_number")),
    )
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statements_tenant_id_driver_id_period_start"),
            ["tenant_id", "driver_id", "period_start"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_statements_tenant_id_period_start_driver_id"),
            ["tenant_id", "period_start", "driver_id"],
            unique=False,
        )

    op.create_table(
        "statement_lines",
        sa.Column("statement_id", sa.Uuid(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("driver_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=False),
        sa.Column("session_id", sa.Uuid(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=True),
        sa.Column("session_start_ms", sa.BigInteger(), nullable=False),
        sa.Column("t1_kwh", sa.Text(), nullable=False),
        sa.Column("t2_kwh", sa.Text(), nullable=False),
        sa.Column("t3_kwh", sa.Text(), nullable=False),
        sa.Column("t4_kwh", sa.Text(), nullable=False),
        sa.Column("amount", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["statements.id"],
            name=op.f("fk_statement_lines_statement_id_statements"),
        ),
        sa.PrimaryKeyConstraint("statement_id", "line_number", name=op.f("pk_statement_lines")),
    )
    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_statement_lines_tenant_id_driver_id_session_id"),
            ["tenant_id", "driver_id", "session_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("statement_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_lines_tenant_id_driver_id_session_id"))

    op.drop_table("statement_lines")
    with op.batch_alter_table("statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statements_tenant_id_period_start_driver_id"))
        batch_op.drop_index(batch_op.f("ix_statements_tenant_id_driver_id_period_start"))

    op.drop_table("statements")
    op.drop_table("rate_plan_periods")
    with op.batch_alter_table("driver_rate_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_driver_rate_plans_tenant_id_driver_id_valid_from"))

    op.drop_table("driver_rate_plans")
    with op.batch_alter_table("driver_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_driver_assignments_tenant_id_id_tag"))
        batch_op.drop_index(batch_op.f("ix_driver_assignments_tenant_id_entity_id"))
        batch_op.drop_index(batch_op.f("ix_driver_assignments_tenant_id_driver_id_valid_from"))

    op.drop_table("driver_assignments")
    with op.batch_alter_table("statement_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_statement_runs_tenant_id_created_ms_id"))

    op.drop_table("statement_runs")
    op.drop_table("reimbursement_policies")
    with op.batch_alter_table("rate_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_plans_tenant_id_name"))
        batch_op.drop_index(batch_op.f("ix_rate_plans_tenant_id_created_ms_id"))

    op.drop_table("rate_plans")
    with op.batch_alter_table("drivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_drivers_tenant_id_created_ms_id"))

    op.drop_table("drivers")
    op.drop_table("statement_counters")
