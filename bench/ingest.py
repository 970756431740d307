"""The ingest path: 1,000 vehicles posting readings in batches of 1,000 at once, sessions
detected as they go. Reports the sustained readings/s and the delay from the reading that
ends a session to that session being listed (p50/p99)."""

import argparse
import asyncio
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.common import (
    RESULTS,
    create_tenant,
    machine,
    save,
    source_description,
    start_server,
    token,
)
from bench.generate import ensure_database

VEHICLES = 1000
BATCH = 1000
STEP = timedelta(seconds=30)  # one reading every 30 s: a batch is 8 h 20 min of a car's day


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def vehicle_batches(vehicle: int, batches: int) -> list[tuple[list[dict[str, Any]], list[str]]]:
    """A car's readings in batches, and for each batch the timestamps of the readings in it
    that end a session (the first not-charging reading after a charge)."""
    rng = random.Random(vehicle)
    instant = datetime(2024, 6, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(3600))
    soc = 40.0
    counter = 10_000.0 + vehicle
    charging_left = 0
    was_charging = False
    out = []
    for _ in range(batches):
        readings, endings = [], []
        for _ in range(BATCH):
            if charging_left == 0 and rng.random() < 0.004:  # plugs in about twice a day
                charging_left = rng.randrange(60, 360)  # 30 min to 3 h
            charging = charging_left > 0
            if charging:
                charging_left -= 1
                counter += 11 * STEP.total_seconds() / 3600
                soc = min(100.0, soc + 0.25)
            elif was_charging:
                endings.append(instant.strftime("%Y-%m-%dT%H:%M:%SZ"))
            else:
                soc = max(5.0, soc - 0.02)
            was_charging = charging
            readings.append(
                {
                    "timestamp": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "isCharging": charging,
                    "positiveActiveInstantaneousPower": {
                        "unit": "W",
                        "value": 11000 if charging else 0,
                    },
                    "positiveActiveEnergy": {"total": round(counter, 3), "unit": "kWh"},
                    "stateOfCharge": {"unit": "%", "value": round(soc, 1)},
                    "location": {"latitude": 50.85, "longitude": 4.35, "accuracy": 10},
                }
            )
            instant += STEP
        out.append((readings, endings))
    return out


async def _setup(base_url: str, bearer: str, vehicles: int) -> list[str]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=60
    ) as http:
        ids = []
        for index in range(vehicles):
            response = await http.post("/v1/entities", json={"type": "EV", "name": f"car {index}"})
            response.raise_for_status()
            ids.append(response.json()["id"])
        return ids


async def _drive(
    base_url: str,
    bearer: str,
    entity_ids: list[str],
    batches_per_vehicle: int,
    concurrency: int,
) -> dict[str, Any]:
    """Every vehicle posts its batches in order; `concurrency` posts are in flight at once.
    After a batch with a session-ending reading is acknowledged, the session is listed."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for vehicle in range(len(entity_ids)):
        queue.put_nowait(vehicle)
    plans = {
        vehicle: vehicle_batches(vehicle, batches_per_vehicle) for vehicle in range(len(entity_ids))
    }
    progress = {vehicle: 0 for vehicle in plans}
    stored = 0
    delays: list[float] = []
    post_latencies: list[float] = []
    started = time.monotonic()

    async def worker() -> None:
        nonlocal stored
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=120
        ) as http:
            while True:
                try:
                    vehicle = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                readings, endings = plans[vehicle][progress[vehicle]]
                entity_id = entity_ids[vehicle]
                sent = time.monotonic()
                # orjson, not httpx's json=: the load generator shares the two cores with
                # the server and PostgreSQL, so its own CPU cost must stay small.
                response = await http.post(
                    f"/v1/entities/{entity_id}/readings",
                    content=orjson.dumps(readings),
                    headers={"Content-Type": "application/json"},
                )
                response.raise_for_status()
                post_latencies.append(time.monotonic() - sent)
                stored += response.json()["stored"]
                for ending in endings:
                    # The session that this reading ends must be listed now.
                    listed = await http.get(
                        f"/v1/entities/{entity_id}/charge-sessions",
                        params={
                            "start": "2024-05-01T00:00:00Z",
                            "end": "2025-01-01T00:00:00Z",
                            "pageSize": 1000,
                        },
                    )
                    spans = [
                        (_instant(r["data"]["start"]), _instant(r["data"]["end"]))
                        for r in listed.json()["data"]
                    ]
                    # Listed, ending in the interval this reading closes (the end is estimated
                    # inside it), or, when charging resumed within the pause limit, inside the
                    # session it joined.
                    stop = _instant(ending)
                    if not any(start < stop <= end + STEP for start, end in spans):
                        raise RuntimeError(f"session ending {ending} not listed after its batch")
                    delays.append(time.monotonic() - sent)
                progress[vehicle] += 1
                if progress[vehicle] < batches_per_vehicle:
                    queue.put_nowait(vehicle)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    delays.sort()
    post_latencies.sort()
    return {
        "readings": stored,
        "seconds": round(elapsed, 1),
        "readings_per_s": round(stored / elapsed),
        "batch_p50_ms": round(statistics.median(post_latencies) * 1000, 1),
        "batch_p99_ms": round(post_latencies[int(len(post_latencies) * 0.99)] * 1000, 1),
        "sessions_checked": len(delays),
        "listed_p50_s": round(statistics.median(delays), 3) if delays else None,
        "listed_p99_s": round(delays[int(len(delays) * 0.99)], 3) if delays else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="chargeledger_bench_ingest")
    parser.add_argument("--vehicles", type=int, default=VEHICLES)
    parser.add_argument("--batches", type=int, default=3, help="batches per vehicle")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="batches in flight (16 keeps both cores busy)"
    )
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--name", default="ingest")
    parser.add_argument(
        "--source-root",
        type=Path,
        default=None,
        help="serve chargeledger from this tree's src (e.g. a worktree of the commit before a "
        "change) instead of this one's; the harness stays this tree's",
    )
    args = parser.parse_args()
    url = asyncio.run(ensure_database(args.admin_url, args.database, fresh=True))
    credentials = create_tenant(url, source_root=args.source_root)
    server = start_server(
        url,
        workers=args.workers,
        log=RESULTS / "ingest-server.log",
        source_root=args.source_root,
    )
    try:
        bearer = token(server.base_url, credentials["clientId"], credentials["clientSecret"])
        entity_ids = asyncio.run(_setup(server.base_url, bearer, args.vehicles))
        result = asyncio.run(
            _drive(server.base_url, bearer, entity_ids, args.batches, args.concurrency)
        )
        result["server_memory"] = server.memory()
    finally:
        server.stop()
    result["machine"] = machine()
    result["source"] = source_description(args.source_root)
    result["workers"] = args.workers
    result["concurrency"] = args.concurrency
    print(json.dumps(result, indent=2))
    print(save(args.name, result))


if __name__ == "__main__":
    main()
