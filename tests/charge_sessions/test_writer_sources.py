"""Every source of sessions writes through the one writer (issue 11, acceptance point 1).

One test per source, each through the product's own door (the HTTP API, the CLI, a charger
on a real WebSocket): for every session it makes or changes, GET .../versions lists each
version with its change, reason and source, the last one's record is what GET
.../charge-sessions/{id} serves, and GET /v1/events lists one charge-session.* event per
version with the same version, record and replacedBy (`assert_ledger`). Doing the same
thing again (a re-post, the same batch, the same calendar, the same location, a second
run) makes no version and no event.
"""

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ocpp.v16 import call as call16

from tests.entities.test_battery import soc_only_trace
from tests.events.support import page
from tests.ocpp.charge_points.charger import (
    EVENING,
    METER_START_WH,
    MINUTES,
    connect_client,
    connect_raw,
    energy16,
    meter_value,
    meter_value_snake,
    minutes_after,
    raw_call,
    register_charge_point,
    stamp,
    tiers,
    wait_for_sessions,
)
from tests.ocpp.charge_points.test_interoperability import charge16_with_signed_values, evening_ocmf
from tests.support.api import TenantApi, session_body
from tests.support.ocmf_signing import new_meter_key, public_key_hex
from tests.support.servers import chargeledger_command

# ---- the ledger as a client sees it ----------------------------------------------------------


def session_url(entity_id: str, session_id: str) -> str:
    return f"/v1/entities/{entity_id}/charge-sessions/{session_id}"


async def versions_of(api: TenantApi, entity_id: str, session_id: str) -> list[dict[str, Any]]:
    body = await page(api.http, f"{session_url(entity_id, session_id)}/versions", pageSize=1000)
    assert body["links"]["next"] is None
    versions: list[dict[str, Any]] = body["data"]
    return versions


async def entity_events(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    """Every event GET /v1/events lists for the entity, in commit order."""
    body = await page(api.http, entityId=entity_id, pageSize=1000)
    events: list[dict[str, Any]] = body["data"]
    while body["meta"]["hasMore"]:
        body = await page(api.http, body["links"]["next"])
        events += body["data"]
    return events


async def assert_ledger(
    api: TenantApi,
    entity_id: str,
    session_id: str,
    expected: Sequence[tuple[str, str]],  # (change, reason) of each version, oldest first
    *,
    source: str,
) -> list[dict[str, Any]]:
    """The session's versions are `expected`, written by `source`; the last one's record is
    what GET serves (404 once removed); the feed has one event per version, in version
    order, saying exactly what the version says. Returns the versions."""
    versions = await versions_of(api, entity_id, session_id)
    assert [(v["version"], v["change"], v["reason"], v["source"]) for v in versions] == [
        (number, change, reason, source) for number, (change, reason) in enumerate(expected, 1)
    ]
    for version in versions:
        assert (version["record"]["id"], version["record"]["entityId"]) == (session_id, entity_id)
        if version["change"] != "removed":
            assert version["replacedBy"] is None
    served = await api.http.get(session_url(entity_id, session_id))
    if versions[-1]["change"] == "removed":
        assert served.status_code == 404, served.text
    else:
        assert served.status_code == 200, served.text
        assert versions[-1]["record"] == served.json()
    events = [
        event
        for event in await entity_events(api, entity_id)
        if event["data"]["sessionId"] == session_id
    ]
    assert [(e["type"], e["timestamp"], e["data"]) for e in events] == [
        (
            f"charge-session.{v['change']}",
            v["recorded"],
            {
                "entityId": entity_id,
                "sessionId": session_id,
                "version": v["version"],
                "change": v["change"],
                "reason": v["reason"],
                "source": v["source"],
                "record": v["record"],
                "replacedBy": v["replacedBy"],
            },
        )
        for v in versions
    ]
    return versions


async def versions_until(
    api: TenantApi, entity_id: str, session_id: str, count: int, *, timeout_s: float = 15.0
) -> list[dict[str, Any]]:
    """The session's versions once there are `count` of them (a charger's session is made
    after its answer), or what there is when the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        versions = await versions_of(api, entity_id, session_id)
        if len(versions) >= count or time.monotonic() > deadline:
            return versions
        await asyncio.sleep(0.1)


async def listed_ids(api: TenantApi, entity_id: str) -> list[str]:
    response = await api.list_sessions(entity_id, start="2020-01-01T00:00:00Z", pageSize=1000)
    assert response.status_code == 200, response.text
    return [session["id"] for session in response.json()["data"]]


# ---- readings --------------------------------------------------------------------------------


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def power_readings(first: datetime, kw: Sequence[float]) -> list[dict[str, Any]]:
    """A charge point reporting only its power, every 5 minutes from `first`."""
    return [
        {
            "timestamp": iso(first + timedelta(minutes=5 * step)),
            "positiveActiveInstantaneousPower": {"unit": "W", "value": value * 1000},
        }
        for step, value in enumerate(kw)
    ]


async def post_readings(api: TenantApi, entity_id: str, readings: list[dict[str, Any]]) -> None:
    response = await api.http.post(f"/v1/entities/{entity_id}/readings", json=readings)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


def total_only(external_id: str, start: str, end: str, total_kwh: float) -> dict[str, Any]:
    """A posted session with its total but not t1..t4: the calendar splits it."""
    return {
        "externalId": external_id,
        "start": start,
        "end": end,
        "charge": {"total": {"total": total_kwh, "unit": "kWh"}},
    }


# ---- posted and imported ---------------------------------------------------------------------


async def test_a_posted_session_and_its_correction_are_versions_and_a_repost_is_neither(
    api: TenantApi,
) -> None:
    entity_id = (await api.create_entity("EV"))["id"]
    body = session_body("post-1", "2024-05-01T20:00:00Z", "2024-05-01T22:00:00Z")
    posted = await api.post_session(entity_id, body)
    assert posted.status_code == 201, posted.text
    corrected = await api.post_session(entity_id, {**body, "end": "2024-05-01T23:00:00Z"})
    assert corrected.status_code == 200, corrected.text
    session_id = posted.json()["id"]
    feed = await entity_events(api, entity_id)

    reposted = await api.post_session(entity_id, {**body, "end": "2024-05-01T23:00:00Z"})

    assert reposted.status_code == 200, reposted.text
    assert reposted.json() == corrected.json()
    versions = await assert_ledger(
        api,
        entity_id,
        session_id,
        [("created", "posted"), ("updated", "posted")],
        source="external",
    )
    assert [v["record"] for v in versions] == [posted.json(), corrected.json()]
    assert await entity_events(api, entity_id) == feed


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run a chargeledger command, which must succeed."""
    result = subprocess.run(
        chargeledger_command(*args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )
    assert result.returncode == 0, result.stderr
    return result


async def test_an_imported_file_writes_versions_reason_imported_and_the_same_file_again_none(
    api: TenantApi, database_url: str, tmp_path: Path
) -> None:
    """`chargeledger import`: two rows are created; a second file corrects one and repeats
    the other (one update, nothing for the repeat); that file again changes nothing."""
    entity_id = (await api.create_entity("EV"))["id"]
    first = session_body("imp-1", "2024-05-27T13:00:00Z", "2024-05-27T15:00:00Z")
    second = session_body("imp-2", "2024-05-28T13:00:00Z", "2024-05-28T14:00:00Z", total_kwh=4.0)
    corrected = {**second, "end": "2024-05-28T15:00:00Z"}
    original = tmp_path / "sessions.jsonl"
    original.write_text(f"{json.dumps(first)}\n{json.dumps(second)}\n", encoding="utf-8")
    correction = tmp_path / "correction.jsonl"
    correction.write_text(f"{json.dumps(first)}\n{json.dumps(corrected)}\n", encoding="utf-8")

    def run_import(path: Path) -> str:
        args = ("import", str(path), "--entity", entity_id, "--database-url", database_url)
        return run_cli(*args).stderr  # where import reports

    assert "2 created" in await asyncio.to_thread(run_import, original)
    assert "0 created" in await asyncio.to_thread(run_import, correction)
    feed = await entity_events(api, entity_id)
    assert "0 created" in await asyncio.to_thread(run_import, correction)

    first_id, second_id = await listed_ids(api, entity_id)
    await assert_ledger(api, entity_id, first_id, [("created", "imported")], source="external")
    versions = await assert_ledger(
        api,
        entity_id,
        second_id,
        [("created", "imported"), ("updated", "imported")],
        source="external",
    )
    assert versions[-1]["record"]["data"]["end"] == "2024-05-28T15:00:00Z"
    assert await entity_events(api, entity_id) == feed


# ---- detected from readings, and redetected ---------------------------------------------------


async def test_detected_sessions_that_late_readings_join_are_one_updated_one_removed_naming_it(
    api: TenantApi,
) -> None:
    """A charge point's power every 5 min from Tue 2024-04-23 09:00Z: 7.2 kW 09:05..10:00,
    0 at 10:05, 7.2 kW 10:10..10:30, 0 at 10:35, 7.2 kW 10:40..11:05, then 0. Without the
    readings 10:10..10:30 the pause is 35 min (over the 15-minute limit): two sessions, the
    first of about 60 min, the second of about 30. With them, arriving late, the pauses are
    5 min: one session. It keeps the id of the stored session it overlaps most (the first),
    which is updated; the second is removed, naming the first as what replaced it, and its
    versions are still listed. The late batch again changes nothing."""
    entity_id = (await api.create_entity("ChargePoint"))["id"]
    kw = [0.0] + [7.2] * 12 + [0.0] + [7.2] * 5 + [0.0] + [7.2] * 6 + [0.0] * 2
    trace = power_readings(datetime(2024, 4, 23, 9, tzinfo=UTC), kw)
    late = trace[14:19]
    await post_readings(api, entity_id, trace[:14] + trace[19:])
    first_id, second_id = await listed_ids(api, entity_id)
    first_as_served, second_as_served = [
        (await api.http.get(session_url(entity_id, session_id))).json()
        for session_id in (first_id, second_id)
    ]

    await post_readings(api, entity_id, late)

    assert await listed_ids(api, entity_id) == [first_id]
    versions = await assert_ledger(
        api,
        entity_id,
        first_id,
        [("created", "detected"), ("updated", "detected")],
        source="readings",
    )
    assert versions[0]["record"] == first_as_served
    joined = versions[1]["record"]["data"]
    assert (joined["start"], joined["end"]) == (
        first_as_served["data"]["start"],
        second_as_served["data"]["end"],
    )
    removed = await assert_ledger(
        api,
        entity_id,
        second_id,
        [("created", "detected"), ("removed", "detected")],
        source="readings",
    )
    assert removed[-1]["replacedBy"] == [first_id]
    assert removed[-1]["record"] == second_as_served  # as it was last served
    feed = await entity_events(api, entity_id)
    await post_readings(api, entity_id, late)
    assert await entity_events(api, entity_id) == feed


async def test_redetect_with_new_rules_splits_a_session_as_redetected_and_again_changes_nothing(
    api: TenantApi, database_url: str
) -> None:
    """A charge point's power every 5 min from Tue 2024-04-16 09:00Z: 7.2 kW 09:05..09:55,
    0 at 10:00 and 10:05, 7.2 kW 10:10..10:55, then 0: a 10-minute pause, one session under
    the 15-minute limit. `chargeledger redetect` run with a 5-minute limit makes two: the
    stored one becomes the first part (the larger overlap), the second is created, both as
    redetected. A second run changes nothing."""
    entity_id = (await api.create_entity("ChargePoint"))["id"]
    kw = [0.0] + [7.2] * 11 + [0.0] * 2 + [7.2] * 10 + [0.0] * 2
    await post_readings(api, entity_id, power_readings(datetime(2024, 4, 16, 9, tzinfo=UTC), kw))
    [session_id] = await listed_ids(api, entity_id)
    stricter = {"CHARGELEDGER_DETECTOR_PAUSE_LIMIT_MINUTES": "5"}

    def redetect() -> dict[str, Any]:
        result = run_cli(
            "redetect", "--entity", entity_id, "--database-url", database_url, env=stricter
        )
        summary = json.loads(result.stdout)
        return {key: summary[key] for key in ("created", "updated", "removed")}

    assert await asyncio.to_thread(redetect) == {"created": 1, "updated": 1, "removed": 0}
    feed = await entity_events(api, entity_id)
    assert await asyncio.to_thread(redetect) == {"created": 0, "updated": 0, "removed": 0}

    first_id, second_id = await listed_ids(api, entity_id)
    assert first_id == session_id
    versions = await assert_ledger(
        api,
        entity_id,
        session_id,
        [("created", "detected"), ("updated", "redetected")],
        source="readings",
    )
    assert versions[-1]["record"]["data"]["end"] == "2024-04-16T09:57:30Z"
    await assert_ledger(api, entity_id, second_id, [("created", "redetected")], source="readings")
    assert await entity_events(api, entity_id) == feed


async def test_a_battery_capacity_measures_soc_sessions_again_as_a_version(api: TenantApi) -> None:
    """A car reporting only state of charge: its session's energy is unknown until the
    capacity is set, then measured again in place (reason batteryCapacity); the same
    capacity again changes nothing."""
    entity_id = (await api.create_entity("EV"))["id"]
    await post_readings(api, entity_id, soc_only_trace(datetime(2024, 3, 5, 18, tzinfo=UTC)))
    [session_id] = await listed_ids(api, entity_id)
    url = f"/v1/entities/{entity_id}/battery-capacity"

    assert (await api.http.put(url, json={"value": 64})).status_code == 200
    feed = await entity_events(api, entity_id)
    assert (await api.http.put(url, json={"value": 64})).status_code == 200

    versions = await assert_ledger(
        api,
        entity_id,
        session_id,
        [("created", "detected"), ("updated", "batteryCapacity")],
        source="readings",
    )
    assert versions[0]["record"]["data"]["charge"]["total"]["total"] is None
    assert versions[1]["record"]["data"]["charge"]["total"]["total"] is not None
    assert await entity_events(api, entity_id) == feed


# ---- calendars and locations -------------------------------------------------------------------


async def test_a_calendar_change_resplits_posted_detected_and_ocpp_sessions(
    api: TenantApi, live_server: str
) -> None:
    """Sessions on Monday evenings across 22:00 Brussels time (20:00Z), split all t1 while
    no calendar is set: a posted total, a charge detected from a charge point's readings,
    and an OCPP transaction (its session derived again from its own meter values). With
    BE-day-night each is split again (reason resplit) into a t1 and a t2 part; the same
    calendar again changes nothing."""
    entity_id = (await api.create_entity("ChargePoint"))["id"]
    posted = await api.post_session(
        entity_id, total_only("split-1", "2024-06-10T19:30:00Z", "2024-06-10T20:30:00Z", 10.0)
    )
    assert posted.status_code == 201, posted.text
    kw = [0.0] + [7.2] * 12 + [0.0] * 2
    await post_readings(
        api, entity_id, power_readings(datetime(2024, 6, 3, 19, 25, tzinfo=UTC), kw)
    )
    detected_id, posted_id = await listed_ids(api, entity_id)
    assert posted_id == posted.json()["id"]
    setup = await register_charge_point(api, calendar=None)
    async with connect_raw(live_server, setup.path, setup.password) as connection:
        transaction_id = await start16(connection, meter_start=METER_START_WH)
        await stop16(connection, transaction_id, meter_stop=METER_START_WH + 10_000)
    [ocpp] = await wait_for_sessions(api, setup.entity_id)
    assert ocpp["data"]["charge"]["total"] == tiers(10.0, 0.0, 0.0, 0.0, 10.0)
    calendar = {"preset": "BE-day-night"}

    for entity in (entity_id, setup.entity_id):
        response = await api.http.put(f"/v1/entities/{entity}/tariff-calendar", json=calendar)
        assert response.status_code == 200, response.text
    feeds = [await entity_events(api, entity) for entity in (entity_id, setup.entity_id)]
    for entity in (entity_id, setup.entity_id):
        response = await api.http.put(f"/v1/entities/{entity}/tariff-calendar", json=calendar)
        assert response.status_code == 200, response.text

    resplit = [("created", "posted"), ("updated", "resplit")]
    [_, posted_now] = await assert_ledger(api, entity_id, posted_id, resplit, source="external")
    assert posted_now["record"]["data"]["charge"]["total"] == tiers(5.0, 5.0, 0.0, 0.0, 10.0)
    resplit = [("created", "detected"), ("updated", "resplit")]
    [_, detected_now] = await assert_ledger(api, entity_id, detected_id, resplit, source="readings")
    # 7.2 kW from about 19:27:30Z to 20:27:30Z: 3.9 kWh before 20:00Z, 3.3 after.
    assert detected_now["record"]["data"]["charge"]["total"] == tiers(3.9, 3.3, 0.0, 0.0, 7.2)
    resplit = [("created", "ocpp"), ("updated", "resplit")]
    [_, ocpp_now] = await assert_ledger(api, setup.entity_id, ocpp["id"], resplit, source="ocpp")
    assert ocpp_now["record"]["data"]["charge"]["total"] == tiers(5.0, 5.0, 0.0, 0.0, 10.0)
    assert [await entity_events(api, entity) for entity in (entity_id, setup.entity_id)] == feeds


async def test_creating_changing_and_deleting_a_location_rematches_sessions_as_versions(
    api: TenantApi,
) -> None:
    """A session posted at Home before any location exists: creating Home matches it,
    renaming Home changes its match's label, the same Home again changes nothing, deleting
    Home unmatches it; each change a version with reason rematched."""
    entity_id = (await api.create_entity("EV"))["id"]
    home = (50.87405, 4.70043)
    body = session_body("placed", "2024-05-27T13:00:00Z", "2024-05-27T14:00:00Z", position=home)
    posted = await api.post_session(entity_id, body)
    assert posted.status_code == 201, posted.text
    session_id = posted.json()["id"]
    location = {"label": "Home", "latitude": home[0], "longitude": home[1]}
    created = await api.create_location(entity_id, **location)
    location_url = f"/v1/entities/{entity_id}/locations/{created['id']}"

    renamed = await api.http.put(location_url, json={**location, "label": "Home sweet home"})
    assert renamed.status_code == 200, renamed.text
    feed = await entity_events(api, entity_id)
    again = await api.http.put(location_url, json={**location, "label": "Home sweet home"})
    assert again.status_code == 200, again.text
    assert await entity_events(api, entity_id) == feed
    assert (await api.http.delete(location_url)).status_code == 204

    versions = await assert_ledger(
        api,
        entity_id,
        session_id,
        [("created", "posted")] + [("updated", "rematched")] * 3,
        source="external",
    )
    assert [
        [match["location"]["label"] for match in version["record"]["data"]["locationMatches"]]
        for version in versions
    ] == [[], ["Home"], ["Home sweet home"], []]


# ---- OCPP -------------------------------------------------------------------------------------


async def start16(connection: Any, *, meter_start: int) -> int:
    answer = await raw_call(
        connection,
        "start",
        "StartTransaction",
        {
            "connectorId": 1,
            "idTag": "RFID-0001",
            "meterStart": meter_start,
            "timestamp": stamp(EVENING),
        },
    )
    assert answer[:2] == [3, "start"], answer
    transaction_id: int = answer[2]["transactionId"]
    return transaction_id


async def meter_value16(connection: Any, transaction_id: int, minute: int, wh: int) -> None:
    unique_id = f"mv-{minute}-{wh}"
    answer = await raw_call(
        connection,
        unique_id,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [meter_value(minutes_after(EVENING, minute), energy16(wh))],
        },
    )
    assert answer == [3, unique_id, {}], answer


async def stop16(connection: Any, transaction_id: int, *, meter_stop: int) -> None:
    answer = await raw_call(
        connection,
        "stop",
        "StopTransaction",
        {
            "transactionId": transaction_id,
            "idTag": "RFID-0001",
            "meterStop": meter_stop,
            "timestamp": stamp(minutes_after(EVENING, MINUTES)),
            "reason": "EVDisconnected",
        },
    )
    assert answer == [3, "stop", {"idTagInfo": {"status": "Accepted"}}], answer


async def test_an_ocpp_transaction_is_created_then_updated_by_meter_values_after_its_stop(
    api: TenantApi, live_server: str
) -> None:
    """The `ocpp` package's 1.6 client: start and stop, 10 kWh over Mon 2024-06-03 19:30Z to
    20:30Z spread evenly across 22:00 local (t1 = t2 = 5). A queued MeterValues after the
    stop (2 kWh by minute 30) reshapes it: t1 = 2, t2 = 8, the same session updated with
    reason ocpp. The same MeterValues again adds no sample and changes nothing."""
    setup = await register_charge_point(api)
    meter_values = call16.MeterValues(
        connector_id=1,
        transaction_id=1,
        meter_value=[
            meter_value_snake(minutes_after(EVENING, 30), energy16(METER_START_WH + 2000))
        ],
    )
    async with connect_client(live_server, setup, "1.6") as client:
        started = await client.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="RFID-0001",
                meter_start=METER_START_WH,
                timestamp=stamp(EVENING),
            ),
            suppress=False,
        )
        assert started.transaction_id == 1
        await client.call(
            call16.StopTransaction(
                meter_stop=METER_START_WH + 10_000,
                timestamp=stamp(minutes_after(EVENING, MINUTES)),
                transaction_id=1,
            ),
            suppress=False,
        )
        [session] = await wait_for_sessions(api, setup.entity_id)
        await client.call(meter_values, suppress=False)
        await versions_until(api, setup.entity_id, session["id"], 2)
        feed = await entity_events(api, setup.entity_id)
        await client.call(meter_values, suppress=False)

    versions = await assert_ledger(
        api,
        setup.entity_id,
        session["id"],
        [("created", "ocpp"), ("updated", "ocpp")],
        source="ocpp",
    )
    assert [v["record"]["data"]["charge"]["total"] for v in versions] == [
        tiers(5.0, 5.0, 0.0, 0.0, 10.0),
        tiers(2.0, 8.0, 0.0, 0.0, 10.0),
    ]
    assert await entity_events(api, setup.entity_id) == feed


async def test_a_new_meter_key_assesses_signed_values_again_as_a_version(
    api: TenantApi, live_server: str
) -> None:
    """A calibrated 1.6 charger's session has signed values but no key to check them with
    (noPublicKey). PUT ocpp-settings with the meter's key verifies them (reason evidence);
    the same settings again change nothing; another key makes them badSignature."""
    setup = await register_charge_point(api)
    meter = new_meter_key()
    await charge16_with_signed_values(
        live_server, setup, evening_ocmf(meter, "B"), evening_ocmf(meter, "E")
    )
    [session] = await wait_for_sessions(api, setup.entity_id)
    url = f"/v1/entities/{setup.entity_id}/ocpp-settings"

    assert (await api.http.put(url, json={"meterPublicKey": public_key_hex(meter)})).is_success
    feed = await entity_events(api, setup.entity_id)
    assert (await api.http.put(url, json={"meterPublicKey": public_key_hex(meter)})).is_success
    assert await entity_events(api, setup.entity_id) == feed
    other = public_key_hex(new_meter_key())
    assert (await api.http.put(url, json={"meterPublicKey": other})).is_success

    versions = await assert_ledger(
        api,
        setup.entity_id,
        session["id"],
        [("created", "ocpp"), ("updated", "evidence"), ("updated", "evidence")],
        source="ocpp",
    )
    assert [v["record"]["data"]["meterEvidence"]["status"] for v in versions] == [
        "noPublicKey",
        "verified",
        "badSignature",
    ]


async def test_a_transaction_corrected_below_50_wh_is_removed_as_below_minimum_energy(
    api: TenantApi, live_server: str
) -> None:
    """A charger whose meterStart is out of range (rejected): the energy counts from its
    first meter value. Minute 30 at R and meterStop R + 100 Wh: a 0.1 kWh session. A queued
    meter value of minute 10 arrives after the stop at R + 60 Wh (the charger's correction):
    the transaction charged 40 Wh, under 50 Wh, so the session is removed, reason
    belowMinimumEnergy, replaced by none."""
    setup = await register_charge_point(api, location=False)
    register_wh = METER_START_WH
    async with connect_raw(live_server, setup.path, setup.password) as connection:
        transaction_id = await start16(connection, meter_start=-1)
        await meter_value16(connection, transaction_id, 30, register_wh)
        await stop16(connection, transaction_id, meter_stop=register_wh + 100)
        [session] = await wait_for_sessions(api, setup.entity_id)
        assert session["data"]["charge"]["total"]["total"] == 0.1
        await meter_value16(connection, transaction_id, 10, register_wh + 60)
        await versions_until(api, setup.entity_id, session["id"], 2)

    assert await listed_ids(api, setup.entity_id) == []
    versions = await assert_ledger(
        api,
        setup.entity_id,
        session["id"],
        [("created", "ocpp"), ("removed", "belowMinimumEnergy")],
        source="ocpp",
    )
    assert versions[-1]["replacedBy"] == []
    assert versions[-1]["record"] == session
