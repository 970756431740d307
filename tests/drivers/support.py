"""Drivers, assignments and rows the drivers' tests need (over HTTP, or straight into the
database for what other packages own: rate plans, finalised statements)."""

import itertools
import uuid
from typing import Any
from uuid import UUID

import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.tables import rate_plans, statements
from tests.support.api import TenantApi

_numbers = itertools.count(1)


async def create_driver(api: TenantApi, **fields: Any) -> dict[str, Any]:
    body = {"name": "An Peeters", "employeeNumber": f"E-{next(_numbers):05d}", **fields}
    response = await api.http.post("/v1/drivers", json=body)
    assert response.status_code == 201, response.text
    driver: dict[str, Any] = response.json()
    return driver


async def assign(api: TenantApi, driver_id: str, **body: Any) -> dict[str, Any]:
    response = await api.http.post(f"/v1/drivers/{driver_id}/assignments", json=body)
    assert response.status_code == 201, response.text
    assignment: dict[str, Any] = response.json()
    return assignment


async def insert_plan(database: Database, tenant_id: UUID, *, currency: str = "EUR") -> UUID:
    """A rate plan row (the rate_plans package's API is not what these tests are about)."""
    plan_id = uuid.uuid4()
    async with database.write() as connection:
        await connection.execute(
            sa.insert(rate_plans).values(
                id=plan_id,
                tenant_id=tenant_id,
                name=f"plan {plan_id}",
                currency=currency,
                cap_plan_id=None,
                created_ms=1,
                updated_ms=1,
            )
        )
    return plan_id


async def insert_statement(database: Database, tenant_id: UUID, driver_id: UUID) -> UUID:
    """A finalised statement naming the driver, as statements/ stores one."""
    statement_id = uuid.uuid4()
    async with database.write() as connection:
        await connection.execute(
            sa.insert(statements).values(
                id=statement_id,
                tenant_id=tenant_id,
                driver_id=driver_id,
                number=f"2026-{next(_numbers):06d}",
                period_start="2026-10-01",
                period_end="2026-11-01",
                currency="EUR",
                total_amount="0.00",
                finalised_ms=1,
                content_json="{}",
                content_sha256="0" * 64,
            )
        )
    return statement_id
