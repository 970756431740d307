"""A completed charge session as the ledger keeps it, and the rules a record must obey."""

from dataclasses import dataclass

from chargeledger.domain.instants import format_instant
from chargeledger.domain.location_matching import Position
from chargeledger.domain.physical_ranges import (
    DRIVING_RANGE,
    EARLIEST_EVENT_MS,
    MAX_SESSION_DURATION_MS,
    SESSION_ENERGY,
    STATE_OF_CHARGE,
)

# Registers must add up to the total within this (re.alto's values have Wh resolution).
TIER_SUM_TOLERANCE_KWH = 0.001
# A claimed average power may differ from energy / duration by rounding only.
AVERAGE_POWER_RELATIVE_TOLERANCE = 0.01
AVERAGE_POWER_ABSOLUTE_TOLERANCE_KW = 0.01


@dataclass(frozen=True, slots=True)
class TieredEnergyKwh:
    """Energy per tariff register (t1..t4) and in total, in kWh."""

    t1: float
    t2: float
    t3: float
    t4: float
    total: float

    @property
    def registers_sum_kwh(self) -> float:
        return self.t1 + self.t2 + self.t3 + self.t4


@dataclass(frozen=True, slots=True)
class ChargeRecord:
    start_ms: int
    end_ms: int
    energy: TieredEnergyKwh | None
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    range_start_km: float | None = None
    range_end_km: float | None = None
    position: Position | None = None
    address: str | None = None
    # False when the sender gave only the total: t1..t4 are then placeholders until the
    # service splits the total with the tariff calendar.
    tiers_given: bool = True

    @property
    def duration_h(self) -> float:
        return (self.end_ms - self.start_ms) / 3_600_000

    @property
    def average_power_kw(self) -> float | None:
        if self.energy is None or self.end_ms <= self.start_ms:
            return None
        return self.energy.total / self.duration_h


@dataclass(frozen=True, slots=True)
class RecordProblem:
    field: str  # dotted path in the record as the API names it, e.g. "charge.total.total"
    detail: str


def check_record(
    record: ChargeRecord, claimed_average_power_kw: float | None = None
) -> list[RecordProblem]:
    """Every way the record contradicts itself; an empty list means it is consistent."""
    problems: list[RecordProblem] = []
    if record.start_ms < EARLIEST_EVENT_MS:
        problems.append(
            RecordProblem("start", f"must not be before {format_instant(EARLIEST_EVENT_MS)}")
        )
    if record.end_ms <= record.start_ms:
        problems.append(RecordProblem("end", "end must be after start"))
    elif record.end_ms - record.start_ms > MAX_SESSION_DURATION_MS:
        problems.append(RecordProblem("end", "a charge session cannot last longer than 31 days"))
    energy = record.energy
    if energy is not None:
        # Registers the sender left out are placeholders (the whole total in t1): only the
        # total is theirs to be told about.
        given = ("t1", "t2", "t3", "t4", "total") if record.tiers_given else ("total",)
        for name in given:
            if getattr(energy, name) not in SESSION_ENERGY:
                problems.append(
                    RecordProblem(
                        f"charge.total.{name}", f"energy must be {SESSION_ENERGY.describe()}"
                    )
                )
        if abs(energy.registers_sum_kwh - energy.total) > TIER_SUM_TOLERANCE_KWH + 1e-9:
            problems.append(
                RecordProblem(
                    "charge.total",
                    f"t1+t2+t3+t4 = {energy.registers_sum_kwh:.6g} kWh but total = "
                    f"{energy.total:.6g} kWh; they must agree within {TIER_SUM_TOLERANCE_KWH} kWh",
                )
            )
    computed = record.average_power_kw
    if claimed_average_power_kw is not None:
        if computed is None:
            if energy is None:
                problems.append(
                    RecordProblem(
                        "charge.averagePower",
                        "averagePower is computed from charge.total and the duration; "
                        "it cannot be given without charge.total",
                    )
                )
        else:
            tolerance = max(
                AVERAGE_POWER_ABSOLUTE_TOLERANCE_KW, AVERAGE_POWER_RELATIVE_TOLERANCE * computed
            )
            if abs(claimed_average_power_kw - computed) > tolerance:
                problems.append(
                    RecordProblem(
                        "charge.averagePower",
                        f"averagePower {claimed_average_power_kw:.6g} kW contradicts "
                        f"charge.total / (end - start) = {computed:.6g} kW; "
                        "leave averagePower out and it is computed",
                    )
                )
    for field, value in (
        ("charge.start", record.soc_start_pct),
        ("charge.end", record.soc_end_pct),
    ):
        if value is not None and value not in STATE_OF_CHARGE:
            problems.append(
                RecordProblem(field, f"state of charge must be {STATE_OF_CHARGE.describe()}")
            )
    for field, value in (
        ("range.start", record.range_start_km),
        ("range.end", record.range_end_km),
    ):
        if value is not None and value not in DRIVING_RANGE:
            problems.append(RecordProblem(field, f"range must be {DRIVING_RANGE.describe()}"))
    return problems
