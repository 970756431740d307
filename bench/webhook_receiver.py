"""The webhook receiver of bench/webhook_deliveries.py, in a process of its own.

A bare asyncio HTTP/1.1 server on uvloop (keep-alive, Content-Length bodies: what the
dispatcher's connection pool sends; no framework), so that receiving costs little beside the
server it measures. Every POST to a hook path (one per subscription, `/hooks/<n>`) is verified
with the Standard Webhooks reference library (`standardwebhooks.Webhook.verify`) and answered
200, or 500 to `--fail-rate` of them at random (seeded), 401 when it does not verify. Each
arrival is kept: hook, webhook-id, session, version, time, answer. `/control/...` sets the
secrets and reads the counts (with the process's own CPU time) and the arrivals.

    python -m bench.webhook_receiver [--fail-rate 0.1] [--seed 1]   # prints its port
"""

import argparse
import asyncio
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any, cast

import httpx
import orjson
import uvloop
from standardwebhooks import Webhook, WebhookVerificationError

from bench.common import REPO_ROOT

_REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 404: b"Not Found"}
_REASONS[500] = b"Internal Server Error"


def _response(status: int, body: bytes = b"") -> bytes:
    head = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
    return head % (status, _REASONS.get(status, b"Unknown"), len(body)) + body


class Receiver:
    """What the receiver process keeps: the verifiers of each hook path (one per
    subscription), every arrival in the order handled, and the accepted (hook, webhook-id)."""

    def __init__(self, *, fail_rate: float, seed: int) -> None:
        self.fail_rate = fail_rate
        self.rng = random.Random(seed)
        self.verifiers: dict[str, Webhook] = {}
        # (hook, webhook-id, session id, version, arrived ms since the epoch, status answered)
        self.arrivals: list[tuple[str, str, str | None, int | None, float, int]] = []
        self.accepted: set[tuple[str, str]] = set()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> bytes:
        if method == "POST" and path in self.verifiers:
            return _response(self.hook(path, headers, body))
        if method == "POST" and path == "/control/secrets":
            secrets: dict[str, str] = orjson.loads(body)
            self.verifiers = {hook: Webhook(secret) for hook, secret in secrets.items()}
            return _response(200)
        if method == "GET" and path == "/control/stats":
            stats = {
                "arrivals": len(self.arrivals),
                "accepted": len(self.accepted),
                "cpu_s": time.process_time(),
            }
            return _response(200, orjson.dumps(stats))
        if method == "GET" and path == "/control/arrivals":
            return _response(200, orjson.dumps(self.arrivals))
        return _response(404)

    def hook(self, path: str, headers: dict[str, str], body: bytes) -> int:
        arrived_ms = time.time() * 1000
        webhook_id = headers.get("webhook-id", "")
        try:
            payload = self.verifiers[path].verify(body, headers)
        except (WebhookVerificationError, ValueError):
            payload = None
        data = payload.get("data") if isinstance(payload, dict) else None
        if not isinstance(data, dict):
            status = 401
            data = {}
        elif self.rng.random() < self.fail_rate:
            status = 500
        else:
            status = 200
            self.accepted.add((path, webhook_id))
        arrival = (path, webhook_id, data.get("sessionId"), data.get("version"), arrived_ms, status)
        self.arrivals.append(arrival)
        return status


class _Connection(asyncio.Protocol):
    """HTTP/1.1 with Content-Length bodies, keep-alive: all the dispatcher's pool sends."""

    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but are one.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            if "transfer-encoding" in headers:  # not sent by the dispatcher; not handled
                self.transport.write(_response(400))
                self.transport.close()
                return
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = bytes(self.buffer[end + 4 : end + 4 + length])
            del self.buffer[: end + 4 + length]
            self.transport.write(self.receiver.handle(method, path, headers, body))
            if headers.get("connection", "").lower() == "close":
                self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None


async def _serve_receiver(fail_rate: float, seed: int) -> None:
    receiver = Receiver(fail_rate=fail_rate, seed=seed)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(receiver), "127.0.0.1", 0, backlog=1024)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    print(server.sockets[0].getsockname()[1], flush=True)  # the port, for the bench
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fail-rate", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    uvloop.run(_serve_receiver(args.fail_rate, args.seed))


@dataclass(frozen=True)
class Arrival:
    """One request the receiver handled; `hook` is the path, one per subscription."""

    hook: str
    webhook_id: str
    session_id: str | None
    version: int | None
    arrived_ms: float
    status: int

    @property
    def accepted(self) -> bool:
        return self.status == 200


@dataclass
class ReceiverProcess:
    """The receiver, started by the bench in a process of its own, and its control calls."""

    process: subprocess.Popen[str]
    base_url: str

    @classmethod
    def start(cls, *, fail_rate: float, seed: int) -> "ReceiverProcess":
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "bench.webhook_receiver"),
                *("--fail-rate", str(fail_rate), "--seed", str(seed)),
            ],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert process.stdout is not None
        port = process.stdout.readline().strip()  # printed once it listens
        if not port.isdigit():
            process.kill()
            raise RuntimeError("the webhook receiver did not start")
        return cls(process, f"http://127.0.0.1:{port}")

    def hook_url(self, hook: str) -> str:
        return f"{self.base_url}{hook}"

    async def control(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=60) as http:
            response = await http.request(method, path, json=body)
            return response.raise_for_status().json() if response.content else None

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = await self.control("GET", "/control/stats")
        return stats

    async def arrivals(self) -> list[Arrival]:
        return [Arrival(*row) for row in await self.control("GET", "/control/arrivals")]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


if __name__ == "__main__":
    main()
