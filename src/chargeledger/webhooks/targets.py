"""Which webhook targets we refuse to send to: our own host, private networks, cloud metadata.

A subscriber chooses the URL, so without this check a delivery is a request from inside our
network to wherever it points (server-side request forgery). The check happens at the moment
of connecting, in the HTTP client's network backend: the name is resolved once, every address
it resolves to is checked, the connection goes to a checked address, and the peer address of
the connected socket is checked again. A name that resolves to a public address when a
subscription is made and to 127.0.0.1 later (DNS rebinding) is refused when it matters.

The operator may allow networks (CHARGELEDGER_WEBHOOK_ALLOWED_NETWORKS, e.g. a receiver on
the same private network, or the tests' receiver on 127.0.0.1).
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Names of cloud instance metadata services; their addresses are link-local or private and
# refused anyway, the names are refused before any lookup.
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_METADATA_ADDRESSES = {
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
}


class TargetRefusedError(httpcore.ConnectError):
    """The target is an address (or name) deliveries may not go to."""


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated networks or addresses ("127.0.0.0/8,::1"); ValueError names a bad one."""
    return tuple(
        ipaddress.ip_network(item.strip(), strict=False) for item in text.split(",") if item.strip()
    )


def address_refusal(address: IPAddress, allowed: Sequence[Network] = ()) -> str | None:
    """Why a delivery may not go to `address`, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:10.0.0.1 reaches 10.0.0.1 on a dual-stack socket: judge the IPv4 address.
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return None
    kind = _forbidden_kind(address)
    return None if kind is None else f"{address} is {kind}"


def _forbidden_kind(address: IPAddress) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = _forbidden_kind(embedded)
            return None if inner is None else f"an IPv6 form of {embedded}, {inner}"
    if address in _METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_private:
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to (NAT64, 6to4, Teredo), if any."""
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def url_refusal(url: str) -> str | None:
    """Why a URL can never be a target, before any lookup (scheme, host, metadata names)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port out of range)
    except ValueError as error:
        return f"the URL cannot be read: {error}"
    if parts.scheme not in ("http", "https"):
        return "only http and https URLs can receive webhooks"
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "the URL has no host"
    if host in METADATA_NAMES:
        return f"{host} is a cloud metadata service"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to, in the resolver's order, without repeats."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class CheckedNetworkBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network backend, connecting only to addresses that pass the check."""

    def __init__(
        self,
        allowed: Sequence[Network] = (),
        *,
        inner: httpcore.AsyncNetworkBackend | None = None,
        resolver: Resolver = resolve,
    ) -> None:
        self.allowed = tuple(allowed)
        self._inner = inner or httpcore.AnyIOBackend()
        self._resolve = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        name = host.rstrip(".").lower()
        if name in METADATA_NAMES:
            raise TargetRefusedError(f"{name} is a cloud metadata service")
        try:
            addresses = [ipaddress.ip_address(name)]
        except ValueError:
            try:
                addresses = [
                    ipaddress.ip_address(found) for found in await self._resolve(host, port)
                ]
            except OSError as error:
                raise httpcore.ConnectError(f"{host} could not be resolved: {error}") from error
        if not addresses:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        # Any refused address refuses the name: which one a connection would use is not ours
        # to choose reliably, and a name that mixes public and private addresses is suspect.
        for address in addresses:
            self._check(address, host)
        last_error: Exception | None = None
        for address in addresses:
            try:
                stream = await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last_error = error
                continue
            try:
                self._check_peer(stream, host)
            except TargetRefusedError:
                await stream.aclose()
                raise
            return stream
        assert last_error is not None
        raise last_error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise TargetRefusedError("webhooks are not delivered to local sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    def _check(self, address: IPAddress, host: str) -> None:
        refusal = address_refusal(address, self.allowed)
        if refusal is not None:
            via = "" if host == str(address) else f"{host} resolves to {address}: "
            raise TargetRefusedError(f"refused: {via}{refusal}")

    def _check_peer(self, stream: httpcore.AsyncNetworkStream, host: str) -> None:
        peer = stream.get_extra_info("server_addr")
        if not peer:
            raise TargetRefusedError(f"refused: the address {host} connected to is unknown")
        self._check(ipaddress.ip_address(str(peer[0]).split("%")[0]), host)
