"""One assertion for RFC 9457 problem answers."""

from collections.abc import Sequence
from typing import Any

import httpx

PROBLEM_KEYS = {"type", "title", "status", "detail"}


def assert_problem(
    response: httpx.Response, status: int, *, names: Sequence[str] = ()
) -> dict[str, Any]:
    """An application/problem+json answer with this status, whose `errors` name each of
    `names` and whose `detail` mentions them."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in PROBLEM_KEYS - {"status"})
    named = [error["name"] for error in body.get("errors") or []]
    for name in names:
        assert name in named, body
        assert name in body["detail"], body
    return body


def error_detail(body: dict[str, Any], name: str) -> str:
    """The detail of the named parameter in a problem's `errors`."""
    details = [error["detail"] for error in body["errors"] if error["name"] == name]
    assert details, body
    return str(details[0])
