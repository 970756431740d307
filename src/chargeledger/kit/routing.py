"""A route class that refuses request bodies that are not JSON (415) before parsing them."""

from collections.abc import Callable, Coroutine
from email.message import Message
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from chargeledger.kit.problems import problem_response


def is_json_media_type(content_type: str) -> bool:
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def _discard_body(request: Request) -> None:
    """Read the refused body to its end (the body-size middleware bounds it) before answering:
    a client still sending a chunked body would otherwise see its connection closed instead of
    reading the 415, which a loaded machine makes likely."""
    async for _ in request.stream():
        pass


class JsonBodyRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def json_only(request: Request) -> Response:
            content_type = request.headers.get("content-type")
            if content_type is None:
                # No body at all is a validation problem (400), not a media type problem.
                if request.headers.get("content-length", "0") != "0" or (
                    "transfer-encoding" in request.headers
                ):
                    await _discard_body(request)
                    return problem_response(
                        415, "the request has a body but no Content-Type; send application/json"
                    )
            elif not is_json_media_type(content_type):
                await _discard_body(request)
                return problem_response(
                    415, f"Content-Type {content_type} is not supported; send application/json"
                )
            return await handler(request)

        return json_only
