"""Recording sessions measured elsewhere, and reading sessions back page by page."""

from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth.service import Principal, entity_of_principal
from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import Reason, SessionChangedError, write_session
from chargeledger.domain.charge_record import ChargeRecord, RecordProblem, check_record
from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.session_columns import SessionContent, derive_session
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.domain.tariffs import CalendarBook
from chargeledger.entities.service import get_charging_entity, require_charging
from chargeledger.errors import (
    CaptureDisabledError,
    ChargeLedgerError,
    InvalidInputError,
    NotFoundError,
)
from chargeledger.kit.paging import Frame, Page, make_page, resume_after
from chargeledger.locations.matching import entity_geofences
from chargeledger.tariffs.service import load_calendar_book

# Clocks disagree; a session may end a little after our "now" without being in the future.
CLOCK_SKEW_TOLERANCE_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class RecordedSession:
    id: UUID
    record_json: str
    created: bool  # False when the external id was already known (a repeat or a correction)


# The first try inserts; a stored external id makes it read and compare, and a concurrent
# request correcting the same session makes that comparison stale: tried again, this often.
_ATTEMPTS = 4
_NO_CALENDARS = CalendarBook(entity_versions=[])


def record_content(record: ChargeRecord) -> SessionContent:
    """What a posted or imported record says of its session."""
    energy = record.energy
    return SessionContent(
        start_ms=record.start_ms,
        end_ms=record.end_ms,
        energy_kwh=None if energy is None else energy.total,
        tiers=energy if record.tiers_given else None,
        tiers_given=record.tiers_given,
        profile=None,  # only the total is known: spread evenly for the split
        soc_start_pct=record.soc_start_pct,
        soc_end_pct=record.soc_end_pct,
        range_start_km=record.range_start_km,
        range_end_km=record.range_end_km,
        position=record.position,
        address=record.address,
        source="external",
        method="external",
        energy_method=None,
        energy_uncertainty_kwh=None,
    )


async def record_external_session(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    external_id: str,
    record: ChargeRecord,
    claimed_average_power_kw: float | None,
    now_ms: int,
    reason: Reason = "posted",
) -> RecordedSession:
    """Store a session measured elsewhere, idempotently by its external id.

    The same external id again returns the stored session unchanged; different content under
    it is a correction: a new version of the session (id and created stay).
    """
    entity = await get_charging_entity(
        connection, tenant_id=tenant_id, entity_id=entity_id, lock="share"
    )
    if not entity.capture_charge_sessions:
        raise CaptureDisabledError(
            f"the CaptureChargeSessions feature is disabled for entity {entity_id}, so no "
            "sessions are recorded for it; enable it with PATCH /v1/entities/{entityId}/features"
        )
    problems = check_record(record, claimed_average_power_kw)
    if record.end_ms > now_ms + CLOCK_SKEW_TOLERANCE_MS:
        problems.append(
            RecordProblem("end", "end is in the future: only completed sessions are recorded")
        )
    if problems:
        raise InvalidInputError(
            "; ".join(f"{p.field}: {p.detail}" for p in problems),
            errors=[{"name": p.field, "in": "body", "detail": p.detail} for p in problems],
        )
    geofences = (
        [] if record.position is None else await entity_geofences(connection, entity_id=entity_id)
    )
    # The calendars are read only when there is a total to split.
    book = (
        await load_calendar_book(connection, entity_id=entity_id)
        if record.energy is not None and not record.tiers_given
        else _NO_CALENDARS
    )
    derived = derive_session(record_content(record), geofences=geofences, book=book)
    # Most posts are new sessions: the insert is tried first (it does nothing when the
    # external id is stored), and only then is the stored session read, locked and compared.
    stored = None
    for attempt in range(_ATTEMPTS):
        if attempt > 0:
            stored = await sessions_repository.find_by_external_id(
                connection, entity_id=entity_id, external_id=external_id, for_update=True
            )
        try:
            written = await write_session(
                connection,
                tenant_id=tenant_id,
                entity_id=entity_id,
                stored=stored,
                derived=derived,
                reason=reason,
                now_ms=now_ms,
                external_id=external_id,
            )
        except SessionChangedError:
            if attempt == _ATTEMPTS - 1:
                raise
            continue
        return RecordedSession(
            id=written.id, record_json=written.record_json, created=stored is None
        )
    raise AssertionError("unreachable")


async def get_session(
    connection: AsyncConnection, *, entity: sa.Row[Any], session_id: UUID
) -> sa.Row[Any]:
    """One session of an entity the caller was checked to see (entity_of_principal)."""
    entity_id = require_charging(entity).id
    row = await sessions_repository.get_session(
        connection, entity_id=entity_id, session_id=session_id
    )
    if row is None:
        raise NotFoundError(f"charge session {session_id} was not found")
    return row


async def list_sessions(
    connection: AsyncConnection,
    *,
    principal: Principal,
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int | None,
    page_size: int,
    continuation_token: str | None,
    cursor_key: TokenKeys,
    now_ms: int,
) -> Page[sa.Row[Any]]:
    """One page of the entity's completed sessions with frame start <= session start < end.

    A page with sessions takes one round trip: the query itself checks the client and the
    entity. Only an empty page takes a second look, to tell an empty frame from an entity
    that is missing, another tenant's (404) or a revoked client (401).
    """
    try:
        frame, after = _frame_and_position(
            entity_id, frame_start_ms, frame_end_ms, continuation_token, cursor_key, now_ms
        )
    except ChargeLedgerError:
        # A missing or foreign entity is answered as such before any token or frame problem.
        require_charging(
            await entity_of_principal(connection, principal=principal, entity_id=entity_id)
        )
        raise
    rows = await sessions_repository.list_page(
        connection,
        client_id=principal.client_id,
        tenant_id=principal.tenant_id,
        entity_id=entity_id,
        frame_start_ms=frame.start_ms,
        frame_end_ms=frame.end_ms,
        after=after,
        limit=page_size + 1,
    )
    if not rows:
        require_charging(
            await entity_of_principal(connection, principal=principal, entity_id=entity_id)
        )
    return make_page(
        rows,
        page_size=page_size,
        frame=frame,
        key=cursor_key,
        kind=CursorKind.CHARGE_SESSIONS,
        scope_id=entity_id,
        sort_key=lambda row: (row.start_ms, row.id),
    )


def _frame_and_position(
    entity_id: UUID,
    frame_start_ms: int,
    frame_end_ms: int | None,
    continuation_token: str | None,
    cursor_key: TokenKeys,
    now_ms: int,
) -> tuple[Frame, tuple[int, UUID] | None]:
    if continuation_token is None:
        # Without an end the frame ends now (an empty frame if start is still to come).
        end_ms = max(now_ms, frame_start_ms) if frame_end_ms is None else frame_end_ms
        frame, after = Frame(frame_start_ms, end_ms), None
    else:
        frame, after = resume_after(
            continuation_token,
            key=cursor_key,
            kind=CursorKind.CHARGE_SESSIONS,
            scope_id=entity_id,
            frame_start_ms=frame_start_ms,
            frame_end_ms=frame_end_ms,
        )
    if frame.end_ms < frame.start_ms:
        raise InvalidInputError(
            "end must not be before start",
            errors=[{"name": "end", "in": "query", "detail": "end must not be before start"}],
        )
    return frame, after
