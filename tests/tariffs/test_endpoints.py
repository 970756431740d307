"""Tariff calendars over HTTP (PUT/GET /v1/entities/{id}/tariff-calendar and a Location's
own calendar): presets expanded in the answer, custom calendars, validation problems,
validFrom versions, and the t1..t4 split of sessions posted with only a total (constant
power) or detected from readings (their energy profile).

Europe/Brussels is UTC+2 in summer (CEST) and UTC+1 in winter (CET); BE-day-night meters t1
on working days 07:00-22:00 local and t2 at every other time, all weekend and on Belgian
public holidays."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import TenantApi

PROBLEM_KEYS = {"type", "title", "status", "detail"}
INVALID_INPUT = "urn:chargeledger:problem:invalid-input"
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
HOME = (50.87405, 4.70043)
OFFICE = (50.84640, 4.35250)  # Brussels, ~25 km from HOME

BE_DAY_NIGHT_RULES = [
    {"register": "t2", "days": ["sat", "sun", "holiday"], "from": "00:00", "to": "00:00"},
    {"register": "t1", "days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:00", "to": "22:00"},
]


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


def calendar_url(entity_id: str, location_id: str | None = None) -> str:
    if location_id is None:
        return f"/v1/entities/{entity_id}/tariff-calendar"
    return f"/v1/entities/{entity_id}/locations/{location_id}/tariff-calendar"


async def put_calendar(
    api: TenantApi, entity_id: str, body: dict[str, Any], location_id: str | None = None
) -> dict[str, Any]:
    response = await api.http.put(calendar_url(entity_id, location_id), json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    version: dict[str, Any] = response.json()
    return version


async def get_calendar(
    api: TenantApi, entity_id: str, location_id: str | None = None
) -> dict[str, Any]:
    response = await api.http.get(calendar_url(entity_id, location_id))
    assert response.status_code == 200, response.text
    versions: dict[str, Any] = response.json()
    return versions


def flat_calendar(register: str) -> dict[str, Any]:
    """A single-register calendar: everything in `register`."""
    return {"timeZone": "Europe/Brussels", "rules": [], "defaultRegister": register}


def total_only(
    external_id: str, start: str, end: str, total_kwh: float, position: Any = None
) -> dict[str, Any]:
    """A session posted with charge.total.total but no t1..t4."""
    body: dict[str, Any] = {
        "externalId": external_id,
        "start": start,
        "end": end,
        "charge": {"total": {"total": total_kwh, "unit": "kWh"}},
    }
    if position is not None:
        body["location"] = {"latitude": position[0], "longitude": position[1], "accuracy": 5}
    return body


async def post_session(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post_session(entity_id, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def totals(api: TenantApi, entity_id: str, session_id: str) -> dict[str, Any]:
    """charge.total of a stored session, read back through GET .../charge-sessions/{id}."""
    response = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")
    assert response.status_code == 200, response.text
    total: dict[str, Any] = response.json()["data"]["charge"]["total"]
    return total


def tiers(t1: float, t2: float, t3: float, t4: float) -> dict[str, Any]:
    return {
        "t1": t1,
        "t2": t2,
        "t3": t3,
        "t4": t4,
        "total": round(t1 + t2 + t3 + t4, 3),
        "unit": "kWh",
    }


# ---- presets and custom calendars ---------------------------------------------------------


async def test_no_calendar_is_an_empty_list(api: TenantApi) -> None:
    entity = await api.create_entity("EV")

    assert await get_calendar(api, entity["id"]) == {"data": []}


async def test_belgian_preset_is_answered_expanded(api: TenantApi) -> None:
    """PUT {"preset": "BE-day-night"} answers the calendar it stands for: Europe/Brussels,
    holidays of BE, t2 all weekend and on holidays, t1 07:00-22:00 on working days, t2 by
    default; valid since always (the epoch). GET lists that one version."""
    entity = await api.create_entity("EV")

    version = await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    assert str(uuid.UUID(version["id"])) == version["id"]
    assert version == {
        "id": version["id"],
        "validFrom": "1970-01-01T00:00:00Z",
        "timeZone": "Europe/Brussels",
        "country": "BE",
        "subdivision": None,
        "ignoredHolidays": [],
        "defaultRegister": "t2",
        "rules": BE_DAY_NIGHT_RULES,
    }
    assert await get_calendar(api, entity["id"]) == {"data": [version]}


async def test_dutch_preset_is_answered_expanded(api: TenantApi) -> None:
    """NL-normal-low: Europe/Amsterdam, holidays of NL except Good Friday, t1 (low) all
    weekend and on holidays, t2 (normal) 07:00-23:00 on working days, t1 by default."""
    entity = await api.create_entity("EV")

    version = await put_calendar(
        api, entity["id"], {"preset": "NL-normal-low", "validFrom": "2024-01-01T00:00:00+01:00"}
    )

    assert version == {
        "id": version["id"],
        "validFrom": "2023-12-31T23:00:00Z",
        "timeZone": "Europe/Amsterdam",
        "country": "NL",
        "subdivision": None,
        # Dutch meters treat Good Friday as a working day (README, presets)
        "ignoredHolidays": ["Good Friday"],
        "defaultRegister": "t1",
        "rules": [
            {"register": "t1", "days": ["sat", "sun", "holiday"], "from": "00:00", "to": "00:00"},
            {
                "register": "t2",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "from": "07:00",
                "to": "23:00",
            },
        ],
    }
    assert await get_calendar(api, entity["id"]) == {"data": [version]}


async def test_custom_calendar_round_trips(api: TenantApi) -> None:
    """A calendar of one's own (four registers, a wrapping rule, a subdivision, an ignored
    holiday) comes back as given; versions are listed oldest first, whatever order they were
    put in. ignoredHolidays left out is answered as []."""
    entity = await api.create_entity("EV")
    custom = {
        "timeZone": "Europe/Berlin",
        "country": "DE",
        "subdivision": "BY",
        "ignoredHolidays": ["Epiphany"],
        "defaultRegister": "t2",
        "rules": [
            {"register": "t4", "days": ["holiday"], "from": "00:00", "to": "00:00"},
            {
                "register": "t3",
                "days": ["mon", "tue", "wed", "thu", "fri"],
                "from": "17:00",
                "to": "20:00",
            },
            {"register": "t1", "days": ALL_DAYS, "from": "22:00", "to": "06:00"},
        ],
    }

    later = await put_calendar(api, entity["id"], {**custom, "validFrom": "2024-07-01T00:00:00Z"})
    earlier = await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    assert later == {"id": later["id"], "validFrom": "2024-07-01T00:00:00Z", **custom}
    assert earlier["validFrom"] == "1970-01-01T00:00:00Z"
    assert await get_calendar(api, entity["id"]) == {"data": [earlier, later]}
    plain = await put_calendar(
        api, entity["id"], {**flat_calendar("t3"), "validFrom": "2024-08-01T00:00:00Z"}
    )
    assert plain == {
        "id": plain["id"],
        "validFrom": "2024-08-01T00:00:00Z",
        "timeZone": "Europe/Brussels",
        "country": None,
        "subdivision": None,
        "ignoredHolidays": [],
        "defaultRegister": "t3",
        "rules": [],
    }


async def test_a_version_with_the_same_valid_from_replaces_the_earlier_one(api: TenantApi) -> None:
    entity = await api.create_entity("EV")
    valid_from = "2024-03-01T00:00:00Z"

    await put_calendar(api, entity["id"], {**flat_calendar("t3"), "validFrom": valid_from})
    replacement = await put_calendar(
        api, entity["id"], {**flat_calendar("t4"), "validFrom": valid_from}
    )

    listed = await get_calendar(api, entity["id"])
    assert listed == {"data": [replacement]}
    assert replacement["defaultRegister"] == "t4"


# ---- validation -----------------------------------------------------------------------------

BAD_CALENDARS: list[tuple[str, dict[str, Any], str]] = [
    ("bad zone", {**flat_calendar("t1"), "timeZone": "Mars/Olympus"}, "timeZone"),
    ("no zone", {"rules": [], "defaultRegister": "t1"}, "timeZone"),
    (
        "bad register",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t5", "days": ["mon"], "from": "07:00", "to": "22:00"}],
        },
        "rules.0.register",
    ),
    ("bad default register", {**flat_calendar("t0")}, "defaultRegister"),
    (
        "preset plus rules",
        {"preset": "BE-day-night", "rules": BE_DAY_NIGHT_RULES},
        "preset",
    ),
    ("preset plus zone", {"preset": "NL-normal-low", "timeZone": "Europe/Amsterdam"}, "preset"),
    ("unknown preset", {"preset": "FR-tempo"}, "preset"),
    ("preset plus ignored holidays", {"preset": "BE-day-night", "ignoredHolidays": []}, "preset"),
    (
        "bad day",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t1", "days": ["funday"], "from": "07:00", "to": "22:00"}],
        },
        "rules.0.days.0",
    ),
    (
        "no days",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t1", "days": [], "from": "07:00", "to": "22:00"}],
        },
        "rules.0.days",
    ),
    (
        "from 25:00",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t1", "days": ["mon"], "from": "25:00", "to": "07:00"}],
        },
        "rules.0.from",
    ),
    (
        "to 07:60",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t1", "days": ["mon"], "from": "06:00", "to": "07:60"}],
        },
        "rules.0.to",
    ),
    (
        "from 7:00",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t1", "days": ["mon"], "from": "7:00", "to": "22:00"}],
        },
        "rules.0.from",
    ),
    (
        "holiday without country",
        {
            "timeZone": "Europe/Brussels",
            "rules": [{"register": "t2", "days": ["holiday"], "from": "00:00", "to": "00:00"}],
        },
        "country",
    ),
    ("unknown country", {**flat_calendar("t1"), "country": "XX"}, "country"),
    ("unknown field", {**flat_calendar("t1"), "currency": "EUR"}, "currency"),
    (
        "valid from without zone",
        {**flat_calendar("t1"), "validFrom": "2024-03-01T00:00:00"},
        "validFrom",
    ),
]


# Where either of two fields can be called the bad one.
NAME_ALTERNATIVES = {"country": {"country", "rules.0.days", "rules.0.days.0"}}


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in BAD_CALENDARS],
)
async def test_an_invalid_calendar_is_a_400_problem_and_nothing_is_stored(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    """Each invalid calendar: 400 invalid-input problem with an `errors` list; no version is
    stored, for the entity or for a location."""
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"])

    for location_id in (None, location["id"]):
        response = await api.http.put(calendar_url(entity["id"], location_id), json=body)

        problem = assert_problem(response, 400)
        assert problem["type"] == INVALID_INPUT
        assert problem["errors"]
        assert await get_calendar(api, entity["id"], location_id) == {"data": []}


@pytest.mark.parametrize(
    ("body", "field"),
    [pytest.param(body, field, id=name) for name, body, field in BAD_CALENDARS],
)
async def test_an_invalid_calendar_problem_names_the_bad_field(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    """README, Errors: validation errors list one entry per bad parameter, body fields dotted
    (`charge.total.t1`); so a bad time zone names `timeZone`, a bad `from` `rules.0.from`."""
    entity = await api.create_entity("EV")

    response = await api.http.put(calendar_url(entity["id"]), json=body)

    problem = assert_problem(response, 400)
    acceptable = NAME_ALTERNATIVES.get(field, {field})
    assert len(problem["errors"]) == 1, problem
    assert problem["errors"][0]["in"] == "body"
    assert problem["errors"][0]["name"] in acceptable, problem


async def test_calendars_of_unknown_or_foreign_entities_and_locations_are_404(
    api: TenantApi, other_api: TenantApi
) -> None:
    entity = await api.create_entity("EV")
    location = await api.create_location(entity["id"])
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    preset = {"preset": "BE-day-night"}

    for url in (
        calendar_url(entity["id"]),
        calendar_url(entity["id"], location["id"]),
        calendar_url(str(uuid.uuid4())),
    ):
        assert_problem(await other_api.http.get(url), 404)
        assert_problem(await other_api.http.put(url, json=preset), 404)
    unknown_location = calendar_url(entity["id"], str(uuid.uuid4()))
    assert_problem(await api.http.get(unknown_location), 404)
    assert_problem(await api.http.put(unknown_location, json=preset), 404)
    assert len((await get_calendar(api, entity["id"]))["data"]) == 1
    assert await get_calendar(api, entity["id"], location["id"]) == {"data": []}


# ---- splitting sessions posted with only a total (constant power) ---------------------------


async def test_total_only_sessions_are_split_at_constant_power_with_the_belgian_preset(
    api: TenantApi,
) -> None:
    """With BE-day-night (June: CEST, UTC+2):
    - Mon 2024-06-03 20:00Z..Tue 02:00Z = 22:00..04:00 local: night, 12 kWh all t2;
    - Mon 05:00Z..07:00Z = 07:00..09:00 local: day, 14.8 kWh all t1;
    - Mon 19:00Z..21:00Z = 21:00..23:00 local: 1 h day + 1 h night, 11 kWh = 5.5 + 5.5;
    - Fri 2024-06-07 19:00Z..Sat 02:00Z = Fri 21:00..Sat 04:00: 1 h t1 + 6 h t2,
      7 kWh / 7 h = 1 kWh per hour: t1 1.0, t2 6.0;
    - Sat 2024-06-08 08:00Z..10:00Z = 10:00..12:00 on a Saturday: 9 kWh all t2;
    - Thu 2024-05-09 (Ascension Day, a Belgian holiday) 08:00Z..10:00Z: 9 kWh all t2;
    - Mon 2024-06-03 04:30Z..05:30Z = 06:30..07:30 local: 3 kWh = 1.5 t2 + 1.5 t1."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    cases = [
        ("2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 12.0, tiers(0.0, 12.0, 0.0, 0.0)),
        ("2024-06-03T05:00:00Z", "2024-06-03T07:00:00Z", 14.8, tiers(14.8, 0.0, 0.0, 0.0)),
        ("2024-06-03T19:00:00Z", "2024-06-03T21:00:00Z", 11.0, tiers(5.5, 5.5, 0.0, 0.0)),
        ("2024-06-07T19:00:00Z", "2024-06-08T02:00:00Z", 7.0, tiers(1.0, 6.0, 0.0, 0.0)),
        ("2024-06-08T08:00:00Z", "2024-06-08T10:00:00Z", 9.0, tiers(0.0, 9.0, 0.0, 0.0)),
        ("2024-05-09T08:00:00Z", "2024-05-09T10:00:00Z", 9.0, tiers(0.0, 9.0, 0.0, 0.0)),
        ("2024-06-03T04:30:00Z", "2024-06-03T05:30:00Z", 3.0, tiers(1.5, 1.5, 0.0, 0.0)),
    ]

    for index, (start, end, total, expected) in enumerate(cases):
        posted = await post_session(
            api, entity["id"], total_only(f"be-split-{index}", start, end, total)
        )

        assert posted["data"]["charge"]["total"] == expected, (start, end)
        assert await totals(api, entity["id"], posted["id"]) == expected


async def test_total_only_sessions_are_split_with_the_dutch_preset(api: TenantApi) -> None:
    """NL-normal-low (Europe/Amsterdam, CEST in June): t2 normal on working days
    07:00-23:00, t1 low otherwise.
    - Mon 2024-06-03 05:00Z..07:00Z = 07:00..09:00 local: 8 kWh all t2;
    - Mon 21:00Z..23:00Z = 23:00..01:00 local: 8 kWh all t1;
    - Mon 20:00Z..22:00Z = 22:00..00:00 local: 1 h t2 + 1 h t1, 8 kWh = 4 + 4;
    - Good Friday 2024-03-29 08:00Z..10:00Z (09:00..11:00 CET): the preset ignores that
      holiday, so it is a working day: 8 kWh all t2;
    - Ascension Day 2024-05-09 08:00Z..10:00Z: a holiday, 8 kWh all t1."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "NL-normal-low"})

    normal = await post_session(
        api, entity["id"], total_only("nl-1", "2024-06-03T05:00:00Z", "2024-06-03T07:00:00Z", 8)
    )
    low = await post_session(
        api, entity["id"], total_only("nl-2", "2024-06-03T21:00:00Z", "2024-06-03T23:00:00Z", 8)
    )
    both = await post_session(
        api, entity["id"], total_only("nl-3", "2024-06-03T20:00:00Z", "2024-06-03T22:00:00Z", 8)
    )

    good_friday = await post_session(
        api, entity["id"], total_only("nl-4", "2024-03-29T08:00:00Z", "2024-03-29T10:00:00Z", 8)
    )
    ascension = await post_session(
        api, entity["id"], total_only("nl-5", "2024-05-09T08:00:00Z", "2024-05-09T10:00:00Z", 8)
    )

    assert normal["data"]["charge"]["total"] == tiers(0.0, 8.0, 0.0, 0.0)
    assert low["data"]["charge"]["total"] == tiers(8.0, 0.0, 0.0, 0.0)
    assert both["data"]["charge"]["total"] == tiers(4.0, 4.0, 0.0, 0.0)
    assert good_friday["data"]["charge"]["total"] == tiers(0.0, 8.0, 0.0, 0.0)
    assert ascension["data"]["charge"]["total"] == tiers(8.0, 0.0, 0.0, 0.0)


async def test_total_only_sessions_on_the_nights_the_clocks_change(api: TenantApi) -> None:
    """A calendar with t3 01:00-04:00 and t4 04:00-06:00 local (t1 otherwise), constant power.
    - Spring, Sat 30 -> Sun 31 March 2024, 22:00Z..03:00Z (5 real hours), 20 kWh = 4 kWh/h:
      22:00Z = 23:00 CET, 00:00Z = 01:00 CET, 01:00Z = 03:00 CEST, 02:00Z = 04:00 CEST;
      t1 2 h = 8, t3 00:00Z..02:00Z 2 h = 8, t4 02:00Z..03:00Z 1 h = 4.
    - Autumn, Sat 26 -> Sun 27 October 2024, 22:00Z..04:00Z (6 real hours), 24 kWh:
      23:00Z = 01:00 CEST, 01:00Z = 02:00 CET (again), 03:00Z = 04:00 CET;
      t1 22:00Z..23:00Z = 4, t3 23:00Z..03:00Z 4 h = 16, t4 03:00Z..04:00Z = 4."""
    entity = await api.create_entity("EV")
    await put_calendar(
        api,
        entity["id"],
        {
            "timeZone": "Europe/Brussels",
            "defaultRegister": "t1",
            "rules": [
                {"register": "t3", "days": ALL_DAYS, "from": "01:00", "to": "04:00"},
                {"register": "t4", "days": ALL_DAYS, "from": "04:00", "to": "06:00"},
            ],
        },
    )

    spring = await post_session(
        api, entity["id"], total_only("dst-1", "2024-03-30T22:00:00Z", "2024-03-31T03:00:00Z", 20)
    )
    autumn = await post_session(
        api, entity["id"], total_only("dst-2", "2024-10-26T22:00:00Z", "2024-10-27T04:00:00Z", 24)
    )

    assert spring["data"]["charge"]["total"] == tiers(8.0, 0.0, 8.0, 4.0)
    assert autumn["data"]["charge"]["total"] == tiers(4.0, 0.0, 16.0, 4.0)


async def test_the_first_matching_rule_wins_and_wrapping_rules_belong_to_their_start_day(
    api: TenantApi,
) -> None:
    """Rules, in order: t3 Fri 22:00-07:00 (wraps into Saturday), t2 all Sat and Sun, t4 Mon
    18:00-24:00; t1 by default. Constant power, 1 kWh per hour (CEST, UTC+2):
    - Fri 2024-06-07 19:00Z..Sat 06:00Z = Fri 21:00..Sat 08:00 local, 11 kWh: Fri
      21:00-22:00 t1 = 1; Fri 22:00..Sat 07:00 t3 = 9 (the Friday rule comes first, so it
      wins over the weekend rule on Saturday morning); Sat 07:00-08:00 t2 = 1;
    - Mon 2024-06-10 15:00Z..23:00Z = Mon 17:00..Tue 01:00, 8 kWh: 17:00-18:00 t1 = 1,
      18:00-24:00 t4 = 6, Tue 00:00-01:00 t1 = 1 ('24:00' ends at midnight, no wrap).
    With the weekend rule first instead, Saturday 00:00-07:00 is t2: Fri 21-22 t1 = 1,
    Fri 22-24 t3 = 2, Sat 00-08 t2 = 8."""
    friday_night = {"register": "t3", "days": ["fri"], "from": "22:00", "to": "07:00"}
    weekend = {"register": "t2", "days": ["sat", "sun"], "from": "00:00", "to": "00:00"}
    monday_evening = {"register": "t4", "days": ["mon"], "from": "18:00", "to": "24:00"}
    friday_first = await api.create_entity("EV")
    weekend_first = await api.create_entity("EV")
    await put_calendar(
        api,
        friday_first["id"],
        {"timeZone": "Europe/Brussels", "rules": [friday_night, weekend, monday_evening]},
    )
    await put_calendar(
        api,
        weekend_first["id"],
        {"timeZone": "Europe/Brussels", "rules": [weekend, friday_night, monday_evening]},
    )
    friday = total_only("rules-fri", "2024-06-07T19:00:00Z", "2024-06-08T06:00:00Z", 11)
    monday = total_only("rules-mon", "2024-06-10T15:00:00Z", "2024-06-10T23:00:00Z", 8)

    first_friday = await post_session(api, friday_first["id"], friday)
    first_monday = await post_session(api, friday_first["id"], monday)
    other_friday = await post_session(api, weekend_first["id"], friday)

    assert first_friday["data"]["charge"]["total"] == tiers(1.0, 1.0, 9.0, 0.0)
    assert first_monday["data"]["charge"]["total"] == tiers(2.0, 0.0, 0.0, 6.0)
    assert other_friday["data"]["charge"]["total"] == tiers(1.0, 8.0, 2.0, 0.0)


async def test_a_total_only_session_in_wh_repeats_and_corrections(api: TenantApi) -> None:
    """Mon 2024-06-03 19:00Z..21:00Z (21:00..23:00 local) with BE-day-night: 11000 Wh is
    11.0 kWh = 5.5 t1 + 5.5 t2 (201); the same body again is a repeat (200, same record);
    a correction to 12 kWh is split again: 6.0 + 6.0 (200, same id)."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    body = {
        "externalId": "wh-total",
        "start": "2024-06-03T19:00:00Z",
        "end": "2024-06-03T21:00:00Z",
        "charge": {"total": {"total": 11000, "unit": "Wh"}},
    }

    created = await api.post_session(entity["id"], body)
    repeated = await api.post_session(entity["id"], body)
    corrected = await api.post_session(
        entity["id"], {**body, "charge": {"total": {"total": 12, "unit": "kWh"}}}
    )

    assert created.status_code == 201, created.text
    assert created.json()["data"]["charge"]["total"] == tiers(5.5, 5.5, 0.0, 0.0)
    # 11 kWh / 2 h = 5.5 kW
    assert created.json()["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.5}
    assert repeated.status_code == 200, repeated.text
    assert repeated.json() == created.json()
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["id"] == created.json()["id"]
    assert corrected.json()["data"]["charge"]["total"] == tiers(6.0, 6.0, 0.0, 0.0)


async def test_without_a_calendar_a_total_is_all_t1_until_one_is_set(api: TenantApi) -> None:
    """No calendar means a single-register meter: the night session 22:00..04:00 local is
    10 kWh in t1. Setting BE-day-night splits it again at once: all 10 kWh to t2."""
    entity = await api.create_entity("EV")
    posted = await post_session(
        api,
        entity["id"],
        total_only("before-calendar", "2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 10.0),
    )
    assert posted["data"]["charge"]["total"] == tiers(10.0, 0.0, 0.0, 0.0)

    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    assert await totals(api, entity["id"], posted["id"]) == tiers(0.0, 10.0, 0.0, 0.0)


async def test_sessions_posted_with_all_four_tiers_keep_them(api: TenantApi) -> None:
    """t1..t4 given by the sender are kept as given: when posted under a calendar that would
    split otherwise, and after calendars are set or changed later."""
    entity = await api.create_entity("EV")
    given = tiers(1.0, 2.0, 3.0, 4.0)
    body = {
        "externalId": "given-tiers",
        "start": "2024-06-03T20:00:00Z",  # all night (t2) under BE-day-night
        "end": "2024-06-04T02:00:00Z",
        "charge": {"total": given},
    }
    posted = await post_session(api, entity["id"], body)
    assert posted["data"]["charge"]["total"] == given

    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    assert await totals(api, entity["id"], posted["id"]) == given
    await put_calendar(
        api, entity["id"], {**flat_calendar("t3"), "validFrom": "2024-06-01T00:00:00Z"}
    )
    assert await totals(api, entity["id"], posted["id"]) == given

    later = await post_session(api, entity["id"], {**body, "externalId": "given-tiers-2"})
    assert later["data"]["charge"]["total"] == given


@pytest.mark.parametrize(
    "partial",
    [
        {"t1": 5.0, "total": 10.0, "unit": "kWh"},
        {"t1": 5.0, "t2": 5.0, "total": 10.0, "unit": "kWh"},
        {"t1": 2.5, "t2": 2.5, "t3": 5.0, "total": 10.0, "unit": "kWh"},
        {"t4": 10.0, "total": 10.0, "unit": "kWh"},
    ],
)
async def test_partial_tiers_are_a_400(api: TenantApi, partial: dict[str, Any]) -> None:
    """Some but not all of t1..t4: 400 naming charge.total; nothing is stored."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    response = await api.post_session(
        entity["id"],
        {
            "externalId": "partial",
            "start": "2024-06-03T20:00:00Z",
            "end": "2024-06-04T02:00:00Z",
            "charge": {"total": partial},
        },
    )

    problem = assert_problem(response, 400, names=["charge.total"])
    assert problem["type"] == INVALID_INPUT
    listed = await api.list_sessions(entity["id"], start="2024-06-01T00:00:00Z")
    assert listed.json()["data"] == []


# ---- validFrom versions ---------------------------------------------------------------------


async def test_a_new_version_resplits_only_sessions_after_its_valid_from(api: TenantApi) -> None:
    """BE-day-night since always, then an all-t3 calendar valid from Fri 2024-06-07 00:00Z.
    Night sessions (22:00..04:00 local, all t2 under BE) of 10 kWh:
    - Mon 3 June: before validFrom, keeps t2 10.0;
    - Mon 10 June: after, split again at once: t3 10.0;
    - Thu 6 June 23:00Z..Fri 01:00Z (01:00..03:00 local, night): straddles validFrom, half
      (1 h of 2 h) under BE -> t2 5.0 and half under the new version -> t3 5.0.
    Sessions posted afterwards are split by the version of their time."""
    entity = await api.create_entity("EV")
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    before = await post_session(
        api, entity["id"], total_only("vf-1", "2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 10)
    )
    after = await post_session(
        api, entity["id"], total_only("vf-2", "2024-06-10T20:00:00Z", "2024-06-11T02:00:00Z", 10)
    )
    straddling = await post_session(
        api, entity["id"], total_only("vf-3", "2024-06-06T23:00:00Z", "2024-06-07T01:00:00Z", 10)
    )
    for record in (before, after, straddling):
        assert record["data"]["charge"]["total"] == tiers(0.0, 10.0, 0.0, 0.0)

    version = await put_calendar(
        api, entity["id"], {**flat_calendar("t3"), "validFrom": "2024-06-07T00:00:00Z"}
    )

    assert version["validFrom"] == "2024-06-07T00:00:00Z"
    assert await totals(api, entity["id"], before["id"]) == tiers(0.0, 10.0, 0.0, 0.0)
    assert await totals(api, entity["id"], after["id"]) == tiers(0.0, 0.0, 10.0, 0.0)
    assert await totals(api, entity["id"], straddling["id"]) == tiers(0.0, 5.0, 5.0, 0.0)
    late_old = await post_session(
        api, entity["id"], total_only("vf-4", "2024-06-04T20:00:00Z", "2024-06-05T02:00:00Z", 6)
    )
    late_new = await post_session(
        api, entity["id"], total_only("vf-5", "2024-06-11T20:00:00Z", "2024-06-12T02:00:00Z", 6)
    )
    assert late_old["data"]["charge"]["total"] == tiers(0.0, 6.0, 0.0, 0.0)
    assert late_new["data"]["charge"]["total"] == tiers(0.0, 0.0, 6.0, 0.0)
    versions = await get_calendar(api, entity["id"])
    assert [v["validFrom"] for v in versions["data"]] == [
        "1970-01-01T00:00:00Z",
        "2024-06-07T00:00:00Z",
    ]


# ---- a Location's own calendar --------------------------------------------------------------


async def test_a_locations_calendar_wins_for_sessions_matched_to_it(api: TenantApi) -> None:
    """Entity: BE-day-night. Its Home location: all t4 (a home meter of its own). A night
    session at Home (22:00..04:00 local, 10 kWh) goes to t4; the same hours at the office
    follow the entity's calendar (t2). Putting the location's calendar re-splits at once."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], latitude=HOME[0], longitude=HOME[1])
    await api.create_location(entity["id"], label="Office", latitude=OFFICE[0], longitude=OFFICE[1])
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    at_home = await post_session(
        api,
        entity["id"],
        total_only("loc-home", "2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 10, HOME),
    )
    at_office = await post_session(
        api,
        entity["id"],
        total_only("loc-office", "2024-06-04T20:00:00Z", "2024-06-05T02:00:00Z", 10, OFFICE),
    )
    assert at_home["data"]["locationMatches"][0]["location"]["id"] == home["id"]
    assert at_home["data"]["charge"]["total"] == tiers(0.0, 10.0, 0.0, 0.0)

    version = await put_calendar(api, entity["id"], flat_calendar("t4"), location_id=home["id"])

    assert version["defaultRegister"] == "t4"
    assert await get_calendar(api, entity["id"], home["id"]) == {"data": [version]}
    assert [v["timeZone"] for v in (await get_calendar(api, entity["id"]))["data"]] == [
        "Europe/Brussels"
    ]
    assert await totals(api, entity["id"], at_home["id"]) == tiers(0.0, 0.0, 0.0, 10.0)
    assert await totals(api, entity["id"], at_office["id"]) == tiers(0.0, 10.0, 0.0, 0.0)
    # A day session at home (Mon 05:00Z..07:00Z, t1 under BE) posted now: t4 as well.
    day_at_home = await post_session(
        api,
        entity["id"],
        total_only("loc-home-day", "2024-06-03T05:00:00Z", "2024-06-03T07:00:00Z", 4, HOME),
    )
    assert day_at_home["data"]["charge"]["total"] == tiers(0.0, 0.0, 0.0, 4.0)


async def test_deleting_a_location_with_a_calendar_returns_its_sessions_to_the_entitys(
    api: TenantApi,
) -> None:
    """Home has an all-t4 calendar; its night session is 10 kWh t4. Deleting Home removes its
    calendar and the match: the session is split by the entity's BE-day-night again (t2)."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], latitude=HOME[0], longitude=HOME[1])
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    await put_calendar(api, entity["id"], flat_calendar("t4"), location_id=home["id"])
    at_home = await post_session(
        api,
        entity["id"],
        total_only("del-home", "2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 10, HOME),
    )
    assert at_home["data"]["charge"]["total"] == tiers(0.0, 0.0, 0.0, 10.0)

    deleted = await api.http.delete(f"/v1/entities/{entity['id']}/locations/{home['id']}")

    assert deleted.status_code == 204, deleted.text
    assert await totals(api, entity["id"], at_home["id"]) == tiers(0.0, 10.0, 0.0, 0.0)
    assert_problem(await api.http.get(calendar_url(entity["id"], home["id"])), 404)


async def test_before_a_locations_calendar_is_valid_the_entitys_calendar_applies(
    api: TenantApi,
) -> None:
    """Home gets its own all-t4 calendar valid from 2024-06-07 only; the entity has
    BE-day-night since always. A night session at Home on Mon 3 June (22:00..04:00 local)
    predates the location's calendar, so the entity's calendar splits it: 10 kWh all t2.
    It must not matter whether the session was posted before or after the location's
    calendar was put (the first is kept by validFrom, the second must agree with it)."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], latitude=HOME[0], longitude=HOME[1])
    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})
    posted_before = await post_session(
        api,
        entity["id"],
        total_only("lvf-1", "2024-06-03T20:00:00Z", "2024-06-04T02:00:00Z", 10, HOME),
    )

    await put_calendar(
        api,
        entity["id"],
        {**flat_calendar("t4"), "validFrom": "2024-06-07T00:00:00Z"},
        location_id=home["id"],
    )
    posted_after = await post_session(
        api,
        entity["id"],
        total_only("lvf-2", "2024-06-04T20:00:00Z", "2024-06-05T02:00:00Z", 10, HOME),
    )
    in_force = await post_session(
        api,
        entity["id"],
        total_only("lvf-3", "2024-06-10T20:00:00Z", "2024-06-11T02:00:00Z", 10, HOME),
    )

    assert await totals(api, entity["id"], posted_before["id"]) == tiers(0.0, 10.0, 0.0, 0.0)
    assert in_force["data"]["charge"]["total"] == tiers(0.0, 0.0, 0.0, 10.0)
    assert posted_after["data"]["charge"]["total"] == tiers(0.0, 10.0, 0.0, 0.0)


# ---- sessions detected from readings are split by their energy profile ---------------------


def overnight_readings(first: datetime) -> list[dict[str, Any]]:
    """Every 15 min from `first` (18:00Z on a June Monday = 20:00 local): plugged in at
    18:00Z, charging 18:30Z..04:00Z at 2 kW (0.5 kWh per 15 min) until 20:00Z (22:00 local)
    and at 4 kW (1 kWh per 15 min) after, stopped at 04:00Z; readings until 05:00Z."""
    readings = []
    counter = 8000.0
    for step in range(45):  # 18:00Z .. 05:00Z
        instant = first + timedelta(minutes=15 * step)
        charging = first + timedelta(minutes=30) <= instant < first + timedelta(hours=10)
        readings.append(
            {
                "timestamp": instant.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "isCharging": charging,
                "isPluggedIn": True,
                "positiveActiveEnergy": {"total": counter, "unit": "kWh"},
            }
        )
        if charging:
            counter += 0.5 if instant < first + timedelta(hours=2) else 1.0
    return readings


async def test_a_detected_session_is_resplit_by_its_profile_when_a_calendar_is_set(
    api: TenantApi,
) -> None:
    """A counter trace Mon 2024-06-17 18:30Z..Tue 04:00Z (20:30..06:00 local): 6 steps of
    0.5 kWh before 20:00Z (22:00 local) = 3.0 kWh, 32 steps of 1 kWh after = 32.0 kWh.
    Without a calendar all 35.0 kWh are t1; with BE-day-night the split follows the energy
    profile: t1 3.0, t2 32.0 (constant power would have given t1 35 x 1.5/9.5 = 5.526)."""
    entity = await api.create_entity("EV")
    response = await api.http.post(
        f"/v1/entities/{entity['id']}/readings",
        json=overnight_readings(datetime(2024, 6, 17, 18, 0, tzinfo=UTC)),
    )
    assert response.status_code == 200, response.text
    listed = await api.list_sessions(entity["id"], start="2024-06-17T00:00:00Z")
    [session] = listed.json()["data"]
    assert session["data"]["start"] == "2024-06-17T18:30:00Z"
    assert session["data"]["end"] == "2024-06-18T04:00:00Z"
    assert session["data"]["charge"]["total"] == tiers(35.0, 0.0, 0.0, 0.0)

    await put_calendar(api, entity["id"], {"preset": "BE-day-night"})

    assert await totals(api, entity["id"], session["id"]) == tiers(3.0, 32.0, 0.0, 0.0)
