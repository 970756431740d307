"""Rate plans and their periods, for the tenant that owns them: another tenant's plan is not
found, in the same words as one that never existed.

Every change takes the tenant's lock first (repository.lock_tenant): the cycle check of caps,
the overlap check of periods and the name lookup of an import each read several rows, and two
concurrent changes could otherwise each pass and together store what neither would have.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.reimbursement.rates import (
    RatePeriod,
    RatePlanError,
    check_cap,
    checked_periods,
)
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import ConflictError, InvalidInputError, NotFoundError
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position
from chargeledger.rate_plans import repository


def plan_not_found(plan_id: object) -> NotFoundError:
    return NotFoundError(f"rate plan {plan_id} was not found")


def invalid(detail: str, *, name: str) -> InvalidInputError:
    return InvalidInputError(detail, errors=[{"name": name, "in": "body", "detail": detail}])


@dataclass(frozen=True, slots=True)
class PlanView:
    """A plan's row and its periods, sorted by start."""

    row: sa.Row[Any]
    periods: list[RatePeriod]


async def _view(connection: AsyncConnection, row: sa.Row[Any]) -> PlanView:
    periods = await repository.periods_of(connection, [row.id])
    return PlanView(row=row, periods=periods[row.id])


async def _checked_cap(
    connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID, currency: str, cap_id: UUID
) -> None:
    """A cap must be a plan of the tenant (404), in the plan's currency, and not capped by the
    plan itself, directly or through others (400)."""
    cap = await repository.load_plan(connection, tenant_id=tenant_id, plan_id=cap_id)
    if cap is None:
        raise plan_not_found(cap_id)
    try:
        check_cap(plan_id, currency, cap)
    except RatePlanError as error:
        raise invalid(f"capPlanId: {error}", name="capPlanId") from None


async def create_plan(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    name: str,
    currency: str,
    cap_plan_id: UUID | None,
    periods: Sequence[RatePeriod],
    now_ms: int,
) -> PlanView:
    try:
        ordered = checked_periods(periods)
    except RatePlanError as error:
        raise invalid(f"periods: {error}", name="periods") from None
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    plan_id = uuid.uuid4()
    if cap_plan_id is not None:
        await _checked_cap(
            connection, tenant_id=tenant_id, plan_id=plan_id, currency=currency, cap_id=cap_plan_id
        )
    await repository.insert_plan(
        connection,
        id=plan_id,
        tenant_id=tenant_id,
        name=name,
        currency=currency,
        cap_plan_id=cap_plan_id,
        created_ms=now_ms,
        updated_ms=now_ms,
    )
    await repository.upsert_periods(connection, plan_id=plan_id, periods=ordered)
    return await get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)


async def get_plan(connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID) -> PlanView:
    row = await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)
    if row is None:
        raise plan_not_found(plan_id)
    return await _view(connection, row)


async def list_plans(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> tuple[Page[sa.Row[Any]], dict[UUID, list[RatePeriod]]]:
    """A page of plans, oldest first, and the periods of the plans on it (one query)."""
    after = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.RATE_PLANS, scope_id=tenant_id
    )
    rows = await repository.list_plans(
        connection, tenant_id=tenant_id, after=after, limit=page_size + 1
    )
    page = make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=CursorKind.RATE_PLANS,
        scope_id=tenant_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )
    periods = await repository.periods_of(connection, [row.id for row in page.rows])
    return page, periods


async def update_plan(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    plan_id: UUID,
    name: str | None,
    change_cap: bool,
    cap_plan_id: UUID | None,
    now_ms: int,
) -> PlanView:
    """`name` None keeps the name; `change_cap` sets the cap to `cap_plan_id` (None removes it)."""
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    row = await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)
    if row is None:
        raise plan_not_found(plan_id)
    values: dict[str, Any] = {}
    if name is not None and name != row.name:
        values["name"] = name
    if change_cap and cap_plan_id != row.cap_plan_id:
        if cap_plan_id is not None:
            await _checked_cap(
                connection,
                tenant_id=tenant_id,
                plan_id=plan_id,
                currency=row.currency,
                cap_id=cap_plan_id,
            )
        values["cap_plan_id"] = cap_plan_id
    if values:
        await repository.update_plan(connection, plan_id=plan_id, updated_ms=now_ms, **values)
    return await get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)


async def delete_plan(connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID) -> None:
    """Refused (409) while a driver is assigned the plan or it caps another plan."""
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    # The row's lock waits for a driver being assigned the plan right now (their insert
    # holds a key-share lock on it), so the count below sees that assignment.
    row = await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan_id, lock=True)
    if row is None:
        raise plan_not_found(plan_id)
    assigned, capping = await repository.plan_references(
        connection, tenant_id=tenant_id, plan_id=plan_id
    )
    reasons = []
    if assigned:
        reasons.append(
            f"{assigned} driver rate-plan assignment{'s' if assigned != 1 else ''} "
            "name it (DELETE /v1/drivers/{driverId}/rate-plans/{id} first)"
        )
    if capping:
        named = ", ".join(repr(name) for name in capping)
        reasons.append(f"it caps {named} (remove their capPlanId first)")
    if reasons:
        raise ConflictError(f"rate plan {plan_id} is in use: " + "; ".join(reasons))
    await repository.delete_plan(connection, plan_id=plan_id)


def merged_periods(stored: Sequence[RatePeriod], new: Sequence[RatePeriod]) -> list[RatePeriod]:
    """The stored periods with those starting on a new one's start replaced by it."""
    starts = {period.valid_from for period in new}
    return [period for period in stored if period.valid_from not in starts] + list(new)


async def put_period(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    plan_id: UUID,
    period: RatePeriod,
    now_ms: int,
) -> PlanView:
    """Creates or replaces the period starting on `period.valid_from`; 409 when it overlaps
    another of the plan's periods."""
    try:
        checked_periods([period])
    except RatePlanError as error:
        raise invalid(f"validTo: {error}", name="validTo") from None
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    row = await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)
    if row is None:
        raise plan_not_found(plan_id)
    stored = (await repository.periods_of(connection, [plan_id]))[plan_id]
    try:
        checked_periods(merged_periods(stored, [period]))
    except RatePlanError as error:
        raise ConflictError(f"{error}: change or delete the stored period first") from None
    await repository.upsert_periods(connection, plan_id=plan_id, periods=[period])
    await repository.update_plan(connection, plan_id=plan_id, updated_ms=now_ms)
    return await get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)


async def delete_period(
    connection: AsyncConnection, *, tenant_id: UUID, plan_id: UUID, valid_from: date, now_ms: int
) -> None:
    await repository.lock_tenant(connection, tenant_id=tenant_id)
    row = await repository.get_plan(connection, tenant_id=tenant_id, plan_id=plan_id)
    if row is None:
        raise plan_not_found(plan_id)
    if not await repository.delete_period(connection, plan_id=plan_id, valid_from=valid_from):
        raise NotFoundError(f"rate plan {plan_id} has no period from {valid_from}")
    await repository.update_plan(connection, plan_id=plan_id, updated_ms=now_ms)
