"""Slow clients cannot hold the server (issue 10, finding 3): a body slower than the minimum
pace is answered 408 and cut off; one address cannot have more than its share of bodies in
flight while others are served at once; a request head that never ends is closed by Granian.

Each test runs its own server with small limits (a 1 s grace, 2 bodies per address), over raw
sockets from chosen loopback addresses, and waits for answers rather than timing anything."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.servers import running_server

LIMITS = {
    "CHARGELEDGER_BODY_READ_GRACE_SECONDS": "1",
    "CHARGELEDGER_BODY_MIN_RATE_BYTES_PER_SECOND": "1000",
    "CHARGELEDGER_MAX_BODIES_IN_FLIGHT_PER_ADDRESS": "2",
    "CHARGELEDGER_HEADER_READ_TIMEOUT_SECONDS": "1",
}
ANSWER_WAIT_S = 30  # generous: only a hung server would take this long


@pytest.fixture(scope="module")
def limited_server(database_url: str) -> Iterator[str]:
    with running_server(database_url, env=LIMITS) as base_url:
        yield base_url


def _host_port(base_url: str) -> tuple[str, int]:
    host, port = base_url.removeprefix("http://").split(":")
    return host, int(port)


@contextlib.asynccontextmanager
async def _raw(
    base_url: str, local_address: str
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    host, port = _host_port(base_url)
    reader, writer = await asyncio.open_connection(host, port, local_addr=(local_address, 0))
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


def _post_head(base_url: str, length: int) -> bytes:
    host, port = _host_port(base_url)
    return (
        f"POST /v1/authentication HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def _status_and_text(reader: asyncio.StreamReader) -> tuple[int, str]:
    answer = await asyncio.wait_for(reader.read(65536), ANSWER_WAIT_S)
    head = answer.split(b"\r\n", 1)[0].decode()
    return int(head.split(" ")[1]), answer.decode(errors="replace")


async def test_a_body_slower_than_the_pace_is_answered_408_and_the_connection_closed(
    limited_server: str,
) -> None:
    async with _raw(limited_server, "127.0.0.11") as (reader, writer):
        writer.write(_post_head(limited_server, 1_000_000) + b"{")
        await writer.drain()
        status, text = await _status_and_text(reader)
        assert status == 408
        assert "application/problem+json" in text
        assert "too slowly" in text
        assert "connection: close" in text.lower()


async def test_a_body_at_a_normal_pace_is_read_whole(limited_server: str) -> None:
    """Far more than the grace's worth of bytes, sent in pieces: the pace grows with them."""
    body = b'{"clientId": "' + b"x" * 20_000 + b'", "clientSecret": "y"}'
    async with _raw(limited_server, "127.0.0.12") as (reader, writer):
        writer.write(_post_head(limited_server, len(body)))
        for start in range(0, len(body), 4096):
            writer.write(body[start : start + 4096])
            await writer.drain()
        status, _ = await _status_and_text(reader)
    assert status in (400, 401)  # read and judged, not cut off


async def _keep_pace(writer: asyncio.StreamWriter) -> None:
    """Send body bytes at 20 kB/s, far above the 1 kB/s minimum: the body stays in flight."""
    while True:
        writer.write(b" " * 2000)
        await writer.drain()
        await asyncio.sleep(0.1)


async def test_one_address_gets_its_share_of_bodies_in_flight_and_others_are_served(
    limited_server: str,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        # Two bodies in flight from one address, kept on pace: its whole share.
        pacers = []
        for _ in range(2):
            reader, writer = await stack.enter_async_context(_raw(limited_server, "127.0.0.13"))
            writer.write(_post_head(limited_server, 1_000_000) + b"{")
            pacers.append(asyncio.create_task(_keep_pace(writer)))
        try:
            # Another address is served meanwhile.
            async with httpx.AsyncClient(
                base_url=limited_server,
                transport=httpx.AsyncHTTPTransport(local_address="127.0.0.14"),
                timeout=ANSWER_WAIT_S,
            ) as other:
                response = await other.post("/v1/authentication", json={"clientId": "x"})
                assert response.status_code == 400
            # A third body from the full address waits for a slot; none frees in the grace.
            reader, writer = await stack.enter_async_context(_raw(limited_server, "127.0.0.13"))
            writer.write(_post_head(limited_server, 10) + b'{"a": 1}  ')
            await writer.drain()
            status, text = await _status_and_text(reader)
        finally:
            for pacer in pacers:
                pacer.cancel()
        assert status == 429
        assert "retry-after: 1" in text.lower()
        assert "in flight" in text


async def test_a_request_waiting_for_its_share_goes_on_when_a_body_of_its_address_is_in(
    limited_server: str,
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        held = []
        for _ in range(2):
            reader, writer = await stack.enter_async_context(_raw(limited_server, "127.0.0.15"))
            writer.write(_post_head(limited_server, 2) + b"{")
            await writer.drain()
            held.append((reader, writer))
        waiting_reader, waiting_writer = await stack.enter_async_context(
            _raw(limited_server, "127.0.0.15")
        )
        waiting_writer.write(_post_head(limited_server, 2) + b"{}")
        await waiting_writer.drain()
        # One held body completes: its slot passes to the waiting request.
        reader, writer = held[0]
        writer.write(b"}")
        await writer.drain()
        first_status, _ = await _status_and_text(reader)
        assert first_status == 400
        waiting_status, _ = await _status_and_text(waiting_reader)
        assert waiting_status in (400, 408)  # judged on its body (or the pace), not refused 429


async def test_a_request_head_that_never_ends_is_closed(limited_server: str) -> None:
    async with _raw(limited_server, "127.0.0.16") as (reader, writer):
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        await writer.drain()
        # Granian closes the connection after the header timeout (1 s here; its default of
        # 30 s would fail this wait), answering 408 or nothing.
        answer = await asyncio.wait_for(reader.read(65536), 15)
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
