"""Webhook targets (chargeledger.webhooks.targets): our host, private networks and cloud
metadata are refused unless allowed, by the address actually connected to."""

import ipaddress
from typing import Any

import httpcore
import pytest

from chargeledger.webhooks.targets import (
    CheckedNetworkBackend,
    TargetRefusedError,
    address_refusal,
    parse_networks,
    url_refusal,
)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("fd12:3456::1", "private"),  # ULA, fc00::/7
        ("169.254.169.254", "cloud metadata"),
        ("fd00:ec2::254", "cloud metadata"),
        ("169.254.1.1", "link-local"),
        ("fe80::1", "link-local"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("100.100.100.200", "carrier-grade NAT"),  # Alibaba's metadata service
        ("0.0.0.0", "unspecified"),  # noqa: S104
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        # Reserved and documentation ranges: private or not public, by Python's version.
        ("240.0.0.1", "address"),
        ("192.0.2.1", "address"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "cloud metadata"),
        ("64:ff9b::a00:1", "IPv6 form of 10.0.0.1"),  # NAT64
        ("2002:c0a8:0101::1", "IPv6 form of 192.168.1.1"),  # 6to4
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
    ],
)
def test_addresses_that_are_refused(address: str, kind: str) -> None:
    refusal = address_refusal(ipaddress.ip_address(address))
    assert refusal is not None
    assert kind in refusal


@pytest.mark.parametrize(
    "address", ["8.8.8.8", "93.184.215.14", "2001:4860:4860::8888", "64:ff9b::808:808"]
)
def test_public_addresses_are_not_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_operator_allows_networks() -> None:
    allowed = parse_networks("127.0.0.0/8, ::1/128,10.1.2.0/24")
    assert address_refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("::1"), allowed) is None
    assert address_refusal(ipaddress.ip_address("10.1.2.3"), allowed) is None
    assert address_refusal(ipaddress.ip_address("10.1.3.3"), allowed) is not None
    assert address_refusal(ipaddress.ip_address("169.254.169.254"), allowed) is not None
    with pytest.raises(ValueError, match="does not appear to be"):
        parse_networks("not-a-network")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/hook", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http:///path", "no host"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://METADATA.google.internal./x", "metadata"),
        ("http://example.com:99999/", "cannot be read"),
    ],
)
def test_urls_that_can_never_be_targets(url: str, reason: str) -> None:
    refusal = url_refusal(url)
    assert refusal is not None
    assert reason in refusal


def test_ordinary_urls_pass_the_url_check() -> None:
    assert url_refusal("https://hooks.example.com/chargeledger?x=1") is None
    assert url_refusal("http://127.0.0.1:8080/hooks") is None  # the address is checked later


class FakeStream(httpcore.AsyncNetworkStream):
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.closed = False

    def get_extra_info(self, info: str) -> Any:
        return (self.peer, 443) if info == "server_addr" else None

    async def aclose(self) -> None:
        self.closed = True


class FakeBackend(httpcore.AsyncNetworkBackend):
    """Connects nowhere: records where it was asked to connect, and reports a peer."""

    def __init__(self, peer: str | None = None) -> None:
        self.peer = peer
        self.connected_to: list[str] = []
        self.streams: list[FakeStream] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> FakeStream:
        self.connected_to.append(host)
        stream = FakeStream(self.peer or host)
        self.streams.append(stream)
        return stream


def resolver_of(addresses: list[str]) -> Any:
    async def resolve(host: str, port: int) -> list[str]:
        return addresses

    return resolve


async def test_a_name_is_resolved_once_and_the_checked_address_connected_to() -> None:
    """No second lookup that could answer differently (DNS rebinding)."""
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["93.184.215.14"]

    inner = FakeBackend()
    backend = CheckedNetworkBackend(inner=inner, resolver=resolve)
    await backend.connect_tcp("hooks.example.com", 443)
    assert lookups == ["hooks.example.com"]
    assert inner.connected_to == ["93.184.215.14"]


async def test_a_name_with_any_refused_address_is_refused() -> None:
    inner = FakeBackend()
    backend = CheckedNetworkBackend(
        inner=inner, resolver=resolver_of(["93.184.215.14", "10.0.0.5"])
    )
    with pytest.raises(TargetRefusedError, match=r"rebind\.example resolves to 10\.0\.0\.5"):
        await backend.connect_tcp("rebind.example", 443)
    assert inner.connected_to == []


async def test_the_peer_connected_to_is_checked_too() -> None:
    inner = FakeBackend(peer="127.0.0.1")
    backend = CheckedNetworkBackend(inner=inner, resolver=resolver_of(["93.184.215.14"]))
    with pytest.raises(TargetRefusedError, match="loopback"):
        await backend.connect_tcp("sneaky.example", 443)
    assert inner.streams[0].closed


async def test_allowed_networks_connect() -> None:
    inner = FakeBackend()
    backend = CheckedNetworkBackend(
        parse_networks("127.0.0.0/8"), inner=inner, resolver=resolver_of(["127.0.0.1"])
    )
    stream = await backend.connect_tcp("localhost", 8080)
    assert stream.get_extra_info("server_addr") == ("127.0.0.1", 443)


async def test_metadata_names_and_local_sockets_are_refused_without_a_lookup() -> None:
    backend = CheckedNetworkBackend(
        parse_networks("0.0.0.0/0,::/0"), inner=FakeBackend(), resolver=resolver_of([])
    )
    with pytest.raises(TargetRefusedError, match="metadata"):
        await backend.connect_tcp("metadata.google.internal", 80)
    with pytest.raises(TargetRefusedError, match="local sockets"):
        await backend.connect_unix_socket("/var/run/docker.sock")


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    backend = CheckedNetworkBackend(inner=FakeBackend(), resolver=fails)
    with pytest.raises(httpcore.ConnectError, match="could not be resolved"):
        await backend.connect_tcp("nowhere.invalid", 443)
