"""OpenAPI links: what a POST creates, the operations under it can be called with.

A client generator (and schemathesis's stateful phase) reads them to chain calls: the `id` of
an entity created by `POST /v1/entities` fills `{entityId}` of every operation under
`/v1/entities/{entityId}`, and so on for sessions and locations.
"""

import re
from typing import Any

# (the collection a POST creates in, the path parameter naming what it created)
_CREATIONS = (
    ("/v1/entities", "entityId"),
    ("/v1/entities/{entityId}/charge-sessions", "sessionId"),
    ("/v1/entities/{entityId}/locations", "locationId"),
    ("/v1/webhooks", "webhookId"),
)
_PATH_PARAMETER = re.compile(r"\{(\w+)\}")


def add_creation_links(document: dict[str, Any]) -> None:
    paths: dict[str, dict[str, Any]] = document.get("paths", {})
    for collection, created in _CREATIONS:
        created_response = paths.get(collection, {}).get("post", {}).get("responses", {}).get("201")
        if created_response is None:
            continue
        prefix = f"{collection}/{{{created}}}"
        links: dict[str, Any] = {}
        for path, item in paths.items():
            if path != prefix and not path.startswith(prefix + "/"):
                continue
            names = _PATH_PARAMETER.findall(path)
            # Only what the creating call itself can fill: its own path and the new id.
            if any(name != created and f"{{{name}}}" not in collection for name in names):
                continue
            for method, operation in item.items():
                parameters = {
                    name: "$response.body#/id" if name == created else f"$request.path.{name}"
                    for name in names
                }
                links[operation["operationId"]] = {
                    "operationId": operation["operationId"],
                    "parameters": parameters,
                    "description": f"{method.upper()} {path} of what was created",
                }
        if links:
            created_response["links"] = links
