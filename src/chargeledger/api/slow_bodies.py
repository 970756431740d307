"""Slow request bodies cannot hold the server (slowloris on the body).

Granian bounds how long a client may take over its headers, but once they are in, the request
is the app's, and a client trickling its declared body a byte every few seconds holds a task
and one of the worker's request slots for as long as it likes: a thousand of them leave no
slot for anybody else. So here:

- a body must keep up a minimum pace, as Apache's mod_reqtimeout does (`body=20,MinRate=500`):
  it may take `grace_s` plus one second per `min_rate_bytes_per_s` received; slower, the
  request is answered 408 and the connection closed;
- one address has at most `max_per_address` bodies being received at once; a request beyond
  that waits (costing nothing but a parked task) until one of its address's bodies is in, and
  is answered 429 if none is within the grace period. Answering 429 at once instead was worse:
  the attacker reconnected at once, and the stream of refusals took the worker's CPU.

A client on a slow link sending a 16 MiB batch at 64 KiB/s is far inside both.
"""

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargeledger.kit.problems import problem_response

DEFAULT_GRACE_S = 10.0
DEFAULT_MIN_RATE_BYTES_PER_S = 1024
DEFAULT_MAX_PER_ADDRESS = 128
RETRY_AFTER_S = 1


def peer_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _has_body(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return value.strip() not in (b"", b"0")
        if name == b"transfer-encoding":
            return True
    return False


class SlowBodyMiddleware:
    """408 for bodies slower than the minimum pace; 429 beyond the bodies in flight per address."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        min_rate_bytes_per_s: int = DEFAULT_MIN_RATE_BYTES_PER_S,
        max_per_address: int = DEFAULT_MAX_PER_ADDRESS,
        address_of: Callable[[Scope], str] = peer_address,
    ) -> None:
        self.app = app
        self.grace_s = grace_s
        self.min_rate_bytes_per_s = min_rate_bytes_per_s
        self.max_per_address = max_per_address
        self.address_of = address_of
        # Bodies being received, per address; in this process (each worker guards its own slots).
        self.in_flight: Counter[str] = Counter()
        # Requests waiting for one of their address's bodies to be in, oldest first.
        self.waiting: dict[str, deque[asyncio.Future[None]]] = {}

    async def _wait_for_slot(self, address: str) -> bool:
        """True once the address is under its cap (counted in), False after the grace period."""
        if self.in_flight[address] < self.max_per_address:
            self.in_flight[address] += 1
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(address, deque()).append(waiter)
        try:
            async with asyncio.timeout(self.grace_s):
                await waiter  # resolved by _release, which hands its count over to us
            return True
        except TimeoutError:
            # Handed a slot just as the time ran out: it is ours, and must not leak.
            return waiter.done() and not waiter.cancelled()
        finally:
            queue = self.waiting.get(address)
            if queue is not None:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
                if not queue:
                    del self.waiting[address]

    def _release(self, address: str) -> None:
        queue = self.waiting.get(address)
        while queue:
            waiter = queue.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter: the count stays
                return
        self.in_flight[address] -= 1
        if self.in_flight[address] <= 0:
            del self.in_flight[address]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _has_body(scope):
            await self.app(scope, receive, send)
            return
        address = self.address_of(scope)
        if not await self._wait_for_slot(address):
            response = problem_response(
                429,
                f"this address already has {self.max_per_address} request bodies in flight; "
                "finish those first",
                headers={"Retry-After": str(RETRY_AFTER_S), "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        receiving = True
        started_s = time.monotonic()
        received_bytes = 0

        def done_receiving() -> None:
            nonlocal receiving
            if receiving:
                receiving = False
                self._release(address)

        async def paced_receive() -> Message:
            nonlocal received_bytes
            if not receiving:
                return await receive()
            deadline_s = started_s + self.grace_s + received_bytes / self.min_rate_bytes_per_s
            try:
                async with asyncio.timeout(max(0.0, deadline_s - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                done_receiving()
                # Raised inside the route's body read; the problem handlers answer it.
                raise HTTPException(
                    408,
                    f"the request body arrived too slowly: allowed are {self.grace_s:g} s plus "
                    f"1 s per {self.min_rate_bytes_per_s} bytes",
                    headers={"Connection": "close"},
                ) from None
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if not message.get("more_body", False):
                    done_receiving()
            else:
                done_receiving()
            return message

        try:
            await self.app(scope, paced_receive, send)
        finally:
            done_receiving()
