"""The loaders statements and runs call (drivers/repository.py) answer the domain's objects,
for the tenant asked only; and the service's checks, in-process on the real database."""

import uuid
from datetime import date
from uuid import UUID

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import Assignment, AssignmentKind
from chargeledger.domain.reimbursement.statements import DriverInfo
from chargeledger.drivers import repository, service
from chargeledger.errors import ConflictError, InvalidInputError, NotFoundError
from chargeledger.storage.tables import entities, tenants

NOW_MS = 1_790_000_000_000


async def new_tenant(connection: AsyncConnection) -> UUID:
    tenant_id = uuid.uuid4()
    await connection.execute(
        sa.insert(tenants).values(id=tenant_id, name="test tenant", created_ms=NOW_MS)
    )
    return tenant_id


async def new_entity(connection: AsyncConnection, tenant_id: UUID, entity_type: str) -> UUID:
    entity_id = uuid.uuid4()
    await connection.execute(
        sa.insert(entities).values(
            id=entity_id,
            tenant_id=tenant_id,
            type=entity_type,
            name=f"test {entity_type}",
            properties_json="{}",
            capture_charge_sessions=True,
            created_ms=NOW_MS,
        )
    )
    return entity_id


async def new_driver(
    connection: AsyncConnection, tenant_id: UUID, number: str, *, created_ms: int = NOW_MS
) -> UUID:
    row = await service.create_driver(
        connection,
        tenant_id=tenant_id,
        name=f"Driver {number}",
        employee_number=number,
        region="BE-VLG",
        email=None,
        now_ms=created_ms,
    )
    return UUID(str(row.id))


async def test_load_driver_answers_driver_info_of_the_tenant_only(
    connection: AsyncConnection,
) -> None:
    tenant_id, other_tenant = await new_tenant(connection), await new_tenant(connection)
    driver_id = await new_driver(connection, tenant_id, "E-1")
    assert await repository.load_driver(connection, tenant_id, driver_id) == DriverInfo(
        id=driver_id, name="Driver E-1", employee_number="E-1", region="BE-VLG", email=None
    )
    assert await repository.load_driver(connection, other_tenant, driver_id) is None
    assert await repository.load_driver(connection, tenant_id, uuid.uuid4()) is None


async def test_load_assignments_answers_the_domains_assignments_in_order(
    connection: AsyncConnection,
) -> None:
    tenant_id = await new_tenant(connection)
    driver_id = await new_driver(connection, tenant_id, "E-1")
    car = await new_entity(connection, tenant_id, "EV")
    charger = await new_entity(connection, tenant_id, "ChargePoint")
    for kind, entity_id, tag, valid_from, valid_to in [
        (AssignmentKind.ID_TAG, None, "T-1", date(2026, 11, 1), None),
        (AssignmentKind.CAR, car, None, date(2026, 10, 1), date(2026, 10, 16)),
        (AssignmentKind.HOME_CHARGE_POINT, charger, None, date(2026, 9, 1), None),
    ]:
        await service.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=driver_id,
            kind=kind,
            entity_id=entity_id,
            id_tag=tag,
            valid_from=valid_from,
            valid_to=valid_to,
            now_ms=NOW_MS,
        )
    loaded = await repository.load_assignments(connection, tenant_id, driver_id)
    assert loaded == [
        Assignment(
            driver_id, AssignmentKind.HOME_CHARGE_POINT, date(2026, 9, 1), None, entity_id=charger
        ),
        Assignment(
            driver_id, AssignmentKind.CAR, date(2026, 10, 1), date(2026, 10, 16), entity_id=car
        ),
        Assignment(driver_id, AssignmentKind.ID_TAG, date(2026, 11, 1), None, id_tag="T-1"),
    ]
    assert loaded[1].covers(date(2026, 10, 15))
    assert not loaded[1].covers(date(2026, 10, 16))
    other_tenant = await new_tenant(connection)
    assert await repository.load_assignments(connection, other_tenant, driver_id) == []


async def test_load_tag_holders_answers_every_drivers_tag_assignments_by_tag(
    connection: AsyncConnection,
) -> None:
    tenant_id, other_tenant = await new_tenant(connection), await new_tenant(connection)
    first = await new_driver(connection, tenant_id, "E-1")
    second = await new_driver(connection, tenant_id, "E-2")
    stranger = await new_driver(connection, other_tenant, "E-1")
    for driver_id, owner, tag, valid_from, valid_to in [
        (first, tenant_id, "T-1", date(2026, 1, 1), date(2026, 10, 16)),
        (second, tenant_id, "T-1", date(2026, 10, 16), None),
        (second, tenant_id, "T-2", date(2026, 1, 1), None),
        (stranger, other_tenant, "T-1", date(2026, 1, 1), None),
    ]:
        await service.create_assignment(
            connection,
            tenant_id=owner,
            driver_id=driver_id,
            kind=AssignmentKind.ID_TAG,
            entity_id=None,
            id_tag=tag,
            valid_from=valid_from,
            valid_to=valid_to,
            now_ms=NOW_MS,
        )
    holders = await repository.load_tag_holders(connection, tenant_id, ["T-1", "T-9"])
    assert holders == {
        "T-1": [
            Assignment(
                first, AssignmentKind.ID_TAG, date(2026, 1, 1), date(2026, 10, 16), id_tag="T-1"
            ),
            Assignment(second, AssignmentKind.ID_TAG, date(2026, 10, 16), None, id_tag="T-1"),
        ]
    }
    assert await repository.load_tag_holders(connection, tenant_id, []) == {}


async def test_driver_ids_page_walks_the_tenants_drivers_by_id(
    connection: AsyncConnection,
) -> None:
    tenant_id, other_tenant = await new_tenant(connection), await new_tenant(connection)
    ids = sorted([await new_driver(connection, tenant_id, f"E-{n}") for n in range(5)])
    await new_driver(connection, other_tenant, "E-0")
    assert await repository.count_drivers(connection, tenant_id) == 5
    assert await repository.count_drivers(connection, await new_tenant(connection)) == 0
    walked: list[UUID] = []
    after: UUID | None = None
    while page := await repository.driver_ids_page(connection, tenant_id, after=after, limit=2):
        assert len(page) <= 2
        walked.extend(page)
        after = page[-1]
    assert walked == ids


async def test_overlapping_assignments_are_refused_across_drivers(
    connection: AsyncConnection,
) -> None:
    tenant_id = await new_tenant(connection)
    first = await new_driver(connection, tenant_id, "E-1")
    second = await new_driver(connection, tenant_id, "E-2")
    car = await new_entity(connection, tenant_id, "EV")

    async def assign_car(driver_id: UUID, valid_from: date, valid_to: date | None) -> None:
        await service.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=driver_id,
            kind=AssignmentKind.CAR,
            entity_id=car,
            id_tag=None,
            valid_from=valid_from,
            valid_to=valid_to,
            now_ms=NOW_MS,
        )

    await assign_car(first, date(2026, 10, 1), date(2026, 10, 16))
    with pytest.raises(ConflictError, match=str(first)):
        await assign_car(second, date(2026, 10, 15), None)
    await assign_car(second, date(2026, 10, 16), None)
    with pytest.raises(ConflictError, match=str(second)):
        await assign_car(first, date(2026, 11, 1), None)
    await assign_car(first, date(2026, 9, 1), date(2026, 10, 1))


async def test_the_entity_type_must_fit_the_kind(connection: AsyncConnection) -> None:
    tenant_id = await new_tenant(connection)
    driver_id = await new_driver(connection, tenant_id, "E-1")
    charger = await new_entity(connection, tenant_id, "ChargePoint")
    with pytest.raises(InvalidInputError, match="needs an entity of type EV"):
        await service.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=driver_id,
            kind=AssignmentKind.CAR,
            entity_id=charger,
            id_tag=None,
            valid_from=date(2026, 10, 1),
            valid_to=None,
            now_ms=NOW_MS,
        )
    with pytest.raises(NotFoundError, match="entity"):
        await service.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=driver_id,
            kind=AssignmentKind.HOME_CHARGE_POINT,
            entity_id=uuid.uuid4(),
            id_tag=None,
            valid_from=date(2026, 10, 1),
            valid_to=None,
            now_ms=NOW_MS,
        )
