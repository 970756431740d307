"""A bound on the argon2id hashes one process runs at once, and on the queue in front of it.

Each verification of a client secret costs tens of milliseconds of CPU and 64 MiB of memory
(at the production cost). Unbounded, a flood of wrong secrets starts one per request: memory
grows with the flood and every legitimate request waits behind all of it. Here at most
`concurrency` hashes run, at most `max_waiting` requests wait for one, and none waits longer
than `max_wait_s`; beyond that the request is refused at once (errors.HashingBusyError, 503
with Retry-After), which costs nothing and tells the client when to come back.
"""

import asyncio
import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from chargeledger.errors import HashingBusyError

T = TypeVar("T")


class HashingGate:
    """One per process (it holds an asyncio semaphore, made inside the server's loop)."""

    def __init__(self, *, concurrency: int, max_waiting: int, max_wait_s: float) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self._slots = asyncio.Semaphore(concurrency)
        # Threads of their own: hashes neither wait behind nor hold up the default pool's
        # other work (file access, the rate limiter's housekeeping).
        self._threads = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="argon2")
        self._waiting = 0
        # What the refusal's Retry-After says: by then the queue in front has been worked off.
        self._retry_after_s = max(1, math.ceil(max_wait_s))

    @property
    def waiting(self) -> int:
        return self._waiting

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """`function(*args)` in a worker thread once a slot is free; HashingBusyError if the
        queue is full or the slot does not come within `max_wait_s`."""
        await self._acquire()
        try:
            work = asyncio.get_running_loop().run_in_executor(self._threads, function, *args)
        except BaseException:
            self._slots.release()
            raise
        # A thread cannot be stopped: if the request is cancelled (its client went away), the
        # slot stays taken until the hash has really finished, so cancellations cannot push
        # the number of running hashes past the bound.
        work.add_done_callback(self._release_after)
        return await asyncio.shield(work)

    def _release_after(self, work: "asyncio.Future[Any]") -> None:
        self._slots.release()
        if not work.cancelled():
            work.exception()  # seen here, so an abandoned failure is not logged as unretrieved

    async def _acquire(self) -> None:
        if self._slots.locked() and self._waiting >= self.max_waiting:
            raise HashingBusyError(
                f"{self._waiting} authentications are already waiting to be checked; "
                f"try again in {self._retry_after_s} s",
                retry_after_s=self._retry_after_s,
            )
        self._waiting += 1
        try:
            async with asyncio.timeout(self.max_wait_s):
                await self._slots.acquire()
        except TimeoutError:
            raise HashingBusyError(
                f"the authentication could not be checked within {self.max_wait_s:g} s; "
                f"try again in {self._retry_after_s} s",
                retry_after_s=self._retry_after_s,
            ) from None
        finally:
            self._waiting -= 1
