"""Deviations from the OCPP schemas that real chargers commit, undone before validation when
a charger is configured to be tolerated (off by default: the specification is clear).

Numbers where the schema wants strings: many 1.6 chargers send `"value": 1234` instead of
`"value": "1234"` in their meter values (and some an idTag as a number). Guided by the
action's own JSON schema, such numbers become their text; nothing else changes.
"""

from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.messages import get_validator

_MAX_DEPTH = 32  # OCPP payloads nest a handful of levels; deeper is not a payload to repair


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    reference = schema.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/definitions/"):
        resolved = root.get("definitions", {}).get(reference.removeprefix("#/definitions/"))
        if isinstance(resolved, dict):
            return resolved
    return schema


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _coerce(
    instance: Any, schema: dict[str, Any], root: dict[str, Any], depth: int
) -> tuple[Any, int]:
    if depth > _MAX_DEPTH:
        return instance, 0
    schema = _resolve(schema, root)
    wanted = schema.get("type")
    if wanted == "string" and isinstance(instance, int | float) and not isinstance(instance, bool):
        return _number_text(instance), 1
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        changed = 0
        result: dict[str, Any] = {}
        for name, value in instance.items():
            if name in properties:
                result[name], count = _coerce(value, properties[name], root, depth + 1)
                changed += count
            else:
                result[name] = value
        return result, changed
    if isinstance(instance, list) and isinstance(schema.get("items"), dict):
        items: list[Any] = []
        changed = 0
        for value in instance:
            coerced, count = _coerce(value, schema["items"], root, depth + 1)
            items.append(coerced)
            changed += count
        return items, changed
    return instance, 0


def numbers_as_strings(payload: Any, *, action: str, ocpp_version: str) -> tuple[Any, int]:
    """The CALL payload with numbers turned into text where the action's schema wants a
    string, and how many were turned; the payload unchanged for an action without a schema."""
    try:
        schema = get_validator(2, action, ocpp_version).schema
    except (OSError, ValueError, OCPPError):  # no schema: nothing to repair by
        return payload, 0
    return _coerce(payload, schema, schema, 0)
