"""A session's versions as the OpenAPI document describes them. Pages are built as plain
dicts with the stored record spliced in (versions_endpoint.py): these models document them."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.charge_sessions.schemas import ChargingRecord
from chargeledger.kit.schemas import PageOf


class ChargeSessionVersion(BaseModel):
    """One state the session had: what it was, why it changed, who changed it, when."""

    version: int = Field(description="1 for the first, then one more per change")
    change: Literal["created", "updated", "removed"]
    reason: str = Field(
        description="Why: posted, imported, detected, ocpp, resplit, rematched, redetected, "
        "evidence, ...; migrated for the state a session had when history began to be kept"
    )
    source: str = Field(description="Which channel wrote it: external, readings or ocpp")
    recorded: str = Field(
        description="When this version was written", json_schema_extra={"format": "date-time"}
    )
    record: ChargingRecord = Field(
        description="The Charging Record as it was served at this version (for a removal: as "
        "it was last)"
    )
    replacedBy: list[UUID] | None = Field(  # noqa: N815
        description="For a removal: the sessions that took its place ([] when none did); "
        "null otherwise"
    )


class ChargeSessionVersionPage(PageOf[ChargeSessionVersion]):
    """A page of a Charge Session's versions"""
