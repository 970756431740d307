"""Shapes shared by every resource: measurements, the paging envelope, problems."""

from typing import Annotated, Any, Generic, TypeVar

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
)

from chargeledger.domain import physical_ranges
from chargeledger.domain.instants import format_instant, parse_instant_ms
from chargeledger.domain.physical_ranges import PhysicalRange


def _parse_instant(value: Any) -> int:
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string such as 2024-05-27T13:00:00Z")
    # Checked first: a message quoting a lone surrogate cannot even be made into an error.
    _storable_text(value)
    return parse_instant_ms(value)


# An instant given as RFC 3339 text, held as UTC epoch milliseconds.
InstantMs = Annotated[
    int,
    BeforeValidator(_parse_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "example": "2023-11-07T05:31:56Z"}),
]

# A JSON number, finite: NaN and Infinity are not JSON and not measurements; a boolean is not
# a number (false is not a latitude of 0), nor is a string holding one (the seed's values are
# numbers).
FiniteFloat = Annotated[float, Field(strict=True, allow_inf_nan=False)]


def _within(bounds: PhysicalRange) -> AfterValidator:
    def check(value: float) -> float:
        problem = bounds.problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _documented(bounds: PhysicalRange, description: str) -> Any:
    return Field(
        strict=True,
        allow_inf_nan=False,
        description=f"{description}, {bounds.describe()}",
        json_schema_extra={"minimum": bounds.minimum, "maximum": bounds.maximum},
    )


# Quantities in a fixed unit, each within its physical range (domain/physical_ranges.py); the
# problem names the range. Quantities sent with a unit are checked once converted.
Latitude = Annotated[
    float,
    _documented(physical_ranges.LATITUDE, "Degrees north"),
    _within(physical_ranges.LATITUDE),
]
Longitude = Annotated[
    float,
    _documented(physical_ranges.LONGITUDE, "Degrees east"),
    _within(physical_ranges.LONGITUDE),
]
PositionUncertaintyM = Annotated[
    float,
    _documented(physical_ranges.POSITION_UNCERTAINTY, "Uncertainty of the position in metres"),
    _within(physical_ranges.POSITION_UNCERTAINTY),
]
LocationRadiusM = Annotated[
    float,
    _documented(physical_ranges.LOCATION_RADIUS, "Radius of the location's circle in metres"),
    _within(physical_ranges.LOCATION_RADIUS),
]
BatteryCapacityKwh = Annotated[
    float,
    _documented(physical_ranges.BATTERY_CAPACITY, "Usable battery capacity in kWh"),
    _within(physical_ranges.BATTERY_CAPACITY),
]


def _calendar_start(instant_ms: int) -> int:
    if instant_ms > physical_ranges.LATEST_CALENDAR_START_MS:
        latest = format_instant(physical_ranges.LATEST_CALENDAR_START_MS)
        raise ValueError(f"must not be after {latest}")
    return instant_ms


# When a tariff calendar version starts: from the epoch (since always) to 2100.
CalendarStartMs = Annotated[InstantMs, AfterValidator(_calendar_start)]


def _storable_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and lone surrogates are not UTF-8: refuse both here
    # rather than fail in the database. (Checked with C-speed string methods: every unit of
    # every reading passes through here.)
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        raise ValueError(f"cannot be stored as JSON: {error}") from None
    return value


# String fields the database can store, by length bounds.
Label = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable_text)]
LongText = Annotated[str, Field(max_length=500), AfterValidator(_storable_text)]
ExternalId = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_storable_text)]
UnitText = Annotated[str, Field(max_length=20), AfterValidator(_storable_text)]


# A JSON object as given (integers within 64 bits, valid Unicode).
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]


class Strict(BaseModel):
    """Request bodies: unknown fields are refused rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Measurement(BaseModel):
    """A measurement: a value and its unit. An unknown value is null."""

    unit: str = Field(description="The unit")
    value: float | None = Field(description="The value")


class TieredMeasurement(BaseModel):
    """A tiered measurement"""

    t1: float | None = Field(description="The value in tier 1 (tariff period t1)")
    t2: float | None = Field(description="The value in tier 2 (tariff period t2)")
    t3: float | None = Field(description="The value in tier 3 (tariff period t3)")
    t4: float | None = Field(description="The value in tier 4 (tariff period t4)")
    total: float | None = Field(description="The total value")
    unit: str = Field(description="The unit")


class Links(BaseModel):
    next: str | None = Field(description="The absolute URL of the next page; null on the last page")


class PageMeta(BaseModel):
    continuationToken: str | None = Field(  # noqa: N815 - the seed's name
        description="The token used to retrieve the next page; null on the last page"
    )
    pageSize: int = Field(description="The number of records per page")  # noqa: N815


Item = TypeVar("Item")


class PageOf(BaseModel, Generic[Item]):
    data: list[Item]
    links: Links
    meta: PageMeta


class ProblemDetail(BaseModel):
    """One invalid parameter of a request."""

    name: str = Field(description="The parameter, dotted for body fields: charge.total.t1")
    # "in" is a Python keyword, hence the alias.
    location: str = Field(alias="in", description="query, path, header or body")
    detail: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[ProblemDetail] | None = Field(
        default=None, description="For invalid input: each bad parameter and what is wrong"
    )
