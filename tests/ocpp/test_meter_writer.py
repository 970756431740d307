"""The group commit of meter values (ocpp/meter_writer.py), on the real database:
calls waiting together are stored in one transaction, nothing is lost or stored twice, the
first value per instant wins, late values of a finished transaction ask for its session
again, and one bad call in a batch fails alone."""

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
import sqlalchemy as sa

from chargeledger.auth import service as auth
from chargeledger.domain.meter_values import Sample
from chargeledger.entities.service import EntityType, create_entity
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp import service as ocpp_service
from chargeledger.ocpp.meter_writer import MeterValueWriter
from chargeledger.ocpp.service import Station
from chargeledger.storage.database import Database
from chargeledger.storage.tables import ocpp_transactions, readings

# Now, to the minute: the suite's server sweeps transactions silent for 24 hours out of this
# database (ocpp/sweep.py), and a fixed instant in the past let it time one out mid-test.
NOW_MS = int(time.time()) // 60 * 60_000
START_MS = NOW_MS - 3_600_000


@pytest.fixture
async def writer(database: Database) -> AsyncIterator[MeterValueWriter]:
    writer = MeterValueWriter(database)
    yield writer
    await writer.close()


async def _stations(database: Database, count: int) -> list[Station]:
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="meter writer", now_ms=NOW_MS)
        stations = []
        for number in range(count):
            entity = await create_entity(
                connection,
                tenant_id=credentials.tenant_id,
                entity_type=EntityType.CHARGE_POINT,
                name=f"charger {number}",
                identifier=f"MW-{uuid.uuid4().hex[:12]}",
                brand=None,
                properties={},
                now_ms=NOW_MS,
            )
            stations.append(
                Station(
                    identity=entity.identifier,
                    entity_id=entity.id,
                    tenant_id=credentials.tenant_id,
                )
            )
    return stations


async def _start(database: Database, station: Station) -> str:
    number = await ocpp_service.record_start_v16(
        database,
        station,
        connector_id=1,
        id_tag="TAG",
        timestamp_ms=START_MS,
        meter_start_wh=1000.0,
        now_ms=NOW_MS,
    )
    return str(number)


def _sample(minute: int, energy_kwh: float) -> Sample:
    return Sample(
        timestamp_ms=START_MS + minute * 60_000, energy_kwh=energy_kwh, power_kw=11.0, soc_pct=None
    )


async def _stored_samples(database: Database, transaction_id: UUID) -> list[Sample]:
    async with database.read() as connection:
        return await ocpp_repository.samples_of(connection, transaction_id=transaction_id)


async def _transaction(database: Database, station: Station, key: str) -> sa.Row[object]:
    async with database.read() as connection:
        row = await ocpp_repository.transaction_by_key(
            connection, entity_id=station.entity_id, transaction_key=key
        )
    assert row is not None
    return row


async def _count(database: Database, table: sa.Table, where: sa.ColumnElement[bool]) -> int:
    async with database.read() as connection:
        return int(
            await connection.scalar(sa.select(sa.func.count()).select_from(table).where(where)) or 0
        )


async def test_calls_waiting_together_are_stored_in_fewer_transactions_and_none_is_lost(
    database: Database, writer: MeterValueWriter
) -> None:
    stations = await _stations(database, 50)
    keys = [await _start(database, station) for station in stations]

    async def charger(station: Station, key: str) -> None:
        for minute in range(1, 6):
            result = await writer.record(
                station,
                transaction_key=key,
                samples=[_sample(minute, 1.0 + minute)],
                now_ms=NOW_MS + minute,
            )
            assert result is None  # an open transaction: no session to redo

    await asyncio.gather(*(charger(s, k) for s, k in zip(stations, keys, strict=True)))

    assert writer.batches_committed < 250 / 5  # 250 calls, grouped
    for station, key in zip(stations, keys, strict=True):
        transaction = await _transaction(database, station, key)
        assert [s.timestamp_ms for s in await _stored_samples(database, transaction.id)] == [
            START_MS + minute * 60_000 for minute in range(1, 6)
        ]
        assert transaction.last_message_ms == NOW_MS + 5
        assert not transaction.needs_session
        assert await _count(database, readings, readings.c.entity_id == station.entity_id) == 5


async def test_a_call_delivered_twice_is_stored_once(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = await _start(database, station)
    call = {"transaction_key": key, "samples": [_sample(1, 2.0), _sample(2, 3.0)]}
    # The repeat in the same batch and again in a later one.
    await asyncio.gather(
        writer.record(station, now_ms=NOW_MS, **call),  # type: ignore[arg-type]
        writer.record(station, now_ms=NOW_MS, **call),  # type: ignore[arg-type]
    )
    await writer.record(station, now_ms=NOW_MS + 1, **call)  # type: ignore[arg-type]

    transaction = await _transaction(database, station, key)
    assert len(await _stored_samples(database, transaction.id)) == 2
    assert await _count(database, readings, readings.c.entity_id == station.entity_id) == 2


async def test_the_first_value_per_instant_wins_within_a_batch_as_across_batches(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = await _start(database, station)
    await asyncio.gather(
        writer.record(station, transaction_key=key, samples=[_sample(1, 2.0)], now_ms=NOW_MS),
        writer.record(station, transaction_key=key, samples=[_sample(1, 9.0)], now_ms=NOW_MS),
    )
    await writer.record(station, transaction_key=key, samples=[_sample(1, 7.0)], now_ms=NOW_MS)

    transaction = await _transaction(database, station, key)
    assert [s.energy_kwh for s in await _stored_samples(database, transaction.id)] == [2.0]
    async with database.read() as connection:
        energies = (
            await connection.scalars(
                sa.select(readings.c.energy_total_kwh).where(
                    readings.c.entity_id == station.entity_id
                )
            )
        ).all()
    assert energies == [2.0]


async def test_late_values_of_a_stopped_transaction_ask_for_its_session_again(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = await _start(database, station)
    stopped_id = await ocpp_service.record_stop_v16(
        database,
        station,
        transaction_number=int(key),
        timestamp_ms=START_MS + 30 * 60_000,
        meter_stop_wh=6500.0,
        reason="Local",
        samples=[],
        now_ms=NOW_MS,
    )
    async with database.write() as connection:  # as if its session had been computed
        await ocpp_repository.update_transaction(
            connection, transaction_id=stopped_id, needs_session=False
        )

    late = await writer.record(
        station, transaction_key=key, samples=[_sample(10, 2.5)], now_ms=NOW_MS + 5
    )
    repeat = await writer.record(
        station, transaction_key=key, samples=[_sample(10, 2.5)], now_ms=NOW_MS + 6
    )

    assert late == stopped_id
    assert repeat is None  # nothing new: the session stays as it is
    transaction = await _transaction(database, station, key)
    assert transaction.needs_session


async def test_values_without_a_known_transaction_are_readings_only(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    without = await writer.record(
        station, transaction_key=None, samples=[_sample(1, 2.0)], now_ms=NOW_MS
    )
    unknown = await writer.record(
        station, transaction_key="4711", samples=[_sample(2, 3.0)], now_ms=NOW_MS
    )
    assert without is None
    assert unknown is None
    assert await _count(database, readings, readings.c.entity_id == station.entity_id) == 2
    # No transaction of this charger exists, so none has samples.
    async with database.read() as connection:
        assert (
            await connection.scalar(
                sa.select(sa.func.count()).where(ocpp_transactions.c.entity_id == station.entity_id)
            )
            == 0
        )


async def test_one_bad_call_fails_alone_and_its_neighbours_are_stored(
    database: Database, writer: MeterValueWriter
) -> None:
    good, other = await _stations(database, 2)
    good_key, other_key = await _start(database, good), await _start(database, other)
    # An entity that does not exist: its readings break the batch's foreign key.
    ghost = Station(identity="ghost", entity_id=uuid.uuid4(), tenant_id=good.tenant_id)

    results = await asyncio.gather(
        writer.record(good, transaction_key=good_key, samples=[_sample(1, 2.0)], now_ms=NOW_MS),
        writer.record(ghost, transaction_key=None, samples=[_sample(1, 2.0)], now_ms=NOW_MS),
        writer.record(other, transaction_key=other_key, samples=[_sample(1, 2.0)], now_ms=NOW_MS),
        return_exceptions=True,
    )

    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], Exception)  # its handler answers a CALLERROR
    for station, key in ((good, good_key), (other, other_key)):
        transaction = await _transaction(database, station, key)
        assert len(await _stored_samples(database, transaction.id)) == 1


async def test_close_stores_what_is_queued(database: Database) -> None:
    (station,) = await _stations(database, 1)
    key = await _start(database, station)
    writer = MeterValueWriter(database)
    pending = [
        asyncio.ensure_future(
            writer.record(
                station, transaction_key=key, samples=[_sample(minute, 2.0)], now_ms=NOW_MS
            )
        )
        for minute in range(1, 4)
    ]
    await asyncio.sleep(0)  # queued, not yet stored
    await writer.close()

    # The writer task has ended: what it did not store would never be answered.
    assert await asyncio.wait_for(asyncio.gather(*pending), timeout=5) == [None] * 3
    transaction = await _transaction(database, station, key)
    assert len(await _stored_samples(database, transaction.id)) == 3


# --- 2.0.1 TransactionEvent(Updated) ------------------------------------------------------


def _event(
    event_type: str, key: str, seq_no: int, minute: int, *, id_token: str | None = None
) -> ocpp_service.TransactionEventV201:
    return ocpp_service.TransactionEventV201(
        event_type=event_type,
        transaction_key=key,
        seq_no=seq_no,
        timestamp_ms=START_MS + minute * 60_000,
        samples=[_sample(minute, 1.0 + minute)],
        evse_id=1,
        connector_id=1,
        id_token=id_token,
        stopped_reason="EVDisconnected" if event_type == "Ended" else None,
        # What the handler digests from the call's payload: here, what the test varies.
        digest=f"{event_type}|{key}|{seq_no}|{minute}|{id_token}",
    )


async def _start_201(database: Database, station: Station, *, id_token: str | None = "TAG") -> str:  # noqa: S107
    key = f"tx-{uuid.uuid4().hex[:8]}"
    await ocpp_service.record_transaction_event_v201(
        database, station, _event("Started", key, 0, 0, id_token=id_token), now_ms=NOW_MS
    )
    return key


async def test_updated_events_waiting_together_are_grouped_and_each_stored_once(
    database: Database, writer: MeterValueWriter
) -> None:
    stations = await _stations(database, 20)
    keys = [await _start_201(database, station) for station in stations]
    batches_before = writer.batches_committed

    async def station_updates(station: Station, key: str) -> None:
        for seq_no in range(1, 4):
            transaction_id, owed = await writer.record_update(
                station, _event("Updated", key, seq_no, seq_no), now_ms=NOW_MS + seq_no
            )
            assert not owed  # still open: no session yet
            assert transaction_id == (await _transaction(database, station, key)).id

    await asyncio.gather(*(station_updates(s, k) for s, k in zip(stations, keys, strict=True)))

    assert writer.batches_committed - batches_before < 60 / 3  # 60 calls, grouped
    for station, key in zip(stations, keys, strict=True):
        transaction = await _transaction(database, station, key)
        # The Started event's sample at minute 0, then one per update.
        assert [s.timestamp_ms for s in await _stored_samples(database, transaction.id)] == [
            START_MS + minute * 60_000 for minute in range(4)
        ]
        assert transaction.last_message_ms == NOW_MS + 3


async def test_a_repeated_event_changes_nothing_within_a_batch_or_after(
    database: Database, writer: MeterValueWriter
) -> None:
    """The same event again (the same content, so the same digest) is a repeat: its
    samples are not stored again, whether it comes in the same batch or later."""
    (station,) = await _stations(database, 1)
    key = await _start_201(database, station)
    first = _event("Updated", key, 1, 5)
    repeat = dataclasses.replace(first, samples=[_sample(6, 99.0)])  # same digest
    await asyncio.gather(
        writer.record_update(station, first, now_ms=NOW_MS),
        writer.record_update(station, repeat, now_ms=NOW_MS),
    )
    await writer.record_update(station, repeat, now_ms=NOW_MS + 1)

    transaction = await _transaction(database, station, key)
    stored = await _stored_samples(database, transaction.id)
    assert [(s.timestamp_ms, s.energy_kwh) for s in stored] == [
        (START_MS, 1.0),
        (START_MS + 5 * 60_000, 6.0),
    ]


async def test_a_reused_seq_no_with_other_content_is_stored(
    database: Database, writer: MeterValueWriter
) -> None:
    """Stations reuse seqNos (simulators send the same one every time, stations restart the
    count after a reboot): an event with a seqNo seen before but other content is news."""
    (station,) = await _stations(database, 1)
    key = await _start_201(database, station)
    await asyncio.gather(
        writer.record_update(station, _event("Updated", key, 0, 5), now_ms=NOW_MS),
        writer.record_update(station, _event("Updated", key, 0, 6), now_ms=NOW_MS),
    )
    await writer.record_update(station, _event("Updated", key, 0, 7), now_ms=NOW_MS + 1)

    transaction = await _transaction(database, station, key)
    stored = await _stored_samples(database, transaction.id)
    assert [s.timestamp_ms for s in stored] == [START_MS + m * 60_000 for m in (0, 5, 6, 7)]


async def test_an_update_before_its_start_takes_the_per_call_path_and_makes_the_transaction(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = f"tx-{uuid.uuid4().hex[:8]}"  # offline backlog: the Started event comes later
    transaction_id, owed = await writer.record_update(
        station, _event("Updated", key, 3, 7), now_ms=NOW_MS
    )
    assert not owed
    transaction = await _transaction(database, station, key)
    assert transaction.id == transaction_id
    assert transaction.status == "open"
    assert [s.timestamp_ms for s in await _stored_samples(database, transaction_id)] == [
        START_MS + 7 * 60_000
    ]


async def test_an_update_naming_the_id_token_first_records_it(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = await _start_201(database, station, id_token=None)  # authorized after plugging in
    await writer.record_update(
        station, _event("Updated", key, 1, 2, id_token="CARD-42"), now_ms=NOW_MS
    )
    assert (await _transaction(database, station, key)).id_tag == "CARD-42"


async def test_an_update_of_an_ended_transaction_asks_for_its_session_again(
    database: Database, writer: MeterValueWriter
) -> None:
    (station,) = await _stations(database, 1)
    key = await _start_201(database, station)
    ended_id, _ = await ocpp_service.record_transaction_event_v201(
        database, station, _event("Ended", key, 9, 30), now_ms=NOW_MS
    )
    async with database.write() as connection:  # as if its session had been computed
        await ocpp_repository.update_transaction(
            connection, transaction_id=ended_id, needs_session=False
        )

    late = await writer.record_update(station, _event("Updated", key, 4, 12), now_ms=NOW_MS + 5)
    repeat = await writer.record_update(station, _event("Updated", key, 4, 12), now_ms=NOW_MS + 6)

    assert late == (ended_id, True)
    assert repeat == (ended_id, False)  # nothing new: the session stays as it is
    assert (await _transaction(database, station, key)).needs_session
