"""The detector's state lives in the database: SIGKILL the server in the middle of a stream of
reading batches, restart it, resend what was not acknowledged, and the result is every
acknowledged reading stored once and the same sessions as a run that was never interrupted.
"""

import json
import random
import subprocess
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.databases import fresh_database
from tests.support.servers import ServerProcess, chargeledger_command

VEHICLES = 3
DAY0 = datetime(2024, 10, 1, tzinfo=UTC)
BATCH_READINGS = 120


def _z(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def vehicle_stream(vehicle: int) -> list[dict[str, Any]]:
    """Four days of 5-minute readings: charging every evening for 3 to 6 hours at 7-11 kW
    (with a short pause on the second night), driving in between, parked otherwise."""
    rng = random.Random(vehicle)
    readings: list[dict[str, Any]] = []
    soc = 40.0
    for day in range(4):
        plug_in = DAY0 + timedelta(days=day, hours=17, minutes=rng.randrange(0, 120, 5))
        hours = rng.choice([3, 4, 5, 6])
        power_kw = rng.choice([7.4, 11.0])
        instant = DAY0 + timedelta(days=day, hours=12)
        while instant < DAY0 + timedelta(days=day + 1, hours=12):
            charging = plug_in <= instant < plug_in + timedelta(hours=hours)
            paused = day == 1 and plug_in + timedelta(hours=1) <= instant < plug_in + timedelta(
                hours=1, minutes=10
            )
            active = charging and not paused
            if active:
                soc = min(100.0, soc + power_kw / 12 / 0.75)
            readings.append(
                {
                    "timestamp": _z(instant),
                    "isCharging": active,
                    "positiveActiveInstantaneousPower": {
                        "unit": "W",
                        "value": power_kw * 1000 if active else 0,
                    },
                    "stateOfCharge": {"unit": "%", "value": round(soc, 2)},
                    "location": {"latitude": 50.87 + vehicle / 100, "longitude": 4.70},
                }
            )
            instant += timedelta(minutes=5)
        soc = max(10.0, soc - rng.uniform(20, 40))  # the next morning's drive
    return readings


def batches(streams: list[list[dict[str, Any]]]) -> list[tuple[int, list[dict[str, Any]]]]:
    """(vehicle, batch) in an interleaved order, as a fleet's uploads arrive."""
    chunks = [
        (vehicle, stream[i : i + BATCH_READINGS])
        for vehicle, stream in enumerate(streams)
        for i in range(0, len(stream), BATCH_READINGS)
    ]
    random.Random(99).shuffle(chunks)
    return chunks


def _client(server: ServerProcess, credentials: dict[str, str]) -> httpx.Client:
    """An unopened client carrying a fresh access token (use it in a with block)."""
    token = httpx.post(
        f"{server.base_url}/v1/authentication",
        json={"clientId": credentials["clientId"], "clientSecret": credentials["clientSecret"]},
        timeout=60,
    ).json()["access_token"]
    return httpx.Client(
        base_url=server.base_url, timeout=60, headers={"Authorization": f"Bearer {token}"}
    )


def _post_batch(
    http: httpx.Client, entity_id: str, batch: list[dict[str, Any]], outcome: dict[str, Any]
) -> None:
    try:
        outcome["response"] = http.post(f"/v1/entities/{entity_id}/readings", json=batch)
    except httpx.HTTPError as error:
        outcome["error"] = error


def _setup(database_url: str, server: ServerProcess) -> tuple[dict[str, str], list[str]]:
    created = subprocess.run(
        chargeledger_command("tenant", "create", "crash", "--database-url", database_url),
        capture_output=True,
        text=True,
        check=True,
    )
    credentials = json.loads(created.stdout)
    with _client(server, credentials) as http:
        entity_ids = []
        for vehicle in range(VEHICLES):
            entity = http.post("/v1/entities", json={"type": "EV", "name": f"car {vehicle}"})
            entity_ids.append(entity.json()["id"])
            http.put(
                f"/v1/entities/{entity_ids[-1]}/tariff-calendar", json={"preset": "BE-day-night"}
            ).raise_for_status()
    return credentials, entity_ids


def _sessions(http: httpx.Client, entity_id: str) -> list[tuple[Any, ...]]:
    response = http.get(
        f"/v1/entities/{entity_id}/charge-sessions",
        params={"start": "2024-09-30T00:00:00Z", "pageSize": 1000},
    )
    response.raise_for_status()
    return [
        (
            record["data"]["start"],
            record["data"]["end"],
            record["data"]["charge"]["total"],
            record["data"]["method"],
            record["data"]["energyMethod"],
        )
        for record in response.json()["data"]
    ]


def _stored_timestamps(http: httpx.Client, entity_id: str) -> list[str]:
    timestamps: list[str] = []
    url: str | None = f"/v1/entities/{entity_id}/readings?start=2024-09-30T00:00:00Z&pageSize=1000"
    while url is not None:
        page = http.get(url)
        page.raise_for_status()
        timestamps += [reading["timestamp"] for reading in page.json()["data"]]
        url = page.json()["links"]["next"]
    return timestamps


@pytest.fixture
async def two_databases(tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    async with (
        fresh_database(tmp_path, name_hint="steady") as steady,
        fresh_database(tmp_path, name_hint="crashed") as crashed,
    ):
        yield steady, crashed


def test_killed_server_resumes_with_every_acknowledged_reading_once_and_the_same_sessions(
    two_databases: tuple[str, str], tmp_path: Path
) -> None:
    steady_url, crashed_url = two_databases
    streams = [vehicle_stream(vehicle) for vehicle in range(VEHICLES)]
    order = batches(streams)

    # The run nobody interrupts: the expected result.
    steady = ServerProcess(steady_url, log_path=tmp_path / "steady.log").start()
    try:
        credentials, entity_ids = _setup(steady_url, steady)
        with _client(steady, credentials) as http:
            for vehicle, batch in order:
                response = http.post(f"/v1/entities/{entity_ids[vehicle]}/readings", json=batch)
                assert response.status_code == 200, response.text
            expected = [_sessions(http, entity_id) for entity_id in entity_ids]
    finally:
        steady.stop()
    assert all(len(sessions) >= 4 for sessions in expected), expected

    # The run whose server is killed mid-batch, several times, then restarted each time.
    server = ServerProcess(crashed_url, log_path=tmp_path / "crashed.log").start()
    credentials, entity_ids = _setup(crashed_url, server)
    rng = random.Random(7)
    kills = 0
    acknowledged: set[tuple[int, str]] = set()
    pending = list(order)
    try:
        while pending:
            vehicle, batch = pending[0]
            kill_now = kills < 3 and rng.random() < 0.25
            outcome: dict[str, Any] = {}
            with _client(server, credentials) as http:
                sender = threading.Thread(
                    target=_post_batch, args=(http, entity_ids[vehicle], batch, outcome)
                )
                sender.start()
                if kill_now:
                    time.sleep(rng.uniform(0.0, 0.05))
                    server.kill()
                    kills += 1
                sender.join()
            answer = outcome.get("response")
            if answer is not None and answer.status_code == 200:
                acknowledged.update((vehicle, reading["timestamp"]) for reading in batch)
                pending.pop(0)
            if kill_now:
                # Restart on the same database; the unacknowledged batch is sent again.
                server = ServerProcess(crashed_url, log_path=tmp_path / "crashed.log").start()
        assert kills == 3
        with _client(server, credentials) as http:
            for vehicle, entity_id in enumerate(entity_ids):
                stored = _stored_timestamps(http, entity_id)
                assert len(stored) == len(set(stored)), "a reading was stored twice"
                assert {(vehicle, t) for t in stored} == {
                    (vehicle, r["timestamp"]) for r in streams[vehicle]
                }
                assert {(v, t) for v, t in acknowledged if v == vehicle} <= {
                    (vehicle, t) for t in stored
                }
            actual = [_sessions(http, entity_id) for entity_id in entity_ids]
    finally:
        server.stop()
    assert actual == expected
