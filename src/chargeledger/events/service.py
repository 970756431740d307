"""The events feed: a tenant's events in commit order, resumable from any page.

Unlike a time frame of sessions, the feed has no last page: events keep coming. Every page,
an empty one too, carries a token that resumes right after the last event it served (or where
it started, when it served none), so a client keeps the token of its last call and, whenever
it likes, pulls what happened since. Sequences are handed out in commit order
(events/recording.py), so resuming after sequence N never skips an event committed later.
"""

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.cursor import CursorKind, PageCursor, encode_cursor
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import InvalidContinuationTokenError, InvalidInputError
from chargeledger.events import repository
from chargeledger.events.types import EVENT_TYPES
from chargeledger.kit.paging import unframed_position


@dataclass(frozen=True, slots=True)
class EventFilter:
    types: tuple[str, ...]  # sorted, without repeats; () = every type
    entity_id: UUID | None

    def digest(self) -> UUID:
        """What a continuation token carries of the filter: a token is refused with another
        one, which would otherwise resume a different list at this list's position."""
        text = f"{','.join(self.types)}|{self.entity_id or ''}"
        return UUID(bytes=hashlib.sha256(text.encode()).digest()[:16])


@dataclass(frozen=True, slots=True)
class EventPage:
    rows: Sequence[Any]  # (sequence, payload_json)
    page_size: int
    filter: EventFilter
    # Never None: resumes after the last event served, or where this page started if empty.
    continuation_token: str
    has_more: bool  # more events were already there: ask again right away


def event_filter(type_values: Iterable[str] | None, entity_id: UUID | None) -> EventFilter:
    """The filter from the query: `type` repeated, comma-separated, or both."""
    wanted = {part.strip() for value in type_values or () for part in value.split(",")}
    unknown = sorted(wanted - set(EVENT_TYPES))
    if unknown:
        detail = (
            f"unknown event type {', '.join(_quoted(name) for name in unknown)}; the known "
            f"types are {', '.join(EVENT_TYPES)}"
        )
        raise InvalidInputError(detail, errors=[{"name": "type", "in": "query", "detail": detail}])
    return EventFilter(types=tuple(sorted(wanted)), entity_id=entity_id)


def _quoted(name: str) -> str:
    # Cut: the detail repeats what the client sent, which may be long.
    return repr(name if len(name) <= 64 else name[:61] + "...")


async def list_events(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    filter: EventFilter,
    page_size: int,
    continuation_token: str | None,
    after: int | None,
    cursor_key: TokenKeys,
) -> EventPage:
    """One page of the tenant's events: from the start, after the token's position, or after
    the sequence `after`.

    `after` is the way back in for a client whose token is refused because the key that
    signed it retired (README, "Keys"): it resumes after the last sequence it processed.
    An entity id of no entity of the tenant lists nothing, as does one whose events are yet
    to come: the filter narrows the tenant's feed, it does not look the entity up.
    """
    digest = filter.digest()
    if after is not None and continuation_token is not None:
        detail = "pass either continuationToken or after, not both"
        raise InvalidInputError(detail, errors=[{"name": "after", "in": "query", "detail": detail}])
    after_sequence = after or 0
    position = unframed_position(
        continuation_token, key=cursor_key, kind=CursorKind.EVENTS, scope_id=tenant_id
    )
    if position is not None:
        after_sequence, token_digest = position
        if token_digest != digest:
            raise InvalidContinuationTokenError(
                "continuationToken was issued for other filters: pass the same type and "
                "entityId as for the first page, or follow links.next"
            )
    rows = await repository.list_page(
        connection,
        tenant_id=tenant_id,
        types=filter.types,
        entity_id=filter.entity_id,
        after_sequence=after_sequence,
        limit=page_size + 1,
    )
    served = rows[:page_size]
    last_sequence = served[-1].sequence if served else after_sequence
    token = encode_cursor(
        PageCursor(
            kind=CursorKind.EVENTS,
            scope_id=tenant_id,
            frame_start_ms=0,
            frame_end_ms=0,
            after_sort_ms=last_sequence,
            after_id=digest,
        ),
        cursor_key,
    )
    return EventPage(
        rows=served,
        page_size=page_size,
        filter=filter,
        continuation_token=token,
        has_more=len(rows) > page_size,
    )
