"""RFC 9457 problem details for every error, including the framework's own: the app's handlers."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from chargeledger.api.request_ids import HEADER as REQUEST_ID_HEADER
from chargeledger.api.request_ids import request_id_in
from chargeledger.errors import ChargeLedgerError, DatabaseUnavailableError, UnauthorizedError
from chargeledger.kit.problems import problem_response
from chargeledger.storage.unavailability import unavailability

logger = logging.getLogger("chargeledger.api")

WWW_AUTHENTICATE = 'Bearer realm="chargeledger"'


def _describe_location(location: tuple[Any, ...]) -> tuple[str, str]:
    """('query', 'pageSize') -> ('query', 'pageSize'); ('body', 'charge', 'total') -> dotted."""
    if not location:
        return "body", "body"
    where, *path = location
    if where not in ("query", "path", "header", "body", "cookie"):
        return "body", ".".join(str(part) for part in location)
    name = ".".join(str(part) for part in path if not isinstance(part, int) or where == "body")
    return str(where), name or str(where)


def _validation_message(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({reason})" if reason else "the body is not valid JSON"
    if error.get("type") == "missing":
        return "is required"
    message = str(error.get("msg", "is invalid"))
    return message.removeprefix("Value error, ")


async def _on_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        where, name = _describe_location(tuple(error.get("loc", ())))
        if error.get("type") == "json_invalid":
            name = "body"
        errors.append({"name": name, "in": where, "detail": _validation_message(error)})
    detail = "; ".join(f"{e['name']}: {e['detail']}" for e in errors) or "the request is invalid"
    return problem_response(
        400,
        detail,
        title="Invalid input",
        type_="urn:chargeledger:problem:invalid-input",
        errors=errors,
    )


async def _on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ChargeLedgerError)
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if isinstance(exc, UnauthorizedError) else {}
    # Errors that pass (a limit, an unavailable database) say when to come back.
    retry_after_s = getattr(exc, "retry_after_s", None)
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    if isinstance(exc, DatabaseUnavailableError):
        # The cause's type only: a driver's message can quote the statement's parameters.
        cause = exc.__cause__
        cause = getattr(cause, "orig", None) or cause
        logger.warning(
            "database unavailable: %s",
            exc.detail,
            extra={"cause": None if cause is None else type(cause).__name__},
        )
    return problem_response(
        exc.status,
        exc.detail,
        title=exc.title,
        type_=exc.type,
        errors=exc.errors,
        headers=headers or None,
    )


_HTTP_DETAILS = {
    404: "there is no such resource; see /docs for the API",
    405: "this resource does not support that method",
}


def _allowed_methods(request: Request) -> str:
    """Every method of every route at this path. Starlette's own Allow names only the first
    route that matched the path, but GET and POST of one path are separate routes here."""
    methods: set[str] = set()
    for path_regex, route_methods in request.app.state.route_methods:
        if path_regex.match(request.url.path):
            methods.update(route_methods)
    return ", ".join(sorted(methods))


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else None
    if detail is None or detail == HTTPStatus(exc.status_code).phrase:
        detail = _HTTP_DETAILS.get(exc.status_code, HTTPStatus(exc.status_code).phrase)
    headers = dict(exc.headers or {})
    if exc.status_code == 401:
        headers["WWW-Authenticate"] = WWW_AUTHENTICATE
    if exc.status_code == 405:
        headers = {name: value for name, value in headers.items() if name.lower() != "allow"}
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, detail, headers=headers or None)


async def _on_unexpected_error(request: Request, exc: Exception) -> Response:
    reason = unavailability(exc, connecting=False)
    if reason is not None:  # a database error raised outside Database.read() and write()
        unavailable = DatabaseUnavailableError(reason)
        unavailable.__cause__ = exc
        response = await _on_domain_error(request, unavailable)
    else:
        logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        response = problem_response(500, "an unexpected error occurred; it has been logged")
    # This handler runs outside every middleware (Starlette's outermost), so the request id
    # is added here; the log lines have it already (the request's context variables).
    request_id = request_id_in(request.scope)
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ChargeLedgerError, _on_domain_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
