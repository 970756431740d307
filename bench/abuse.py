"""Abuse: what normal traffic sees while someone attacks the server.

Normal traffic (from 127.0.0.2) runs open-loop at a fixed rate: requests leave on schedule
whether or not earlier ones came back, so any queueing the attack causes shows in the
latencies. It lists charge sessions, posts one, and logs in with the right secret. Its p50,
p99 and worst latency are measured alone, then beside each attack:

- auth-flood: 64 concurrent wrong-secret logins from 64 addresses (127.0.1.x), half against
  a real client id (so per-client and per-address limits and the cap on concurrent hashes all
  come into play), each attacker sending its next as soon as the last is answered;
- slow-body: 1,100 connections declaring a 1 MB body and sending a byte every 5 s, spread
  over 110 addresses (127.0.2.x, 10 each, below the per-address cap: only the pace limit and
  the worker's slots protect); reconnecting when cut off;
- slow-body-one-address: the same 1,100 from one address (127.0.3.1);
- malformed-frames: 20 authenticated chargers each sending, as fast as they are answered,
  frames that are not JSON, JSON nested 10,000 deep, 1 MiB of invalid text, and calls of
  unknown actions.

    python -m bench.abuse [--database-url URL] [--seconds 20] [--rate 20]

Writes bench/results/abuse-<backend>.json and prints a table for docs/benchmarks.md.
"""

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import random
import resource
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import websockets

from bench.common import machine, save, start_server

NORMAL_ADDRESS = "127.0.0.2"
_NORMAL_POSTS = itertools.count()  # each normal post its own 2 h, 3 h apart
TIMEOUT_S = 10.0
CHARGER_PASSWORD = "abuse-bench-charger-password"  # noqa: S105 - a benchmark's chargers


def _latency_summary(latencies_ms: list[float]) -> dict[str, Any]:
    ordered = sorted(latencies_ms)

    def pct(q: float) -> float:
        if not ordered:
            return 0.0
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {
        "requests": len(ordered),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
        "mean_ms": round(statistics.fmean(ordered), 1) if ordered else 0.0,
    }


@dataclass
class Tally:
    latencies_ms: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)

    def summary(self) -> dict[str, Any]:
        every = [value for values in self.latencies_ms.values() for value in values]
        return {
            **_latency_summary(every),
            "by_kind": {kind: _latency_summary(v) for kind, v in self.latencies_ms.items()},
            "statuses": dict(self.statuses),
        }


def _client(base_url: str, local_address: str, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=base_url,
        timeout=TIMEOUT_S,
        headers=headers,
        transport=httpx.AsyncHTTPTransport(local_address=local_address),
        limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
    )


async def _setup(base_url: str, credentials: dict[str, str]) -> dict[str, Any]:
    """A car with some sessions, and 20 chargers with passwords, for the tenant."""
    async with _client(base_url, NORMAL_ADDRESS) as http:
        login = await http.post("/v1/authentication", json=credentials)
        login.raise_for_status()
        http.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        car = await http.post("/v1/entities", json={"type": "EV", "name": "Abuse bench car"})
        car.raise_for_status()
        car_id = car.json()["id"]
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for index in range(200):
            begin = start + timedelta(hours=6 * index)
            response = await http.post(
                f"/v1/entities/{car_id}/charge-sessions",
                json=_session(f"seed-{index}", begin),
            )
            response.raise_for_status()
        chargers = []
        for index in range(20):
            identity = f"ABUSE-{index:02d}-{uuid.uuid4().hex[:6]}"
            entity = await http.post(
                "/v1/entities",
                json={"type": "ChargePoint", "name": identity, "identifier": identity},
            )
            entity.raise_for_status()
            registered = await http.put(
                f"/v1/entities/{entity.json()['id']}/ocpp-credentials",
                json={"password": CHARGER_PASSWORD},
            )
            registered.raise_for_status()
            chargers.append({"identity": identity, "path": registered.json()["path"]})
    return {"car_id": car_id, "chargers": chargers}


def _session(external_id: str, begin: datetime) -> dict[str, Any]:
    def text(instant: datetime) -> str:
        return instant.strftime("%Y-%m-%dT%H:%M:%SZ")

    return {
        "externalId": external_id,
        "start": text(begin),
        "end": text(begin + timedelta(hours=2)),
        "charge": {
            "total": {"t1": 7.5, "t2": 0, "t3": 0, "t4": 0, "total": 7.5, "unit": "kWh"},
        },
    }


async def _normal_traffic(
    base_url: str, credentials: dict[str, str], car_id: str, *, seconds: float, rate: float
) -> Tally:
    """Open-loop: one request every 1/rate s, a list, a post or a login, timed each."""
    tally = Tally()
    async with _client(base_url, NORMAL_ADDRESS) as login_http:
        login = await login_http.post("/v1/authentication", json=credentials)
        login.raise_for_status()
        token = login.json()["access_token"]
    async with _client(base_url, NORMAL_ADDRESS, Authorization=f"Bearer {token}") as http:
        sent = 0

        async def one(kind: str, index: int) -> None:
            began = time.perf_counter()
            try:
                if kind == "list":
                    response = await http.get(
                        f"/v1/entities/{car_id}/charge-sessions",
                        params={"start": "2026-01-01T00:00:00Z", "pageSize": 50},
                    )
                elif kind == "post":
                    begin = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(
                        hours=3 * next(_NORMAL_POSTS)
                    )
                    response = await http.post(
                        f"/v1/entities/{car_id}/charge-sessions",
                        json=_session(f"normal-{uuid.uuid4().hex}", begin),
                    )
                else:
                    async with _client(base_url, NORMAL_ADDRESS) as fresh:
                        response = await fresh.post("/v1/authentication", json=credentials)
                status = str(response.status_code)
            except httpx.HTTPError as error:
                status = type(error).__name__
            tally.latencies_ms.setdefault(kind, []).append((time.perf_counter() - began) * 1000)
            tally.statuses[f"{kind}:{status}"] += 1

        tasks = []
        started = time.perf_counter()
        while (elapsed := time.perf_counter() - started) < seconds:
            # A client logs in once an hour and then works with its token: logins are rare.
            kind = random.choices(["list", "post", "login"], weights=[78, 20, 2])[0]
            tasks.append(asyncio.create_task(one(kind, sent)))
            sent += 1
            await asyncio.sleep(max(0.0, sent / rate - elapsed))
        await asyncio.gather(*tasks)
    return tally


async def _auth_flood(base_url: str, client_id: str, stop: asyncio.Event) -> Counter[str]:
    statuses: Counter[str] = Counter()

    async def attacker(index: int) -> None:
        async with _client(base_url, f"127.0.1.{index + 1}") as http:
            while not stop.is_set():
                target = client_id if index % 2 == 0 else str(uuid.uuid4())
                try:
                    response = await http.post(
                        "/v1/authentication",
                        json={"clientId": target, "clientSecret": uuid.uuid4().hex},
                    )
                    statuses[str(response.status_code)] += 1
                except httpx.HTTPError as error:
                    statuses[type(error).__name__] += 1

    await asyncio.gather(*(attacker(index) for index in range(64)))
    return statuses


async def _slow_body_flood(
    host: str, port: int, path: str, addresses: list[str], per_address: int, stop: asyncio.Event
) -> Counter[str]:
    statuses: Counter[str] = Counter()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        "Content-Length: 1000000\r\n\r\n"
    ).encode()

    async def attacker(address: str) -> None:
        while not stop.is_set():
            writer = None
            try:
                reader, writer = await asyncio.open_connection(host, port, local_addr=(address, 0))
                writer.write(head)
                await writer.drain()
                while not stop.is_set():
                    answer = asyncio.ensure_future(reader.read(200))
                    done, _ = await asyncio.wait({answer}, timeout=5)
                    if done:
                        first = answer.result().split(b"\r\n", 1)[0].decode(errors="replace")
                        statuses[first.split(" ")[1] if " " in first else "closed"] += 1
                        break
                    answer.cancel()
                    writer.write(b"{")
                    await writer.drain()
                    statuses["byte"] += 1
            except OSError as error:
                statuses[type(error).__name__] += 1
                await asyncio.sleep(0.5)
            finally:
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()

    await asyncio.gather(*(attacker(address) for address in addresses for _ in range(per_address)))
    return statuses


_MALFORMED = [
    "this is not json",
    "[" * 10_000 + "]" * 10_000,
    '[2,"x","Heartbeat",' + '{"a":' * 5_000 + "1" + "}" * 5_000 + "]",
    "\x00\x01" + "z" * (1024 * 1024),
    '[2,"u1","NoSuchAction",{}]',
    '[2,"u2","MeterValues",{"connectorId":"one"}]',
    "[5]",
]


async def _malformed_frames(
    ws_base: str, chargers: list[dict[str, str]], stop: asyncio.Event
) -> Counter[str]:
    statuses: Counter[str] = Counter()

    async def charger(identity: str, path: str) -> None:
        basic = base64.b64encode(f"{identity}:{CHARGER_PASSWORD}".encode()).decode()
        while not stop.is_set():
            try:
                async with websockets.connect(
                    ws_base + path,
                    subprotocols=[websockets.Subprotocol("ocpp1.6")],
                    additional_headers={"Authorization": f"Basic {basic}"},
                    max_size=None,
                    open_timeout=TIMEOUT_S,
                ) as socket:
                    while not stop.is_set():
                        await socket.send(random.choice(_MALFORMED))
                        try:
                            answer = await asyncio.wait_for(socket.recv(), TIMEOUT_S)
                        except TimeoutError:
                            statuses["no answer"] += 1
                            continue
                        kind = json.loads(answer)[0] if str(answer).startswith("[") else "?"
                        statuses[{3: "CALLRESULT", 4: "CALLERROR"}.get(kind, str(kind))] += 1
            except (OSError, websockets.WebSocketException) as error:
                statuses[type(error).__name__] += 1
                await asyncio.sleep(0.5)

    await asyncio.gather(*(charger(c["identity"], c["path"]) for c in chargers))
    return statuses


async def _phase(
    name: str,
    base_url: str,
    credentials: dict[str, str],
    setup: dict[str, Any],
    *,
    seconds: float,
    rate: float,
) -> dict[str, Any]:
    """Normal traffic beside one attack. The attack runs in a process of its own, so its work
    never delays the normal client's event loop (that would show as server latency)."""
    attacker = None
    if name != "none":
        attacker = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.abuse", "--attack", name, "--base-url", base_url,
            "--attack-seconds", str(seconds + RAMP_S + 1), "--attack-setup", json.dumps(
                {"clientId": credentials["clientId"], **setup}
            ),
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        await asyncio.sleep(RAMP_S)  # let the attack reach full strength first
    tally = await _normal_traffic(
        base_url, credentials, setup["car_id"], seconds=seconds, rate=rate
    )
    attack_statuses: dict[str, int] = {}
    if attacker is not None:
        out, _ = await attacker.communicate()
        attack_statuses = json.loads(out.decode().strip().splitlines()[-1])
    result = {"phase": name, "normal": tally.summary(), "attack": attack_statuses}
    print(json.dumps(result), flush=True)
    await asyncio.sleep(3)  # connections of the attack wind down before the next phase
    return result


async def _attack(name: str, base_url: str, setup: dict[str, Any], seconds: float) -> None:
    host, port = "127.0.0.1", int(base_url.rsplit(":", 1)[1])
    slow_path = f"/v1/entities/{setup['car_id']}/charge-sessions"
    attacks: dict[str, Any] = {
        "auth-flood": lambda stop: _auth_flood(base_url, setup["clientId"], stop),
        "slow-body": lambda stop: _slow_body_flood(
            host, port, slow_path, [f"127.0.2.{i + 1}" for i in range(110)], 10, stop
        ),
        "slow-body-one-address": lambda stop: _slow_body_flood(
            host, port, slow_path, ["127.0.3.1"], 1100, stop
        ),
        "malformed-frames": lambda stop: _malformed_frames(
            f"ws://{host}:{port}", setup["chargers"], stop
        ),
    }
    stop = asyncio.Event()
    task = asyncio.create_task(attacks[name](stop))
    await asyncio.sleep(seconds)
    stop.set()
    try:
        statuses = await asyncio.wait_for(task, 20)
    except TimeoutError:
        statuses = Counter({"unfinished": 1})
    print(json.dumps(dict(statuses)), flush=True)


PHASES = ["none", "auth-flood", "slow-body", "slow-body-one-address", "malformed-frames"]
RAMP_S = 5.0


def _create_tenant(database_url: str) -> dict[str, str]:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "chargeledger", "tenant", "create", "abuse bench",
         "--database-url", database_url],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    created = json.loads(done.stdout)
    return {"clientId": created["clientId"], "clientSecret": created["clientSecret"]}


async def _run(args: argparse.Namespace, base_url: str, credentials: dict[str, str]) -> list[Any]:
    setup = await _setup(base_url, credentials)
    return [
        await _phase(name, base_url, credentials, setup, seconds=args.seconds, rate=args.rate)
        for name in PHASES
        if not args.only or name in args.only
    ]


def _raise_file_limit() -> None:
    """1,100 attacking sockets, and the server's side of each (it inherits the limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 20_000)), hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=float, default=20, help="normal requests per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--only", nargs="*", help="phases to run (default: all)")
    parser.add_argument("--env", nargs="*", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--attack", help=argparse.SUPPRESS)  # the attacking process
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--attack-seconds", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--attack-setup", help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_file_limit()
    if args.attack:
        setup = json.loads(args.attack_setup)
        asyncio.run(_attack(args.attack, args.base_url, setup, args.attack_seconds))
        return
    database_url = args.database_url
    if database_url is None:
        path = f"/tmp/chargeledger-abuse-{os.getpid()}.db"  # noqa: S108 - a benchmark's scratch
        database_url = f"sqlite:///{path}"
    env = dict(item.split("=", 1) for item in args.env)
    # The server is migrated by `serve`; the tenant is made once the schema exists.
    server = start_server(database_url, workers=args.workers, env=env)
    try:
        credentials = _create_tenant(database_url)
        phases = asyncio.run(_run(args, server.base_url, credentials))
    finally:
        server.stop()
    backend = "postgresql" if database_url.startswith("postgres") else "sqlite"
    result = {
        "machine": machine(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "backend": backend,
        "workers": args.workers,
        "seconds_per_phase": args.seconds,
        "normal_rate_per_s": args.rate,
        "phases": phases,
    }
    path = save(f"abuse-{backend}", result)
    print(f"\nsaved {path}\n")
    print(
        "| attack | normal p50 ms | normal p99 ms | list p99 | post p99 | login p99 | max ms "
        "| normal answers | attack's answers |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for phase in phases:
        normal = phase["normal"]
        kinds = normal["by_kind"]
        answers = ", ".join(f"{k} {v}" for k, v in sorted(normal["statuses"].items()))
        attack = ", ".join(f"{k} {v}" for k, v in sorted(phase["attack"].items())) or "-"
        per_kind = " | ".join(
            str(kinds.get(kind, {}).get("p99_ms", "-")) for kind in ("list", "post", "login")
        )
        print(
            f"| {phase['phase']} | {normal['p50_ms']} | {normal['p99_ms']} | {per_kind} "
            f"| {normal['max_ms']} | {answers} | {attack} |"
        )


if __name__ == "__main__":
    main()
