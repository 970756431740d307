"""Every answer carries an X-Request-Id: the client's own when it is a sane token, else a new
one; the 500 problem too, whose handler runs outside every middleware."""

import re

import httpx
import pytest
from fastapi import FastAPI

from chargeledger.api.problems import install_problem_handlers
from chargeledger.api.request_ids import RequestIdMiddleware

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.mark.parametrize("request_id", ["abc-123", "a.b_c-D", "x" * 64, "0" * 32])
def test_a_sane_request_id_from_the_client_is_echoed(
    anonymous: httpx.Client, request_id: str
) -> None:
    response = anonymous.get("/healthz", headers={"X-Request-Id": request_id})
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id", ["x" * 65, "has space", "semi;colon", 'quote"d', "", "ünïcode"]
)
def test_any_other_request_id_is_replaced_by_a_new_one(
    anonymous: httpx.Client, request_id: str
) -> None:
    response = anonymous.get("/healthz", headers=[(b"X-Request-Id", request_id.encode())])
    assert GENERATED.fullmatch(response.headers["x-request-id"])


def test_every_answer_has_its_own_id_problems_included(anonymous: httpx.Client) -> None:
    answers = [
        anonymous.get("/healthz"),
        anonymous.get("/healthz"),
        anonymous.get("/v1/nothing-here"),  # 404 from routing
        anonymous.delete("/v1/entities"),  # 405
        anonymous.get("/v1/entities"),  # 401
        anonymous.get("/api/v1/entities"),  # the alias
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(GENERATED.fullmatch(request_id) for request_id in ids)
    assert len(set(ids)) == len(ids)


async def test_the_500_problem_carries_the_request_id_too() -> None:
    """Starlette answers an unexpected error outside every middleware; the id is added there."""
    app = FastAPI()
    install_problem_handlers(app)
    app.add_middleware(RequestIdMiddleware)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/boom", headers={"X-Request-Id": "trace-500"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["x-request-id"] == "trace-500"
