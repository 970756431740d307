"""Webhook deliveries per second, from `chargeledger serve` to a local receiver.

A fresh database, `chargeledger serve` with `--workers` workers (allowed to send to 127.0.0.1
by CHARGELEDGER_WEBHOOK_ALLOWED_NETWORKS), a tenant with `--subscriptions` webhook
subscriptions (one by default), all pointing at a receiver in a process of its own
(bench/webhook_receiver.py: a bare asyncio HTTP/1.1 server that verifies every request with the
Standard Webhooks reference library, answers 200, or 500 to `--fail-rate` of them at random,
and records each arrival). The receiver's CPU is measured too, to show it is not what limits
the run.

Events are made the way clients make them: sessions POSTed through the API by `--clients`
clients in a closed loop (the fleet of bench/session_writes.py), a fifth of them corrected
once and a tenth twice (the same externalId with an earlier end), so there are
`charge-session.updated` events whose delivery must wait for the session's earlier ones. Three
phases, on one tenant:

1. backlog (`--backlog-events`): posted to a server whose dispatcher is off, so the
   deliveries queue; then a server with the dispatcher on starts and drains them. Nothing else
   runs on it meanwhile: its rate and CPU per delivery are the dispatcher's own;
2. warm-up (`--warmup-events`): posted and delivered, not measured;
3. live (`--events`): posted as fast as the server takes them while it delivers: deliveries/s
   from the first delivery to the last; latency p50/p99 to the arrival from the event's
   timestamp (taken when the post's request began, in the transaction that commits it) and
   from the post's answer (when the client knew it was committed); the server's CPU per event
   for both the post and the delivery.

Then every event of the tenant (GET /v1/events) is checked against the arrivals: each arrived
and was accepted at every subscription, a session's events arrived in version order (the next
one only after the previous one was accepted), every signature verified; duplicates (an event
accepted more than once) are counted. With `--fail-rate` the server retries on a schedule
shrunk by `--retry-scale` (CHARGELEDGER_WEBHOOK_RETRY_SCALE), so retries happen within the run.

    .venv/bin/python -m bench.webhook_deliveries --events 20000
    .venv/bin/python -m bench.webhook_deliveries --events 20000 --fail-rate 0.1
"""

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy.engine import make_url

from bench.common import (
    RESULTS,
    CpuMeter,
    Server,
    create_tenant,
    machine,
    source_description,
    start_server,
    token,
)
from bench.generate import ensure_database
from bench.session_writes import PlannedEntity, PlannedSession, plan_entities, plan_sessions, set_up
from bench.webhook_checks import (
    RecordedEvent,
    check_deliveries,
    delivery_rate,
    first_acceptance_ms,
    recorded_events,
)
from bench.webhook_receiver import Arrival, ReceiverProcess

ALLOWED_NETWORKS = "127.0.0.1/32"  # the receiver's address, refused by default
# A correction moves the session's end this much earlier (a post never made shorter than 20
# minutes: the fleet's sessions last at least 30).
CORRECTION_STEP = timedelta(minutes=5)

# ---- the posts that make the events -------------------------------------------------------


@dataclass(frozen=True)
class Post:
    session: int  # index into the planned sessions
    entity: int
    correction: int  # 0: the session's first post; n: its n-th correction
    body: bytes


def corrections_of(session_index: int) -> int:
    """A fifth of the sessions are corrected once, a tenth twice."""
    return 1 if session_index % 5 == 1 else 2 if session_index % 10 == 3 else 0


def sessions_for(events: int) -> int:
    """How many sessions give at least `events` events with their corrections."""
    count, made = 0, 0
    while made < events:
        made += 1 + corrections_of(count)
        count += 1
    return count


def _corrected(body: bytes, correction: int) -> bytes:
    """The same externalId with an end `correction` steps earlier: a change, so a version."""
    document = orjson.loads(body)
    end = datetime.fromisoformat(document["end"]) - CORRECTION_STEP * correction
    document["end"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    return orjson.dumps(document)


def plan_posts(sessions: list[PlannedSession], events: int, *, gap: int) -> list[Post]:
    """`events` posts in posting order: each session's first post, and its corrections `gap`
    and twice `gap` posts of other sessions later (so most were answered long before)."""
    posts: list[Post] = []
    due: list[tuple[int, Post]] = []  # (the number of first posts after which it goes, post)
    for index, session in enumerate(sessions):
        posts.append(Post(index, session.entity, 0, session.body))
        for correction in range(1, corrections_of(index) + 1):
            body = _corrected(session.body, correction)
            due.append((index + gap * correction, Post(index, session.entity, correction, body)))
        due.sort(key=lambda item: item[0])
        while due and due[0][0] <= index:
            posts.append(due.pop(0)[1])
    posts += [post for _, post in due]
    return posts[:events]


@dataclass
class PostingResult:
    posts: int = 0
    succeeded: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    finished_ms: float = 0.0
    # (session id, version) -> when the post that made it was answered (ms since the epoch)
    answered_ms: dict[tuple[str, int], float] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "succeeded": self.succeeded,
            "seconds": round(self.seconds, 2),
            "events_per_s": round(self.succeeded / self.seconds, 1) if self.seconds else None,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "failures": self.failures,
        }


async def post_all(
    base_url: str,
    bearer: str,
    entity_ids: list[str],
    posts: list[Post],
    *,
    clients: int,
    answered: dict[tuple[int, int], asyncio.Event],
) -> PostingResult:
    """Posts in a closed loop of `clients`; a session's post waits until its previous one
    was answered (`answered`, by session and correction, spans the phases): two in flight at
    once would race, and the n-th correction would not surely make version n + 1."""
    result = PostingResult(posts=len(posts))
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    position = 0

    async def client() -> None:
        nonlocal position
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
            while position < len(posts):
                post = posts[position]
                position += 1
                if post.correction:
                    previous = (post.session, post.correction - 1)
                    await answered.setdefault(previous, asyncio.Event()).wait()
                try:
                    path = f"/v1/entities/{entity_ids[post.entity]}/charge-sessions"
                    response = await http.post(path, content=post.body)
                finally:
                    answered.setdefault((post.session, post.correction), asyncio.Event()).set()
                answered_ms = time.time() * 1000
                result.statuses[response.status_code] += 1
                if response.status_code == (200 if post.correction else 201):
                    result.succeeded += 1
                    # Every correction changes the session: its n-th makes version n + 1.
                    result.answered_ms[response.json()["id"], post.correction + 1] = answered_ms
                elif len(result.failures) < 5:
                    result.failures.append(f"{response.status_code} {response.text[:300]}")

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    result.seconds = time.perf_counter() - started
    result.finished_ms = time.time() * 1000
    return result


# ---- the run ----------------------------------------------------------------------------


@dataclass
class Options:
    database_url: str
    events: int = 20_000
    backlog_events: int = 5_000
    warmup_events: int = 500
    workers: int = 2
    subscriptions: int = 1
    fail_rate: float = 0.0
    retry_scale: float = 0.001
    clients: int = 32
    entities: int = 100
    seed: int = 1
    delivery_timeout_s: float = 300.0
    log: Path | None = None


@dataclass
class _Run:
    options: Options
    receiver: ReceiverProcess
    credentials: dict[str, str]
    entities: list[PlannedEntity]
    hooks: list[str]
    answered: dict[tuple[int, int], asyncio.Event] = field(default_factory=dict)
    server: Server | None = None
    bearer: str = ""
    events_posted: int = 0

    def start_server(self, *, dispatcher: bool) -> Server:
        env = {
            "CHARGELEDGER_WEBHOOK_ALLOWED_NETWORKS": ALLOWED_NETWORKS,
            "CHARGELEDGER_WEBHOOK_RETRY_SCALE": str(self.options.retry_scale),
            "CHARGELEDGER_WEBHOOK_DISPATCHER": "true" if dispatcher else "false",
        }
        self.server = start_server(
            self.options.database_url, workers=self.options.workers, env=env, log=self.options.log
        )
        self.bearer = token(
            self.server.base_url, self.credentials["clientId"], self.credentials["clientSecret"]
        )
        return self.server

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None

    def api(self) -> httpx.AsyncClient:
        assert self.server is not None
        headers = {"Authorization": f"Bearer {self.bearer}"}
        return httpx.AsyncClient(base_url=self.server.base_url, headers=headers, timeout=120)

    async def set_up(self) -> None:
        """The fleet, and the subscriptions; their secrets go to the receiver."""
        secrets = {}
        async with self.api() as http:
            await set_up(http, self.entities)
            for hook in self.hooks:
                created = await http.post(
                    "/v1/webhooks",
                    json={"url": self.receiver.hook_url(hook), "description": f"bench {hook}"},
                )
                secrets[hook] = created.raise_for_status().json()["secret"]
        await self.receiver.control("POST", "/control/secrets", secrets)

    async def post(self, posts: list[Post]) -> PostingResult:
        assert self.server is not None
        result = await post_all(
            self.server.base_url,
            self.bearer,
            [entity.ids["entity"] for entity in self.entities],
            posts,
            clients=self.options.clients,
            answered=self.answered,
        )
        self.events_posted += result.succeeded
        return result

    async def wait_for_deliveries(self) -> bool:
        """Until the receiver accepted every event posted so far at every hook, or the
        deadline (then the checks say what is missing)."""
        expected = self.events_posted * len(self.hooks)
        deadline = time.monotonic() + self.options.delivery_timeout_s
        while (await self.receiver.stats())["accepted"] < expected:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.1)
        return True


def _cpu_per(used_us: dict[str, float], count: int, label: str) -> dict[str, float]:
    return {
        key.replace("_per_request", f"_per_{label}"): round(value / max(1, count), 1)
        for key, value in used_us.items()
    }


@dataclass
class Measurement:
    """What a run saw, before it is summarised."""

    phases: dict[str, Any]  # CPU, posting and timing readings of the backlog and live phases
    events: list[RecordedEvent]  # every event of the tenant, from GET /v1/events
    arrivals: list[Arrival]  # every request the receiver handled, in order
    hooks: list[str]  # one per subscription
    last_sequence: dict[str, int]  # of the backlog and warm-up phases
    events_posted: int  # posts answered 201 or 200: each made one event


async def measure(options: Options) -> Measurement:
    """The whole run on an empty database at `options.database_url` (migrated by the tenant
    command)."""
    rng = random.Random(options.seed)
    entities = plan_entities(options.entities, rng)
    total = options.backlog_events + options.warmup_events + options.events
    sessions = plan_sessions(entities, sessions_for(total), rng)
    posts = plan_posts(sessions, total, gap=2 * options.clients)
    phases = {
        "backlog": posts[: options.backlog_events],
        "warmup": posts[options.backlog_events : options.backlog_events + options.warmup_events],
        "live": posts[options.backlog_events + options.warmup_events :],
    }
    credentials = create_tenant(options.database_url)
    receiver = ReceiverProcess.start(fail_rate=options.fail_rate, seed=options.seed)
    hooks = [f"/hooks/{number}" for number in range(1, options.subscriptions + 1)]
    run = _Run(options, receiver, credentials, entities, hooks)
    result: dict[str, Any] = {}
    # Events are numbered from 1 in commit order, and the phases run one after the other.
    sequences: dict[str, int] = {}
    try:
        run.start_server(dispatcher=not phases["backlog"])
        await run.set_up()

        if phases["backlog"]:
            posting = await run.post(phases["backlog"])
            run.stop_server()
            server = run.start_server(dispatcher=True)  # it starts draining at once
            meter = CpuMeter(server)
            meter.start()
            metered_from_ms = time.time() * 1000
            receiver_cpu_s = (await receiver.stats())["cpu_s"]
            drained = await run.wait_for_deliveries()
            result["backlog"] = {
                "posting": posting.summary(),
                "drained": drained,
                "metered_from_ms": metered_from_ms,
                "wall_s": time.time() - metered_from_ms / 1000,
                "server_cpu_us": meter.per_request(1),
                "receiver_cpu_s": (await receiver.stats())["cpu_s"] - receiver_cpu_s,
            }
            sequences["backlog"] = run.events_posted

        if phases["warmup"]:
            await run.post(phases["warmup"])
            await run.wait_for_deliveries()
        sequences["warmup"] = run.events_posted

        assert run.server is not None
        meter = CpuMeter(run.server)
        meter.start()
        receiver_cpu_s = (await receiver.stats())["cpu_s"]
        started_ms = time.time() * 1000
        posting = await run.post(phases["live"])
        delivered = await run.wait_for_deliveries()
        result["live"] = {
            "posting": posting.summary(),
            "delivered": delivered,
            "posting_finished_ms": posting.finished_ms,
            "answered_ms": posting.answered_ms,
            "wall_s": time.time() - started_ms / 1000,
            "server_cpu_us": meter.per_request(1),
            "receiver_cpu_s": (await receiver.stats())["cpu_s"] - receiver_cpu_s,
        }
        result["server_memory"] = run.server.memory()
        async with run.api() as http:
            events = await recorded_events(http)
        arrivals = await receiver.arrivals()
    finally:
        run.stop_server()
        receiver.stop()
    return Measurement(result, events, arrivals, hooks, sequences, run.events_posted)


def summarise(measurement: Measurement) -> dict[str, Any]:
    """The figures of each phase and the checks, from the recorded events and arrivals."""
    raw, events, arrivals = measurement.phases, measurement.events, measurement.arrivals
    hooks, sequences = measurement.hooks, measurement.last_sequence
    first = first_acceptance_ms(arrivals)
    result: dict[str, Any] = {}
    if "backlog" in raw:
        backlog = raw["backlog"]
        phase_events = [e for e in events if e.sequence <= sequences["backlog"]]
        rate = delivery_rate(phase_events, hooks, first)
        # Deliveries that started before the meter did (while the server came up) are not
        # counted against its CPU.
        metered = sum(
            1
            for hook in hooks
            for event in phase_events
            if first.get((hook, event.id), 0.0) >= backlog["metered_from_ms"]
        )
        result["backlog_drain"] = {
            "events": len(phase_events),
            "posting": backlog["posting"],
            "all_delivered": backlog["drained"],
            **{k: v for k, v in rate.items() if k not in ("first_ms", "last_ms")},
            "deliveries_metered": metered,
            **_cpu_per(backlog["server_cpu_us"], metered, "delivery"),
            "receiver_cpu_us_per_delivery": round(backlog["receiver_cpu_s"] * 1e6 / metered, 1)
            if metered
            else None,
            "receiver_cpu_share": round(backlog["receiver_cpu_s"] / backlog["wall_s"], 3),
        }
    live = raw["live"]
    phase_events = [e for e in events if e.sequence > sequences["warmup"]]
    rate = delivery_rate(phase_events, hooks, first, answered_ms=live["answered_ms"])
    deliveries = rate["deliveries"]
    result["live"] = {
        "events": len(phase_events),
        "posting": live["posting"],
        "all_delivered": live["delivered"],
        **{k: v for k, v in rate.items() if k not in ("first_ms", "last_ms")},
        "last_delivery_after_last_post_s": round(
            (rate["last_ms"] - live["posting_finished_ms"]) / 1000, 2
        )
        if deliveries
        else None,
        # The server both took the posts and delivered: its CPU is for both.
        **_cpu_per(live["server_cpu_us"], deliveries, "event_posted_and_delivered"),
        "receiver_cpu_us_per_delivery": round(live["receiver_cpu_s"] * 1e6 / deliveries, 1)
        if deliveries
        else None,
        "receiver_cpu_share": round(live["receiver_cpu_s"] / live["wall_s"], 3),
    }
    verification = check_deliveries(events, arrivals, hooks)
    verification["events_posted"] = measurement.events_posted
    if len(events) != measurement.events_posted:
        verification["ok"] = False
    result["verification"] = verification
    result["server_memory"] = raw["server_memory"]
    return result


def _fresh_database(database_url: str) -> str:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database or "").unlink(missing_ok=True)
        return database_url
    admin_url = url.set(database="postgres").render_as_string(hide_password=False)
    return asyncio.run(ensure_database(admin_url, url.database or "", fresh=True))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/chargeledger_bench_webhooks",
        help="dropped and created again (PostgreSQL), or deleted (SQLite)",
    )
    parser.add_argument("--events", type=int, default=20_000, help="of the live phase")
    parser.add_argument(
        "--backlog-events", type=int, default=None, help="default: a quarter of --events"
    )
    parser.add_argument("--warmup-events", type=int, default=None, help="default: 1/20, <= 500")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--subscriptions", type=int, default=1)
    parser.add_argument("--fail-rate", type=float, default=0.0, help="answered 500 at random")
    parser.add_argument(
        "--retry-scale", type=float, default=0.001, help="CHARGELEDGER_WEBHOOK_RETRY_SCALE"
    )
    parser.add_argument("--clients", type=int, default=32, help="posts in flight")
    parser.add_argument("--entities", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--delivery-timeout", type=float, default=300.0, help="seconds")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    name = "webhook-deliveries" + (f"-fail{round(args.fail_rate * 100)}" if args.fail_rate else "")
    out = args.out or RESULTS / f"{name}.json"
    options = Options(
        database_url=_fresh_database(args.database_url),
        events=args.events,
        backlog_events=args.events // 4 if args.backlog_events is None else args.backlog_events,
        warmup_events=min(500, args.events // 20)
        if args.warmup_events is None
        else args.warmup_events,
        workers=args.workers,
        subscriptions=args.subscriptions,
        fail_rate=args.fail_rate,
        retry_scale=args.retry_scale,
        clients=args.clients,
        entities=args.entities,
        seed=args.seed,
        delivery_timeout_s=args.delivery_timeout,
        log=RESULTS / f"{name}-server.log",
    )
    result = summarise(asyncio.run(measure(options)))
    result.update(
        backend=make_url(options.database_url).get_backend_name(),
        workers=options.workers,
        subscriptions=options.subscriptions,
        fail_rate=options.fail_rate,
        retry_scale=options.retry_scale,
        clients=options.clients,
        entities=options.entities,
        source=source_description(None),
        machine=machine(),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(out)
    if not result["verification"]["ok"]:
        raise SystemExit("some events were not delivered as promised (see verification)")


if __name__ == "__main__":
    main()
