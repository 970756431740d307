"""Entity Settings > Battery Capacity over HTTP (GET/PUT /v1/entities/{id}/battery-capacity),
and what it does to sessions detected from state of charge alone: without it their energy
is unknown (null), with it energy = change of state of charge x capacity, re-measured in
place (same id) when the capacity is set or changed."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import TenantApi

PROBLEM_KEYS = {"type", "title", "status", "detail"}
NULL_TOTAL = {"t1": None, "t2": None, "t3": None, "t4": None, "total": None, "unit": "kWh"}


def assert_problem(
    response: httpx.Response, status: int, *, names: Sequence[str] = ()
) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() in (PROBLEM_KEYS, PROBLEM_KEYS | {"errors"}), body
    assert body["status"] == status
    named = [error["name"] for error in body.get("errors", [])]
    for name in names:
        assert name in named, body
    return body


def capacity_url(entity_id: str) -> str:
    return f"/v1/entities/{entity_id}/battery-capacity"


async def get_capacity(api: TenantApi, entity_id: str) -> dict[str, Any]:
    response = await api.http.get(capacity_url(entity_id))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


async def put_capacity(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.http.put(capacity_url(entity_id), json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def soc_only_trace(first: datetime) -> list[dict[str, Any]]:
    """A car that reports only state of charge and that it is plugged in, every 15 min:
    20 % at `first` and +15 min, then +2.5 % per 15 min for 24 steps (6 h) up to 80 % at
    first + 6 h 15 min, then 80 % twice more (charging stopped)."""
    levels = [20.0, 20.0] + [20.0 + 2.5 * step for step in range(1, 25)] + [80.0, 80.0]
    return [
        {
            "timestamp": iso(first + timedelta(minutes=15 * index)),
            "stateOfCharge": {"unit": "%", "value": level},
            "isPluggedIn": True,
        }
        for index, level in enumerate(levels)
    ]


async def post_readings(api: TenantApi, entity_id: str, readings: list[dict[str, Any]]) -> None:
    response = await api.http.post(f"/v1/entities/{entity_id}/readings", json=readings)
    assert response.status_code == 200, response.text
    assert response.json()["rejected"] == []


async def sessions(api: TenantApi, entity_id: str, start: str) -> list[dict[str, Any]]:
    response = await api.list_sessions(entity_id, start=start)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


# ---- the setting ----------------------------------------------------------------------------


async def test_capacity_is_unknown_by_default(api: TenantApi) -> None:
    entity = await api.create_entity("EV")

    assert await get_capacity(api, entity["id"]) == {"value": None, "unit": "kWh"}


async def test_put_then_get(api: TenantApi) -> None:
    """PUT {"value": 64} answers and then reads back {"value": 64.0, "unit": "kWh"}; a later
    PUT (with the unit spelled out) replaces it."""
    entity = await api.create_entity("EV")

    assert await put_capacity(api, entity["id"], {"value": 64}) == {"value": 64.0, "unit": "kWh"}
    assert await get_capacity(api, entity["id"]) == {"value": 64.0, "unit": "kWh"}

    changed = await put_capacity(api, entity["id"], {"value": 77.5, "unit": "kWh"})
    assert changed == {"value": 77.5, "unit": "kWh"}
    assert await get_capacity(api, entity["id"]) == {"value": 77.5, "unit": "kWh"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 0}, "value"),
        ({"value": -1}, "value"),
        ({"value": 5000}, "value"),
        ({"value": 64, "unit": "Wh"}, "unit"),
        ({"value": 64, "unit": "MWh"}, "unit"),
        ({}, "value"),
        ({"value": None}, "value"),
        ({"value": [64]}, "value"),
        ({"value": 64, "usable": True}, "usable"),
    ],
)
async def test_bad_capacities_are_400_and_change_nothing(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    """0, negative, 5000 kWh (more than 2000), a unit other than kWh, a missing value or an
    unknown field: 400 invalid-input naming the field; the stored capacity stays."""
    entity = await api.create_entity("EV")
    await put_capacity(api, entity["id"], {"value": 52})

    response = await api.http.put(capacity_url(entity["id"]), json=body)

    problem = assert_problem(response, 400, names=[field])
    assert problem["type"] == "urn:chargeledger:problem:invalid-input"
    assert await get_capacity(api, entity["id"]) == {"value": 52.0, "unit": "kWh"}


async def test_another_tenants_entity_is_a_404(api: TenantApi, other_api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    await put_capacity(api, entity["id"], {"value": 40})

    for url in (capacity_url(entity["id"]), capacity_url(str(uuid.uuid4()))):
        problem = assert_problem(await other_api.http.get(url), 404)
        assert problem["type"] == "urn:chargeledger:problem:not-found"
        assert_problem(await other_api.http.put(url, json={"value": 99}), 404)
    assert await get_capacity(api, entity["id"]) == {"value": 40.0, "unit": "kWh"}


# ---- state-of-charge sessions -----------------------------------------------------------


async def test_a_soc_only_session_without_capacity_has_null_energy_then_is_measured(
    api: TenantApi,
) -> None:
    """State of charge 20 % at 06:00Z and 06:15Z, rising 2.5 % per 15 min to 80 % at 12:15Z.
    The session's edge intervals are 06:15->06:30Z and 12:00->12:15Z (the first and last
    rising step).
    - Without a capacity its energy is unknown, but not when it flowed: the edges are
      estimated in points of charge, 2.5 % at the average 10 %/h = 15 min, the whole edge
      interval: start 06:15:00Z, end 12:15:00Z, as with any capacity below. Every
      charge.total value, averagePower and energyUncertainty are null.
    - After PUT 64 kWh the same session (same id and created) has (80 - 20) % x 64 kWh =
      38.4 kWh, all in t1 (no calendar). Each edge holds 2.5 % x 64 = 1.6 kWh, at the average
      rate 38.4 kWh / 6 h (06:15..12:15, its 24 intervals) = 6.4 kW: 1.6 / 6.4 h = 15 min,
      the whole edge interval: start 06:15:00Z, end 12:15:00Z; averagePower 38.4 / 6 h =
      6.4 kW. energyUncertainty: one step of the reported state of charge x capacity; the
      values have half points (22.5 %), so the step is 0.5 %: 0.5 % x 64 = 0.32 kWh.
    - Changing the capacity to 50 kWh measures it again: 60 % x 50 = 30.0 kWh, the edges at
      1.25 kWh / 5 kW = 15 min, still 06:15..12:15Z: 30.0 / 6 h = 5.0 kW; 0.5 % x 50 =
      0.25 kWh."""
    entity = await api.create_entity("EV")
    await post_readings(api, entity["id"], soc_only_trace(datetime(2024, 3, 11, 6, 0, tzinfo=UTC)))

    [before] = await sessions(api, entity["id"], "2024-03-11T00:00:00Z")
    assert before["data"]["start"] == "2024-03-11T06:15:00Z"
    assert before["data"]["end"] == "2024-03-11T12:15:00Z"
    assert before["data"]["method"] == "stateOfCharge"
    assert before["data"]["energyMethod"] is None
    assert before["data"]["charge"] == {
        "averagePower": {"unit": "kW", "value": None},
        "end": {"unit": "%", "value": 80.0},
        "start": {"unit": "%", "value": 20.0},
        "total": NULL_TOTAL,
    }
    assert before["data"]["energyUncertainty"] == {"unit": "kWh", "value": None}

    await put_capacity(api, entity["id"], {"value": 64})

    [after] = await sessions(api, entity["id"], "2024-03-11T00:00:00Z")
    assert (after["id"], after["created"]) == (before["id"], before["created"])
    assert after["data"]["energyMethod"] == "stateOfCharge"
    assert after["data"]["method"] == "stateOfCharge"
    assert (after["data"]["start"], after["data"]["end"]) == (
        "2024-03-11T06:15:00Z",
        "2024-03-11T12:15:00Z",
    )
    assert after["data"]["charge"] == {
        "averagePower": {"unit": "kW", "value": 6.4},
        "end": {"unit": "%", "value": 80.0},
        "start": {"unit": "%", "value": 20.0},
        "total": {"t1": 38.4, "t2": 0.0, "t3": 0.0, "t4": 0.0, "total": 38.4, "unit": "kWh"},
    }
    assert after["data"]["energyUncertainty"] == {"unit": "kWh", "value": 0.32}

    await put_capacity(api, entity["id"], {"value": 50})

    [changed] = await sessions(api, entity["id"], "2024-03-11T00:00:00Z")
    assert changed["id"] == before["id"]
    assert changed["data"]["charge"]["total"] == {
        "t1": 30.0,
        "t2": 0.0,
        "t3": 0.0,
        "t4": 0.0,
        "total": 30.0,
        "unit": "kWh",
    }
    assert (changed["data"]["start"], changed["data"]["end"]) == (
        "2024-03-11T06:15:00Z",
        "2024-03-11T12:15:00Z",
    )
    assert changed["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.0}
    assert changed["data"]["energyUncertainty"] == {"unit": "kWh", "value": 0.25}


async def test_a_capacity_set_first_measures_soc_sessions_as_they_are_detected(
    api: TenantApi,
) -> None:
    """Capacity 75 kWh before the readings arrive: the session is measured at once,
    60 % x 75 kWh = 45.0 kWh over 6 h = 7.5 kW."""
    entity = await api.create_entity("EV")
    await put_capacity(api, entity["id"], {"value": 75})

    await post_readings(api, entity["id"], soc_only_trace(datetime(2024, 3, 12, 6, 0, tzinfo=UTC)))

    [session] = await sessions(api, entity["id"], "2024-03-12T00:00:00Z")
    assert session["data"]["energyMethod"] == "stateOfCharge"
    assert session["data"]["charge"]["total"] == {
        "t1": 45.0,
        "t2": 0.0,
        "t3": 0.0,
        "t4": 0.0,
        "total": 45.0,
        "unit": "kWh",
    }
    assert session["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 7.5}


async def test_the_soc_energy_is_split_by_the_calendar_along_the_soc_profile(
    api: TenantApi,
) -> None:
    """BE-day-night, capacity 64 kWh, a weekday night in March (CET, UTC+1): SoC rises 2.5 %
    per 15 min from Tue 2024-03-12 19:15Z to 01:15Z (20:15..02:15 local). Each step is
    2.5 % x 64 = 1.6 kWh. Steps before 21:00Z (22:00 local): 19:15Z..21:00Z = 7 steps =
    11.2 kWh in t1; the other 17 steps = 27.2 kWh in t2; total 38.4 kWh."""
    entity = await api.create_entity("EV")
    calendar = await api.http.put(
        f"/v1/entities/{entity['id']}/tariff-calendar", json={"preset": "BE-day-night"}
    )
    assert calendar.status_code == 200, calendar.text
    await put_capacity(api, entity["id"], {"value": 64})

    await post_readings(api, entity["id"], soc_only_trace(datetime(2024, 3, 12, 19, 0, tzinfo=UTC)))

    [session] = await sessions(api, entity["id"], "2024-03-12T12:00:00Z")
    assert (session["data"]["start"], session["data"]["end"]) == (
        "2024-03-12T19:15:00Z",
        "2024-03-13T01:15:00Z",
    )
    assert session["data"]["charge"]["total"] == {
        "t1": 11.2,
        "t2": 27.2,
        "t3": 0.0,
        "t4": 0.0,
        "total": 38.4,
        "unit": "kWh",
    }


async def test_a_counter_measured_session_ignores_the_capacity(api: TenantApi) -> None:
    """A session with an energy counter (0.5 kWh per 15 min for 2 h = 4.0 kWh, SoC 40 -> 50 %)
    keeps its counter energy when a capacity is set: 10 % x 64 kWh = 6.4 kWh is not used."""
    entity = await api.create_entity("EV")
    first = datetime(2024, 3, 13, 9, 0, tzinfo=UTC)
    readings = [
        {
            "timestamp": iso(first + timedelta(minutes=15 * step)),
            "isCharging": 0 < step <= 8,
            "stateOfCharge": {"unit": "%", "value": 40.0 + 1.25 * max(0, min(step, 9) - 1)},
            "positiveActiveEnergy": {
                "total": 100.0 + 0.5 * max(0, min(step, 9) - 1),
                "unit": "kWh",
            },
        }
        for step in range(11)
    ]
    await post_readings(api, entity["id"], readings)
    [before] = await sessions(api, entity["id"], "2024-03-13T00:00:00Z")
    assert before["data"]["energyMethod"] == "counter"
    assert before["data"]["charge"]["total"]["total"] == 4.0
    assert before["data"]["charge"]["start"]["value"] == 40.0
    assert before["data"]["charge"]["end"]["value"] == 50.0

    await put_capacity(api, entity["id"], {"value": 64})

    [after] = await sessions(api, entity["id"], "2024-03-13T00:00:00Z")
    assert after == before
