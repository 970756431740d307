"""A small fleet for the statement-run tests (and the CLI's), built in-process through the
packages' own services, with totals computed by hand; and the proof that each driver's part of
a run (runs_service.driver_statement) is what the hand computation says.

The fleet, October 2026 (Europe/Brussels), one plan "Day/night": t1 0.30, t2 0.20 EUR/kWh.
- E-A: two sessions at Home: 10.000 kWh t1 -> 3.00; 5.500 t1 + 4.500 t2 -> 1.65 + 0.90 = 2.55;
  and one at the office (not at Home: not counted). Total 5.55.
- E-B: two sessions at Home: 20.000 t1 -> 6.00; 3.335 t1 -> 1.0005, rounded once -> 1.00.
  Total 7.00.
- E-C: a car, a plan, no session in October. Total 0.00.
The fleet's total: 5.55 + 7.00 + 0.00 = 12.55.
"""

import csv
import io
import itertools
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import openpyxl  # type: ignore[import-untyped]
import pypdf
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.charge_sessions.schemas import ChargeSessionIn
from chargeledger.charge_sessions.service import record_external_session
from chargeledger.domain.reimbursement.counting import AssignmentKind
from chargeledger.domain.reimbursement.rates import RatePeriod
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.drivers import service as drivers
from chargeledger.entities import service as entities
from chargeledger.entities.service import EntityType
from chargeledger.locations import service as locations
from chargeledger.rate_plans import service as rate_plans
from chargeledger.statements.runs_service import driver_statement
from chargeledger.storage.database import Database
from tests.support.api import session_body
from tests.support.databases import migrated_database

OCTOBER = (date(2026, 10, 1), date(2026, 11, 1))
FROM = date(2026, 1, 1)
DAY_NIGHT = Registers(Decimal("0.30"), Decimal("0.20"), Decimal("0.30"), Decimal("0.30"))
# Totals by employee number, by hand (module docstring).
EXPECTED_TOTALS = {"E-A": Decimal("5.55"), "E-B": Decimal("7.00"), "E-C": Decimal("0.00")}
EXPECTED_RUN_TOTAL = Decimal("12.55")
HOMES = {"E-A": (50.87405, 4.70043), "E-B": (51.05445, 3.72174), "E-C": (50.93, 4.05)}
OFFICE = (50.84655, 4.36942)
# (start, end, t1, t2, at home) per driver; instants UTC (October: CEST, UTC+2).
SESSIONS: dict[str, list[tuple[str, str, float, float, bool]]] = {
    "E-A": [
        ("2026-10-05T20:00:00Z", "2026-10-05T22:00:00Z", 10.0, 0.0, True),
        ("2026-10-12T19:00:00Z", "2026-10-12T23:00:00Z", 5.5, 4.5, True),
        ("2026-10-14T07:30:00Z", "2026-10-14T09:00:00Z", 12.0, 0.0, False),
    ],
    "E-B": [
        ("2026-10-07T17:00:00Z", "2026-10-07T20:00:00Z", 20.0, 0.0, True),
        ("2026-10-21T16:00:00Z", "2026-10-21T17:00:00Z", 3.335, 0.0, True),
    ],
    "E-C": [],
}
_tenants = itertools.count(1)


@dataclass
class Fleet:
    tenant_id: UUID
    plan_id: UUID
    drivers: dict[str, UUID] = field(default_factory=dict)  # by employee number
    cars: dict[str, UUID] = field(default_factory=dict)


async def _record(
    connection: AsyncConnection,
    tenant_id: UUID,
    entity_id: UUID,
    external_id: str,
    session: tuple[str, str, float, float, bool],
    home: tuple[float, float],
) -> None:
    start, end, t1, t2, at_home = session
    body = session_body(
        external_id,
        start,
        end,
        total_kwh=t1 + t2,
        tiers_kwh=(t1, t2, 0.0, 0.0),
        position=home if at_home else OFFICE,
        accuracy_m=10.0,
    )
    record, claimed = ChargeSessionIn.model_validate(body).to_record()
    await record_external_session(
        connection,
        tenant_id=tenant_id,
        entity_id=entity_id,
        external_id=external_id,
        record=record,
        claimed_average_power_kw=claimed,
        now_ms=system_clock_ms(),
    )


async def add_driver(
    connection: AsyncConnection,
    fleet: Fleet,
    number: str,
    *,
    home: tuple[float, float] = (50.9, 4.4),
    plan_id: UUID | None = None,
    sessions: list[tuple[str, str, float, float, bool]] | None = None,
) -> UUID:
    """A driver with a car (that has a Home location), the fleet's plan (or `plan_id`; with
    neither, none), and the car's sessions."""
    now_ms = system_clock_ms()
    car = await entities.create_entity(
        connection,
        tenant_id=fleet.tenant_id,
        entity_type=EntityType.EV,
        name=f"car of {number}",
        identifier=None,
        brand=None,
        properties={},
        now_ms=now_ms,
    )
    await locations.create_location(
        connection,
        tenant_id=fleet.tenant_id,
        entity_id=car.id,
        label="Home",
        address=None,
        latitude=home[0],
        longitude=home[1],
        radius_m=60,
        now_ms=now_ms,
        detector_config=DetectorConfig(),
    )
    driver = await drivers.create_driver(
        connection,
        tenant_id=fleet.tenant_id,
        name=f"Driver {number}",
        employee_number=number,
        region="BE-VLG",
        email=None,
        now_ms=now_ms,
    )
    await drivers.create_assignment(
        connection,
        tenant_id=fleet.tenant_id,
        driver_id=driver.id,
        kind=AssignmentKind.CAR,
        entity_id=car.id,
        id_tag=None,
        valid_from=FROM,
        valid_to=None,
        now_ms=now_ms,
    )
    if plan_id is not None:
        await drivers.create_driver_plan(
            connection,
            tenant_id=fleet.tenant_id,
            driver_id=driver.id,
            plan_id=plan_id,
            valid_from=FROM,
            valid_to=None,
            now_ms=now_ms,
        )
    for index, session in enumerate(sessions or []):
        await _record(connection, fleet.tenant_id, car.id, f"{number}-{index}", session, home)
    fleet.drivers[number] = driver.id
    fleet.cars[number] = car.id
    return fleet.drivers[number]


async def build_fleet(database: Database, tenant_id: UUID | None = None) -> Fleet:
    """The module docstring's fleet, for a new tenant (or the one given)."""
    now_ms = system_clock_ms()
    async with database.write() as connection:
        if tenant_id is None:
            credentials = await auth.create_tenant(
                connection, name=f"runs {next(_tenants)}", now_ms=now_ms
            )
            tenant_id = credentials.tenant_id
        plan = await rate_plans.create_plan(
            connection,
            tenant_id=tenant_id,
            name="Day/night",
            currency="EUR",
            cap_plan_id=None,
            periods=[RatePeriod(FROM, None, DAY_NIGHT)],
            now_ms=now_ms,
        )
        fleet = Fleet(tenant_id=tenant_id, plan_id=plan.row.id)
        for number, sessions in SESSIONS.items():
            await add_driver(
                connection,
                fleet,
                number,
                home=HOMES[number],
                plan_id=fleet.plan_id,
                sessions=sessions,
            )
    return fleet


async def test_each_drivers_draft_has_the_hand_computed_total(
    tmp_path_factory: Any,
) -> None:
    async with migrated_database(
        tmp_path_factory.mktemp("fleet"), name_hint="runsfleet"
    ) as database:
        fleet = await build_fleet(database)
        totals = {}
        for number, driver_id in fleet.drivers.items():
            outcome = await driver_statement(
                database,
                tenant_id=fleet.tenant_id,
                driver_id=driver_id,
                period_start=OCTOBER[0],
                period_end=OCTOBER[1],
                finalise=False,
                now_ms=system_clock_ms(),
            )
            assert outcome.problems == ()
            document = outcome.document()
            assert document is not None
            assert document["status"] == "draft"
            assert document["totals"]["amount"] == str(outcome.total)
            totals[number] = outcome.total
        assert totals == EXPECTED_TOTALS
        # Line by line for E-A: the office session is not on it.
        outcome = await driver_statement(
            database,
            tenant_id=fleet.tenant_id,
            driver_id=fleet.drivers["E-A"],
            period_start=OCTOBER[0],
            period_end=OCTOBER[1],
            finalise=False,
            now_ms=system_clock_ms(),
        )
        document = outcome.document()
        assert document is not None
        assert [line["amount"] for line in document["lines"]] == ["3.00", "2.55"]


# ---- reading exports back, as a finance user's tools would ---------------------------------


def csv_totals(data: bytes) -> dict[str, Decimal]:
    """Each statement's total row (kind "total") by employee number; checked against the sum
    of its lines on the way."""
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    totals: dict[str, Decimal] = {}
    lines: dict[str, Decimal] = {}
    for row in rows:
        number = row["driver_employee_number"]
        if row["kind"] == "total":
            totals[number] = Decimal(row["amount"])
        else:
            lines[number] = lines.get(number, Decimal(0)) + Decimal(row["amount"])
    for number, total in totals.items():
        assert lines.get(number, Decimal("0.00")) == total, number
    return totals


def xlsx_totals(path: Path) -> tuple[dict[str, Decimal], Decimal, list[str]]:
    """(amount by employee number, the Summary's total row, the sheet titles)."""
    workbook = openpyxl.load_workbook(path, read_only=True)
    try:
        rows = list(workbook["Summary"].iter_rows(values_only=True))
        header = list(rows[0])
        number_at, amount_at = header.index("Employee number"), header.index("Amount")
        by_driver: dict[str, Decimal] = {}
        total = None
        for row in rows[1:]:
            if row[number_at] == "Total":
                total = Decimal(str(row[amount_at]))
            elif row[number_at] is not None:
                assert isinstance(row[amount_at], float | int | Decimal), row  # a typed cell
                by_driver[str(row[number_at])] = Decimal(str(row[amount_at]))
        assert total is not None
        return by_driver, total, list(workbook.sheetnames)
    finally:
        workbook.close()


def pdf_text(data: bytes) -> tuple[int, str]:
    """(pages, all the text)."""
    reader = pypdf.PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)
