"""A tenant's reimbursement set-up written straight into the tables (drivers, assignments,
rate plans, policy) and its sessions written through the one writer, on any connection: the
`connection` fixture's (rolled back) or a committed `database.write()`.

Instants are given as local wall-clock times of Europe/Brussels (the default policy's zone),
so each test reads like the statement it checks."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import service as auth
from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import WrittenSession, remove_session, write_session
from chargeledger.domain.charge_record import TieredEnergyKwh
from chargeledger.domain.location_matching import Geofence, Position
from chargeledger.domain.session_columns import SessionContent, derive_session
from chargeledger.domain.tariffs import CalendarBook, CalendarVersion, TariffCalendar
from chargeledger.entities import service as entities
from chargeledger.entities.service import EntityType
from chargeledger.statements.periods import Period, parse_period
from chargeledger.storage.tables import (
    driver_assignments,
    driver_rate_plans,
    drivers,
    rate_plan_periods,
    rate_plans,
)

BRUSSELS = ZoneInfo("Europe/Brussels")
SETUP_MS = 1_780_000_000_000  # 2026-05-28: when the set-up rows say they were made
HOME_POSITION = Position(50.87405, 4.70043, 5.0)
ELSEWHERE = Position(51.2194, 4.4025, 5.0)  # Antwerp, far from home


def local_ms(text: str, zone: ZoneInfo = BRUSSELS) -> int:
    """'2026-10-24 20:00' on the wall clock of `zone` as UTC epoch ms (fold 0: the first of an
    ambiguous hour)."""
    local = datetime.fromisoformat(text).replace(tzinfo=zone)
    return int(local.timestamp() * 1000)


def home_of(entity_id: UUID) -> Geofence:
    """The Home location every test entity has (its id derived from the entity's)."""
    return Geofence(
        id=uuid.uuid5(entity_id, "home"),
        label="Home",
        address="Naamsestraat 40, 3000 Leuven",
        latitude=HOME_POSITION.latitude,
        longitude=HOME_POSITION.longitude,
        radius_m=60,
    )


@dataclass
class Fleet:
    """One tenant's set-up, on one connection."""

    connection: AsyncConnection
    tenant_id: UUID

    @classmethod
    async def create(cls, connection: AsyncConnection, tenant_id: UUID | None = None) -> "Fleet":
        if tenant_id is None:
            credentials = await auth.create_tenant(connection, name="statements", now_ms=SETUP_MS)
            tenant_id = credentials.tenant_id
        return cls(connection, tenant_id)

    async def entity(self, entity_type: str = "EV", name: str = "company car") -> UUID:
        row = await entities.create_entity(
            self.connection,
            tenant_id=self.tenant_id,
            entity_type=EntityType(entity_type),
            name=name,
            identifier=None,
            brand=None,
            properties={},
            now_ms=SETUP_MS,
        )
        entity_id: UUID = row.id
        return entity_id

    async def driver(self, name: str = "An Peeters", employee_number: str | None = None) -> UUID:
        driver_id = uuid.uuid4()
        await self.connection.execute(
            sa.insert(drivers).values(
                id=driver_id,
                tenant_id=self.tenant_id,
                name=name,
                employee_number=employee_number or f"E-{driver_id.hex[:8]}",
                region="BE-VLG",
                email=None,
                created_ms=SETUP_MS,
                updated_ms=SETUP_MS,
            )
        )
        return driver_id

    async def assign(
        self,
        driver_id: UUID,
        kind: str,
        *,
        entity_id: UUID | None = None,
        id_tag: str | None = None,
        valid_from: str = "2026-01-01",
        valid_to: str | None = None,
    ) -> None:
        await self.connection.execute(
            sa.insert(driver_assignments).values(
                id=uuid.uuid4(),
                tenant_id=self.tenant_id,
                driver_id=driver_id,
                kind=kind,
                entity_id=entity_id,
                id_tag=id_tag,
                valid_from=valid_from,
                valid_to=valid_to,
                created_ms=SETUP_MS,
            )
        )

    async def plan(
        self,
        periods: list[tuple[str, str | None, dict[str, str]]],
        *,
        name: str = "Employee contract",
        currency: str = "EUR",
        cap_plan_id: UUID | None = None,
    ) -> UUID:
        """A plan with periods (valid_from, valid_to, prices by register; missing = t1's)."""
        plan_id = uuid.uuid4()
        await self.connection.execute(
            sa.insert(rate_plans).values(
                id=plan_id,
                tenant_id=self.tenant_id,
                name=name,
                currency=currency,
                cap_plan_id=cap_plan_id,
                created_ms=SETUP_MS,
                updated_ms=SETUP_MS,
            )
        )
        for valid_from, valid_to, prices in periods:
            await self.connection.execute(
                sa.insert(rate_plan_periods).values(
                    plan_id=plan_id,
                    valid_from=valid_from,
                    valid_to=valid_to,
                    **{
                        f"{register}_price": prices.get(register, prices["t1"])
                        for register in ("t1", "t2", "t3", "t4")
                    },
                )
            )
        return plan_id

    async def give_plan(
        self,
        driver_id: UUID,
        plan_id: UUID,
        valid_from: str = "2026-01-01",
        valid_to: str | None = None,
    ) -> None:
        await self.connection.execute(
            sa.insert(driver_rate_plans).values(
                id=uuid.uuid4(),
                tenant_id=self.tenant_id,
                driver_id=driver_id,
                plan_id=plan_id,
                valid_from=valid_from,
                valid_to=valid_to,
                created_ms=SETUP_MS,
            )
        )

    async def driver_with_car(
        self, *, price: str = "0.30", name: str = "An Peeters"
    ) -> tuple[UUID, UUID]:
        """(driver id, car id): a driver with a car since 2026-01-01 and a flat plan."""
        driver_id = await self.driver(name)
        car_id = await self.entity("EV")
        await self.assign(driver_id, "car", entity_id=car_id)
        await self.give_plan(driver_id, await self.plan([("2026-01-01", None, {"t1": price})]))
        return driver_id, car_id

    async def session(
        self,
        entity_id: UUID,
        start: str,
        end: str,
        *,
        kwh: float | None = None,
        tiers: tuple[float, float, float, float] | None = None,
        at: Position | None = HOME_POSITION,
        source: str = "external",
        energy_method: str | None = None,
        id_tag: str | None = None,
        uncertainty_kwh: float | None = None,
        calendar: TariffCalendar | None = None,
        external_id: str | None = None,
        now_ms: int = SETUP_MS,
    ) -> WrittenSession:
        """Writes (creates, or changes: same external id) a session from local `start` to
        `end`: with `tiers` given as t1..t4, or a total `kwh` split by `calendar` (none: t1)."""
        if tiers is not None:
            total = sum(tiers)
            energy = TieredEnergyKwh(*tiers, total=total)
        else:
            assert kwh is not None
            total, energy = kwh, None
        content = SessionContent(
            start_ms=local_ms(start),
            end_ms=local_ms(end),
            energy_kwh=total,
            tiers=energy,
            tiers_given=energy is not None,
            profile=None,
            soc_start_pct=None,
            soc_end_pct=None,
            range_start_km=None,
            range_end_km=None,
            position=at,
            address=None,
            source=source,
            method=source,
            energy_method=energy_method,
            energy_uncertainty_kwh=uncertainty_kwh,
            id_tag=id_tag,
        )
        book = CalendarBook(
            entity_versions=[] if calendar is None else [CalendarVersion(0, calendar)]
        )
        derived = derive_session(content, geofences=[home_of(entity_id)], book=book)
        external_id = external_id or f"{start}/{entity_id}"
        stored = await sessions_repository.find_by_external_id(
            self.connection, entity_id=entity_id, external_id=external_id
        )
        return await write_session(
            self.connection,
            tenant_id=self.tenant_id,
            entity_id=entity_id,
            stored=stored,
            derived=derived,
            reason="posted",
            now_ms=now_ms,
            external_id=external_id,
        )

    async def remove(self, entity_id: UUID, external_id: str, *, now_ms: int) -> None:
        stored = await sessions_repository.find_by_external_id(
            self.connection, entity_id=entity_id, external_id=external_id
        )
        assert stored is not None
        await remove_session(
            self.connection,
            tenant_id=self.tenant_id,
            stored=stored,
            reason="redetected",
            replaced_by=[],
            now_ms=now_ms,
        )


def period_of(text: str) -> Period:
    return parse_period(text)
