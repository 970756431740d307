"""`/api/v1/...` answers as `/v1/...`: re.alto writes its URLs with the `/api` prefix
(`https://platform.realto.io/api/v1/entities/{entityId}/charge-sessions`), and a client built
from its documentation calls them so. The prefix is stripped before routing, and remembered
so that links we hand out (links.next) keep the path the client used."""

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

ALIAS_PREFIX = "/api"
_ALIASED = f"{ALIAS_PREFIX}/v1"
# Where the stripped prefix is kept in the request's scope (namespaced, as ASGI asks).
_SCOPE_KEY = "chargeledger.path_prefix"


class ApiPrefixAliasMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path == _ALIASED or path.startswith(f"{_ALIASED}/"):
                raw_path: bytes | None = scope.get("raw_path")
                scope = {
                    **scope,
                    "path": path[len(ALIAS_PREFIX) :],
                    _SCOPE_KEY: ALIAS_PREFIX,
                }
                if raw_path is not None and raw_path.startswith(ALIAS_PREFIX.encode()):
                    scope["raw_path"] = raw_path[len(ALIAS_PREFIX) :]
        await self.app(scope, receive, send)


def path_as_requested(connection: HTTPConnection) -> str:
    """The request's path as the client wrote it, alias prefix included."""
    prefix: str = connection.scope.get(_SCOPE_KEY, "")
    return prefix + connection.url.path
