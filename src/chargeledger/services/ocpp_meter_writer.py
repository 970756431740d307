"""Group commit for charge points' meter values: one database transaction for the MeterValues
of every charger that sent some while the previous transaction was committing.

Thousands of chargers each send MeterValues every few seconds, and each must be answered
only after its values are durably stored (OCPP's at-least-once delivery: an answered call is
never sent again). Stored one call per transaction, that is six statements and a commit per
call, and one process held 1,500 chargers (docs/benchmarks.md). Here the handlers queue their
values and wait; one writer task per process stores everything queued in one transaction (a
multi-row insert per table, one update of the transactions touched, one commit), then wakes
the handlers, which answer. Every answer still follows its commit.

A batch that fails is retried one call at a time through `record_meter_values`, so one bad
call (or a deadlock) costs only its own answer, never its neighbours'.
"""

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from chargeledger.domain.meter_values import Sample
from chargeledger.services.ocpp import Station, readings_rows, record_meter_values
from chargeledger.storage import entities as entities_repository
from chargeledger.storage import ocpp as ocpp_repository
from chargeledger.storage import readings as readings_repository
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
    answer: asyncio.Future[UUID | None] = field(repr=False)


class MeterValueWriter:
    """Stores meter values in group commits; `record` is `record_meter_values`, batched."""

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
    ) -> UUID | None:
        """As `record_meter_values`: returns once the values are committed; the transaction's
        id when they were late values of a finished transaction (its session must be redone)."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._task = loop.create_task(self._run(), name="ocpp-meter-writer")
        assert self._wakeup is not None
        call = _Call(station, transaction_key, samples, now_ms, loop.create_future())
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
            results = await self._store_together(batch)
        except Exception:
            logger.warning(
                "storing %d MeterValues calls together failed; storing them one by one",
                len(batch),
                exc_info=True,
            )
            await asyncio.gather(*(self._store_alone(call) for call in batch))
            return
        self.batches_committed += 1
        for call, result in zip(batch, results, strict=True):
            if not call.answer.done():
                call.answer.set_result(result)

    async def _store_alone(self, call: _Call) -> None:
        try:
            result = await record_meter_values(
                self.database,
                call.station,
                transaction_key=call.transaction_key,
                samples=call.samples,
                now_ms=call.now_ms,
            )
        except Exception as error:
            if not call.answer.done():
                call.answer.set_exception(error)
            return
        if not call.answer.done():
            call.answer.set_result(result)

    async def _store_together(self, batch: list[_Call]) -> list[UUID | None]:
        """The batch in one transaction, with what `record_meter_values` does per call."""
        async with self.database.write() as connection:
            await entities_repository.lock_entities(
                connection, list({call.station.entity_id for call in batch})
            )
            # Readings and samples: the first value per instant wins, in arrival order.
            readings: dict[tuple[UUID, int], dict[str, Any]] = {}
            for call in batch:
                for reading in readings_rows(call.station, call.samples, call.now_ms):
                    readings.setdefault((call.station.entity_id, reading["timestamp_ms"]), reading)
            await readings_repository.insert_new(connection, list(readings.values()))

            transactions = await ocpp_repository.transactions_by_keys(
                connection,
                [
                    (call.station.entity_id, call.transaction_key)
                    for call in batch
                    if call.transaction_key is not None
                ],
            )
            transaction_of: list[UUID | None] = []
            # (transaction, instant) -> (index of the call it came from, the sample)
            samples: dict[tuple[UUID, int], tuple[int, Sample]] = {}
            last_message_ms: dict[UUID, int] = {}
            for index, call in enumerate(batch):
                row = (
                    None
                    if call.transaction_key is None
                    else transactions.get((call.station.entity_id, call.transaction_key))
                )
                transaction_of.append(None if row is None else row.id)
                if row is None:
                    continue
                last_message_ms[row.id] = max(call.now_ms, last_message_ms.get(row.id, 0))
                for sample in call.samples:
                    samples.setdefault((row.id, sample.timestamp_ms), (index, sample))
            stored = await ocpp_repository.add_samples_of_many(
                connection, [(key[0], sample) for key, (_, sample) in samples.items()]
            )

            # Late values of a finished transaction: its session must be redone.
            finished = {row.id for row in transactions.values() if row.status != "open"}
            redo_calls = {samples[key][0] for key in stored if key[0] in finished}
            redone = {transaction_of[index] for index in redo_calls}
            await ocpp_repository.touch_transactions(
                connection,
                [
                    (row.id, last_message_ms[row.id], bool(row.needs_session) or row.id in redone)
                    for row in transactions.values()
                    if row.id in last_message_ms
                ],
            )
        return [
            transaction_of[index] if index in redo_calls else None for index in range(len(batch))
        ]
