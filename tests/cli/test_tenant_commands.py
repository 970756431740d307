"""`chargeledger tenant create`, `client create` and `client revoke`, run as real commands."""

import json
import subprocess
import uuid
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from chargeledger.storage.database import Database
from chargeledger.storage.tables import api_clients, tenants
from tests.support.servers import chargeledger_command


def chargeledger(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chargeledger_command(*args, "--database-url", database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def credentials_from(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """stdout holds exactly one JSON object with the three credentials, and nothing else."""
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("\n")
    assert result.stdout.count("\n") == 1, result.stdout
    credentials = json.loads(result.stdout)
    assert isinstance(credentials, dict)
    assert set(credentials) == {"tenantId", "clientId", "clientSecret"}
    uuid.UUID(credentials["tenantId"])
    uuid.UUID(credentials["clientId"])
    assert isinstance(credentials["clientSecret"], str)
    assert len(credentials["clientSecret"]) >= 32
    return credentials


def authenticate(anonymous: httpx.Client, credentials: dict[str, str]) -> httpx.Response:
    return anonymous.post(
        "/v1/authentication",
        json={"clientId": credentials["clientId"], "clientSecret": credentials["clientSecret"]},
    )


def bearer(anonymous: httpx.Client, credentials: dict[str, str]) -> dict[str, str]:
    response = authenticate(anonymous, credentials)
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def assert_unauthorized(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="module")
def created(database_url: str) -> subprocess.CompletedProcess[str]:
    """One `tenant create` run, shared by the tests that only read its outcome."""
    return chargeledger(database_url, "tenant", "create", "  Acme Fleet  ")


def test_tenant_create_prints_exactly_one_json_object_with_credentials(
    created: subprocess.CompletedProcess[str],
) -> None:
    credentials_from(created)


def test_tenant_create_credentials_authenticate_against_the_live_server(
    created: subprocess.CompletedProcess[str], anonymous: httpx.Client
) -> None:
    credentials = credentials_from(created)
    response = authenticate(anonymous, credentials)
    assert response.status_code == 200, response.text
    assert response.json()["token_type"] == "Bearer"
    token = response.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert (claims["tid"], claims["sub"]) == (credentials["tenantId"], credentials["clientId"])
    listed = anonymous.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text


async def test_tenant_create_stores_the_trimmed_name_and_a_hashed_secret(
    created: subprocess.CompletedProcess[str], database: Database
) -> None:
    credentials = credentials_from(created)
    async with database.read() as connection:
        name = await connection.scalar(
            sa.select(tenants.c.name).where(tenants.c.id == uuid.UUID(credentials["tenantId"]))
        )
        client = (
            await connection.execute(
                sa.select(api_clients).where(api_clients.c.id == uuid.UUID(credentials["clientId"]))
            )
        ).one()
    assert name == "Acme Fleet"
    assert str(client.tenant_id) == credentials["tenantId"]
    assert client.revoked_ms is None
    assert client.secret_hash.startswith("$argon2id$")
    assert credentials["clientSecret"] not in client.secret_hash


def test_tenant_create_with_a_blank_name_fails_on_stderr(database_url: str) -> None:
    result = chargeledger(database_url, "tenant", "create", "   ")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "the tenant name must not be empty" in result.stderr


def test_client_create_gives_a_second_working_client_of_the_same_tenant(
    database_url: str, created: subprocess.CompletedProcess[str], anonymous: httpx.Client
) -> None:
    first = credentials_from(created)
    second = credentials_from(
        chargeledger(database_url, "client", "create", "--tenant", first["tenantId"])
    )
    assert second["tenantId"] == first["tenantId"]
    assert second["clientId"] != first["clientId"]
    assert second["clientSecret"] != first["clientSecret"]

    created_entity = anonymous.post(
        "/v1/entities", json={"type": "EV", "name": "shared"}, headers=bearer(anonymous, first)
    )
    assert created_entity.status_code == 201, created_entity.text
    listed = anonymous.get("/v1/entities", headers=bearer(anonymous, second))
    assert listed.status_code == 200, listed.text
    assert created_entity.json() in listed.json()["data"]


def test_client_create_for_an_unknown_tenant_fails_on_stderr(database_url: str) -> None:
    missing = uuid.uuid4()
    result = chargeledger(database_url, "client", "create", "--tenant", str(missing))
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"tenant {missing} does not exist" in result.stderr


def test_client_create_with_a_tenant_that_is_not_a_uuid_fails(database_url: str) -> None:
    result = chargeledger(database_url, "client", "create", "--tenant", "acme")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Invalid value for '--tenant'" in result.stderr


def test_client_revoke_stops_the_client_and_its_tokens_but_not_its_sibling(
    database_url: str, anonymous: httpx.Client
) -> None:
    credentials = credentials_from(chargeledger(database_url, "tenant", "create", "Revoked"))
    sibling = credentials_from(
        chargeledger(database_url, "client", "create", "--tenant", credentials["tenantId"])
    )
    headers = bearer(anonymous, credentials)
    assert anonymous.get("/v1/entities", headers=headers).status_code == 200

    result = chargeledger(database_url, "client", "revoke", credentials["clientId"])
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert f"client {credentials['clientId']} revoked" in result.stderr

    body = assert_unauthorized(anonymous.get("/v1/entities", headers=headers))
    assert body["detail"] == "the client of this access token was revoked"
    assert_unauthorized(authenticate(anonymous, credentials))
    listed = anonymous.get("/v1/entities", headers=bearer(anonymous, sibling))
    assert listed.status_code == 200, listed.text

    again = chargeledger(database_url, "client", "revoke", credentials["clientId"])
    assert again.returncode == 0, again.stderr
    assert_unauthorized(authenticate(anonymous, credentials))


def test_revoking_an_unknown_client_fails_on_stderr(database_url: str) -> None:
    missing = uuid.uuid4()
    result = chargeledger(database_url, "client", "revoke", str(missing))
    assert result.returncode != 0
    assert result.stdout == ""
    assert f"client {missing} does not exist" in result.stderr
