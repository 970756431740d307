"""Post each simulated car's readings through the public API, list what chargeledger made of
them, and score that against the truth.

Cars are independent entities, so they are run concurrently; each car's batches are posted in
its own delivery order, one after the other, as its cloud would.
"""

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson

from bench.accuracy.fleet import Profile
from bench.accuracy.match import CarResult, score_car
from bench.accuracy.metrics import examples, summarize_all, targets_met
from bench.accuracy.simulate import SimulatedCar, simulate_car
from bench.accuracy.telemetry import format_instant_ms, to_reading

OFFICE_RADIUS_M = 150.0


@dataclass
class IngestClock:
    """Time during which at least one readings post was in flight: the ingest's busy time,
    whatever the simulation and listing around it cost."""

    in_flight: int = 0
    busy_s: float = 0.0
    since: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)

    def enter(self) -> None:
        if self.in_flight == 0:
            self.since = time.monotonic()
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.in_flight == 0:
            self.busy_s += time.monotonic() - self.since


def _iso(instant_s: float) -> str:
    return format_instant_ms(round(instant_s * 1000))


async def _checked(response: httpx.Response, expected: int) -> dict[str, Any]:
    if response.status_code != expected:
        raise RuntimeError(
            f"{response.request.method} {response.request.url}: {response.status_code} "
            f"{response.text[:500]}"
        )
    body: dict[str, Any] = response.json()
    return body


async def set_up_entity(http: httpx.AsyncClient, simulated: SimulatedCar, run_tag: str) -> str:
    car = simulated.car
    entity = await _checked(
        await http.post(
            "/v1/entities",
            json={
                "type": "EV",
                "name": f"accuracy {car.name}",
                "identifier": f"ACC-{run_tag}-{car.index:04d}",
                "brand": car.model.name,
            },
        ),
        201,
    )
    entity_id: str = entity["id"]
    for label, (latitude, longitude), radius_m in (
        ("Home", car.home, car.home_radius_m),
        ("Office", car.office, OFFICE_RADIUS_M),
    ):
        await _checked(
            await http.post(
                f"/v1/entities/{entity_id}/locations",
                json={
                    "label": label,
                    "latitude": latitude,
                    "longitude": longitude,
                    "radius": round(radius_m, 1),
                },
            ),
            201,
        )
    await _checked(
        await http.put(
            f"/v1/entities/{entity_id}/tariff-calendar", json={"preset": "BE-day-night"}
        ),
        200,
    )
    if car.channel == "stateOfCharge":
        await _checked(
            await http.put(
                f"/v1/entities/{entity_id}/battery-capacity",
                json={"value": car.model.capacity_kwh, "unit": "kWh"},
            ),
            200,
        )
    return entity_id


async def post_readings(
    http: httpx.AsyncClient,
    entity_id: str,
    simulated: SimulatedCar,
    clock: IngestClock,
    *,
    with_speed: bool,
) -> None:
    car = simulated.car
    for batch in simulated.delivery.batches:
        body = orjson.dumps([to_reading(car, sample, with_speed=with_speed) for sample in batch])
        clock.enter()
        try:
            response = await http.post(
                f"/v1/entities/{entity_id}/readings",
                content=body,
                headers={"Content-Type": "application/json"},
            )
        finally:
            clock.leave()
        result = await _checked(response, 200)
        clock.counts["posts"] += 1
        clock.counts["readings_posted"] += len(batch)
        clock.counts["stored"] += result["stored"]
        clock.counts["duplicates"] += result["duplicates"]
        clock.counts["rejected"] += len(result["rejected"])


async def list_sessions(
    http: httpx.AsyncClient, entity_id: str, start_s: float, end_s: float
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    url: str | None = f"/v1/entities/{entity_id}/charge-sessions"
    params: dict[str, Any] | None = {
        "start": _iso(start_s - 86400),
        "end": _iso(end_s + 86400),
        "pageSize": 1000,
    }
    while url:
        page = await _checked(await http.get(url, params=params), 200)
        records.extend(page["data"])
        url, params = (page.get("links") or {}).get("next"), None
    return records


async def run_fleet(
    http: httpx.AsyncClient,
    profile: Profile,
    seed: int,
    *,
    with_speed: bool = False,
    concurrency: int = 4,
) -> dict[str, Any]:
    """Simulate, post, list and score every car of the profile; the result document."""
    clock = IngestClock()
    gate = asyncio.Semaphore(concurrency)
    faults: Counter[str] = Counter()
    sessions: Counter[str] = Counter()
    run_tag = f"{seed}-{time.time_ns() % 10**9}"  # identifiers are unique per tenant

    async def one(index: int) -> CarResult:
        async with gate:
            simulated = await asyncio.to_thread(simulate_car, profile, seed, index)
            faults.update(simulated.faults)
            sessions["all"] += len(simulated.sessions)
            sessions["delivered_readings"] += len(simulated.samples)
            entity_id = await set_up_entity(http, simulated, run_tag)
            await post_readings(http, entity_id, simulated, clock, with_speed=with_speed)
            records = await list_sessions(http, entity_id, simulated.start_s, simulated.end_s)
            return await asyncio.to_thread(score_car, simulated, records)

    started = time.monotonic()
    results = await asyncio.gather(*(one(index) for index in range(profile.cars)))
    metrics = summarize_all(results)
    counts = clock.counts
    return {
        "profile": profile.name,
        "seed": seed,
        "cars": profile.cars,
        "start": profile.start.isoformat(),
        "days": profile.days,
        "with_speed": with_speed,
        "generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "simulation": {
            "true_sessions": sessions["all"],
            "delivered_readings": sessions["delivered_readings"],
            "faults": dict(sorted(faults.items())),
        },
        "ingest": {
            **{
                key: counts[key]
                for key in ("posts", "readings_posted", "stored", "duplicates", "rejected")
            },
            "busy_s": round(clock.busy_s, 2),
            "readings_per_s": round(counts["readings_posted"] / clock.busy_s)
            if clock.busy_s
            else None,
            "wall_s": round(time.monotonic() - started, 2),
        },
        "metrics": metrics,
        "targets_met": targets_met(metrics["overall"]),
        "examples": examples(results),
    }
