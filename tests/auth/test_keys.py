"""Master keys (auth/keys.py): every server on one key signs alike, across restarts; a
configured CHARGELEDGER_SECRET_KEY gives keys of its own; the database holds no secret, and
the secret an earlier release kept there is moved out without breaking the tokens it signed;
a rotated key file is followed, and the previous key verifies only during its grace period."""

import asyncio
import base64
import hashlib
import hmac
import json
import stat
import struct
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from chargeledger.api.app import create_app
from chargeledger.api.context import AppState, system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.auth.key_file import read_key_file, write_key_file
from chargeledger.auth.keys import (
    LEGACY_GRACE_MS,
    LEGACY_SECRET_NAME,
    KeyConfigurationError,
    KeyRing,
    KeySource,
    generate_secret,
    key_source,
    prepare_keys,
    rotate_key_file,
)
from chargeledger.domain.cursor import CursorKind, PageCursor
from chargeledger.domain.instants import parse_instant_ms
from chargeledger.domain.signing_keys import TokenKeys, derive_purpose_keys, key_id_of, new_key
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import server_secrets
from tests.support.api import TenantApi
from tests.support.databases import fresh_database
from tests.support.keys import suite_access_keys
from tests.support.servers import running_server

CONFIGURED_SECRET = "a-configured-master-secret-for-tests-0123456789"
LEGACY_SECRET = "the-secret-an-earlier-release-generated-into-the-database-0123"
PROBLEM = "application/problem+json"
NOT_SIGNED_HERE = "the access token is malformed or not signed by this server"


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
    """Another `chargeledger serve` on the same database, with the suite's key file."""
    with running_server(database_url) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def configured_server(database_url: str, live_server: str) -> Iterator[str]:
    """A server on the same database whose key comes from CHARGELEDGER_SECRET_KEY."""
    with running_server(database_url, env={"CHARGELEDGER_SECRET_KEY": CONFIGURED_SECRET}) as url:
        yield url


async def authenticate_as(base_url: str, client_id: object, client_secret: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/v1/authentication",
            json={"clientId": str(client_id), "clientSecret": client_secret},
        )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def authenticate(base_url: str, api: TenantApi) -> str:
    return await authenticate_as(base_url, api.client_id, api.client_secret)


async def get(base_url: str, token: str, url: str, **params: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        return await client.get(url, params=params, headers={"Authorization": f"Bearer {token}"})


async def first_page_token(base_url: str, token: str) -> str:
    response = await get(base_url, token, "/v1/entities", pageSize=1)
    assert response.status_code == 200, response.text
    continuation: str = response.json()["meta"]["continuationToken"]
    assert continuation is not None
    return continuation


def key_id_in(token: str) -> str:
    key_id: str = jwt.get_unverified_header(token)["kid"]
    return key_id


def hand_signed(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """An HS256 JWT with any header (PyJWT refuses to write some that a client could send)."""

    def part(value: dict[str, Any]) -> bytes:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=")

    signed = part(header) + b"." + part(claims)
    signature = hmac.new(key, signed, hashlib.sha256).digest()
    return (signed + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- servers sharing a key ----------------------------------------------------------------


async def test_token_from_one_server_is_accepted_by_another_on_the_same_key(
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


async def test_access_tokens_name_the_key_that_signed_them(
    api: TenantApi, live_server: str
) -> None:
    token = await authenticate(live_server, api)
    keys = suite_access_keys()
    assert key_id_in(token) == keys.signing_id
    claims = jwt.decode(token, keys.signing, algorithms=["HS256"], issuer="chargeledger")
    assert claims["sub"] == str(api.client_id)


async def test_a_token_naming_an_unknown_key_or_none_is_refused(api: TenantApi) -> None:
    """Signed with the server's own key, but naming another key id, or none (only a key an
    earlier release used verifies tokens without one): 401 as for any token not ours."""
    keys = suite_access_keys()
    now_s = int(time.time())
    claims = {
        "iss": "chargeledger",
        "sub": str(api.client_id),
        "tid": str(api.tenant_id),
        "iat": now_s,
        "exp": now_s + 3600,
    }
    for header in ({"kid": "00000000"}, {"kid": 7}, {}):
        token = hand_signed({"alg": "HS256", "typ": "JWT", **header}, claims, keys.signing)
        response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {token}"})
        assert assert_problem(response, 401)["detail"] == NOT_SIGNED_HERE
    control = hand_signed(
        {"alg": "HS256", "typ": "JWT", "kid": keys.signing_id}, claims, keys.signing
    )
    response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {control}"})
    assert response.status_code == 200, response.text


# ---- a configured secret ------------------------------------------------------------------


async def test_configured_secret_server_accepts_its_own_tokens(
    api: TenantApi, configured_server: str
) -> None:
    await api.create_entity("EV")
    await api.create_entity("EV")
    token = await authenticate(configured_server, api)
    assert key_id_in(token) == key_id_of(CONFIGURED_SECRET)
    continuation = await first_page_token(configured_server, token)
    response = await get(
        configured_server, token, "/v1/entities", pageSize=1, continuationToken=continuation
    )
    assert response.status_code == 200, response.text


async def test_configured_secret_tokens_are_refused_by_the_key_file_server(
    api: TenantApi, live_server: str, configured_server: str
) -> None:
    token = await authenticate(configured_server, api)
    response = await get(live_server, token, "/v1/entities")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert body["detail"] == NOT_SIGNED_HERE


async def test_key_file_tokens_are_refused_by_the_configured_secret_server(
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
    file_token = await authenticate(live_server, api)
    configured_token = await authenticate(configured_server, api)
    from_configured = await first_page_token(configured_server, configured_token)
    response = await get(
        live_server, file_token, "/v1/entities", pageSize=1, continuationToken=from_configured
    )
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


async def test_previous_secret_keys_verify_but_do_not_sign(
    api: TenantApi, database_url: str, configured_server: str
) -> None:
    """Rotation with keys from the environment: the new secret in CHARGELEDGER_SECRET_KEY,
    the old one in CHARGELEDGER_PREVIOUS_SECRET_KEYS."""
    for _ in range(2):
        await api.create_entity("EV")
    old_token = await authenticate(configured_server, api)
    old_continuation = await first_page_token(configured_server, old_token)
    new_secret = generate_secret()
    env = {
        "CHARGELEDGER_SECRET_KEY": new_secret,
        "CHARGELEDGER_PREVIOUS_SECRET_KEYS": f"{generate_secret()}, {CONFIGURED_SECRET}",
    }
    with running_server(database_url, env=env) as rotated:
        response = await get(
            rotated, old_token, "/v1/entities", pageSize=1, continuationToken=old_continuation
        )
        assert response.status_code == 200, response.text
        assert key_id_in(await authenticate(rotated, api)) == key_id_of(new_secret)


# ---- where the keys come from -------------------------------------------------------------


def test_without_a_key_postgresql_is_refused_and_sqlite_uses_a_file_next_to_the_database(
    tmp_path: Path,
) -> None:
    with pytest.raises(KeyConfigurationError, match="CHARGELEDGER_SECRET_KEY_FILE"):
        key_source(Settings(database_url="postgresql://db.example/ledger", secret_key=None))
    database = tmp_path / "ledger.db"
    source = key_source(Settings(database_url=f"sqlite:///{database}", secret_key=None))
    assert source.key_file == tmp_path / "ledger.db.key"
    configured = key_source(
        Settings(database_url="postgresql://db.example/ledger", secret_key_file=tmp_path / "k")
    )
    assert configured.key_file == tmp_path / "k"
    environment = key_source(
        Settings(database_url="postgresql://db.example/ledger", secret_key=CONFIGURED_SECRET)
    )
    assert environment.key_file is None
    assert [key.id for key in environment.environment_keys] == [key_id_of(CONFIGURED_SECRET)]


def test_previous_keys_without_a_current_one_are_refused() -> None:
    with pytest.raises(KeyConfigurationError, match="CHARGELEDGER_PREVIOUS_SECRET_KEYS"):
        key_source(
            Settings(
                database_url="postgresql://db.example/ledger",
                previous_secret_keys=CONFIGURED_SECRET,
            )
        )


# ---- nothing readable in the database -----------------------------------------------------


def forged_token(secret: str, api: TenantApi) -> str:
    """What someone who read a master secret could mint: a token for any tenant."""
    now_s = int(time.time())
    claims = {
        "iss": "chargeledger",
        "sub": str(api.client_id),
        "tid": str(api.tenant_id),
        "iat": now_s,
        "exp": now_s + 3600,
    }
    return jwt.encode(claims, derive_purpose_keys(secret).access_token, algorithm="HS256")


async def test_the_database_holds_no_secret_to_forge_tokens_with(
    api: TenantApi, database: Database, live_server: str
) -> None:
    """An earlier release generated the master secret into server_secrets: whoever could
    read the database could mint tokens for every tenant. A server has run on this database
    and signed tokens, and server_secrets is empty: there is nothing to forge with."""
    assert (await api.http.get("/v1/entities")).status_code == 200
    async with database.read() as connection:
        stored = (await connection.execute(sa.select(server_secrets))).all()
    for row in stored:
        forged = forged_token(row.value, api)
        response = await api.http.get("/v1/entities", headers={"Authorization": f"Bearer {forged}"})
        assert response.status_code == 401, f"a token forged from {row.name} was accepted"
    assert stored == []


# ---- the secret an earlier release kept in the database -----------------------------------


@asynccontextmanager
async def database_of_an_earlier_release(directory: Path) -> AsyncIterator[tuple[str, Database]]:
    """A fresh database as an earlier release left it: its generated secret in
    server_secrets. (url, database)."""
    async with fresh_database(directory, name_hint="legacy") as url:
        await upgrade_to_head_async(url)
        database = Database(url)
        try:
            async with database.write() as connection:
                await connection.execute(
                    sa.insert(server_secrets).values(
                        name=LEGACY_SECRET_NAME, value=LEGACY_SECRET, created_ms=1
                    )
                )
            yield url, database
        finally:
            await database.dispose()


async def stored_secrets(database: Database) -> list[Any]:
    async with database.read() as connection:
        return list((await connection.execute(sa.select(server_secrets))).all())


async def new_client(database: Database) -> auth.ClientCredentials:
    async with database.write() as connection:
        return await auth.create_tenant(connection, name="legacy", now_ms=system_clock_ms())


def token_of_the_earlier_release(credentials: auth.ClientCredentials) -> str:
    """An access token as an earlier release signed it: no kid, the database's secret."""
    now_s = int(time.time())
    claims = {
        "iss": "chargeledger",
        "sub": str(credentials.client_id),
        "tid": str(credentials.tenant_id),
        "iat": now_s,
        "exp": now_s + 3600,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, derive_purpose_keys(LEGACY_SECRET).access_token, algorithm="HS256")


def legacy_cursor_keys() -> TokenKeys:
    key = derive_purpose_keys(LEGACY_SECRET).continuation_token
    key_id = key_id_of(LEGACY_SECRET)
    return TokenKeys(signing_id=key_id, signing=key, verifying={key_id: key})


def version_1_cursor(cursor: PageCursor) -> str:
    """A continuation token as an earlier release signed it (version 1, no key id)."""
    payload = struct.pack(
        ">BB16sqqq16s",
        1,
        int(cursor.kind),
        cursor.scope_id.bytes,
        cursor.frame_start_ms,
        cursor.frame_end_ms,
        cursor.after_sort_ms,
        cursor.after_id.bytes,
    )
    key = derive_purpose_keys(LEGACY_SECRET).continuation_token
    tag = hmac.new(key, payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(payload + tag).rstrip(b"=").decode()


async def earlier_release_tokens(
    base_url: str, credentials: auth.ClientCredentials
) -> tuple[httpx.Response, httpx.Response]:
    """The answers to an earlier release's access token listing the tenant's first entity,
    and to its version-1 continuation token for the second (two entities are made)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        token = await authenticate_as(base_url, credentials.client_id, credentials.client_secret)
        headers = {"Authorization": f"Bearer {token}"}
        created = []
        for name in ("first", "second"):
            response = await http.post(
                "/v1/entities", json={"type": "EV", "name": name}, headers=headers
            )
            assert response.status_code == 201, response.text
            created.append(response.json())
        # The position after the first entity, as the earlier release would have signed it.
        position = PageCursor(
            kind=CursorKind.ENTITIES,
            scope_id=credentials.tenant_id,
            frame_start_ms=0,
            frame_end_ms=0,
            after_sort_ms=parse_instant_ms(created[0]["created"]),
            after_id=uuid.UUID(created[0]["id"]),
        )
        old = {"Authorization": f"Bearer {token_of_the_earlier_release(credentials)}"}
        first = await http.get("/v1/entities", params={"pageSize": 1}, headers=old)
        second = await http.get(
            "/v1/entities",
            params={"pageSize": 1, "continuationToken": version_1_cursor(position)},
            headers=old,
        )
    return first, second


def assert_earlier_release_tokens_work(answers: tuple[httpx.Response, httpx.Response]) -> None:
    first, second = answers
    assert first.status_code == 200, first.text
    assert [entity["name"] for entity in first.json()["data"]] == ["first"]
    assert second.status_code == 200, second.text
    assert [entity["name"] for entity in second.json()["data"]] == ["second"]


async def test_the_legacy_secret_moves_into_a_new_key_file_where_it_keeps_signing(
    tmp_path: Path,
) -> None:
    """The key file is made now: the database's secret becomes its signing key, so tokens
    and clients notice nothing; the row is gone from the database."""
    key_file = tmp_path / "keys" / "chargeledger.keys"
    async with database_of_an_earlier_release(tmp_path) as (url, database):
        credentials = await new_client(database)
        env = {"CHARGELEDGER_SECRET_KEY_FILE": str(key_file)}
        with running_server(url, env=env) as base_url:
            assert await stored_secrets(database) == []
            assert_earlier_release_tokens_work(await earlier_release_tokens(base_url, credentials))
            token = await authenticate_as(
                base_url, credentials.client_id, credentials.client_secret
            )
            assert key_id_in(token) == key_id_of(LEGACY_SECRET)
    assert mode_of(key_file) == 0o600
    (moved,), _ = read_key_file(key_file)
    assert (moved.id, moved.secret, moved.retires_ms, moved.legacy) == (
        key_id_of(LEGACY_SECRET),
        LEGACY_SECRET,
        None,
        True,
    )


async def test_the_legacy_secret_moves_into_an_existing_key_file_to_verify_for_a_day(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "keys.json"
    signer = new_key(secret=generate_secret(), now_ms=system_clock_ms())
    write_key_file(key_file, [signer])
    async with database_of_an_earlier_release(tmp_path) as (url, database):
        credentials = await new_client(database)
        started_ms = system_clock_ms()
        with running_server(url, env={"CHARGELEDGER_SECRET_KEY_FILE": str(key_file)}) as base_url:
            assert await stored_secrets(database) == []
            assert_earlier_release_tokens_work(await earlier_release_tokens(base_url, credentials))
            token = await authenticate_as(
                base_url, credentials.client_id, credentials.client_secret
            )
            assert key_id_in(token) == signer.id
    keys, _ = read_key_file(key_file)
    assert [key.id for key in keys] == [signer.id, key_id_of(LEGACY_SECRET)]
    moved = keys[1]
    assert moved.legacy
    assert moved.retires_ms is not None
    assert started_ms + LEGACY_GRACE_MS <= moved.retires_ms <= system_clock_ms() + LEGACY_GRACE_MS


async def test_with_a_configured_secret_the_legacy_secret_is_deleted(tmp_path: Path) -> None:
    """It was unused already (the configured secret took precedence); now it is gone too."""
    async with database_of_an_earlier_release(tmp_path) as (url, database):
        credentials = await new_client(database)
        with running_server(url, env={"CHARGELEDGER_SECRET_KEY": CONFIGURED_SECRET}) as base_url:
            assert await stored_secrets(database) == []
            first, second = await earlier_release_tokens(base_url, credentials)
    assert assert_problem(first, 401)["detail"] == NOT_SIGNED_HERE
    assert_problem(second, 401)


async def test_processes_starting_at_once_move_the_legacy_secret_exactly_once(
    tmp_path: Path,
) -> None:
    """Five processes' start-up at once (each its own engine): the database's delete decides
    which one moves the secret; all end up with the same keys."""
    key_file = tmp_path / "keys.json"
    settings = Settings(secret_key=None, secret_key_file=key_file)
    async with database_of_an_earlier_release(tmp_path) as (url, database):
        engines = [Database(url) for _ in range(5)]
        try:
            sources = await asyncio.gather(
                *(prepare_keys(engine, settings, now_ms=system_clock_ms()) for engine in engines)
            )
        finally:
            for engine in engines:
                await engine.dispose()
        assert await stored_secrets(database) == []
    rings = [KeyRing(source) for source in sources]
    assert {ring.access_tokens(system_clock_ms()).signing_id for ring in rings} == {
        key_id_of(LEGACY_SECRET)
    }
    keys, _ = read_key_file(key_file)
    assert [key.id for key in keys] == [key_id_of(LEGACY_SECRET)]


async def test_processes_starting_at_once_without_a_key_file_agree_on_one_new_key(
    tmp_path: Path, database: Database
) -> None:
    key_file = tmp_path / "made-now.json"
    settings = Settings(secret_key=None, secret_key_file=key_file)
    sources = await asyncio.gather(
        *(prepare_keys(database, settings, now_ms=system_clock_ms()) for _ in range(5))
    )
    signing_ids = {
        KeyRing(source).access_tokens(system_clock_ms()).signing_id for source in sources
    }
    keys, _ = read_key_file(key_file)
    assert len(keys) == 1
    assert signing_ids == {keys[0].id}
    assert mode_of(key_file) == 0o600


# ---- the key file on SQLite: made next to the database ------------------------------------


async def test_on_sqlite_without_a_key_a_key_file_is_made_next_to_the_database(
    tmp_path: Path, api: TenantApi
) -> None:
    """The demo's path: nothing configured. The key file is `<database>.key`, 0600, and it
    signs; the database file and its WAL files are 0600 too."""
    async with fresh_database(tmp_path, name_hint="generated") as url:
        if not url.startswith("sqlite"):
            pytest.skip("a key file next to the database is SQLite's default only")
        await upgrade_to_head_async(url)
        database = Database(url)
        try:
            credentials = await new_client(database)
        finally:
            await database.dispose()
        database_file = Path(url.removeprefix("sqlite:///"))
        key_file = Path(f"{database_file}.key")
        assert not list(key_file.parent.glob(key_file.name))
        with running_server(url, env={"CHARGELEDGER_SECRET_KEY_FILE": ""}) as base_url:
            token = await authenticate_as(
                base_url, credentials.client_id, credentials.client_secret
            )
            assert (await get(base_url, token, "/v1/entities")).status_code == 200
            keys, _ = read_key_file(key_file)
            assert key_id_in(token) == keys[0].id
            for path in (database_file, Path(f"{database_file}-wal"), Path(f"{database_file}-shm")):
                assert mode_of(path) == 0o600, path
        assert mode_of(key_file) == 0o600


# ---- a rotated key: the previous one verifies during its grace period ----------------------


@asynccontextmanager
async def in_process_api(
    database: Database, key_file: Path, clock: list[int]
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this process on the suite's database, its clock at clock[0]."""
    settings = Settings(secret_key=None, secret_key_file=key_file)
    state = AppState(
        settings=settings,
        database=database,
        keys=KeyRing(KeySource(key_file=key_file)),
        clock_ms=lambda: clock[0],
    )
    app = create_app(settings, state=state)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://test") as http,
    ):
        yield http


async def test_tokens_of_the_previous_key_verify_during_the_grace_period_and_not_after(
    tmp_path: Path, api: TenantApi, database: Database
) -> None:
    """At T0 a key signs an access token and a continuation token; the key file is rotated
    with 30 minutes' grace. Until T0 + 30 min both still work (while the access token has
    not expired); from then on both are refused, whatever the clock of the test process."""
    for _ in range(2):
        await api.create_entity("EV")
    key_file = tmp_path / "keys.json"
    t0_ms = system_clock_ms()
    write_key_file(key_file, [new_key(secret=generate_secret(), now_ms=t0_ms - 1000)])
    clock = [t0_ms]
    async with in_process_api(database, key_file, clock) as http:
        login = {"clientId": str(api.client_id), "clientSecret": api.client_secret}
        old_token = (await http.post("/v1/authentication", json=login)).json()["access_token"]
        old_headers = {"Authorization": f"Bearer {old_token}"}
        first = await http.get("/v1/entities", params={"pageSize": 1}, headers=old_headers)
        old_continuation = first.json()["meta"]["continuationToken"]
    rotate_key_file(key_file, now_ms=t0_ms, grace_ms=30 * 60_000)

    async def answers_at(now_ms: int) -> tuple[httpx.Response, httpx.Response]:
        clock[0] = now_ms
        async with in_process_api(database, key_file, clock) as http:
            # A token of the new key, for the continuation token alone.
            new_token = (await http.post("/v1/authentication", json=login)).json()["access_token"]
            assert key_id_in(new_token) != key_id_in(old_token)
            access = await http.get("/v1/entities", headers=old_headers)
            paged = await http.get(
                "/v1/entities",
                params={"pageSize": 1, "continuationToken": old_continuation},
                headers={"Authorization": f"Bearer {new_token}"},
            )
        return access, paged

    access, paged = await answers_at(t0_ms + 30 * 60_000 - 1)
    assert access.status_code == 200, access.text
    assert paged.status_code == 200, paged.text
    access, paged = await answers_at(t0_ms + 30 * 60_000)
    assert assert_problem(access, 401)["detail"] == NOT_SIGNED_HERE
    assert (
        assert_problem(paged, 400)["type"] == "urn:chargeledger:problem:invalid-continuation-token"
    )
