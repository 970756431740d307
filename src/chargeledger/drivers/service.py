"""Drivers, what is theirs (assignments) and which rate plan prices their charging, for the
tenant that owns them: another tenant's driver is not found, in the same words as one that
never existed.

A car, a home charge point or a tag has one driver at a time: an assignment whose validity
overlaps another of the same entity or tag (of any driver of the tenant) is refused, checked
and written in one transaction under a lock of that entity or tag. A car that changes hands
mid-month is the ordinary case: end the old assignment on the day (validTo, exclusive) and
start the new one on that same day.

Writes hold the driver's row (PostgreSQL): a driver deleted meanwhile is not found rather
than left with an assignment written after it was gone.
"""

import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.reimbursement.counting import AssignmentKind
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.drivers import repository
from chargeledger.errors import ConflictError, InvalidInputError, NotFoundError, entity_not_found
from chargeledger.kit.paging import NO_FRAME, Page, make_page, unframed_position

# The entity type each kind of assignment needs.
_ENTITY_TYPES = {AssignmentKind.CAR: "EV", AssignmentKind.HOME_CHARGE_POINT: "ChargePoint"}

_LIST_KIND = CursorKind.DRIVERS


def _list_scope(tenant_id: UUID) -> UUID:
    return tenant_id


def driver_not_found(driver_id: object) -> NotFoundError:
    return NotFoundError(f"driver {driver_id} was not found")


def assignment_not_found(assignment_id: object) -> NotFoundError:
    return NotFoundError(f"assignment {assignment_id} of this driver was not found")


def driver_plan_not_found(assignment_id: object) -> NotFoundError:
    return NotFoundError(f"rate-plan assignment {assignment_id} of this driver was not found")


def _body_error(name: str, detail: str) -> InvalidInputError:
    return InvalidInputError(
        f"{name}: {detail}", errors=[{"name": name, "in": "body", "detail": detail}]
    )


def _taken(employee_number: str) -> ConflictError:
    return ConflictError(
        f"another driver of this tenant already has employeeNumber '{employee_number}'"
    )


def _text(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _dates(valid_from: str, valid_to: str | None) -> str:
    if valid_to is None:
        return f"from {valid_from}, with no end"
    return f"from {valid_from} until {valid_to} (exclusive)"


# ---- drivers ---------------------------------------------------------------------------


async def get_driver(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    lock: repository.DriverLock | None = None,
) -> sa.Row[Any]:
    row = await repository.get_driver(
        connection, tenant_id=tenant_id, driver_id=driver_id, lock=lock
    )
    if row is None:
        raise driver_not_found(driver_id)
    return row


async def create_driver(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    name: str,
    employee_number: str,
    region: str | None,
    email: str | None,
    now_ms: int,
) -> sa.Row[Any]:
    if await repository.driver_with_employee_number(
        connection, tenant_id=tenant_id, employee_number=employee_number
    ):
        raise _taken(employee_number)
    try:
        return await repository.insert_driver(
            connection,
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            name=name,
            employee_number=employee_number,
            region=region,
            email=email,
            created_ms=now_ms,
            updated_ms=now_ms,
        )
    except sa.exc.IntegrityError:
        # Another request gave the same employee number since we looked.
        raise _taken(employee_number) from None


async def list_drivers(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
) -> Page[sa.Row[Any]]:
    scope_id = _list_scope(tenant_id)
    after = unframed_position(
        continuation_token, key=cursor_key, kind=_LIST_KIND, scope_id=scope_id
    )
    rows = await repository.list_drivers(
        connection, tenant_id=tenant_id, after=after, limit=page_size + 1
    )
    return make_page(
        rows,
        page_size=page_size,
        frame=NO_FRAME,
        key=cursor_key,
        kind=_LIST_KIND,
        scope_id=scope_id,
        sort_key=lambda row: (row.created_ms, row.id),
    )


@dataclass(frozen=True, slots=True)
class DriverChanges:
    """What a PATCH asks for: the fields in `given` change, to these values."""

    given: frozenset[str]
    name: str | None = None
    employee_number: str | None = None
    region: str | None = None
    email: str | None = None


async def update_driver(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    changes: DriverChanges,
    now_ms: int,
) -> sa.Row[Any]:
    row = await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="update")
    values = {
        column: getattr(changes, column)
        for column in ("name", "employee_number", "region", "email")
        if column in changes.given and getattr(row, column) != getattr(changes, column)
    }
    if not values:
        return row
    number = values.get("employee_number")
    if number is not None:
        other = await repository.driver_with_employee_number(
            connection, tenant_id=tenant_id, employee_number=number
        )
        if other is not None and other.id != driver_id:
            raise _taken(number)
    try:
        return await repository.update_driver(
            connection, driver_id=driver_id, updated_ms=now_ms, **values
        )
    except sa.exc.IntegrityError:
        raise _taken(str(number)) from None


async def delete_driver(connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID) -> None:
    """Refused while a finalised statement names the driver: statements are kept, and so is
    whom they pay. Otherwise the driver goes with their assignments and rate plans."""
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="update")
    if await repository.has_statements(connection, tenant_id=tenant_id, driver_id=driver_id):
        raise ConflictError(
            f"driver {driver_id} has finalised statements, which are kept: the driver cannot "
            "be deleted (end their assignments instead)"
        )
    await repository.delete_driver(connection, tenant_id=tenant_id, driver_id=driver_id)


# ---- assignments -----------------------------------------------------------------------


def _subject(kind: str, entity_id: UUID | None, id_tag: str | None) -> str:
    if kind == AssignmentKind.ID_TAG.value:
        return f"idTag '{id_tag}'"
    noun = "car" if kind == AssignmentKind.CAR.value else "home charge point"
    return f"{noun} {entity_id}"


async def _refuse_overlap(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    kind: str,
    entity_id: UUID | None,
    id_tag: str | None,
    valid_from: date,
    valid_to: date | None,
    except_id: UUID | None = None,
) -> None:
    """Locks the entity (or tag), then refuses (409) when another assignment of it, of any
    driver of the tenant, overlaps [valid_from, valid_to). The lock is held until the
    transaction ends, so the write that follows is checked against everything committed."""
    await repository.lock_assigned(
        connection, tenant_id=tenant_id, entity_id=entity_id, id_tag=id_tag
    )
    clashes = await repository.overlapping_assignments(
        connection,
        tenant_id=tenant_id,
        entity_id=entity_id,
        id_tag=id_tag,
        valid_from=valid_from,
        valid_to=valid_to,
        except_id=except_id,
    )
    if not clashes:
        return
    other = clashes[0]
    raise ConflictError(
        f"{_subject(kind, entity_id, id_tag)} is already assigned to driver {other.driver_id} "
        f"by assignment {other.id}, {_dates(other.valid_from, other.valid_to)}, which overlaps "
        f"the dates asked ({_dates(valid_from.isoformat(), _text(valid_to))}): it has one "
        "driver at a time. End that assignment first (PATCH its validTo to the day it changes "
        "hands) or start this one later."
    )


async def _check_entity(
    connection: AsyncConnection, *, tenant_id: UUID, kind: AssignmentKind, entity_id: UUID
) -> None:
    found = await repository.entity_type(connection, tenant_id=tenant_id, entity_id=entity_id)
    if found is None:
        raise entity_not_found(entity_id)
    needed = _ENTITY_TYPES[kind]
    if found != needed:
        raise _body_error(
            "entityId",
            f"entity {entity_id} is of type {found}; kind {kind.value} needs an entity of "
            f"type {needed}",
        )


async def create_assignment(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    kind: AssignmentKind,
    entity_id: UUID | None,
    id_tag: str | None,
    valid_from: date,
    valid_to: date | None,
    now_ms: int,
) -> sa.Row[Any]:
    """`entity_id` for a car or home charge point, `id_tag` for a tag (the request's schema
    checks which is given)."""
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="key_share")
    if entity_id is not None:
        await _check_entity(connection, tenant_id=tenant_id, kind=kind, entity_id=entity_id)
    await _refuse_overlap(
        connection,
        tenant_id=tenant_id,
        kind=kind.value,
        entity_id=entity_id,
        id_tag=id_tag,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return await repository.insert_assignment(
        connection,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        driver_id=driver_id,
        kind=kind.value,
        entity_id=entity_id,
        id_tag=id_tag,
        valid_from=valid_from.isoformat(),
        valid_to=None if valid_to is None else valid_to.isoformat(),
        created_ms=now_ms,
    )


async def list_assignments(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID
) -> list[sa.Row[Any]]:
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id)
    return await repository.list_assignments(connection, tenant_id=tenant_id, driver_id=driver_id)


async def _assignment(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> sa.Row[Any]:
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="key_share")
    row = await repository.get_assignment(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    if row is None:
        raise assignment_not_found(assignment_id)
    return row


def _check_end(valid_from: str, valid_to: date | None) -> None:
    if valid_to is not None and valid_to <= date.fromisoformat(valid_from):
        raise _body_error(
            "validTo",
            f"must be after validFrom ({valid_from}): it is the first day no longer included",
        )


async def end_assignment(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    assignment_id: UUID,
    valid_to: date | None,
) -> sa.Row[Any]:
    """Sets validTo (null opens it again), checked for overlap like a new assignment."""
    row = await _assignment(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    _check_end(row.valid_from, valid_to)
    await _refuse_overlap(
        connection,
        tenant_id=tenant_id,
        kind=row.kind,
        entity_id=row.entity_id,
        id_tag=row.id_tag,
        valid_from=date.fromisoformat(row.valid_from),
        valid_to=valid_to,
        except_id=row.id,
    )
    return await repository.update_assignment_end(
        connection, assignment_id=assignment_id, valid_to=valid_to
    )


async def delete_assignment(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> None:
    await _assignment(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    await repository.delete_assignment(connection, assignment_id=assignment_id)


# ---- driver rate plans -----------------------------------------------------------------


async def _refuse_plan_overlap(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    valid_from: date,
    valid_to: date | None,
    except_id: UUID | None = None,
) -> None:
    """409 when another of the driver's rate-plan assignments overlaps [valid_from, valid_to).
    The caller holds the driver's row (FOR UPDATE), which serializes these checks."""
    start, end = valid_from.isoformat(), _text(valid_to)
    for other in await repository.list_driver_plans(
        connection, tenant_id=tenant_id, driver_id=driver_id
    ):
        if other.id == except_id:
            continue
        if (end is None or other.valid_from < end) and (
            other.valid_to is None or start < other.valid_to
        ):
            raise ConflictError(
                f"the driver already has rate plan {other.plan_id} by rate-plan assignment "
                f"{other.id}, {_dates(other.valid_from, other.valid_to)}, which overlaps the "
                f"dates asked ({_dates(start, end)}): one plan at a time. End that one first "
                "(PATCH its validTo) or start this one later."
            )


async def create_driver_plan(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    plan_id: UUID,
    valid_from: date,
    valid_to: date | None,
    now_ms: int,
) -> sa.Row[Any]:
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="update")
    if not await repository.plan_exists(connection, tenant_id=tenant_id, plan_id=plan_id):
        raise NotFoundError(f"rate plan {plan_id} was not found")
    await _refuse_plan_overlap(
        connection,
        tenant_id=tenant_id,
        driver_id=driver_id,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    return await repository.insert_driver_plan(
        connection,
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        driver_id=driver_id,
        plan_id=plan_id,
        valid_from=valid_from.isoformat(),
        valid_to=None if valid_to is None else valid_to.isoformat(),
        created_ms=now_ms,
    )


async def list_driver_plans(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID
) -> list[sa.Row[Any]]:
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id)
    return await repository.list_driver_plans(connection, tenant_id=tenant_id, driver_id=driver_id)


async def _driver_plan(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> sa.Row[Any]:
    await get_driver(connection, tenant_id=tenant_id, driver_id=driver_id, lock="update")
    row = await repository.get_driver_plan(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    if row is None:
        raise driver_plan_not_found(assignment_id)
    return row


async def end_driver_plan(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    driver_id: UUID,
    assignment_id: UUID,
    valid_to: date | None,
) -> sa.Row[Any]:
    row = await _driver_plan(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    _check_end(row.valid_from, valid_to)
    await _refuse_plan_overlap(
        connection,
        tenant_id=tenant_id,
        driver_id=driver_id,
        valid_from=date.fromisoformat(row.valid_from),
        valid_to=valid_to,
        except_id=row.id,
    )
    return await repository.update_driver_plan_end(
        connection, assignment_id=assignment_id, valid_to=valid_to
    )


async def delete_driver_plan(
    connection: AsyncConnection, *, tenant_id: UUID, driver_id: UUID, assignment_id: UUID
) -> None:
    await _driver_plan(
        connection, tenant_id=tenant_id, driver_id=driver_id, assignment_id=assignment_id
    )
    await repository.delete_driver_plan(connection, assignment_id=assignment_id)
