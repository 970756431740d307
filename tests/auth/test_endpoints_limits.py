"""POST /v1/authentication under a flood (finding 2 of issue 10), against real servers of their
own with low limits: floods are answered 401 or 429 (never 500), a 429 is a problem with
Retry-After, one client's secret cannot be guessed from many addresses, a legitimate client
authenticates and reads its sessions while a flood holds, and instances sharing a Redis share
the counts (and without their Redis, still limit and never answer 500)."""

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.auth.service import ClientCredentials
from chargeledger.storage.database import Database
from tests.support.in_process import app_in_process, client_of
from tests.support.redis_server import running_redis
from tests.support.servers import free_port, running_server

FAILURES_PER_ADDRESS = 10
FAILURES_PER_CLIENT = 5
IN_FLIGHT_PER_ADDRESS = 4
LOW_LIMITS = {
    "CHARGELEDGER_AUTH_FAILURES_PER_ADDRESS": f"{FAILURES_PER_ADDRESS}/minute",
    "CHARGELEDGER_AUTH_FAILURES_PER_CLIENT": f"{FAILURES_PER_CLIENT}/minute",
    "CHARGELEDGER_AUTH_ATTEMPTS_PER_ADDRESS": "100000/minute",
    "CHARGELEDGER_AUTH_IN_FLIGHT_PER_ADDRESS": str(IN_FLIGHT_PER_ADDRESS),
    # Generous, so that a loaded test machine never turns a legitimate request into a 503.
    "CHARGELEDGER_AUTH_HASH_QUEUE": "16",
    "CHARGELEDGER_AUTH_HASH_WAIT_SECONDS": "30",
    "CHARGELEDGER_AUTH_HASH_CONCURRENCY": "1",
    # The tests speak for many addresses through X-Forwarded-For from 127.0.0.1.
    "CHARGELEDGER_TRUSTED_PROXIES": "127.0.0.1",
    # A real (if small) argon2id cost, so each wrong secret costs the server something.
    "CHARGELEDGER_SECRET_HASH_TIME_COST": "2",
    "CHARGELEDGER_SECRET_HASH_MEMORY_KIB": "8192",
}
PROBLEM = "application/problem+json"
ATTEMPTS_PER_SENDER = 20


@pytest.fixture(scope="module")
def limited_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log_path = tmp_path_factory.mktemp("limited") / "server.log"
    with running_server(database_url, env=LOW_LIMITS, log_path=log_path) as base_url:
        yield base_url


@pytest.fixture
async def http(limited_server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=limited_server, timeout=60) as client:
        yield client


async def new_client(database: Database) -> ClientCredentials:
    async with database.write() as connection:
        return await auth.create_tenant(connection, name="limits test", now_ms=system_clock_ms())


async def authenticate(
    http: httpx.AsyncClient,
    client_id: object,
    secret: str,
    *,
    address: str | None = None,
) -> httpx.Response:
    """From `address` as a trusted proxy (127.0.0.1) reports it, or from the peer itself."""
    headers = {"X-Forwarded-For": address} if address else {}
    return await http.post(
        "/v1/authentication",
        json={"clientId": str(client_id), "clientSecret": secret},
        headers=headers,
    )


def assert_too_many_requests(response: httpx.Response, *, names: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "urn:chargeledger:problem:too-many-requests"
    assert problem["title"] == "Too Many Requests"
    assert problem["status"] == 429
    assert names in problem["detail"], problem
    retry_after_s = int(response.headers["retry-after"])
    assert 1 <= retry_after_s <= 60


def unique_address() -> str:
    """A documentation-range address of this test's own (limits live for a minute)."""
    value = uuid.uuid4().int
    return f"198.{18 + value % 2}.{value >> 8 & 255}.{value & 255}"


async def test_a_flood_of_wrong_secrets_is_answered_401_or_429_while_others_carry_on(
    limited_server: str, database: Database
) -> None:
    """48 concurrent senders of wrong secrets from one address, for as long as it takes a
    legitimate client on another address to authenticate, create an entity and list its
    sessions: every flood answer is 401 or 429 (never 500), and the legitimate calls succeed."""
    legitimate = await new_client(database)
    answers: list[httpx.Response] = []
    refused_enough = asyncio.Event()
    stop = asyncio.Event()

    async def send_wrong_secrets(attacker: httpx.AsyncClient) -> None:
        attempts = 0
        while not stop.is_set():
            # Until the flood is refused, bounded: a server with no limit fails this test
            # instead of hanging it. After that, on until the legitimate client is done.
            if attempts >= ATTEMPTS_PER_SENDER and not refused_enough.is_set():
                return
            attempts += 1
            answer = await authenticate(attacker, uuid.uuid4(), "wrong secret")
            answers.append(answer)
            if sum(a.status_code == 429 for a in answers) >= 48:
                refused_enough.set()

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(base_url=limited_server, timeout=60, limits=limits) as attacker:
        flood = [asyncio.create_task(send_wrong_secrets(attacker)) for _ in range(48)]
        try:
            flood_over = asyncio.ensure_future(asyncio.gather(*flood))
            refused: asyncio.Future[Any] = asyncio.ensure_future(refused_enough.wait())
            await asyncio.wait([refused, flood_over], return_when=asyncio.FIRST_COMPLETED)
            assert refused_enough.is_set(), "the flood was never refused with 429"
            # The limit holds the flood now. The legitimate client connects from 127.0.0.2:
            # another peer, not a proxy.
            transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
            async with httpx.AsyncClient(
                base_url=limited_server, timeout=60, transport=transport
            ) as user:
                response = await authenticate(user, legitimate.client_id, legitimate.client_secret)
                assert response.status_code == 200, response.text
                user.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
                created = await user.post("/v1/entities", json={"type": "EV", "name": "car"})
                assert created.status_code == 201, created.text
                listed = await user.get(
                    f"/v1/entities/{created.json()['id']}/charge-sessions",
                    params={"start": "2024-01-01T00:00:00Z"},
                )
                assert listed.status_code == 200, listed.text
            assert not flood_over.done(), "the flood held throughout"
        finally:
            stop.set()
            await asyncio.gather(*flood)

    statuses = [answer.status_code for answer in answers]
    assert set(statuses) <= {401, 429}, sorted(set(statuses))
    # Hashed at most: the failures the address may have, plus those already being checked
    # when the limit was reached.
    assert statuses.count(401) <= FAILURES_PER_ADDRESS + IN_FLIGHT_PER_ADDRESS
    assert_too_many_requests(
        next(answer for answer in reversed(answers) if answer.status_code == 429),
        names="from this address",
    )


async def test_failures_from_one_address_are_limited_and_the_429_says_when_to_retry(
    http: httpx.AsyncClient, database: Database
) -> None:
    guesser, bystander = unique_address(), unique_address()
    for _ in range(FAILURES_PER_ADDRESS):
        response = await authenticate(http, uuid.uuid4(), "wrong", address=guesser)
        assert response.status_code == 401, response.text
    response = await authenticate(http, uuid.uuid4(), "wrong", address=guesser)
    assert_too_many_requests(
        response,
        names=f"failed attempts from this address (at most {FAILURES_PER_ADDRESS} per minute)",
    )
    # Counted per address: another one is still answered on its merits.
    assert (await authenticate(http, uuid.uuid4(), "wrong", address=bystander)).status_code == 401
    client = await new_client(database)
    response = await authenticate(http, client.client_id, client.client_secret, address=bystander)
    assert response.status_code == 200, response.text


async def test_one_clients_secret_cannot_be_guessed_from_many_addresses(
    http: httpx.AsyncClient, database: Database
) -> None:
    victim, other = await new_client(database), await new_client(database)
    for _ in range(FAILURES_PER_CLIENT):
        response = await authenticate(http, victim.client_id, "guess", address=unique_address())
        assert response.status_code == 401, response.text
    fresh_address = unique_address()
    response = await authenticate(http, victim.client_id, "guess", address=fresh_address)
    assert_too_many_requests(response, names="failed attempts for this clientId")
    # Until the window passes, the clientId is refused before its secret is checked, the
    # right one too (README, "Authentication limits"); other clients are not affected.
    response = await authenticate(
        http, victim.client_id, victim.client_secret, address=fresh_address
    )
    assert_too_many_requests(response, names="failed attempts for this clientId")
    response = await authenticate(http, other.client_id, other.client_secret, address=fresh_address)
    assert response.status_code == 200, response.text


async def test_a_client_id_that_does_not_exist_is_limited_like_one_that_does(
    http: httpx.AsyncClient,
) -> None:
    """Otherwise a 429 would tell which clientIds exist."""
    nobody = uuid.uuid4()
    for _ in range(FAILURES_PER_CLIENT):
        response = await authenticate(http, nobody, "guess", address=unique_address())
        assert response.status_code == 401, response.text
    response = await authenticate(http, nobody, "guess", address=unique_address())
    assert_too_many_requests(response, names="failed attempts for this clientId")


async def test_x_forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored(
    limited_server: str,
) -> None:
    """127.0.0.3 is not in CHARGELEDGER_TRUSTED_PROXIES: a new X-Forwarded-For on every
    attempt does not make it a new address."""
    transport = httpx.AsyncHTTPTransport(local_address="127.0.0.3")
    async with httpx.AsyncClient(
        base_url=limited_server, timeout=60, transport=transport
    ) as spoofer:
        for _ in range(FAILURES_PER_ADDRESS):
            response = await authenticate(spoofer, uuid.uuid4(), "x", address=unique_address())
            assert response.status_code == 401, response.text
        response = await authenticate(spoofer, uuid.uuid4(), "x", address=unique_address())
    assert_too_many_requests(response, names="from this address")


# ---- shared through Redis -----------------------------------------------------------------
# Two instances of the app in this process, each with its own limits, as two workers or two
# machines would have them.

IN_PROCESS_LIMITS = {
    "auth_failures_per_client": f"{FAILURES_PER_CLIENT}/minute",
    "auth_failures_per_address": f"{FAILURES_PER_ADDRESS}/minute",
}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with running_redis() as url:
        yield url


async def test_two_instances_with_one_redis_share_the_counts(
    database_url: str, database: Database, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = await new_client(database)
    settings = {**IN_PROCESS_LIMITS, "rate_limit_storage_url": redis_url}
    async with (
        app_in_process(database_url, monkeypatch, **settings) as (app_a, _),
        app_in_process(database_url, monkeypatch, **settings) as (app_b, _),
    ):
        # The failures alternate between the instances: neither sees enough on its own.
        for attempt in range(FAILURES_PER_CLIENT):
            async with client_of((app_a, app_b)[attempt % 2], unique_address()) as http:
                response = await authenticate(http, victim.client_id, "guess")
            assert response.status_code == 401, response.text
        for app in (app_a, app_b):
            async with client_of(app, unique_address()) as http:
                response = await authenticate(http, victim.client_id, "guess")
            assert_too_many_requests(response, names="failed attempts for this clientId")


async def test_without_its_redis_an_instance_still_limits_and_never_answers_500(
    database_url: str,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    settings = {**IN_PROCESS_LIMITS, "rate_limit_storage_url": nobody_listens}
    victim, other = await new_client(database), await new_client(database)
    with caplog.at_level(logging.WARNING, logger="chargeledger.api.rate_limits"):
        async with app_in_process(database_url, monkeypatch, **settings) as (app, _):
            for _ in range(FAILURES_PER_CLIENT):
                async with client_of(app, unique_address()) as http:
                    response = await authenticate(http, victim.client_id, "guess")
                assert response.status_code == 401, response.text
            async with client_of(app, unique_address()) as http:
                response = await authenticate(http, victim.client_id, "guess")
                assert_too_many_requests(response, names="failed attempts for this clientId")
                response = await authenticate(http, other.client_id, other.client_secret)
                assert response.status_code == 200, response.text
    assert any("the rate limit storage failed" in r.getMessage() for r in caplog.records)
