"""Speed as a reading field: posted in km/h, mph or m/s, stored and listed in km/h, a bad
unit or a negative value rejected by index, and the fast and pydantic paths agreeing."""

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.readings.test_endpoints import iso, list_readings, minutes_after, post_readings
from tests.support.api import TenantApi


async def test_speed_posted_in_mph_is_listed_in_kmh(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    base = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
    batch = [
        {"timestamp": iso(base), "speed": {"unit": "mph", "value": 30}},
        {"timestamp": minutes_after(base, 1), "speed": {"unit": "m/s", "value": 12.5}},
        {"timestamp": minutes_after(base, 2), "speed": {"unit": "km/h", "value": 0}},
        {"timestamp": minutes_after(base, 3), "stateOfCharge": {"unit": "%", "value": 50}},
    ]

    assert await post_readings(api, entity["id"], batch) == {
        "stored": 4,
        "duplicates": 0,
        "rejected": [],
    }

    page = await list_readings(api, entity["id"], start=iso(base))
    assert page["data"] == [
        {"timestamp": iso(base), "speed": {"unit": "km/h", "value": 30 * 1.609344}},
        {"timestamp": minutes_after(base, 1), "speed": {"unit": "km/h", "value": 45.0}},
        {"timestamp": minutes_after(base, 2), "speed": {"unit": "km/h", "value": 0.0}},
        # No speed reported: none listed.
        {"timestamp": minutes_after(base, 3), "stateOfCharge": {"unit": "%", "value": 50.0}},
    ]
    last = await api.http.get(f"/v1/entities/{entity['id']}/readings/last")
    assert last.status_code == 200, last.text
    assert "speed" not in last.json()["data"]


@pytest.mark.parametrize(
    ("speed", "name"),
    [
        ({"unit": "knots", "value": 10}, "speed.unit"),
        ({"unit": "kph", "value": 10}, "speed.unit"),
        ({"unit": "km/h", "value": -0.5}, "speed.value"),
        ({"unit": "mph", "value": -30}, "speed.value"),
        ({"unit": "km/h", "value": "fast"}, "speed.value"),
        ({"unit": "km/h"}, "speed.value"),
        ({"value": 10}, "speed.unit"),
        ({"unit": "km/h", "value": 10, "heading": 90}, "speed.heading"),
    ],
)
async def test_a_bad_speed_is_rejected_by_index(
    api: TenantApi, speed: dict[str, Any], name: str
) -> None:
    """One bad reading between two good ones: rejected at index 1 naming the field; the good
    ones are stored."""
    entity = await api.create_entity("EV")
    base = datetime(2024, 3, 4, 9, 0, tzinfo=UTC)
    batch = [
        {"timestamp": iso(base), "speed": {"unit": "km/h", "value": 50}},
        {"timestamp": minutes_after(base, 1), "speed": speed},
        {"timestamp": minutes_after(base, 2), "speed": {"unit": "mph", "value": 10}},
    ]

    result = await post_readings(api, entity["id"], batch)

    assert result["stored"] == 2
    assert [(row["index"], [e["name"] for e in row["errors"]]) for row in result["rejected"]] == [
        (1, [name])
    ]
    if name == "speed.unit" and "unit" in speed:
        assert "km/h, mph, m/s" in result["rejected"][0]["errors"][0]["detail"]
    page = await list_readings(api, entity["id"], start=iso(base))
    assert [reading["timestamp"] for reading in page["data"]] == [
        iso(base),
        minutes_after(base, 2),
    ]


async def test_fast_and_pydantic_paths_store_the_same_speed(api: TenantApi) -> None:
    """The same readings posted once in the documented shape (the msgspec fast path) and once
    with a field we keep but do not interpret (which sends the batch down the pydantic path)
    are stored with the same speed."""
    fast_entity = await api.create_entity("EV", name="fast")
    slow_entity = await api.create_entity("EV", name="slow")
    base = datetime(2024, 3, 4, 10, 0, tzinfo=UTC)
    speeds = [("mph", 30), ("m/s", 0.1), ("km/h", 88.5), ("mph", 70.25), ("m/s", 33.3)]
    readings = [
        {"timestamp": minutes_after(base, index), "speed": {"unit": unit, "value": value}}
        for index, (unit, value) in enumerate(speeds)
    ]
    fast = readings
    slow = [{**reading, "vendorState": "DRIVING"} for reading in readings]

    assert (await post_readings(api, fast_entity["id"], fast))["stored"] == len(speeds)
    assert (await post_readings(api, slow_entity["id"], slow))["stored"] == len(speeds)

    fast_page = await list_readings(api, fast_entity["id"], start=iso(base))
    slow_page = await list_readings(api, slow_entity["id"], start=iso(base))
    fast_speeds = [reading["speed"] for reading in fast_page["data"]]
    slow_speeds = [reading["speed"] for reading in slow_page["data"]]
    assert fast_speeds == slow_speeds
    assert [speed["value"] for speed in fast_speeds] == [
        30 * 1.609344,
        0.36,
        88.5,
        70.25 * 1.609344,
        33.3 * 3600 / 1000,
    ]
    assert {speed["unit"] for speed in fast_speeds} == {"km/h"}
