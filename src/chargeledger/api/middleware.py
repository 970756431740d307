"""ASGI middleware that must see a request before routing: the body size limit."""

import asyncio
import contextlib
import re
from collections.abc import Sequence

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargeledger.kit.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024
# An oversized body is read and discarded up to this much, so the client, still sending,
# can read our 413 instead of seeing its connection reset. Beyond it we just hang up.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
DRAIN_TIMEOUT_S = 10.0


def _too_large_detail(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


async def _drain(receive: Receive, already_read: int) -> None:
    read = already_read
    while read <= MAX_DRAIN_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        read += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int = MAX_BODY_BYTES,
        larger_limits: Sequence[tuple[re.Pattern[str], int]] = (),
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.larger_limits = larger_limits

    def _limit(self, path: str) -> int:
        for pattern, limit in self.larger_limits:
            if pattern.match(path):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope.get("path", ""))
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                response = problem_response(
                    413, _too_large_detail(limit), headers={"Connection": "close"}
                )
                # Answer at once (a client that waits before sending gets its 413), then read
                # what is being sent anyway so the connection closes instead of resetting.
                await response(scope, receive, send)
                if int(value) <= MAX_DRAIN_BYTES:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(_drain(receive, 0), DRAIN_TIMEOUT_S)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if message.get("more_body", False):
                        await _drain(receive, received)
                    # Raised inside the route's body read; the problem handlers answer it.
                    raise HTTPException(
                        413, _too_large_detail(limit), headers={"Connection": "close"}
                    )
            return message

        await self.app(scope, limited_receive, send)
