"""A real HTTP receiver of webhooks for tests, and the rows that make a server send to it.

The receiver listens on 127.0.0.1 in threads of its own (so it serves a dispatcher in this
process's event loop as well as `chargeledger serve` subprocesses), verifies every request
with the Standard Webhooks reference library, and records each arrival in order: its
webhook-id, the session and version it is about, the verified payload, the sender's port,
whether it verified and what it answered.
What it answers is scripted: 200 by default, or the next requests' answers (a status, an
answer after a delay beyond the sender's timeout, a redirect, a request held open until
released), and it can go down (port closed, open connections cut) and come up again.

The rows below it (a tenant, a subscription, events recorded straight into the database) are
for the dispatcher's and repository's own tests; the end-to-end tests
(tests/e2e/test_webhook_delivery.py) make theirs through the HTTP API.
"""

import contextlib
import json
import socket
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from standardwebhooks import Webhook, WebhookVerificationError

from chargeledger.api.context import system_clock_ms
from chargeledger.auth.repository import insert_tenant
from chargeledger.events.recording import record_event
from chargeledger.storage.database import Database
from chargeledger.storage.tables import webhook_subscriptions
from chargeledger.webhooks.signing import new_secret


@dataclass
class Arrival:
    webhook_id: str
    event_type: str | None
    session_id: str | None
    version: int | None
    verified: bool
    headers: dict[str, str]
    arrived_ms: int
    # The status written back, or None while held / when it could not be written. A sender
    # that gave up first (its timeout) may not have read it: the delivery log says.
    answered: int | None = None
    payload: Any = None  # the body as Webhook.verify returned it; None unless it verified
    peer_port: int | None = None  # the sender's port: which connection (and process) sent it

    @property
    def accepted(self) -> bool:
        return self.answered is not None and 200 <= self.answered < 300


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay_s: float = 0.0  # answer only after this long (beyond a sender's timeout: "slow")
    location: str | None = None  # a redirect's target
    hold: bool = False  # keep the request open until release()
    body_delay_s: float = 0.0  # the status and headers at once, the body's end this late


class _Server(ThreadingHTTPServer):
    # The standard library's backlog of 5 drops connections a sender opens at once (their
    # SYNs are retried a second later: a timeout, to a sender with a short one).
    request_queue_size = 256


@dataclass
class _Script:
    next_answers: deque[Answer] = field(default_factory=deque)
    default: Answer = Answer()


class WebhookReceiver:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = list(secrets)
        self.arrivals: list[Arrival] = []
        self._changed = threading.Condition()
        self._script = _Script()
        self._released = threading.Event()
        self._connections: set[socket.socket] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    # --- what it answers -------------------------------------------------------------------

    def answer_next(self, *answers: Answer) -> None:
        with self._changed:
            self._script.next_answers.extend(answers)
            self._released.clear()

    def answer_by_default(self, answer: Answer) -> None:
        with self._changed:
            self._script.default = answer
            self._released.clear()

    def release(self) -> None:
        """Let held (and slow) requests go: they answer now, if their connection lives."""
        self._released.set()

    # --- up and down -----------------------------------------------------------------------

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as senders pool connections

            def setup(self) -> None:
                super().setup()
                with receiver._changed:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._changed:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._released.clear()
        server = _Server(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def go_down(self) -> None:
        """Close the port and cut every open connection: senders get connection errors."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._changed:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # closed by the sender already
                connection.shutdown(socket.SHUT_RDWR)
        self._released.set()  # held requests end (their connections are gone)

    def come_up(self) -> None:
        self.start()

    def stop(self) -> None:
        self.go_down()

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- what arrived ----------------------------------------------------------------------

    def wait_for(
        self, predicate: Callable[[list[Arrival]], bool], timeout_s: float = 30.0
    ) -> list[Arrival]:
        """Block until `predicate(arrivals)` holds (checked at every arrival and answer);
        AssertionError with what did arrive when it does not within the deadline."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while not predicate(self.arrivals):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"not within {timeout_s} s; arrived: {self._summary(self.arrivals)}"
                    )
                self._changed.wait(left)
            return list(self.arrivals)

    def snapshot(self) -> list[Arrival]:
        with self._changed:
            return list(self.arrivals)

    @staticmethod
    def _summary(arrivals: list[Arrival]) -> str:
        return ", ".join(
            f"{a.session_id and a.session_id[:8]}/v{a.version}:{a.answered}" for a in arrivals
        )

    # --- serving ---------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        headers = {key.lower(): value for key, value in handler.headers.items()}
        payload = self._verified_payload(body, headers)
        data = payload.get("data", {}) if isinstance(payload, dict) else {}
        arrival = Arrival(
            webhook_id=headers.get("webhook-id", ""),
            event_type=payload.get("type") if isinstance(payload, dict) else None,
            session_id=data.get("sessionId"),
            version=data.get("version"),
            verified=payload is not None,
            headers=headers,
            arrived_ms=system_clock_ms(),
            payload=payload,
            peer_port=handler.client_address[1],
        )
        with self._changed:
            self.arrivals.append(arrival)
            script = self._script
            answer = script.next_answers.popleft() if script.next_answers else script.default
            self._changed.notify_all()
        if not arrival.verified:
            answer = Answer(status=401)
        if answer.hold:
            self._released.wait(timeout=120)
        elif answer.delay_s:
            self._released.wait(timeout=answer.delay_s)
        try:
            handler.send_response(answer.status)
            if answer.location is not None:
                handler.send_header("Location", answer.location)
            handler.send_header("Content-Type", "text/plain")
            text = b"ok" if 200 <= answer.status < 300 else b"not ok"
            rest = b"." * 100 if answer.body_delay_s else b""
            handler.send_header("Content-Length", str(len(text) + len(rest)))
            handler.end_headers()
            handler.wfile.write(text)
            handler.wfile.flush()
            if rest:
                self._released.wait(timeout=answer.body_delay_s)
                handler.wfile.write(rest)
                handler.wfile.flush()
        except OSError:
            return  # the sender gave up (timeout) or the connection was cut
        with self._changed:
            arrival.answered = answer.status
            self._changed.notify_all()

    def _verified_payload(self, body: bytes, headers: dict[str, str]) -> Any:
        for secret in self.secrets:
            try:
                return Webhook(secret).verify(body, headers)
            except WebhookVerificationError:
                continue
        return None


# --- rows that make a server deliver ------------------------------------------------------


async def create_tenant(database: Database) -> UUID:
    """A tenant row only (no client: these tests do not call the API)."""
    tenant_id = uuid.uuid4()
    async with database.write() as connection:
        await insert_tenant(
            connection, tenant_id=tenant_id, name="webhook tenant", now_ms=system_clock_ms()
        )
    return tenant_id


async def add_subscription(
    database: Database,
    tenant_id: UUID,
    url: str,
    *,
    secret: str | None = None,
    event_types: list[str] | None = None,
) -> tuple[UUID, str]:
    """A webhook_subscriptions row as the API would make it; returns (id, secret)."""
    subscription_id = uuid.uuid4()
    secret = secret or new_secret()
    now_ms = system_clock_ms()
    async with database.write() as connection:
        await connection.execute(
            sa.insert(webhook_subscriptions).values(
                id=subscription_id,
                tenant_id=tenant_id,
                url=url,
                description="test receiver",
                event_types_json=json.dumps(event_types or []),
                enabled=True,
                secret=secret,
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
    return subscription_id, secret


async def record_session_versions(
    database: Database, tenant_id: UUID, session_id: UUID, versions: Iterable[int]
) -> None:
    """Events of a session's versions, as the one writer makes them, one transaction each (so
    one delivery per transaction is queued, committed and announced)."""
    for version in versions:
        async with database.write() as connection:
            record_event(
                connection,
                tenant_id=tenant_id,
                type="charge-session.created" if version == 1 else "charge-session.updated",
                entity_id=None,
                subject_id=session_id,
                version=version,
                occurred_ms=system_clock_ms(),
                data={"sessionId": str(session_id), "version": version},
            )


def versions_by_session(arrivals: list[Arrival]) -> dict[str, list[int]]:
    """Each session's versions in the order they arrived (every arrival, retries included)."""
    result: dict[str, list[int]] = {}
    for arrival in arrivals:
        if arrival.session_id is not None and arrival.version is not None:
            result.setdefault(arrival.session_id, []).append(arrival.version)
    return result


def accepted_ids(arrivals: list[Arrival]) -> set[str]:
    return {arrival.webhook_id for arrival in arrivals if arrival.accepted}
