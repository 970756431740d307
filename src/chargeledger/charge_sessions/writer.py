"""The one writer of charge sessions.

Every change to a stored session, whatever its source (a posted or imported record, the
detector, an OCPP transaction, a re-split after a calendar changed, a re-match after a
location changed, `redetect`), ends here. The writer builds the complete record in memory,
compares it with what is stored, and only when it differs writes, in the caller's transaction:
the session row (its record JSON included), a new version (the record, why, which source,
when) and an event. Nothing is read back after writing.

A session is never changed from a state it did not compare with: the update is conditional
on the version the caller read, and a mismatch raises SessionChangedError (the transaction is
then rolled back by the caller's boundary, and the client may retry).
"""

import uuid
from dataclasses import dataclass
from typing import Any, Literal
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.domain.record_json import charge_record
from chargeledger.domain.session_columns import DerivedSession
from chargeledger.errors import ConflictError
from chargeledger.events.recording import record_event
from chargeledger.events.types import (
    CHARGE_SESSION_CREATED,
    CHARGE_SESSION_REMOVED,
    CHARGE_SESSION_UPDATED,
)

# Why a session changed, as its versions and events say.
Reason = Literal[
    "posted",  # POST .../charge-sessions
    "imported",  # chargeledger import
    "detected",  # found in readings as they arrived
    "redetected",  # chargeledger redetect, or the detector run again over a changed span
    "ocpp",  # an OCPP transaction finished or changed
    "evidence",  # the charger's meter key changed: signed values assessed again
    "resplit",  # a tariff calendar changed
    "rematched",  # the entity's locations changed
    "belowMinimumEnergy",  # an OCPP transaction turned out to have charged nothing
    "batteryCapacity",  # the battery's capacity was set: SoC-measured energy measured again
]

Change = Literal["created", "updated", "removed"]

SESSION_EVENT_TYPES: dict[Change, str] = {
    "created": CHARGE_SESSION_CREATED,
    "updated": CHARGE_SESSION_UPDATED,
    "removed": CHARGE_SESSION_REMOVED,
}


class SessionChangedError(ConflictError):
    """The session changed between being read and being written (a concurrent writer)."""


@dataclass(frozen=True, slots=True)
class WrittenSession:
    id: UUID
    version: int
    # None: the derived session equals the stored one and nothing was written.
    change: Change | None
    record_json: str


def is_unchanged(stored: sa.Row[Any], derived: DerivedSession) -> bool:
    """Equal in every column the content and its derivation determine (identity, instants
    and the version are not content)."""
    return all(getattr(stored, column) == value for column, value in derived.columns.items())


async def write_session(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    stored: sa.Row[Any] | None,
    derived: DerivedSession,
    reason: Reason,
    now_ms: int,
    external_id: str | None = None,
    session_id: UUID | None = None,
) -> WrittenSession:
    """Create the session (`stored` None) or bring the stored one to `derived`.

    A new session with an external id another transaction stored meanwhile raises
    SessionChangedError too: the caller reads it and compares again.
    """
    if stored is not None:
        if is_unchanged(stored, derived):
            return WrittenSession(
                id=stored.id, version=stored.version, change=None, record_json=stored.record_json
            )
        return await _update(connection, tenant_id, stored, derived, reason, now_ms)
    new_id = uuid.uuid4() if session_id is None else session_id
    row = {
        **derived.columns,
        "entity_id": entity_id,
        "id": new_id,
        "external_id": external_id,
        "created_ms": now_ms,
        "updated_ms": now_ms,
        "version": 1,
    }
    record = charge_record(row)
    row["record_json"] = record_json = orjson.dumps(record).decode()
    if not await sessions_repository.insert_row(connection, values=row):
        raise SessionChangedError(
            f"a session with externalId {external_id!r} was stored at the same time; retry"
        )
    await _version_and_event(
        connection,
        tenant_id=tenant_id,
        entity_id=entity_id,
        session_id=new_id,
        version=1,
        change="created",
        reason=reason,
        source=derived.columns["source"],
        record=record,
        record_json=record_json,
        replaced_by=None,
        now_ms=now_ms,
    )
    return WrittenSession(id=new_id, version=1, change="created", record_json=record_json)


async def _update(
    connection: AsyncConnection,
    tenant_id: UUID,
    stored: sa.Row[Any],
    derived: DerivedSession,
    reason: Reason,
    now_ms: int,
) -> WrittenSession:
    version = stored.version + 1
    values = {**derived.columns, "updated_ms": now_ms, "version": version}
    record = charge_record(
        {**values, "entity_id": stored.entity_id, "id": stored.id, "created_ms": stored.created_ms}
    )
    values["record_json"] = record_json = orjson.dumps(record).decode()
    if not await sessions_repository.update_row(
        connection,
        entity_id=stored.entity_id,
        session_id=stored.id,
        expected_version=stored.version,
        values=values,
    ):
        raise SessionChangedError(
            f"charge session {stored.id} was changed by another request at the same time; retry"
        )
    await _version_and_event(
        connection,
        tenant_id=tenant_id,
        entity_id=stored.entity_id,
        session_id=stored.id,
        version=version,
        change="updated",
        reason=reason,
        source=derived.columns["source"],
        record=record,
        record_json=record_json,
        replaced_by=None,
        now_ms=now_ms,
    )
    return WrittenSession(id=stored.id, version=version, change="updated", record_json=record_json)


async def remove_session(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    stored: sa.Row[Any],
    reason: Reason,
    replaced_by: list[UUID],
    now_ms: int,
) -> None:
    """Take a session out of the ledger (the data no longer supports it). Its history stays:
    the last version says it was removed, why, and which sessions took its place."""
    if not await sessions_repository.delete_row(
        connection,
        entity_id=stored.entity_id,
        session_id=stored.id,
        expected_version=stored.version,
    ):
        raise SessionChangedError(
            f"charge session {stored.id} was changed by another request at the same time; retry"
        )
    await _version_and_event(
        connection,
        tenant_id=tenant_id,
        entity_id=stored.entity_id,
        session_id=stored.id,
        version=stored.version + 1,
        change="removed",
        reason=reason,
        source=stored.source,
        # The record as it was last served: spliced in, not parsed and serialized again.
        record=orjson.Fragment(stored.record_json),
        record_json=stored.record_json,
        replaced_by=replaced_by,
        now_ms=now_ms,
    )


async def _version_and_event(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    entity_id: UUID,
    session_id: UUID,
    version: int,
    change: Change,
    reason: Reason,
    source: str,
    record: Any,
    record_json: str,
    replaced_by: list[UUID] | None,
    now_ms: int,
) -> None:
    replaced = None if replaced_by is None else [str(other) for other in replaced_by]
    await sessions_repository.insert_version(
        connection,
        values={
            "entity_id": entity_id,
            "session_id": session_id,
            "version": version,
            "recorded_ms": now_ms,
            "change": change,
            "reason": reason,
            "source": source,
            "record_json": record_json,
            "replaced_by_json": None if replaced is None else orjson.dumps(replaced).decode(),
        },
    )
    record_event(
        connection,
        tenant_id=tenant_id,
        type=SESSION_EVENT_TYPES[change],
        entity_id=entity_id,
        subject_id=session_id,
        version=version,
        occurred_ms=now_ms,
        data={
            "entityId": str(entity_id),
            "sessionId": str(session_id),
            "version": version,
            "change": change,
            "reason": reason,
            "source": source,
            "record": record,
            "replacedBy": replaced,
        },
    )
