"""ASGI middleware that must see a request before routing: the body size limit."""

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chargeledger.api.problems import problem_response

MAX_BODY_BYTES = 1024 * 1024


def _too_large_detail(limit: int) -> str:
    return f"the request body is larger than the limit of {limit} bytes"


class BodySizeLimitMiddleware:
    """413 for bodies over the limit, whether announced by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        for name, value in scope.get("headers", ()):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                response = problem_response(
                    413, _too_large_detail(limit), headers={"Connection": "close"}
                )
                await response(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Raised inside the route's body read; the problem handlers answer it.
                    raise HTTPException(413, _too_large_detail(limit))
            return message

        await self.app(scope, limited_receive, send)
