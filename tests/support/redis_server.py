"""A Redis for tests: a `redis-server` of the test's own on a free port (nothing persisted,
nobody else's keys), or the one CHARGELEDGER_TEST_REDIS_URL names."""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from tests.support.servers import free_port


def redis_answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname, parts.port or 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis() -> Iterator[str]:
    """Yields a redis:// URL once that Redis answers PING."""
    configured = os.environ.get("CHARGELEDGER_TEST_REDIS_URL")
    if configured:
        if not redis_answers(configured):
            raise RuntimeError(f"CHARGELEDGER_TEST_REDIS_URL={configured} does not answer PING")
        yield configured
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed (apt-get install redis-server), and "
            "CHARGELEDGER_TEST_REDIS_URL does not name a Redis to use"
        )
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not redis_answers(url):
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited early with code {process.returncode}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not answer PING within 30 s")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
