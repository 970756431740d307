"""Error responses as the OpenAPI document declares them: problem+json, per status."""

from typing import Any

_DESCRIPTIONS = {
    400: "Invalid input: a bad parameter or body (each named in `errors`)",
    401: "Missing, malformed, expired or revoked access token",
    404: "No such resource (or it belongs to another tenant)",
    409: "Conflicts with the resource's state",
    413: "Request body over the size limit (1 MiB; 16 MiB for readings)",
    415: "Request body is not application/json",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "description": _DESCRIPTIONS[status],
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        }
        for status in statuses
    }


READ = problems(400, 401, 404)
WRITE = problems(400, 401, 404, 413, 415)
