"""Bounded work for any HTTP input (issue 10, findings 1, 4 and 8): every quantity a client
sends is held to its physical range (a 400 naming the field and the range, or the reading
rejected by its index), numbers and booleans are JSON's own, text is valid Unicode, and a
value stored before these rules cannot make later readings fail."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.charge_sessions.service import record_content
from chargeledger.domain.charge_record import ChargeRecord, TieredEnergyKwh
from chargeledger.domain.record_json import charge_record_json
from chargeledger.domain.session_columns import derive_session
from chargeledger.domain.tariffs import CalendarBook
from chargeledger.readings import repository as readings_repository
from chargeledger.storage.database import Database
from chargeledger.storage.tables import charge_sessions
from tests.support.api import TenantApi, session_body
from tests.support.problems import assert_problem, error_detail

START, END = "2024-05-27T20:00:00Z", "2024-05-28T07:00:00Z"


def at(base: datetime, minutes: float) -> str:
    return (base + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def post_raw(api: TenantApi, method: str, path: str, body: bytes) -> httpx.Response:
    """A body as bytes, for what json= cannot send (a lone surrogate escape)."""
    return await api.http.request(
        method, path, content=body, headers={"Content-Type": "application/json"}
    )


async def ev_with_belgian_calendar(api: TenantApi) -> str:
    entity = await api.create_entity("EV")
    response = await api.http.put(
        f"/v1/entities/{entity['id']}/tariff-calendar", json={"preset": "BE-day-night"}
    )
    assert response.status_code in (200, 201), response.text
    return str(entity["id"])


def total_only(external_id: str, total: float, unit: str = "kWh") -> dict[str, Any]:
    """A session giving only its total: the server splits it with the calendar."""
    return {
        "externalId": external_id,
        "start": START,
        "end": END,
        "charge": {"total": {"total": total, "unit": unit}},
    }


# ---- finding 1: the session total that hung a worker -------------------------------------------


async def test_a_session_total_of_1e27_kwh_is_a_400_and_the_server_keeps_answering(
    api: TenantApi,
) -> None:
    """1e27 kWh over a night that runs into the day tariff spun the t1..t4 rounding for
    1e14 rounds; /healthz stopped answering. Now: 400 naming the field and its range."""
    entity_id = await ev_with_belgian_calendar(api)

    body = assert_problem(
        await api.post_session(entity_id, total_only("huge", 1e27)),
        400,
        names=["charge.total.total"],
    )

    assert "between 0 and 10,000 kWh" in error_detail(body, "charge.total.total")
    assert (await api.http.get("/healthz")).status_code == 200
    fine = await api.post_session(entity_id, total_only("fine", 44.25))
    assert fine.status_code == 201, fine.text
    assert fine.json()["data"]["charge"]["total"]["total"] == 44.25


@pytest.mark.parametrize("total", [10_000.001, 1e305, 1e306, 1e307, 1.7e308, -1.0])
@pytest.mark.parametrize("tiers_given", [False, True])
async def test_a_total_outside_the_range_is_a_400_never_a_500(
    api: TenantApi, total: float, tiers_given: bool
) -> None:
    """1e305 to 1e307 kWh answered 500 (OverflowError in the split)."""
    entity_id = await ev_with_belgian_calendar(api)
    body = total_only("big", total)
    if tiers_given:
        body["charge"]["total"].update(t1=total, t2=0, t3=0, t4=0)

    problem = assert_problem(await api.post_session(entity_id, body), 400)

    assert "charge.total.total" in problem["detail"]
    assert "between 0 and 10,000 kWh" in problem["detail"]


async def test_a_total_that_overflows_when_converted_from_mwh_is_a_400(api: TenantApi) -> None:
    entity_id = await ev_with_belgian_calendar(api)
    response = await api.post_session(entity_id, total_only("mwh", 1e306, unit="MWh"))
    assert_problem(response, 400, names=["charge.total.total"])
    just_within = await api.post_session(entity_id, total_only("mwh-ok", 10, unit="MWh"))
    assert just_within.status_code == 201, just_within.text


@pytest.mark.parametrize(
    ("change", "name", "words"),
    [
        ({"charge": {"start": {"unit": "%", "value": 100.5}}}, "charge.start", "0 and 100 %"),
        ({"charge": {"end": {"unit": "%", "value": -1}}}, "charge.end", "0 and 100 %"),
        ({"range": {"start": {"unit": "km", "value": 10_001}}}, "range.start", "10,000 km"),
        ({"range": {"end": {"unit": "mi", "value": 1e308}}}, "range.end", "10,000 km"),
        ({"location": {"latitude": 90.5, "longitude": 4.7}}, "location.latitude", "-90 and 90"),
        ({"location": {"latitude": 50, "longitude": -181}}, "location.longitude", "-180 and 180"),
        (
            {"location": {"latitude": 50, "longitude": 4.7, "accuracy": 1e6}},
            "location.accuracy",
            "0 and 100,000 m",
        ),
        ({"start": "1999-12-31T23:00:00Z"}, "start", "2000-01-01T00:00:00Z"),
    ],
)
async def test_a_session_field_outside_its_range_is_a_400_naming_field_and_range(
    api: TenantApi, change: dict[str, Any], name: str, words: str
) -> None:
    entity = await api.create_entity("EV")
    body = session_body("ranged", START, END)
    for key, value in change.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value

    problem = assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert words in error_detail(problem, name)


# ---- readings ---------------------------------------------------------------------------------


# Readings of a few hours ago: recent enough to be real, old enough never to be "future".
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=6)


def reading(minutes: float, **fields: Any) -> dict[str, Any]:
    return {"timestamp": at(BASE, minutes), **fields}


READING_CASES = [
    (
        {"positiveActiveInstantaneousPower": {"unit": "W", "value": 1.7e308}},
        "positiveActiveInstantaneousPower.value",
        "between -4,000 and 4,000 kW",
    ),
    (
        {"positiveActiveInstantaneousPower": {"unit": "MW", "value": 5}},
        "positiveActiveInstantaneousPower.value",
        "between -4,000 and 4,000 kW",
    ),
    (
        {"positiveActiveEnergy": {"total": 2e12, "unit": "Wh"}},
        "positiveActiveEnergy.total",
        "between 0 and 1,000,000,000 kWh",
    ),
    (
        {"positiveActiveEnergy": {"t1": -1, "t2": 5, "unit": "kWh"}},
        "positiveActiveEnergy.t1",
        "between 0 and 1,000,000,000 kWh",
    ),
    ({"stateOfCharge": {"unit": "%", "value": 100.01}}, "stateOfCharge.value", "0 and 100 %"),
    ({"range": {"unit": "km", "value": 1e9}}, "range.value", "between 0 and 10,000 km"),
    ({"odometer": {"unit": "mi", "value": 1e7}}, "odometer.value", "0 and 10,000,000 km"),
    ({"speed": {"unit": "m/s", "value": 300}}, "speed.value", "between 0 and 500 km/h"),
    (
        {"location": {"latitude": 50.0, "longitude": 4.7, "accuracy": -1}},
        "location.accuracy",
        "between 0 and 100,000 m",
    ),
    ({"location": {"latitude": -90.01, "longitude": 4.7}}, "location.latitude", "-90 and 90"),
]


@pytest.mark.parametrize(("fields", "name", "words"), READING_CASES)
@pytest.mark.parametrize("path", ["fast", "slow"])
async def test_a_reading_outside_a_range_is_rejected_by_index_and_the_others_stored(
    api: TenantApi, fields: dict[str, Any], name: str, words: str, path: str
) -> None:
    """Through either parser (the msgspec fast path takes batches of exactly the documented
    shape; a field we keep but do not interpret sends the batch down the pydantic path)."""
    entity = await api.create_entity("EV")
    extra = {"voltage": 230} if path == "slow" else {}
    batch = [reading(0, **extra), reading(5, **fields, **extra), reading(10, **extra)]

    response = await api.http.post(f"/v1/entities/{entity['id']}/readings", json=batch)

    assert response.status_code == 200, response.text
    result = response.json()
    assert result["stored"] == 2
    [rejected] = result["rejected"]
    assert rejected["index"] == 1
    details = {error["name"]: error["detail"] for error in rejected["errors"]}
    assert name in details, rejected
    assert words in details[name]


async def test_a_reading_before_2000_is_rejected_naming_its_timestamp(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    batch = [reading(0), {"timestamp": "1970-01-01T00:00:00Z", "isCharging": True}]
    response = await api.http.post(f"/v1/entities/{entity['id']}/readings", json=batch)
    assert response.status_code == 200, response.text
    [rejected] = response.json()["rejected"]
    assert rejected["errors"] == [
        {"name": "timestamp", "detail": "must not be before 2000-01-01T00:00:00Z"}
    ]


async def test_readings_around_an_out_of_range_value_stored_before_are_accepted(
    api: TenantApi, database: Database
) -> None:
    """Finding 4: a reading of 1.7e308 W was stored, and afterwards every normal reading in
    its window answered 500, retries included. Such a row (put straight into the store, as
    the old code did) is now ignored by the detector: the readings around it are stored and
    their session is what they say."""
    entity = await api.create_entity("EV")
    entity_id = uuid.UUID(entity["id"])
    async with database.write() as connection:
        await readings_repository.insert_new(
            connection,
            [
                {
                    "entity_id": entity_id,
                    "timestamp_ms": int((BASE + timedelta(minutes=15)).timestamp() * 1000),
                    "received_ms": system_clock_ms(),
                    "is_charging": True,
                    "power_kw": 1.7e305,  # 1.7e308 W
                }
            ],
        )
    charging = [
        reading(
            minutes,
            isCharging=True,
            positiveActiveInstantaneousPower={"unit": "W", "value": 11_000},
        )
        for minutes in (5, 10, 20, 25, 30)
    ]
    batch = [reading(0, isCharging=False), *charging, reading(35, isCharging=False)]

    for _attempt in range(2):  # a retry is answered the same way: the first stored them
        response = await api.http.post(f"/v1/entities/{entity['id']}/readings", json=batch)
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == []

    listed = await api.list_sessions(entity["id"], start=at(BASE, -60), end=at(BASE, 120))
    assert listed.status_code == 200, listed.text
    [session] = listed.json()["data"]
    total = session["data"]["charge"]["total"]["total"]
    assert 0 < total < 11.0 * 35 / 60  # at most 11 kW for the 35 minutes


async def test_a_new_calendar_keeps_a_session_stored_before_the_ranges_as_it_was(
    api: TenantApi, database: Database
) -> None:
    """A session of 1e20 kWh could be stored on an entity without a calendar (one register,
    nothing to hand out). Putting a calendar then re-splits the entity's sessions: that one
    cannot be split and keeps its registers, and the calendar is put all the same."""
    entity = await api.create_entity("EV")
    record = ChargeRecord(
        start_ms=1_716_840_000_000,  # 2024-05-27T20:00:00Z
        end_ms=1_716_879_600_000,  # 2024-05-28T07:00:00Z
        energy=TieredEnergyKwh(t1=1e20, t2=0.0, t3=0.0, t4=0.0, total=1e20),
        tiers_given=False,
    )
    now_ms = system_clock_ms()
    # Written as an earlier release stored it, straight into the table: the writer of this
    # release refuses such a total.
    values = {
        **derive_session(
            # Its registers as stored then: not given, not split (one register).
            replace(record_content(record), tiers=record.energy),
            geofences=[],
            book=CalendarBook(entity_versions=[]),
        ).columns,
        "entity_id": uuid.UUID(entity["id"]),
        "id": uuid.uuid4(),
        "external_id": "stored-before",
        "created_ms": now_ms,
        "updated_ms": now_ms,
    }
    values["record_json"] = charge_record_json(values)
    async with database.write() as connection:
        await connection.execute(sa.insert(charge_sessions).values(**values))

    response = await api.http.put(
        f"/v1/entities/{entity['id']}/tariff-calendar", json={"preset": "BE-day-night"}
    )

    assert response.status_code in (200, 201), response.text
    listed = await api.list_sessions(entity["id"], start="2024-05-27T00:00:00Z")
    [session] = listed.json()["data"]
    assert session["data"]["charge"]["total"]["t1"] == 1e20


# ---- finding 8: strict JSON types --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "name"),
    [
        ({"label": "Home", "latitude": False, "longitude": 4.7}, "latitude"),
        ({"label": "Home", "latitude": True, "longitude": 4.7}, "latitude"),
        ({"label": "Home", "latitude": "50.8", "longitude": 4.7}, "latitude"),
        ({"label": "Home", "latitude": 50.8, "longitude": 4.7, "radius": True}, "radius"),
        ({"label": "Home", "latitude": 50.8, "longitude": 4.7, "radius": 0.5}, "radius"),
    ],
)
async def test_a_location_takes_only_json_numbers_in_range(
    api: TenantApi, body: dict[str, Any], name: str
) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.post(f"/v1/entities/{entity['id']}/locations", json=body)
    assert_problem(response, 400, names=[name])


async def test_false_is_not_a_session_latitude_of_zero(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    body = session_body("lat-false", START, END)
    body["location"] = {"latitude": False, "longitude": 0}
    assert_problem(await api.post_session(entity["id"], body), 400, names=["location.latitude"])


@pytest.mark.parametrize("value", [0, 1, "true", "false"])
async def test_a_feature_is_enabled_only_by_a_json_boolean(api: TenantApi, value: object) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.patch(
        f"/v1/entities/{entity['id']}/features",
        json={"feature": "CaptureChargeSessions", "enabled": value},
    )
    assert_problem(response, 400, names=["enabled"])
    features = await api.http.get(f"/v1/entities/{entity['id']}/features")
    assert features.json() == [{"feature": "CaptureChargeSessions", "enabled": True}]


@pytest.mark.parametrize("value", [True, "64", 0.05, 2001])
async def test_a_battery_capacity_is_a_json_number_in_range(api: TenantApi, value: object) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.put(
        f"/v1/entities/{entity['id']}/battery-capacity", json={"value": value}
    )
    assert_problem(response, 400, names=["value"])


@pytest.mark.parametrize("setting", ["toleratesZonelessTimestamps", "toleratesNumbersAsStrings"])
async def test_ocpp_settings_take_only_json_booleans(api: TenantApi, setting: str) -> None:
    entity = await api.create_entity("ChargePoint", identifier=f"STRICT-{uuid.uuid4().hex[:8]}")
    response = await api.http.put(f"/v1/entities/{entity['id']}/ocpp-settings", json={setting: 0})
    assert_problem(response, 400, names=[setting])


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"stateOfCharge": {"unit": "%", "value": False}}, "stateOfCharge.value"),
        ({"stateOfCharge": {"unit": "%", "value": "50"}}, "stateOfCharge.value"),
        ({"isCharging": 0}, "isCharging"),
        ({"isPluggedIn": "true"}, "isPluggedIn"),
        ({"location": {"latitude": False, "longitude": 4.7}}, "location.latitude"),
    ],
)
async def test_a_reading_takes_only_json_numbers_and_booleans(
    api: TenantApi, fields: dict[str, Any], name: str
) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.post(
        f"/v1/entities/{entity['id']}/readings", json=[reading(0), reading(5, **fields)]
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["stored"] == 1
    [rejected] = result["rejected"]
    assert rejected["index"] == 1
    assert name in [error["name"] for error in rejected["errors"]], rejected


# ---- finding 8: lone surrogates ---------------------------------------------------------------


async def test_a_lone_surrogate_in_valid_from_is_a_400_naming_it(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await post_raw(
        api,
        "PUT",
        f"/v1/entities/{entity['id']}/tariff-calendar",
        b'{"preset": "BE-day-night", "validFrom": "\\ud800"}',
    )
    body = assert_problem(response, 400, names=["validFrom"])
    assert "Unicode" in error_detail(body, "validFrom")


@pytest.mark.parametrize("field", ["start", "end"])
async def test_a_lone_surrogate_in_a_sessions_start_or_end_is_a_400_naming_it(
    api: TenantApi, field: str
) -> None:
    entity = await api.create_entity("EV")
    times = {"start": f'"{START}"', "end": f'"{END}"'}
    times[field] = '"2024-05-27T20:00:00\\udc00Z"'
    raw = f'{{"externalId": "s", "start": {times["start"]}, "end": {times["end"]}}}'
    response = await post_raw(
        api, "POST", f"/v1/entities/{entity['id']}/charge-sessions", raw.encode()
    )
    assert_problem(response, 400, names=[field])


@pytest.mark.parametrize(
    ("path", "body", "name"),
    [
        ("/v1/entities", b'{"type": "EV", "name": "\\ud800"}', "name"),
        ("/v1/entities", b'{"type": "EV", "name": "a", "brand": "x\\udfff"}', "brand"),
        (
            "/v1/entities",
            b'{"type": "EV", "name": "a", "properties": {"k": "\\ud800"}}',
            "properties",
        ),
        ("{entity}/locations", b'{"label": "\\ud800", "latitude": 1, "longitude": 1}', "label"),
        (
            "{entity}/locations",
            b'{"label": "a", "address": "\\ud800", "latitude": 1, "longitude": 1}',
            "address",
        ),
        (
            "{entity}/charge-sessions",
            b'{"externalId": "\\ud800", "start": "2024-05-27T20:00:00Z", '
            b'"end": "2024-05-28T07:00:00Z"}',
            "externalId",
        ),
    ],
)
async def test_a_lone_surrogate_in_any_text_field_is_a_400_naming_it(
    api: TenantApi, path: str, body: bytes, name: str
) -> None:
    """The database cannot store it (PostgreSQL refuses it, and it is not UTF-8): refused
    at the door, by name, on both databases."""
    entity = await api.create_entity("EV")
    target = path.replace("{entity}", f"/v1/entities/{entity['id']}")
    response = await post_raw(api, "POST", target, body)
    assert_problem(response, 400, names=[name])


@pytest.mark.parametrize("query", ["start=%ED%A0%80", "start=2024-01-01T00:00:00Z&end=%ED%B0%80"])
@pytest.mark.parametrize("listing", ["charge-sessions", "readings"])
async def test_what_a_lone_surrogate_becomes_in_a_query_is_a_400(
    api: TenantApi, query: str, listing: str
) -> None:
    """A surrogate's bytes in a query string are not UTF-8; they reach the frame parameters as
    replacement characters and are refused as any other text that is not an instant."""
    entity = await api.create_entity("EV")
    response = await api.http.get(f"/v1/entities/{entity['id']}/{listing}?{query}")
    body = assert_problem(response, 400)
    assert {error["name"] for error in body["errors"]} <= {"start", "end"}


async def test_a_calendar_cannot_start_after_2100(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    response = await api.http.put(
        f"/v1/entities/{entity['id']}/tariff-calendar",
        json={"preset": "BE-day-night", "validFrom": "2100-01-01T00:00:01Z"},
    )
    body = assert_problem(response, 400, names=["validFrom"])
    assert "2100-01-01T00:00:00Z" in error_detail(body, "validFrom")
