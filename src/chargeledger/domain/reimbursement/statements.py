"""A driver's statement for a period: one line per counted session, then adjustment lines for
sessions of finalised statements that changed since (or arrived late), totals, and the
canonical document that is hashed and kept when the statement is finalised.

Pricing: a session is priced at the rates of the driver's plan valid on the local date it
started; its amount is the sum over registers of kWh x price, rounded once to the currency's
minor unit (half up); the statement's total is the sum of the lines' amounts. An adjustment is
the difference between what the session is worth now and what finalised statements paid for it
(its line and earlier adjustments), so the finalised statements are never changed and a
session is paid exactly what it is worth once its adjustments are finalised.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

import orjson

from chargeledger.domain.instants import format_instant
from chargeledger.domain.reimbursement.counting import (
    AlsoSeen,
    CountedAs,
    CountedSession,
    Policy,
    local_date,
)
from chargeledger.domain.reimbursement.evidence import Evidence
from chargeledger.domain.reimbursement.money import KWH_QUANTUM, ZERO, plain, round_amount
from chargeledger.domain.reimbursement.rates import AppliedRates, NoRate, RatePlan, rates_on
from chargeledger.domain.reimbursement.registers import REGISTERS, Registers

SessionKey = tuple[UUID, UUID]  # (entity id, session id)


class LineKind(StrEnum):
    SESSION = "session"
    ADJUSTMENT = "adjustment"


class StatementStatus(StrEnum):
    DRAFT = "draft"
    FINALISED = "finalised"


@dataclass(frozen=True, slots=True)
class DriverInfo:
    id: UUID
    name: str
    employee_number: str
    region: str | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class StatementRef:
    id: UUID
    number: str


@dataclass(frozen=True, slots=True)
class PlanAssignment:
    plan: RatePlan
    valid_from: date
    valid_to: date | None

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class StatementLine:
    line_number: int
    kind: LineKind
    entity_id: UUID
    session_id: UUID
    session_version: int | None  # None: the session no longer exists
    start_ms: int
    end_ms: int
    location_label: str | None
    address: str | None
    latitude: float | None
    longitude: float | None
    energy_kwh: Registers
    prices: Registers | None  # None when no rate applies (then the amount is 0: a problem)
    amount: Decimal
    evidence: Evidence | None
    uncertainty_kwh: Decimal | None
    counted_as: CountedAs | None  # None: an adjustment of a session that no longer counts
    also_seen: tuple[AlsoSeen, ...] = ()
    rates: AppliedRates | None = None
    adjusts: StatementRef | None = None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class PaidSoFar:
    """What finalised statements paid for one session: its line plus earlier adjustments."""

    entity_id: UUID
    session_id: UUID
    start_ms: int
    end_ms: int
    energy_kwh: Registers
    amount: Decimal
    first_statement: StatementRef


@dataclass(frozen=True, slots=True)
class Reconsidered:
    """A session of an earlier, finalised period, looked at again: what was paid for it (None
    for a session that arrived after its period was finalised) and what it counts now (None
    when it no longer exists or no longer counts for this driver)."""

    paid: PaidSoFar | None
    now: CountedSession | None
    covering: StatementRef  # the finalised statement whose period the session belongs to


@dataclass(frozen=True, slots=True)
class Statement:
    tenant_id: UUID
    driver: DriverInfo
    period_start: date
    period_end: date  # first day not included
    time_zone: str
    currency: str
    lines: tuple[StatementLine, ...]
    status: StatementStatus = StatementStatus.DRAFT
    id: UUID | None = None
    number: str | None = None
    finalised_ms: int | None = None
    extra_problems: tuple[str, ...] = field(default=())

    @property
    def energy_totals(self) -> Registers:
        # From 0.000, so that a statement with no lines shows its kWh as every other does.
        total = Registers(*[KWH_QUANTUM * 0] * 4)
        for line in self.lines:
            total = total + line.energy_kwh
        return total

    @property
    def total_amount(self) -> Decimal:
        return sum((line.amount for line in self.lines), start=round_amount(ZERO, self.currency))

    @property
    def problems(self) -> tuple[str, ...]:
        found = [f"line {line.line_number}: {line.problem}" for line in self.lines if line.problem]
        return (*self.extra_problems, *found)


def _plan_on(plans: Sequence[PlanAssignment], day: date) -> RatePlan | None:
    for assignment in plans:
        if assignment.covers(day):
            return assignment.plan
    return None


@dataclass(frozen=True, slots=True)
class _Priced:
    prices: Registers | None
    amount: Decimal
    rates: AppliedRates | None
    problem: str | None


def price(
    counted: CountedSession, plans: Sequence[PlanAssignment], policy: Policy, currency: str
) -> _Priced:
    day = local_date(counted.facts.start_ms, policy.zone)
    plan = _plan_on(plans, day)
    if plan is None:
        return _Priced(None, round_amount(ZERO, currency), None, f"no rate plan for {day}")
    if plan.currency != currency:
        return _Priced(
            None,
            round_amount(ZERO, currency),
            None,
            f"rate plan {plan.name!r} is in {plan.currency}, the statement in {currency}",
        )
    rates = rates_on(plan, day)
    if isinstance(rates, NoRate):
        return _Priced(None, round_amount(ZERO, currency), None, rates.problem)
    energy = counted.facts.energy_kwh
    exact = sum(
        (energy.of(register) * rates.prices.of(register) for register in REGISTERS), start=ZERO
    )
    return _Priced(rates.prices, round_amount(exact, currency), rates, None)


def statement_currency(
    plans: Sequence[PlanAssignment], period_start: date, period_end: date, policy: Policy
) -> str:
    """The currency of the plan valid at the period's start, else of the first plan valid in
    it, else the policy's."""
    candidates = [
        a
        for a in plans
        if a.valid_from < period_end and (a.valid_to is None or a.valid_to > period_start)
    ]
    candidates.sort(key=lambda a: a.valid_from)
    return candidates[0].plan.currency if candidates else policy.currency


def _session_line(
    number: int, counted: CountedSession, priced: _Priced, kind: LineKind = LineKind.SESSION
) -> StatementLine:
    facts = counted.facts
    return StatementLine(
        line_number=number,
        kind=kind,
        entity_id=facts.entity_id,
        session_id=facts.session_id,
        session_version=facts.version,
        start_ms=facts.start_ms,
        end_ms=facts.end_ms,
        location_label=facts.matches[0][0] if facts.matches else None,
        address=facts.address,
        latitude=facts.latitude,
        longitude=facts.longitude,
        energy_kwh=facts.energy_kwh,
        prices=priced.prices,
        amount=priced.amount,
        evidence=counted.evidence,
        uncertainty_kwh=facts.uncertainty_kwh,
        counted_as=counted.counted_as,
        also_seen=counted.also_seen,
        rates=priced.rates,
        problem=priced.problem,
    )


def _adjustment_line(
    number: int,
    item: Reconsidered,
    plans: Sequence[PlanAssignment],
    policy: Policy,
    currency: str,
) -> StatementLine | None:
    paid_energy = item.paid.energy_kwh if item.paid else Registers()
    paid_amount = item.paid.amount if item.paid else ZERO
    if item.now is None:
        if item.paid is None or (paid_energy.is_zero() and paid_amount == 0):
            return None
        paid = item.paid
        return StatementLine(
            line_number=number,
            kind=LineKind.ADJUSTMENT,
            entity_id=paid.entity_id,
            session_id=paid.session_id,
            session_version=None,
            start_ms=paid.start_ms,
            end_ms=paid.end_ms,
            location_label=None,
            address=None,
            latitude=None,
            longitude=None,
            energy_kwh=Registers() - paid_energy,
            prices=None,
            amount=round_amount(ZERO - paid_amount, currency),  # never "-0.00"
            evidence=None,
            uncertainty_kwh=None,
            counted_as=None,
            adjusts=paid.first_statement,
            problem=None,
        )
    priced = price(item.now, plans, policy, currency)
    line = _session_line(number, item.now, priced, LineKind.ADJUSTMENT)
    energy = line.energy_kwh - paid_energy
    amount = line.amount - paid_amount
    if energy.is_zero() and amount == 0 and priced.problem is None:
        return None
    adjusts = item.paid.first_statement if item.paid else item.covering
    return replace(line, energy_kwh=energy, amount=round_amount(amount, currency), adjusts=adjusts)


def compose_statement(
    *,
    tenant_id: UUID,
    driver: DriverInfo,
    period_start: date,
    period_end: date,
    policy: Policy,
    plans: Sequence[PlanAssignment],
    period_sessions: Sequence[CountedSession],
    reconsidered: Sequence[Reconsidered],
) -> Statement:
    """The draft statement. `period_sessions` are the counted sessions that started in the
    period; `reconsidered` the sessions of earlier finalised periods to settle (a session in
    both, one whose start moved into this period, is settled as an adjustment, not paid twice).
    """
    currency = statement_currency(plans, period_start, period_end, policy)
    settled: set[SessionKey] = {
        (r.paid.entity_id, r.paid.session_id) for r in reconsidered if r.paid is not None
    }
    lines: list[StatementLine] = []
    for counted in period_sessions:
        key = (counted.facts.entity_id, counted.facts.session_id)
        if key in settled:
            continue
        lines.append(
            _session_line(len(lines) + 1, counted, price(counted, plans, policy, currency))
        )
    ordered = sorted(
        reconsidered,
        key=lambda r: (
            r.paid.start_ms if r.paid else r.now.facts.start_ms if r.now else 0,
            str(r.paid.session_id if r.paid else r.now.facts.session_id if r.now else ""),
        ),
    )
    for item in ordered:
        adjustment = _adjustment_line(len(lines) + 1, item, plans, policy, currency)
        if adjustment is not None:
            lines.append(adjustment)
    return Statement(
        tenant_id=tenant_id,
        driver=driver,
        period_start=period_start,
        period_end=period_end,
        time_zone=policy.time_zone,
        currency=currency,
        lines=tuple(lines),
    )


def _registers_json(values: Registers, unit: str) -> dict[str, Any]:
    return {**values.as_text(), "total": plain(values.total), "unit": unit}


def line_document(line: StatementLine, currency: str) -> dict[str, Any]:
    return {
        "lineNumber": line.line_number,
        "kind": line.kind.value,
        "entityId": str(line.entity_id),
        "sessionId": str(line.session_id),
        "sessionVersion": line.session_version,
        "start": format_instant(line.start_ms),
        "end": format_instant(line.end_ms),
        "location": {
            "label": line.location_label,
            "address": line.address,
            "latitude": line.latitude,
            "longitude": line.longitude,
        },
        "energy": _registers_json(line.energy_kwh, "kWh"),
        "prices": None
        if line.prices is None
        else {**line.prices.as_text(), "unit": f"{currency}/kWh"},
        "amount": plain(line.amount),
        "evidence": None
        if line.evidence is None
        else {
            "kind": line.evidence.value,
            "uncertaintyKwh": None if line.uncertainty_kwh is None else plain(line.uncertainty_kwh),
            "alsoSeenBy": [
                {
                    "entityId": str(seen.entity_id),
                    "sessionId": str(seen.session_id),
                    "evidence": seen.evidence.value,
                }
                for seen in line.also_seen
            ],
        },
        "countedAs": None if line.counted_as is None else line.counted_as.value,
        "rate": None
        if line.rates is None
        else {
            "planId": str(line.rates.plan_id),
            "validFrom": line.rates.valid_from.isoformat(),
            "capped": list(line.rates.capped),
        },
        "adjusts": None
        if line.adjusts is None
        else {"statementId": str(line.adjusts.id), "number": line.adjusts.number},
        "problem": line.problem,
    }


def statement_document(statement: Statement) -> dict[str, Any]:
    """The statement as the API serves it and as it is kept when finalised (without its hash:
    the hash is of this document)."""
    driver = statement.driver
    return {
        "id": None if statement.id is None else str(statement.id),
        "number": statement.number,
        "status": statement.status.value,
        "driver": {
            "id": str(driver.id),
            "name": driver.name,
            "employeeNumber": driver.employee_number,
            "region": driver.region,
        },
        "period": {
            "start": statement.period_start.isoformat(),
            "end": statement.period_end.isoformat(),
            "timeZone": statement.time_zone,
        },
        "currency": statement.currency,
        "lines": [line_document(line, statement.currency) for line in statement.lines],
        "totals": {
            "energy": _registers_json(statement.energy_totals, "kWh"),
            "amount": plain(statement.total_amount),
            "sessionLines": sum(1 for line in statement.lines if line.kind is LineKind.SESSION),
            "adjustmentLines": sum(
                1 for line in statement.lines if line.kind is LineKind.ADJUSTMENT
            ),
        },
        "problems": list(statement.problems),
        "finalised": None
        if statement.finalised_ms is None
        else format_instant(statement.finalised_ms),
    }


def canonical_bytes(document: Mapping[str, Any]) -> bytes:
    """The one byte form of a document: keys sorted, no spaces; what the hash is of."""
    return orjson.dumps(document, option=orjson.OPT_SORT_KEYS)


def content_sha256(document: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_bytes(document)).hexdigest()
