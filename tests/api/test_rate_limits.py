"""The authentication rate limits in process (api/rate_limits.py): whose address a request
has, what is counted under which key, and what happens when Redis is gone. The same limits
behind a real server are in test_authentication_limits.py."""

import ipaddress
import logging
import uuid
from typing import Any

import pytest

from chargeledger.api.rate_limits import (
    AuthenticationLimitPolicy,
    AuthenticationLimits,
    address_key,
    client_address,
    client_key,
)
from chargeledger.errors import TooManyRequestsError, UnauthorizedError
from chargeledger.settings import Settings
from tests.support.servers import free_port

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def scope(peer: str, *forwarded_for: str) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 51234),
        "headers": [(b"x-forwarded-for", value.encode()) for value in forwarded_for],
    }


def limits(
    *,
    failures_per_client: str = "3/minute",
    failures_per_address: str = "5/minute",
    attempts_per_address: str = "100/minute",
    in_flight_per_address: int = 2,
    storage_url: str | None = None,
) -> AuthenticationLimits:
    settings = Settings(
        auth_failures_per_client=failures_per_client,
        auth_failures_per_address=failures_per_address,
        auth_attempts_per_address=attempts_per_address,
        auth_in_flight_per_address=in_flight_per_address,
    )
    return AuthenticationLimits(
        AuthenticationLimitPolicy.from_settings(settings), storage_url=storage_url
    )


async def fail(limits: AuthenticationLimits, *, address: str, client_id: str) -> None:
    """One attempt with a wrong secret: raises what the limits raise."""
    with pytest.raises(UnauthorizedError):
        async with limits.attempt(address=address, client_id=client_id):
            raise UnauthorizedError("wrong secret")


# ---- whose address ------------------------------------------------------------------------


def test_the_peer_is_the_address_when_no_proxy_is_trusted() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1")) == "203.0.113.7"


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored() -> None:
    assert client_address(scope("203.0.113.7", "198.51.100.1"), PROXIES) == "203.0.113.7"


def test_behind_a_trusted_proxy_the_address_is_the_last_untrusted_hop() -> None:
    # The client wrote the first hop itself; the proxies appended the rest.
    request = scope("127.0.0.1", "1.2.3.4, 198.51.100.9, 10.1.1.1")
    assert client_address(request, PROXIES) == "198.51.100.9"


def test_several_x_forwarded_for_headers_read_as_one_list() -> None:
    request = scope("127.0.0.1", "1.2.3.4", "198.51.100.9")
    assert client_address(request, PROXIES) == "198.51.100.9"


def test_a_garbled_hop_stops_the_walk_at_the_last_good_one() -> None:
    assert client_address(scope("127.0.0.1", "1.2.3.4, junk, 10.2.2.2"), PROXIES) == "10.2.2.2"
    assert client_address(scope("127.0.0.1", "junk"), PROXIES) == "127.0.0.1"


def test_trusted_proxies_setting_takes_addresses_and_networks() -> None:
    settings = Settings(trusted_proxies="127.0.0.1, 10.0.0.0/8,fd00::/8")
    assert [str(network) for network in settings.trusted_proxy_networks] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "fd00::/8",
    ]


@pytest.mark.parametrize(
    "setting",
    [
        {"trusted_proxies": "not-an-address"},
        {"auth_failures_per_client": "ten per fortnight"},
    ],
)
def test_unreadable_limit_settings_refuse_to_start(setting: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="validation error"):
        Settings(**setting)  # type: ignore[arg-type]


# ---- what is counted under which key ------------------------------------------------------


def test_ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:bbbb::2")
    assert address_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("192.0.2.1") == "192.0.2.1"


def test_a_client_id_counts_the_same_in_any_spelling_and_junk_by_digest() -> None:
    client_id = uuid.uuid4()
    assert client_key(str(client_id).upper()) == client_key(str(client_id)) == str(client_id)
    junk = client_key("a/b:c" * 20)
    assert junk.startswith("sha256:")
    assert "/" not in junk


async def test_failures_for_one_client_are_limited_across_addresses() -> None:
    guard = limits(failures_per_client="3/minute")
    client_id = str(uuid.uuid4())
    for n in range(3):
        await fail(guard, address=f"192.0.2.{n}", client_id=client_id)
    with pytest.raises(TooManyRequestsError) as refused:
        async with guard.attempt(address="198.51.100.1", client_id=client_id):
            pass
    assert "failed attempts for this clientId (at most 3 per minute)" in refused.value.detail
    assert 1 <= refused.value.retry_after_s <= 60


async def test_a_client_under_guessing_still_gets_in_from_where_it_logged_in_before() -> None:
    """The per-client limit must not let an attacker lock the owner out: an address the
    client authenticated from within the day still gets its attempts (with its own limits)."""
    guard = limits(failures_per_client="3/minute")
    client_id = str(uuid.uuid4())
    async with guard.attempt(address="203.0.113.7", client_id=client_id):
        pass  # the owner's hourly login
    for n in range(3):
        await fail(guard, address=f"192.0.2.{n}", client_id=client_id)
    async with guard.attempt(address="203.0.113.7", client_id=client_id):
        pass  # the owner again: not refused
    with pytest.raises(TooManyRequestsError):
        async with guard.attempt(address="198.51.100.1", client_id=client_id):
            pass  # anyone else still is


async def test_failures_from_one_address_are_limited_across_clients() -> None:
    guard = limits(failures_per_address="5/minute")
    for _ in range(5):
        await fail(guard, address="192.0.2.1", client_id=str(uuid.uuid4()))
    with pytest.raises(TooManyRequestsError) as refused:
        async with guard.attempt(address="192.0.2.1", client_id=str(uuid.uuid4())):
            pass
    assert "failed attempts from this address (at most 5 per minute)" in refused.value.detail
    # Another address is not affected.
    async with guard.attempt(address="192.0.2.2", client_id=str(uuid.uuid4())):
        pass


async def test_successes_are_not_counted_as_failures() -> None:
    guard = limits(failures_per_client="3/minute", failures_per_address="3/minute")
    client_id = str(uuid.uuid4())
    for _ in range(10):
        async with guard.attempt(address="192.0.2.1", client_id=client_id):
            pass


async def test_every_attempt_counts_toward_the_per_address_cap() -> None:
    guard = limits(attempts_per_address="4/minute")
    for _ in range(4):
        async with guard.attempt(address="192.0.2.1", client_id=str(uuid.uuid4())):
            pass
    with pytest.raises(TooManyRequestsError) as refused:
        async with guard.attempt(address="192.0.2.1", client_id=str(uuid.uuid4())):
            pass
    assert "attempts from this address (at most 4 per minute)" in refused.value.detail


async def test_an_address_may_have_only_so_many_attempts_being_checked_at_once() -> None:
    guard = limits(in_flight_per_address=2)
    async with (
        guard.attempt(address="192.0.2.1", client_id="a"),
        guard.attempt(address="192.0.2.1", client_id="b"),
    ):
        with pytest.raises(TooManyRequestsError) as refused:
            async with guard.attempt(address="192.0.2.1", client_id="c"):
                pass
        assert refused.value.retry_after_s == 1
        async with guard.attempt(address="192.0.2.2", client_id="d"):
            pass
    async with guard.attempt(address="192.0.2.1", client_id="e"):
        pass  # the first two are done: room again


# ---- Redis gone ---------------------------------------------------------------------------


async def test_an_unreachable_redis_falls_back_to_counting_in_the_process(
    caplog: pytest.LogCaptureFixture,
) -> None:
    nobody_listens = f"redis://127.0.0.1:{free_port()}/0"
    guard = limits(failures_per_client="2/minute", storage_url=nobody_listens)
    client_id = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="chargeledger.api.rate_limits"):
        await fail(guard, address="192.0.2.1", client_id=client_id)
        await fail(guard, address="192.0.2.2", client_id=client_id)
        with pytest.raises(TooManyRequestsError):
            async with guard.attempt(address="192.0.2.3", client_id=client_id):
                pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings, "the fall-back is logged"
    assert "the rate limit storage failed" in warnings[0]
    # Logged once per pause, not once per request.
    assert len(warnings) == 1
