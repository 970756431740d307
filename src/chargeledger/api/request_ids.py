"""A request id for every request, and one access log line for it.

The id is the client's `X-Request-Id` when it is a sane token (a proxy or the client chose
it, so its logs and ours can be joined), else a new one; the answer echoes it, and every log
line written while the request is served carries it (structlog's context variables). A
WebSocket connection (a charger) gets one too, for all its lines."""

import logging
import re
import time
import uuid

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
# Where the id is kept in the scope, for handlers outside this middleware (the 500 handler).
SCOPE_KEY = "chargeledger.request_id"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

access_logger = logging.getLogger("chargeledger.access")


def _request_id_of(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            candidate: str = value.decode("latin-1")
            if _SANE_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def request_id_in(scope: Scope) -> str | None:
    request_id: str | None = scope.get(SCOPE_KEY)
    return request_id


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _request_id_of(scope)
        # In place: the framework's outermost error handler reads the same scope.
        scope[SCOPE_KEY] = request_id
        # Each request runs in its own task, so its context variables are its own.
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return

        status = 500  # what the client gets when the app raises before answering
        started_ns = time.perf_counter_ns()
        header = (_HEADER_KEY, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_logger.info(
                "request",
                extra={
                    "method": scope["method"],
                    # The path only: query strings carry continuation tokens and frames.
                    "path": scope["path"],
                    "status": status,
                    "duration_ms": round((time.perf_counter_ns() - started_ns) / 1e6, 3),
                    "client": client[0] if client else None,
                },
            )
