"""Group commit for charge points' meter values: one database transaction for the MeterValues
(1.6 and 2.0.1) and the 2.0.1 TransactionEvent(Updated) calls of every charger that sent one
while the previous transaction was committing.

Thousands of chargers each send MeterValues every few seconds, and each must be answered
only after its values are durably stored (OCPP's at-least-once delivery: an answered call is
never sent again). Stored one call per transaction, that is six statements and a commit per
call, and one process held 1,500 chargers (docs/benchmarks.md). Here the handlers queue their
values and wait; one writer task per process stores everything queued in one transaction (a
multi-row insert per table, one update of the transactions touched, one commit), then wakes
the handlers, which answer. Every answer still follows its commit.

A batch that fails is retried one call at a time through the per-call functions of
ocpp/service.py, so one bad call (or a deadlock) costs only its own answer, never its
neighbours'. The rarer calls that would change more than the batch does (an Updated event for
a transaction not seen yet, or one naming its idToken first) take that per-call path too,
after the batch, in arrival order.
"""

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chargeledger.domain.meter_values import Sample, SignedMeterValue
from chargeledger.entities import repository as entities_repository
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp.service import (
    FINISHED_STATUSES,
    Station,
    TransactionEventV201,
    readings_rows,
    record_meter_values,
    record_transaction_event_v201,
)
from chargeledger.readings import repository as readings_repository
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")

# A transaction of this many calls takes a few milliseconds; larger ones only make the first
# caller in them wait longer.
MAX_CALLS_PER_BATCH = 1000


@dataclass(slots=True)
class _Call:
    station: Station
    transaction_key: str | None
    samples: list[Sample]
    now_ms: int
    answer: asyncio.Future[Any] = field(repr=False)
    # A 2.0.1 TransactionEvent(Updated); None for MeterValues.
    event: TransactionEventV201 | None = None


class MeterValueWriter:
    """Stores meter values in group commits: `record` is `record_meter_values` and
    `record_update` is `record_transaction_event_v201` for Updated events, batched."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._queue: list[_Call] = []
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.batches_committed = 0  # for tests and the benchmark: how much was grouped

    async def record(
        self,
        station: Station,
        *,
        transaction_key: str | None,
        samples: list[Sample],
        now_ms: int,
        signed: Sequence[SignedMeterValue] = (),
    ) -> UUID | None:
        """As `record_meter_values`: returns once the values are committed; the transaction's
        id when they were late values of a finished transaction (its session must be redone)."""
        if signed:
            # Signed values (evidence, mostly at a transaction's start and end) are rare: they
            # take the per-call path. A charger's calls come one at a time, so its order holds.
            return await record_meter_values(
                self.database,
                station,
                transaction_key=transaction_key,
                samples=samples,
                now_ms=now_ms,
                signed=signed,
            )
        result: UUID | None = await self._submit(station, transaction_key, samples, now_ms, None)
        return result

    async def record_update(
        self, station: Station, event: TransactionEventV201, *, now_ms: int
    ) -> tuple[UUID, bool]:
        """As `record_transaction_event_v201`, for an Updated event."""
        assert event.event_type == "Updated"
        result: tuple[UUID, bool] = await self._submit(
            station, event.transaction_key, event.samples, now_ms, event
        )
        return result

    async def _submit(
        self,
        station: Station,
        transaction_key: str | None,
        samples: list[Sample],
        now_ms: int,
        event: TransactionEventV201 | None,
    ) -> Any:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="ocpp-meter-writer")
        assert self._wakeup is not None
        call = _Call(station, transaction_key, samples, now_ms, loop.create_future(), event)
        self._queue.append(call)
        self._wakeup.set()
        # Shielded: a charger that disconnects while waiting does not cancel the write of
        # what it sent; the values are stored either way.
        return await asyncio.shield(call.answer)

    async def close(self) -> None:
        """Store what is queued, then stop the writer task."""
        task, self._task = self._task, None
        if task is None or self._wakeup is None:
            return
        self._closing = True
        self._wakeup.set()
        await task
        self._closing = False

    async def _run(self) -> None:
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._queue:
                batch = self._queue[:MAX_CALLS_PER_BATCH]
                del self._queue[:MAX_CALLS_PER_BATCH]
                await self._store(batch)
            if self._closing:
                return

    async def _store(self, batch: list[_Call]) -> None:
        try:
            results, deferred = await self._store_together(batch)
        except Exception:
            logger.warning(
                "storing %d OCPP calls together failed; storing them one by one",
                len(batch),
                exc_info=True,
            )
            for call in batch:
                await self._store_alone(call)
            return
        self.batches_committed += 1
        for index, (call, result) in enumerate(zip(batch, results, strict=True)):
            if index not in deferred and not call.answer.done():
                call.answer.set_result(result)
        for index in sorted(deferred):
            await self._store_alone(batch[index])

    async def _store_alone(self, call: _Call) -> None:
        try:
            result: Any
            if call.event is None:
                result = await record_meter_values(
                    self.database,
                    call.station,
                    transaction_key=call.transaction_key,
                    samples=call.samples,
                    now_ms=call.now_ms,
                )
            else:
                result = await record_transaction_event_v201(
                    self.database, call.station, call.event, now_ms=call.now_ms
                )
        except Exception as error:
            if not call.answer.done():
                call.answer.set_exception(error)
            return
        if not call.answer.done():
            call.answer.set_result(result)

    async def _store_together(self, batch: list[_Call]) -> tuple[list[Any], set[int]]:
        """The batch in one transaction, with what the per-call functions do per call: the
        answer of each call, and the indices of the calls left for the per-call path."""
        async with self.database.write() as connection:
            await entities_repository.lock_entities(
                connection, list({call.station.entity_id for call in batch})
            )
            transactions = await ocpp_repository.transactions_by_keys(
                connection,
                [
                    (call.station.entity_id, call.transaction_key)
                    for call in batch
                    if call.transaction_key is not None
                ],
            )
            transaction_of: list[Any] = [
                None
                if call.transaction_key is None
                else transactions.get((call.station.entity_id, call.transaction_key))
                for call in batch
            ]

            # 2.0.1 events: what the batch cannot do goes to the per-call path; an event
            # already recorded (at-least-once delivery: the same content) changes nothing.
            deferred = {
                index
                for index, (call, row) in enumerate(zip(batch, transaction_of, strict=True))
                if call.event is not None
                and (
                    row is None
                    or (call.event.id_token is not None and not row.id_tag)
                    or not row.start_reported  # its start is inferred from its events
                    or call.event.signed
                )
            }
            events: dict[tuple[UUID, str], int] = {}  # (transaction, digest) -> call index
            for index, (call, row) in enumerate(zip(batch, transaction_of, strict=True)):
                if call.event is not None and index not in deferred:
                    events.setdefault((row.id, call.event.digest), index)
            fresh_events = await ocpp_repository.record_events(
                connection,
                [
                    (key[0], batch[index].event, batch[index].now_ms)
                    for key, index in events.items()
                ],
            )
            fresh_calls = {index for key, index in events.items() if key in fresh_events}
            storing = [
                index
                for index, call in enumerate(batch)
                if call.event is None or index in fresh_calls
            ]

            # Readings and samples: the first value per instant wins, in arrival order.
            readings: dict[tuple[UUID, int], dict[str, Any]] = {}
            samples: dict[tuple[UUID, int], tuple[int, Sample]] = {}
            last_message_ms: dict[UUID, int] = {}
            for index in storing:
                call, row = batch[index], transaction_of[index]
                for reading in readings_rows(call.station, call.samples, call.now_ms):
                    readings.setdefault((call.station.entity_id, reading["timestamp_ms"]), reading)
                if row is None:
                    continue
                last_message_ms[row.id] = max(call.now_ms, last_message_ms.get(row.id, 0))
                for sample in call.samples:
                    samples.setdefault((row.id, sample.timestamp_ms), (index, sample))
            await readings_repository.insert_new(connection, list(readings.values()))
            stored = await ocpp_repository.add_samples_of_many(
                connection, [(key[0], sample) for key, (_, sample) in samples.items()]
            )

            # Late values of a finished transaction: its session must be redone (an event of
            # a finished transaction asks for it in any case, as the per-call path does).
            finished = {row.id for row in transactions.values() if row.status in FINISHED_STATUSES}
            redo_calls = {samples[key][0] for key in stored if key[0] in finished} | {
                index for index in fresh_calls if transaction_of[index].id in finished
            }
            redone = {transaction_of[index].id for index in redo_calls}
            await ocpp_repository.touch_transactions(
                connection,
                [
                    (row.id, last_message_ms[row.id], bool(row.needs_session) or row.id in redone)
                    for row in transactions.values()
                    if row.id in last_message_ms
                ],
            )
        results: list[Any] = []
        for index, (call, row) in enumerate(zip(batch, transaction_of, strict=True)):
            if call.event is None:
                results.append(row.id if index in redo_calls else None)
            elif index in deferred:
                results.append(None)
            else:
                results.append((row.id, index in redo_calls))
        return results, deferred
