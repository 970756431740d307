"""Keeping an entity's detected sessions in step with its readings.

After readings arrive (in order or not, on time or days late), the sessions around them are
detected again from the stored readings and replace what was stored for that stretch of time.
Only that stretch is read: it is widened until no stored session and no ongoing session is cut
by its edges, plus a margin of the longest gap the detector bridges. A session that is found
again keeps its id and `created`, so clients that stored it see a correction, not a new session.

Everything happens in the caller's transaction with the entity locked, so the readings and
the sessions derived from them are committed together: a crash leaves either both or neither.
"""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import Reason, remove_session, write_session
from chargeledger.domain.physical_ranges import MAX_SESSION_DURATION_MS
from chargeledger.domain.session_columns import SessionContent, derive_session
from chargeledger.domain.session_detection import (
    DetectedSession,
    DetectorConfig,
    Reading,
    charging_across,
    detect_sessions,
)
from chargeledger.entities.service import CHARGING_TYPES
from chargeledger.locations.matching import entity_geofences
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.readings import detector_state_repository as state_repository
from chargeledger.readings import repository as readings_repository
from chargeledger.tariffs.service import load_calendar_book, with_capacity


async def detects_sessions(connection: AsyncConnection, entity: sa.Row[Any]) -> bool:
    """Whether the entity's readings make sessions: an EV or ChargePoint capturing sessions,
    and not an OCPP charge point, whose sessions are its transactions."""
    if entity.type not in CHARGING_TYPES or not entity.capture_charge_sessions:
        return False
    return await ocpp_repository.station_by_entity(connection, entity_id=entity.id) is None


async def redetect(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    from_ms: int,
    to_ms: int,
    now_ms: int,
    config: DetectorConfig,
    reason: Reason = "detected",
) -> None:
    """Detect the entity's sessions around [from, to] again and store the result.

    The caller holds the entity's row lock (services take it with lock="update").
    """
    margin = config.context_ms
    state = await state_repository.get(connection, entity_id=entity.id)
    latest_ms = await readings_repository.latest_timestamp(connection, entity_id=entity.id)
    window_start, window_end = from_ms, to_ms
    if state is not None and state.open_since_ms is not None:
        # An ongoing session runs from where it opened up to the newest reading.
        window_start = min(window_start, state.open_since_ms)
        window_end = max(window_end, latest_ms if latest_ms is not None else to_ms)
    while True:
        while True:
            stored = await sessions_repository.detected_overlapping(
                connection,
                entity_id=entity.id,
                from_ms=window_start - margin,
                to_ms=window_end + margin,
            )
            widened_start = min([window_start, *(session.start_ms for session in stored)])
            widened_end = max([window_end, *(session.end_ms for session in stored)])
            if (widened_start, widened_end) == (window_start, window_end):
                break
            window_start, window_end = widened_start, widened_end
        window, reached_newest = await _readings_around(
            connection,
            entity_id=entity.id,
            from_ms=window_start - margin,
            to_ms=window_end + margin,
            latest_ms=latest_ms,
            config=config,
        )
        # The readings reach past the margin (to the reading before it, and on while a charge
        # runs across an end): the sessions stored there are replaced too, so they must be
        # in hand, and whole.
        span_start, span_end = window_start - margin, window_end + margin
        if window:
            span_start = min(span_start, window[0].timestamp_ms)
            span_end = max(span_end, window[-1].timestamp_ms)
        stored = await sessions_repository.detected_overlapping(
            connection, entity_id=entity.id, from_ms=span_start, to_ms=span_end
        )
        if all(span_start <= s.start_ms and s.end_ms <= span_end for s in stored):
            break
        window_start = min([window_start, *(session.start_ms for session in stored)])
        window_end = max([window_end, *(session.end_ms for session in stored)])

    detected = detect_sessions(
        window,
        with_capacity(config, entity.battery_capacity_kwh),
        # A window that stops short of the newest reading cannot tell that a vehicle went
        # silent: a charge running past its end is ongoing here, not complete.
        now_ms=now_ms if reached_newest or not window else window[-1].timestamp_ms,
    )
    complete = [session for session in detected if session.complete]
    ongoing = [session for session in detected if not session.complete]
    # A listed session that charging has resumed within the pause limit stays as it is while
    # the charge goes on, and is extended (same id) once it ends: it never vanishes meanwhile.
    held = [s for s in stored if any(_overlap_ms(s, run) >= 0 for run in ongoing)]
    await _replace(
        connection,
        entity=entity,
        stored=[s for s in stored if s not in held],
        detected=complete,
        now_ms=now_ms,
        reason=reason,
    )

    open_since = None if state is None else state.open_since_ms
    if reached_newest:
        # Only a window that reaches the newest reading can tell whether charging goes on.
        open_since = ongoing[-1].start_ms if ongoing else None
    await state_repository.save(
        connection,
        entity_id=entity.id,
        open_since_ms=open_since,
        last_reading_ms=latest_ms,
        now_ms=now_ms,
    )


# How far back or ahead a window is extended, at most, to find where a charge it cuts began
# or ended (a session lasts 31 days at most).
_MAX_EXTENSION_MS = MAX_SESSION_DURATION_MS


async def _readings_around(
    connection: AsyncConnection,
    *,
    entity_id: Any,
    from_ms: int,
    to_ms: int,
    latest_ms: int | None,
    config: DetectorConfig,
) -> tuple[list[Reading], bool]:
    """The readings in [from, to] plus one more on each side (an edge interval, a car asleep
    before a scheduled start or an outage, can be longer than any margin), extended further
    while a charge runs across either end; and whether they reach the newest reading."""
    read_from = await readings_repository.timestamp_before(
        connection, entity_id=entity_id, before_ms=from_ms
    )
    read_to = await readings_repository.timestamp_after(
        connection, entity_id=entity_id, after_ms=to_ms
    )
    first_ms = from_ms if read_from is None else read_from
    last_ms = to_ms if read_to is None else read_to
    while True:
        window = await readings_repository.domain_readings_between(
            connection, entity_id=entity_id, from_ms=first_ms, to_ms=last_ms
        )
        extend_back = (
            read_from is not None
            and len(window) >= 2
            and charging_across(window[0], window[1], config)
            and from_ms - first_ms < _MAX_EXTENSION_MS
        )
        extend_ahead = (
            read_to is not None
            and len(window) >= 2
            and charging_across(window[-2], window[-1], config)
            and last_ms - to_ms < _MAX_EXTENSION_MS
        )
        if not (extend_back or extend_ahead):
            break
        if extend_back:
            read_from = await readings_repository.timestamp_before(
                connection, entity_id=entity_id, before_ms=first_ms - config.context_ms
            )
            first_ms = first_ms - config.context_ms if read_from is None else read_from
        if extend_ahead:
            read_to = await readings_repository.timestamp_after(
                connection, entity_id=entity_id, after_ms=last_ms + config.context_ms
            )
            last_ms = last_ms + config.context_ms if read_to is None else read_to
    reached_newest = latest_ms is None or last_ms >= latest_ms
    return window, reached_newest


def _overlap_ms(stored: sa.Row[Any], detected: DetectedSession) -> int:
    return int(min(stored.end_ms, detected.end_ms) - max(stored.start_ms, detected.start_ms))


async def _replace(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    stored: Sequence[sa.Row[Any]],
    detected: Sequence[DetectedSession],
    now_ms: int,
    reason: Reason,
) -> None:
    geofences = await entity_geofences(connection, entity_id=entity.id)
    book = await load_calendar_book(connection, entity_id=entity.id)
    unclaimed = {session.id: session for session in stored}
    written: list[tuple[int, int, UUID]] = []
    for session in detected:
        overlapping = [s for s in unclaimed.values() if _overlap_ms(s, session) >= 0]
        previous = max(overlapping, key=lambda s: _overlap_ms(s, session)) if overlapping else None
        if previous is not None:
            del unclaimed[previous.id]
        result = await write_session(
            connection,
            tenant_id=entity.tenant_id,
            entity_id=entity.id,
            stored=previous,
            derived=derive_session(detected_content(session), geofences=geofences, book=book),
            reason=reason,
            now_ms=now_ms,
        )
        written.append((session.start_ms, session.end_ms, result.id))
    # Stored sessions the readings no longer support (late data joined or dissolved them):
    # removed, each naming the sessions now covering its time.
    for orphan in unclaimed.values():
        await remove_session(
            connection,
            tenant_id=entity.tenant_id,
            stored=orphan,
            reason=reason,
            replaced_by=[
                session_id
                for start_ms, end_ms, session_id in written
                if min(end_ms, orphan.end_ms) - max(start_ms, orphan.start_ms) >= 0
            ],
            now_ms=now_ms,
        )


def detected_content(
    session: DetectedSession,
    *,
    source: str = "readings",
    method: str | None = None,
    id_tag: str | None = None,
) -> SessionContent:
    """What the detector (or an OCPP transaction, measured the same way) knows of a session."""
    return SessionContent(
        start_ms=session.start_ms,
        end_ms=session.end_ms,
        energy_kwh=session.energy_kwh,
        tiers=None,
        tiers_given=False,
        profile=session.profile,
        soc_start_pct=session.soc_start_pct,
        soc_end_pct=session.soc_end_pct,
        range_start_km=session.range_start_km,
        range_end_km=session.range_end_km,
        position=session.position,
        address=None,
        source=source,
        method=session.method.value if method is None else method,
        energy_method=None if session.energy_method is None else session.energy_method.value,
        energy_uncertainty_kwh=session.energy_uncertainty_kwh,
        id_tag=id_tag,
    )
