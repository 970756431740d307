from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.kit.schemas import (
    Label,
    Latitude,
    LocationRadiusM,
    Longitude,
    LongText,
    PageOf,
    Strict,
)

DEFAULT_RADIUS_M = 100.0


class LocationIn(Strict):
    label: Label
    address: LongText | None = None
    latitude: Latitude
    longitude: Longitude
    radius: LocationRadiusM = DEFAULT_RADIUS_M


class Location(BaseModel):
    id: UUID
    label: str
    address: str | None
    latitude: float
    longitude: float
    radius: float = Field(description="Radius of the location's circle, in metres")


class LocationPage(PageOf[Location]):
    """A page of Locations"""
