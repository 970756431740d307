"""The demo's reimbursement: drivers for the demo fleet's cars, an employee contract with day and
night prices capped by the regional maximum (loaded as a finance user loads the published table:
the rate-plan CSV import), the policy, and the last full month's statement finalised for the
first driver, so that GET /v1/statements has something to open.

- An Peeters drives the Tesla and has the Leuven wallbox at home: a charge both report counts
  once, from the wallbox's meter.
- The ID.4 changed hands on the 16th of the month before the last full month: Chloé Dubois
  drove it before, Bram Claes since. Each gets only the sessions of their own days.
- Everyone is on "Employee contract" (day 0.3150, night 0.2210 EUR/kWh), capped per register by
  "CREG maximum Flanders": the day price is capped, the night price is not.

The CREG prices here are illustrative, one per quarter; the real table is published by the
CREG each quarter. Running the demo again changes nothing already there (drivers are found by
employee number, the CSV import updates the same periods, a finalised statement is kept).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import AssignmentKind, Policy
from chargeledger.drivers import repository as drivers_repository
from chargeledger.drivers import service as drivers
from chargeledger.rate_plans import service as rate_plans
from chargeledger.rate_plans.csv_import import import_plans, parse_plans
from chargeledger.statements.periods import Period
from chargeledger.statements.policy_repository import store_policy
from chargeledger.statements.service import StatementProblemsError, finalise_if_needed
from chargeledger.storage.database import Database

CAP_PLAN = "CREG maximum Flanders"
CONTRACT_PLAN = "Employee contract"
CONTRACT_PRICES = ("0.3150", "0.2210")  # day (t1), night (t2)
# Illustrative regional maxima, one per quarter in turn (EUR/kWh, the same for day and night).
CAP_PRICES = ("0.3012", "0.2931", "0.2876", "0.2845", "0.2903", "0.2967")
BRUSSELS = ZoneInfo("Europe/Brussels")


@dataclass(frozen=True)
class DemoDriver:
    employee_number: str
    name: str
    region: str
    email: str | None


AN = DemoDriver("E-1001", "An Peeters", "BE-VLG", "an.peeters@example.com")
BRAM = DemoDriver("E-1002", "Bram Claes", "BE-VLG", "bram.claes@example.com")
CHLOE = DemoDriver("E-1003", "Chloé Dubois", "BE-VLG", None)


# What a driver is assigned: kind, entity, from, until (exclusive; None: open).
Holding = tuple[AssignmentKind, UUID, date, date | None]


@dataclass(frozen=True)
class DemoReimbursement:
    drivers: dict[str, UUID]  # by name
    period: Period  # the last full month
    statement_id: UUID | None  # An's statement of that month, finalised
    statement_number: str | None
    total_amount: str | None


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _next_quarter(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 10 else date(day.year, day.month + 3, 1)


def rate_table_csv(since: date, until: date) -> bytes:
    """The CSV a finance user would load: the contract, and the cap per quarter from the
    quarter of `since` up to the one after `until`."""
    rows = ["plan,currency,valid_from,valid_to,t1_price_per_kwh,t2_price_per_kwh"]
    day, last, index = _quarter_start(since), _next_quarter(_quarter_start(until)), 0
    while day <= last:
        price = CAP_PRICES[index % len(CAP_PRICES)]
        following = _next_quarter(day)
        rows.append(f"{CAP_PLAN},EUR,{day},{following},{price},{price}")
        day, index = following, index + 1
    rows.append(f"{CONTRACT_PLAN},EUR,{since},,{CONTRACT_PRICES[0]},{CONTRACT_PRICES[1]}")
    return ("\n".join(rows) + "\n").encode()


def last_full_month(now_ms: int) -> Period:
    today = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(BRUSSELS).date()
    end = today.replace(day=1)
    return Period((end - timedelta(days=1)).replace(day=1), end)


async def _plans(connection: AsyncConnection, tenant_id: UUID, since: date, now_ms: int) -> UUID:
    """Loads the rate table, caps the contract by the regional maximum; the contract's id."""
    until = datetime.fromtimestamp(now_ms / 1000, tz=UTC).date()
    imported = {
        plan.name: plan.id
        for plan in await import_plans(
            connection,
            tenant_id=tenant_id,
            plans=parse_plans(rate_table_csv(since, until)),
            now_ms=now_ms,
        )
    }
    await rate_plans.update_plan(
        connection,
        tenant_id=tenant_id,
        plan_id=imported[CONTRACT_PLAN],
        name=None,
        change_cap=True,
        cap_plan_id=imported[CAP_PLAN],
        now_ms=now_ms,
    )
    return imported[CONTRACT_PLAN]


async def _driver(
    connection: AsyncConnection,
    tenant_id: UUID,
    spec: DemoDriver,
    *,
    plan_id: UUID,
    since: date,
    holds: list[Holding],
    now_ms: int,
) -> UUID:
    """The driver, made with their assignments and plan unless they exist already."""
    found = await drivers_repository.driver_with_employee_number(
        connection, tenant_id=tenant_id, employee_number=spec.employee_number
    )
    if found is not None:
        driver_id: UUID = found.id
        return driver_id
    row = await drivers.create_driver(
        connection,
        tenant_id=tenant_id,
        name=spec.name,
        employee_number=spec.employee_number,
        region=spec.region,
        email=spec.email,
        now_ms=now_ms,
    )
    for kind, entity_id, valid_from, valid_to in holds:
        await drivers.create_assignment(
            connection,
            tenant_id=tenant_id,
            driver_id=row.id,
            kind=kind,
            entity_id=entity_id,
            id_tag=None,
            valid_from=valid_from,
            valid_to=valid_to,
            now_ms=now_ms,
        )
    await drivers.create_driver_plan(
        connection,
        tenant_id=tenant_id,
        driver_id=row.id,
        plan_id=plan_id,
        valid_from=since,
        valid_to=None,
        now_ms=now_ms,
    )
    created: UUID = row.id
    return created


async def seed_reimbursement(
    database: Database,
    *,
    tenant_id: UUID,
    entities: Mapping[str, UUID],
    since: date,
    now_ms: int,
) -> DemoReimbursement:
    """`entities`: the demo fleet's ids by key (ev1, ev2, cp1); `since`: its first day."""
    month = last_full_month(now_ms)
    handover = (month.start - timedelta(days=1)).replace(day=16)
    car, home = AssignmentKind.CAR, AssignmentKind.HOME_CHARGE_POINT
    async with database.write() as connection:
        await store_policy(connection, tenant_id, Policy(), now_ms=now_ms)
        plan_id = await _plans(connection, tenant_id, since, now_ms)
        made = {}
        everyone: list[tuple[DemoDriver, list[Holding]]] = [
            (AN, [(car, entities["ev1"], since, None), (home, entities["cp1"], since, None)]),
            (CHLOE, [(car, entities["ev2"], since, handover)]),
            (BRAM, [(car, entities["ev2"], handover, None)]),
        ]
        for spec, holds in everyone:
            made[spec.name] = await _driver(
                connection,
                tenant_id,
                spec,
                plan_id=plan_id,
                since=since,
                holds=holds,
                now_ms=now_ms,
            )
    try:
        async with database.write() as connection:
            stored = await finalise_if_needed(connection, tenant_id, made[AN.name], month, now_ms)
    except StatementProblemsError:
        return DemoReimbursement(made, month, None, None, None)
    return DemoReimbursement(made, month, stored.id, stored.number, stored.total_amount)
