"""The SQL of rate plans and their periods, and the loading of a driver's plans for statements.

Prices are stored as decimal text (never floats); dates as "YYYY-MM-DD" text, which sorts and
compares like the dates.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.money import plain
from chargeledger.domain.reimbursement.rates import RatePeriod, RatePlan, RatePlanError
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.domain.reimbursement.statements import PlanAssignment
from chargeledger.storage.tables import driver_rate_plans, rate_plan_periods, rate_plans, tenants

# Bound on the bound parameters of one statement (SQLite and asyncpg allow some 32,000): an
# import of 1 MiB names up to some 50,000 plans or periods.
_CHUNK = 1000


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for offset in range(0, len(values), _CHUNK):
        yield values[offset : offset + _CHUNK]


async def lock_tenant(connection: AsyncConnection, *, tenant_id: UUID) -> None:
    """Serializes the tenant's changes to caps and periods (PostgreSQL; SQLite's writers are
    serial anyway): two concurrent changes could otherwise each pass the cycle or overlap check
    and together store what neither would have. NO KEY UPDATE: rows that merely reference the
    tenant are not held up."""
    await connection.execute(
        sa.select(tenants.c.id).where(tenants.c.id == tenant_id).with_for_update(key_share=True)
    )


# --- plans -------------------------------------------------------------------------------------


async def insert_plan(connection: AsyncConnection, **values: Any) -> None:
    await connection.execute(sa.insert(rate_plans).values(**values))


async def get_plan(
    connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID, lock: bool = False
) -> sa.Row[Any] | None:
    """The tenant's plan, None when it is missing or another tenant's. `lock` holds its row
    until the transaction ends (PostgreSQL): a driver assigned it meanwhile waits, or is seen."""
    query = sa.select(rate_plans).where(
        rate_plans.c.id == plan_id, rate_plans.c.tenant_id == tenant_id
    )
    if lock:
        query = query.with_for_update()
    return (await connection.execute(query)).first()


async def plans_named(
    connection: AsyncConnection, *, tenant_id: UUID, names: Collection[str]
) -> list[sa.Row[Any]]:
    """The tenant's plans with these names, oldest first. Names are not indexed: many names
    are looked up in one pass over the tenant's plans rather than a pass per chunk of them."""
    wanted = set(names)
    query = sa.select(rate_plans).where(rate_plans.c.tenant_id == tenant_id)
    if len(wanted) <= _CHUNK:
        query = query.where(rate_plans.c.name.in_(sorted(wanted)))
    result = await connection.execute(query.order_by(rate_plans.c.created_ms, rate_plans.c.id))
    return [row for row in result.all() if row.name in wanted]


async def insert_plans(connection: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Many plans in one batch (executemany)."""
    if rows:
        await connection.execute(sa.insert(rate_plans), list(rows))


async def list_plans(
    connection: AsyncConnection, *, tenant_id: UUID, after: tuple[int, UUID] | None, limit: int
) -> list[sa.Row[Any]]:
    """Oldest first, keyset-paged by (created_ms, id)."""
    query = sa.select(rate_plans).where(rate_plans.c.tenant_id == tenant_id)
    if after is not None:
        query = query.where(sa.tuple_(rate_plans.c.created_ms, rate_plans.c.id) > sa.tuple_(*after))
    query = query.order_by(rate_plans.c.created_ms, rate_plans.c.id).limit(limit)
    return list((await connection.execute(query)).all())


async def update_plan(connection: AsyncConnection, *, plan_id: UUID, **values: Any) -> None:
    await connection.execute(
        sa.update(rate_plans).where(rate_plans.c.id == plan_id).values(**values)
    )


async def touch_plans(
    connection: AsyncConnection, *, plan_ids: Sequence[UUID], updated_ms: int
) -> None:
    for chunk in _chunks(plan_ids):
        await connection.execute(
            sa.update(rate_plans).where(rate_plans.c.id.in_(chunk)).values(updated_ms=updated_ms)
        )


async def delete_plan(connection: AsyncConnection, *, plan_id: UUID) -> None:
    await connection.execute(
        sa.delete(rate_plan_periods).where(rate_plan_periods.c.plan_id == plan_id)
    )
    await connection.execute(sa.delete(rate_plans).where(rate_plans.c.id == plan_id))


async def plan_references(
    connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID
) -> tuple[int, list[str]]:
    """How many driver rate-plan assignments name the plan, and the names of the plans it caps."""
    assigned = await connection.scalar(
        sa.select(sa.func.count())
        .select_from(driver_rate_plans)
        .where(driver_rate_plans.c.tenant_id == tenant_id, driver_rate_plans.c.plan_id == plan_id)
    )
    capping = await connection.execute(
        sa.select(rate_plans.c.name)
        .where(rate_plans.c.tenant_id == tenant_id, rate_plans.c.cap_plan_id == plan_id)
        .order_by(rate_plans.c.name)
    )
    return int(assigned or 0), list(capping.scalars().all())


# --- periods -----------------------------------------------------------------------------------


def period_values(plan_id: UUID, period: RatePeriod) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "valid_from": period.valid_from.isoformat(),
        "valid_to": None if period.valid_to is None else period.valid_to.isoformat(),
        "t1_price": plain(period.prices.t1),
        "t2_price": plain(period.prices.t2),
        "t3_price": plain(period.prices.t3),
        "t4_price": plain(period.prices.t4),
    }


def period_from_row(row: sa.Row[Any]) -> RatePeriod:
    return RatePeriod(
        valid_from=date.fromisoformat(row.valid_from),
        valid_to=None if row.valid_to is None else date.fromisoformat(row.valid_to),
        prices=Registers(
            Decimal(row.t1_price),
            Decimal(row.t2_price),
            Decimal(row.t3_price),
            Decimal(row.t4_price),
        ),
    )


async def periods_of(
    connection: AsyncConnection, plan_ids: Collection[UUID]
) -> dict[UUID, list[RatePeriod]]:
    """The periods of the plans (callers check the plans are the tenant's), sorted by start."""
    found: dict[UUID, list[RatePeriod]] = {plan_id: [] for plan_id in plan_ids}
    for chunk in _chunks(list(found)):
        result = await connection.execute(
            sa.select(rate_plan_periods)
            .where(rate_plan_periods.c.plan_id.in_(chunk))
            .order_by(rate_plan_periods.c.plan_id, rate_plan_periods.c.valid_from)
        )
        for row in result.all():
            found[row.plan_id].append(period_from_row(row))
    return found


async def upsert_periods(
    connection: AsyncConnection, *, plan_id: UUID, periods: Sequence[RatePeriod]
) -> None:
    """Each period replaces the plan's period with the same start (its end and prices)."""
    await upsert_many_periods(connection, {plan_id: periods})


async def upsert_many_periods(
    connection: AsyncConnection, periods: Mapping[UUID, Sequence[RatePeriod]]
) -> None:
    """The same for many plans: the old periods go, the new ones come in one batch (an import
    brings thousands)."""
    await delete_periods_starting(connection, periods)
    await insert_periods(connection, periods)


async def delete_periods_starting(
    connection: AsyncConnection, periods: Mapping[UUID, Sequence[RatePeriod]]
) -> None:
    """Deletes the plans' stored periods that start where one of `periods` starts."""
    # Deleted by one column's value and a list of the other's, so that both databases use the
    # primary key (a list of pairs makes PostgreSQL scan): grouped by whichever makes fewer
    # statements (an import has many plans and few starts, or one plan and many starts).
    by_plan: dict[UUID, list[str]] = {}
    by_start: dict[str, list[UUID]] = {}
    for plan_id, plan_periods in periods.items():
        for period in plan_periods:
            start = period.valid_from.isoformat()
            by_plan.setdefault(plan_id, []).append(start)
            by_start.setdefault(start, []).append(plan_id)
    table = rate_plan_periods
    if len(by_plan) <= len(by_start):
        for plan_id, starts in by_plan.items():
            for chunk in _chunks(starts):
                await connection.execute(
                    sa.delete(table).where(
                        table.c.plan_id == plan_id, table.c.valid_from.in_(chunk)
                    )
                )
    else:
        for start, plan_ids in by_start.items():
            for chunk in _chunks(plan_ids):
                await connection.execute(
                    sa.delete(table).where(table.c.valid_from == start, table.c.plan_id.in_(chunk))
                )


async def insert_periods(
    connection: AsyncConnection, periods: Mapping[UUID, Sequence[RatePeriod]]
) -> None:
    values = [
        period_values(plan_id, period)
        for plan_id, plan_periods in periods.items()
        for period in plan_periods
    ]
    if values:
        await connection.execute(sa.insert(rate_plan_periods), values)


async def delete_period(connection: AsyncConnection, *, plan_id: UUID, valid_from: date) -> bool:
    result = await connection.execute(
        sa.delete(rate_plan_periods).where(
            rate_plan_periods.c.plan_id == plan_id,
            rate_plan_periods.c.valid_from == valid_from.isoformat(),
        )
    )
    return result.rowcount > 0


# --- plans as the domain sees them ------------------------------------------------------------


async def _plan_rows_with_caps(
    connection: AsyncConnection, *, tenant_id: UUID, rows: Sequence[sa.Row[Any]]
) -> dict[UUID, sa.Row[Any]]:
    """The rows given, and the rows of their caps, the caps' caps, ... (by id, a level a query;
    a cap is rarely capped in turn)."""
    known: dict[UUID, sa.Row[Any]] = {row.id: row for row in rows}
    missing = {row.cap_plan_id for row in rows if row.cap_plan_id is not None} - known.keys()
    while missing:
        result = await connection.execute(
            sa.select(rate_plans).where(
                rate_plans.c.tenant_id == tenant_id, rate_plans.c.id.in_(list(missing))
            )
        )
        found = list(result.all())
        known.update((row.id, row) for row in found)
        # A cap that is not found (cannot happen: foreign key, same tenant) ends the walk.
        missing = {row.cap_plan_id for row in found if row.cap_plan_id is not None} - known.keys()
    return known


def build_plans(
    rows: Mapping[UUID, sa.Row[Any]], periods: Mapping[UUID, Sequence[RatePeriod]]
) -> dict[UUID, RatePlan]:
    """Domain plans for the rows, each with its cap resolved recursively.

    Raises RatePlanError on a cycle of caps (refused when stored: only a damaged database has one).
    """
    built: dict[UUID, RatePlan] = {}

    def build(plan_id: UUID, visiting: frozenset[UUID]) -> RatePlan:
        if plan_id in built:
            return built[plan_id]
        if plan_id in visiting:
            raise RatePlanError(f"rate plan {plan_id} is capped by itself through other plans")
        row = rows[plan_id]
        cap = None
        if row.cap_plan_id is not None and row.cap_plan_id in rows:
            cap = build(row.cap_plan_id, visiting | {plan_id})
        plan = RatePlan(
            id=row.id,
            name=row.name,
            currency=row.currency,
            periods=tuple(sorted(periods.get(plan_id, ()), key=lambda period: period.valid_from)),
            cap=cap,
        )
        built[plan_id] = plan
        return plan

    for plan_id in rows:
        build(plan_id, frozenset())
    return built


async def load_plans(
    connection: AsyncConnection, *, tenant_id: UUID, rows: Sequence[sa.Row[Any]]
) -> dict[UUID, RatePlan]:
    """The domain plans of the given plan rows (and of their caps), by id."""
    all_rows = await _plan_rows_with_caps(connection, tenant_id=tenant_id, rows=rows)
    periods = await periods_of(connection, all_rows.keys())
    return build_plans(all_rows, periods)


async def load_plan(
    connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID
) -> RatePlan | None:
    row = await get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)
    if row is None:
        return None
    return (await load_plans(connection, tenant_id=tenant_id, rows=[row]))[plan_id]


async def load_driver_plans(
    connection: AsyncConnection, tenant_id: UUID, driver_id: UUID
) -> list[PlanAssignment]:
    """The driver's rate-plan assignments, sorted by start, each with its plan, the plan's
    periods and its cap (recursively) resolved. A query for the assignments with their plans,
    one per level of caps (usually one), one for all the periods."""
    result = await connection.execute(
        sa.select(
            driver_rate_plans.c.valid_from.label("assigned_from"),
            driver_rate_plans.c.valid_to.label("assigned_to"),
            driver_rate_plans.c.created_ms.label("assigned_ms"),
            rate_plans,
        )
        .join(rate_plans, rate_plans.c.id == driver_rate_plans.c.plan_id)
        .where(
            driver_rate_plans.c.tenant_id == tenant_id,
            driver_rate_plans.c.driver_id == driver_id,
            rate_plans.c.tenant_id == tenant_id,
        )
        .order_by(driver_rate_plans.c.valid_from, driver_rate_plans.c.created_ms)
    )
    assigned = list(result.all())
    if not assigned:
        return []
    plans = await load_plans(connection, tenant_id=tenant_id, rows=assigned)
    return [
        PlanAssignment(
            plan=plans[row.id],
            valid_from=date.fromisoformat(row.assigned_from),
            valid_to=None if row.assigned_to is None else date.fromisoformat(row.assigned_to),
        )
        for row in assigned
    ]
