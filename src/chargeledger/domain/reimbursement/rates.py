"""Rate plans: a price per kWh per register for periods of local dates, possibly capped by
another plan (an employee's own contract price by the regional maximum): per register, the
lower of the two applies. A session is priced at the rates valid on the local date it started.
"""

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from uuid import UUID

from chargeledger.domain.reimbursement.registers import REGISTERS, Registers


class RatePlanError(ValueError):
    """Periods or a cap that make a plan unusable; the message says which and why."""


@dataclass(frozen=True, slots=True)
class RatePeriod:
    valid_from: date
    valid_to: date | None  # the first day no longer included; None: open
    prices: Registers  # per kWh

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_to is None or day < self.valid_to)


@dataclass(frozen=True, slots=True)
class RatePlan:
    id: UUID
    name: str
    currency: str
    periods: tuple[RatePeriod, ...]  # sorted by valid_from, not overlapping
    cap: "RatePlan | None" = None

    def period_on(self, day: date) -> RatePeriod | None:
        for period in self.periods:
            if period.covers(day):
                return period
        return None


@dataclass(frozen=True, slots=True)
class AppliedRates:
    """The prices a session is charged at, and where they come from."""

    plan_id: UUID
    valid_from: date
    prices: Registers
    capped: tuple[str, ...]  # the registers where the cap's price was the lower


@dataclass(frozen=True, slots=True)
class NoRate:
    problem: str


def checked_periods(periods: Sequence[RatePeriod]) -> tuple[RatePeriod, ...]:
    """The periods sorted, refused when two overlap or one ends before it starts."""
    ordered = sorted(periods, key=lambda period: period.valid_from)
    for period in ordered:
        if period.valid_to is not None and period.valid_to <= period.valid_from:
            raise RatePlanError(
                f"the period from {period.valid_from} ends on {period.valid_to}, not after it"
            )
    for earlier, later in itertools.pairwise(ordered):
        if earlier.valid_to is None or earlier.valid_to > later.valid_from:
            raise RatePlanError(
                f"the periods from {earlier.valid_from} and from {later.valid_from} overlap"
            )
    return tuple(ordered)


def check_cap(plan_id: UUID, currency: str, cap: RatePlan | None) -> None:
    """A cap must be another plan, in the same currency, and not itself capped by this one."""
    seen = {plan_id}
    current = cap
    while current is not None:
        if current.id in seen:
            raise RatePlanError("a plan cannot be capped by itself, directly or through others")
        if current.currency != currency:
            raise RatePlanError(
                f"the cap {current.name!r} is in {current.currency}, the plan in {currency}"
            )
        seen.add(current.id)
        current = current.cap


def rates_on(plan: RatePlan, day: date) -> AppliedRates | NoRate:
    period = plan.period_on(day)
    if period is None:
        return NoRate(f"rate plan {plan.name!r} has no price for {day}")
    prices = period.prices
    capped: list[str] = []
    if plan.cap is not None:
        cap_rates = rates_on(plan.cap, day)
        if isinstance(cap_rates, NoRate):
            return NoRate(f"{cap_rates.problem} (it caps {plan.name!r})")
        lowered = {}
        for register in REGISTERS:
            own, ceiling = prices.of(register), cap_rates.prices.of(register)
            lowered[register] = min(own, ceiling)
            if ceiling < own:
                capped.append(register)
        prices = Registers.from_mapping(lowered)
    return AppliedRates(
        plan_id=plan.id, valid_from=period.valid_from, prices=prices, capped=tuple(capped)
    )
