"""Charge sessions detected from readings, end to end over HTTP: realistic traces (a reading
every 5 or 15 minutes) are posted to POST /v1/entities/{id}/readings and the sessions are
read back from GET /v1/entities/{id}/charge-sessions, with start, end, energy, t1..t4,
method and location checked by hand.

Times: Europe/Brussels is UTC+1 (CET) in winter and UTC+2 (CEST) in summer; in 2024 the
clocks went forward on Sun 31 March at 01:00Z and back on Sun 27 October at 01:00Z.
BE-day-night meters t1 on working days 07:00-22:00 local, t2 at every other time, all
weekend and on Belgian public holidays. The detector's defaults: gap limit 60 min, pause
limit 15 min."""

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.api import TenantApi

HOME_POSITION = (50.87405, 4.70043)
OFFICE_POSITION = (50.84640, 4.36720)
HOME: dict[str, Any] = {
    "label": "Home",
    "address": "Naamsestraat 40, 3000 Leuven",
    "latitude": HOME_POSITION[0],
    "longitude": HOME_POSITION[1],
    "radius": 60,
}
OFFICE: dict[str, Any] = {
    "label": "Office",
    "address": "Wetstraat 16, 1000 Brussel",
    "latitude": OFFICE_POSITION[0],
    "longitude": OFFICE_POSITION[1],
    "radius": 80,
}
# Custom calendar for the nights the clocks change: t3 01:00-04:00 and t4 04:00-06:00 local,
# every day; t1 at all other times.
DST_CALENDAR = {
    "timeZone": "Europe/Brussels",
    "defaultRegister": "t1",
    "rules": [
        {
            "register": "t3",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "from": "01:00",
            "to": "04:00",
        },
        {
            "register": "t4",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
            "from": "04:00",
            "to": "06:00",
        },
    ],
}


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def kwh(t1: float, t2: float, t3: float, t4: float, total: float) -> dict[str, Any]:
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "total": total, "unit": "kWh"}


async def post_readings(api: TenantApi, entity_id: str, readings: list[Any]) -> dict[str, Any]:
    response = await api.http.post(f"/v1/entities/{entity_id}/readings", json=readings)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["rejected"] == [], result
    return result


async def sessions(
    api: TenantApi, entity_id: str, start: datetime, end: datetime | None = None
) -> list[dict[str, Any]]:
    params = {"start": iso(start), "pageSize": 1000}
    if end is not None:
        params["end"] = iso(end)
    response = await api.list_sessions(entity_id, **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert page["links"] == {"next": None}
    data: list[dict[str, Any]] = page["data"]
    return data


async def put_calendar(api: TenantApi, entity_id: str, body: dict[str, Any]) -> None:
    response = await api.http.put(f"/v1/entities/{entity_id}/tariff-calendar", json=body)
    assert response.status_code == 200, response.text


async def create_location(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.http.post(f"/v1/entities/{entity_id}/locations", json=body)
    assert response.status_code == 201, response.text
    location: dict[str, Any] = response.json()
    return location


def constant_charge(
    start: datetime, end: datetime, kwh_per_step: float, *, step_min: int = 15
) -> list[dict[str, Any]]:
    """A car plugged in at home reporting isCharging, power and its energy counter every
    `step_min` minutes from 30 min before `start` to 30 min after `end`; it charges at a
    constant power from `start` until `end`, adding `kwh_per_step` per step."""
    readings = []
    counter = 4321.0
    power_w = kwh_per_step * 60 / step_min * 1000
    instant = start - timedelta(minutes=30)
    while instant <= end + timedelta(minutes=30):
        charging = start <= instant < end
        readings.append(
            {
                "timestamp": iso(instant),
                "isCharging": charging,
                "isPluggedIn": True,
                "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
                "positiveActiveInstantaneousPower": {
                    "unit": "W",
                    "value": power_w if charging else 0,
                },
            }
        )
        if charging:
            counter += kwh_per_step
        instant += timedelta(minutes=step_min)
    return readings


# ---- an overnight charge at home across the day/night boundary ----------------------------


def overnight_at_home(evening: datetime) -> list[dict[str, Any]]:
    """A reading every 15 min from `evening` 17:45Z (19:45 CEST, the car arrives home) to
    05:00Z next morning. Plugged in at 18:00Z, charging from 18:30Z (20:30 local): at 2 kW
    (0.5 kWh and 0.78125 % per step of a 64 kWh battery) until 20:00Z (22:00 local, the
    night tariff), then at 4 kW (1 kWh, 1.5625 % per step) until it stops at 04:00Z (06:00
    local). Range is 4 km per % of charge. The position jitters by a few metres around a
    point near Home, reported with 12 m accuracy."""
    readings = []
    counter = 12345.0
    soc = 30.0
    for step in range(46):  # 17:45Z .. 05:00Z
        instant = evening + timedelta(minutes=15 * step)
        charging = (
            evening + timedelta(minutes=45) <= instant < evening + timedelta(hours=10, minutes=15)
        )
        phase = (step - 3) % 4  # step 3 = 18:30Z, the session's first reading
        latitude = {0: 50.87407, 1: 50.87410, 2: 50.87407, 3: 50.87401}[phase]
        longitude = {0: 4.70046, 1: 4.70049, 2: 4.70046, 3: 4.70041}[phase]
        power_kw = 0.0
        if charging:
            power_kw = 2.0 if instant < evening + timedelta(hours=2, minutes=15) else 4.0
        readings.append(
            {
                "timestamp": iso(instant),
                "stateOfCharge": {"unit": "%", "value": soc},
                "range": {"unit": "km", "value": soc * 4},
                "isCharging": charging,
                "isPluggedIn": step > 0,
                "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
                "positiveActiveInstantaneousPower": {"unit": "kW", "value": power_kw},
                "location": {"latitude": latitude, "longitude": longitude, "accuracy": 12},
                "odometer": {"unit": "km", "value": 48210.0},
            }
        )
        counter += power_kw / 4  # kWh in the next 15 min
        soc += power_kw / 4 / 64 * 100
    return readings


async def test_overnight_at_home_across_the_belgian_day_night_boundary(api: TenantApi) -> None:
    """Mon 2024-06-10 20:30 local to Tue 06:00 local (18:30Z..04:00Z), BE-day-night, Home.
    - The session holds the edge intervals 18:15Z->18:30Z (not charging -> charging) and
      03:45Z->04:00Z (charging -> not charging). Energy by counter. Start: the counter did not
      rise across 18:15->18:30, 0 kWh / 2 kW (power at the charging side, 18:30) = 0 min
      before 18:30Z -> 18:30:00Z. End: it rose 1 kWh across 03:45->04:00, 1 kWh / 4 kW (power
      at 03:45) = 15 min after 03:45Z -> 04:00:00Z;
    - t1 (day, until 22:00 local = 20:00Z): 6 steps x 0.5 kWh = 3.0 kWh (the 18:15->18:30
      edge adds 0);
    - t2 (night): 32 steps (20:00Z..04:00Z) x 1 kWh = 32.0 kWh; total 35.0 kWh;
    - averagePower 35.0 kWh / 9.5 h = 3.68421 -> 3.684 kW;
    - energyUncertainty: the counter's resolution. Its values 12345.0, 12345.5, ... 12380.0
      are not all whole kWh but all tenths: 0.1 kWh;
    - SoC 30 % -> 30 + 6 x 0.78125 + 32 x 1.5625 = 84.6875 %; range x 4 km: 120 -> 338.75 km
      (the 18:15Z reading, now the session's first, still has 30 % and 120 km);
    - location: the median of the 40 session readings' positions (18:15Z..04:00Z).
      Latitudes: 20 x 50.87407, 10 x 50.87410, 10 x 50.87401 (18:15Z is in the 50.87401
      phase) -> the 20th and 21st of 40 sorted are both 50.87407; longitudes likewise
      4.70046. About 3 m from Home's centre with 12 m accuracy and a 60 m radius: accuracy
      1.0, and Home's address."""
    entity = await api.create_entity("EV", name="Company car 12", identifier="VIN-OVERNIGHT-1")
    home = await create_location(api, entity["id"], HOME)
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    result = await post_readings(api, entity["id"], overnight_at_home(utc(2024, 6, 10, 17, 45)))

    assert result == {"stored": 46, "duplicates": 0, "rejected": []}
    [session] = await sessions(api, entity["id"], utc(2024, 6, 10))
    assert session == {
        "data": {
            "charge": {
                "averagePower": {"unit": "kW", "value": 3.684},
                "end": {"unit": "%", "value": 84.6875},
                "start": {"unit": "%", "value": 30.0},
                "total": kwh(3.0, 32.0, 0.0, 0.0, 35.0),
            },
            "end": "2024-06-11T04:00:00Z",
            "location": {
                "address": "Naamsestraat 40, 3000 Leuven",
                "latitude": 50.87407,
                "longitude": 4.70046,
            },
            "locationMatches": [{"accuracy": 1.0, "location": {"id": home["id"], "label": "Home"}}],
            "range": {
                "start": {"unit": "km", "value": 120.0},
                "end": {"unit": "km", "value": 338.75},
            },
            "start": "2024-06-10T18:30:00Z",
            "method": "isCharging",
            "energyMethod": "counter",
            "energyUncertainty": {"unit": "kWh", "value": 0.1},
            "idTag": None,
            "meterEvidence": None,
        },
        "entityId": entity["id"],
        "id": session["id"],
        "created": session["created"],
    }
    single = await api.http.get(f"/v1/entities/{entity['id']}/charge-sessions/{session['id']}")
    assert single.json() == session


async def test_a_detected_session_follows_later_location_and_calendar_changes(
    api: TenantApi,
) -> None:
    """The overnight trace of Mon 2024-07-01 with no location and no calendar: 35.0 kWh all
    t1, no match. Adding Home matches the stored session (same id) and gives it Home's
    address; giving Home its own all-t4 calendar moves the 35.0 kWh to t4."""
    entity = await api.create_entity("EV")
    await post_readings(api, entity["id"], overnight_at_home(utc(2024, 7, 1, 17, 45)))
    [before] = await sessions(api, entity["id"], utc(2024, 7, 1))
    assert before["data"]["locationMatches"] == []
    assert before["data"]["location"]["address"] is None
    assert before["data"]["charge"]["total"] == kwh(35.0, 0.0, 0.0, 0.0, 35.0)

    home = await create_location(api, entity["id"], HOME)

    [matched] = await sessions(api, entity["id"], utc(2024, 7, 1))
    assert matched["id"] == before["id"]
    assert matched["data"]["locationMatches"] == [
        {"accuracy": 1.0, "location": {"id": home["id"], "label": "Home"}}
    ]
    assert matched["data"]["location"]["address"] == HOME["address"]

    calendar = await api.http.put(
        f"/v1/entities/{entity['id']}/locations/{home['id']}/tariff-calendar",
        json={"timeZone": "Europe/Brussels", "rules": [], "defaultRegister": "t4"},
    )
    assert calendar.status_code == 200, calendar.text

    [split] = await sessions(api, entity["id"], utc(2024, 7, 1))
    assert split["id"] == before["id"]
    assert split["data"]["charge"]["total"] == kwh(0.0, 0.0, 0.0, 35.0, 35.0)


# ---- the nights the clocks change -------------------------------------------------------------


async def test_spring_forward_night_is_split_on_the_23_hour_day(api: TenantApi) -> None:
    """Sat 30 -> Sun 31 March 2024, 22:00Z..03:00Z at 4 kW (1 kWh per 15 min), 20 kWh, with
    t3 01:00-04:00 and t4 04:00-06:00 local. Local times: 22:00Z = 23:00 CET, 00:00Z =
    01:00 CET, 01:00Z = 03:00 CEST (02:00-03:00 never happens), 02:00Z = 04:00 CEST,
    03:00Z = 05:00 CEST. So t1 22:00Z..00:00Z = 8 kWh, t3 00:00Z..02:00Z (three wall-clock
    hours, two real ones) = 8 kWh, t4 02:00Z..03:00Z = 4 kWh."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], DST_CALENDAR)

    await post_readings(
        api, entity["id"], constant_charge(utc(2024, 3, 30, 22), utc(2024, 3, 31, 3), 1.0)
    )

    [session] = await sessions(api, entity["id"], utc(2024, 3, 30))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-03-30T22:00:00Z",
        "2024-03-31T03:00:00Z",
    )
    assert session["data"]["charge"]["total"] == kwh(8.0, 0.0, 8.0, 4.0, 20.0)
    # 20 kWh / 5 h (real hours, not the 6 wall-clock hours 23:00..05:00) = 4 kW
    assert session["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 4.0}


async def test_fall_back_night_is_split_on_the_25_hour_day(api: TenantApi) -> None:
    """Sat 26 -> Sun 27 October 2024, 22:00Z..04:00Z at 4 kW, 24 kWh, same calendar. Local:
    22:00Z = 00:00 CEST, 23:00Z = 01:00 CEST, 01:00Z = 02:00 CET (02:00-03:00 happens twice),
    03:00Z = 04:00 CET, 04:00Z = 05:00 CET. So t1 22:00Z..23:00Z = 4 kWh, t3 23:00Z..03:00Z
    (three wall-clock hours, four real ones) = 16 kWh, t4 03:00Z..04:00Z = 4 kWh."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], DST_CALENDAR)

    await post_readings(
        api, entity["id"], constant_charge(utc(2024, 10, 26, 22), utc(2024, 10, 27, 4), 1.0)
    )

    [session] = await sessions(api, entity["id"], utc(2024, 10, 26))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-10-26T22:00:00Z",
        "2024-10-27T04:00:00Z",
    )
    assert session["data"]["charge"]["total"] == kwh(4.0, 0.0, 16.0, 4.0, 24.0)


async def test_sunday_to_monday_after_the_october_change_with_the_belgian_preset(
    api: TenantApi,
) -> None:
    """Sun 27 Oct 2024 19:00Z (20:00 CET, hours after the clocks went back) to Mon 28 Oct
    07:00Z (08:00 CET) at 2 kW (0.5 kWh per 15 min): 12 h, 24 kWh. Sunday is night tariff;
    Monday's day tariff starts at 07:00 CET = 06:00Z (not 05:00Z as in summer). So t2
    19:00Z..06:00Z = 44 steps = 22.0 kWh and t1 06:00Z..07:00Z = 4 steps = 2.0 kWh."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    await post_readings(
        api, entity["id"], constant_charge(utc(2024, 10, 27, 19), utc(2024, 10, 28, 7), 0.5)
    )

    [session] = await sessions(api, entity["id"], utc(2024, 10, 27))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-10-27T19:00:00Z",
        "2024-10-28T07:00:00Z",
    )
    assert session["data"]["charge"]["total"] == kwh(2.0, 22.0, 0.0, 0.0, 24.0)
    assert session["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 2.0}


async def test_sunday_to_easter_monday_after_the_march_change_is_all_night(
    api: TenantApi,
) -> None:
    """Sun 31 Mar 2024 19:00Z (21:00 CEST, the day the clocks went forward) to Mon 1 April
    07:00Z (09:00 CEST) at 2 kW: 24 kWh. 1 April 2024 is Easter Monday, a Belgian public
    holiday, so the whole night and morning is t2 (on an ordinary Monday 05:00Z..07:00Z,
    07:00..09:00 CEST, would have been 4.0 kWh of t1)."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    await post_readings(
        api, entity["id"], constant_charge(utc(2024, 3, 31, 19), utc(2024, 4, 1, 7), 0.5)
    )

    [session] = await sessions(api, entity["id"], utc(2024, 3, 31))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-03-31T19:00:00Z",
        "2024-04-01T07:00:00Z",
    )
    assert session["data"]["charge"]["total"] == kwh(0.0, 24.0, 0.0, 0.0, 24.0)


async def test_an_ordinary_monday_after_the_march_change_starts_day_at_05z(
    api: TenantApi,
) -> None:
    """The next week, Sun 7 -> Mon 8 April 2024 (CEST), same trace: Monday's day tariff
    starts at 07:00 CEST = 05:00Z: t1 05:00Z..07:00Z = 8 steps x 0.5 = 4.0 kWh, t2 20.0."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    await post_readings(
        api, entity["id"], constant_charge(utc(2024, 4, 7, 19), utc(2024, 4, 8, 7), 0.5)
    )

    [session] = await sessions(api, entity["id"], utc(2024, 4, 7))
    assert session["data"]["charge"]["total"] == kwh(4.0, 20.0, 0.0, 0.0, 24.0)


# ---- order, repetition and lateness of the readings -----------------------------------------


def comparable(session: dict[str, Any]) -> dict[str, Any]:
    """What two entities' sessions share: everything but ids, entity and creation time."""
    data: dict[str, Any] = session["data"]
    return data


async def test_a_backlog_uploaded_out_of_order_gives_the_same_session(api: TenantApi) -> None:
    """The overnight trace of Mon 2024-06-17 posted to one car in order, and to another
    after the session, shuffled, in 3 batches, the latest batch first: both cars end up
    with the same single session (same start, end, energy, split, SoC, range, position),
    the by-hand values of the overnight test (3.0 t1 + 32.0 t2)."""
    in_order = await api.create_entity("EV", name="in order")
    backlog = await api.create_entity("EV", name="backlog")
    for entity in (in_order, backlog):
        await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    readings = overnight_at_home(utc(2024, 6, 17, 17, 45))

    await post_readings(api, in_order["id"], readings)
    shuffled = random.Random(20240617)
    batches = [readings[:15], readings[15:30], readings[30:]]
    results = []
    ids_seen = []
    for batch in reversed(batches):
        batch = list(batch)
        shuffled.shuffle(batch)
        results.append(await post_readings(api, backlog["id"], batch))
        ids_seen.append([s["id"] for s in await sessions(api, backlog["id"], utc(2024, 6, 17))])

    assert [result["stored"] for result in results] == [16, 15, 15]
    # The latest batch alone already shows a session (01:15Z..04:00Z); the earlier batches
    # extend it backwards, and it keeps its id throughout.
    assert len(ids_seen[0]) == 1
    assert ids_seen == [ids_seen[0]] * 3
    [expected] = await sessions(api, in_order["id"], utc(2024, 6, 17))
    [session] = await sessions(api, backlog["id"], utc(2024, 6, 17))
    assert comparable(session) == comparable(expected)
    assert session["data"]["start"] == "2024-06-17T18:30:00Z"
    assert session["data"]["end"] == "2024-06-18T04:00:00Z"
    assert session["data"]["charge"]["total"] == kwh(3.0, 32.0, 0.0, 0.0, 35.0)
    assert session["data"]["location"] == {
        "address": None,
        "latitude": 50.87407,
        "longitude": 4.70046,
    }
    readings_back = await api.http.get(
        f"/v1/entities/{backlog['id']}/readings",
        params={"start": "2024-06-17T00:00:00Z", "pageSize": 1000},
    )
    assert [r["timestamp"] for r in readings_back.json()["data"]] == [
        r["timestamp"] for r in readings
    ]


async def test_a_duplicate_batch_leaves_the_same_single_session(api: TenantApi) -> None:
    """The same batch posted twice: the second time everything is a duplicate and the one
    session is unchanged (same id, created and values). A third batch overlapping the first
    (its last 10 readings again plus 4 new idle ones) changes nothing either."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    readings = overnight_at_home(utc(2024, 6, 24, 17, 45))

    first = await post_readings(api, entity["id"], readings)
    [session] = await sessions(api, entity["id"], utc(2024, 6, 24))
    again = await post_readings(api, entity["id"], readings)
    after_repeat = await sessions(api, entity["id"], utc(2024, 6, 24))
    tail = readings[-10:] + [
        {**readings[-1], "timestamp": iso(utc(2024, 6, 25, 5, 15 * k))} for k in range(1, 4)
    ]
    tail.append({**readings[-1], "timestamp": iso(utc(2024, 6, 25, 6, 0))})
    overlap = await post_readings(api, entity["id"], tail)

    assert first == {"stored": 46, "duplicates": 0, "rejected": []}
    assert again == {"stored": 0, "duplicates": 46, "rejected": []}
    assert overlap == {"stored": 4, "duplicates": 10, "rejected": []}
    assert after_repeat == [session]
    assert await sessions(api, entity["id"], utc(2024, 6, 24)) == [session]
    assert session["data"]["charge"]["total"] == kwh(3.0, 32.0, 0.0, 0.0, 35.0)


async def test_a_gap_inside_a_charge_does_not_split_it_and_late_data_filling_it_keeps_it(
    api: TenantApi,
) -> None:
    """Fri 2024-06-14, a reading every 5 min, charging 00:00Z..04:00Z at 6 kW (0.5 kWh per
    step), counter from 4321.0. The readings 01:05Z..02:25Z arrive late. Until then there is
    a 90-minute hole (longer than the 60-minute gap limit) between two readings that both say
    charging: that interval has charging evidence, so the hole does not split the charge and
    its energy is the counter's rise across it (4327.0 -> 4336.0 = 9.0 kWh, 18 steps).
    Before and after the late readings it is one session:
    - start: the edge 23:55Z->00:00Z (not charging -> charging) has no counter rise,
      0 kWh / 6 kW = 0 min before 00:00Z -> 00:00:00Z;
    - end: the edge 03:55Z->04:00Z rose 0.5 kWh, 0.5 kWh / 6 kW (power at 03:55) = 5 min
      after 03:55Z -> 04:00:00Z;
    - 4321.0 -> 4345.0 = 48 steps x 0.5 kWh = 24.0 kWh, no calendar: all t1;
      24.0 kWh / 4 h = 6.0 kW; energyUncertainty: counter in tenths -> 0.1 kWh.
    Filling the hole leaves that session (same id and created) as it was."""
    entity = await api.create_entity("EV")
    trace = constant_charge(utc(2024, 6, 14, 0), utc(2024, 6, 14, 4), 0.5, step_min=5)
    hole = {iso(utc(2024, 6, 14, 1, 5) + timedelta(minutes=5 * k)) for k in range(17)}
    assert min(hole) == "2024-06-14T01:05:00Z"
    assert max(hole) == "2024-06-14T02:25:00Z"
    on_time = [r for r in trace if r["timestamp"] not in hole]
    late = [r for r in trace if r["timestamp"] in hole]

    def summary(session: dict[str, Any]) -> tuple[Any, ...]:
        data = session["data"]
        return (
            data["start"],
            data["end"],
            data["charge"]["total"],
            data["charge"]["averagePower"],
            data["energyUncertainty"],
        )

    expected = (
        "2024-06-14T00:00:00Z",
        "2024-06-14T04:00:00Z",
        kwh(24.0, 0.0, 0.0, 0.0, 24.0),
        {"unit": "kW", "value": 6.0},
        {"unit": "kWh", "value": 0.1},
    )

    await post_readings(api, entity["id"], on_time)
    [before] = await sessions(api, entity["id"], utc(2024, 6, 13))
    assert summary(before) == expected

    result = await post_readings(api, entity["id"], late)

    assert result == {"stored": 17, "duplicates": 0, "rejected": []}
    [filled] = await sessions(api, entity["id"], utc(2024, 6, 13))
    assert (filled["id"], filled["created"]) == (before["id"], before["created"])
    assert summary(filled) == expected


# ---- state of charge only -------------------------------------------------------------------


async def test_a_session_from_state_of_charge_and_battery_capacity(api: TenantApi) -> None:
    """A car that reports only state of charge, range and position (no isCharging, power or
    counter), every 5 min, on Wed 2024-06-12 at the office (BE-day-night, 11:00 local is day
    tariff), battery 58 kWh. It drives in, parks (SoC 45 %), charges +1 % per 5 min from
    09:00Z to 11:30Z (45 -> 75 %), stands, then drives off. The session: method and
    energyMethod stateOfCharge, (75 - 45) % x 58 kWh = 17.4 kWh; 11:00..13:30 local on a
    Wednesday is day tariff: all t1. Its edge intervals are 09:00->09:05Z (45 -> 46 %) and
    11:25->11:30Z (74 -> 75 %), 1 % x 58 kWh = 0.58 kWh each, at the session's average rate
    17.4 kWh / 2.5 h (09:00..11:30, its 30 intervals) = 6.96 kW: 0.58 / 6.96 h = 5 min, the
    whole interval, so start 09:00:00Z and end 11:30:00Z; averagePower 17.4 / 2.5 h =
    6.96 kW. energyUncertainty: one step of the reported state of charge x capacity; the
    stream reports half points while driving (47, 46.5, ...), so its step is 0.5 %:
    0.5 % x 58 kWh = 0.29 kWh. Range 4 km per %: 180 -> 300 km, matched to the office."""
    entity = await api.create_entity("EV")
    office = await create_location(api, entity["id"], OFFICE)
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    capacity = await api.http.put(
        f"/v1/entities/{entity['id']}/battery-capacity", json={"value": 58}
    )
    assert capacity.status_code == 200, capacity.text
    readings = []
    # Driving in: 08:30Z..08:45Z, 0.01 deg of longitude (~700 m) per 5 min, SoC dropping.
    for k in range(4):
        soc = 47.0 - 0.5 * k
        readings.append(
            {
                "timestamp": iso(utc(2024, 6, 12, 8, 30 + 5 * k)),
                "stateOfCharge": {"unit": "%", "value": soc},
                "range": {"unit": "km", "value": soc * 4},
                "location": {"latitude": 50.84640, "longitude": 4.33720 + 0.01 * k},
            }
        )
    # Parked at the office 08:50Z..12:00Z; charging 09:00Z..11:30Z.
    for k in range(39):
        instant = utc(2024, 6, 12, 8, 50) + timedelta(minutes=5 * k)
        soc = 45.0 + min(max(0, k - 2), 30)
        readings.append(
            {
                "timestamp": iso(instant),
                "stateOfCharge": {"unit": "%", "value": soc},
                "range": {"unit": "km", "value": soc * 4},
                "location": {"latitude": 50.84641, "longitude": 4.36722, "accuracy": 8},
            }
        )
    # Driving off.
    for k in range(1, 4):
        readings.append(
            {
                "timestamp": iso(utc(2024, 6, 12, 12, 5 * k)),
                "stateOfCharge": {"unit": "%", "value": 75.0 - 0.5 * k},
                "range": {"unit": "km", "value": (75.0 - 0.5 * k) * 4},
                "location": {"latitude": 50.84641 + 0.01 * k, "longitude": 4.36722},
            }
        )

    await post_readings(api, entity["id"], readings)

    [session] = await sessions(api, entity["id"], utc(2024, 6, 12))
    assert session["data"] == {
        "charge": {
            "averagePower": {"unit": "kW", "value": 6.96},
            "end": {"unit": "%", "value": 75.0},
            "start": {"unit": "%", "value": 45.0},
            "total": kwh(17.4, 0.0, 0.0, 0.0, 17.4),
        },
        "end": "2024-06-12T11:30:00Z",
        "location": {
            "address": "Wetstraat 16, 1000 Brussel",
            "latitude": 50.84641,
            "longitude": 4.36722,
        },
        "locationMatches": [{"accuracy": 1.0, "location": {"id": office["id"], "label": "Office"}}],
        "range": {
            "start": {"unit": "km", "value": 180.0},
            "end": {"unit": "km", "value": 300.0},
        },
        "start": "2024-06-12T09:00:00Z",
        "method": "stateOfCharge",
        "energyMethod": "stateOfCharge",
        "energyUncertainty": {"unit": "kWh", "value": 0.29},
        "idTag": None,
        "meterEvidence": None,
    }


# ---- pauses and drives ----------------------------------------------------------------------


def charge_with_pause(
    day: datetime, pause_min: int, *, is_charging: bool = True
) -> list[dict[str, Any]]:
    """Every 5 min from `day` 09:00Z: idle at 09:00, charging at 7.2 kW from 09:05 to 10:00,
    a pause of `pause_min` minutes (power 0), charging again for 50 min, then idle twice.
    With is_charging False only the power is reported (a charge point)."""
    steps = ["idle"] + ["on"] * 11 + ["off"] * (pause_min // 5) + ["on"] * 10 + ["idle"] * 2
    readings = []
    for k, state in enumerate(steps):
        reading: dict[str, Any] = {
            "timestamp": iso(day + timedelta(hours=9, minutes=5 * k)),
            "positiveActiveInstantaneousPower": {
                "unit": "W",
                "value": 7200 if state == "on" else 0,
            },
        }
        if is_charging:
            reading["isCharging"] = state == "on"
            reading["isPluggedIn"] = True
        readings.append(reading)
    return readings


async def test_a_10_minute_pause_is_one_session(api: TenantApi) -> None:
    """Tue 2024-04-16, isCharging and power every 5 min: 0 kW at 09:00, 7.2 kW 09:05..09:55,
    0 at 10:00 and 10:05, 7.2 kW 10:10..10:55, 0 at 11:00 and 11:05. Energy from power by
    trapezoids over 5-minute steps (7.2 kW x 5 min = 0.6 kWh), the edge intervals included:
    - first part: 09:00->09:05 (0 -> 7.2) = 0.3, 09:05->09:55 10 steps = 6.0,
      09:55->10:00 (7.2 -> 0) = 0.3: 6.6 kWh; start 09:05 - 0.3 kWh / 7.2 kW (2.5 min) =
      09:02:30Z, end 09:55 + 2.5 min = 09:57:30Z;
    - 10:00->10:05 (0 -> 0) = 0;
    - second part: 10:05->10:10 = 0.3, 10:10->10:55 9 steps = 5.4, 10:55->11:00 = 0.3:
      6.0 kWh; start 10:10 - 2.5 min = 10:07:30Z, end 10:55 + 2.5 min = 10:57:30Z.
    The pause 09:57:30..10:07:30 = 10 min is under the 15-minute pause limit (and the
    60-minute limit for a car plugged in throughout): one session 09:02:30Z..10:57:30Z of
    12.6 kWh, no calendar: all t1; 12.6 kWh / 115 min = 6.57391 -> 6.574 kW.
    energyUncertainty, per interval max(trapezoid - low, high - trapezoid): 0 for the
    intervals at a steady 7.2 kW and for 10:00->10:05; for each of the four edge intervals
    (0 <-> 7.2 kW, not charging at one end, so low is 0) max(0.3 - 0, 0.6 - 0.3) = 0.3:
    4 x 0.3 = 1.2 kWh."""
    entity = await api.create_entity("EV")

    await post_readings(api, entity["id"], charge_with_pause(utc(2024, 4, 16), 10))

    [session] = await sessions(api, entity["id"], utc(2024, 4, 16))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-04-16T09:02:30Z",
        "2024-04-16T10:57:30Z",
    )
    assert (session["data"]["method"], session["data"]["energyMethod"]) == ("isCharging", "power")
    assert session["data"]["charge"]["total"] == kwh(12.6, 0.0, 0.0, 0.0, 12.6)
    assert session["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 6.574}
    assert session["data"]["energyUncertainty"] == {"unit": "kWh", "value": 1.2}


async def test_a_20_minute_pause_at_a_charge_point_is_two_sessions(api: TenantApi) -> None:
    """A charge point reporting only power (no plug state), Tue 2024-04-23, every 5 min:
    0 kW at 09:00, 7.2 kW 09:05..09:55, 0 at 10:00..10:15, 7.2 kW 10:20..11:05, 0 from
    11:10. Trapezoids over 5-minute steps, edge intervals included (7.2 kW x 5 min = 0.6):
    - 09:00->09:05 (0 -> 7.2) = 0.3, 10 steps to 09:55 = 6.0, 09:55->10:00 = 0.3: 6.6 kWh;
      start 09:05 - 0.3 kWh / 7.2 kW (2.5 min) = 09:02:30Z, end 09:55 + 2.5 min =
      09:57:30Z; 6.6 kWh / 55 min = 7.2 kW;
    - 10:15->10:20 = 0.3, 9 steps 10:20..11:05 = 5.4, 11:05->11:10 = 0.3: 6.0 kWh; start
      10:20 - 2.5 min = 10:17:30Z, end 11:05 + 2.5 min = 11:07:30Z; 6.0 kWh / 50 min =
      7.2 kW.
    The pause 09:57:30..10:17:30 = 20 min is over the 15-minute pause limit: two
    power-detected sessions, no calendar: all t1. energyUncertainty of each: its two edge
    intervals (0 <-> 7.2 kW) at max(0.3 - 0, 0.6 - 0.3) = 0.3 each, steady ones 0: 0.6 kWh."""
    entity = await api.create_entity("ChargePoint")

    await post_readings(
        api, entity["id"], charge_with_pause(utc(2024, 4, 23), 20, is_charging=False)
    )

    found = await sessions(api, entity["id"], utc(2024, 4, 23))
    assert [
        (
            s["data"]["start"],
            s["data"]["end"],
            s["data"]["method"],
            s["data"]["energyMethod"],
            s["data"]["charge"]["total"],
            s["data"]["charge"]["averagePower"]["value"],
            s["data"]["energyUncertainty"],
        )
        for s in found
    ] == [
        (
            "2024-04-23T09:02:30Z",
            "2024-04-23T09:57:30Z",
            "power",
            "power",
            kwh(6.6, 0.0, 0.0, 0.0, 6.6),
            7.2,
            {"unit": "kWh", "value": 0.6},
        ),
        (
            "2024-04-23T10:17:30Z",
            "2024-04-23T11:07:30Z",
            "power",
            "power",
            kwh(6.0, 0.0, 0.0, 0.0, 6.0),
            7.2,
            {"unit": "kWh", "value": 0.6},
        ),
    ]


def commute(day: datetime) -> list[dict[str, Any]]:
    """Thu 2024-06-13, every 5 min from 05:50Z: at Home, charging 06:00..07:00Z at 6 kW
    (0.5 kWh per step); unplugged and driving 07:05..09:05Z towards the office (2 hours,
    position and odometer moving), parked at the office, charging 09:15..10:15Z at 9 kW
    (0.75 kWh per step), idle until 10:30Z."""
    readings: list[dict[str, Any]] = []
    counter = 7000.0
    odometer = 30500.0
    instant = day + timedelta(hours=5, minutes=50)
    while instant <= day + timedelta(hours=10, minutes=30):
        minute = (instant - day) // timedelta(minutes=1)
        at_home = minute <= 7 * 60 + 5
        at_office = minute >= 9 * 60 + 5
        if at_home:
            position = HOME_POSITION
            charging = 6 * 60 <= minute < 7 * 60
            step_kwh = 0.5
        elif at_office:
            position = OFFICE_POSITION
            charging = 9 * 60 + 15 <= minute < 10 * 60 + 15
            step_kwh = 0.75
        else:
            share = (minute - (7 * 60 + 5)) / 120
            position = (
                HOME_POSITION[0] + (OFFICE_POSITION[0] - HOME_POSITION[0]) * share,
                HOME_POSITION[1] + (OFFICE_POSITION[1] - HOME_POSITION[1]) * share,
            )
            charging = False
            step_kwh = 0.0
            odometer += 1.25
        readings.append(
            {
                "timestamp": iso(instant),
                "isCharging": charging,
                "isPluggedIn": charging or minute in (5 * 60 + 55, 7 * 60, 9 * 60 + 10),
                "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
                "location": {"latitude": position[0], "longitude": position[1], "accuracy": 10},
                "odometer": {"unit": "km", "value": odometer},
            }
        )
        if charging:
            counter += step_kwh
        instant += timedelta(minutes=5)
    return readings


async def test_a_2_hour_drive_between_charges_is_two_sessions(api: TenantApi) -> None:
    """Charging at Home 06:00..07:00Z (12 x 0.5 = 6.0 kWh, 6 kW), a 2-hour drive, charging at
    the office 09:15..10:15Z (12 x 0.75 = 9.0 kWh, 9 kW): two sessions, each matched to its
    own location, all t1 (BE-day-night: 08:00..09:00 and 11:15..12:15 local on a Thursday)."""
    entity = await api.create_entity("EV")
    home = await create_location(api, entity["id"], HOME)
    office = await create_location(api, entity["id"], OFFICE)
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    await post_readings(api, entity["id"], commute(utc(2024, 6, 13)))

    found = await sessions(api, entity["id"], utc(2024, 6, 13))
    assert [
        (
            s["data"]["start"],
            s["data"]["end"],
            s["data"]["charge"]["total"],
            s["data"]["charge"]["averagePower"]["value"],
            [m["location"]["id"] for m in s["data"]["locationMatches"]],
            s["data"]["location"]["address"],
        )
        for s in found
    ] == [
        (
            "2024-06-13T06:00:00Z",
            "2024-06-13T07:00:00Z",
            kwh(6.0, 0.0, 0.0, 0.0, 6.0),
            6.0,
            [home["id"]],
            HOME["address"],
        ),
        (
            "2024-06-13T09:15:00Z",
            "2024-06-13T10:15:00Z",
            kwh(9.0, 0.0, 0.0, 0.0, 9.0),
            9.0,
            [office["id"]],
            OFFICE["address"],
        ),
    ]
    assert {(s["data"]["method"], s["data"]["energyMethod"]) for s in found} == {
        ("isCharging", "counter")
    }


async def test_sessions_under_50_wh_are_noise_and_50_wh_is_not(api: TenantApi) -> None:
    """Sessions under 0.05 kWh are not listed; one of exactly 0.05 kWh is not under it and
    is listed, whatever the counter's reading (a real car's counter is in the thousands of
    kWh: 12345.0 -> 12345.05 is 50 Wh just as 20.0 -> 20.05 is). 0.04 kWh is noise."""
    cases = [
        (20.0, 20.05, [0.05]),
        (1000.0, 1000.05, [0.05]),
        (12345.0, 12345.05, [0.05]),
        (12345.0, 12345.04, []),
        (12345.0, 12345.06, [0.06]),
    ]
    found = []
    for index, (before, after, _) in enumerate(cases):
        entity = await api.create_entity("EV")
        day = utc(2024, 1, 8 + index, 10)
        await post_readings(
            api,
            entity["id"],
            [
                {
                    "timestamp": iso(day),
                    "isCharging": True,
                    "positiveActiveEnergy": {"total": before, "unit": "kWh"},
                },
                {
                    "timestamp": iso(day + timedelta(minutes=5)),
                    "isCharging": False,
                    "positiveActiveEnergy": {"total": after, "unit": "kWh"},
                },
            ],
        )
        listed = await sessions(api, entity["id"], day)
        found.append((before, after, [s["data"]["charge"]["total"]["total"] for s in listed]))

    assert found == cases


# ---- when a session is listed ---------------------------------------------------------------


async def test_a_session_is_listed_as_soon_as_the_reading_that_ends_it_arrives(
    api: TenantApi,
) -> None:
    """Live readings (timestamps of the last hour). While the newest reading still says
    charging, the list is empty; the POST of the reading that says it stopped returns only
    after the session is stored, so the very next GET lists it: from the first charging
    reading (now - 45 min) to the stopping one (now - 5 min), 8 steps x 0.5 kWh = 4.0 kWh,
    4.0 kWh / 40 min = 6.0 kW."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    def live(minutes_ago: int, charging: bool, counter: float) -> dict[str, Any]:
        return {
            "timestamp": iso(now - timedelta(minutes=minutes_ago)),
            "isCharging": charging,
            "isPluggedIn": True,
            "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
            "positiveActiveInstantaneousPower": {"unit": "kW", "value": 6.0 if charging else 0},
        }

    frame_start = now - timedelta(hours=2)
    await post_readings(
        api,
        entity["id"],
        [live(50, False, 900.0)] + [live(45 - 5 * k, True, 900.0 + 0.5 * k) for k in range(5)],
    )
    assert await sessions(api, entity["id"], frame_start) == []
    await post_readings(
        api, entity["id"], [live(20 - 5 * k, True, 902.5 + 0.5 * k) for k in range(3)]
    )
    assert await sessions(api, entity["id"], frame_start) == []

    await post_readings(api, entity["id"], [live(5, False, 904.0)])

    [session] = await sessions(api, entity["id"], frame_start)
    assert session["data"]["start"] == iso(now - timedelta(minutes=45))
    assert session["data"]["end"] == iso(now - timedelta(minutes=5))
    assert session["data"]["charge"]["total"] == kwh(4.0, 0.0, 0.0, 0.0, 4.0)
    assert session["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 6.0}


async def test_a_charge_resumed_within_the_pause_limit_extends_the_listed_session(
    api: TenantApi,
) -> None:
    """Live readings (isCharging and counter, no power). Not charging at now - 45 min,
    charging from now - 40 min, stopped at now - 20 min: the session is listed. Its start:
    the edge -45 -> -40 shows no counter rise, 0 kWh at the rate of the next interval
    (0.5 kWh / 5 min = 6 kW) -> now - 40 min; its end: the edge -25 -> -20 rose 0.5 kWh, at
    the rate of the interval before it (6 kW) that is 5 min -> now - 20 min; counter
    300.0 -> 302.0 = 2.0 kWh.
    Charging resumes at now - 10 min (a 10-minute pause, under the 15-minute limit) and
    stops at now - 4 min: it is one session, and it is the session the client already saw
    (same id and created), corrected, not a new one. The edge -20 -> -10 shows no counter
    rise: charging resumed at now - 10 min. The last edge -7 -> -4 rose 0.2 kWh, at the rate
    of the interval before it (0.3 kWh / 3 min = 6 kW) that is 2 min -> it ends at
    now - 5 min. 300.0 -> 302.5 = 2.5 kWh, no calendar: all t1, over 35 min:
    2.5 / (35 / 60) = 4.28571 -> 4.286 kW; energyUncertainty: the counter in tenths,
    0.1 kWh."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(second=0, microsecond=0)

    def live(minutes_ago: int, charging: bool, counter: float) -> dict[str, Any]:
        return {
            "timestamp": iso(now - timedelta(minutes=minutes_ago)),
            "isCharging": charging,
            "isPluggedIn": True,
            "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
        }

    frame_start = now - timedelta(hours=2)
    await post_readings(
        api,
        entity["id"],
        [live(45, False, 300.0)]
        + [live(40 - 5 * k, True, 300.0 + 0.5 * k) for k in range(4)]
        + [live(20, False, 302.0)],
    )
    [first] = await sessions(api, entity["id"], frame_start)
    assert (first["data"]["start"], first["data"]["end"]) == (
        iso(now - timedelta(minutes=40)),
        iso(now - timedelta(minutes=20)),
    )
    assert first["data"]["charge"]["total"]["total"] == 2.0
    assert first["data"]["energyUncertainty"] == {"unit": "kWh", "value": 0.1}

    await post_readings(api, entity["id"], [live(10, True, 302.0)])
    await post_readings(api, entity["id"], [live(7, True, 302.3)])
    await post_readings(api, entity["id"], [live(4, False, 302.5)])

    [final] = await sessions(api, entity["id"], frame_start)
    assert (final["data"]["start"], final["data"]["end"]) == (
        iso(now - timedelta(minutes=40)),
        iso(now - timedelta(minutes=5)),
    )
    # counter 300.0 -> 302.5
    assert final["data"]["charge"]["total"] == kwh(2.5, 0.0, 0.0, 0.0, 2.5)
    assert final["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 4.286}
    assert final["data"]["energyUncertainty"] == {"unit": "kWh", "value": 0.1}
    assert (final["id"], final["created"]) == (first["id"], first["created"])


async def test_concurrent_batches_of_one_car_give_the_same_session(api: TenantApi) -> None:
    """The overnight trace of Mon 2024-07-08 posted as 6 batches at the same time (their
    order of arrival is up to the server): every reading stored once and the single session
    of the by-hand overnight values."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    readings = overnight_at_home(utc(2024, 7, 8, 17, 45))
    batches = [readings[k::6] for k in range(6)]

    results = await asyncio.gather(*(post_readings(api, entity["id"], b) for b in batches))

    assert sum(result["stored"] for result in results) == 46
    [session] = await sessions(api, entity["id"], utc(2024, 7, 8))
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-07-08T18:30:00Z",
        "2024-07-09T04:00:00Z",
    )
    assert session["data"]["charge"]["total"] == kwh(3.0, 32.0, 0.0, 0.0, 35.0)


# ---- entities that do not get sessions ------------------------------------------------------


async def test_with_capture_disabled_readings_are_stored_but_no_session(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    switched = await api.http.patch(
        f"/v1/entities/{entity['id']}/features",
        json={"feature": "CaptureChargeSessions", "enabled": False},
    )
    assert switched.status_code == 200, switched.text
    trace = constant_charge(utc(2024, 5, 6, 20), utc(2024, 5, 6, 23), 1.0)

    result = await post_readings(api, entity["id"], trace)

    assert result == {"stored": len(trace), "duplicates": 0, "rejected": []}
    listed = await api.http.get(
        f"/v1/entities/{entity['id']}/readings",
        params={"start": "2024-05-06T00:00:00Z", "pageSize": 1000},
    )
    assert len(listed.json()["data"]) == len(trace)
    assert await sessions(api, entity["id"], utc(2024, 5, 6)) == []


async def test_a_heat_pumps_readings_are_stored_and_it_has_no_sessions(api: TenantApi) -> None:
    entity = await api.create_entity("HeatPump")
    trace = constant_charge(utc(2024, 5, 7, 20), utc(2024, 5, 7, 23), 1.0)

    result = await post_readings(api, entity["id"], trace)

    assert result == {"stored": len(trace), "duplicates": 0, "rejected": []}
    last = await api.http.get(f"/v1/entities/{entity['id']}/readings/last")
    assert last.json()["data"]["timestamp"] == "2024-05-07T23:30:00Z"
    # Charge sessions exist only for EV and ChargePoint: the list is a 404 for a heat pump.
    listed = await api.list_sessions(entity["id"], start="2024-05-07T00:00:00Z")
    assert listed.status_code == 404, listed.text
    assert listed.json()["type"] == "urn:chargeledger:problem:not-found"
