"""OCPP charge points (stations), their transactions, meter samples and transaction events."""

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.meter_values import Sample, SignedMeterValue
from chargeledger.storage.dialect import insert_on_conflict
from chargeledger.storage.tables import (
    entities,
    ocpp_charger_events,
    ocpp_meter_samples,
    ocpp_signed_values,
    ocpp_stations,
    ocpp_transaction_events,
    ocpp_transactions,
)

# --- stations ---------------------------------------------------------------------------


async def find_station(
    connection: AsyncConnection, *, tenant_id: UUID | None, identity: str
) -> sa.Row[Any] | None:
    """The station a charger reaches at /ocpp/<tenant id>/<identity>, or, with no tenant, at
    the legacy /ocpp/<identity> (stations registered before identities were per tenant); with
    its entity's tenant, type and capture switch."""
    where = (
        ocpp_stations.c.legacy_identity == identity
        if tenant_id is None
        else sa.and_(ocpp_stations.c.tenant_id == tenant_id, ocpp_stations.c.identity == identity)
    )
    result = await connection.execute(
        sa.select(
            ocpp_stations,
            entities.c.type,
            entities.c.capture_charge_sessions,
        )
        .join(entities, entities.c.id == ocpp_stations.c.entity_id)
        .where(where)
    )
    return result.first()


async def station_by_entity(connection: AsyncConnection, *, entity_id: UUID) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(ocpp_stations).where(ocpp_stations.c.entity_id == entity_id)
    )
    return result.first()


async def put_station(
    connection: AsyncConnection,
    *,
    tenant_id: UUID,
    identity: str,
    entity_id: UUID,
    password_hash: str,
    now_ms: int,
) -> sa.Row[Any]:
    """Set the entity's station credentials (identity and password), replacing earlier ones.
    Everything else about the station stays: its meter's public key, the deviations tolerated
    for it, what it told us of itself (a new password must not silently stop its sessions'
    signed values from verifying). A station on the legacy path keeps it as long as its
    identity stays the same: its charger is configured with that URL. Returns the station as
    stored."""
    earlier = await station_by_entity(connection, entity_id=entity_id)
    if earlier is None:
        await connection.execute(
            sa.insert(ocpp_stations).values(
                tenant_id=tenant_id,
                identity=identity,
                entity_id=entity_id,
                password_hash=password_hash,
                created_ms=now_ms,
            )
        )
    else:
        same_identity = earlier.identity == identity
        await update_station(
            connection,
            entity_id=entity_id,
            identity=identity,
            password_hash=password_hash,
            legacy_identity=earlier.legacy_identity if same_identity else None,
        )
    stored = await station_by_entity(connection, entity_id=entity_id)
    assert stored is not None
    return stored


async def connection_ids(
    connection: AsyncConnection, *, keys: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], UUID | None]:
    """The newest connection of each of these stations, by (tenant id, identity)."""
    if not keys:
        return {}
    result = await connection.execute(
        sa.select(
            ocpp_stations.c.tenant_id, ocpp_stations.c.identity, ocpp_stations.c.connection_id
        ).where(sa.tuple_(ocpp_stations.c.tenant_id, ocpp_stations.c.identity).in_(list(keys)))
    )
    return {(row.tenant_id, row.identity): row.connection_id for row in result}


async def update_station(connection: AsyncConnection, *, entity_id: UUID, **values: Any) -> None:
    await connection.execute(
        sa.update(ocpp_stations).where(ocpp_stations.c.entity_id == entity_id).values(**values)
    )


# --- transactions -----------------------------------------------------------------------


async def transaction_by_key(
    connection: AsyncConnection, *, entity_id: UUID, transaction_key: str
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(ocpp_transactions).where(
            ocpp_transactions.c.entity_id == entity_id,
            ocpp_transactions.c.transaction_key == transaction_key,
        )
    )
    return result.first()


async def transactions_by_keys(
    connection: AsyncConnection, keys: Sequence[tuple[UUID, str]]
) -> dict[tuple[UUID, str], sa.Row[Any]]:
    """The transactions of these (entity id, transaction key) pairs that exist, by pair."""
    if not keys:
        return {}
    result = await connection.execute(
        sa.select(ocpp_transactions).where(
            sa.tuple_(ocpp_transactions.c.entity_id, ocpp_transactions.c.transaction_key).in_(
                sorted(set(keys))
            )
        )
    )
    return {(row.entity_id, row.transaction_key): row for row in result}


async def touch_transactions(
    connection: AsyncConnection, changes: Sequence[tuple[UUID, int, bool]]
) -> None:
    """Set (last_message_ms, needs_session) of many transactions in one statement."""
    if not changes:
        return
    await connection.execute(
        sa.update(ocpp_transactions)
        .where(ocpp_transactions.c.id == sa.bindparam("b_id"))
        .values(
            last_message_ms=sa.bindparam("b_last_message_ms"),
            needs_session=sa.bindparam("b_needs_session"),
        ),
        [
            {"b_id": id_, "b_last_message_ms": last_ms, "b_needs_session": needs}
            for id_, last_ms, needs in changes
        ],
    )


async def transaction_by_id(
    connection: AsyncConnection, *, transaction_id: UUID
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(ocpp_transactions).where(ocpp_transactions.c.id == transaction_id)
    )
    return result.first()


async def find_started_transaction(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    connector_id: int | None,
    id_tag: str | None,
    start_ms: int,
    meter_start_wh: float | None,
) -> sa.Row[Any] | None:
    """A 1.6 transaction already started with exactly these values (a repeated
    StartTransaction, which OCPP's at-least-once delivery allows)."""
    result = await connection.execute(
        sa.select(ocpp_transactions).where(
            ocpp_transactions.c.entity_id == entity_id,
            ocpp_transactions.c.connector_id == connector_id,
            ocpp_transactions.c.id_tag == id_tag,
            ocpp_transactions.c.start_ms == start_ms,
            ocpp_transactions.c.meter_start_wh == meter_start_wh,
        )
    )
    return result.first()


async def next_transaction_number(connection: AsyncConnection, *, entity_id: UUID) -> int:
    """The next integer transactionId (OCPP 1.6) of this charge point; callers hold the
    entity lock, so two transactions never get the same one."""
    highest = await connection.scalar(
        sa.select(sa.func.max(ocpp_transactions.c.number)).where(
            ocpp_transactions.c.entity_id == entity_id
        )
    )
    return 1 if highest is None else int(highest) + 1


async def insert_transaction(connection: AsyncConnection, **values: Any) -> None:
    await connection.execute(sa.insert(ocpp_transactions).values(**values))


async def update_transaction(
    connection: AsyncConnection, *, transaction_id: UUID, **values: Any
) -> None:
    await connection.execute(
        sa.update(ocpp_transactions)
        .where(ocpp_transactions.c.id == transaction_id)
        .values(**values)
    )


async def transactions_needing_sessions(
    connection: AsyncConnection, *, after: UUID | None = None, limit: int
) -> list[UUID]:
    """A page of the transactions whose session is owed, by id (`after`: the previous
    page's last), so that every one gets its turn, however many before it keep failing."""
    statement = sa.select(ocpp_transactions.c.id).where(
        ocpp_transactions.c.needs_session == sa.true()
    )
    if after is not None:
        statement = statement.where(ocpp_transactions.c.id > after)
    result = await connection.execute(statement.order_by(ocpp_transactions.c.id).limit(limit))
    return [row.id for row in result]


async def silent_open_transactions(
    connection: AsyncConnection, *, silent_since_ms: int, after: UUID | None = None, limit: int
) -> list[UUID]:
    """A page of the open transactions last heard of before `silent_since_ms`, by id."""
    statement = sa.select(ocpp_transactions.c.id).where(
        ocpp_transactions.c.status == "open",
        ocpp_transactions.c.last_message_ms < silent_since_ms,
    )
    if after is not None:
        statement = statement.where(ocpp_transactions.c.id > after)
    result = await connection.execute(statement.order_by(ocpp_transactions.c.id).limit(limit))
    return [row.id for row in result]


# --- events and samples -----------------------------------------------------------------


async def record_event(
    connection: AsyncConnection,
    *,
    transaction_id: UUID,
    digest: str,
    seq_no: int,
    event_type: str,
    timestamp_ms: int,
    received_ms: int,
) -> bool:
    """Record a 2.0.1 TransactionEvent by the digest of its content; False if the same event
    was recorded before (sent again)."""
    statement = (
        insert_on_conflict(connection, ocpp_transaction_events)
        .values(
            transaction_id=transaction_id,
            digest=digest,
            seq_no=seq_no,
            event_type=event_type,
            timestamp_ms=timestamp_ms,
            received_ms=received_ms,
        )
        .on_conflict_do_nothing(index_elements=["transaction_id", "digest"])
    )
    result = await connection.execute(statement)
    return result.rowcount > 0


async def record_events(
    connection: AsyncConnection, events: Sequence[tuple[UUID, Any, int]]
) -> set[tuple[UUID, str]]:
    """Record 2.0.1 TransactionEvents, given as (transaction id, event, received ms), by the
    digest of their content; the (transaction id, digest) of those not seen before. Callers
    pass each pair once."""
    if not events:
        return set()
    statement = (
        insert_on_conflict(connection, ocpp_transaction_events)
        .on_conflict_do_nothing(index_elements=["transaction_id", "digest"])
        .returning(ocpp_transaction_events.c.transaction_id, ocpp_transaction_events.c.digest)
    )
    result = await connection.execute(
        statement,
        [
            {
                "transaction_id": transaction_id,
                "digest": event.digest,
                "seq_no": event.seq_no,
                "event_type": event.event_type,
                "timestamp_ms": event.timestamp_ms,
                "received_ms": received_ms,
            }
            for transaction_id, event, received_ms in events
        ],
    )
    return {(UUID(str(row.transaction_id)), row.digest) for row in result}


async def events_with_seq_no(
    connection: AsyncConnection, *, transaction_id: UUID, seq_no: int
) -> int:
    count = await connection.scalar(
        sa.select(sa.func.count()).where(
            ocpp_transaction_events.c.transaction_id == transaction_id,
            ocpp_transaction_events.c.seq_no == seq_no,
        )
    )
    return int(count or 0)


# --- signed meter values ----------------------------------------------------------------


def signed_value_digest(signed: SignedMeterValue) -> str:
    text = "\x1f".join(
        (str(signed.timestamp_ms), signed.context or "", signed.measurand, signed.data)
    )
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


async def add_signed_values(
    connection: AsyncConnection,
    *,
    transaction_id: UUID,
    signed: Sequence[SignedMeterValue],
    received_ms: int,
) -> None:
    """Keep the signed values of a transaction as sent (a repeat is stored once)."""
    rows = {
        signed_value_digest(value): {
            "transaction_id": transaction_id,
            "digest": signed_value_digest(value),
            "timestamp_ms": value.timestamp_ms,
            "context": None if value.context is None else value.context[:32],
            "measurand": value.measurand[:64],
            "data": value.data,
            "encoding_method": None
            if value.encoding_method is None
            else value.encoding_method[:64],
            "signing_method": None if value.signing_method is None else value.signing_method[:64],
            "public_key": value.public_key,
            "received_ms": received_ms,
        }
        for value in signed
    }
    if not rows:
        return
    statement = insert_on_conflict(connection, ocpp_signed_values).on_conflict_do_nothing(
        index_elements=["transaction_id", "digest"]
    )
    await connection.execute(statement, list(rows.values()))


async def signed_values_of(
    connection: AsyncConnection, *, transaction_id: UUID
) -> list[SignedMeterValue]:
    result = await connection.execute(
        sa.select(ocpp_signed_values)
        .where(ocpp_signed_values.c.transaction_id == transaction_id)
        .order_by(ocpp_signed_values.c.timestamp_ms, ocpp_signed_values.c.digest)
    )
    return [
        SignedMeterValue(
            timestamp_ms=row.timestamp_ms,
            context=row.context,
            measurand=row.measurand,
            data=row.data,
            encoding_method=row.encoding_method,
            signing_method=row.signing_method,
            public_key=row.public_key,
        )
        for row in result
    ]


async def transactions_with_signed_values(
    connection: AsyncConnection, *, entity_id: UUID
) -> list[UUID]:
    result = await connection.execute(
        sa.select(ocpp_transactions.c.id)
        .where(
            ocpp_transactions.c.entity_id == entity_id,
            sa.exists().where(ocpp_signed_values.c.transaction_id == ocpp_transactions.c.id),
        )
        .order_by(ocpp_transactions.c.id)
    )
    return [UUID(str(row.id)) for row in result]


async def transaction_of_session(
    connection: AsyncConnection, *, entity_id: UUID, session_id: UUID
) -> sa.Row[Any] | None:
    result = await connection.execute(
        sa.select(ocpp_transactions).where(
            ocpp_transactions.c.entity_id == entity_id,
            ocpp_transactions.c.session_id == session_id,
        )
    )
    return result.first()


# --- charger events ---------------------------------------------------------------------


async def add_charger_events(
    connection: AsyncConnection, events: Sequence[tuple[UUID, str, dict[str, Any], int]]
) -> None:
    """Store (entity id, kind, detail, received ms) events of chargers."""
    if not events:
        return
    await connection.execute(
        sa.insert(ocpp_charger_events),
        [
            {
                "id": uuid.uuid4(),
                "entity_id": entity_id,
                "received_ms": received_ms,
                "kind": kind[:48],
                "detail_json": orjson.dumps(detail, default=str).decode(),
            }
            for entity_id, kind, detail, received_ms in events
        ],
    )


async def charger_events_page(
    connection: AsyncConnection,
    *,
    entity_id: UUID,
    before: tuple[int, UUID] | None,
    limit: int,
) -> Sequence[Any]:
    """The entity's charger events, newest first (received, then id, descending), those
    strictly before the keyset position when one is given."""
    query = sa.select(ocpp_charger_events).where(ocpp_charger_events.c.entity_id == entity_id)
    if before is not None:
        query = query.where(
            sa.tuple_(ocpp_charger_events.c.received_ms, ocpp_charger_events.c.id)
            < sa.tuple_(sa.literal(before[0]), sa.literal(before[1], type_=sa.Uuid))
        )
    query = query.order_by(
        ocpp_charger_events.c.received_ms.desc(), ocpp_charger_events.c.id.desc()
    ).limit(limit)
    return (await connection.execute(query)).all()


async def add_samples(
    connection: AsyncConnection, *, transaction_id: UUID, samples: Sequence[Sample]
) -> int:
    """Store samples not stored yet (a repeated instant keeps the first); how many were new."""
    first_per_instant = {sample.timestamp_ms: sample for sample in reversed(samples)}
    new = await add_samples_of_many(
        connection, [(transaction_id, sample) for sample in first_per_instant.values()]
    )
    return len(new)


async def add_samples_of_many(
    connection: AsyncConnection, samples: Sequence[tuple[UUID, Sample]]
) -> set[tuple[UUID, int]]:
    """Store (transaction id, sample) pairs not stored yet; the (transaction id, instant) of
    those that were new. Callers pass each (transaction, instant) at most once."""
    if not samples:
        return set()
    rows = [
        {
            "transaction_id": transaction_id,
            "timestamp_ms": sample.timestamp_ms,
            "energy_kwh": sample.energy_kwh,
            "power_kw": sample.power_kw,
            "soc_pct": sample.soc_pct,
        }
        for transaction_id, sample in samples
    ]
    statement = (
        insert_on_conflict(connection, ocpp_meter_samples)
        .on_conflict_do_nothing(index_elements=["transaction_id", "timestamp_ms"])
        .returning(ocpp_meter_samples.c.transaction_id, ocpp_meter_samples.c.timestamp_ms)
    )
    result = await connection.execute(statement, rows)
    return {(UUID(str(row.transaction_id)), row.timestamp_ms) for row in result}


async def samples_of(connection: AsyncConnection, *, transaction_id: UUID) -> list[Sample]:
    result = await connection.execute(
        sa.select(ocpp_meter_samples)
        .where(ocpp_meter_samples.c.transaction_id == transaction_id)
        .order_by(ocpp_meter_samples.c.timestamp_ms)
    )
    return [
        Sample(
            timestamp_ms=row.timestamp_ms,
            energy_kwh=row.energy_kwh,
            power_kw=row.power_kw,
            soc_pct=row.soc_pct,
        )
        for row in result
    ]
