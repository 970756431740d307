"""The shapes of /v1/rate-plans: request bodies with their checks, responses as documented, and
plans to response dicts. Prices are JSON strings of decimals, never numbers: a float cannot
carry 0.2845 exactly, and a finance user must get back exactly what was entered."""

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator

from chargeledger.domain.instants import format_instant
from chargeledger.domain.reimbursement.money import MINOR_UNITS, MoneyError, parse_price
from chargeledger.domain.reimbursement.rates import RatePeriod
from chargeledger.domain.reimbursement.registers import Registers
from chargeledger.kit.schemas import Label, PageOf, Strict

PRICES_AS_STRINGS = 'give prices as strings, e.g. "0.2845"'
MAX_PERIODS_PER_REQUEST = 1000
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_local_date(value: object) -> date:
    """A "YYYY-MM-DD" date (only that form: fromisoformat alone also takes "20261001")."""
    if not isinstance(value, str) or not _DATE_PATTERN.fullmatch(value):
        raise ValueError("must be a date written YYYY-MM-DD, e.g. 2026-10-01")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a date of the calendar") from None


def price_from_text(value: object) -> Decimal:
    """A price per kWh from a JSON string; a JSON number is refused, as it may already have
    lost digits on the client's side."""
    if not isinstance(value, str):
        raise ValueError(PRICES_AS_STRINGS)
    try:
        return parse_price(value, field="price")
    except MoneyError as error:
        raise ValueError(str(error).removeprefix("price: ")) from None


def check_currency(value: object) -> str:
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ValueError(
            f"must be an ISO 4217 code, one of {', '.join(sorted(MINOR_UNITS))} "
            "(ask for another to be added)"
        )
    return value


LocalDate = Annotated[
    date,
    BeforeValidator(parse_local_date),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-10-01"}),
]
Price = Annotated[
    Decimal,
    BeforeValidator(price_from_text),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(1000(\.0{1,6})?|\d{1,3}(\.\d{1,6})?)$",
            "description": "Per kWh, a decimal string (0 to 1000, at most 6 decimals)",
            "example": "0.2845",
        }
    ),
]
Currency = Annotated[
    str,
    BeforeValidator(check_currency),
    WithJsonSchema({"type": "string", "enum": sorted(MINOR_UNITS), "example": "EUR"}),
]
PlanName = Annotated[Label, Field(description="1 to 200 characters", examples=["CREG maximum"])]


# ---- requests --------------------------------------------------------------------------


class PricesIn(Strict):
    """Per register; a register left out costs t1's price (a flat plan gives only t1)."""

    t1: Price
    t2: Price | None = None
    t3: Price | None = None
    t4: Price | None = None

    def registers(self) -> Registers:
        return Registers(
            self.t1,
            self.t1 if self.t2 is None else self.t2,
            self.t1 if self.t3 is None else self.t3,
            self.t1 if self.t4 is None else self.t4,
        )


_VALID_TO = "The first day no longer included (exclusive), after validFrom; null or left out: open"


class PeriodIn(Strict):
    validFrom: LocalDate = Field(description="The first day included")  # noqa: N815
    validTo: LocalDate | None = Field(default=None, description=_VALID_TO)  # noqa: N815
    prices: PricesIn

    def period(self) -> RatePeriod:
        return RatePeriod(
            valid_from=self.validFrom, valid_to=self.validTo, prices=self.prices.registers()
        )


class PeriodPut(Strict):
    """A period's end and prices; its start is in the path."""

    validTo: LocalDate | None = Field(default=None, description=_VALID_TO)  # noqa: N815
    prices: PricesIn

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"validTo": "2027-01-01", "prices": {"t1": "0.2845"}}]},
    )

    def period(self, valid_from: date) -> RatePeriod:
        return RatePeriod(
            valid_from=valid_from, valid_to=self.validTo, prices=self.prices.registers()
        )


class RatePlanIn(Strict):
    name: PlanName
    currency: Currency
    capPlanId: UUID | None = Field(  # noqa: N815
        default=None,
        description="A plan of the same currency whose price, per register, is the most this "
        "plan pays (e.g. a regional maximum)",
    )
    periods: list[PeriodIn] = Field(
        default_factory=list,
        max_length=MAX_PERIODS_PER_REQUEST,
        description="Not overlapping; more can be added with PUT .../periods/{validFrom}",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "CREG maximum Flanders",
                    "currency": "EUR",
                    "periods": [
                        {
                            "validFrom": "2026-10-01",
                            "validTo": "2027-01-01",
                            "prices": {"t1": "0.2845"},
                        }
                    ],
                }
            ]
        },
    )


def _left_out_not_null(schema: dict[str, Any]) -> None:
    """The documented schema of a PATCH field that may be left out but not be null."""
    schema.pop("default", None)
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


class RatePlanPatch(Strict):
    """Only the fields given change; `capPlanId: null` removes the cap."""

    name: PlanName | None = Field(default=None, json_schema_extra=_left_out_not_null)
    capPlanId: UUID | None = None  # noqa: N815

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"capPlanId": None}]})

    @field_validator("name", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators do not run on defaults: None here was sent as null.
        if value is None:
            raise ValueError("must not be null; leave it out to keep the current value")
        return value


# ---- responses (as documented; built as dicts below) -----------------------------------

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
DateText = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2026-10-01"])]
PriceText = Annotated[str, Field(examples=["0.2845"], description="Per kWh, a decimal string")]


class Prices(BaseModel):
    t1: PriceText
    t2: PriceText
    t3: PriceText
    t4: PriceText


class Period(BaseModel):
    validFrom: DateText = Field(description="The first day included")  # noqa: N815
    validTo: DateText | None = Field(  # noqa: N815
        description="The first day no longer included; null: open"
    )
    prices: Prices


class RatePlan(BaseModel):
    """Prices per kWh per register over periods of local dates, possibly capped by another
    plan: per register, the lower of the two prices applies."""

    id: UUID
    name: str
    currency: str = Field(examples=["EUR"])
    capPlanId: UUID | None  # noqa: N815
    periods: list[Period] = Field(description="Sorted by validFrom, not overlapping")
    created: Instant
    updated: Instant


class RatePlanPage(PageOf[RatePlan]):
    """A page of rate plans, oldest first"""


class ImportedPlan(BaseModel):
    id: UUID
    name: str
    created: bool = Field(description="Whether the import created the plan")
    periodsImported: int = Field(description="Rows of the file for this plan")  # noqa: N815


class ImportResult(BaseModel):
    plans: list[ImportedPlan] = Field(description="In the order the file first names them")


# ---- plans to response dicts -----------------------------------------------------------


def _date_text(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def period_resource(period: RatePeriod) -> dict[str, Any]:
    return {
        "validFrom": period.valid_from.isoformat(),
        "validTo": _date_text(period.valid_to),
        "prices": period.prices.as_text(),
    }


def plan_resource(row: sa.Row[Any], periods: Sequence[RatePeriod]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "currency": row.currency,
        "capPlanId": None if row.cap_plan_id is None else str(row.cap_plan_id),
        "periods": [
            period_resource(period)
            for period in sorted(periods, key=lambda period: period.valid_from)
        ],
        "created": format_instant(row.created_ms),
        "updated": format_instant(row.updated_ms),
    }
