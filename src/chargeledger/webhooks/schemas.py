"""The shapes of /v1/webhooks: request bodies with their checks, responses as documented, and
rows to response dicts (dumped with orjson, like every other resource)."""

import unicodedata
from collections.abc import Sequence
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from uuid import UUID

import httpx
import orjson
import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, field_validator

from chargeledger.domain.instants import format_instant
from chargeledger.events.types import EVENT_TYPES
from chargeledger.kit.schemas import LongText, PageOf, Strict

DeliveryStatus = Literal["pending", "delivered", "failed", "cancelled"]

MAX_URL_CHARACTERS = 2048
# Rotation: how long the current secret keeps signing beside the new one, by default a day,
# so receivers can switch over; 0 drops it at once (after a leak).
DEFAULT_EXPIRE_CURRENT_HOURS = 24
MAX_EXPIRE_CURRENT_HOURS = 72

URL_EXAMPLE = "https://fleet.example.com/hooks/chargeledger"


def _check_url(url: str) -> str:
    """An absolute http(s) URL with a host, without userinfo or fragment. Whether its host
    may be sent to (not loopback, private, ...) is decided when sending, on the address
    actually connected to."""
    if any(unicodedata.category(character)[0] in "CZ" for character in url):
        raise ValueError("must not contain spaces or control characters")
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("must be an absolute http:// or https:// URL")
    if "#" in url:
        raise ValueError("must not have a fragment (#...): it is never sent to the server")
    if "@" in parts.netloc:
        raise ValueError("must not contain a user name or password (user:password@)")
    if not parts.hostname:
        raise ValueError("must name a host")
    try:
        parts.port  # noqa: B018 - raises for a port that is not a number in 0..65535
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL) as error:
        raise ValueError(f"is not a valid URL ({error})") from None
    return url


WebhookUrl = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_URL_CHARACTERS,
        description="Where events are POSTed: an absolute http or https URL (https in "
        f"production), at most {MAX_URL_CHARACTERS} characters, without user:password@ or "
        "#fragment. Addresses that are loopback, private, link-local or cloud metadata are "
        "refused when sending unless the operator allows them.",
        examples=[URL_EXAMPLE],
        json_schema_extra={"format": "uri"},
    ),
    AfterValidator(_check_url),
]


def _known_event_type(name: str) -> str:
    if name not in EVENT_TYPES:
        raise ValueError(
            f"unknown event type {name!r}; the known types are {', '.join(EVENT_TYPES)}"
        )
    return name


def _without_repeats(names: list[str]) -> list[str]:
    return list(dict.fromkeys(names))


EventTypeName = Annotated[
    str,
    AfterValidator(_known_event_type),
    Field(json_schema_extra={"enum": list(EVENT_TYPES)}),
]
EventTypes = Annotated[
    list[EventTypeName],
    Field(
        max_length=len(EVENT_TYPES) * 4,
        description="The event types to deliver; empty means every type, including types "
        "added later. Known types: " + ", ".join(EVENT_TYPES) + ".",
        examples=[["charge-session.created", "charge-session.updated"]],
    ),
    AfterValidator(_without_repeats),
]
Description = Annotated[
    LongText,
    Field(description="Free text for the client's own use", examples=["Reimbursement system"]),
]

# ---- requests --------------------------------------------------------------------------


class WebhookIn(Strict):
    url: WebhookUrl
    eventTypes: EventTypes = Field(default_factory=list)  # noqa: N815
    description: Description | None = None
    enabled: StrictBool = Field(
        default=True, description="Whether events are delivered; false to create it paused"
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "url": URL_EXAMPLE,
                    "eventTypes": ["charge-session.created", "charge-session.updated"],
                    "description": "Reimbursement system",
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


class WebhookPatch(Strict):
    """Only the fields given change; `description: null` clears the description."""

    url: WebhookUrl | None = Field(default=None, json_schema_extra=_left_out_not_null)
    eventTypes: EventTypes | None = Field(  # noqa: N815
        default=None, json_schema_extra=_left_out_not_null
    )
    description: Description | None = None
    enabled: StrictBool | None = Field(
        default=None,
        description="false pauses deliveries (pending ones are cancelled); true resumes them "
        "and clears disabled, disabledReason and failingSince",
        json_schema_extra=_left_out_not_null,
    )

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"enabled": True}, {"url": URL_EXAMPLE}]}
    )

    @field_validator("url", "eventTypes", "enabled", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Validators do not run on defaults: None here was sent as null.
        if value is None:
            raise ValueError("must not be null; leave it out to keep the current value")
        return value


class SecretRotationIn(Strict):
    expireCurrentInHours: int = Field(  # noqa: N815
        default=DEFAULT_EXPIRE_CURRENT_HOURS,
        ge=0,
        le=MAX_EXPIRE_CURRENT_HOURS,
        strict=True,
        description="How long the current secret keeps signing beside the new one (each "
        "delivery then carries both signatures); 0 stops it at once",
        examples=[24],
    )


# ---- responses (as documented; built as dicts below) -----------------------------------

Instant = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class Webhook(BaseModel):
    """A webhook subscription. Its secret is shown only when it is created or rotated."""

    id: UUID
    url: str = Field(examples=[URL_EXAMPLE])
    description: str | None
    eventTypes: list[str] = Field(  # noqa: N815
        description="The event types delivered; empty means every type"
    )
    enabled: bool
    disabled: Instant | None = Field(description="When it was disabled; null while enabled")
    disabledReason: str | None = Field(  # noqa: N815
        description="Why it was disabled: by the client, or after failing for days",
        examples=["every delivery failed for 5 days"],
    )
    failingSince: Instant | None = Field(  # noqa: N815
        description="Since when every delivery attempt has failed; null while they succeed"
    )
    previousSecretExpires: Instant | None = Field(  # noqa: N815
        description="Until when the secret replaced by the last rotation still signs "
        "deliveries too; null when only the current secret signs"
    )
    created: Instant
    updated: Instant


_SHOWN_ONCE = (
    "The signing secret (Standard Webhooks, `whsec_` and base64). Shown only in this answer: "
    "keep it to verify the `webhook-signature` header of every delivery."
)
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - the docs' example


class WebhookCreated(Webhook):
    secret: str = Field(description=_SHOWN_ONCE, examples=[SECRET_EXAMPLE])


class WebhookPage(PageOf[Webhook]):
    """A page of webhook subscriptions"""


class SecretRotated(BaseModel):
    id: UUID = Field(description="The webhook subscription")
    secret: str = Field(description=_SHOWN_ONCE, examples=[SECRET_EXAMPLE])
    previousSecretExpires: Instant | None = Field(  # noqa: N815
        description="Until when the replaced secret still signs too; null when it stopped at once"
    )


class DeliveryAttempt(BaseModel):
    attempt: int = Field(description="1 for the first attempt")
    started: Instant
    durationMs: int = Field(description="Until the answer's status, or the error")  # noqa: N815
    responseStatus: int | None = Field(  # noqa: N815
        description="The receiver's HTTP status; null when none came (see error)"
    )
    error: str | None = Field(
        description="Why it failed without a status (timeout, refused address, ...), or why "
        "the status counts as a failure",
        examples=["timed out after 10 s"],
    )


class Delivery(BaseModel):
    """One event to one subscription, tried until the receiver answers 2xx or the retry
    schedule (more than 24 hours) runs out."""

    id: UUID
    eventId: UUID = Field(  # noqa: N815
        description="The event (GET /v1/events); also the `webhook-id` header of every attempt"
    )
    eventType: str = Field(examples=["charge-session.updated"])  # noqa: N815
    eventSequence: int = Field(  # noqa: N815
        description="The event's sequence number in the tenant's events"
    )
    status: DeliveryStatus = Field(
        description="pending (to be tried, or retried), delivered, failed (the retries ran "
        "out) or cancelled (the subscription was disabled or deleted)"
    )
    attempts: int = Field(description="How many times it was tried")
    created: Instant
    nextAttempt: Instant | None = Field(  # noqa: N815
        description="When it is tried next; null unless pending"
    )
    lastAttempt: Instant | None  # noqa: N815
    lastResponseStatus: int | None  # noqa: N815
    lastError: str | None  # noqa: N815
    delivered: Instant | None = Field(description="When the receiver accepted it")
    attemptHistory: list[DeliveryAttempt] = Field(  # noqa: N815
        description="Every attempt, first first"
    )


class DeliveryPage(PageOf[Delivery]):
    """A page of deliveries, newest first"""


# ---- rows to response dicts ------------------------------------------------------------


def _instant(instant_ms: int | None) -> str | None:
    return None if instant_ms is None else format_instant(instant_ms)


def webhook_resource(row: sa.Row[Any], *, now_ms: int) -> dict[str, Any]:
    previous_expires_ms = row.previous_secret_expires_ms
    if row.previous_secret is None or (previous_expires_ms or 0) <= now_ms:
        previous_expires_ms = None
    return {
        "id": str(row.id),
        "url": row.url,
        "description": row.description,
        "eventTypes": orjson.Fragment(row.event_types_json),
        "enabled": row.enabled,
        "disabled": _instant(row.disabled_ms),
        "disabledReason": row.disabled_reason,
        "failingSince": _instant(row.failing_since_ms),
        "previousSecretExpires": _instant(previous_expires_ms),
        "created": format_instant(row.created_ms),
        "updated": format_instant(row.updated_ms),
    }


def created_webhook_resource(row: sa.Row[Any], *, now_ms: int) -> dict[str, Any]:
    return {**webhook_resource(row, now_ms=now_ms), "secret": row.secret}


def attempt_resource(row: sa.Row[Any]) -> dict[str, Any]:
    return {
        "attempt": row.attempt,
        "started": format_instant(row.started_ms),
        "durationMs": row.duration_ms,
        "responseStatus": row.response_status,
        "error": row.error,
    }


def delivery_resource(row: sa.Row[Any], attempts: Sequence[sa.Row[Any]]) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "eventId": str(row.event_id),
        "eventType": row.event_type,
        "eventSequence": row.event_sequence,
        "status": row.status,
        "attempts": row.attempts,
        "created": format_instant(row.created_ms),
        "nextAttempt": _instant(row.next_attempt_ms) if row.status == "pending" else None,
        "lastAttempt": _instant(row.last_attempt_ms),
        "lastResponseStatus": row.last_response_status,
        "lastError": row.last_error,
        "delivered": _instant(row.delivered_ms),
        "attemptHistory": [attempt_resource(attempt) for attempt in attempts],
    }
