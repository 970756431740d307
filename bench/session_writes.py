"""Direct session writes: `POST /v1/entities/{id}/charge-sessions` from many clients at once.

A fleet of cars and charge points (200 by default) on a fresh database, some with Home and
Office locations, some with a tariff calendar (presets, a calendar of their own, one valid only
from mid-2024, one on a Home location). Their sessions (20,000 by default) vary as real
exports do: t1..t4 given, or only the total (the ledger splits it with the calendar), or no
energy; a position near a configured location, or elsewhere, or none; state of charge and
range for cars. `--clients` clients post them in a closed loop (each posts its next session
when the previous one is answered), the sessions ordered so that the posts in flight belong
to different entities, each entity's in time order. The first `--warmup` posts are not
measured. Reports sessions/s, p50/p99 latency, the server's CPU and PostgreSQL's per session,
the server's peak memory, and then lists every entity's sessions to check each post is there.

    .venv/bin/python -m bench.session_writes --sessions 20000 [--source-root ../base/src]
"""

import argparse
import asyncio
import json
import math
import random
import statistics
import time
from collections.abc import Callable
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
    create_tenant,
    machine,
    source_description,
    start_server,
    token,
)
from bench.generate import ensure_database

# Where the fleet lives: (city, latitude, longitude, address).
PLACES = [
    ("Leuven", 50.8798, 4.7005, "Naamsestraat 40, 3000 Leuven"),
    ("Brussels", 50.8467, 4.3525, "Grote Markt 1, 1000 Brussel"),
    ("Ghent", 51.0543, 3.7174, "Korenmarkt 1, 9000 Gent"),
    ("Antwerp", 51.2194, 4.4025, "Groenplaats 1, 2000 Antwerpen"),
    ("Utrecht", 52.0907, 5.1214, "Domplein 1, 3512 JE Utrecht"),
]
OWN_CALENDAR = {
    "timeZone": "Europe/Brussels",
    "country": "BE",
    "rules": [
        {"register": "t3", "days": ["holiday"], "from": "00:00", "to": "00:00"},
        {"register": "t2", "days": ["sat", "sun"], "from": "00:00", "to": "00:00"},
        {
            "register": "t1",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "from": "07:00",
            "to": "22:00",
        },
        {
            "register": "t4",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "from": "01:00",
            "to": "05:00",
        },
    ],
    "defaultRegister": "t2",
}
CALENDARS: list[dict[str, Any] | None] = [
    None,
    None,
    {"preset": "BE-day-night"},
    {"preset": "NL-normal-low"},
    OWN_CALENDAR,
    {"preset": "BE-day-night", "validFrom": "2024-07-01T00:00:00Z"},
]
FIRST_DAY = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=700)  # each entity's sessions spread over this, two DST changes a year
METRES_PER_DEGREE = 111_320.0


@dataclass
class PlannedEntity:
    type: str
    name: str
    locations: list[dict[str, Any]]
    calendar: dict[str, Any] | None
    home_calendar: dict[str, Any] | None  # the Home location's own calendar
    ids: dict[str, str] = field(default_factory=dict)  # "entity", and each location's label


@dataclass
class PlannedSession:
    entity: int
    start: str
    total_kwh: float | None
    body: bytes


def _instant(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _near(
    rng: random.Random, latitude: float, longitude: float, distance_m: float
) -> tuple[float, float]:
    """A position `distance_m` from a point, in a random direction."""
    angle = rng.uniform(0, 2 * math.pi)
    north_m, east_m = distance_m * math.cos(angle), distance_m * math.sin(angle)
    return (
        round(latitude + north_m / METRES_PER_DEGREE, 6),
        round(longitude + east_m / (METRES_PER_DEGREE * math.cos(math.radians(latitude))), 6),
    )


def plan_entities(count: int, rng: random.Random) -> list[PlannedEntity]:
    entities = []
    for index in range(count):
        kind = "ChargePoint" if index % 5 == 4 else "EV"
        city, latitude, longitude, address = rng.choice(PLACES)
        locations = []
        if index % 10 < 7:  # seven in ten have a Home; some of those an Office too
            home = _near(rng, latitude, longitude, rng.uniform(500, 5000))
            locations.append(
                {
                    "label": "Home",
                    "latitude": home[0],
                    "longitude": home[1],
                    "radius": rng.choice([30, 60, 100]),
                    "address": f"Home {index}, {city}",
                }
            )
            if kind == "EV" and index % 3 == 0:
                locations.append(
                    {
                        "label": "Office",
                        "latitude": latitude,
                        "longitude": longitude,
                        "radius": 150,
                        "address": address,
                    }
                )
        calendar = CALENDARS[index % len(CALENDARS)]
        home_calendar = (
            {"preset": "NL-normal-low"} if locations and calendar and index % 7 == 0 else None
        )
        entities.append(
            PlannedEntity(kind, f"bench {kind} {index}", locations, calendar, home_calendar)
        )
    return entities


def _session_body(
    rng: random.Random, entity: PlannedEntity, external_id: str, start: datetime, hours: float
) -> tuple[dict[str, Any], float | None]:
    """A POST body as an exporter sends it, and the total it posts (kWh), if any."""
    power_kw = rng.choice([3.7, 7.4, 11.0, 11.0, 22.0]) * rng.uniform(0.6, 1.0)
    energy_kwh = round(min(power_kw * hours, 95.0), 3)
    body: dict[str, Any] = {
        "externalId": external_id,
        "start": _instant(start),
        "end": _instant(start + timedelta(hours=hours)),
    }
    charge: dict[str, Any] = {}
    total_kwh: float | None = energy_kwh
    shape = rng.random()
    if shape < 0.4:  # the exporter's meter gave the registers
        t1 = round(energy_kwh * rng.choice([1.0, 0.7, 0.5, 0.2, 0.0]), 3)
        t2 = round(energy_kwh - t1, 3)
        charge["total"] = {"t1": t1, "t2": t2, "t3": 0, "t4": 0, "total": energy_kwh}
        charge["total"]["unit"] = "kWh"
    elif shape < 0.5:  # only the total, in Wh: converted, then split with the calendar
        charge["total"] = {"total": round(energy_kwh * 1000), "unit": "Wh"}
        total_kwh = round(energy_kwh * 1000) / 1000
    elif shape < 0.92:  # only the total: split with the calendar
        charge["total"] = {"total": energy_kwh, "unit": "kWh"}
    else:  # no energy known
        total_kwh = None
    if entity.type == "EV" and rng.random() < 0.85:
        soc_start = rng.uniform(10, 60)
        soc_end = min(100.0, soc_start + energy_kwh)  # a 100 kWh battery
        charge["start"] = {"unit": "%", "value": round(soc_start, 1)}
        charge["end"] = {"unit": "%", "value": round(soc_end, 1)}
        if rng.random() < 0.7:
            body["range"] = {
                "start": {"unit": "km", "value": round(soc_start * 4.5)},
                "end": {"unit": "km", "value": round(soc_end * 4.5)},
            }
    if charge:
        body["charge"] = charge
    where = rng.random()
    if entity.locations and where < 0.7:  # at one of its places, within GPS noise
        place = rng.choice(entity.locations)
        latitude, longitude = _near(rng, place["latitude"], place["longitude"], rng.uniform(0, 40))
        accuracy_m = rng.choice([5, 10, 12, 25, 30])
        body["location"] = {"latitude": latitude, "longitude": longitude, "accuracy": accuracy_m}
    elif where < 0.85:  # somewhere else: a public charger in town
        _, city_latitude, city_longitude, address = rng.choice(PLACES)
        latitude, longitude = _near(rng, city_latitude, city_longitude, rng.uniform(0, 20_000))
        body["location"] = {"latitude": latitude, "longitude": longitude}
        if rng.random() < 0.5:
            body["location"]["address"] = address
    return body, total_kwh


def plan_sessions(
    entities: list[PlannedEntity], count: int, rng: random.Random
) -> list[PlannedSession]:
    """`count` sessions over the entities, in posting order: round by round, one session of
    each entity per round, each entity's sessions in time order and not overlapping."""
    per_entity = [
        count // len(entities) + (1 if i < count % len(entities) else 0)
        for i in range(len(entities))
    ]
    planned: list[list[PlannedSession]] = []
    for index, entity in enumerate(entities):
        slot = SPAN / max(1, per_entity[index])
        own = []
        for number in range(per_entity[index]):
            hours = rng.uniform(0.5, min(10.0, slot.total_seconds() / 3600 / 2))
            latest = slot - timedelta(hours=hours + 0.25)
            start = FIRST_DAY + slot * number + latest * rng.random()
            start = start.replace(second=0, microsecond=0)
            body, total_kwh = _session_body(rng, entity, f"bench-{index}-{number}", start, hours)
            own.append(PlannedSession(index, body["start"], total_kwh, orjson.dumps(body)))
        planned.append(own)
    rounds = max(per_entity, default=0)
    return [own[r] for r in range(rounds) for own in planned if r < len(own)]


async def set_up(http: httpx.AsyncClient, entities: list[PlannedEntity]) -> None:
    """Creates the entities, their locations and calendars (not measured)."""

    async def one(entity: PlannedEntity) -> None:
        created = await http.post("/v1/entities", json={"type": entity.type, "name": entity.name})
        entity_id = created.raise_for_status().json()["id"]
        entity.ids["entity"] = entity_id
        for location in entity.locations:
            made = await http.post(f"/v1/entities/{entity_id}/locations", json=location)
            entity.ids[location["label"]] = made.raise_for_status().json()["id"]
        if entity.calendar is not None:
            put = await http.put(f"/v1/entities/{entity_id}/tariff-calendar", json=entity.calendar)
            put.raise_for_status()
        if entity.home_calendar is not None:
            path = f"/v1/entities/{entity_id}/locations/{entity.ids['Home']}/tariff-calendar"
            (await http.put(path, json=entity.home_calendar)).raise_for_status()

    for start in range(0, len(entities), 8):
        await asyncio.gather(*(one(entity) for entity in entities[start : start + 8]))


async def drive(
    base_url: str,
    bearer: str,
    entities: list[PlannedEntity],
    sessions: list[PlannedSession],
    *,
    clients: int,
    warmup: int,
    on_measure_start: Callable[[], None],
) -> dict[str, Any]:
    """Posts every session, `clients` at a time in a closed loop; the first `warmup` are not
    measured (the clock starts when the last of them is answered)."""
    headers = {"Authorization": f"Bearer {bearer}", "Content-Type": "application/json"}
    latencies_s: list[float] = []
    statuses: dict[int, int] = {}
    failures: list[str] = []

    async def post_all(queue: list[PlannedSession], measured: bool) -> None:
        position = 0

        async def client() -> None:
            nonlocal position
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=120) as http:
                while position < len(queue):
                    session = queue[position]
                    position += 1
                    path = f"/v1/entities/{entities[session.entity].ids['entity']}/charge-sessions"
                    sent = time.perf_counter()
                    response = await http.post(path, content=session.body)
                    if measured:
                        latencies_s.append(time.perf_counter() - sent)
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                    if response.status_code != 201 and len(failures) < 5:
                        failures.append(f"{response.status_code} {response.text[:300]}")

        await asyncio.gather(*(client() for _ in range(clients)))

    await post_all(sessions[:warmup], measured=False)
    on_measure_start()
    started = time.perf_counter()
    await post_all(sessions[warmup:], measured=True)
    elapsed_s = time.perf_counter() - started
    latencies_s.sort()
    return {
        "sessions_posted": len(sessions),
        "sessions_measured": len(latencies_s),
        "warmup_sessions": warmup,
        "seconds": round(elapsed_s, 2),
        "sessions_per_s": round(len(latencies_s) / elapsed_s, 1),
        "p50_ms": round(statistics.median(latencies_s) * 1000, 1),
        "p99_ms": round(
            latencies_s[min(len(latencies_s) - 1, int(len(latencies_s) * 0.99))] * 1000, 1
        ),
        "max_ms": round(latencies_s[-1] * 1000, 1),
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
        "failures": failures,
    }


async def verify(
    http: httpx.AsyncClient, entities: list[PlannedEntity], sessions: list[PlannedSession]
) -> dict[str, Any]:
    """Lists every entity's sessions: each posted one must be there, with its total; counts
    how many were matched to a location and split over more than one register."""
    by_entity: dict[int, dict[str, PlannedSession]] = {}
    for session in sessions:
        by_entity.setdefault(session.entity, {})[session.start] = session
    missing, wrong_total, matched, split = 0, 0, 0, 0
    problems: list[str] = []

    async def one(index: int) -> None:
        nonlocal missing, wrong_total, matched, split
        entity_id = entities[index].ids["entity"]
        listed: list[dict[str, Any]] = []
        url: str | None = f"/v1/entities/{entity_id}/charge-sessions"
        params: dict[str, Any] | None = {
            "start": _instant(FIRST_DAY - timedelta(days=1)),
            "end": _instant(FIRST_DAY + SPAN + timedelta(days=2)),
            "pageSize": 1000,
        }
        while url is not None:
            page = (await http.get(url, params=params)).raise_for_status().json()
            listed += page["data"]
            url, params = page["links"]["next"], None
        by_start = {record["data"]["start"]: record["data"] for record in listed}
        expected = by_entity.get(index, {})
        if len(listed) != len(expected) and len(problems) < 5:
            problems.append(f"entity {entity_id}: {len(listed)} listed, {len(expected)} posted")
        for start, session in expected.items():
            data = by_start.get(start)
            if data is None:
                missing += 1
                continue
            total = data["charge"]["total"]
            if session.total_kwh is not None and abs(total["total"] - session.total_kwh) > 0.001:
                wrong_total += 1
            matched += bool(data["locationMatches"])
            split += sum(1 for register in ("t1", "t2", "t3", "t4") if total[register]) > 1

    for start in range(0, len(entities), 8):
        await asyncio.gather(*(one(index) for index in range(start, min(start + 8, len(entities)))))
    return {
        "sessions_listed_ok": len(sessions) - missing - wrong_total,
        "missing": missing,
        "wrong_total": wrong_total,
        "with_location_match": matched,
        "split_over_registers": split,
        "problems": problems,
    }


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
        default="postgresql://postgres@127.0.0.1:5432/chargeledger_bench_writes",
        help="dropped and created again (PostgreSQL), or deleted (SQLite)",
    )
    parser.add_argument("--clients", type=int, default=32, help="posts in flight")
    parser.add_argument("--sessions", type=int, default=20_000)
    parser.add_argument("--entities", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=None, help="default: a tenth, at most 1,000")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--source-root",
        type=Path,
        default=None,
        help="serve chargeledger from this tree's src (e.g. a worktree of the "
        "commit before a change); the harness stays this tree's",
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "session-writes.json")
    args = parser.parse_args()
    warmup = min(1000, args.sessions // 10) if args.warmup is None else args.warmup
    rng = random.Random(args.seed)
    entities = plan_entities(args.entities, rng)
    sessions = plan_sessions(entities, args.sessions, rng)

    url = _fresh_database(args.database_url)
    credentials = create_tenant(url, source_root=args.source_root)
    server = start_server(
        url,
        workers=args.workers,
        log=RESULTS / "session-writes-server.log",
        source_root=args.source_root,
    )
    meter = CpuMeter(server)

    async def run(bearer: str) -> dict[str, Any]:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"Authorization": f"Bearer {bearer}"}, timeout=120
        ) as http:
            await set_up(http, entities)
            result = await drive(
                server.base_url,
                bearer,
                entities,
                sessions,
                clients=args.clients,
                warmup=warmup,
                on_measure_start=meter.start,
            )
            result.update(meter.per_request(result["sessions_measured"]))
            result["server_memory"] = server.memory()
            result["verification"] = await verify(http, entities, sessions)
            return result

    try:
        bearer = token(server.base_url, credentials["clientId"], credentials["clientSecret"])
        result = asyncio.run(run(bearer))
    finally:
        server.stop()
    result.update(
        backend=make_url(url).get_backend_name(),
        workers=args.workers,
        clients=args.clients,
        entities=args.entities,
        source=source_description(args.source_root),
        machine=machine(),
        when=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(args.out)
    verification = result["verification"]
    if verification["missing"] or verification["wrong_total"] or result["failures"]:
        raise SystemExit("some posted sessions were refused or are not listed as posted")


if __name__ == "__main__":
    main()
