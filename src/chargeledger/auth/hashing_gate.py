"""A bound on the argon2id hashes one process runs at once, and on the queue in front of it.

Each verification of a client secret costs tens of milliseconds of CPU and 64 MiB of memory
(at the production cost). Unbounded, a flood of wrong secrets starts one per request: memory
grows with the flood and every legitimate request waits behind all of it. Here at most
`concurrency` hashes run, at most `max_waiting` requests wait for one, and none waits longer
than `max_wait_s`; beyond that the request is refused at once (errors.HashingBusyError, 503
with Retry-After), which costs nothing and tells the client when to come back.

A flood from many addresses fills that queue with wrong secrets, and a legitimate client would
be refused along with them. So a request the rate limits know (a client authenticating from an
address it authenticated from within the day, api/rate_limits.py) waits in a lane of its own:
it is served before every ordinary waiter and never refused for the ordinary queue being full.
"""

import asyncio
import contextlib
import math
import os
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from chargeledger.errors import HashingBusyError

T = TypeVar("T")


# How much lower than the server's other threads hashing runs (Linux niceness, per thread):
# during a flood the hashing threads are always busy, and at equal priority they took the CPU
# the event loop needed to answer everybody else (docs/benchmarks.md, "Abuse").
HASHING_NICENESS = 10


def _yield_to_others() -> None:
    """Runs in each hashing thread as it starts: lowers that thread's priority only."""
    with contextlib.suppress(AttributeError, OSError):  # not on this platform: run as is
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)


class HashingGate:
    """One per process (it holds an asyncio semaphore, made inside the server's loop)."""

    def __init__(self, *, concurrency: int, max_waiting: int, max_wait_s: float) -> None:
        self.concurrency = concurrency
        self.max_waiting = max_waiting
        self.max_wait_s = max_wait_s
        self._free_slots = concurrency
        # Waiters for a slot, oldest first: the known lane is always served first.
        self._known_lane: deque[asyncio.Future[None]] = deque()
        self._ordinary_lane: deque[asyncio.Future[None]] = deque()
        # Threads of their own: hashes neither wait behind nor hold up the default pool's
        # other work (file access, the rate limiter's housekeeping).
        self._threads = ThreadPoolExecutor(
            max_workers=concurrency, thread_name_prefix="argon2", initializer=_yield_to_others
        )
        self._waiting = 0
        # What the refusal's Retry-After says: by then the queue in front has been worked off.
        self._retry_after_s = max(1, math.ceil(max_wait_s))

    @property
    def waiting(self) -> int:
        return self._waiting

    async def run(self, function: Callable[..., T], *args: Any, known: bool = False) -> T:
        """`function(*args)` in a worker thread once a slot is free; HashingBusyError if the
        queue is full or the slot does not come within `max_wait_s`. A `known` request goes
        before every ordinary one and is not refused for the ordinary queue being full."""
        await self._acquire(known=known)
        try:
            work = asyncio.get_running_loop().run_in_executor(self._threads, function, *args)
        except BaseException:
            self._release()
            raise
        # A thread cannot be stopped: if the request is cancelled (its client went away), the
        # slot stays taken until the hash has really finished, so cancellations cannot push
        # the number of running hashes past the bound.
        work.add_done_callback(self._release_after)
        return await asyncio.shield(work)

    def _release_after(self, work: "asyncio.Future[Any]") -> None:
        self._release()
        if not work.cancelled():
            work.exception()  # seen here, so an abandoned failure is not logged as unretrieved

    def _release(self) -> None:
        for lane in (self._known_lane, self._ordinary_lane):
            while lane:
                waiter = lane.popleft()
                if not waiter.done():
                    waiter.set_result(None)  # the slot passes to the waiter
                    return
        self._free_slots += 1

    async def _acquire(self, *, known: bool) -> None:
        if self._free_slots > 0 and not self._known_lane and not self._ordinary_lane:
            self._free_slots -= 1
            return
        if not known and self._waiting >= self.max_waiting:
            raise HashingBusyError(
                f"{self._waiting} authentications are already waiting to be checked; "
                f"try again in {self._retry_after_s} s",
                retry_after_s=self._retry_after_s,
            )
        lane = self._known_lane if known else self._ordinary_lane
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lane.append(waiter)
        if not known:
            self._waiting += 1
        try:
            async with asyncio.timeout(self.max_wait_s):
                await waiter
        except TimeoutError:
            if waiter.done() and not waiter.cancelled():
                return  # handed a slot just as the time ran out: it is ours
            raise HashingBusyError(
                f"the authentication could not be checked within {self.max_wait_s:g} s; "
                f"try again in {self._retry_after_s} s",
                retry_after_s=self._retry_after_s,
            ) from None
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release()  # cancelled after being handed a slot: pass it on
            raise
        finally:
            with contextlib.suppress(ValueError):
                lane.remove(waiter)
            if not known:
                self._waiting -= 1
