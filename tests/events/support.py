"""Events recorded straight through events/recording.py, in real committed transactions, for
tests that read them back through the API."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx

from chargeledger.domain.instants import format_instant
from chargeledger.events.recording import record_event
from chargeledger.storage.database import Database

OCCURRED_MS = 1_733_220_000_000  # 2024-12-03T10:00:00Z


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """A charge-session.* event as the one writer records it."""

    type: str
    entity_id: UUID
    session_id: UUID
    version: int
    occurred_ms: int = OCCURRED_MS

    def data(self) -> dict[str, Any]:
        change = self.type.removeprefix("charge-session.")
        return {
            "entityId": str(self.entity_id),
            "sessionId": str(self.session_id),
            "version": self.version,
            "change": change,
            "reason": "posted",
            "source": "external",
            "record": {"id": str(self.session_id), "entityId": str(self.entity_id)},
            "replacedBy": [] if change == "removed" else None,
        }


def created(entity_id: UUID, session_id: UUID | None = None) -> SessionEvent:
    return SessionEvent("charge-session.created", entity_id, session_id or uuid4(), 1)


async def record(
    database: Database, tenant_id: UUID, events: Sequence[SessionEvent]
) -> list[dict[str, Any]]:
    """Commit `events` in one transaction; returns each as GET /v1/events should list it,
    without its sequence (which the commit hands out)."""
    listed = []
    async with database.write() as connection:
        for event in events:
            event_id = record_event(
                connection,
                tenant_id=tenant_id,
                type=event.type,
                entity_id=event.entity_id,
                subject_id=event.session_id,
                version=event.version,
                occurred_ms=event.occurred_ms,
                data=event.data(),
            )
            listed.append(
                {
                    "id": str(event_id),
                    "type": event.type,
                    "timestamp": format_instant(event.occurred_ms),
                    "data": event.data(),
                }
            )
    return listed


def without_sequences(items: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in item.items() if key != "sequence"} for item in items]


async def page(http: httpx.AsyncClient, url: str = "/v1/events", **params: Any) -> dict[str, Any]:
    """One page of GET /v1/events (or of a links.next URL), which must answer 200."""
    response = await http.get(url, params=params or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
