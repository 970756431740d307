"""A month's statements for many drivers: `chargeledger statements run --finalise`, timed.

For each driver count (1,000 and 10,000 by default), a fresh PostgreSQL database is seeded
straight through SQLAlchemy core (the bench is not the product): one tenant, a day/night
contract capped by a regional maximum, and per driver a car with a Home location, the car's
assignment, the plan, and about 30 sessions at Home in the month (t1/t2 split, matched to Home
with accuracy 1). Then the command a finance user runs is timed as a subprocess: it computes and
finalises every driver's statement (each in a transaction of its own) and writes
statements.csv, statements.xlsx and one PDF per driver. Reported per count: the wall time,
drivers/s, the command's CPU time and peak resident memory (its own rusage, from wait4), the
files' sizes; and checks: every driver finalised, the CSV's total rows summing to the total
computed by hand at seeding (kWh x price per register, each session rounded half up once).
Memory that does not grow from 1,000 to 10,000 drivers is the point.

    .venv/bin/python -m bench.statements [--drivers 1000,10000] [--sessions 30]
"""

import argparse
import asyncio
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from bench.common import REPO_ROOT, machine, save, source_description
from bench.generate import ensure_database
from chargeledger.domain.reimbursement.money import kwh_from_float, round_amount
from chargeledger.storage.database import Database
from chargeledger.storage.migrate import upgrade_to_head_async
from chargeledger.storage.tables import (
    charge_sessions,
    driver_assignments,
    driver_rate_plans,
    drivers,
    entities,
    locations,
    rate_plan_periods,
    rate_plans,
    tenants,
)

MONTH = "2026-10"
# October 2026 in Europe/Brussels: 2026-09-30T22:00Z to 2026-10-31T23:00Z. Sessions start
# from a day in, end before its end: all of them in the month whatever the time zone's offset.
MONTH_START_MS = int(datetime(2026, 10, 1, 12, tzinfo=UTC).timestamp() * 1000)
MONTH_SPAN_MS = 29 * 86_400_000
CONTRACT = (Decimal("0.3150"), Decimal("0.2210"))  # day, night
CAP = Decimal("0.2845")  # the regional maximum, both registers
BATCH_ROWS = 5_000


@dataclass(frozen=True)
class Seeded:
    tenant_id: uuid.UUID
    drivers: int
    sessions: int
    expected_total: Decimal  # by hand: each session rounded once, summed
    seconds: float


def _prices() -> tuple[Decimal, Decimal]:
    return min(CONTRACT[0], CAP), min(CONTRACT[1], CAP)


def _sessions(
    entity_id: uuid.UUID,
    location_id: uuid.UUID,
    count: int,
    home: tuple[float, float],
    now_ms: int,
    rng: random.Random,
) -> Iterator[tuple[dict[str, Any], Decimal]]:
    """The car's sessions at Home in the month, one per slot of the month (a car charges one
    session at a time), each with its amount by hand."""
    location = {"id": str(location_id), "label": "Home"}
    matches = orjson.dumps([{"accuracy": 1.0, "location": location}])
    day_price, night_price = _prices()
    slot_ms = MONTH_SPAN_MS // count
    for index in range(count):
        start_ms = MONTH_START_MS + index * slot_ms + rng.randrange(slot_ms // 2)
        start_ms -= start_ms % 1000
        duration_ms = rng.randrange(30 * 60_000, max(30 * 60_000 + 1, slot_ms // 2))
        energy_kwh = round(rng.uniform(2, 60), 3)
        t1 = round(energy_kwh * rng.random(), 3)
        t2 = round(energy_kwh - t1, 3)
        amount = round_amount(
            kwh_from_float(t1) * day_price + kwh_from_float(t2) * night_price, "EUR"
        )
        yield (
            {
                "entity_id": entity_id,
                "id": uuid.uuid4(),
                "start_ms": start_ms,
                "end_ms": start_ms + duration_ms,
                "created_ms": now_ms,
                "updated_ms": now_ms,
                "energy_kwh": t1 + t2,
                "t1_kwh": t1,
                "t2_kwh": t2,
                "t3_kwh": 0.0,
                "t4_kwh": 0.0,
                "latitude": home[0],
                "longitude": home[1],
                "position_uncertainty_m": 10.0,
                "location_matches_json": matches.decode(),
                "source": "readings",
                "method": "isCharging",
                "energy_method": "power",
                "tiers_given": False,
                "record_json": "{}",  # not read by statements
                "version": 1,
            },
            amount,
        )


async def seed(url: str, *, driver_count: int, sessions_per_driver: int) -> Seeded:
    started = time.monotonic()
    await upgrade_to_head_async(url)
    database = Database(url)
    rng = random.Random(driver_count)
    now_ms = int(time.time() * 1000)
    tenant_id, cap_id, plan_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    expected = Decimal("0.00")
    session_count = 0
    try:
        async with database.write() as connection:
            await connection.execute(
                sa.insert(tenants).values(id=tenant_id, name="bench", created_ms=now_ms)
            )
            for plan, name, cap, prices in (
                (cap_id, "CREG maximum Flanders", None, (CAP, CAP)),
                (plan_id, "Employee contract", cap_id, CONTRACT),
            ):
                await connection.execute(
                    sa.insert(rate_plans).values(
                        id=plan, tenant_id=tenant_id, name=name, currency="EUR",
                        cap_plan_id=cap, created_ms=now_ms, updated_ms=now_ms,
                    )
                )  # fmt: skip
                await connection.execute(
                    sa.insert(rate_plan_periods).values(
                        plan_id=plan, valid_from="2024-01-01", valid_to=None,
                        t1_price=str(prices[0]), t2_price=str(prices[1]),
                        t3_price=str(prices[0]), t4_price=str(prices[0]),
                    )
                )  # fmt: skip
        for first in range(0, driver_count, 1000):
            rows: dict[str, list[dict[str, Any]]] = {
                "entities": [], "locations": [], "drivers": [], "assignments": [],
                "plans": [], "sessions": [],
            }  # fmt: skip
            for index in range(first, min(first + 1000, driver_count)):
                car_id, driver_id, home_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
                home = (50.5 + rng.random(), 3.5 + 2 * rng.random())
                rows["entities"].append(
                    {
                        "id": car_id, "tenant_id": tenant_id, "type": "EV",
                        "name": f"car {index}", "identifier": f"BENCH-{index:07d}",
                        "brand": None, "properties_json": "{}",
                        "capture_charge_sessions": True, "created_ms": now_ms,
                        "battery_capacity_kwh": None,
                    }
                )  # fmt: skip
                rows["locations"].append(
                    {
                        "id": home_id, "entity_id": car_id, "label": "Home",
                        "address": None, "latitude": home[0], "longitude": home[1],
                        "radius_m": 60.0, "created_ms": now_ms,
                    }
                )  # fmt: skip
                rows["drivers"].append(
                    {
                        "id": driver_id, "tenant_id": tenant_id, "name": f"Driver {index}",
                        "employee_number": f"E{index:06d}", "region": "BE-VLG",
                        "email": None, "created_ms": now_ms, "updated_ms": now_ms,
                    }
                )  # fmt: skip
                rows["assignments"].append(
                    {
                        "id": uuid.uuid4(), "tenant_id": tenant_id, "driver_id": driver_id,
                        "kind": "car", "entity_id": car_id, "id_tag": None,
                        "valid_from": "2024-01-01", "valid_to": None, "created_ms": now_ms,
                    }
                )  # fmt: skip
                rows["plans"].append(
                    {
                        "id": uuid.uuid4(), "tenant_id": tenant_id, "driver_id": driver_id,
                        "plan_id": plan_id, "valid_from": "2024-01-01", "valid_to": None,
                        "created_ms": now_ms,
                    }
                )  # fmt: skip
                count = max(1, round(rng.gauss(sessions_per_driver, 4)))
                for row, amount in _sessions(car_id, home_id, count, home, now_ms, rng):
                    rows["sessions"].append(row)
                    expected += amount
            session_count += len(rows["sessions"])
            async with database.write() as connection:
                for table, key in (
                    (entities, "entities"),
                    (locations, "locations"),
                    (drivers, "drivers"),
                    (driver_assignments, "assignments"),
                    (driver_rate_plans, "plans"),
                    (charge_sessions, "sessions"),
                ):
                    for at in range(0, len(rows[key]), BATCH_ROWS):
                        await connection.execute(sa.insert(table), rows[key][at : at + BATCH_ROWS])
            print(f"  seeded {min(first + 1000, driver_count):,} drivers", flush=True)
        async with database.write() as connection:
            if database.dialect == "postgresql":
                await connection.execute(sa.text("ANALYZE"))
    finally:
        await database.dispose()
    return Seeded(tenant_id, driver_count, session_count, expected, time.monotonic() - started)


def run_command(url: str, seeded: Seeded, out: Path) -> dict[str, Any]:
    """The CLI as a subprocess; its own rusage (wait4), not this process's."""
    command = [
        sys.executable, "-m", "chargeledger", "statements", "run", "--tenant",
        str(seeded.tenant_id), "--month", MONTH, "--finalise", "--out", str(out),
        "--database-url", url,
    ]  # fmt: skip
    log = out.parent / f"cli-{seeded.drivers}.log"
    with log.open("wb") as output:
        started = time.monotonic()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, cwd=REPO_ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"the command failed ({process.returncode}): see {log}")
    return {
        "seconds": round(seconds, 1),
        "drivers_per_s": round(seeded.drivers / seconds, 1),
        "cpu_user_s": round(usage.ru_utime, 1),
        "cpu_system_s": round(usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # KiB on Linux
    }


def check_files(out: Path, seeded: Seeded) -> dict[str, Any]:
    total = Decimal(0)
    statements = 0
    with (out / "statements.csv").open(encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            if row["kind"] == "total":
                statements += 1
                total += Decimal(row["amount"])
    pdfs = list((out / "pdf").iterdir())
    assert statements == seeded.drivers, (statements, seeded.drivers)
    assert len(pdfs) == seeded.drivers, len(pdfs)
    assert total == seeded.expected_total, (total, seeded.expected_total)
    return {
        "statements": statements,
        "total_amount": str(total),
        "csv_mb": round((out / "statements.csv").stat().st_size / 2**20, 1),
        "xlsx_mb": round((out / "statements.xlsx").stat().st_size / 2**20, 1),
        "pdf_mb": round(sum(path.stat().st_size for path in pdfs) / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--admin-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--database", default="chargeledger_bench_statements")
    parser.add_argument("--drivers", default="1000,10000", help="comma-separated counts")
    parser.add_argument("--sessions", type=int, default=30, help="per driver, about")
    parser.add_argument("--keep", action="store_true", help="keep the files and databases")
    parser.add_argument("--name", default="statements")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="chargeledger-bench-statements-"))
    results: list[dict[str, Any]] = []
    try:
        for driver_count in (int(text) for text in args.drivers.split(",")):
            name = f"{args.database}_{driver_count}"
            url = asyncio.run(ensure_database(args.admin_url, name, fresh=True))
            print(f"{driver_count:,} drivers: seeding {name}", flush=True)
            seeded = asyncio.run(
                seed(url, driver_count=driver_count, sessions_per_driver=args.sessions)
            )
            out = work / f"out-{driver_count}"
            print(f"  running the command ({seeded.sessions:,} sessions)", flush=True)
            measured = run_command(url, seeded, out)
            result = {
                "drivers": driver_count,
                "sessions": seeded.sessions,
                "seed_s": round(seeded.seconds, 1),
                **measured,
                **check_files(out, seeded),
            }
            print(json.dumps(result), flush=True)
            results.append(result)
            if not args.keep:
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    report = {
        "runs": results,
        "machine": machine(),
        "source": source_description(None),
        "month": MONTH,
    }
    print(json.dumps(report, indent=2))
    print(save(args.name, report))


if __name__ == "__main__":
    main()
