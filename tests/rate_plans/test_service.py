"""rate_plans service and repository in-process, on a connection rolled back at the end:
load_driver_plans (what statements price with), the cycle guard, deletes refused while a
driver is assigned the plan."""

from datetime import date
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.rates import (
    AppliedRates,
    RatePeriod,
    RatePlanError,
    rates_on,
)
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.errors import ConflictError
from chargeledger.rate_plans import repository, service
from chargeledger.storage.tables import driver_rate_plans, drivers, rate_plans, tenants

NOW_MS = 1_790_000_000_000


def flat(valid_from: date, valid_to: date | None, price: str) -> RatePeriod:
    value = Decimal(price)
    return RatePeriod(valid_from, valid_to, Registers(value, value, value, value))


async def add_tenant(connection: AsyncConnection) -> UUID:
    tenant_id = uuid4()
    await connection.execute(
        sa.insert(tenants).values(id=tenant_id, name="test", created_ms=NOW_MS)
    )
    return tenant_id


async def add_driver(connection: AsyncConnection, tenant_id: UUID) -> UUID:
    driver_id = uuid4()
    await connection.execute(
        sa.insert(drivers).values(
            id=driver_id,
            tenant_id=tenant_id,
            name="An Peeters",
            employee_number=f"E{driver_id.hex[:8]}",
            region="BE-VLG",
            email=None,
            created_ms=NOW_MS,
            updated_ms=NOW_MS,
        )
    )
    return driver_id


async def assign(
    connection: AsyncConnection,
    tenant_id: UUID,
    driver_id: UUID,
    plan_id: UUID,
    valid_from: str,
    valid_to: str | None,
) -> None:
    await connection.execute(
        sa.insert(driver_rate_plans).values(
            id=uuid4(),
            tenant_id=tenant_id,
            driver_id=driver_id,
            plan_id=plan_id,
            valid_from=valid_from,
            valid_to=valid_to,
            created_ms=NOW_MS,
        )
    )


async def new_plan(
    connection: AsyncConnection,
    tenant_id: UUID,
    name: str,
    periods: list[RatePeriod],
    cap: UUID | None = None,
) -> UUID:
    view = await service.create_plan(
        connection,
        tenant_id=tenant_id,
        name=name,
        currency="EUR",
        cap_plan_id=cap,
        periods=periods,
        now_ms=NOW_MS,
    )
    plan_id: UUID = view.row.id
    return plan_id


async def test_load_driver_plans_gives_each_assignment_its_plan_periods_and_caps(
    connection: AsyncConnection,
) -> None:
    tenant_id = await add_tenant(connection)
    driver_id = await add_driver(connection, tenant_id)
    ceiling = await new_plan(
        connection, tenant_id, "EU ceiling", [flat(date(2026, 1, 1), None, "0.29")]
    )
    creg = await new_plan(
        connection,
        tenant_id,
        "CREG maximum Flanders",
        [
            flat(date(2027, 1, 1), None, "0.2790"),
            flat(date(2026, 10, 1), date(2027, 1, 1), "0.2845"),
        ],
        cap=ceiling,
    )
    contract = await new_plan(
        connection,
        tenant_id,
        "Contract",
        [
            RatePeriod(
                date(2026, 1, 1),
                None,
                Registers(Decimal("0.35"), Decimal("0.25"), Decimal("0.35"), Decimal("0.35")),
            )
        ],
        cap=creg,
    )
    old = await new_plan(connection, tenant_id, "Old", [flat(date(2025, 1, 1), None, "0.2")])
    await assign(connection, tenant_id, driver_id, contract, "2026-07-01", None)
    await assign(connection, tenant_id, driver_id, old, "2025-01-01", "2026-07-01")

    loaded = await repository.load_driver_plans(connection, tenant_id, driver_id)

    assert [(a.plan.name, a.valid_from, a.valid_to) for a in loaded] == [
        ("Old", date(2025, 1, 1), date(2026, 7, 1)),
        ("Contract", date(2026, 7, 1), None),
    ]
    plan = loaded[1].plan
    assert plan.id == contract
    assert plan.currency == "EUR"
    assert plan.cap is not None
    assert plan.cap.id == creg
    assert [period.valid_from for period in plan.cap.periods] == [
        date(2026, 10, 1),
        date(2027, 1, 1),
    ]
    assert plan.cap.cap is not None
    assert plan.cap.cap.id == ceiling
    assert plan.cap.cap.cap is None
    # Priced on 2026-11-03: t1 capped by CREG's 0.2845, t2 keeps the contract's 0.25.
    rates = rates_on(plan, date(2026, 11, 3))
    assert isinstance(rates, AppliedRates)
    assert rates.prices == Registers(
        Decimal("0.2845"), Decimal("0.25"), Decimal("0.2845"), Decimal("0.2845")
    )
    assert rates.capped == ("t1", "t3", "t4")


async def test_load_driver_plans_sees_only_the_tenants_rows(connection: AsyncConnection) -> None:
    tenant_id, other_tenant = await add_tenant(connection), await add_tenant(connection)
    driver_id = await add_driver(connection, tenant_id)
    plan = await new_plan(connection, tenant_id, "P", [])
    await assign(connection, tenant_id, driver_id, plan, "2026-01-01", None)

    assert await repository.load_driver_plans(connection, other_tenant, driver_id) == []
    assert await repository.load_driver_plans(connection, tenant_id, uuid4()) == []
    assert len(await repository.load_driver_plans(connection, tenant_id, driver_id)) == 1


async def test_a_cycle_of_caps_in_a_damaged_database_is_reported_not_looped(
    connection: AsyncConnection,
) -> None:
    tenant_id = await add_tenant(connection)
    driver_id = await add_driver(connection, tenant_id)
    a = await new_plan(connection, tenant_id, "A", [])
    b = await new_plan(connection, tenant_id, "B", [], cap=a)
    # The API refuses this; written behind its back, loading must stop rather than recurse.
    await connection.execute(
        sa.update(rate_plans).where(rate_plans.c.id == a).values(cap_plan_id=b)
    )
    await assign(connection, tenant_id, driver_id, a, "2026-01-01", None)

    with pytest.raises(RatePlanError, match="capped by itself"):
        await repository.load_driver_plans(connection, tenant_id, driver_id)


async def test_a_plan_assigned_to_a_driver_cannot_be_deleted(connection: AsyncConnection) -> None:
    tenant_id = await add_tenant(connection)
    driver_id = await add_driver(connection, tenant_id)
    plan = await new_plan(connection, tenant_id, "P", [flat(date(2026, 1, 1), None, "0.3")])
    await assign(connection, tenant_id, driver_id, plan, "2026-01-01", None)

    with pytest.raises(ConflictError, match="1 driver rate-plan assignment name it"):
        await service.delete_plan(connection, tenant_id=tenant_id, plan_id=plan)

    await connection.execute(
        sa.delete(driver_rate_plans).where(driver_rate_plans.c.plan_id == plan)
    )
    await service.delete_plan(connection, tenant_id=tenant_id, plan_id=plan)
    assert await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan) is None
    assert await repository.periods_of(connection, [plan]) == {plan: []}


async def test_upserted_periods_replace_those_with_the_same_start(
    connection: AsyncConnection,
) -> None:
    tenant_id = await add_tenant(connection)
    plan = await new_plan(
        connection,
        tenant_id,
        "P",
        [flat(date(2026, 1, 1), date(2026, 7, 1), "0.3"), flat(date(2026, 7, 1), None, "0.31")],
    )

    await repository.upsert_periods(
        connection,
        plan_id=plan,
        periods=[
            flat(date(2026, 7, 1), date(2027, 1, 1), "0.32"),
            flat(date(2027, 1, 1), None, "0.33"),
        ],
    )

    assert (await repository.periods_of(connection, [plan]))[plan] == [
        flat(date(2026, 1, 1), date(2026, 7, 1), "0.3"),
        flat(date(2026, 7, 1), date(2027, 1, 1), "0.32"),
        flat(date(2027, 1, 1), None, "0.33"),
    ]
