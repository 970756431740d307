"""The read path: `GET /v1/entities/{id}/charge-sessions` under wrk, beside its floors.

Side by side in one run, against `chargeledger serve` on PostgreSQL:
- first pages of random entities and month frames, pageSize 25 and 100;
- deep pages (1st, 10th, 50th, 100th, 200th) of the busy entities' month, reached by following
  continuation tokens, and the same pages through OFFSET/LIMIT (the usual approach);
- the framework floor: the same server stack and bearer check returning a precomputed body of
  the same size, no database;
- the database floor: the same queries and serialization in one process, no HTTP.
"""

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from uuid import UUID

import asyncpg
import httpx
import orjson
from sqlalchemy.dialects import postgresql

from bench.common import (
    RESULTS,
    CpuMeter,
    bench_cursor_keys,
    machine,
    save,
    start_server,
    token,
    wrk,
)
from chargeledger.auth.service import Principal
from chargeledger.charge_sessions import service as charge_sessions
from chargeledger.charge_sessions.repository import _FIRST_PAGE
from chargeledger.domain.cursor import CursorKind
from chargeledger.domain.instants import format_instant, parse_instant_ms
from chargeledger.kit.paging import Frame, make_page
from chargeledger.kit.responses import charge_session_record
from chargeledger.storage.database import Database

DEPTHS = (1, 10, 50, 100, 200)
MONTHS = [f"2024-{month:02d}-01T00:00:00Z" for month in range(1, 8)]
HEAVY_FRAME = ("2024-06-01T00:00:00Z", "2024-07-02T00:00:00Z")


def _list_path(entity_id: str, start: str, end: str, page_size: int) -> str:
    query = urlencode({"start": start, "end": end, "pageSize": page_size})
    return f"/v1/entities/{entity_id}/charge-sessions?{query}"


def first_page_paths(dataset: dict[str, Any], page_size: int, count: int) -> list[str]:
    rng = random.Random(page_size)
    ordinary = dataset["entity_ids"][len(dataset["heavy_entity_ids"]) :]
    paths = []
    for _ in range(count):
        month = rng.randrange(len(MONTHS) - 1)
        paths.append(_list_path(rng.choice(ordinary), MONTHS[month], MONTHS[month + 1], page_size))
    return paths


def deep_page_paths(http: httpx.Client, heavy: list[str], page_size: int) -> dict[int, list[str]]:
    """For each depth, the path of that page of each busy entity's month, found by following
    links.next from the first page (as a client would)."""
    by_depth: dict[int, list[str]] = {depth: [] for depth in DEPTHS}
    for entity_id in heavy:
        path = _list_path(entity_id, *HEAVY_FRAME, page_size)
        for page in range(1, max(DEPTHS) + 1):
            if page in by_depth:
                by_depth[page].append(path)
            body = http.get(path).raise_for_status().json()
            next_url = body["links"]["next"]
            if next_url is None:
                raise RuntimeError(f"entity {entity_id} has only {page} pages of {page_size}")
            split = urlsplit(next_url)
            path = f"{split.path}?{split.query}"
    return by_depth


def offset_paths(heavy: list[str], page_size: int, depth: int) -> list[str]:
    start, end = HEAVY_FRAME
    query = urlencode({"start": start, "end": end, "pageSize": page_size, "page": depth})
    return [f"/bench/offset/v1/entities/{entity_id}/charge-sessions?{query}" for entity_id in heavy]


def write_paths(name: str, paths: list[str]) -> Path:
    path = RESULTS / f"paths-{name}.txt"
    path.write_text("\n".join(paths) + "\n")
    return path


def _page_bytes(page: Any) -> bytes:
    """The page's response body, as the route builds it (but for the URL of links.next)."""
    return orjson.dumps(
        {
            "data": [charge_session_record(row) for row in page.rows],
            "links": {"next": None if page.continuation_token is None else "x"},
            "meta": {"continuationToken": page.continuation_token, "pageSize": page.page_size},
            "frame": format_instant(page.frame.end_ms),
        }
    )


def _summary(latencies: list[float], elapsed_s: float) -> dict[str, Any]:
    latencies.sort()
    return {
        "requests_per_s": round(len(latencies) / elapsed_s, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 3),
        "requests": len(latencies),
    }


async def database_floor(
    database_url: str,
    dataset: dict[str, Any],
    paths: list[str],
    *,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    """The same work as a request, minus HTTP: client check, entity check, the page query,
    serialization to bytes. `concurrency` coroutines in one process, like a worker's."""
    database = Database(database_url, pool_size=concurrency)
    cursor_keys = bench_cursor_keys()
    principal = Principal(
        tenant_id=UUID(dataset["tenant_id"]), client_id=UUID(dataset["client_id"])
    )
    parsed = []
    for path in paths:
        split = urlsplit(path)
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        parsed.append(
            (
                UUID(split.path.split("/")[3]),
                parse_instant_ms(query["start"]),
                parse_instant_ms(query["end"]),
                int(query["pageSize"]),
                query.get("continuationToken"),
            )
        )
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            entity_id, start, end, page_size, continuation = parsed[index % len(parsed)]
            index += concurrency
            began = time.perf_counter()
            async with database.read() as connection:
                page = await charge_sessions.list_sessions(
                    connection,
                    principal=principal,
                    entity_id=entity_id,
                    frame_start_ms=start,
                    frame_end_ms=end,
                    page_size=page_size,
                    continuation_token=continuation,
                    cursor_key=cursor_keys,
                    now_ms=int(time.time() * 1000),
                )
            _page_bytes(page)
            latencies.append(time.perf_counter() - began)

    elapsed = await _run_workers(worker, concurrency)
    await database.dispose()
    return _summary(latencies, elapsed)


class _Row(asyncpg.Record):
    """asyncpg's record with attribute access, as the serialization code reads rows."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


async def raw_driver_floor(
    database_url: str,
    dataset: dict[str, Any],
    paths: list[str],
    *,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    """A design experiment, not how the service runs: the database floor of first pages with
    the very same SQL sent through asyncpg's prepared statements directly, without
    SQLAlchemy. What the driver layer costs is the difference to dbfloor-first-25."""
    compiled = _FIRST_PAGE.compile(dialect=postgresql.asyncpg.dialect())
    sql = str(compiled)
    order = list(compiled.positiontup or [])
    cursor_keys = bench_cursor_keys()
    pool = await asyncpg.create_pool(
        database_url, min_size=concurrency, max_size=concurrency, record_class=_Row
    )
    parsed = []
    for path in paths:
        split = urlsplit(path)
        query = {key: values[0] for key, values in parse_qs(split.query).items()}
        entity_id = UUID(split.path.split("/")[3])
        frame = Frame(parse_instant_ms(query["start"]), parse_instant_ms(query["end"]))
        page_size = int(query["pageSize"])
        arguments = {
            "client_id": UUID(dataset["client_id"]),
            "tenant_id": UUID(dataset["tenant_id"]),
            "entity_id": entity_id,
            "frame_start_ms": frame.start_ms,
            "frame_end_ms": frame.end_ms,
            "limit": page_size + 1,
        }
        parsed.append((entity_id, frame, page_size, [arguments[name] for name in order]))
    latencies: list[float] = []
    deadline = time.monotonic() + seconds

    async def worker(offset: int) -> None:
        index = offset
        while time.monotonic() < deadline:
            entity_id, frame, page_size, arguments = parsed[index % len(parsed)]
            index += concurrency
            began = time.perf_counter()
            async with pool.acquire() as connection:
                rows = await connection.fetch(sql, *arguments)
            page = make_page(
                rows,
                page_size=page_size,
                frame=frame,
                key=cursor_keys,
                kind=CursorKind.CHARGE_SESSIONS,
                scope_id=entity_id,
                sort_key=lambda row: (row.start_ms, row.id),
            )
            _page_bytes(page)
            latencies.append(time.perf_counter() - began)

    elapsed = await _run_workers(worker, concurrency)
    await pool.close()
    return _summary(latencies, elapsed)


async def _run_workers(worker: Callable[[int], Awaitable[None]], concurrency: int) -> float:
    """Run `concurrency` workers (each told its index) to the end; the seconds it took."""
    started = time.monotonic()
    await asyncio.gather(*(worker(offset) for offset in range(concurrency)))
    return time.monotonic() - started


def run(
    database_url: str,
    dataset: dict[str, Any],
    *,
    seconds: int,
    connections: int,
    only: set[str] | None = None,
) -> dict[str, Any]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    # The benchmark's app: the product, plus the floors and the OFFSET pages (bench/app.py).
    server = start_server(
        database_url, workers=2, log=RESULTS / "read-server.log", bench_routes=True
    )
    results: dict[str, Any] = {"machine": machine(), "sessions": dataset["sessions"]}
    try:
        bearer = token(server.base_url, dataset["client_id"], dataset["client_secret"])
        heavy = dataset["heavy_entity_ids"]
        with httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=60
        ) as http:
            files = {
                "first-25": write_paths("first-25", first_page_paths(dataset, 25, 5000)),
                "first-100": write_paths("first-100", first_page_paths(dataset, 100, 5000)),
            }
            for page_size in (25, 100):
                for depth, paths in deep_page_paths(http, heavy, page_size).items():
                    files[f"deep-{page_size}-{depth}"] = write_paths(
                        f"deep-{page_size}-{depth}", paths
                    )
                    files[f"offset-{page_size}-{depth}"] = write_paths(
                        f"offset-{page_size}-{depth}", offset_paths(heavy, page_size, depth)
                    )
            # The framework floor returns a body as big as an average page of 25.
            sizes = [len(http.get(p).content) for p in first_page_paths(dataset, 25, 200)]
            deep_sizes = [
                len(http.get(p).content)
                for p in (RESULTS / "paths-deep-25-200.txt").read_text().split()
            ]
            files["floor-first-25"] = write_paths(
                "floor-first-25", [f"/bench/static?size={round(statistics.mean(sizes))}"]
            )
            files["floor-full-25"] = write_paths(
                "floor-full-25", [f"/bench/static?size={round(statistics.mean(deep_sizes))}"]
            )
        scenarios: dict[str, Any] = {}
        order = ["floor-first-25", "first-25", "first-100", "floor-full-25"]
        order += [f"deep-25-{d}" for d in DEPTHS] + [f"offset-25-{d}" for d in DEPTHS]
        order += [f"deep-100-{d}" for d in DEPTHS] + [f"offset-100-{d}" for d in DEPTHS]
        for name in order:
            if only and name not in only:
                continue
            meter = CpuMeter(server)
            meter.start()
            scenarios[name] = wrk(
                server.base_url, files[name], bearer, seconds=seconds, connections=connections
            )
            scenarios[name].update(meter.per_request(scenarios[name]["requests"]))
            print(f"{name:18} {json.dumps(scenarios[name])}", flush=True)
        results["server_memory"] = server.memory()
    finally:
        server.stop()
    results["scenarios"] = scenarios
    for name in ("first-25", "deep-25-200"):
        if only and f"dbfloor-{name}" not in only:
            continue
        paths = (RESULTS / f"paths-{name}.txt").read_text().split()
        floor = asyncio.run(
            database_floor(
                database_url, dataset, paths, seconds=seconds, concurrency=connections // 2
            )
        )
        scenarios[f"dbfloor-{name}"] = floor
        print(f"dbfloor-{name:10} {json.dumps(floor)}", flush=True)
    if not only or "dbfloor-raw-first-25" in only:
        paths = (RESULTS / "paths-first-25.txt").read_text().split()
        raw = asyncio.run(
            raw_driver_floor(
                database_url, dataset, paths, seconds=seconds, concurrency=connections // 2
            )
        )
        scenarios["dbfloor-raw-first-25"] = raw
        print(f"dbfloor-raw-first-25 {json.dumps(raw)}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url", default="postgresql://postgres@127.0.0.1:5432/chargeledger_bench"
    )
    parser.add_argument("--dataset", default=str(RESULTS / "dataset.json"))
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--name", default="read-path")
    parser.add_argument("--only", default="", help="comma-separated scenario names")
    args = parser.parse_args()
    dataset = json.loads(Path(args.dataset).read_text())
    results = run(
        args.database_url,
        dataset,
        seconds=args.seconds,
        connections=args.connections,
        only={name for name in args.only.split(",") if name} or None,
    )
    print(save(args.name, results))


if __name__ == "__main__":
    main()
