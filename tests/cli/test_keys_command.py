"""`chargeledger keys rotate` and `keys list`, run as real commands against real servers, and
`chargeledger serve` refusing PostgreSQL without a master key."""

import asyncio
import json
import os
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from chargeledger.auth.key_file import read_key_file
from chargeledger.domain.signing_keys import derive_purpose_keys, key_id_of
from tests.support.api import TenantApi
from tests.support.databases import is_postgresql
from tests.support.servers import chargeledger_command, free_port, running_server

NO_KEY_ON_POSTGRESQL = "PostgreSQL needs a master key that is not kept in the database"
# A PostgreSQL nobody listens on: serve must refuse before it tries to connect.
UNREACHABLE_POSTGRESQL = "postgresql://nobody@127.0.0.1:9/none"
NO_KEYS = {"CHARGELEDGER_SECRET_KEY": "", "CHARGELEDGER_SECRET_KEY_FILE": ""}


def chargeledger(
    *args: str, env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chargeledger_command(*args),
        env={**os.environ, **NO_KEYS, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


def key_id_in(token: str) -> str:
    key_id: str = jwt.get_unverified_header(token)["kid"]
    return key_id


async def authenticate(http: httpx.AsyncClient, api: TenantApi) -> str:
    response = await http.post(
        "/v1/authentication",
        json={"clientId": str(api.client_id), "clientSecret": api.client_secret},
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def eventually(condition: Callable[[], Awaitable[bool]], what: str) -> None:
    """Wait for a condition the server reaches by itself (it looks at the key file every few
    seconds); generous, for a loaded machine."""
    deadline = time.monotonic() + 120
    while not await condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        await asyncio.sleep(0.2)


def assert_no_secret_in(result: subprocess.CompletedProcess[str], key_file: Path) -> None:
    keys, _ = read_key_file(key_file)
    for key in keys:
        assert key.secret not in result.stdout
        assert key.secret not in result.stderr


# ---- serve without a key --------------------------------------------------------------------


def serve_without_a_key(database_url: str) -> tuple[int, str]:
    """Exit code and stderr of `chargeledger serve` with no key configured. A server that
    starts instead is stopped and reported as such."""
    process = subprocess.Popen(
        chargeledger_command("serve", "--port", str(free_port()), "--database-url", database_url),
        env={**os.environ, **NO_KEYS},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail("chargeledger serve started on PostgreSQL without a master key")
    return process.returncode, stderr


def test_serve_on_postgresql_without_a_key_refuses_to_start_and_says_what_to_set(
    database_url: str,
) -> None:
    """On the PostgreSQL run against the suite's own database; on SQLite runs against one
    nobody listens on (the refusal comes before any connection)."""
    url = database_url if is_postgresql(database_url) else UNREACHABLE_POSTGRESQL
    code, stderr = serve_without_a_key(url)
    assert code == 1, stderr
    assert NO_KEY_ON_POSTGRESQL in stderr
    assert "CHARGELEDGER_SECRET_KEY" in stderr
    assert "CHARGELEDGER_SECRET_KEY_FILE" in stderr
    assert "Traceback" not in stderr


def test_keys_rotate_on_postgresql_without_a_key_refuses_too() -> None:
    result = chargeledger("keys", "rotate", "--database-url", UNREACHABLE_POSTGRESQL, env={})
    assert result.returncode == 1
    assert NO_KEY_ON_POSTGRESQL in result.stderr


# ---- keys from the environment -----------------------------------------------------------


def test_keys_rotate_with_keys_from_the_environment_says_how_and_fails(database_url: str) -> None:
    secret = "an-environment-master-secret-for-the-cli-test-0123"
    result = chargeledger(
        "keys", "rotate", "--database-url", database_url, env={"CHARGELEDGER_SECRET_KEY": secret}
    )
    assert result.returncode == 1
    assert "CHARGELEDGER_PREVIOUS_SECRET_KEYS" in result.stderr
    assert secret not in result.stdout + result.stderr


def test_keys_list_with_keys_from_the_environment_shows_their_ids_only(database_url: str) -> None:
    current, previous = "c" * 48, "p" * 48
    result = chargeledger(
        "keys",
        "list",
        "--database-url",
        database_url,
        env={"CHARGELEDGER_SECRET_KEY": current, "CHARGELEDGER_PREVIOUS_SECRET_KEYS": previous},
    )
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)
    assert listed["source"] == "environment"
    assert [(key["id"], key["signs"]) for key in listed["keys"]] == [
        (key_id_of(current), True),
        (key_id_of(previous), False),
    ]
    assert current not in result.stdout
    assert previous not in result.stdout


# ---- rotating a key file under a running server ------------------------------------------


async def test_keys_rotate_is_picked_up_by_a_running_server_without_a_restart(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    """Rotate with a grace period: the server signs with the new key by itself, tokens of the
    previous key keep working. Rotate again with none: the previous keys stop at once."""
    key_file = tmp_path / "keys.json"
    env = {"CHARGELEDGER_SECRET_KEY_FILE": str(key_file)}
    for _ in range(2):
        await api.create_entity("EV")
    with running_server(database_url, env=env) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            first_token = await authenticate(http, api)
            first_key = key_id_in(first_token)
            first_headers = {"Authorization": f"Bearer {first_token}"}
            page = await http.get("/v1/entities", params={"pageSize": 1}, headers=first_headers)
            continuation = page.json()["meta"]["continuationToken"]

            rotated = chargeledger(
                "keys", "rotate", "--grace-hours", "24", "--database-url", database_url, env=env
            )
            assert rotated.returncode == 0, rotated.stderr
            listed = json.loads(rotated.stdout)
            assert_no_secret_in(rotated, key_file)
            second_key: str = next(key["id"] for key in listed["keys"] if key["signs"])
            assert [key["id"] for key in listed["keys"]] == [first_key, second_key]
            assert listed["keys"][0]["retiresAt"] is not None

            async def signs_with_the_new_key() -> bool:
                return key_id_in(await authenticate(http, api)) == second_key

            await eventually(signs_with_the_new_key, "the server signs with the rotated key")
            still = await http.get(
                "/v1/entities",
                params={"pageSize": 1, "continuationToken": continuation},
                headers=first_headers,
            )
            assert still.status_code == 200, still.text

            third = chargeledger(
                "keys", "rotate", "--grace-hours", "0", "--database-url", database_url, env=env
            )
            assert third.returncode == 0, third.stderr
            assert [key["id"] for key in json.loads(third.stdout)["keys"]][:2] == [
                first_key,
                second_key,
            ]

            async def previous_keys_refused() -> bool:
                response = await http.get("/v1/entities", headers=first_headers)
                return response.status_code == 401

            await eventually(previous_keys_refused, "tokens of the retired key are refused")


async def test_a_token_of_a_key_just_rotated_in_is_accepted_at_once(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    """A token naming a key the server has not read yet (another server or worker read the
    file first) makes it read the key file at once rather than refuse the token."""
    key_file = tmp_path / "keys.json"
    env = {"CHARGELEDGER_SECRET_KEY_FILE": str(key_file)}
    with running_server(database_url, env=env) as base_url:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
            await authenticate(http, api)  # the server has read the key file
            rotated = chargeledger("keys", "rotate", "--database-url", database_url, env=env)
            assert rotated.returncode == 0, rotated.stderr
            keys, _ = read_key_file(key_file)
            new = keys[-1]
            now_s = int(time.time())
            claims: dict[str, Any] = {
                "iss": "chargeledger",
                "sub": str(api.client_id),
                "tid": str(api.tenant_id),
                "iat": now_s,
                "exp": now_s + 3600,
            }
            token = jwt.encode(
                claims,
                derive_purpose_keys(new.secret).access_token,
                algorithm="HS256",
                headers={"kid": new.id},
            )
            response = await http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text


def test_keys_list_shows_ids_and_instants_never_secrets(database_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys.json"
    env = {"CHARGELEDGER_SECRET_KEY_FILE": str(key_file)}
    missing = chargeledger("keys", "list", "--database-url", database_url, env=env)
    assert missing.returncode == 1
    assert "there is no key file" in missing.stderr
    assert chargeledger("keys", "rotate", "--database-url", database_url, env=env).returncode == 0
    listed = chargeledger("keys", "list", "--database-url", database_url, env=env)
    assert listed.returncode == 0, listed.stderr
    document = json.loads(listed.stdout)
    assert document["source"] == "file"
    assert document["keyFile"] == str(key_file)
    assert [set(key) for key in document["keys"]] == [
        {"id", "createdAt", "retiresAt", "signs", "legacy"}
    ] * 2
    assert [key["signs"] for key in document["keys"]] == [False, True]
    assert_no_secret_in(listed, key_file)
