"""The SQL of the tenant's reimbursement policy: one row per tenant, or none (the defaults)."""

from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import Policy
from chargeledger.domain.reimbursement.money import plain
from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import reimbursement_policies


def _policy(row: sa.Row[Any]) -> Policy:
    return Policy(
        time_zone=row.time_zone,
        currency=row.currency,
        home_location_label=row.home_location_label,
        minimum_accuracy=Decimal(row.minimum_accuracy),
        count_car_at_home=row.count_car_at_home,
        count_home_charge_point=row.count_home_charge_point,
    )


async def load_policy(connection: AsyncConnection, tenant_id: UUID) -> Policy:
    """The tenant's policy; the domain's defaults (counting.Policy()) when it set none."""
    row = (
        await connection.execute(
            sa.select(reimbursement_policies).where(reimbursement_policies.c.tenant_id == tenant_id)
        )
    ).first()
    return Policy() if row is None else _policy(row)


async def store_policy(
    connection: AsyncConnection, tenant_id: UUID, policy: Policy, *, now_ms: int
) -> None:
    """Inserts or replaces the tenant's policy: one statement, so two PUTs at once cannot
    both insert."""
    values: dict[str, Any] = {
        "time_zone": policy.time_zone,
        "currency": policy.currency,
        "home_location_label": policy.home_location_label,
        "minimum_accuracy": plain(policy.minimum_accuracy),
        "count_car_at_home": policy.count_car_at_home,
        "count_home_charge_point": policy.count_home_charge_point,
        "updated_ms": now_ms,
    }
    statement = insert_on_conflict(connection, reimbursement_policies).values(
        tenant_id=tenant_id, **values
    )
    await connection.execute(
        statement.on_conflict_do_update(index_elements=["tenant_id"], set_=values)
    )
