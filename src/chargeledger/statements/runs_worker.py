"""The statement-run worker: every serving process runs one; together they carry out the runs.

It claims a pending run, or a running one whose lease ran out (its worker died or hangs), with
runs_repository.claim_run, and walks the tenant's drivers in pages (ordered by id): each driver
in a transaction of its own (runs_service.driver_statement), then the progress is recorded and
the lease renewed (also within a page, when half the lease has gone by). A run taken over walks
every driver again: a driver already finalised for the period counts as done at once, so
nothing is finalised twice. It looks for runs every poll interval, and at once when this
process creates one (runs_service.runs_queued); another process's wait for the poll.
"""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from uuid import UUID

import orjson

from chargeledger.domain.reimbursement.money import plain
from chargeledger.drivers.repository import count_drivers, driver_ids_page
from chargeledger.statements import runs_repository as repository
from chargeledger.statements.runs_repository import FAILED, SUCCEEDED, Lease, Progress
from chargeledger.statements.runs_service import (
    DriverOutcome,
    driver_statement,
    stop_waking,
    wake_on_new_runs,
)
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.statements")

# How long stopping waits for the loop to end once cancelled before leaving it behind.
STOP_TIMEOUT_S = 10.0
# A problem's text as recorded in the run (a draft can list a problem per line).
MAX_PROBLEM_CHARACTERS = 1000


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    # Long enough for a page of drivers with room to spare; a run whose worker died is taken
    # over after this.
    lease_ms: int = 300_000
    poll_s: float = 2.0
    page_size: int = 200


class LeaseLostError(Exception):
    """Another worker took the run over: this one stops, writing nothing more."""


@dataclass
class ClaimedRun:
    """A run this worker holds, and its progress so far."""

    id: UUID
    tenant_id: UUID
    period_start: date
    period_end: date
    finalise: bool
    lease: Lease
    renewed_ms: int
    after: UUID | None = None
    drivers_done: int = 0
    total: Decimal | None = None
    currencies: set[str] = field(default_factory=set)
    problems: list[dict[str, str]] = field(default_factory=list)
    finished_walk: bool = False

    def count(self, driver_id: UUID, outcome: DriverOutcome) -> None:
        self.drivers_done += 1
        if outcome.problems:
            text = "; ".join(outcome.problems)
            if len(text) > MAX_PROBLEM_CHARACTERS:
                text = text[: MAX_PROBLEM_CHARACTERS - 1] + "…"
            self.problems.append({"driverId": str(driver_id), "problem": text})
            return
        if outcome.total is None or outcome.currency is None:
            return  # a driver deleted meanwhile: nothing to add
        self.currencies.add(outcome.currency)
        self.total = outcome.total if self.total is None else self.total + outcome.total

    @property
    def total_amount(self) -> str | None:
        # A sum over currencies means nothing: then there is no total.
        if self.total is None or len(self.currencies) != 1:
            return None
        return plain(self.total)

    def progress(self) -> Progress:
        return Progress(
            drivers_done=self.drivers_done,
            total_amount=self.total_amount,
            problems_json=orjson.dumps(self.problems).decode(),
        )


class StatementRunWorker:
    def __init__(
        self,
        database: Database,
        config: WorkerConfig | None = None,
        *,
        clock_ms: Callable[[], int],
    ) -> None:
        self.database = database
        self.config = config or WorkerConfig()
        self._clock_ms = clock_ms
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._waiting = False

    @property
    def idle(self) -> bool:
        """Waiting for a wake-up or the next poll, with no wake-up pending (for tests)."""
        return self._waiting and not self._wake.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="statement-run-worker")

    async def stop(self) -> None:
        """Stops within a bounded time: the driver in hand is rolled back, the run keeps its
        lease until it runs out, then another worker (or this process, restarted) resumes it."""
        if self._task is None:
            return
        self._task.cancel()
        _, stuck = await asyncio.wait({self._task}, timeout=STOP_TIMEOUT_S)
        if stuck:
            frames = "".join(
                f"\n  {frame.f_code.co_filename}:{frame.f_lineno}"
                for frame in self._task.get_stack()
            )
            logger.error("stopping the statement-run worker: it did not end; left at%s", frames)
        self._task = None

    async def _run(self) -> None:
        wake_on_new_runs(self._wake)
        try:
            while True:
                self._wake.clear()
                try:
                    while await self.run_once():
                        pass
                except Exception:
                    logger.exception("claiming a statement run failed; trying again")
                self._waiting = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self.config.poll_s)
                self._waiting = False
        finally:
            stop_waking(self._wake)

    async def run_once(self) -> bool:
        """Claim one run and carry it out to its end; False when there was none to claim."""
        run = await self.claim()
        if run is None:
            return False
        try:
            while await self.walk_page(run):
                pass
            await self.finish(run)
        except LeaseLostError:
            logger.warning("statement run %s was taken over by another worker", run.id)
        except Exception as error:
            logger.exception("statement run %s failed", run.id)
            with contextlib.suppress(LeaseLostError):
                await self.finish(run, FAILED, error=f"{type(error).__name__}: {error}"[:500])
        return True

    async def claim(self) -> ClaimedRun | None:
        now_ms = self._clock_ms()
        async with self.database.read() as connection:
            if not await repository.any_claimable(connection, now_ms=now_ms):
                return None
        async with self.database.write() as connection:
            row = await repository.claim_run(
                connection,
                now_ms=now_ms,
                lease_ms=self.config.lease_ms,
                driver_count=count_drivers,
            )
        if row is None:
            return None
        logger.info(
            "statement run %s: %s drivers, %s to %s%s",
            row.id,
            row.driver_count,
            row.period_start,
            row.period_end,
            ", finalising" if row.finalise else "",
        )
        return ClaimedRun(
            id=row.id,
            tenant_id=row.tenant_id,
            period_start=date.fromisoformat(row.period_start),
            period_end=date.fromisoformat(row.period_end),
            finalise=row.finalise,
            lease=Lease(row.id, row.lease_until_ms),
            renewed_ms=now_ms,
        )

    async def walk_page(self, run: ClaimedRun) -> bool:
        """The next page of drivers, then the progress and a renewed lease; True while more
        drivers may follow. Raises LeaseLostError when the run is no longer this worker's."""
        if run.finished_walk:
            return False
        async with self.database.read() as connection:
            driver_ids = await driver_ids_page(
                connection, run.tenant_id, after=run.after, limit=self.config.page_size
            )
        for driver_id in driver_ids:
            outcome = await driver_statement(
                self.database,
                tenant_id=run.tenant_id,
                driver_id=driver_id,
                period_start=run.period_start,
                period_end=run.period_end,
                finalise=run.finalise,
                now_ms=self._clock_ms(),
            )
            run.count(driver_id, outcome)
            run.after = driver_id
            if self._clock_ms() - run.renewed_ms > self.config.lease_ms // 2:
                await self._renew(run)
        run.finished_walk = len(driver_ids) < self.config.page_size
        if not run.finished_walk:
            await self._renew(run)
        return not run.finished_walk

    async def _renew(self, run: ClaimedRun) -> None:
        now_ms = self._clock_ms()
        new_lease = Lease(run.id, now_ms + self.config.lease_ms)
        async with self.database.write() as connection:
            held = await repository.record_progress(
                connection,
                lease=run.lease,
                new_until_ms=new_lease.until_ms,
                progress=run.progress(),
            )
        if not held:
            raise LeaseLostError(run.id)
        run.lease = new_lease
        run.renewed_ms = now_ms

    async def finish(
        self, run: ClaimedRun, status: str = SUCCEEDED, *, error: str | None = None
    ) -> None:
        """The run's end, with its progress; LeaseLostError when it is no longer ours."""
        async with self.database.write() as connection:
            held = await repository.finish_run(
                connection,
                lease=run.lease,
                status=status,
                now_ms=self._clock_ms(),
                error=error,
                progress=run.progress(),
            )
        if not held:
            raise LeaseLostError(run.id)
        logger.info(
            "statement run %s %s: %s drivers, %s with problems",
            run.id,
            status,
            run.drivers_done,
            len(run.problems),
        )
