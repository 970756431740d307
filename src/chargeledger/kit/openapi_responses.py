"""Error responses as the OpenAPI document declares them: problem+json, per status."""

from typing import Any

_DESCRIPTIONS = {
    400: "Invalid input: a bad parameter or body (each named in `errors`)",
    401: "Missing, malformed, expired or revoked access token",
    404: "No such resource (or it belongs to another tenant)",
    408: 'The request body arrived too slowly (README, "Server limits")',
    409: "Conflicts with the resource's state",
    413: "Request body over the size limit (1 MiB; 16 MiB for readings)",
    415: "Request body is not application/json",
    429: "Too many requests: a rate limit is exhausted; `Retry-After` says when to try again",
    503: "Temporarily unable to answer (overloaded or the database unreachable); "
    "`Retry-After` says when to try again",
}
_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
            **({"headers": _RETRY_AFTER} if status in (429, 503) else {}),
        }
        for status in statuses
    }


READ = problems(400, 401, 404)
# A body can be cut off for its pace (408) or wait in vain for its address's share (429).
WRITE = problems(400, 401, 404, 408, 413, 415, 429)
