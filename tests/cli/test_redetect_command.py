"""`chargeledger redetect`: readings-based sessions recomputed from the stored readings, run
as the real command against the live server's database.

Two tenants get the same readings; one tenant's stored sessions are then tampered with in
the database (one deleted, one's energy and record changed, bogus ones inserted), and after
`redetect` it lists exactly what the untouched tenant lists (ids, `created` and entityId
aside), with the id of each session found again kept."""

import json
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.domain.record_json import charge_record_json
from chargeledger.readings.redetection import redetect_entities
from chargeledger.settings import Settings
from chargeledger.storage.database import Database
from chargeledger.storage.tables import charge_sessions, detector_state
from tests.support.api import TenantApi
from tests.support.servers import chargeledger_command

BASE = datetime(2024, 4, 8, 0, 0, tzinfo=UTC)  # a Monday
HOME = (50.87405, 4.70043)
OFFICE = (50.84640, 4.36720)


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def trace(days: int = 3) -> list[dict[str, Any]]:
    """A car reporting every 5 minutes for `days` days: charging at home each evening
    (isCharging, power and its counter), a drive to the office and back each working day,
    and on the second evening a charge with a 10-minute pause (one session)."""
    readings = []
    counter = 18_000.0
    odometer = 40_000.0
    instant = BASE
    end = BASE + timedelta(days=days)
    while instant < end:
        hour = instant.hour + instant.minute / 60
        day = (instant - BASE).days
        at_office = 8 <= hour < 17
        driving = 7.5 <= hour < 8 or 17 <= hour < 17.5
        charging = 19 <= hour < 21.5 + day * 0.5 and not (day == 1 and 20 <= hour < 20 + 1 / 6)
        position = OFFICE if at_office else HOME
        reading: dict[str, Any] = {
            "timestamp": iso(instant),
            "isCharging": charging,
            "isPluggedIn": 18.5 <= hour < 23,
            "positiveActiveEnergy": {"total": round(counter, 4), "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"unit": "W", "value": 7400 if charging else 0},
            "odometer": {"unit": "km", "value": round(odometer, 1)},
            "speed": {"unit": "km/h", "value": 90 if driving else 0},
        }
        if not driving:
            reading["location"] = {
                "latitude": position[0],
                "longitude": position[1],
                "accuracy": 10,
            }
        readings.append(reading)
        if charging:
            counter += 7.4 * 5 / 60
        if driving:
            odometer += 7.5
        instant += timedelta(minutes=5)
    return readings


async def post_trace(api: TenantApi, readings: list[dict[str, Any]]) -> str:
    entity = await api.create_entity("EV")
    for first in range(0, len(readings), 250):  # in batches, as a car's cloud uploads them
        response = await api.http.post(
            f"/v1/entities/{entity['id']}/readings", json=readings[first : first + 250]
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == []
    entity_id: str = entity["id"]
    return entity_id


async def listed(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    response = await api.list_sessions(entity_id, start="2019-01-01T00:00:00Z", pageSize=1000)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def comparable(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record.get("data", record) for record in records]


def redetect(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        chargeledger_command("redetect", *args, "--database-url", database_url),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def summary_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout  # one JSON document, nothing else
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


async def stored_rows(database: Database, entity_id: str) -> list[tuple[Any, ...]]:
    """Every column of the entity's sessions and of its detector state."""
    async with database.read() as connection:
        sessions = (
            await connection.execute(
                sa.select(charge_sessions)
                .where(charge_sessions.c.entity_id == uuid.UUID(entity_id))
                .order_by(charge_sessions.c.id)
            )
        ).all()
        state = (
            await connection.execute(
                sa.select(detector_state).where(detector_state.c.entity_id == uuid.UUID(entity_id))
            )
        ).all()
    return [tuple(row) for row in [*sessions, *state]]


async def tamper(database: Database, entity_id: str) -> dict[str, Any]:
    """Delete the first detected session, change the second's energy and record, insert two
    bogus ones (one amid the readings, one years before them). Returns what was done."""
    entity = uuid.UUID(entity_id)
    async with database.write() as connection:
        rows = (
            await connection.execute(
                sa.select(charge_sessions)
                .where(
                    charge_sessions.c.entity_id == entity, charge_sessions.c.source == "readings"
                )
                .order_by(charge_sessions.c.start_ms)
            )
        ).all()
        assert len(rows) >= 2, rows
        deleted, changed = rows[0], rows[1]
        await connection.execute(
            sa.delete(charge_sessions).where(
                charge_sessions.c.entity_id == entity, charge_sessions.c.id == deleted.id
            )
        )
        await connection.execute(
            sa.update(charge_sessions)
            .where(charge_sessions.c.entity_id == entity, charge_sessions.c.id == changed.id)
            .values(energy_kwh=999.0, record_json='{"tampered": true}', updated_ms=1)
        )
        bogus_ids = []
        for start in (BASE + timedelta(days=1, hours=3), datetime(2020, 1, 1, tzinfo=UTC)):
            values: dict[str, Any] = {
                **{column.name: None for column in charge_sessions.columns},
                "entity_id": entity,
                "id": uuid.uuid4(),
                "start_ms": ms(start),
                "end_ms": ms(start + timedelta(hours=1)),
                "created_ms": 1,
                "updated_ms": 1,
                "energy_kwh": 5.0,
                "location_matches_json": "[]",
                "source": "readings",
                "method": "isCharging",
                "energy_method": "counter",
                "tiers_given": False,
                "version": 1,
            }
            values["record_json"] = charge_record_json(values)
            await connection.execute(sa.insert(charge_sessions).values(**values))
            bogus_ids.append(str(values["id"]))
    return {"deleted": str(deleted.id), "changed": str(changed.id), "bogus": bogus_ids}


async def test_redetect_mends_tampered_sessions_keeping_ids_and_changes_nothing_twice(
    api: TenantApi, other_api: TenantApi, database: Database, database_url: str
) -> None:
    readings = trace()
    entity_id = await post_trace(api, readings)
    fresh_entity_id = await post_trace(other_api, readings)
    fresh = await listed(other_api, fresh_entity_id)
    assert len(fresh) >= 3
    assert comparable(await listed(api, entity_id)) == comparable(fresh)
    tampered = await tamper(database, entity_id)
    before = await listed(api, entity_id)
    assert comparable(before) != comparable(fresh)

    result = redetect(database_url, "--entity", entity_id)

    summary = summary_of(result)
    assert summary == {
        "entities": 1,
        "redetected": 1,
        "skipped": 0,
        "failed": [],
        "sessionsBefore": len(fresh) + 1,  # one deleted, two bogus
        "sessionsAfter": len(fresh),
        "created": 1,  # the deleted one, found again
        "updated": 1,  # the changed one
        "removed": 2,  # the bogus ones
    }
    # The progress, and a line per entity done.
    assert f"entity {entity_id}: {len(fresh) + 1} -> {len(fresh)} sessions" in result.stderr
    after = await listed(api, entity_id)
    assert comparable(after) == comparable(fresh)
    ids = [record["id"] for record in after]
    assert tampered["changed"] in ids  # found again: same id
    assert tampered["deleted"] not in ids
    assert not set(tampered["bogus"]) & set(ids)
    for record in after:
        assert record["entityId"] == entity_id

    # A second run changes nothing: no row, not even its updated_ms.
    rows = await stored_rows(database, entity_id)
    again = summary_of(redetect(database_url, "--entity", entity_id))
    assert (again["created"], again["updated"], again["removed"]) == (0, 0, 0)
    assert again["sessionsBefore"] == again["sessionsAfter"] == len(fresh)
    assert await stored_rows(database, entity_id) == rows
    assert await listed(api, entity_id) == after


async def test_redetect_of_a_tenant_leaves_other_tenants_alone(
    api: TenantApi, other_api: TenantApi, database: Database, database_url: str
) -> None:
    readings = trace(days=2)
    mine = [await post_trace(api, readings), await post_trace(api, readings)]
    theirs = await post_trace(other_api, readings)
    fresh = comparable(await listed(other_api, theirs))
    for entity_id in [*mine, theirs]:
        await tamper(database, entity_id)
    untouched = await stored_rows(database, theirs)
    await api.create_entity("ChargePoint")  # no readings: nothing to do
    await api.create_entity("Battery")  # makes no sessions: not considered

    summary = summary_of(redetect(database_url, "--tenant", str(api.tenant_id)))

    assert summary["entities"] == 3
    assert summary["redetected"] == 3
    assert summary["failed"] == []
    for entity_id in mine:
        assert comparable(await listed(api, entity_id)) == fresh
    assert await stored_rows(database, theirs) == untouched


async def test_entities_that_detect_no_sessions_are_skipped(
    api: TenantApi, database_url: str
) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features",
        json={"feature": "CaptureChargeSessions", "enabled": False},
    )
    assert response.status_code == 200, response.text

    summary = summary_of(redetect(database_url, "--entity", entity["id"]))

    assert (summary["entities"], summary["redetected"], summary["skipped"]) == (1, 0, 1)


def test_an_unknown_entity_or_tenant_is_an_error(database_url: str) -> None:
    unknown = str(uuid.uuid4())
    for args in (("--entity", unknown), ("--tenant", unknown)):
        result = redetect(database_url, *args)
        assert result.returncode == 1
        assert f"error: {'entity' if args[0] == '--entity' else 'tenant'} {unknown}" in (
            result.stderr
        )
        assert result.stdout == ""


async def test_an_entity_of_another_tenant_is_not_found(
    api: TenantApi, other_api: TenantApi, database_url: str
) -> None:
    entity = await other_api.create_entity("EV")
    result = redetect(database_url, "--tenant", str(api.tenant_id), "--entity", entity["id"])
    assert result.returncode == 1
    assert "does not exist" in result.stderr


async def test_small_windows_give_the_same_sessions_and_a_failing_entity_is_reported(
    api: TenantApi, other_api: TenantApi, database: Database
) -> None:
    """The walk in windows (here of 7 hours over four days of readings reported around the
    clock, so cut where no silence is, some cuts falling in an evening's charge) finds what
    one pass over everything finds; an entity that fails is reported and the ones after it
    are done."""
    readings = trace(days=4)
    entity_id = await post_trace(api, readings)
    fresh = comparable(await listed(other_api, await post_trace(other_api, readings)))
    await tamper(database, entity_id)
    missing = uuid.uuid4()  # fails: no such entity

    outcomes = await redetect_entities(
        database,
        entity_ids=[missing, uuid.UUID(entity_id)],
        config=Settings().detector_config,
        clock_ms=system_clock_ms,
        window_ms=7 * 3_600_000,
    )

    assert [outcome.status for outcome in outcomes] == ["failed", "redetected"]
    assert str(missing) in str(outcomes[0].error)
    assert outcomes[1].windows > 1
    assert comparable(await listed(api, entity_id)) == fresh
    rows = await stored_rows(database, entity_id)
    outcomes = await redetect_entities(
        database,
        entity_ids=[uuid.UUID(entity_id)],
        config=Settings().detector_config,
        clock_ms=system_clock_ms,
        window_ms=7 * 3_600_000,
    )
    assert (outcomes[0].created, outcomes[0].updated, outcomes[0].removed) == (0, 0, 0)
    assert await stored_rows(database, entity_id) == rows
