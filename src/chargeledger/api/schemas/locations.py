from typing import Annotated
from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.api.schemas.common import Label, LongText, PageOf, Strict

DEFAULT_RADIUS_M = 100.0


class LocationIn(Strict):
    label: Label
    address: LongText | None = None
    latitude: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    longitude: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]
    radius: Annotated[float, Field(ge=1, le=5000, allow_inf_nan=False)] = Field(
        default=DEFAULT_RADIUS_M, description="Radius of the location's circle, in metres"
    )


class Location(BaseModel):
    id: UUID
    label: str
    address: str | None
    latitude: float
    longitude: float
    radius: float = Field(description="Radius of the location's circle, in metres")


class LocationPage(PageOf[Location]):
    """A page of Locations"""
