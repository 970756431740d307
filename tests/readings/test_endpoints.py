"""The Readings API over HTTP: POST /v1/entities/{id}/readings (a batch: units converted,
idempotent per instant, bad rows rejected by index, unknown fields kept), GET .../readings
(the time frame and paging of the charge sessions list) and GET .../readings/last, and
tenant isolation of all three."""

import asyncio
import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import TenantApi

INSTANT_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
PROBLEM_KEYS = {"type", "title", "status", "detail"}
INVALID_INPUT = "urn:chargeledger:problem:invalid-input"
NOT_FOUND = "urn:chargeledger:problem:not-found"
JSON_HEADERS = {"Content-Type": "application/json"}


def iso(instant: datetime) -> str:
    """RFC 3339 UTC text with Z, milliseconds only when not zero (the API's output form)."""
    text = instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond // 1000:03d}"
    return text + "Z"


def minutes_after(base: datetime, minutes: float) -> str:
    return iso(base + timedelta(minutes=minutes))


def assert_problem(
    response: httpx.Response, status: int, *, names: Sequence[str] = ()
) -> dict[str, Any]:
    """An RFC 9457 problem with the status, whose `errors` name each of `names`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() in (PROBLEM_KEYS, PROBLEM_KEYS | {"errors"}), body
    assert body["status"] == status
    named = [error["name"] for error in body.get("errors", [])]
    for name in names:
        assert name in named, body
    return body


async def post_readings(api: TenantApi, entity_id: str, readings: Any) -> dict[str, Any]:
    response = await api.http.post(f"/v1/entities/{entity_id}/readings", json=readings)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    result: dict[str, Any] = response.json()
    return result


async def get_readings(api: TenantApi, entity_id: str, **params: Any) -> httpx.Response:
    return await api.http.get(f"/v1/entities/{entity_id}/readings", params=params)


async def list_readings(api: TenantApi, entity_id: str, **params: Any) -> dict[str, Any]:
    response = await get_readings(api, entity_id, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page: dict[str, Any] = response.json()
    return page


async def walk(api: TenantApi, entity_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every page of a readings list, following links.next as given."""
    pages = [await list_readings(api, entity_id, **params)]
    while pages[-1]["links"]["next"] is not None:
        response = await api.http.get(pages[-1]["links"]["next"])
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def timestamps(page: dict[str, Any]) -> list[str]:
    return [reading["timestamp"] for reading in page["data"]]


# ---- POST: the answer, units, what is kept --------------------------------------------------


async def test_a_good_batch_is_stored_and_counted(api: TenantApi) -> None:
    """Three new readings: {"stored": 3, "duplicates": 0, "rejected": []}, and they are
    readable at once (the answer comes after the commit)."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 5, 7, 0, tzinfo=UTC)
    batch = [{"timestamp": minutes_after(base, m)} for m in (0, 5, 10)]

    result = await post_readings(api, entity["id"], batch)

    assert result == {"stored": 3, "duplicates": 0, "rejected": []}
    page = await list_readings(api, entity["id"], start=iso(base))
    assert page["data"] == [{"timestamp": minutes_after(base, m)} for m in (0, 5, 10)]


async def test_an_empty_batch_stores_nothing(api: TenantApi) -> None:
    entity = await api.create_entity("EV")

    assert await post_readings(api, entity["id"], []) == {
        "stored": 0,
        "duplicates": 0,
        "rejected": [],
    }


async def test_units_are_converted_on_the_way_in(api: TenantApi) -> None:
    """Wh counters become kWh, kW power is listed back in W (re.alto's unit), miles become
    km (range and odometer); values already in kWh/W/km/% are kept as given."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 6, 18, 0, tzinfo=UTC)
    imperial = {
        "timestamp": iso(base),
        "stateOfCharge": {"unit": "%", "value": 55.5},
        "range": {"unit": "mi", "value": 100},
        "isCharging": True,
        "isPluggedIn": True,
        "positiveActiveEnergy": {
            "t1": 1000,
            "t2": 2500,
            "t3": 0,
            "t4": 0,
            "total": 3500,
            "unit": "Wh",
        },
        "positiveActiveInstantaneousPower": {"unit": "kW", "value": 7.4},
        "location": {"latitude": 50.87405, "longitude": 4.70043, "accuracy": 12.5},
        "odometer": {"unit": "mi", "value": 12000},
    }
    metric = {
        "timestamp": minutes_after(base, 15),
        "range": {"unit": "km", "value": 210.5},
        "isCharging": False,
        "isPluggedIn": False,
        "positiveActiveEnergy": {"total": 5.25, "unit": "kWh"},
        "positiveActiveInstantaneousPower": {"unit": "W", "value": 2300},
        "odometer": {"unit": "km", "value": 19400.5},
    }

    assert await post_readings(api, entity["id"], [imperial, metric]) == {
        "stored": 2,
        "duplicates": 0,
        "rejected": [],
    }

    page = await list_readings(api, entity["id"], start=iso(base))
    assert page["data"] == [
        {
            "timestamp": iso(base),
            "stateOfCharge": {"unit": "%", "value": 55.5},
            # 100 mi x 1.609344 km/mi = 160.9344 km
            "range": {"unit": "km", "value": 160.9344},
            "isCharging": True,
            "isPluggedIn": True,
            # 1000 Wh = 1 kWh, 2500 Wh = 2.5 kWh, 3500 Wh = 3.5 kWh
            "positiveActiveEnergy": {
                "t1": 1.0,
                "t2": 2.5,
                "t3": 0.0,
                "t4": 0.0,
                "total": 3.5,
                "unit": "kWh",
            },
            # 7.4 kW = 7400 W
            "positiveActiveInstantaneousPower": {"unit": "W", "value": 7400.0},
            "location": {"latitude": 50.87405, "longitude": 4.70043, "accuracy": 12.5},
            # 12000 mi x 1.609344 = 19312.128 km
            "odometer": {"unit": "km", "value": 19312.128},
        },
        {
            "timestamp": minutes_after(base, 15),
            "range": {"unit": "km", "value": 210.5},
            "isCharging": False,
            "isPluggedIn": False,
            "positiveActiveEnergy": {
                "t1": None,
                "t2": None,
                "t3": None,
                "t4": None,
                "total": 5.25,
                "unit": "kWh",
            },
            "positiveActiveInstantaneousPower": {"unit": "W", "value": 2300.0},
            "odometer": {"unit": "km", "value": 19400.5},
        },
    ]


async def test_a_counter_without_total_sums_its_four_registers(api: TenantApi) -> None:
    """A counter given only as t1..t4 (in Wh) has total t1+t2+t3+t4:
    (1200 + 3400 + 0 + 100) Wh = 4700 Wh = 4.7 kWh."""
    entity = await api.create_entity("EV")
    instant = datetime(2024, 2, 7, 9, 0, tzinfo=UTC)
    counter = {"t1": 1200, "t2": 3400, "t3": 0, "t4": 100, "unit": "Wh"}

    await post_readings(
        api, entity["id"], [{"timestamp": iso(instant), "positiveActiveEnergy": counter}]
    )

    page = await list_readings(api, entity["id"], start=iso(instant))
    counter_out = page["data"][0]["positiveActiveEnergy"]
    # The total is summed from the converted registers (1.2 + 3.4 + 0.0 + 0.1 in binary
    # floating point is 4.699999999999999), so it is compared to within a nano-kWh.
    assert counter_out == {
        "t1": 1.2,
        "t2": 3.4,
        "t3": 0.0,
        "t4": 0.1,
        "total": pytest.approx(4.7, abs=1e-9),
        "unit": "kWh",
    }


async def test_unknown_fields_are_kept_and_returned(api: TenantApi) -> None:
    """Fields the ledger does not interpret (currents, voltages, anything) are stored as
    given and returned, by the list and by /last, next to the normalized fields."""
    entity = await api.create_entity("EV")
    instant = datetime(2024, 2, 8, 21, 30, tzinfo=UTC)
    extra = {
        "current": {"l1": 16.0, "l2": 15.5, "l3": 16.2, "unit": "A"},
        "voltage": {"l1": 231.4, "unit": "V"},
        "chargerPhases": 3,
        "vendorState": "CHARGING_AC",
        "flags": [1, "two", None, {"three": 3}],
    }
    reading = {"timestamp": iso(instant), "stateOfCharge": {"unit": "%", "value": 42}, **extra}

    assert (await post_readings(api, entity["id"], [reading]))["stored"] == 1

    expected = {"timestamp": iso(instant), "stateOfCharge": {"unit": "%", "value": 42.0}, **extra}
    page = await list_readings(api, entity["id"], start=iso(instant))
    assert page["data"] == [expected]
    last = await api.http.get(f"/v1/entities/{entity['id']}/readings/last")
    assert last.status_code == 200, last.text
    assert last.json() == {"data": expected}


# ---- POST: idempotency --------------------------------------------------------------------


async def test_a_repeated_batch_is_all_duplicates_and_stored_once(api: TenantApi) -> None:
    """The same four readings again: {"stored": 0, "duplicates": 4}; the list still shows
    one reading per instant. A repeat with other values is a duplicate too: the first stays."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 9, 6, 0, tzinfo=UTC)
    batch = [
        {"timestamp": minutes_after(base, 15 * i), "stateOfCharge": {"unit": "%", "value": 40 + i}}
        for i in range(4)
    ]

    first = await post_readings(api, entity["id"], batch)
    again = await post_readings(api, entity["id"], batch)
    changed = await post_readings(
        api,
        entity["id"],
        [{"timestamp": minutes_after(base, 15), "stateOfCharge": {"unit": "%", "value": 99}}],
    )

    assert first == {"stored": 4, "duplicates": 0, "rejected": []}
    assert again == {"stored": 0, "duplicates": 4, "rejected": []}
    assert changed == {"stored": 0, "duplicates": 1, "rejected": []}
    page = await list_readings(api, entity["id"], start=iso(base))
    assert page["data"] == [
        {
            "timestamp": minutes_after(base, 15 * i),
            "stateOfCharge": {"unit": "%", "value": 40.0 + i},
        }
        for i in range(4)
    ]


async def test_duplicates_within_one_batch(api: TenantApi) -> None:
    """Five readings naming three instants (one of them written as +02:00): 3 stored and 2
    duplicates; the first reading of each instant is the one kept."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 12, 10, 0, tzinfo=UTC)
    batch = [
        {"timestamp": iso(base), "stateOfCharge": {"unit": "%", "value": 10}},
        {"timestamp": minutes_after(base, 5), "stateOfCharge": {"unit": "%", "value": 11}},
        {"timestamp": iso(base), "stateOfCharge": {"unit": "%", "value": 77}},
        {"timestamp": minutes_after(base, 10), "stateOfCharge": {"unit": "%", "value": 12}},
        # 12:05+02:00 is 10:05Z, the second reading's instant
        {"timestamp": "2024-02-12T12:05:00+02:00", "stateOfCharge": {"unit": "%", "value": 88}},
    ]

    result = await post_readings(api, entity["id"], batch)

    assert result == {"stored": 3, "duplicates": 2, "rejected": []}
    page = await list_readings(api, entity["id"], start=iso(base))
    assert page["data"] == [
        {"timestamp": iso(base), "stateOfCharge": {"unit": "%", "value": 10.0}},
        {"timestamp": minutes_after(base, 5), "stateOfCharge": {"unit": "%", "value": 11.0}},
        {"timestamp": minutes_after(base, 10), "stateOfCharge": {"unit": "%", "value": 12.0}},
    ]


async def test_concurrent_identical_batches_store_each_instant_once(api: TenantApi) -> None:
    """Four copies of one 12-reading batch posted at the same time: 12 stored in all, 36
    duplicates, and 12 rows listed."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 12, 14, 0, tzinfo=UTC)
    batch = [
        {
            "timestamp": minutes_after(base, 5 * i),
            "isCharging": True,
            "stateOfCharge": {"unit": "%", "value": 30 + i},
        }
        for i in range(12)
    ]

    results = await asyncio.gather(*(post_readings(api, entity["id"], batch) for _ in range(4)))

    assert sum(result["stored"] for result in results) == 12
    assert sum(result["duplicates"] for result in results) == 36
    page = await list_readings(api, entity["id"], start=iso(base))
    assert timestamps(page) == [minutes_after(base, 5 * i) for i in range(12)]


async def test_instants_are_kept_to_the_millisecond(api: TenantApi) -> None:
    """Sub-millisecond digits are truncated: .1234 and .1239 name the same instant (a
    duplicate), listed as .123; .124 is another instant."""
    entity = await api.create_entity("EV")

    result = await post_readings(
        api,
        entity["id"],
        [
            {"timestamp": "2024-02-12T16:00:00.1234Z"},
            {"timestamp": "2024-02-12T16:00:00.1239Z"},
            {"timestamp": "2024-02-12T16:00:00.124Z"},
        ],
    )

    assert result == {"stored": 2, "duplicates": 1, "rejected": []}
    page = await list_readings(api, entity["id"], start="2024-02-12T16:00:00Z")
    assert timestamps(page) == ["2024-02-12T16:00:00.123Z", "2024-02-12T16:00:00.124Z"]


# ---- POST: bad rows -------------------------------------------------------------------------


async def test_bad_rows_are_rejected_by_index_and_good_rows_stored(api: TenantApi) -> None:
    """Each bad reading is reported by its index in the array with the offending field
    names; the good readings around them are stored."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 13, 20, 0, tzinfo=UTC)
    future = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    batch: list[Any] = [
        {"timestamp": minutes_after(base, 0), "stateOfCharge": {"unit": "%", "value": 50}},  # 0
        42,  # 1 not an object
        {"timestamp": "yesterday"},  # 2
        {"timestamp": minutes_after(base, 5), "stateOfCharge": {"unit": "%", "value": 150}},  # 3
        {"timestamp": minutes_after(base, 10), "range": {"unit": "furlong", "value": 3}},  # 4
        {"timestamp": iso(future), "stateOfCharge": {"unit": "%", "value": 50}},  # 5
        {"timestamp": minutes_after(base, 15), "isCharging": "yes"},  # 6
        {"timestamp": minutes_after(base, 20), "stateOfCharge": {"unit": "%", "value": 51}},  # 7
        ["not", "an", "object"],  # 8
        {"stateOfCharge": {"unit": "%", "value": 52}},  # 9 no timestamp
        {"timestamp": "2024-02-13T20:25:00"},  # 10 no time zone
        {  # 11 two bad units at once
            "timestamp": minutes_after(base, 30),
            "positiveActiveInstantaneousPower": {"unit": "hp", "value": 10},
            "odometer": {"unit": "league", "value": 1},
        },
        {"timestamp": minutes_after(base, 35), "stateOfCharge": {"unit": "kWh", "value": 30}},  # 12
        {"timestamp": minutes_after(base, 40), "isPluggedIn": True},  # 13
    ]

    result = await post_readings(api, entity["id"], batch)

    assert result["stored"] == 3
    assert result["duplicates"] == 0
    assert [
        (row["index"], [error["name"] for error in row["errors"]]) for row in result["rejected"]
    ] == [
        (1, ["reading"]),
        (2, ["timestamp"]),
        (3, ["stateOfCharge.value"]),
        (4, ["range.unit"]),
        (5, ["timestamp"]),
        (6, ["isCharging"]),
        (8, ["reading"]),
        (9, ["timestamp"]),
        (10, ["timestamp"]),
        (11, ["positiveActiveInstantaneousPower.unit", "odometer.unit"]),
        (12, ["stateOfCharge.unit"]),
    ]
    for row in result["rejected"]:
        assert row.keys() == {"index", "errors"}
        for error in row["errors"]:
            assert error.keys() == {"name", "detail"}
            assert isinstance(error["detail"], str)
            assert error["detail"]
    details = {row["index"]: row["errors"][0]["detail"] for row in result["rejected"]}
    assert "furlong" in details[4]
    assert "future" in details[5]
    page = await list_readings(api, entity["id"], start=iso(base))
    assert timestamps(page) == [
        minutes_after(base, 0),
        minutes_after(base, 20),
        minutes_after(base, 40),
    ]


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"stateOfCharge": {"unit": "%", "value": -1}}, "stateOfCharge.value"),
        ({"stateOfCharge": {"unit": "%"}}, "stateOfCharge.value"),
        ({"positiveActiveEnergy": {"total": -5, "unit": "kWh"}}, "positiveActiveEnergy.total"),
        ({"positiveActiveEnergy": {"total": 5, "unit": "J"}}, "positiveActiveEnergy.unit"),
        (
            {"positiveActiveInstantaneousPower": {"unit": "kW"}},
            "positiveActiveInstantaneousPower.value",
        ),
        ({"location": {"latitude": 91, "longitude": 4.7}}, "location.latitude"),
        ({"location": {"latitude": 50.8}}, "location.longitude"),
        ({"location": {"latitude": 50.8, "longitude": 4.7, "accuracy": -3}}, "location.accuracy"),
        ({"isPluggedIn": 1}, "isPluggedIn"),
        ({"range": {"unit": "km", "value": "far"}}, "range.value"),
        ({"odometer": {"unit": "parsec", "value": 1}}, "odometer.unit"),
        ({"timestamp": 1717405200}, "timestamp"),
    ],
)
async def test_each_bad_field_is_named(api: TenantApi, fields: dict[str, Any], name: str) -> None:
    """One bad reading between two good ones: rejected at index 1 naming the field."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 13, 22, 0, tzinfo=UTC)
    bad = {"timestamp": minutes_after(base, 5), **fields}

    result = await post_readings(
        api,
        entity["id"],
        [{"timestamp": iso(base)}, bad, {"timestamp": minutes_after(base, 10)}],
    )

    assert result["stored"] == 2
    assert [(row["index"], [e["name"] for e in row["errors"]]) for row in result["rejected"]] == [
        (1, [name])
    ]


async def test_readings_up_to_5_minutes_ahead_are_accepted(api: TenantApi) -> None:
    """Clocks drift: a reading 4 minutes ahead of now is stored, 6 minutes ahead is refused
    as in the future."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(microsecond=0)

    result = await post_readings(
        api,
        entity["id"],
        [
            {"timestamp": iso(now + timedelta(minutes=4))},
            {"timestamp": iso(now + timedelta(minutes=6))},
        ],
    )

    assert result["stored"] == 1
    assert [(row["index"], row["errors"]) for row in result["rejected"]] == [
        (1, [{"name": "timestamp", "detail": "is in the future"}])
    ]


async def test_a_batch_of_only_bad_rows_is_answered_200_with_nothing_stored(
    api: TenantApi,
) -> None:
    entity = await api.create_entity("EV")

    result = await post_readings(api, entity["id"], [None, "x", {"timestamp": 5}])

    assert result["stored"] == 0
    assert result["duplicates"] == 0
    assert [(row["index"], row["errors"][0]["name"]) for row in result["rejected"]] == [
        (0, "reading"),
        (1, "reading"),
        (2, "timestamp"),
    ]
    missing = await api.http.get(f"/v1/entities/{entity['id']}/readings/last")
    assert_problem(missing, 404)


async def test_more_than_10000_readings_is_a_400_and_nothing_is_stored(api: TenantApi) -> None:
    """10,001 readings are refused whole (400 naming the body); 10,000 are accepted, though
    their body is larger than the 1 MiB other requests may send."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 2, 14, 0, 0, tzinfo=UTC)
    # Idle readings of ~200 bytes each: the full batch is about 2 MB, over the 1 MiB limit of
    # other bodies (readings may be up to 16 MiB).
    too_many = [
        {
            "timestamp": iso(base + timedelta(seconds=i)),
            "isCharging": False,
            "stateOfCharge": {"unit": "%", "value": 64.5},
            "location": {"latitude": 50.87405, "longitude": 4.70043, "accuracy": 9.5},
            "vendorPayload": "p" * 40,
        }
        for i in range(10_001)
    ]
    assert len(json.dumps(too_many[:10_000])) > 1024 * 1024

    response = await api.http.post(f"/v1/entities/{entity['id']}/readings", json=too_many)

    body = assert_problem(response, 400, names=["body"])
    assert body["type"] == INVALID_INPUT
    assert "10000" in body["detail"].replace(",", "")
    empty = await list_readings(api, entity["id"], start=iso(base), pageSize=1)
    assert empty["data"] == []

    accepted = await post_readings(api, entity["id"], too_many[:10_000])
    assert accepted == {"stored": 10_000, "duplicates": 0, "rejected": []}
    last = await api.http.get(f"/v1/entities/{entity['id']}/readings/last")
    # the 10,000th reading is 9,999 s = 2 h 46 min 39 s after midnight
    assert last.json()["data"]["timestamp"] == "2024-02-14T02:46:39Z"
    assert last.json()["data"]["vendorPayload"] == "p" * 40


async def test_a_body_that_is_not_an_array_is_a_400(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    url = f"/v1/entities/{entity['id']}/readings"

    for body in (
        {"timestamp": "2024-02-15T10:00:00Z"},
        "2024-02-15T10:00:00Z",
        42,
        None,
        True,
    ):
        response = await api.http.post(url, content=json.dumps(body), headers=JSON_HEADERS)

        problem = assert_problem(response, 400, names=["body"])
        assert problem["type"] == INVALID_INPUT

    invalid_json = await api.http.post(url, content=b"[{", headers=JSON_HEADERS)
    assert_problem(invalid_json, 400, names=["body"])
    empty = await list_readings(api, entity["id"], start="2024-02-15T00:00:00Z")
    assert empty["data"] == []


# ---- GET readings: frame and paging ------------------------------------------------------


async def test_the_frame_is_start_inclusive_end_exclusive(api: TenantApi) -> None:
    """start <= timestamp < end: a reading 1 ms before start and one exactly at end are left
    out; one at start and one 1 ms before end are listed, oldest first."""
    entity = await api.create_entity("EV")
    start = datetime(2024, 2, 16, 12, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    instants = [
        end,
        start - timedelta(milliseconds=1),
        start,
        end - timedelta(milliseconds=1),
        start + timedelta(minutes=30),
    ]
    await post_readings(api, entity["id"], [{"timestamp": iso(t)} for t in instants])

    page = await list_readings(api, entity["id"], start=iso(start), end=iso(end))

    assert timestamps(page) == [
        "2024-02-16T12:00:00Z",
        "2024-02-16T12:30:00Z",
        "2024-02-16T12:59:59.999Z",
    ]
    assert page["links"] == {"next": None}
    assert page["meta"] == {"continuationToken": None, "pageSize": 25}
    following = await list_readings(
        api, entity["id"], start=iso(end), end=iso(end + timedelta(hours=1))
    )
    assert timestamps(following) == ["2024-02-16T13:00:00Z"]


async def test_start_is_required_and_end_must_not_precede_it(api: TenantApi) -> None:
    entity = await api.create_entity("EV")

    missing = await get_readings(api, entity["id"])
    body = assert_problem(missing, 400, names=["start"])
    assert body["errors"] == [{"name": "start", "in": "query", "detail": "is required"}]

    no_zone = await get_readings(api, entity["id"], start="2024-02-16T12:00:00")
    assert_problem(no_zone, 400, names=["start"])

    backwards = await get_readings(
        api, entity["id"], start="2024-02-16T12:00:00Z", end="2024-02-16T11:59:59.999Z"
    )
    body = assert_problem(backwards, 400, names=["end"])
    assert body["errors"] == [
        {"name": "end", "in": "query", "detail": "end must not be before start"}
    ]

    for page_size in ("0", "1001", "abc"):
        bad_size = await get_readings(
            api, entity["id"], start="2024-02-16T12:00:00Z", pageSize=page_size
        )
        assert_problem(bad_size, 400, names=["pageSize"])


async def test_end_defaults_to_now(api: TenantApi) -> None:
    """Without end the frame ends now: a reading 2 minutes old is listed. With paging, the
    fixed end that links.next names lies between the request's send and receive times."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(microsecond=0)
    old = datetime(2024, 2, 19, 8, 0, tzinfo=UTC)
    await post_readings(
        api,
        entity["id"],
        [{"timestamp": iso(old)}, {"timestamp": iso(now - timedelta(minutes=2))}],
    )

    page = await list_readings(api, entity["id"], start=iso(old))
    assert timestamps(page) == [iso(old), iso(now - timedelta(minutes=2))]
    assert page["links"] == {"next": None}

    before = datetime.now(UTC) - timedelta(seconds=1)
    first = await list_readings(api, entity["id"], start=iso(old), pageSize=1)
    after = datetime.now(UTC) + timedelta(seconds=1)
    fixed_end = httpx.URL(first["links"]["next"]).params["end"]
    assert INSTANT_TEXT.match(fixed_end)
    assert before <= datetime.fromisoformat(fixed_end.replace("Z", "+00:00")) <= after
    second = await api.http.get(first["links"]["next"])
    assert timestamps(second.json()) == [iso(now - timedelta(minutes=2))]


async def test_walking_23_readings_by_5_via_links_next(api: TenantApi) -> None:
    """23 readings a minute apart walked with pageSize 5: pages of 5,5,5,5,3 in time order,
    each links.next an absolute URL of this path naming start, end, pageSize and the token
    (exactly like charge sessions), and null next and token on the last page."""
    entity = await api.create_entity("EV")
    start = datetime(2024, 2, 20, 7, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    # posted newest first: the list orders by time, not by arrival
    await post_readings(
        api, entity["id"], [{"timestamp": minutes_after(start, m)} for m in reversed(range(23))]
    )

    pages = await walk(api, entity["id"], start=iso(start), end=iso(end), pageSize=5)

    assert [len(page["data"]) for page in pages] == [5, 5, 5, 5, 3]
    assert [t for page in pages for t in timestamps(page)] == [
        minutes_after(start, m) for m in range(23)
    ]
    base = httpx.URL(str(api.http.base_url))
    for page in pages[:-1]:
        token = page["meta"]["continuationToken"]
        assert isinstance(token, str)
        assert token
        assert page["meta"]["pageSize"] == 5
        next_url = httpx.URL(page["links"]["next"])
        assert next_url.is_absolute_url
        assert (next_url.scheme, next_url.host, next_url.port) == (
            base.scheme,
            base.host,
            base.port,
        )
        assert next_url.path == f"/v1/entities/{entity['id']}/readings"
        assert dict(next_url.params) == {
            "start": iso(start),
            "end": iso(end),
            "pageSize": "5",
            "continuationToken": token,
        }
    assert pages[-1]["links"] == {"next": None}
    assert pages[-1]["meta"] == {"continuationToken": None, "pageSize": 5}


async def test_page_size_defaults_to_25_and_the_token_works_by_hand(api: TenantApi) -> None:
    """26 readings: 25 on the first page, the 26th on the next, also when the token is passed
    by hand with the same frame. Another frame, or a charge-session token, is a 400."""
    entity = await api.create_entity("EV")
    start = datetime(2024, 2, 21, 7, 0, tzinfo=UTC)
    end = start + timedelta(hours=1)
    await post_readings(
        api, entity["id"], [{"timestamp": minutes_after(start, m)} for m in range(26)]
    )

    first = await list_readings(api, entity["id"], start=iso(start), end=iso(end))
    token = first["meta"]["continuationToken"]
    by_hand = await list_readings(
        api, entity["id"], start=iso(start), end=iso(end), continuationToken=token
    )

    assert timestamps(first) == [minutes_after(start, m) for m in range(25)]
    assert first["meta"]["pageSize"] == 25
    assert timestamps(by_hand) == [minutes_after(start, 25)]
    assert by_hand["meta"] == {"continuationToken": None, "pageSize": 25}

    other_frame = await get_readings(
        api, entity["id"], start=minutes_after(start, 1), end=iso(end), continuationToken=token
    )
    body = assert_problem(other_frame, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"
    altered = await get_readings(
        api, entity["id"], start=iso(start), end=iso(end), continuationToken=token[:-1]
    )
    assert_problem(altered, 400)


async def test_a_charge_session_token_is_refused_on_readings(api: TenantApi) -> None:
    """A continuation token of the charge sessions list is not a readings cursor."""
    entity = await api.create_entity("EV")
    for index in range(2):
        response = await api.post_session(
            entity["id"],
            {
                "externalId": f"token-kind-{index}",
                "start": f"2024-02-22T0{index}:00:00Z",
                "end": f"2024-02-22T0{index}:30:00Z",
            },
        )
        assert response.status_code == 201, response.text
    frame = {"start": "2024-02-22T00:00:00Z", "end": "2024-02-23T00:00:00Z"}
    sessions = await api.list_sessions(entity["id"], **frame, pageSize=1)
    token = sessions.json()["meta"]["continuationToken"]
    assert token

    response = await get_readings(api, entity["id"], **frame, pageSize=1, continuationToken=token)

    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"


async def test_readings_of_another_entity_are_not_listed(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    other = await api.create_entity("ChargePoint")
    instant = datetime(2024, 2, 23, 9, 0, tzinfo=UTC)
    await post_readings(api, entity["id"], [{"timestamp": iso(instant), "isCharging": True}])
    await post_readings(api, other["id"], [{"timestamp": iso(instant), "isCharging": False}])

    mine = await list_readings(api, entity["id"], start=iso(instant))
    theirs = await list_readings(api, other["id"], start=iso(instant))

    assert mine["data"] == [{"timestamp": iso(instant), "isCharging": True}]
    assert theirs["data"] == [{"timestamp": iso(instant), "isCharging": False}]


# ---- GET readings/last ----------------------------------------------------------------------


async def test_last_is_the_newest_reading_not_the_last_posted(api: TenantApi) -> None:
    """/readings/last is {"data": <the reading with the latest timestamp>}, even when an
    older reading arrived after it; 404 while the entity has none."""
    entity = await api.create_entity("EV")
    url = f"/v1/entities/{entity['id']}/readings/last"
    base = datetime(2024, 2, 26, 17, 0, tzinfo=UTC)

    none_yet = await api.http.get(url)
    body = assert_problem(none_yet, 404)
    assert body["type"] == NOT_FOUND

    newest = {
        "timestamp": minutes_after(base, 30),
        "stateOfCharge": {"unit": "%", "value": 81},
        "positiveActiveInstantaneousPower": {"unit": "kW", "value": 11},
    }
    await post_readings(api, entity["id"], [newest])
    await post_readings(
        api, entity["id"], [{"timestamp": iso(base), "stateOfCharge": {"unit": "%", "value": 20}}]
    )

    last = await api.http.get(url)
    assert last.status_code == 200, last.text
    assert last.headers["content-type"] == "application/json"
    assert last.json() == {
        "data": {
            "timestamp": minutes_after(base, 30),
            "stateOfCharge": {"unit": "%", "value": 81.0},
            # 11 kW = 11000 W
            "positiveActiveInstantaneousPower": {"unit": "W", "value": 11000.0},
        }
    }


# ---- tenants --------------------------------------------------------------------------------


async def test_another_tenants_entity_is_a_404_for_every_readings_call(
    api: TenantApi, other_api: TenantApi
) -> None:
    """Posting to, listing or asking the last reading of another tenant's entity is the 404 of
    an entity that does not exist, and the post stores nothing."""
    entity = await api.create_entity("EV")
    instant = datetime(2024, 2, 27, 6, 0, tzinfo=UTC)
    await post_readings(api, entity["id"], [{"timestamp": iso(instant), "isCharging": False}])
    base_url = f"/v1/entities/{entity['id']}/readings"
    missing_id = str(uuid.uuid4())

    foreign = [
        await other_api.http.post(
            base_url, json=[{"timestamp": iso(instant + timedelta(minutes=1))}]
        ),
        await other_api.http.get(base_url, params={"start": iso(instant)}),
        await other_api.http.get(f"{base_url}/last"),
    ]
    missing = [
        await other_api.http.post(
            f"/v1/entities/{missing_id}/readings",
            json=[{"timestamp": iso(instant + timedelta(minutes=1))}],
        ),
        await other_api.http.get(
            f"/v1/entities/{missing_id}/readings", params={"start": iso(instant)}
        ),
        await other_api.http.get(f"/v1/entities/{missing_id}/readings/last"),
    ]

    for theirs, nobodys in zip(foreign, missing, strict=True):
        body = assert_problem(theirs, 404)
        assert body["type"] == NOT_FOUND
        assert body["detail"] == f"entity {entity['id']} was not found"
        assert theirs.content.replace(entity["id"].encode(), b"<id>") == nobodys.content.replace(
            missing_id.encode(), b"<id>"
        )
    page = await list_readings(api, entity["id"], start=iso(instant))
    assert page["data"] == [{"timestamp": iso(instant), "isCharging": False}]
