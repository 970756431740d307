"""The events feed as the OpenAPI document describes it. Pages are built as bytes
(events/endpoints.py): these models document them, they are not used to serialize."""

from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

from chargeledger.charge_sessions.schemas import ChargingRecord
from chargeledger.events.types import EVENT_TYPES


class ChargeSessionEventData(BaseModel):
    """What a charge-session.* event says: the session's new version, with its record."""

    entityId: UUID  # noqa: N815
    sessionId: UUID  # noqa: N815
    version: int = Field(description="The session's version this event made (1, 2, ...)")
    change: Literal["created", "updated", "removed"]
    reason: str = Field(
        description="Why it changed: posted, imported, detected, ocpp, resplit, rematched, "
        "redetected, ..."
    )
    source: str = Field(description="Which channel wrote it: external, readings or ocpp")
    record: ChargingRecord = Field(
        description="The Charging Record as GET .../charge-sessions/{sessionId} served it at "
        "this version (for a removal: as it was last)"
    )
    replacedBy: list[UUID] | None = Field(  # noqa: N815
        description="For a removal: the sessions that took its place ([] when none did); "
        "null otherwise"
    )


class StatementPeriod(BaseModel):
    start: str = Field(description="First day (local date)", json_schema_extra={"format": "date"})
    end: str = Field(
        description="First day no longer included", json_schema_extra={"format": "date"}
    )


class StatementFinalisedEventData(BaseModel):
    """What a statement.finalised event says: which statement, for whom, how much, and the
    hash of its content (GET /v1/statements/{statementId} serves the content)."""

    statementId: UUID  # noqa: N815
    number: str
    driverId: UUID  # noqa: N815
    period: StatementPeriod
    currency: str
    totalAmount: str = Field(description="A decimal, as text")  # noqa: N815
    contentSha256: str  # noqa: N815


class WebhookDisabledEventData(BaseModel):
    """What a webhook.disabled event says: which subscription was switched off, and why."""

    subscriptionId: UUID  # noqa: N815
    url: str
    failingSince: str = Field(json_schema_extra={"format": "date-time"})  # noqa: N815
    reason: str


class Event(BaseModel):
    """An event as stored and as a webhook delivers it, plus its place in the feed."""

    sequence: int = Field(
        description="Its place in the tenant's feed: increasing in commit order, gapless "
        "across the tenant's events (a filtered list skips the others' numbers)"
    )
    id: UUID = Field(description="Also the webhook-id of its deliveries: deduplicate by it")
    type: str = Field(json_schema_extra={"enum": list(EVENT_TYPES)})
    timestamp: str = Field(
        description="When it happened", json_schema_extra={"format": "date-time"}
    )
    data: ChargeSessionEventData | StatementFinalisedEventData | WebhookDisabledEventData = Field(
        description="By type: charge-session.* events carry the session's version and record, "
        "statement.finalised the statement's number, total and hash, webhook.disabled the "
        "subscription and why"
    )


class EventLinks(BaseModel):
    next: str = Field(
        description="The absolute URL of the next call; never null: the feed has no end. "
        "Follow it at once while meta.hasMore is true; when it is false, keep it and call it "
        "later to get what happened since"
    )


class EventPageMeta(BaseModel):
    continuationToken: str = Field(  # noqa: N815
        description="Resumes right after the last event of this page (or where this page "
        "started, if it has none); never null. Pass it with the same type and entityId"
    )
    pageSize: int = Field(description="The number of events per page")  # noqa: N815
    hasMore: bool = Field(  # noqa: N815
        description="true: more events are there already, call again at once; false: you "
        "have seen every event committed so far"
    )


class EventPage(BaseModel):
    """A page of the events feed"""

    data: list[Event]
    links: EventLinks
    meta: EventPageMeta
