"""Tariff calendars (Entity Settings, our extension) and battery capacity."""

from typing import Annotated, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.kit.schemas import CalendarStartMs, Strict

RegisterName = Literal["t1", "t2", "t3", "t4"]
DayName = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun", "holiday"]
TimeOfDay = Annotated[str, Field(pattern=r"^\d{2}:\d{2}$", examples=["07:00"])]
PresetName = Literal["BE-day-night", "NL-normal-low"]


class TariffRule(Strict):
    # "register" would shadow BaseModel.register, hence the alias.
    register_name: RegisterName = Field(alias="register")
    days: list[DayName] = Field(min_length=1, max_length=8)
    from_: TimeOfDay = Field(alias="from", description="Local time the period starts")
    to: TimeOfDay = Field(
        description="Local time it ends (exclusive; 24:00 is midnight). Earlier than `from` "
        "wraps past midnight; equal to `from` is the whole day."
    )


class TariffCalendarIn(Strict):
    """Either a `preset`, or a calendar of your own; `validFrom` in both cases."""

    preset: PresetName | None = None
    timeZone: str | None = Field(  # noqa: N815
        default=None, max_length=64, examples=["Europe/Brussels"], description="IANA time zone"
    )
    country: str | None = Field(
        default=None, max_length=3, description="ISO 3166 country whose public holidays count"
    )
    subdivision: str | None = Field(default=None, max_length=10)
    ignoredHolidays: list[Annotated[str, Field(max_length=100)]] | None = Field(  # noqa: N815
        default=None,
        max_length=30,
        description="Holidays (by their English name in the `holidays` package) your meter "
        "does not treat as holidays",
    )
    rules: list[TariffRule] | None = Field(
        default=None, max_length=50, description="Ordered; the first rule that matches wins"
    )
    defaultRegister: RegisterName | None = None  # noqa: N815
    validFrom: CalendarStartMs | None = Field(  # noqa: N815
        default=None,
        description="From this instant on the calendar applies; sessions before it keep "
        "theirs. Omitted: since always. At most 2100-01-01T00:00:00Z.",
    )


class TariffRuleOut(BaseModel):
    register_name: RegisterName = Field(alias="register")
    days: list[DayName]
    from_: str = Field(alias="from")
    to: str


class TariffCalendarVersion(BaseModel):
    id: UUID
    validFrom: str = Field(json_schema_extra={"format": "date-time"})  # noqa: N815
    timeZone: str  # noqa: N815
    country: str | None
    subdivision: str | None
    ignoredHolidays: list[str]  # noqa: N815
    defaultRegister: RegisterName  # noqa: N815
    rules: list[TariffRuleOut]


class TariffCalendarVersions(BaseModel):
    data: list[TariffCalendarVersion] = Field(description="Every version, oldest first")
