"""The shapes of /v1/drivers: request bodies with their checks, responses as documented, and
rows to response dicts (dumped with orjson, like every other resource)."""

import re
from datetime import date
from typing import Annotated, Any, Literal
from uuid import UUID

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from chargeledger.domain.instants import format_instant
from chargeledger.domain.reimbursement.counting import AssignmentKind
from chargeledger.kit.schemas import Label, PageOf, Strict, _storable_text

_DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _parse_local_date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE_SHAPE.fullmatch(value):
        raise ValueError(f"must be a date as YYYY-MM-DD text, such as 2026-10-01; got {value!r}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is not a date of the calendar") from None


# A local date of the tenant's reimbursement time zone, given as "YYYY-MM-DD".
LocalDate = Annotated[
    date,
    BeforeValidator(_parse_local_date),
    WithJsonSchema({"type": "string", "format": "date", "example": "2026-10-01"}),
]

# Text the database can store (no NUL, valid Unicode), within its bounds; the bounds come
# first so that their messages speak of characters.
EmployeeNumber = Annotated[
    str,
    Field(min_length=1, max_length=64, examples=["E-10442"]),
    AfterValidator(_storable_text),
]
Region = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        description="Where the regional maximum comes from, e.g. BE-VLG, BE-WAL, BE-BRU",
        examples=["BE-VLG"],
    ),
    AfterValidator(_storable_text),
]


def _email(value: str) -> str:
    if "@" not in value:
        raise ValueError("must be an e-mail address (it has no @)")
    return value


Email = Annotated[
    str,
    Field(min_length=3, max_length=254, examples=["an.peeters@example.com"]),
    AfterValidator(_storable_text),
    AfterValidator(_email),
]
IdTag = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The RFID tag's idTag, as OCPP reports it",
        examples=["04A2B3C4D5E6F7"],
    ),
    AfterValidator(_storable_text),
]
KindName = Literal["car", "homeChargePoint", "idTag"]

_VALID_TO = "The first day no longer included (exclusive), after validFrom; null or left out: open"


def _after_valid_from(value: date | None, info: ValidationInfo) -> date | None:
    valid_from = info.data.get("validFrom")
    if value is not None and isinstance(valid_from, date) and value <= valid_from:
        raise ValueError(
            f"must be after validFrom ({valid_from}): it is the first day no longer included"
        )
    return value


def _left_out_not_null(schema: dict[str, Any]) -> None:
    """The documented schema of a PATCH field that may be left out but not be null."""
    schema.pop("default", None)
    options = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(options) == 1:
        schema.update(options[0])
    elif options:
        schema["anyOf"] = options


# ---- requests --------------------------------------------------------------------------


class DriverIn(Strict):
    name: Label = Field(examples=["An Peeters"])
    employeeNumber: EmployeeNumber = Field(  # noqa: N815
        description="Unique among the tenant's drivers"
    )
    region: Region | None = None
    email: Email | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "An Peeters",
                    "employeeNumber": "E-10442",
                    "region": "BE-VLG",
                    "email": "an.peeters@example.com",
                }
            ]
        },
    )


class DriverPatch(Strict):
    """Only the fields given change; `region: null` or `email: null` clears them."""

    name: Label | None = Field(default=None, json_schema_extra=_left_out_not_null)
    employeeNumber: EmployeeNumber | None = Field(  # noqa: N815
        default=None, json_schema_extra=_left_out_not_null
    )
    region: Region | None = None
    email: Email | None = None

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"region": "BE-WAL"}]}
    )

    @field_validator("name", "employeeNumber", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators do not run on defaults: None here was sent as null.
        if value is None:
            raise ValueError("must not be null; leave it out to keep the current value")
        return value


class AssignmentIn(Strict):
    kind: KindName = Field(
        description="car (an EV entity), homeChargePoint (a ChargePoint entity) or idTag "
        "(an RFID tag)"
    )
    # Checked even when left out (validate_default), to say which kinds need which.
    entityId: UUID | None = Field(  # noqa: N815
        default=None,
        validate_default=True,
        description="The EV (car) or ChargePoint (homeChargePoint); not for idTag",
    )
    idTag: IdTag | None = Field(  # noqa: N815
        default=None, validate_default=True, description="Only for kind idTag, and required there"
    )
    validFrom: LocalDate = Field(description="The first day included")  # noqa: N815
    validTo: LocalDate | None = Field(default=None, description=_VALID_TO)  # noqa: N815

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "car",
                    "entityId": "3f0c5a6e-64b4-4f7e-9d7d-1b9d0c3f2a10",
                    "validFrom": "2026-10-16",
                },
                {"kind": "idTag", "idTag": "04A2B3C4D5E6F7", "validFrom": "2026-10-01"},
            ]
        },
    )

    @field_validator("entityId")
    @classmethod
    def _entity_for_kind(cls, value: UUID | None, info: ValidationInfo) -> UUID | None:
        kind = info.data.get("kind")
        if kind == "idTag" and value is not None:
            raise ValueError("must be left out for kind idTag (give idTag instead)")
        if kind in ("car", "homeChargePoint") and value is None:
            needed = "an EV" if kind == "car" else "a ChargePoint"
            raise ValueError(f"is required for kind {kind}: the id of {needed} entity")
        return value

    @field_validator("idTag")
    @classmethod
    def _tag_for_kind(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = info.data.get("kind")
        if kind == "idTag" and value is None:
            raise ValueError("is required for kind idTag")
        if kind in ("car", "homeChargePoint") and value is not None:
            raise ValueError(f"must be left out for kind {kind} (it is only for kind idTag)")
        return value

    @field_validator("validTo")
    @classmethod
    def _ends_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _after_valid_from(value, info)

    @property
    def assignment_kind(self) -> AssignmentKind:
        return AssignmentKind(self.kind)


class EndIn(Strict):
    """Ends an assignment (or opens it again): only validTo changes."""

    validTo: LocalDate | None = Field(  # noqa: N815
        description="The first day no longer included (after validFrom), e.g. the day the car "
        "changes hands; null: open"
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"validTo": "2026-10-16"}]}
    )


class DriverPlanIn(Strict):
    planId: UUID = Field(description="A rate plan of the tenant")  # noqa: N815
    validFrom: LocalDate = Field(description="The first day included")  # noqa: N815
    validTo: LocalDate | None = Field(default=None, description=_VALID_TO)  # noqa: N815

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"planId": "7d1f4c1e-2a53-4c55-8f3a-0b6c2e9d8a41", "validFrom": "2026-10-01"}
            ]
        },
    )

    @field_validator("validTo")
    @classmethod
    def _ends_after_start(cls, value: date | None, info: ValidationInfo) -> date | None:
        return _after_valid_from(value, info)


# ---- responses (as documented; built as dicts below) -----------------------------------

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
DateText = Annotated[str, Field(json_schema_extra={"format": "date"}, examples=["2026-10-01"])]


class Driver(BaseModel):
    """An employee who is reimbursed for charging at home."""

    id: UUID
    name: str
    employeeNumber: str  # noqa: N815
    region: str | None
    email: str | None
    created: Instant
    updated: Instant


class DriverPage(PageOf[Driver]):
    """A page of drivers, oldest first"""


class Assignment(BaseModel):
    """What is the driver's (a car, a home charge point or a tag), from when to when."""

    id: UUID
    driverId: UUID  # noqa: N815
    kind: KindName
    entityId: UUID | None  # noqa: N815
    idTag: str | None  # noqa: N815
    validFrom: DateText  # noqa: N815
    validTo: DateText | None = Field(description=_VALID_TO)  # noqa: N815
    created: Instant


class AssignmentList(BaseModel):
    data: list[Assignment] = Field(description="Every assignment, by validFrom, then created")


class DriverPlan(BaseModel):
    """Which rate plan prices the driver's charging, from when to when."""

    id: UUID
    driverId: UUID  # noqa: N815
    planId: UUID  # noqa: N815
    validFrom: DateText  # noqa: N815
    validTo: DateText | None = Field(description=_VALID_TO)  # noqa: N815
    created: Instant


class DriverPlanList(BaseModel):
    data: list[DriverPlan] = Field(description="Every rate-plan assignment, by validFrom")


# ---- rows to response dicts ------------------------------------------------------------


def driver_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "employeeNumber": row.employee_number,
        "region": row.region,
        "email": row.email,
        "created": format_instant(row.created_ms),
        "updated": format_instant(row.updated_ms),
    }


def assignment_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "driverId": str(row.driver_id),
        "kind": row.kind,
        "entityId": None if row.entity_id is None else str(row.entity_id),
        "idTag": row.id_tag,
        "validFrom": row.valid_from,
        "validTo": row.valid_to,
        "created": format_instant(row.created_ms),
    }


def driver_plan_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "driverId": str(row.driver_id),
        "planId": str(row.plan_id),
        "validFrom": row.valid_from,
        "validTo": row.valid_to,
        "created": format_instant(row.created_ms),
    }
