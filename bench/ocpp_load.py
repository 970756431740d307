"""OCPP: how many charge points one server process holds at once, each sending MeterValues
every 10 s, with the p99 acknowledgement latency under 100 ms; and memory per connection.

Chargers are added in steps; at each step the latency of every MeterValues call in the last
window is measured. The run stops at the target count, or when p99 passes the limit or calls
fail. The load generator runs in its own process and speaks raw OCPP 1.6J frames (2.0.1 with
`--ocpp 2.0.1`: TransactionEvent(Updated) every 10 s instead of MeterValues)."""

import argparse
import asyncio
import base64
import contextlib
import json
import random
import statistics
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import websockets
from argon2 import PasswordHasher

from bench.common import RESULTS, CpuMeter, machine, save, start_server
from bench.generate import ensure_database
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import entities, ocpp_stations, tenants

PASSWORD = "bench-charger-password-0001"  # noqa: S105 - a benchmark's chargers
INTERVAL_S = 10.0


async def _register(database_url: str, count: int) -> tuple[uuid.UUID, list[str]]:
    """Charge points and their stations of one tenant, straight into the database (all with
    one password); the tenant's id (their URL's) and their identities."""
    await upgrade_to_head_async(database_url)
    database = Database(database_url)
    password_hash = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PASSWORD)
    tenant_id = uuid.uuid4()
    now_ms = int(time.time() * 1000)
    identities = [f"LOAD-{index:05d}" for index in range(count)]
    entity_rows, station_rows = [], []
    for identity in identities:
        entity_id = uuid.uuid4()
        entity_rows.append(
            {
                "id": entity_id, "tenant_id": tenant_id, "type": "ChargePoint", "name": identity,
                "identifier": identity, "brand": None, "properties_json": "{}",
                "capture_charge_sessions": True, "created_ms": now_ms, "battery_capacity_kwh": None,
            }
        )  # fmt: skip
        station_rows.append(
            {
                "tenant_id": tenant_id,
                "identity": identity,
                "entity_id": entity_id,
                "password_hash": password_hash,
                "created_ms": now_ms,
            }
        )
    async with database.write() as connection:
        await connection.execute(
            tenants.insert().values(id=tenant_id, name="load", created_ms=now_ms)
        )
        await connection.execute(entities.insert(), entity_rows)
        await connection.execute(ocpp_stations.insert(), station_rows)
    await database.dispose()
    return tenant_id, identities


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class Charger:
    """A charge point speaking OCPP 1.6J: boots, starts a transaction, then sends
    MeterValues every 10 s; the latency of each of those is recorded."""

    subprotocol = "ocpp1.6"

    def __init__(
        self, url: str, identity: str, latencies: list[tuple[float, float]], errors: list[str]
    ) -> None:
        self.url = f"{url}/{identity}"
        self.identity = identity
        self.latencies = latencies
        self.errors = errors
        self.meter_wh = 1_000_000
        self.connection: Any = None

    async def call(
        self, action: str, payload: dict[str, Any], *, measured: bool = False
    ) -> dict[str, Any]:
        unique_id = uuid.uuid4().hex[:12]
        sent = time.monotonic()
        await self.connection.send(json.dumps([2, unique_id, action, payload]))
        answer = json.loads(await self.connection.recv())
        if answer[0] != 3:
            raise RuntimeError(f"{action}: {answer}")
        if measured:
            self.latencies.append((time.monotonic(), time.monotonic() - sent))
        return dict(answer[2])

    async def boot_and_start(self) -> None:
        await self.call(
            "BootNotification", {"chargePointVendor": "bench", "chargePointModel": "load"}
        )
        started = await self.call(
            "StartTransaction",
            {"connectorId": 1, "idTag": "BENCH", "meterStart": self.meter_wh, "timestamp": _now()},
        )
        self.transaction_id = started["transactionId"]

    async def sample(self) -> None:
        await self.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": self.transaction_id,
                "meterValue": [
                    {
                        "timestamp": _now(),
                        "sampledValue": [
                            {
                                "value": str(self.meter_wh),
                                "measurand": "Energy.Active.Import.Register",
                                "unit": "Wh",
                            },
                            {"value": "11000", "measurand": "Power.Active.Import", "unit": "W"},
                        ],
                    }
                ],
            },
            measured=True,
        )

    async def run(self, stop: asyncio.Event) -> None:
        auth = base64.b64encode(f"{self.identity}:{PASSWORD}".encode()).decode()
        try:
            self.connection = await websockets.connect(
                self.url,
                subprotocols=[self.subprotocol],  # type: ignore[list-item]
                additional_headers={"Authorization": f"Basic {auth}"},
                open_timeout=120,
                ping_interval=None,
            )
            await self.boot_and_start()
            await asyncio.sleep(random.uniform(0, INTERVAL_S))
            # Each charger samples on its own clock, as a real one does (its
            # MeterValueSampleInterval), not 10 s after each answer: that way one slow answer
            # would make every charger it delayed send in the same second from then on.
            due = time.monotonic()
            while not stop.is_set():
                self.meter_wh += 30  # 11 kW for 10 s
                await self.sample()
                while due <= time.monotonic():  # late: the next sample of its own grid
                    due += INTERVAL_S
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), due - time.monotonic())
        except Exception as error:
            self.errors.append(f"{self.identity}: {type(error).__name__}: {error}")
        finally:
            if self.connection is not None:
                await self.connection.close()


class Charger201(Charger):
    """The same in OCPP 2.0.1: TransactionEvent Started, then Updated every 10 s."""

    subprotocol = "ocpp2.0.1"

    def meter_value(self) -> list[dict[str, Any]]:
        return [
            {
                "timestamp": _now(),
                "sampledValue": [
                    {
                        "value": self.meter_wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unitOfMeasure": {"unit": "Wh"},
                    },
                    {
                        "value": 11000,
                        "measurand": "Power.Active.Import",
                        "unitOfMeasure": {"unit": "W"},
                    },
                ],
            }
        ]

    async def boot_and_start(self) -> None:
        await self.call(
            "BootNotification",
            {"chargingStation": {"model": "load", "vendorName": "bench"}, "reason": "PowerUp"},
        )
        self.transaction_id = uuid.uuid4().hex
        self.seq_no = 0
        await self.transaction_event("Started", "CablePluggedIn")

    async def transaction_event(
        self, event_type: str, trigger_reason: str, *, measured: bool = False
    ) -> None:
        await self.call(
            "TransactionEvent",
            {
                "eventType": event_type,
                "timestamp": _now(),
                "triggerReason": trigger_reason,
                "seqNo": self.seq_no,
                "transactionInfo": {"transactionId": self.transaction_id},
                "evse": {"id": 1, "connectorId": 1},
                "meterValue": self.meter_value(),
            },
            measured=measured,
        )
        self.seq_no += 1

    async def sample(self) -> None:
        await self.transaction_event("Updated", "MeterValuePeriodic", measured=True)


async def _ramp(
    base_url: str,
    identities: list[str],
    step: int,
    window_s: float,
    limit_ms: float,
    server: Any,
    *,
    path: str = "/ocpp",
    charger: type[Charger] = Charger,
) -> list[dict[str, Any]]:
    url = base_url.replace("http://", "ws://") + path
    latencies: list[tuple[float, float]] = []
    errors: list[str] = []
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    steps = []
    baseline = server.memory()["rss_total"]
    for count in range(step, len(identities) + 1, step):
        for identity in identities[count - step : count]:
            tasks.append(asyncio.create_task(charger(url, identity, latencies, errors).run(stop)))
        await asyncio.sleep(window_s / 2)
        meter = CpuMeter(server)
        meter.start()
        calls_before = len(latencies)
        await asyncio.sleep(window_s / 2)
        cpu = meter.per_request(len(latencies) - calls_before)
        # The steady state: the second half of the step, after the newcomers' handshakes
        # (each verifies a password hash) and first transactions are done.
        window_start = time.monotonic() - window_s / 2
        window = sorted(latency for when, latency in latencies if when >= window_start)
        memory = server.memory()
        result = {
            "chargers": count,
            "calls": len(window),
            "p50_ms": round(statistics.median(window) * 1000, 1) if window else None,
            "p99_ms": round(window[int(len(window) * 0.99)] * 1000, 1) if window else None,
            "errors": len(errors),
            "server_rss_mib": round(memory["rss_total"] / 2**20, 1),
            "rss_per_charger_kib": round((memory["rss_total"] - baseline) / count / 1024, 1),
            **cpu,
        }
        steps.append(result)
        print(json.dumps(result), flush=True)
        if errors or (result["p99_ms"] or 0) > limit_ms:
            break
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    if errors:
        print("first errors:", errors[:5])
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="chargeledger_bench_ocpp")
    parser.add_argument("--chargers", type=int, default=6000)
    parser.add_argument("--step", type=int, default=500)
    parser.add_argument("--window", type=float, default=40.0, help="seconds per step")
    parser.add_argument("--limit-ms", type=float, default=100.0)
    parser.add_argument("--name", default="ocpp")
    parser.add_argument("--pool-size", type=int, default=20, help="the server's database pool")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="connect to the OCPP floor (/bench/ocpp-floor: same server, no database)",
    )
    parser.add_argument(
        "--ocpp",
        choices=["1.6", "2.0.1"],
        default="1.6",
        help="1.6: MeterValues every 10 s; 2.0.1: TransactionEvent(Updated) every 10 s",
    )
    args = parser.parse_args()
    url = asyncio.run(ensure_database(args.admin_url, args.database, fresh=True))
    tenant_id, identities = asyncio.run(_register(url, args.chargers))
    server = start_server(
        url,
        workers=1,
        log=RESULTS / "ocpp-server.log",
        env={"CHARGELEDGER_DATABASE_POOL_SIZE": str(args.pool_size)},
        bench_routes=args.floor,  # the floor's WebSocket is in the benchmark's app only
    )
    try:
        steps = asyncio.run(
            _ramp(
                server.base_url,
                identities,
                args.step,
                args.window,
                args.limit_ms,
                server,
                path="/bench/ocpp-floor" if args.floor else f"/ocpp/{tenant_id}",
                charger=Charger201 if args.ocpp == "2.0.1" else Charger,
            )
        )
    finally:
        server.stop()
    held = [s["chargers"] for s in steps if not s["errors"] and (s["p99_ms"] or 0) <= args.limit_ms]
    result = {
        "machine": machine(),
        "floor": args.floor,
        "ocpp": args.ocpp,
        "steps": steps,
        "chargers_held": max(held, default=0),
    }
    print(save(args.name, result))


if __name__ == "__main__":
    main()
