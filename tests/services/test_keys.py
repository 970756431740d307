"""Signing keys: every server on one database signs alike, across restarts; a configured
CHARGELEDGER_SECRET_KEY gives keys of its own."""

from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from chargeledger.api.context import system_clock_ms
from chargeledger.services.keys import derive_signing_keys, load_signing_keys
from chargeledger.storage.database import Database
from tests.support.api import TenantApi
from tests.support.servers import running_server

CONFIGURED_SECRET = "a-configured-master-secret-for-tests-0123456789"
PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of that status: the media type and the four members."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    return body


@pytest.fixture(scope="module")
def second_server(database_url: str, live_server: str) -> Iterator[str]:
    """Another `chargeledger serve` on the same database, with the generated key."""
    with running_server(database_url) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def configured_server(database_url: str, live_server: str) -> Iterator[str]:
    """A server on the same database whose key comes from CHARGELEDGER_SECRET_KEY."""
    with running_server(database_url, env={"CHARGELEDGER_SECRET_KEY": CONFIGURED_SECRET}) as url:
        yield url


async def authenticate(base_url: str, api: TenantApi) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/v1/authentication",
            json={"clientId": str(api.client_id), "clientSecret": api.client_secret},
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def get(base_url: str, token: str, url: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})


async def first_page_token(base_url: str, token: str) -> str:
    response = await get(base_url, token, "/v1/entities", pageSize=1)
    assert response.status_code == 200, response.text
    continuation: str = response.json()["meta"]["continuationToken"]
    assert continuation is not None
    return continuation


# ---- servers sharing the generated key ----------------------------------------------------


async def test_token_from_one_server_is_accepted_by_another_on_the_same_database(
    api: TenantApi, live_server: str, second_server: str
) -> None:
    entity = await api.create_entity("EV")
    for issuer, verifier in ((live_server, second_server), (second_server, live_server)):
        token = await authenticate(issuer, api)
        response = await get(verifier, token, f"/v1/entities/{entity['id']}")
        assert response.status_code == 200, response.text
        assert response.json() == entity


async def test_continuation_token_from_one_server_pages_on_another(
    api: TenantApi, live_server: str, second_server: str
) -> None:
    created = [await api.create_entity("EV", name=f"car {n}") for n in range(3)]
    token = await authenticate(live_server, api)
    continuation = await first_page_token(live_server, token)
    response = await get(
        second_server, token, "/v1/entities", pageSize=1, continuationToken=continuation
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [created[1]]
    onward = response.json()["meta"]["continuationToken"]
    back = await get(live_server, token, "/v1/entities", pageSize=1, continuationToken=onward)
    assert back.json()["data"] == [created[2]]
    assert back.json()["meta"]["continuationToken"] is None


async def test_tokens_survive_a_restart(api: TenantApi, database_url: str) -> None:
    created = [await api.create_entity("EV", name=f"car {n}") for n in range(2)]
    with running_server(database_url) as before:
        token = await authenticate(before, api)
        continuation = await first_page_token(before, token)
    with running_server(database_url) as after:
        assert after != before
        response = await get(
            after, token, "/v1/entities", pageSize=1, continuationToken=continuation
        )
    assert response.status_code == 200, response.text
    assert response.json()["data"] == [created[1]]


# ---- a configured secret ------------------------------------------------------------------


async def test_configured_secret_server_accepts_its_own_tokens(
    api: TenantApi, configured_server: str
) -> None:
    await api.create_entity("EV")
    await api.create_entity("EV")
    token = await authenticate(configured_server, api)
    continuation = await first_page_token(configured_server, token)
    response = await get(
        configured_server, token, "/v1/entities", pageSize=1, continuationToken=continuation
    )
    assert response.status_code == 200, response.text


async def test_configured_secret_tokens_are_refused_by_the_generated_key_server(
    api: TenantApi, live_server: str, configured_server: str
) -> None:
    token = await authenticate(configured_server, api)
    response = await get(live_server, token, "/v1/entities")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["detail"] == "the access token is malformed or not signed by this server"


async def test_generated_key_tokens_are_refused_by_the_configured_secret_server(
    api: TenantApi, live_server: str, configured_server: str
) -> None:
    token = await authenticate(live_server, api)
    response = await get(configured_server, token, "/v1/entities")
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_continuation_tokens_do_not_cross_between_differently_keyed_servers(
    api: TenantApi, live_server: str, configured_server: str
) -> None:
    for _ in range(2):
        await api.create_entity("EV")
    generated_token = await authenticate(live_server, api)
    configured_token = await authenticate(configured_server, api)
    from_configured = await first_page_token(configured_server, configured_token)
    response = await get(
        live_server, generated_token, "/v1/entities", pageSize=1, continuationToken=from_configured
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


# ---- the keys themselves ------------------------------------------------------------------


def test_derived_keys_are_deterministic_and_separate_per_purpose() -> None:
    keys = derive_signing_keys("master")
    assert keys == derive_signing_keys("master")
    assert keys.access_token != keys.continuation_token
    assert len(keys.access_token) == 32
    assert len(keys.continuation_token) == 32
    other = derive_signing_keys("another master")
    assert other.access_token != keys.access_token
    assert other.continuation_token != keys.continuation_token


async def test_configured_secret_is_used_instead_of_the_stored_one(database: Database) -> None:
    async with database.write() as connection:
        configured = await load_signing_keys(
            connection, configured_secret=CONFIGURED_SECRET, now_ms=system_clock_ms()
        )
        stored = await load_signing_keys(
            connection, configured_secret=None, now_ms=system_clock_ms()
        )
    assert configured == derive_signing_keys(CONFIGURED_SECRET)
    assert stored != configured


async def test_stored_secret_is_created_once_and_then_reused(
    database: Database, configured_server: str
) -> None:
    # A configured-secret server has started on this database; it must not have replaced
    # the stored secret the other servers use.
    async with database.write() as connection:
        first = await load_signing_keys(
            connection, configured_secret=None, now_ms=system_clock_ms()
        )
    async with database.write() as connection:
        second = await load_signing_keys(connection, configured_secret=None, now_ms=1)
    assert first == second


async def test_live_server_signs_with_the_key_stored_in_the_database(
    api: TenantApi, live_server: str, database: Database
) -> None:
    token = await authenticate(live_server, api)
    async with database.write() as connection:
        keys = await load_signing_keys(connection, configured_secret=None, now_ms=system_clock_ms())
    claims = jwt.decode(token, keys.access_token, algorithms=["HS256"], issuer="chargeledger")
    assert claims["sub"] == str(api.client_id)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, keys.continuation_token, algorithms=["HS256"])
