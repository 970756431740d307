"""The webhook dispatcher: every serving process runs one; together they deliver every event.

It claims due deliveries (webhooks/deliveries_repository.py: a lease, FOR UPDATE SKIP LOCKED),
sends them concurrently up to its concurrency, and records each outcome in a transaction of
its own. It looks for due deliveries every poll interval, and at once when woken: by this
process's own commits (webhooks/wakeup) and, on PostgreSQL, by NOTIFY on
`chargeledger_webhook_deliveries` from any process (a dedicated connection that LISTENs and
reconnects when it drops; the poll covers the gap).

On SQLite one process delivers: the one holding an exclusive lock on `<db>.dispatcher.lock`.
Others try to take it now and then; the operating system releases it when its holder exits,
however it exits.
"""

import asyncio
import contextlib
import fcntl
import heapq
import logging
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from chargeledger.domain.retry_schedule import RetrySchedule
from chargeledger.events.recording import DELIVERIES_CHANNEL
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from chargeledger.webhooks import wakeup
from chargeledger.webhooks.deliveries_repository import (
    ClaimedDelivery,
    any_due,
    claim_due,
    record_attempt,
)
from chargeledger.webhooks.sending import Outcome, Sender
from chargeledger.webhooks.signing import sign_headers
from chargeledger.webhooks.targets import parse_networks

logger = logging.getLogger("chargeledger.webhooks")

# How often a process without the SQLite lock tries to take it, and how long the PostgreSQL
# listener waits before reconnecting.
LOCK_RETRY_S = 5.0
LISTEN_RETRY_S = 2.0
# How long stopping waits for deliveries in flight to be recorded before abandoning them (a
# delivery abandoned is sent again when its lease runs out).
STOP_GRACE_S = 5.0
# How long stopping waits for a cancelled part to end before leaving it behind.
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class DispatcherConfig:
    timeout_s: float = 10.0
    lease_ms: int = 60_000
    poll_s: float = 1.0
    concurrency: int = 32
    disable_after_ms: int = 5 * 86_400_000
    retry_schedule: RetrySchedule = field(default_factory=RetrySchedule)
    allowed_networks: str = ""

    @classmethod
    def from_settings(cls, settings: Settings) -> "DispatcherConfig":
        return cls(
            timeout_s=settings.webhook_timeout_seconds,
            lease_ms=round(settings.webhook_lease_seconds * 1000),
            poll_s=settings.webhook_poll_seconds,
            concurrency=settings.webhook_concurrency,
            disable_after_ms=round(settings.webhook_disable_after_hours * 3_600_000),
            retry_schedule=RetrySchedule(scale=settings.webhook_retry_scale),
            allowed_networks=settings.webhook_allowed_networks,
        )


class Dispatcher:
    def __init__(
        self,
        database: Database,
        config: DispatcherConfig,
        *,
        clock_ms: Callable[[], int],
        draw: Callable[[], float] = random.random,
        lock_retry_s: float = LOCK_RETRY_S,
    ) -> None:
        self.database = database
        self.config = config
        self._clock_ms = clock_ms
        self._draw = draw
        self._lock_retry_s = lock_retry_s
        self._sender = Sender(
            allowed_networks=parse_networks(config.allowed_networks),
            timeout_s=config.timeout_s,
            max_connections=config.concurrency,
        )
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._retries_due_ms: list[int] = []  # a heap
        self._task: asyncio.Task[None] | None = None
        self._lock_fd: int | None = None
        # True while this process is the one that delivers (always, on PostgreSQL).
        self.delivering = False
        # Set while the PostgreSQL listener is connected and listening.
        self.listening = asyncio.Event()
        self._waiting = False

    @property
    def idle(self) -> bool:
        """Waiting for a wake-up or the next poll, with no wake-up pending (for tests)."""
        return self._waiting and not self._wake.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        """Stops within a bounded time whatever a connection does: a part that does not end
        when cancelled is logged with where it waits and left behind, so a process (or a test)
        shutting down never hangs on its dispatcher. What it held is not lost: a delivery's
        lease runs out and another try follows."""
        if self._task is not None:
            self._task.cancel()
            await _settle({self._task}, "the dispatcher loop")
            self._task = None
        if self._in_flight:
            _, still_running = await asyncio.wait(self._in_flight, timeout=STOP_GRACE_S)
            for task in still_running:
                task.cancel()
            await _settle(still_running, "deliveries in flight")
        try:
            await asyncio.wait_for(self._sender.close(), timeout=STOP_TIMEOUT_S)
        except TimeoutError:
            logger.error("closing the webhook sender's connections did not end; left behind")
        self._release_lock()

    async def _run(self) -> None:
        wakeup.register(self._wake)
        listener: asyncio.Task[None] | None = None
        try:
            if self.database.dialect == "sqlite":
                await self._wait_for_lock()
            else:
                listener = asyncio.create_task(self._listen(), name="webhook-listener")
            self.delivering = True
            logger.info("delivering webhooks from this process")
            while True:
                self._wake.clear()
                claimed_at_ms = self._clock_ms()
                try:
                    await self._claim_and_send()
                except Exception:
                    logger.exception("claiming webhook deliveries failed; trying again")
                self._waiting = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._wait_s(claimed_at_ms))
                self._waiting = False
        finally:
            wakeup.unregister(self._wake)
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    def _wait_s(self, claimed_at_ms: int) -> float:
        """Until the next poll, or sooner when a retry this process scheduled falls due
        (another process's retries are found by the poll). Retries due by the time the last
        claim began were claimed by it (or not claimable, then the poll finds them)."""
        while self._retries_due_ms and self._retries_due_ms[0] <= claimed_at_ms:
            heapq.heappop(self._retries_due_ms)
        if not self._retries_due_ms:
            return self.config.poll_s
        due_in_s = (self._retries_due_ms[0] - self._clock_ms()) / 1000
        return max(0.0, min(self.config.poll_s, due_in_s))

    async def _claim_and_send(self) -> None:
        """Claim as many due deliveries as there are free slots, again while batches come
        back full; each is sent in a task of its own."""
        while True:
            free = self.config.concurrency - len(self._in_flight)
            if free <= 0:
                return  # a finishing delivery wakes the loop
            async with self.database.read() as connection:
                if not await any_due(connection, now_ms=self._clock_ms()):
                    return
            async with self.database.write() as connection:
                claimed = await claim_due(
                    connection,
                    now_ms=self._clock_ms(),
                    lease_ms=self.config.lease_ms,
                    limit=free,
                )
            for delivery in claimed:
                task = asyncio.create_task(self._deliver(delivery))
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if len(claimed) < free:
                return

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        # Free slots, and possibly the next delivery of the same session now due. Claimed
        # when half the slots are free, not at every finish: a claim is two transactions, and
        # one per delivery doubled the dispatcher's work under load. With little in flight
        # (a session's next version waiting for this one) that is at once.
        if len(self._in_flight) <= self.config.concurrency // 2:
            self._wake.set()

    async def _deliver(self, delivery: ClaimedDelivery) -> None:
        started_ms = self._clock_ms()
        try:
            headers = sign_headers(
                delivery.signing_secrets,
                msg_id=str(delivery.event_id),
                timestamp_s=started_ms // 1000,
                body=delivery.payload_json,
            )
            outcome = await self._sender.send(
                delivery.url, body=delivery.payload_json, headers=headers
            )
        except Exception as error:
            # Ours, not the receiver's (an unusable secret, a URL the client cannot send to):
            # a failed attempt on record, rather than a retry after every lease, unrecorded.
            logger.exception("sending a webhook failed", extra=_fields(delivery))
            outcome = Outcome(None, f"not sent: {type(error).__name__}: {error}"[:500], 0)
        try:
            await self._record(delivery, outcome, started_ms=started_ms)
        except Exception:
            # The lease runs out and the delivery is tried again: at least once, not lost.
            logger.exception("recording a webhook attempt failed", extra=_fields(delivery))

    async def _record(
        self, delivery: ClaimedDelivery, outcome: Outcome, *, started_ms: int
    ) -> None:
        async with self.database.write() as connection:
            recorded = await record_attempt(
                connection,
                delivery,
                outcome,
                started_ms=started_ms,
                now_ms=self._clock_ms(),
                retry_delay_ms=lambda failures: self.config.retry_schedule.delay_ms(
                    failures, self._draw
                ),
                disable_after_ms=self.config.disable_after_ms,
            )
        if recorded.next_attempt_ms is not None:
            heapq.heappush(self._retries_due_ms, recorded.next_attempt_ms)
        if not outcome.succeeded:
            logger.info(
                "webhook attempt failed: %s",
                outcome.error,
                extra={**_fields(delivery), "status": recorded.status},
            )

    async def _listen(self) -> None:
        """Wake the loop on every NOTIFY; reconnect when the connection drops. A NOTIFY sent
        while disconnected is not lost work: the poll finds the delivery."""
        dsn = make_url(self.database.url).set(drivername="postgresql")
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(
                    dsn.render_as_string(hide_password=False), timeout=10
                )
                closed = asyncio.Event()
                connection.add_termination_listener(lambda _connection, c=closed: c.set())
                await connection.add_listener(
                    DELIVERIES_CHANNEL, lambda *_arguments: self._wake.set()
                )
                self.listening.set()
                # Anything queued while we were not listening is looked for now.
                self._wake.set()
                await closed.wait()
                logger.warning("the webhook listener's connection closed; reconnecting")
            except Exception:
                logger.warning("the webhook listener cannot connect; trying again", exc_info=True)
            finally:
                self.listening.clear()
                if connection is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(connection.close(timeout=2))
            await asyncio.sleep(LISTEN_RETRY_S)

    async def _wait_for_lock(self) -> None:
        # Polled: nothing announces that another process let the lock go.
        while True:
            if self._take_lock():
                return
            await asyncio.sleep(self._lock_retry_s)

    def _take_lock(self) -> bool:
        database_path = make_url(self.database.url).database
        if not database_path or database_path == ":memory:":
            return True  # a database no other process can open
        path = Path(f"{database_path}.dispatcher.lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._lock_fd = fd
        return True

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor releases the lock
            self._lock_fd = None
        self.delivering = False


def _fields(delivery: ClaimedDelivery) -> dict[str, str]:
    return {
        "delivery_id": str(delivery.id),
        "subscription_id": str(delivery.subscription_id),
        "event_id": str(delivery.event_id),
    }


async def _settle(tasks: set[asyncio.Task[None]], what: str) -> None:
    """Waits for cancelled tasks to end, at most STOP_TIMEOUT_S; logs the stack of any that
    does not (a cancellation swallowed somewhere below us) instead of waiting for ever."""
    if not tasks:
        return
    _, stuck = await asyncio.wait(tasks, timeout=STOP_TIMEOUT_S)
    for task in stuck:
        frames = "".join(
            f"\n  {frame.f_code.co_filename}:{frame.f_lineno}" for frame in task.get_stack()
        )
        logger.error(
            "stopping the webhook dispatcher: %s did not end; left behind at%s", what, frames
        )
    for task in tasks - stuck:
        if not task.cancelled() and task.exception() is not None:
            logger.error(
                "stopping the webhook dispatcher: %s failed", what, exc_info=task.exception()
            )
