"""The periodic OCPP sweep: transactions of chargers gone silent are closed, and every session
still owed is made (ocpp/service.py says why sessions are owed).

Each transaction is handled on its own, in its own database transaction. One that fails is
logged (its ids, never its content), recorded on its charger (a SweepFailed event), and tried
again later, less often the more it fails; the others go on, whichever tenant they belong
to. Values out of their physical range stored before ranges were checked are left out of
what is computed (domain/meter_values.register_kwh), so such a row is no failure at all.
"""

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from uuid import UUID

from chargeledger.domain.meter_values import within_ranges
from chargeledger.domain.session_detection import DetectorConfig
from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp.charger_events import record_charger_events
from chargeledger.ocpp.service import compute_transaction_session, stored_register_kwh
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")

PAGE_SIZE = 500
# Failures in a row with no success between after which a round stops: then the database (or
# the code) is at fault rather than an item, and trying every item would only fill the log.
MAX_FAILURES_IN_A_ROW = 5
FIRST_RETRY_MS = 60_000
LONGEST_RETRY_MS = 3_600_000


@dataclass
class SweepFailures:
    """The transactions the sweep failed on in this process, and when each may be tried
    again: 1, 2, 4, ... minutes after its last failure, at most an hour, so one that always
    fails costs an attempt an hour. In memory: a restarted process tries each once more."""

    # transaction id -> (failures so far, when it may be tried again)
    failing: dict[UUID, tuple[int, int]] = field(default_factory=dict)

    def due(self, transaction_id: UUID, now_ms: int) -> bool:
        failure = self.failing.get(transaction_id)
        return failure is None or failure[1] <= now_ms

    def failed(self, transaction_id: UUID, now_ms: int) -> int:
        """Count a failure; how many there have been."""
        count = self.failing.get(transaction_id, (0, 0))[0] + 1
        wait_ms = min(FIRST_RETRY_MS * 2 ** min(count - 1, 32), LONGEST_RETRY_MS)
        self.failing[transaction_id] = (count, now_ms + wait_ms)
        return count

    def succeeded(self, transaction_id: UUID) -> None:
        self.failing.pop(transaction_id, None)


_FAILURES = SweepFailures()


class _TooManyFailuresError(Exception):
    pass


@dataclass
class _Round:
    database: Database
    failures: SweepFailures
    now_ms: int
    failures_in_a_row: int = 0

    async def attempt(
        self, transaction_id: UUID, step: str, work: Callable[[], Awaitable[Any]]
    ) -> Any:
        """The work's result, or None when it failed (then logged and recorded)."""
        if not self.failures.due(transaction_id, self.now_ms):
            return None
        try:
            result = await work()
        except Exception as error:
            count = self.failures.failed(transaction_id, self.now_ms)
            await _report_failure(self.database, transaction_id, step, error, count, self.now_ms)
            self.failures_in_a_row += 1
            if self.failures_in_a_row >= MAX_FAILURES_IN_A_ROW:
                raise _TooManyFailuresError from None
            return None
        self.failures.succeeded(transaction_id)
        self.failures_in_a_row = 0
        return result


async def close_silent_transactions(
    database: Database,
    *,
    now_ms: int,
    timeout_ms: int,
    config: DetectorConfig,
    failures: SweepFailures | None = None,
) -> int:
    """Close transactions of chargers that went silent for longer than the timeout, at the
    last meter value we have, marked as closed by us (method "ocppTimeout"); then make every
    session still owed. Returns how many transactions were closed."""
    sweep = _Round(database, _FAILURES if failures is None else failures, now_ms)
    closed = 0
    try:
        after: UUID | None = None
        while True:
            async with database.read() as connection:
                silent = await ocpp_repository.silent_open_transactions(
                    connection, silent_since_ms=now_ms - timeout_ms, after=after, limit=PAGE_SIZE
                )
            for transaction_id in silent:
                if await sweep.attempt(
                    transaction_id,
                    "close",
                    partial(_close_silent, database, transaction_id, now_ms, timeout_ms),
                ):
                    closed += 1
            if len(silent) < PAGE_SIZE:
                break
            after = silent[-1]
        after = None
        while True:
            async with database.read() as connection:
                owed = await ocpp_repository.transactions_needing_sessions(
                    connection, after=after, limit=PAGE_SIZE
                )
            for transaction_id in owed:
                await sweep.attempt(
                    transaction_id,
                    "session",
                    partial(
                        compute_transaction_session,
                        database,
                        transaction_id=transaction_id,
                        config=config,
                        now_ms=now_ms,
                    ),
                )
            if len(owed) < PAGE_SIZE:
                break
            after = owed[-1]
    except _TooManyFailuresError:
        logger.error(
            "the OCPP sweep stops this round: %d transactions in a row failed",
            MAX_FAILURES_IN_A_ROW,
        )
    return closed


async def _close_silent(
    database: Database, transaction_id: UUID, now_ms: int, timeout_ms: int
) -> bool:
    """Close one silent transaction at its last meter value; False if it spoke meanwhile."""
    async with database.write() as connection:
        transaction = await ocpp_repository.transaction_by_id(
            connection, transaction_id=transaction_id
        )
        if transaction is None or transaction.status != "open":
            return False
        if transaction.last_message_ms >= now_ms - timeout_ms:
            return False  # it spoke meanwhile
        samples = await ocpp_repository.samples_of(connection, transaction_id=transaction_id)
        energies = [
            sample.energy_kwh
            for sample in map(within_ranges, samples)
            if sample.energy_kwh is not None
        ]
        start_kwh = stored_register_kwh(transaction.meter_start_wh)
        stop_kwh = energies[-1] if energies else start_kwh
        last_ms = max(
            [transaction.start_ms or transaction.created_ms, *(s.timestamp_ms for s in samples)]
        )
        await ocpp_repository.update_transaction(
            connection,
            transaction_id=transaction_id,
            status="timed-out",
            stop_ms=last_ms,
            meter_stop_wh=None if stop_kwh is None else stop_kwh * 1000,
            stop_reason="Timeout",
            needs_session=True,
        )
        return True


async def _report_failure(
    database: Database,
    transaction_id: UUID,
    step: str,
    error: Exception,
    count: int,
    now_ms: int,
) -> None:
    """Log a failure (its traceback the 1st, 10th, 100th, ... time) and record it on the
    charger, as far as the database lets us."""
    transaction = None
    try:
        async with database.read() as connection:
            transaction = await ocpp_repository.transaction_by_id(
                connection, transaction_id=transaction_id
            )
    except Exception:  # the database may be why it failed: the ids we have must do
        transaction = None
    entity_id = None if transaction is None else transaction.entity_id
    first_of_a_kind = _is_power_of_ten(count)
    logger.log(
        logging.ERROR if first_of_a_kind else logging.WARNING,
        "the OCPP sweep failed to %s transaction %s of charge point %s (failure %d: %s); "
        "it is tried again later, the others go on",
        "close" if step == "close" else "make the session of",
        transaction_id,
        entity_id,
        count,
        type(error).__name__,
        exc_info=error if first_of_a_kind else None,
    )
    if transaction is None or not first_of_a_kind:
        return
    try:
        await record_charger_events(
            database,
            transaction.entity_id,
            [
                (
                    "SweepFailed",
                    {
                        "transactionId": transaction.transaction_key,
                        "step": step,
                        "error": type(error).__name__,
                        "failures": count,
                    },
                )
            ],
            now_ms=now_ms,
        )
    except Exception as recording_error:
        logger.warning(
            "the failure of transaction %s could not be recorded: %s",
            transaction_id,
            type(recording_error).__name__,
        )


def _is_power_of_ten(count: int) -> bool:
    while count % 10 == 0:
        count //= 10
    return count == 1
