"""One attempt at one webhook delivery: a signed POST, its outcome and how long it took.

The HTTP client is httpcore itself (httpx's transport): it follows no redirects, reads no
proxy settings from the environment (a proxy would connect for us, past the target check),
and lets us put the target check into its network backend (webhooks/targets.py).
"""

import asyncio
import ssl
import time
from dataclasses import dataclass

import httpcore

from chargeledger import __version__
from chargeledger.webhooks.targets import (
    CheckedNetworkBackend,
    Network,
    TargetRefusedError,
    url_refusal,
)

USER_AGENT = f"chargeledger-webhooks/{__version__}"
# What we read of an answer before closing it: enough to finish a small response cleanly,
# never a large one into memory. Nothing of it is kept.
MAX_RESPONSE_BYTES = 4096
# last_error and the attempt's error column keep this much of an error's text.
MAX_ERROR_CHARS = 500


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to: the HTTP status (None when none came back), the error text
    (None on success) and the time from the start of the request to its end."""

    response_status: int | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.error is None


class Sender:
    """Sends deliveries over one pool of connections (kept alive per receiver)."""

    def __init__(
        self,
        *,
        allowed_networks: tuple[Network, ...] = (),
        timeout_s: float = 10.0,
        max_connections: int = 32,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=max_connections,
            network_backend=network_backend or CheckedNetworkBackend(allowed_networks),
            retries=0,
        )

    async def send(self, url: str, *, body: str, headers: dict[str, str]) -> Outcome:
        """POST `body` to `url` with the signature `headers`; 2xx is success, everything else
        (a redirect too: it is not followed) a failure. Never raises for the receiver's sake."""
        started = time.monotonic()
        refusal = url_refusal(url)
        if refusal is not None:
            return Outcome(None, f"refused: {refusal}", 0)
        content = body.encode()
        request_headers = [
            ("Content-Type", "application/json"),
            ("User-Agent", USER_AGENT),
            *headers.items(),
        ]
        # httpcore's timeouts are per step (connect, each read, each write); the attempt as a
        # whole gets timeout_s, however slowly a receiver trickles its answer. The steps' are
        # a backstop only, a little longer, so that the total is the one that fires.
        step_s = self.timeout_s + 1
        step = {"connect": step_s, "read": step_s, "write": step_s, "pool": step_s}
        status: int | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                async with self._pool.stream(
                    "POST",
                    url,
                    headers=request_headers,
                    content=content,
                    extensions={"timeout": step},
                ) as response:
                    status = response.status
                    read = 0
                    async for chunk in response.aiter_stream():
                        read += len(chunk)
                        if read >= MAX_RESPONSE_BYTES:
                            break
        except TimeoutError:
            if status is not None and 200 <= status < 300:
                # Accepted; only the body (which we do not keep) was slow. Calling it a
                # failure would send the receiver a duplicate.
                return self._outcome(status, None, started)
            return self._outcome(status, f"no complete answer within {self.timeout_s:g} s", started)
        except TargetRefusedError as error:
            return self._outcome(None, str(error), started)
        except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError) as error:
            return self._outcome(status, _describe(error), started)
        except httpcore.UnsupportedProtocol as error:
            return self._outcome(None, f"refused: {error}", started)
        return self._outcome(status, _status_error(status), started)

    @staticmethod
    def _outcome(status: int | None, error: str | None, started: float) -> Outcome:
        duration_ms = round((time.monotonic() - started) * 1000)
        return Outcome(status, None if error is None else error[:MAX_ERROR_CHARS], duration_ms)

    async def close(self) -> None:
        await self._pool.aclose()


def _status_error(status: int | None) -> str | None:
    if status is None:
        return "no answer"
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: a redirect, not followed"
    return f"HTTP {status}"


def _describe(error: Exception) -> str:
    kind = {
        httpcore.ConnectTimeout: "connecting timed out",
        httpcore.ReadTimeout: "the answer timed out",
        httpcore.WriteTimeout: "sending timed out",
        httpcore.PoolTimeout: "no connection free in time",
        httpcore.ConnectError: "could not connect",
        httpcore.ReadError: "the connection broke while reading",
        httpcore.WriteError: "the connection broke while sending",
        httpcore.RemoteProtocolError: "the receiver broke the HTTP protocol",
    }.get(type(error), type(error).__name__)
    detail = str(error)
    return f"{kind}: {detail}" if detail else kind
