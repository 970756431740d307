"""Hand-made sessions, assignments and plans for the reimbursement domain's tests."""

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID, uuid4

from chargeledger.domain.reimbursement.counting import Assignment, AssignmentKind, SessionFacts
from chargeledger.domain.reimbursement.evidence import EntityKind
from chargeledger.domain.reimbursement.rates import RatePeriod, RatePlan
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.domain.reimbursement.statements import PlanAssignment

CAR = uuid4()
CHARGE_POINT = uuid4()
DRIVER = uuid4()
OTHER_DRIVER = uuid4()


def utc_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def session(
    start: str,
    end: str,
    *,
    entity: UUID = CAR,
    t1: str = "10",
    t2: str = "0",
    kind: EntityKind | None = None,
    source: str = "readings",
    energy_method: str | None = "counter",
    meter_evidence: str | None = None,
    id_tag: str | None = None,
    home_accuracy: float | None = 0.9,
    version: int = 1,
    session_id: UUID | None = None,
) -> SessionFacts:
    if kind is None:
        kind = EntityKind.CHARGE_POINT if entity == CHARGE_POINT else EntityKind.CAR
    return SessionFacts(
        entity_id=entity,
        session_id=session_id or uuid4(),
        version=version,
        entity_kind=kind,
        start_ms=utc_ms(start),
        end_ms=utc_ms(end),
        energy_kwh=Registers(Decimal(t1), Decimal(t2)),
        uncertainty_kwh=Decimal("0.010"),
        source=source,
        energy_method=energy_method,
        meter_evidence=meter_evidence,
        id_tag=id_tag,
        matches=() if home_accuracy is None else (("Home", home_accuracy),),
        address="Kerkstraat 1, Gent",
        latitude=51.05,
        longitude=3.72,
    )


def assignment(
    kind: AssignmentKind,
    *,
    driver: UUID = DRIVER,
    entity: UUID | None = None,
    id_tag: str | None = None,
    valid_from: date = date(2026, 1, 1),
    valid_to: date | None = None,
) -> Assignment:
    return Assignment(driver, kind, valid_from, valid_to, entity_id=entity, id_tag=id_tag)


DRIVER_ASSIGNMENTS = (
    assignment(AssignmentKind.CAR, entity=CAR),
    assignment(AssignmentKind.HOME_CHARGE_POINT, entity=CHARGE_POINT),
)


def day_night_plan(day: str = "0.30", night: str = "0.20") -> list[PlanAssignment]:
    prices = Registers(Decimal(day), Decimal(night), Decimal(day), Decimal(day))
    plan = RatePlan(uuid4(), "contract", "EUR", (RatePeriod(date(2026, 1, 1), None, prices),))
    return [PlanAssignment(plan, date(2026, 1, 1), None)]
