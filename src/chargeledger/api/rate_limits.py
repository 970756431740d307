"""The rate limits of POST /v1/authentication (README, "Authentication limits").

What is counted, and why:
- failed attempts per clientId: guessing one client's secret from many addresses is stopped
  (a clientId that does not exist is counted like one that does: the answers never tell
  which clientIds exist);
- failed attempts per address: one address guessing many clients' secrets is stopped;
- every attempt per address, generously: a flood of anything from one address is cut off
  before it costs a hash;
- requests of one address being checked at once (per process): one address cannot fill the
  queue of secrets waiting to be hashed (auth/hashing_gate.py) and starve the others.

A client that authenticates with its right secret, hourly as its token expires, never comes
near any of these. The limits are checked before the secret is hashed, so a refused attempt
costs a few lookups, not an argon2id hash; failures are recorded after it.

Counts live in each process's memory, or in Redis when a storage URL is configured, shared by
every worker and machine that names it. If Redis cannot be reached the process counts in its
own memory for a while and logs a warning: the limits go on (per process), nothing answers 500.
"""

import asyncio
import hashlib
import ipaddress
import logging
import math
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from starlette.types import Scope

from chargeledger.errors import TooManyRequestsError, UnauthorizedError
from chargeledger.settings import Settings

logger = logging.getLogger("chargeledger.api.rate_limits")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
T = TypeVar("T")

# Keys in a Redis that other applications may share start with this.
REDIS_KEY_PREFIX = "chargeledger"
# A Redis that does not answer within this costs the request no more; the process then
# counts alone for the pause before it tries Redis again.
REDIS_TIMEOUT_S = 0.5
REDIS_RETRY_PAUSE_S = 10.0
IN_FLIGHT_RETRY_AFTER_S = 1
# Successful logins are remembered per client and address for a day (the count is not a limit:
# only whether there was one matters), so a client whose secret is being guessed elsewhere
# still gets in from where it always does.
_KNOWN_ADDRESS_WINDOW = parse_many("1000000/day")[0]


def client_address(scope: Scope, trusted_proxies: tuple[Network, ...] = ()) -> str:
    """The address a request comes from: its peer, or, when the peer is a trusted proxy, the
    last address in X-Forwarded-For that is not itself a trusted proxy (the ones to its left
    were written by the client, who may write anything)."""
    peer = scope.get("client")
    address = str(peer[0]) if peer else "unknown"
    if not trusted_proxies or not _is_within(address, trusted_proxies):
        return address
    hops = [
        hop.strip()
        for name, value in scope.get("headers", ())
        if name == b"x-forwarded-for"
        for hop in value.decode("latin-1").split(",")
    ]
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break  # a garbled hop: trust nothing further to its left
        address = hop
        if not _is_within(hop, trusted_proxies):
            break
    return address


def _is_within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def address_key(address: str) -> str:
    """IPv6 addresses are counted per /64: one subscriber has a whole /64 to pick from."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)


def client_key(client_id: str) -> str:
    """A clientId as counted: UUIDs in one spelling, anything else by digest (keys stay short
    and free of separators)."""
    try:
        return str(uuid.UUID(client_id))
    except ValueError:
        return "sha256:" + hashlib.sha256(client_id.encode()).hexdigest()[:32]


def _redis_uri(url: str) -> str:
    # The library's async Redis storage is chosen by the scheme; people write plain redis://.
    return url if url.startswith("async+") else f"async+{url}"


@dataclass(frozen=True)
class AuthenticationLimitPolicy:
    failures_per_client: list[RateLimitItem]
    failures_per_address: list[RateLimitItem]
    attempts_per_address: list[RateLimitItem]
    in_flight_per_address: int

    @classmethod
    def from_settings(cls, settings: Settings) -> "AuthenticationLimitPolicy":
        return cls(
            failures_per_client=parse_many(settings.auth_failures_per_client),
            failures_per_address=parse_many(settings.auth_failures_per_address),
            attempts_per_address=parse_many(settings.auth_attempts_per_address),
            in_flight_per_address=settings.auth_in_flight_per_address,
        )


class AuthenticationLimits:
    """One per process."""

    def __init__(
        self,
        policy: AuthenticationLimitPolicy,
        *,
        storage_url: str | None = None,
        trusted_proxies: tuple[Network, ...] = (),
    ) -> None:
        self.policy = policy
        self.trusted_proxies = trusted_proxies
        # Sliding-window counters: two numbers per key, where a moving window keeps every hit.
        self._local = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._shared = (
            None
            if storage_url is None
            else SlidingWindowCounterRateLimiter(
                RedisStorage(
                    _redis_uri(storage_url),
                    wrap_exceptions=True,
                    key_prefix=REDIS_KEY_PREFIX,
                    connect_timeout=REDIS_TIMEOUT_S,
                    stream_timeout=REDIS_TIMEOUT_S,
                )
            )
        )
        self._shared_paused_until_s = 0.0
        # Requests being checked, per address: in this process only, like the hashing queue.
        self._in_flight: Counter[str] = Counter()

    @classmethod
    def from_settings(cls, settings: Settings) -> "AuthenticationLimits":
        return cls(
            AuthenticationLimitPolicy.from_settings(settings),
            storage_url=settings.rate_limit_storage_url,
            trusted_proxies=settings.trusted_proxy_networks,
        )

    def address_of(self, scope: Scope) -> str:
        return client_address(scope, self.trusted_proxies)

    @asynccontextmanager
    async def attempt(self, *, address: str, client_id: str) -> AsyncIterator[bool]:
        """Around one authentication: TooManyRequestsError before the block if a limit is
        exhausted; an UnauthorizedError leaving the block is counted as a failure. Yields
        whether the client authenticated from this address within the day (known: its
        secret's check goes first, auth/hashing_gate.py)."""
        address = address_key(address)
        client = client_key(client_id)
        if self._in_flight[address] >= self.policy.in_flight_per_address:
            raise TooManyRequestsError(
                f"this address already has {self.policy.in_flight_per_address} "
                "authentications being checked; wait for their answers",
                retry_after_s=IN_FLIGHT_RETRY_AFTER_S,
            )
        self._in_flight[address] += 1
        try:
            known = await self._known_address(address=address, client=client)
            await self._check(address=address, client=client, known=known)
            try:
                yield known
            except UnauthorizedError:
                await self._record_failure(address=address, client=client)
                raise
            await self._hit(_KNOWN_ADDRESS_WINDOW, ("auth-success", client, address))
        finally:
            self._in_flight[address] -= 1
            if self._in_flight[address] <= 0:
                del self._in_flight[address]

    async def _check(self, *, address: str, client: str, known: bool) -> None:
        attempts = ("auth-attempts", address)
        for item in self.policy.attempts_per_address:
            if not await self._hit(item, attempts):
                raise await self._refusal(item, attempts, "attempts from this address")
        address_failures = ("auth-failures-address", address)
        for item in self.policy.failures_per_address:
            if not await self._test(item, address_failures):
                raise await self._refusal(
                    item, address_failures, "failed attempts from this address"
                )
        client_failures = ("auth-failures-client", client)
        for item in self.policy.failures_per_client:
            if not await self._test(item, client_failures):
                # The owner goes on from where it logged in before: someone guessing its
                # secret elsewhere must not lock it out (its own address's limits still hold).
                if known:
                    return
                raise await self._refusal(
                    item, client_failures, "failed attempts for this clientId"
                )

    async def _known_address(self, *, address: str, client: str) -> bool:
        """Whether this client authenticated from this address within the last day."""
        stats = await self._counted(
            lambda limiter: limiter.get_window_stats(
                _KNOWN_ADDRESS_WINDOW, "auth-success", client, address
            )
        )
        return stats.remaining < _KNOWN_ADDRESS_WINDOW.amount

    async def _record_failure(self, *, address: str, client: str) -> None:
        for item in self.policy.failures_per_address:
            await self._hit(item, ("auth-failures-address", address))
        for item in self.policy.failures_per_client:
            await self._hit(item, ("auth-failures-client", client))

    async def _refusal(
        self, item: RateLimitItem, identifiers: tuple[str, ...], what: str
    ) -> TooManyRequestsError:
        stats = await self._counted(lambda limiter: limiter.get_window_stats(item, *identifiers))
        retry_after_s = max(1, math.ceil(stats.reset_time - time.time()))
        return TooManyRequestsError(
            f"too many {what} (at most {item.amount} per {_window(item)}); "
            f"try again in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    async def _hit(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        return await self._counted(lambda limiter: limiter.hit(item, *identifiers))

    async def _test(self, item: RateLimitItem, identifiers: tuple[str, ...]) -> bool:
        return await self._counted(lambda limiter: limiter.test(item, *identifiers))

    async def _counted(
        self, operation: Callable[[SlidingWindowCounterRateLimiter], Awaitable[T]]
    ) -> T:
        """The operation on the shared counts, or on this process's own while Redis fails."""
        if self._shared is not None and time.monotonic() >= self._shared_paused_until_s:
            try:
                async with asyncio.timeout(REDIS_TIMEOUT_S * 2):
                    return await operation(self._shared)
            except Exception as error:
                self._shared_paused_until_s = time.monotonic() + REDIS_RETRY_PAUSE_S
                logger.warning(
                    "the rate limit storage failed (%s: %s); counting in this process for "
                    "%g s before trying it again",
                    type(error).__name__,
                    error,
                    REDIS_RETRY_PAUSE_S,
                )
        return await operation(self._local)


def _window(item: RateLimitItem) -> str:
    """'minute', '10 minutes'."""
    granularity = item.GRANULARITY.name
    return granularity if item.multiples == 1 else f"{item.multiples} {granularity}s"
