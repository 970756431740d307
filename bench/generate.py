"""Load a benchmark dataset straight into the database (COPY on PostgreSQL, executemany on
SQLite), bypassing the API: tenants, entities with a Home location, and completed sessions
with realistic fields (energy split into t1/t2, state of charge, range, a matched location).

Scale 1: 10,000 entities and 1,000,000 sessions. Most entities are cars with a modest history;
a few are busy depot chargers with tens of thousands of sessions in one month, so that the
200th page of a month frame exists at page sizes 25 and 100.
"""

import argparse
import asyncio
import json
import math
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from chargeledger.auth import service as auth
from chargeledger.domain.record_json import charge_record_json
from chargeledger.entities.service import EntityType
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import charge_sessions, entities, locations

HEAVY_ENTITIES = 20
HEAVY_SESSIONS = 25_000  # in one month: 200 pages of 100 and more
HEAVY_MONTH_START_MS = 1_717_200_000_000  # 2024-06-01T00:13:20Z
MONTH_MS = 30 * 86_400_000
# Cars charge a dozen times a month or so: their sessions fall in the half year before.
HISTORY_START_MS = 1_704_067_200_000  # 2024-01-01
HISTORY_MS = 182 * 86_400_000


@dataclass(frozen=True)
class Dataset:
    tenant_id: uuid.UUID
    client_id: uuid.UUID
    client_secret: str
    heavy_entity_ids: list[str]
    entity_ids: list[str]
    sessions: int


def _session_rows(
    entity_id: uuid.UUID, count: int, home: dict[str, Any], rng: random.Random, *, heavy: bool
) -> Iterator[tuple[Any, ...]]:
    matches = orjson.dumps(
        [{"accuracy": 1.0, "location": {"id": str(home["id"]), "label": "Home"}}]
    ).decode()
    for _ in range(count):
        if heavy:
            start_ms = HEAVY_MONTH_START_MS + rng.randrange(MONTH_MS)
        else:
            start_ms = HISTORY_START_MS + rng.randrange(HISTORY_MS)
        start_ms -= start_ms % 1000
        duration_ms = rng.randrange(30, 600) * 60_000
        power_kw = rng.choice([3.7, 7.4, 11.0, 22.0])
        energy_kwh = round(power_kw * duration_ms / 3_600_000 * rng.uniform(0.6, 1.0), 3)
        t1 = round(energy_kwh * rng.random(), 3)
        soc_start = round(rng.uniform(5, 60), 1)
        soc_end = round(min(100.0, soc_start + rng.uniform(10, 50)), 1)
        values = (
            entity_id,
            uuid.uuid4(),
            None,  # external_id
            start_ms,
            start_ms + duration_ms,
            start_ms + duration_ms + 60_000,  # created
            start_ms + duration_ms + 60_000,  # updated
            energy_kwh,
            t1,
            round(energy_kwh - t1, 3),
            0.0,
            0.0,
            round(energy_kwh / (duration_ms / 3_600_000), 3),
            soc_start,
            soc_end,
            round(soc_start * 4.5, 0),
            round(soc_end * 4.5, 0),
            home["latitude"] + rng.gauss(0, 0.00005),
            home["longitude"] + rng.gauss(0, 0.00005),
            10.0,
            None,  # address as given
            matches,
            home["address"],
            "readings",
            "isCharging",
            "power",
            None,  # energy_uncertainty_kwh
            False,
        )
        # The record the API serves, kept with the row as the application keeps it.
        yield (*values, charge_record_json(dict(zip(SESSION_COLUMNS, values, strict=False))))


SESSION_COLUMNS = [
    "entity_id",
    "id",
    "external_id",
    "start_ms",
    "end_ms",
    "created_ms",
    "updated_ms",
    "energy_kwh",
    "t1_kwh",
    "t2_kwh",
    "t3_kwh",
    "t4_kwh",
    "average_power_kw",
    "soc_start_pct",
    "soc_end_pct",
    "range_start_km",
    "range_end_km",
    "latitude",
    "longitude",
    "position_uncertainty_m",
    "address",
    "location_matches_json",
    "matched_address",
    "source",
    "method",
    "energy_method",
    "energy_uncertainty_kwh",
    "tiers_given",
    "record_json",
]


def _plan(scale: float) -> tuple[int, int]:
    """(entities, sessions per ordinary entity) for a scale."""
    total_entities = max(HEAVY_ENTITIES + 10, round(10_000 * scale))
    total_sessions = round(1_000_000 * scale)
    ordinary = total_entities - HEAVY_ENTITIES
    per_entity = max(1, math.ceil((total_sessions - HEAVY_ENTITIES * HEAVY_SESSIONS) / ordinary))
    return total_entities, per_entity


async def _copy(
    connection: Any, table: str, columns: list[str], rows: list[tuple[Any, ...]]
) -> None:
    await connection.copy_records_to_table(table, records=rows, columns=columns)


async def generate(database_url: str, *, scale: float, seed: int = 1) -> Dataset:
    rng = random.Random(seed)
    await upgrade_to_head_async(database_url)
    database = Database(database_url)
    now_ms = int(time.time() * 1000)
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="bench", now_ms=now_ms)
    total_entities, per_entity = _plan(scale)
    entity_rows: list[dict[str, Any]] = []
    location_rows = []
    homes: dict[uuid.UUID, dict[str, Any]] = {}
    for index in range(total_entities):
        entity_id = uuid.uuid4()
        heavy = index < HEAVY_ENTITIES
        entity_rows.append(
            {
                "id": entity_id,
                "tenant_id": credentials.tenant_id,
                "type": (EntityType.CHARGE_POINT if heavy else EntityType.EV).value,
                "name": f"{'depot charger' if heavy else 'car'} {index}",
                "identifier": f"BENCH-{index:07d}",
                "brand": None,
                "properties_json": "{}",
                "capture_charge_sessions": True,
                "created_ms": now_ms + index,
                "battery_capacity_kwh": None if heavy else 75.0,
            }
        )
        home = {
            "id": uuid.uuid4(),
            "latitude": 50.5 + rng.random(),
            "longitude": 3.5 + rng.random() * 2,
            "address": f"Street {index}, Belgium",
        }
        homes[entity_id] = home
        location_rows.append(
            {
                "id": home["id"],
                "entity_id": entity_id,
                "label": "Home",
                "address": home["address"],
                "latitude": home["latitude"],
                "longitude": home["longitude"],
                "radius_m": 100.0,
                "created_ms": now_ms,
            }
        )
    is_postgresql = make_url(database.url).get_backend_name() == "postgresql"
    session_count = 0
    started = time.monotonic()
    if is_postgresql:
        dsn = (
            make_url(database.url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )
        raw = await asyncpg.connect(dsn)
        try:
            await _copy(
                raw, "entities", list(entity_rows[0]), [tuple(r.values()) for r in entity_rows]
            )
            await _copy(
                raw, "locations", list(location_rows[0]), [tuple(r.values()) for r in location_rows]
            )
            batch: list[tuple[Any, ...]] = []
            for index, row in enumerate(entity_rows):
                heavy = index < HEAVY_ENTITIES
                count = HEAVY_SESSIONS if heavy else per_entity
                batch.extend(_session_rows(row["id"], count, homes[row["id"]], rng, heavy=heavy))
                if len(batch) >= 200_000:
                    await _copy(raw, "charge_sessions", SESSION_COLUMNS, batch)
                    session_count += len(batch)
                    batch = []
                    print(
                        f"  {session_count:,} sessions in {time.monotonic() - started:.0f} s",
                        flush=True,
                    )
            if batch:
                await _copy(raw, "charge_sessions", SESSION_COLUMNS, batch)
                session_count += len(batch)
            await raw.execute("ANALYZE")
        finally:
            await raw.close()
    else:
        async with database.write() as connection:
            await connection.execute(sa.insert(entities), entity_rows)
            await connection.execute(sa.insert(locations), location_rows)
        for index, row in enumerate(entity_rows):
            heavy = index < HEAVY_ENTITIES
            count = HEAVY_SESSIONS if heavy else per_entity
            rows = [
                dict(zip(SESSION_COLUMNS, values, strict=True))
                for values in _session_rows(row["id"], count, homes[row["id"]], rng, heavy=heavy)
            ]
            async with database.write() as connection:
                await connection.execute(sa.insert(charge_sessions), rows)
            session_count += len(rows)
    await database.dispose()
    print(f"loaded {session_count:,} sessions in {time.monotonic() - started:.0f} s", flush=True)
    return Dataset(
        tenant_id=credentials.tenant_id,
        client_id=credentials.client_id,
        client_secret=credentials.client_secret,
        heavy_entity_ids=[str(r["id"]) for r in entity_rows[:HEAVY_ENTITIES]],
        entity_ids=[str(r["id"]) for r in entity_rows],
        sessions=session_count,
    )


async def ensure_database(admin_url: str, name: str, *, fresh: bool) -> str:
    """The URL of database `name` on the server of admin_url, created (or recreated)."""
    admin_dsn = (
        make_url(admin_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )
    connection = await asyncpg.connect(admin_dsn)
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and fresh:
            await connection.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = False
        if not exists:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(admin_dsn).set(database=name).render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="chargeledger_bench")
    parser.add_argument("--scale", type=float, default=1.0, help="1: 1M sessions; 10: 10M")
    parser.add_argument("--out", default="bench/results/dataset.json")
    args = parser.parse_args()

    async def run() -> Dataset:
        url = await ensure_database(args.admin_url, args.database, fresh=True)
        return await generate(url, scale=args.scale)

    dataset = asyncio.run(run())
    with open(args.out, "w") as file:
        json.dump(
            {
                **dataset.__dict__,
                "tenant_id": str(dataset.tenant_id),
                "client_id": str(dataset.client_id),
            },
            file,
        )


if __name__ == "__main__":
    main()
