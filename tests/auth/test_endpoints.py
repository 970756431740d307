"""POST /v1/authentication, and the bearer token every other /v1 route demands."""

import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from chargeledger.api.app import create_app
from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from chargeledger.storage.tables import api_clients
from tests.support.api import TenantApi
from tests.support.keys import suite_access_keys

PROBLEM = "application/problem+json"
BAD_CREDENTIALS = "clientId or clientSecret is wrong, or the client was revoked"


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


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["type"] == "urn:chargeledger:problem:unauthorized"
    assert body["title"] == "Unauthorized"
    return body


@pytest.fixture
async def guest(live_server: str) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client for async tests."""
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        yield client


def credentials_body(api: TenantApi) -> dict[str, str]:
    return {"clientId": str(api.client_id), "clientSecret": api.client_secret}


async def server_access_key(database: Database) -> bytes:
    """The key the live server signs access tokens with (the suite's key file, never the DB);
    tokens signed with it name it with SERVER_KEY_ID, as the server's do."""
    return suite_access_keys().signing


SERVER_KEY_ID = {"kid": suite_access_keys().signing_id}


def token_claims(api: TenantApi, *, issued_s: int, **overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": "chargeledger",
        "sub": str(api.client_id),
        "tid": str(api.tenant_id),
        "iat": issued_s,
        "exp": issued_s + 3600,
        "jti": uuid.uuid4().hex,
    }
    claims.update(overrides)
    return claims


def protected_requests(entity_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every /v1 route of the app except authentication, as (method, url, json body).

    Read from the app's OpenAPI document, so a route added later is covered too. Path
    parameters are filled with the caller's real entity and random ids; bodies are valid JSON.
    """
    requests: list[tuple[str, str, dict[str, Any] | None]] = []
    for template, operations in create_app(Settings()).openapi()["paths"].items():
        if not template.startswith("/v1/") or template == "/v1/authentication":
            continue
        path = template.replace("{entityId}", entity_id)
        path = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
        for method in sorted(operations):
            url = path
            if method == "get" and path.endswith("/charge-sessions"):
                url += "?start=2024-01-01T00:00:00Z"
            body: dict[str, Any] | None = {} if method in ("post", "put", "patch") else None
            requests.append((method.upper(), url, body))
    return requests


async def assert_every_route_refuses(
    live_server: str, entity_id: str, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    requests = protected_requests(entity_id)
    routes = {(method, re.sub(r"[0-9a-f-]{36}", "{id}", url)) for method, url, _ in requests}
    assert {
        ("GET", "/v1/entities"),
        ("POST", "/v1/entities"),
        ("GET", "/v1/entities/{id}"),
        ("GET", "/v1/entities/{id}/features"),
        ("PATCH", "/v1/entities/{id}/features"),
        ("GET", "/v1/entities/{id}/locations"),
        ("POST", "/v1/entities/{id}/locations"),
        ("GET", "/v1/entities/{id}/locations/{id}"),
        ("PUT", "/v1/entities/{id}/locations/{id}"),
        ("DELETE", "/v1/entities/{id}/locations/{id}"),
        ("GET", "/v1/entities/{id}/charge-sessions?start=2024-01-01T00:00:00Z"),
        ("POST", "/v1/entities/{id}/charge-sessions"),
        ("GET", "/v1/entities/{id}/charge-sessions/{id}"),
    } <= routes
    async with httpx.AsyncClient(base_url=live_server, timeout=30) as client:
        for method, url, body in requests:
            response = await client.request(method, url, json=body, headers=headers)
            assert response.status_code == 401, (method, url, response.text)
            assert_unauthorized(response)


# ---- POST /v1/authentication -------------------------------------------------------------


async def test_authentication_returns_exactly_token_expiry_and_type(api: TenantApi) -> None:
    response = await api.http.post("/v1/authentication", json=credentials_body(api))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == 3599
    assert body["token_type"] == "Bearer"
    assert isinstance(body["access_token"], str)


async def test_access_token_is_a_jwt_naming_tenant_and_client(api: TenantApi) -> None:
    before_s = int(time.time())
    response = await api.http.post("/v1/authentication", json=credentials_body(api))
    after_s = int(time.time())
    token = response.json()["access_token"]
    assert len(token.split(".")) == 3
    assert jwt.get_unverified_header(token)["alg"] == "HS256"
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["tid"] == str(api.tenant_id)
    assert claims["sub"] == str(api.client_id)
    assert before_s - 1 <= claims["iat"] <= after_s + 1
    assert claims["exp"] - claims["iat"] == 3600


async def test_fresh_access_token_works_on_a_protected_route(api: TenantApi) -> None:
    response = await api.http.post("/v1/authentication", json=credentials_body(api))
    token = response.json()["access_token"]
    listed = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text


async def test_wrong_secret_is_401_problem(api: TenantApi, guest: httpx.AsyncClient) -> None:
    response = await guest.post(
        "/v1/authentication",
        json={"clientId": str(api.client_id), "clientSecret": api.client_secret + "x"},
    )
    body = assert_unauthorized(response)
    assert body["detail"] == BAD_CREDENTIALS


async def test_unknown_client_id_is_401_with_the_same_detail_as_a_wrong_secret(
    api: TenantApi, guest: httpx.AsyncClient
) -> None:
    response = await guest.post(
        "/v1/authentication",
        json={"clientId": str(uuid.uuid4()), "clientSecret": api.client_secret},
    )
    body = assert_unauthorized(response)
    assert body["detail"] == BAD_CREDENTIALS


def test_non_uuid_client_id_is_401_not_400(anonymous: httpx.Client) -> None:
    response = anonymous.post(
        "/v1/authentication", json={"clientId": "not-a-uuid", "clientSecret": "whatever"}
    )
    body = assert_unauthorized(response)
    assert body["detail"] == BAD_CREDENTIALS


def test_missing_credentials_are_400_naming_both_fields(anonymous: httpx.Client) -> None:
    response = anonymous.post("/v1/authentication", json={})
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-input"
    assert body["errors"] == [
        {"name": "clientId", "in": "body", "detail": "is required"},
        {"name": "clientSecret", "in": "body", "detail": "is required"},
    ]


def test_missing_secret_is_400_naming_it(anonymous: httpx.Client) -> None:
    response = anonymous.post("/v1/authentication", json={"clientId": str(uuid.uuid4())})
    body = assert_problem(response, 400)
    assert body["errors"] == [{"name": "clientSecret", "in": "body", "detail": "is required"}]


def test_empty_credentials_are_400_naming_both_fields(anonymous: httpx.Client) -> None:
    response = anonymous.post("/v1/authentication", json={"clientId": "", "clientSecret": ""})
    body = assert_problem(response, 400)
    assert [error["name"] for error in body["errors"]] == ["clientId", "clientSecret"]


async def test_unknown_field_in_credentials_is_400_naming_it(
    api: TenantApi, guest: httpx.AsyncClient
) -> None:
    response = await guest.post(
        "/v1/authentication", json={**credentials_body(api), "grant_type": "client_credentials"}
    )
    body = assert_problem(response, 400)
    assert [error["name"] for error in body["errors"]] == ["grant_type"]


# ---- bearer tokens on every other route ---------------------------------------------------


async def test_every_protected_route_without_authorization_is_401(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    await assert_every_route_refuses(live_server, entity["id"], None)


async def test_every_protected_route_with_a_garbage_bearer_token_is_401(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    await assert_every_route_refuses(live_server, entity["id"], "Bearer garbage")


async def test_every_protected_route_with_basic_credentials_is_401(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    await assert_every_route_refuses(live_server, entity["id"], "Basic dXNlcjpwYXNz")


async def test_every_protected_route_with_a_token_signed_by_another_key_is_401(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    token = jwt.encode(token_claims(api, issued_s=int(time.time())), b"k" * 32, algorithm="HS256")
    await assert_every_route_refuses(live_server, entity["id"], f"Bearer {token}")


async def test_every_protected_route_with_an_expired_token_is_401(
    api: TenantApi, live_server: str, database: Database
) -> None:
    entity = await api.create_entity("EV")
    key = await server_access_key(database)
    token = jwt.encode(
        token_claims(api, issued_s=int(time.time()) - 3700),
        key,
        algorithm="HS256",
        headers=SERVER_KEY_ID,
    )
    await assert_every_route_refuses(live_server, entity["id"], f"Bearer {token}")
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert assert_unauthorized(response)["detail"] == (
        "the access token has expired; authenticate again"
    )


async def test_every_protected_route_with_an_unsigned_alg_none_token_is_401(
    api: TenantApi, live_server: str
) -> None:
    entity = await api.create_entity("EV")
    # pyjwt's stubs want a key even for "none" (typed once cryptography is installed).
    token = jwt.encode(
        token_claims(api, issued_s=int(time.time())),
        None,  # type: ignore[arg-type]
        algorithm="none",
    )
    assert token.endswith(".")
    await assert_every_route_refuses(live_server, entity["id"], f"Bearer {token}")


async def test_token_crafted_with_the_server_key_is_accepted(
    api: TenantApi, database: Database
) -> None:
    """The control for the expired-token test: the same key and claims, not expired, work."""
    key = await server_access_key(database)
    token = jwt.encode(
        token_claims(api, issued_s=int(time.time())), key, algorithm="HS256", headers=SERVER_KEY_ID
    )
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text


async def test_token_whose_exp_is_now_is_already_expired(
    api: TenantApi, database: Database
) -> None:
    key = await server_access_key(database)
    now_s = int(time.time())
    token = jwt.encode(
        token_claims(api, issued_s=now_s - 3600, exp=now_s - 1),
        key,
        algorithm="HS256",
        headers=SERVER_KEY_ID,
    )
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


async def test_token_with_a_tampered_tenant_claim_is_401(
    api: TenantApi, other_api: TenantApi
) -> None:
    token = str(api.http.headers["Authorization"]).removeprefix("Bearer ")
    header, _payload, signature = token.split(".")
    forged_payload = jwt.encode(
        token_claims(api, issued_s=int(time.time()), tid=str(other_api.tenant_id)),
        b"k" * 32,
        algorithm="HS256",
    ).split(".")[1]
    forged = f"{header}.{forged_payload}.{signature}"
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {forged}"})
    assert_unauthorized(response)


async def test_server_signed_token_naming_another_tenant_for_the_client_is_401(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    key = await server_access_key(database)
    token = jwt.encode(
        token_claims(api, issued_s=int(time.time()), tid=str(other_api.tenant_id)),
        key,
        algorithm="HS256",
        headers=SERVER_KEY_ID,
    )
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


@pytest.mark.parametrize("missing", ["sub", "tid", "exp", "iat", "iss"])
async def test_server_signed_token_without_a_required_claim_is_401(
    api: TenantApi, database: Database, missing: str
) -> None:
    key = await server_access_key(database)
    claims = token_claims(api, issued_s=int(time.time()))
    del claims[missing]
    token = jwt.encode(claims, key, algorithm="HS256", headers=SERVER_KEY_ID)
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


async def test_server_signed_token_from_another_issuer_is_401(
    api: TenantApi, database: Database
) -> None:
    key = await server_access_key(database)
    token = jwt.encode(
        token_claims(api, issued_s=int(time.time()), iss="someone-else"),
        key,
        algorithm="HS256",
        headers=SERVER_KEY_ID,
    )
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert_unauthorized(response)


# ---- revocation ---------------------------------------------------------------------------


async def test_revoked_client_token_stops_working_and_it_cannot_authenticate(
    api: TenantApi, database: Database, guest: httpx.AsyncClient
) -> None:
    assert (await api.http.get("/v1/entities")).status_code == 200
    async with database.write() as connection:
        await auth.revoke_client(connection, client_id=api.client_id, now_ms=system_clock_ms())
    body = assert_unauthorized(await api.http.get("/v1/entities"))
    assert body["detail"] == "the client of this access token was revoked"
    assert_unauthorized(await api.http.post("/v1/entities", json={"type": "EV", "name": "x"}))
    response = await guest.post("/v1/authentication", json=credentials_body(api))
    assert assert_unauthorized(response)["detail"] == BAD_CREDENTIALS


async def test_revoking_one_client_leaves_the_tenants_other_client_working(
    api: TenantApi, database: Database, guest: httpx.AsyncClient
) -> None:
    entity = await api.create_entity("EV")
    async with database.write() as connection:
        second = await auth.create_client(
            connection, tenant_id=api.tenant_id, now_ms=system_clock_ms()
        )
        await auth.revoke_client(connection, client_id=api.client_id, now_ms=system_clock_ms())
    response = await guest.post(
        "/v1/authentication",
        json={"clientId": str(second.client_id), "clientSecret": second.client_secret},
    )
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    listed = await guest.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    assert [e["id"] for e in listed.json()["data"]] == [entity["id"]]


# ---- storage of secrets -------------------------------------------------------------------


async def test_client_secret_is_stored_as_an_argon2id_hash(
    api: TenantApi, database: Database
) -> None:
    async with database.read() as connection:
        secret_hash = await connection.scalar(
            sa.select(api_clients.c.secret_hash).where(api_clients.c.id == api.client_id)
        )
    assert isinstance(secret_hash, str)
    assert secret_hash.startswith("$argon2id$")
    assert api.client_secret not in secret_hash


async def test_two_clients_get_different_secrets_and_hashes(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    async with database.read() as connection:
        rows = (
            await connection.execute(
                sa.select(api_clients.c.id, api_clients.c.secret_hash).where(
                    api_clients.c.id.in_([api.client_id, other_api.client_id])
                )
            )
        ).all()
    assert len(rows) == 2
    assert api.client_secret != other_api.client_secret
    assert rows[0].secret_hash != rows[1].secret_hash
