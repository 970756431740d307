"""Charge points over OCPP: credentials, what their messages record, and the charge sessions
their transactions become.

Message handlers call the `record_*` functions, which store and return at once (each in its
own short transaction, with the charge point's entity locked so its messages apply in order).
Turning a finished transaction into a session is separate (`compute_transaction_session`),
run after the charger has its answer, and again by a periodic sweep (ocpp/sweep.py)
for any transaction whose session is still owed (`needs_session`), so a crash between the
two loses nothing.
"""

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.charge_sessions import repository as sessions_repository
from chargeledger.charge_sessions.writer import Reason, remove_session, write_session
from chargeledger.domain.location_matching import Position
from chargeledger.domain.meter_evidence import EvidenceAssessment, assess
from chargeledger.domain.meter_values import (
    Sample,
    SignedMeterValue,
    register_kwh,
    transaction_readings,
    within_ranges,
)
from chargeledger.domain.ocmf import load_public_key
from chargeledger.domain.session_columns import derive_session
from chargeledger.domain.session_detection import (
    DetectedSession,
    DetectionMethod,
    DetectorConfig,
    Reading,
    measure_energy,
)
from chargeledger.entities import repository as entities_repository
from chargeledger.locations import repository as locations_repository
from chargeledger.locations.matching import entity_geofences
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.readings import repository as readings_repository
from chargeledger.readings.detection import detected_content
from chargeledger.storage.database import Database
from chargeledger.tariffs.service import load_calendar_book

MIN_SESSION_ENERGY_KWH = 0.05  # as for sessions from readings: less is noise
# Transaction statuses after which its session can be made (closed by the charger or by us).
FINISHED_STATUSES = ("stopped", "timed-out")


@dataclass(frozen=True, slots=True)
class Station:
    identity: str
    entity_id: UUID
    tenant_id: UUID
    # Deviations tolerated for this charger (its OCPP settings), as when it connected.
    zoneless_timestamps_as_utc: bool = False
    numbers_as_strings: bool = False


# --- connections (credentials: ocpp/credentials.py) ----------------------------


async def record_connection(
    database: Database, station: Station, *, protocol: str | None, now_ms: int, **boot: Any
) -> None:
    """Remember when the station was last heard, and what it says it is when it boots."""
    async with database.write() as connection:
        values: dict[str, Any] = {"last_seen_ms": now_ms}
        if protocol is not None:
            values["protocol"] = protocol
        if boot:
            values.update({key: value for key, value in boot.items() if key in _BOOT_FIELDS})
            values["last_boot_ms"] = now_ms
        await ocpp_repository.update_station(connection, entity_id=station.entity_id, **values)


_BOOT_FIELDS = ("vendor", "model", "serial_number", "firmware_version")


# --- transactions and meter values ------------------------------------------------------


async def _lock_entity(connection: AsyncConnection, station: Station) -> sa.Row[Any]:
    entity = await entities_repository.get_entity_any_tenant(
        connection, entity_id=station.entity_id, lock="update"
    )
    assert entity is not None
    return entity


def readings_rows(station: Station, samples: list[Sample], now_ms: int) -> list[dict[str, Any]]:
    """The readings rows of a call's samples (the first per instant)."""
    rows = [
        {
            "entity_id": station.entity_id,
            "timestamp_ms": sample.timestamp_ms,
            "received_ms": now_ms,
            "energy_total_kwh": sample.energy_kwh,
            "power_kw": sample.power_kw,
            "soc_pct": sample.soc_pct,
        }
        for sample in samples
        if sample.energy_kwh is not None
        or sample.power_kw is not None
        or sample.soc_pct is not None
    ]
    return list({row["timestamp_ms"]: row for row in reversed(rows)}.values())


async def _store_readings(
    connection: AsyncConnection, station: Station, samples: list[Sample], now_ms: int
) -> None:
    """The sampled values also become the charge point's readings (first per instant wins)."""
    await readings_repository.insert_new(connection, readings_rows(station, samples, now_ms))


async def record_start_v16(
    database: Database,
    station: Station,
    *,
    connector_id: int | None,
    id_tag: str,
    timestamp_ms: int,
    meter_start_wh: float | None,
    now_ms: int,
) -> int:
    """A 1.6 StartTransaction: the transactionId we assign. The same start again (at-least-
    once delivery) gets the same transactionId and makes no second transaction."""
    async with database.write() as connection:
        await _lock_entity(connection, station)
        existing = await ocpp_repository.find_started_transaction(
            connection,
            entity_id=station.entity_id,
            connector_id=connector_id,
            id_tag=id_tag,
            start_ms=timestamp_ms,
            meter_start_wh=meter_start_wh,
        )
        if existing is not None:
            assert existing.number is not None
            return int(existing.number)
        number = await ocpp_repository.next_transaction_number(
            connection, entity_id=station.entity_id
        )
        await ocpp_repository.insert_transaction(
            connection,
            id=uuid.uuid4(),
            entity_id=station.entity_id,
            transaction_key=str(number),
            number=number,
            connector_id=connector_id,
            id_tag=id_tag,
            start_ms=timestamp_ms,
            meter_start_wh=meter_start_wh,
            status="open",
            last_message_ms=now_ms,
            needs_session=False,
            created_ms=now_ms,
        )
        return number


async def record_meter_values(
    database: Database,
    station: Station,
    *,
    transaction_key: str | None,
    samples: list[Sample],
    now_ms: int,
    signed: Sequence[SignedMeterValue] = (),
) -> UUID | None:
    """Meter values: readings of the charge point and, with a known transaction, samples of
    it. Late ones for a finished transaction return its id: its session must be redone."""
    async with database.write() as connection:
        await _lock_entity(connection, station)
        await _store_readings(connection, station, samples, now_ms)
        if transaction_key is None:
            return None
        transaction = await ocpp_repository.transaction_by_key(
            connection, entity_id=station.entity_id, transaction_key=transaction_key
        )
        if transaction is None:
            return None
        added = await ocpp_repository.add_samples(
            connection, transaction_id=transaction.id, samples=samples
        )
        await ocpp_repository.add_signed_values(
            connection, transaction_id=transaction.id, signed=signed, received_ms=now_ms
        )
        redo = (added > 0 or bool(signed)) and transaction.status != "open"
        await ocpp_repository.update_transaction(
            connection,
            transaction_id=transaction.id,
            last_message_ms=now_ms,
            needs_session=transaction.needs_session or redo,
        )
        return UUID(str(transaction.id)) if redo else None


async def record_stop_v16(
    database: Database,
    station: Station,
    *,
    transaction_number: int,
    timestamp_ms: int,
    meter_stop_wh: float | None,
    reason: str | None,
    samples: list[Sample],
    now_ms: int,
    signed: Sequence[SignedMeterValue] = (),
) -> UUID:
    """A 1.6 StopTransaction. For a transaction we never saw start (its StartTransaction was
    lost), the stop is still recorded, so it can be matched up or looked into later."""
    key = str(transaction_number)
    # Not under its number: that number is ours to hand out, and may be handed out later.
    unknown_key = _unknown_transaction_key(key)
    async with database.write() as connection:
        await _lock_entity(connection, station)
        await _store_readings(connection, station, samples, now_ms)
        transaction = await ocpp_repository.transaction_by_key(
            connection, entity_id=station.entity_id, transaction_key=key
        )
        if transaction is None:
            recorded = await ocpp_repository.transaction_by_key(
                connection, entity_id=station.entity_id, transaction_key=unknown_key
            )
            if recorded is not None:
                return UUID(str(recorded.id))  # a repeat of a stop already recorded
            transaction_id = uuid.uuid4()
            await ocpp_repository.insert_transaction(
                connection,
                id=transaction_id,
                entity_id=station.entity_id,
                transaction_key=unknown_key,
                number=None,  # not one we assigned
                connector_id=None,
                status="unknown-start",
                stop_ms=timestamp_ms,
                meter_stop_wh=meter_stop_wh,
                stop_reason=reason,
                last_message_ms=now_ms,
                needs_session=False,
                created_ms=now_ms,
            )
            await ocpp_repository.add_samples(
                connection, transaction_id=transaction_id, samples=samples
            )
            await ocpp_repository.add_signed_values(
                connection, transaction_id=transaction_id, signed=signed, received_ms=now_ms
            )
            return transaction_id
        await ocpp_repository.add_samples(
            connection, transaction_id=transaction.id, samples=samples
        )
        await ocpp_repository.add_signed_values(
            connection, transaction_id=transaction.id, signed=signed, received_ms=now_ms
        )
        await ocpp_repository.update_transaction(
            connection,
            transaction_id=transaction.id,
            stop_ms=timestamp_ms,
            meter_stop_wh=meter_stop_wh,
            stop_reason=reason,
            status="stopped",
            last_message_ms=now_ms,
            needs_session=True,
        )
        return UUID(str(transaction.id))


def _unknown_transaction_key(number_text: str) -> str:
    """The key of a stop for a transactionId we never handed out. JSON integers have no
    bounds; a key has at most 64 characters, so a longer number is keyed by its digest."""
    if len(number_text) > 40:
        number_text = "sha256:" + hashlib.sha256(number_text.encode()).hexdigest()[:40]
    return f"unknown:{number_text}"


# The seqNo stored for an event whose seqNo was out of range (recorded as ValueRejected):
# real ones count from 0, and the column holds no null.
SEQ_NO_REJECTED = -1


@dataclass(frozen=True, slots=True)
class TransactionEventV201:
    event_type: str  # Started, Updated, Ended
    transaction_key: str  # the station's own transactionId
    seq_no: int  # SEQ_NO_REJECTED when out of range
    timestamp_ms: int
    samples: list[Sample]
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    stopped_reason: str | None
    # What makes a repeat a repeat: a digest of the event's content (seqNo included), since
    # stations reuse seqNos.
    digest: str = ""
    signed: tuple[SignedMeterValue, ...] = ()


async def record_transaction_event_v201(
    database: Database, station: Station, event: TransactionEventV201, *, now_ms: int
) -> tuple[UUID, bool]:
    """A 2.0.1 TransactionEvent: (transaction id, whether its session must now be made). The
    same event sent again changes nothing. Events may come late and out of order (offline
    queues): Started fixes the start, Ended the stop, whatever order they arrive in. A
    transaction whose Started never comes starts at its earliest event or meter value."""
    async with database.write() as connection:
        await _lock_entity(connection, station)
        transaction = await ocpp_repository.transaction_by_key(
            connection, entity_id=station.entity_id, transaction_key=event.transaction_key
        )
        if transaction is None:
            transaction_id = uuid.uuid4()
            await ocpp_repository.insert_transaction(
                connection,
                id=transaction_id,
                entity_id=station.entity_id,
                transaction_key=event.transaction_key,
                number=None,
                connector_id=event.connector_id,
                evse_id=event.evse_id,
                id_tag=event.id_token,
                status="open",
                start_reported=False,
                last_message_ms=now_ms,
                needs_session=False,
                created_ms=now_ms,
            )
            if event.event_type != "Started":
                await ocpp_repository.add_charger_events(
                    connection,
                    [
                        (
                            station.entity_id,
                            "TransactionStartInferred",
                            {
                                "transactionId": event.transaction_key,
                                "firstEvent": event.event_type,
                                "seqNo": event.seq_no,
                                "detail": "the transaction's first event is not Started; it "
                                "starts at its earliest event or meter value until a Started "
                                "arrives",
                            },
                            now_ms,
                        )
                    ],
                )
            transaction = await ocpp_repository.transaction_by_id(
                connection, transaction_id=transaction_id
            )
            assert transaction is not None
        transaction_id = UUID(str(transaction.id))
        fresh = await ocpp_repository.record_event(
            connection,
            transaction_id=transaction_id,
            digest=event.digest,
            seq_no=event.seq_no,
            event_type=event.event_type,
            timestamp_ms=event.timestamp_ms,
            received_ms=now_ms,
        )
        if not fresh:
            return transaction_id, False
        if event.event_type != "Updated":
            await _note_reused_seq_no(connection, station, transaction_id, event, now_ms)
        await _store_readings(connection, station, event.samples, now_ms)
        await ocpp_repository.add_samples(
            connection, transaction_id=transaction_id, samples=event.samples
        )
        await ocpp_repository.add_signed_values(
            connection, transaction_id=transaction_id, signed=event.signed, received_ms=now_ms
        )
        changes: dict[str, Any] = {"last_message_ms": now_ms}
        energies = [s for s in event.samples if s.energy_kwh is not None]
        # The first Started and the first Ended stand: another one with other content (a
        # station's replay after a reboot) is kept as an event but moves neither end. An
        # Ended after we closed a silent transaction (timed-out) is the real end.
        if event.event_type == "Started" and not transaction.start_reported:
            changes.update(start_ms=event.timestamp_ms, start_reported=True)
            if energies:
                changes["meter_start_wh"] = energies[0].energy_kwh * 1000  # type: ignore[operator]
        elif not transaction.start_reported:
            # No Started yet: the earliest instant the transaction is known to run.
            earliest = min([event.timestamp_ms, *(s.timestamp_ms for s in event.samples)])
            if transaction.start_ms is None or earliest < transaction.start_ms:
                changes["start_ms"] = earliest
        if event.event_type == "Ended" and transaction.status != "stopped":
            changes.update(stop_ms=event.timestamp_ms, stop_reason=event.stopped_reason)
            changes["status"] = "stopped"
            if energies:
                changes["meter_stop_wh"] = energies[-1].energy_kwh * 1000  # type: ignore[operator]
        if event.id_token and not transaction.id_tag:
            changes["id_tag"] = event.id_token
        stopped = changes.get("status", transaction.status) in FINISHED_STATUSES
        changes["needs_session"] = stopped
        await ocpp_repository.update_transaction(
            connection, transaction_id=transaction_id, **changes
        )
        return transaction_id, stopped


async def _note_reused_seq_no(
    connection: AsyncConnection,
    station: Station,
    transaction_id: UUID,
    event: TransactionEventV201,
    now_ms: int,
) -> None:
    """A seqNo seen before with other content is recorded (a reboot restarted the count, or
    the station does not count): the event itself is still applied."""
    if event.seq_no != SEQ_NO_REJECTED and (
        await ocpp_repository.events_with_seq_no(
            connection, transaction_id=transaction_id, seq_no=event.seq_no
        )
        > 1
    ):
        await ocpp_repository.add_charger_events(
            connection,
            [
                (
                    station.entity_id,
                    "SeqNoReused",
                    {
                        "transactionId": event.transaction_key,
                        "seqNo": event.seq_no,
                        "eventType": event.event_type,
                        "detail": "another event of this transaction had the same seqNo; "
                        "both are kept",
                    },
                    now_ms,
                )
            ],
        )


# --- sessions ---------------------------------------------------------------------------


async def compute_transaction_session(
    database: Database, *, transaction_id: UUID, config: DetectorConfig, now_ms: int
) -> UUID | None:
    """Make (or bring up to date) the charge session of a finished transaction; the id of
    the session, or None when there is none (not finished, no energy, capture off)."""
    async with database.write() as connection:
        transaction = await ocpp_repository.transaction_by_id(
            connection, transaction_id=transaction_id
        )
        if transaction is None:
            return None
        entity = await entities_repository.get_entity_any_tenant(
            connection, entity_id=transaction.entity_id, lock="update"
        )
        assert entity is not None
        transaction = await ocpp_repository.transaction_by_id(
            connection, transaction_id=transaction_id
        )
        assert transaction is not None
        session_id = await _upsert_session(connection, entity, transaction, config, now_ms)
        await ocpp_repository.update_transaction(
            connection, transaction_id=transaction_id, needs_session=False, session_id=session_id
        )
        return session_id


async def reassess_evidence(
    connection: AsyncConnection, entity: sa.Row[Any], *, config: DetectorConfig, now_ms: int
) -> None:
    """Bring the sessions of transactions with signed values up to date (the meter's public
    key changed); the caller holds the entity lock."""
    for transaction_id in await ocpp_repository.transactions_with_signed_values(
        connection, entity_id=entity.id
    ):
        transaction = await ocpp_repository.transaction_by_id(
            connection, transaction_id=transaction_id
        )
        assert transaction is not None
        session_id = await _upsert_session(
            connection, entity, transaction, config, now_ms, reason="evidence"
        )
        await ocpp_repository.update_transaction(
            connection, transaction_id=transaction_id, needs_session=False, session_id=session_id
        )


async def rederive_transaction_session(
    connection: AsyncConnection,
    *,
    entity: sa.Row[Any],
    session: sa.Row[Any],
    config: DetectorConfig,
    now_ms: int,
) -> None:
    """Derive an OCPP session again from its transaction (its calendar changed): measured
    from the transaction's own meter values, as when it was made. The caller holds the
    entity lock."""
    transaction = await ocpp_repository.transaction_of_session(
        connection, entity_id=entity.id, session_id=session.id
    )
    if transaction is not None:
        await _upsert_session(connection, entity, transaction, config, now_ms, reason="resplit")


async def _upsert_session(
    connection: AsyncConnection,
    entity: sa.Row[Any],
    transaction: sa.Row[Any],
    config: DetectorConfig,
    now_ms: int,
    reason: Reason = "ocpp",
) -> UUID | None:
    external_id = f"ocpp:{transaction.id}"
    existing = await sessions_repository.find_by_external_id(
        connection, entity_id=entity.id, external_id=external_id
    )
    finished = transaction.status in FINISHED_STATUSES
    # Values out of range stored before ranges were checked are left out (see register_kwh).
    samples = [
        within_ranges(sample)
        for sample in await ocpp_repository.samples_of(connection, transaction_id=transaction.id)
    ]
    start_ms = transaction.start_ms
    stop_ms = transaction.stop_ms
    if not finished or start_ms is None or stop_ms is None or stop_ms <= start_ms:
        return None if existing is None else UUID(str(existing.id))
    if not entity.capture_charge_sessions and existing is None:
        return None  # while CaptureChargeSessions is off, no new sessions are recorded
    readings = _transaction_readings(transaction, samples)
    measured = measure_energy(readings, config)
    energy_kwh = measured.energy_kwh
    if energy_kwh is not None and round(energy_kwh, 6) < MIN_SESSION_ENERGY_KWH:
        if existing is not None:
            # Plugged in but never charged after all (a correction of its meter values).
            await remove_session(
                connection,
                tenant_id=entity.tenant_id,
                stored=existing,
                reason="belowMinimumEnergy",
                replaced_by=[],
                now_ms=now_ms,
            )
        return None  # plugged in but never charged: not a charge session
    soc = [sample.soc_pct for sample in samples if sample.soc_pct is not None]
    detected = DetectedSession(
        start_ms=start_ms,
        end_ms=stop_ms,
        complete=True,
        method=DetectionMethod.POWER,  # not used: the method is given below
        energy_method=measured.method,
        energy_kwh=energy_kwh,
        profile=measured.profile,
        soc_start_pct=soc[0] if soc else None,
        soc_end_pct=soc[-1] if soc else None,
        range_start_km=None,  # a charger knows no range
        range_end_km=None,
        position=await _charge_point_position(connection, entity.id),
        reading_count=len(readings),
        energy_uncertainty_kwh=measured.uncertainty_kwh,
    )
    derived = derive_session(
        detected_content(
            detected,
            source="ocpp",
            method="ocppTimeout" if transaction.status == "timed-out" else "ocpp",
            id_tag=transaction.id_tag,
        ),
        geofences=await entity_geofences(connection, entity_id=entity.id),
        book=await load_calendar_book(connection, entity_id=entity.id),
    )
    # The signed values are compared with the energy as stored (split and rounded).
    assessment = await _assess_evidence(connection, entity.id, transaction, derived.energy_kwh)
    derived = derived.with_evidence(None if assessment is None else assessment.status.value)
    written = await write_session(
        connection,
        tenant_id=entity.tenant_id,
        entity_id=entity.id,
        stored=existing,
        derived=derived,
        reason=reason,
        now_ms=now_ms,
        external_id=external_id,
    )
    return written.id


async def _assess_evidence(
    connection: AsyncConnection,
    entity_id: UUID,
    transaction: sa.Row[Any],
    energy_kwh: float | None,
) -> EvidenceAssessment | None:
    signed = await ocpp_repository.signed_values_of(connection, transaction_id=transaction.id)
    if not signed:
        return None
    station = await ocpp_repository.station_by_entity(connection, entity_id=entity_id)
    key_text = None if station is None else station.meter_public_key
    return assess(signed, None if key_text is None else load_public_key(key_text), energy_kwh)


@dataclass(frozen=True, slots=True)
class SessionEvidence:
    transaction: sa.Row[Any]
    meter_public_key: str | None
    assessment: EvidenceAssessment | None


async def session_evidence(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID, energy_kwh: float | None
) -> SessionEvidence | None:
    """The transaction behind an OCPP session and what its signed values prove; None for a
    session that no transaction made."""
    transaction = await ocpp_repository.transaction_of_session(
        connection, entity_id=entity_id, session_id=session_id
    )
    if transaction is None:
        return None
    station = await ocpp_repository.station_by_entity(connection, entity_id=entity_id)
    return SessionEvidence(
        transaction=transaction,
        meter_public_key=None if station is None else station.meter_public_key,
        assessment=await _assess_evidence(connection, entity_id, transaction, energy_kwh),
    )


def _transaction_readings(transaction: sa.Row[Any], samples: list[Sample]) -> list[Reading]:
    energies = [sample.energy_kwh for sample in samples if sample.energy_kwh is not None]
    meter_start = stored_register_kwh(transaction.meter_start_wh)
    if meter_start is None:
        meter_start = energies[0] if energies else None
    meter_stop = stored_register_kwh(transaction.meter_stop_wh)
    if meter_stop is None:
        meter_stop = energies[-1] if energies else None
    if meter_start is None or meter_stop is None:
        # No energy register at all: power samples (if any) are all there is to measure.
        inside = [
            s for s in samples if transaction.start_ms <= s.timestamp_ms <= transaction.stop_ms
        ]
        return [
            Reading(timestamp_ms=transaction.start_ms),
            *(s.as_reading() for s in inside),
            Reading(timestamp_ms=transaction.stop_ms),
        ]
    return transaction_readings(
        start_ms=transaction.start_ms,
        meter_start_kwh=meter_start,
        samples=samples,
        stop_ms=transaction.stop_ms,
        meter_stop_kwh=meter_stop,
    )


def stored_register_kwh(register_wh: float | None) -> float | None:
    """A transaction's stored meterStart or meterStop in kWh, None if unknown or out of its
    physical range (stored before ranges were checked)."""
    return None if register_wh is None else register_kwh(register_wh / 1000)


async def _charge_point_position(connection: AsyncConnection, entity_id: UUID) -> Position | None:
    """A charger does not move: it is where its configured Location is (the first one)."""
    locations = await locations_repository.list_locations(connection, entity_id=entity_id, limit=1)
    if not locations:
        return None
    return Position(locations[0].latitude, locations[0].longitude, uncertainty_m=0.0)
