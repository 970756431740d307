"""The shapes of statements: the finalise request, and the statement document as documented
(domain/reimbursement/statements.statement_document builds it; these models describe it for
the OpenAPI document, they are not used to serialize it)."""

import re
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator

from chargeledger.domain.instants import format_instant
from chargeledger.domain.reimbursement.counting import CountedAs
from chargeledger.domain.reimbursement.evidence import Evidence
from chargeledger.domain.reimbursement.registers import REGISTERS
from chargeledger.kit.schemas import PageOf, Strict
from chargeledger.statements.periods import FORMS

PERIOD_DESCRIPTION = (
    f"The period: {FORMS}. Dates are local dates of the reimbursement policy's time zone."
)
PERIOD_EXAMPLE = "2026-10"
_SHA256 = re.compile(r"[0-9a-f]{64}")

# Decimals are JSON strings, never numbers: "0.2845", "-1.20".
DecimalText = Annotated[
    str,
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$", "example": "12.34"}),
]
Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
LocalDate = Annotated[
    str, WithJsonSchema({"type": "string", "format": "date", "example": "2026-10-01"})
]
Sha256 = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9a-f]{64}$",
            "description": "SHA-256 (hex) of the document's canonical JSON (keys sorted, no "
            "spaces, without contentSha256 itself)",
        }
    ),
]

# ---- requests --------------------------------------------------------------------------


class FinaliseIn(Strict):
    period: str = Field(max_length=32, description=PERIOD_DESCRIPTION, examples=[PERIOD_EXAMPLE])
    expectedContentSha256: str | None = Field(  # noqa: N815
        default=None,
        min_length=64,
        max_length=64,
        description="The contentSha256 of the draft that was checked: finalising is refused "
        "(409) when the draft is no longer exactly that one",
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"period": "2026-10"}]}
    )

    @field_validator("expectedContentSha256")
    @classmethod
    def _hex(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lowered = value.lower()
        if not _SHA256.fullmatch(lowered):
            raise ValueError("must be 64 hexadecimal digits (a SHA-256, as contentSha256 is)")
        return lowered


# ---- the statement document ------------------------------------------------------------


class RegisterEnergy(BaseModel):
    """kWh per tariff register, and their total."""

    t1: DecimalText
    t2: DecimalText
    t3: DecimalText
    t4: DecimalText
    total: DecimalText
    unit: Literal["kWh"]


class RegisterPrices(BaseModel):
    """The price per kWh of each register (after the cap, if the plan has one)."""

    t1: DecimalText
    t2: DecimalText
    t3: DecimalText
    t4: DecimalText
    unit: str = Field(description="<currency>/kWh", examples=["EUR/kWh"])


class LineLocation(BaseModel):
    label: str | None = Field(description="The best matched location's label, e.g. Home")
    address: str | None
    latitude: float | None
    longitude: float | None


class AlsoSeenBy(BaseModel):
    """Another session of the same charge (the car's, or the charge point's), not counted."""

    entityId: UUID  # noqa: N815
    sessionId: UUID  # noqa: N815
    evidence: Evidence


class LineEvidence(BaseModel):
    kind: Evidence = Field(
        description="How the energy was measured, strongest first: verifiedMeter, "
        "chargerMeter, carEnergyCounter, carPower, stateOfCharge, reported"
    )
    uncertaintyKwh: DecimalText | None = Field(  # noqa: N815
        description="How far the true energy can be from the measured; null when unknown"
    )
    alsoSeenBy: list[AlsoSeenBy]  # noqa: N815


Register = Literal["t1", "t2", "t3", "t4"]
assert REGISTERS == ("t1", "t2", "t3", "t4")


class LineRate(BaseModel):
    planId: UUID  # noqa: N815
    validFrom: LocalDate = Field(description="The start of the plan's period that applied")  # noqa: N815
    capped: list[Register] = Field(description="The registers where the cap's price applied")


class AdjustedStatement(BaseModel):
    statementId: UUID  # noqa: N815
    number: str


class StatementLineOut(BaseModel):
    """A counted session (kind session), or the settlement of a session of an earlier,
    finalised period that changed or arrived late (kind adjustment: energy and amount are the
    difference to what was paid)."""

    lineNumber: int  # noqa: N815
    kind: Literal["session", "adjustment"]
    entityId: UUID  # noqa: N815
    sessionId: UUID  # noqa: N815
    sessionVersion: int | None = Field(  # noqa: N815
        description="The session's version priced; null when it no longer exists"
    )
    start: Instant
    end: Instant
    location: LineLocation
    energy: RegisterEnergy
    prices: RegisterPrices | None = Field(description="null when no rate applies (a problem)")
    amount: DecimalText
    evidence: LineEvidence | None
    countedAs: CountedAs | None  # noqa: N815
    rate: LineRate | None
    adjusts: AdjustedStatement | None = Field(
        description="For an adjustment: the finalised statement it settles"
    )
    problem: str | None


class StatementDriver(BaseModel):
    id: UUID
    name: str
    employeeNumber: str  # noqa: N815
    region: str | None


class StatementPeriod(BaseModel):
    start: LocalDate
    end: LocalDate = Field(description="The first day not included")
    timeZone: str = Field(examples=["Europe/Brussels"])  # noqa: N815


class StatementTotals(BaseModel):
    energy: RegisterEnergy
    amount: DecimalText = Field(description="The sum of the lines' amounts")
    sessionLines: int  # noqa: N815
    adjustmentLines: int  # noqa: N815


class StatementDocument(BaseModel):
    """A driver's statement for a period. A draft (status draft, id, number and finalised
    null) is computed when asked; a finalised one is kept exactly as finalised."""

    id: UUID | None
    number: str | None = Field(examples=["2026-000042"])
    status: Literal["draft", "finalised"]
    driver: StatementDriver
    period: StatementPeriod
    currency: str = Field(examples=["EUR"])
    lines: list[StatementLineOut]
    totals: StatementTotals
    problems: list[str] = Field(
        description="Why it cannot be finalised yet (e.g. a session with no rate); empty "
        "when it can"
    )
    finalised: Instant | None
    contentSha256: Sha256  # noqa: N815


# ---- lists -----------------------------------------------------------------------------


class SummaryPeriod(BaseModel):
    start: LocalDate
    end: LocalDate = Field(description="The first day not included")


class StatementSummary(BaseModel):
    id: UUID
    number: str
    driverId: UUID  # noqa: N815
    period: SummaryPeriod
    currency: str
    totalAmount: DecimalText  # noqa: N815
    finalised: Instant
    contentSha256: Sha256  # noqa: N815


class StatementPage(PageOf[StatementSummary]):
    """A page of finalised statements"""


def summary_resource(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "number": row.number,
        "driverId": str(row.driver_id),
        "period": {"start": row.period_start, "end": row.period_end},
        "currency": row.currency,
        "totalAmount": row.total_amount,
        "finalised": format_instant(row.finalised_ms),
        "contentSha256": row.content_sha256,
    }
