from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field, StrictBool

from chargeledger.entities.service import EntityType, Feature
from chargeledger.kit.schemas import BatteryCapacityKwh, JsonObject, Label, PageOf, Strict


class EntityIn(Strict):
    type: EntityType
    name: Label
    identifier: Label | None = Field(
        default=None,
        description="The device's own id (VIN, charge point identity); unique within the tenant",
    )
    brand: Label | None = None
    properties: JsonObject = Field(default_factory=dict)


class Entity(BaseModel):
    id: UUID
    type: EntityType
    name: str
    identifier: str | None
    brand: str | None
    properties: dict[str, Any]
    created: str = Field(json_schema_extra={"format": "date-time"})


class EntityPage(PageOf[Entity]):
    """A page of Entities"""


class FeatureStatus(BaseModel):
    feature: Feature
    enabled: bool


class FeatureActivationIn(Strict):
    feature: Feature
    enabled: StrictBool  # a JSON boolean: 0 and "true" are not


class BatteryCapacityIn(Strict):
    value: BatteryCapacityKwh
    unit: Literal["kWh"] = "kWh"


class BatteryCapacity(BaseModel):
    value: float | None
    unit: Literal["kWh"]
