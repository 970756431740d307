"""GET /v1/entities/{entityId}/charge-sessions over HTTP: the record's shape and units as in
the seed, the half-open time frame, the order, keyset paging and its continuation tokens,
and tenant isolation of the list."""

import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.api import TenantApi, session_body

T0 = datetime(2024, 5, 27, 13, 0, tzinfo=UTC)
INSTANT_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z$")
PROBLEM_KEYS = {"type", "title", "status", "detail"}

# The key structure of one Charging Record in the seed's example (None marks a leaf).
SEED_RECORD_SHAPE: dict[str, Any] = {
    "data": {
        "charge": {
            "averagePower": {"unit": None, "value": None},
            "end": {"unit": None, "value": None},
            "start": {"unit": None, "value": None},
            "total": {"t1": None, "t2": None, "t3": None, "t4": None, "total": None, "unit": None},
        },
        "end": None,
        "location": {"address": None, "latitude": None, "longitude": None},
        "locationMatches": None,
        "range": {"start": {"unit": None, "value": None}, "end": {"unit": None, "value": None}},
        "start": None,
        # Beyond the seed, documented: how the session was found and its energy measured.
        "method": None,
        "energyMethod": None,
        "energyUncertainty": {"unit": None, "value": None},
        "idTag": None,
        "meterEvidence": None,
    },
    "entityId": None,
    "id": None,
    "created": None,
}


def at(minutes: float = 0, base: datetime = T0) -> str:
    """An instant `minutes` after 2024-05-27T13:00:00Z as RFC 3339 text (ms precision)."""
    instant = base + timedelta(minutes=minutes)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond // 1000:03d}"
    return text + "Z"


def shape(value: Any) -> Any:
    """The nested key structure of a JSON object; leaves (and lists) become None."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    return None


def assert_problem(
    response: httpx.Response, status: int, *, names: Sequence[str] = ()
) -> dict[str, Any]:
    """An RFC 9457 problem with the given status, naming each of `names` in `errors`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body.keys() in (PROBLEM_KEYS, PROBLEM_KEYS | {"errors"}), body
    assert body["status"] == status
    assert all(isinstance(body[key], str) and body[key] for key in ("type", "title", "detail"))
    named = [error["name"] for error in body.get("errors", [])]
    for name in names:
        assert name in named, body
        assert name in body["detail"], body
    return body


async def post_ok(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post_session(entity_id, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def post_many(
    api: TenantApi, entity_id: str, starts: Sequence[str], prefix: str
) -> list[dict[str, Any]]:
    """One 1-hour session per start, externalIds prefix-0, prefix-1, ..."""
    records = []
    for index, start in enumerate(starts):
        end = at(60, instant(start))
        records.append(await post_ok(api, entity_id, session_body(f"{prefix}-{index}", start, end)))
    return records


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def sort_key(record: dict[str, Any]) -> tuple[datetime, str]:
    """Where a record belongs in a list: its start, then its id as lowercase text."""
    return instant(record["data"]["start"]), record["id"]


def ordered_ids(records: Sequence[dict[str, Any]]) -> list[str]:
    """Ids in the list's order: by start, then by the id's lowercase text."""
    return [r["id"] for r in sorted(records, key=sort_key)]


async def list_ok(api: TenantApi, entity_id: str, **params: Any) -> dict[str, Any]:
    response = await api.list_sessions(entity_id, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    page: dict[str, Any] = response.json()
    return page


async def walk(api: TenantApi, entity_id: str, **params: Any) -> list[dict[str, Any]]:
    """Every page from the first, following links.next as given; the pages' bodies."""
    pages = [await list_ok(api, entity_id, **params)]
    while pages[-1]["links"]["next"] is not None:
        response = await api.http.get(pages[-1]["links"]["next"])
        assert response.status_code == 200, response.text
        pages.append(response.json())
    return pages


def listed_ids(page: dict[str, Any]) -> list[str]:
    return [record["id"] for record in page["data"]]


# ---- 1. shape and units -----------------------------------------------------------------


async def test_listed_record_has_exactly_the_seed_fields_units_and_values(api: TenantApi) -> None:
    """A full record lists every seed key at every level (none dropped, none extra), the units
    kWh/kW/%/km, the posted values, `...Z` times, a `created` instant and averagePower
    = 10 kWh / 2 h = 5.0 kW."""
    entity = await api.create_entity("EV")
    before = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    body = session_body(
        "shape-full",
        "2024-05-27T13:00:00Z",
        "2024-05-27T15:00:00Z",
        total_kwh=10.0,
        tiers_kwh=(4.0, 3.0, 2.5, 0.5),
        soc=(20.0, 80.0),
        range_km=(100.0, 400.0),
        position=(50.8, 4.7),
        address="Grote Markt 1, 1000 Brussel",
    )
    posted = await post_ok(api, entity["id"], body)
    after = datetime.now(UTC) + timedelta(seconds=1)

    page = await list_ok(api, entity["id"], start="2024-05-27T13:00:00Z")

    assert page.keys() == {"data", "links", "meta"}
    assert len(page["data"]) == 1
    record = page["data"][0]
    assert shape(record) == SEED_RECORD_SHAPE
    assert record == {
        "data": {
            "charge": {
                "averagePower": {"unit": "kW", "value": 5.0},
                "end": {"unit": "%", "value": 80.0},
                "start": {"unit": "%", "value": 20.0},
                "total": {
                    "t1": 4.0,
                    "t2": 3.0,
                    "t3": 2.5,
                    "t4": 0.5,
                    "total": 10.0,
                    "unit": "kWh",
                },
            },
            "end": "2024-05-27T15:00:00Z",
            "location": {
                "address": "Grote Markt 1, 1000 Brussel",
                "latitude": 50.8,
                "longitude": 4.7,
            },
            "locationMatches": [],
            "range": {
                "start": {"unit": "km", "value": 100.0},
                "end": {"unit": "km", "value": 400.0},
            },
            "start": "2024-05-27T13:00:00Z",
            "method": "external",
            "energyMethod": None,
            "energyUncertainty": {"unit": "kWh", "value": None},
            "idTag": None,
            "meterEvidence": None,
        },
        "entityId": entity["id"],
        "id": posted["id"],
        "created": posted["created"],
    }
    assert str(uuid.UUID(record["id"])) == record["id"]
    assert INSTANT_TEXT.match(record["created"])
    created = datetime.fromisoformat(record["created"].replace("Z", "+00:00"))
    assert before <= created <= after


async def test_unknown_values_are_null_inside_their_unit_objects(api: TenantApi) -> None:
    """A session posted with only externalId, start and end keeps every key: each unknown
    measurement is {"unit": <unit>, "value": null}, the tiers and location are null and
    locationMatches is []."""
    entity = await api.create_entity("EV")
    posted = await post_ok(
        api,
        entity["id"],
        {"externalId": "bare", "start": "2024-05-27T13:00:00Z", "end": "2024-05-27T14:30:00Z"},
    )

    page = await list_ok(api, entity["id"], start="2024-05-27T13:00:00Z")

    assert page["data"] == [
        {
            "data": {
                "charge": {
                    "averagePower": {"unit": "kW", "value": None},
                    "end": {"unit": "%", "value": None},
                    "start": {"unit": "%", "value": None},
                    "total": {
                        "t1": None,
                        "t2": None,
                        "t3": None,
                        "t4": None,
                        "total": None,
                        "unit": "kWh",
                    },
                },
                "end": "2024-05-27T14:30:00Z",
                "location": {"address": None, "latitude": None, "longitude": None},
                "locationMatches": [],
                "range": {
                    "start": {"unit": "km", "value": None},
                    "end": {"unit": "km", "value": None},
                },
                "start": "2024-05-27T13:00:00Z",
                "method": "external",
                "energyMethod": None,
                "energyUncertainty": {"unit": "kWh", "value": None},
                "idTag": None,
                "meterEvidence": None,
            },
            "entityId": entity["id"],
            "id": posted["id"],
            "created": posted["created"],
        }
    ]
    assert shape(page["data"][0]) == SEED_RECORD_SHAPE


async def test_location_matches_is_empty_without_coordinates(api: TenantApi) -> None:
    """A session with an address but no coordinates matches nothing, even with a Home location
    configured, and keeps its own address with null coordinates."""
    entity = await api.create_entity("EV")
    await api.create_location(entity["id"], address="Home street 1")
    await post_ok(
        api,
        entity["id"],
        session_body("address-only", at(0), at(60), address="Somewhere else 2"),
    )

    page = await list_ok(api, entity["id"], start=at(0))

    assert [r["data"]["locationMatches"] for r in page["data"]] == [[]]
    assert page["data"][0]["data"]["location"] == {
        "address": "Somewhere else 2",
        "latitude": None,
        "longitude": None,
    }


@pytest.mark.parametrize(
    ("total_kwh", "minutes", "expected_kw"),
    [
        (10.0, 120, 5.0),
        (7.0, 90, 4.667),
        (1.0, 180, 0.333),
        (11.0, 45, 14.667),
        (0.0, 60, 0.0),
    ],
)
async def test_average_power_is_total_over_hours_rounded_to_3_decimals(
    api: TenantApi, total_kwh: float, minutes: int, expected_kw: float
) -> None:
    """averagePower (kW) = charge.total (kWh) / duration (h), rounded to 3 decimals."""
    entity = await api.create_entity("EV")
    await post_ok(api, entity["id"], session_body("avg", at(0), at(minutes), total_kwh=total_kwh))

    page = await list_ok(api, entity["id"], start=at(0))

    assert page["data"][0]["data"]["charge"]["averagePower"] == {
        "unit": "kW",
        "value": expected_kw,
    }


# ---- 2. the frame -----------------------------------------------------------------------


async def test_frame_includes_its_start_and_excludes_its_end(api: TenantApi) -> None:
    """start <= session.start < end: a session starting exactly at `start` is listed, one
    starting exactly at `end` (or 1 ms before `start`) is not."""
    entity = await api.create_entity("EV")
    before, at_start, inside, at_end = await post_many(
        api,
        entity["id"],
        ["2024-05-27T12:59:59.999Z", at(0), at(59.999), at(60)],
        "frame",
    )

    page = await list_ok(api, entity["id"], start=at(0), end=at(60))

    assert listed_ids(page) == [at_start["id"], inside["id"]]
    assert before["id"] not in listed_ids(page)
    assert at_end["id"] not in listed_ids(page)
    later = await list_ok(api, entity["id"], start=at(60), end=at(120))
    assert listed_ids(later) == [at_end["id"]]


async def test_consecutive_frames_never_list_a_session_twice(api: TenantApi) -> None:
    """Frames [12:00, 13:00), [13:00, 14:00), [14:00, 15:00) share boundaries; sessions on
    the boundaries appear in exactly one of them, and together they list every session."""
    entity = await api.create_entity("EV")
    records = await post_many(
        api, entity["id"], [at(-60), at(-30), at(0), at(30), at(60), at(90)], "consecutive"
    )

    frames = [(at(-60), at(0)), (at(0), at(60)), (at(60), at(120))]
    seen: list[str] = []
    for start, end in frames:
        seen += listed_ids(await list_ok(api, entity["id"], start=start, end=end))

    assert seen == [r["id"] for r in records]


async def test_omitted_end_means_now(api: TenantApi) -> None:
    """Without `end` the frame ends now: a session that started in the past (even a minute ago)
    is listed, and links.next / meta are those of a single page."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(microsecond=0)
    recent = await post_ok(
        api,
        entity["id"],
        session_body("recent", at(-61, now), at(-1, now)),
    )
    old = await post_ok(api, entity["id"], session_body("old", at(0), at(60)))

    page = await list_ok(api, entity["id"], start=at(0))

    assert listed_ids(page) == [old["id"], recent["id"]]
    assert page["links"] == {"next": None}
    assert page["meta"] == {"continuationToken": None, "pageSize": 25}


async def test_end_before_start_is_a_400_problem(api: TenantApi) -> None:
    """end < start is refused with a problem naming `end` (end == start is an empty frame)."""
    entity = await api.create_entity("EV")
    await post_ok(api, entity["id"], session_body("e-b-s", at(0), at(60)))

    response = await api.list_sessions(entity["id"], start=at(0), end=at(-0.001))

    body = assert_problem(response, 400, names=["end"])
    assert body["errors"] == [
        {"name": "end", "in": "query", "detail": "end must not be before start"}
    ]
    empty = await list_ok(api, entity["id"], start=at(0), end=at(0))
    assert empty["data"] == []


async def test_start_in_space_form_or_with_offset_is_the_same_instant(api: TenantApi) -> None:
    """ "2024-05-27 13:00:00Z", "2024-05-27T15:00:00+02:00" and "2024-05-27T13:00:00Z" name
    the same frame start: each lists the 13:00Z session but not the one a second earlier."""
    entity = await api.create_entity("EV")
    earlier, at_start = await post_many(
        api, entity["id"], ["2024-05-27T12:59:59Z", "2024-05-27T13:00:00Z"], "forms"
    )
    end = "2024-05-27T16:00:00Z"

    pages = [
        await list_ok(api, entity["id"], start=start, end=end)
        for start in ("2024-05-27T13:00:00Z", "2024-05-27 13:00:00Z", "2024-05-27T15:00:00+02:00")
    ]

    assert [listed_ids(page) for page in pages] == [[at_start["id"]]] * 3
    assert pages[0] == pages[1] == pages[2]
    assert earlier["id"] not in listed_ids(pages[0])
    offset_end = await list_ok(
        api, entity["id"], start="2024-05-27T10:59:59-02:00", end="2024-05-27T15:00:00+02:00"
    )
    assert listed_ids(offset_end) == [earlier["id"]]


async def test_start_without_time_zone_is_a_400_naming_start(api: TenantApi) -> None:
    """A time without Z or an offset is not an instant: 400 with an `errors` entry for start."""
    entity = await api.create_entity("EV")

    for start in ("2024-05-27T13:00:00", "2024-05-27 13:00:00", "2024-05-27", "13:00:00Z"):
        response = await api.list_sessions(entity["id"], start=start)

        body = assert_problem(response, 400, names=["start"])
        assert [(e["name"], e["in"]) for e in body["errors"]] == [("start", "query")], start


async def test_missing_start_is_a_400_naming_start(api: TenantApi) -> None:
    """start is required."""
    entity = await api.create_entity("EV")

    body = assert_problem(await api.list_sessions(entity["id"]), 400, names=["start"])

    assert body["errors"] == [{"name": "start", "in": "query", "detail": "is required"}]


# ---- 3. order and scope -----------------------------------------------------------------


async def test_sessions_are_ordered_by_start_then_id(api: TenantApi) -> None:
    """Six sessions with one start and three with others, posted out of order, come back by
    start and, for equal starts, by the lowercase text of their UUIDs."""
    entity = await api.create_entity("EV")
    starts = [at(30), at(0), at(0), at(-30), at(0), at(0), at(0), at(0), at(30)]
    records = await post_many(api, entity["id"], starts, "order")

    page = await list_ok(api, entity["id"], start=at(-60), end=at(60))

    assert listed_ids(page) == ordered_ids(records)
    same_start = [r["id"] for r in page["data"] if r["data"]["start"] == at(0)]
    assert len(same_start) == 6
    assert same_start == sorted(same_start)
    assert all(i == i.lower() for i in same_start)
    assert [r["data"]["start"] for r in page["data"]] == sorted(starts, key=instant)


async def test_list_holds_only_that_entitys_sessions(api: TenantApi) -> None:
    """Another entity's sessions (same tenant, same frame) are not listed."""
    entity = await api.create_entity("EV")
    other = await api.create_entity("ChargePoint")
    mine = await post_many(api, entity["id"], [at(0), at(10)], "mine")
    await post_many(api, other["id"], [at(0), at(5), at(10)], "theirs")

    page = await list_ok(api, entity["id"], start=at(0), end=at(60))

    assert listed_ids(page) == ordered_ids(mine)
    assert {r["entityId"] for r in page["data"]} == {entity["id"]}


# ---- 4. paging --------------------------------------------------------------------------


async def test_page_size_defaults_to_25(api: TenantApi) -> None:
    """Without pageSize a page holds 25 records, and a 26th comes on the next page."""
    entity = await api.create_entity("EV")
    records = await post_many(api, entity["id"], [at(i) for i in range(26)], "default")

    first = await list_ok(api, entity["id"], start=at(0), end=at(60))

    assert listed_ids(first) == ordered_ids(records)[:25]
    assert first["meta"]["pageSize"] == 25
    assert first["meta"]["continuationToken"] is not None
    second = await api.http.get(first["links"]["next"])
    assert second.status_code == 200, second.text
    assert listed_ids(second.json()) == ordered_ids(records)[25:]
    assert second.json()["meta"] == {"continuationToken": None, "pageSize": 25}


async def test_page_size_1000_is_accepted(api: TenantApi) -> None:
    """1000 is the largest pageSize; it is echoed in meta."""
    entity = await api.create_entity("EV")
    records = await post_many(api, entity["id"], [at(0), at(1)], "max")

    page = await list_ok(api, entity["id"], start=at(0), pageSize=1000)

    assert listed_ids(page) == ordered_ids(records)
    assert page["meta"] == {"continuationToken": None, "pageSize": 1000}
    assert page["links"] == {"next": None}


async def test_bad_page_size_is_a_400_naming_page_size(api: TenantApi) -> None:
    """pageSize 0, 1001, -1, "abc", 1.5 or empty: a problem whose errors name pageSize."""
    entity = await api.create_entity("EV")
    await post_ok(api, entity["id"], session_body("bad-size", at(0), at(60)))

    for page_size in ("0", "1001", "-1", "abc", "1.5", ""):
        response = await api.list_sessions(entity["id"], start=at(0), pageSize=page_size)

        body = assert_problem(response, 400, names=["pageSize"])
        assert [(e["name"], e["in"]) for e in body["errors"]] == [("pageSize", "query")]


async def test_walking_60_sessions_by_7_via_links_next(api: TenantApi) -> None:
    """60 sessions (some sharing a start) walked with pageSize 7 through links.next, used
    as-is: 9 pages of 7,...,7,4, every session exactly once in (start, id) order, pageSize
    echoed, links.next an absolute URL carrying the frame, and null next/token at the end."""
    entity = await api.create_entity("EV")
    starts = [at(i // 3) for i in range(60)]  # twenty starts, three sessions each
    records = await post_many(api, entity["id"], starts, "walk")

    pages = await walk(api, entity["id"], start=at(0), end=at(60), pageSize=7)

    assert [len(page["data"]) for page in pages] == [7] * 8 + [4]
    assert [i for page in pages for i in listed_ids(page)] == ordered_ids(records)
    assert all(page["meta"]["pageSize"] == 7 for page in pages)
    base = httpx.URL(str(api.http.base_url))
    for page in pages[:-1]:
        token = page["meta"]["continuationToken"]
        assert isinstance(token, str)
        assert token
        next_url = httpx.URL(page["links"]["next"])
        assert next_url.is_absolute_url
        assert (next_url.scheme, next_url.host, next_url.port) == (
            base.scheme,
            base.host,
            base.port,
        )
        assert next_url.path == f"/v1/entities/{entity['id']}/charge-sessions"
        assert dict(next_url.params) == {
            "start": at(0),
            "end": at(60),
            "pageSize": "7",
            "continuationToken": token,
        }
    assert pages[-1]["links"] == {"next": None}
    assert pages[-1]["meta"] == {"continuationToken": None, "pageSize": 7}


async def test_exact_multiple_of_page_size_ends_without_an_empty_page(api: TenantApi) -> None:
    """With 6 sessions and pageSize 3 the second page is the last: its next and token are
    null rather than pointing at an empty third page."""
    entity = await api.create_entity("EV")
    records = await post_many(api, entity["id"], [at(i) for i in range(6)], "multiple")

    pages = await walk(api, entity["id"], start=at(0), pageSize=3)

    assert [listed_ids(page) for page in pages] == [
        ordered_ids(records)[:3],
        ordered_ids(records)[3:],
    ]
    assert pages[-1]["meta"] == {"continuationToken": None, "pageSize": 3}


async def test_token_passed_manually_with_the_same_frame(api: TenantApi) -> None:
    """meta.continuationToken works when passed by hand with the same start and either no
    end or the same end (also the same instant written another way), giving the page that
    links.next gives."""
    entity = await api.create_entity("EV")
    records = await post_many(api, entity["id"], [at(i) for i in range(5)], "manual")
    expected = ordered_ids(records)[2:4]

    first = await list_ok(api, entity["id"], start=at(0), end=at(60), pageSize=2)
    token = first["meta"]["continuationToken"]
    via_link = (await api.http.get(first["links"]["next"])).json()

    same_end = await list_ok(
        api, entity["id"], start=at(0), end=at(60), pageSize=2, continuationToken=token
    )
    no_end = await list_ok(api, entity["id"], start=at(0), pageSize=2, continuationToken=token)
    other_notation = await list_ok(
        api,
        entity["id"],
        start="2024-05-27T15:00:00+02:00",
        end="2024-05-27 14:00:00Z",
        pageSize=2,
        continuationToken=token,
    )

    assert listed_ids(via_link) == expected
    assert same_end == via_link
    assert no_end == via_link
    assert other_notation["data"] == via_link["data"]


async def test_token_from_a_frame_without_end_keeps_that_frame(api: TenantApi) -> None:
    """A first page without `end` fixes the frame's end; the token then works with end
    omitted or with that end (as links.next states it), and gives the same page."""
    entity = await api.create_entity("EV")
    records = await post_many(api, entity["id"], [at(i) for i in range(3)], "no-end")

    first = await list_ok(api, entity["id"], start=at(0), pageSize=2)
    token = first["meta"]["continuationToken"]
    fixed_end = httpx.URL(first["links"]["next"]).params["end"]
    assert INSTANT_TEXT.match(fixed_end)

    no_end = await list_ok(api, entity["id"], start=at(0), pageSize=2, continuationToken=token)
    with_end = await list_ok(
        api, entity["id"], start=at(0), end=fixed_end, pageSize=2, continuationToken=token
    )

    assert listed_ids(first) == ordered_ids(records)[:2]
    assert listed_ids(no_end) == ordered_ids(records)[2:]
    assert with_end == no_end


async def _first_token(api: TenantApi, entity_id: str) -> str:
    """Three sessions, and the token after the first page (pageSize 1, frame 13:00-14:00)."""
    await post_many(api, entity_id, [at(0), at(1), at(2)], "token")
    first = await list_ok(api, entity_id, start=at(0), end=at(60), pageSize=1)
    token: str = first["meta"]["continuationToken"]
    return token


def assert_token_refused(response: httpx.Response) -> None:
    body = assert_problem(response, 400)
    assert body["type"] == "urn:chargeledger:problem:invalid-continuation-token"
    assert "continuationToken" in body["detail"]


async def test_token_with_another_frame_is_a_400_problem(api: TenantApi) -> None:
    """A token used with a different start or end is refused (400), never served data."""
    entity = await api.create_entity("EV")
    token = await _first_token(api, entity["id"])

    for frame in (
        {"start": at(1), "end": at(60)},
        {"start": at(-1), "end": at(60)},
        {"start": at(0), "end": at(61)},
        {"start": at(0), "end": at(59.999)},
        {"start": at(0.001), "end": at(60)},
        {"start": at(1)},
    ):
        response = await api.list_sessions(
            entity["id"], **frame, pageSize=1, continuationToken=token
        )

        assert_token_refused(response)


async def test_token_on_another_entity_of_the_tenant_is_a_400_problem(api: TenantApi) -> None:
    """A token issued for one entity's list is refused on another entity's list."""
    entity = await api.create_entity("EV")
    other = await api.create_entity("EV")
    token = await _first_token(api, entity["id"])
    await post_many(api, other["id"], [at(0), at(1), at(2)], "other")

    response = await api.list_sessions(
        other["id"], start=at(0), end=at(60), pageSize=1, continuationToken=token
    )

    assert_token_refused(response)


async def test_token_across_tenants(api: TenantApi, other_api: TenantApi) -> None:
    """The other tenant cannot use the token on the issuing entity (404: invisible) nor on
    its own entity (400); the issuing tenant gets 404 on the other tenant's entity."""
    entity = await api.create_entity("EV")
    theirs = await other_api.create_entity("EV")
    token = await _first_token(api, entity["id"])
    await post_many(other_api, theirs["id"], [at(0), at(1), at(2)], "theirs")
    params = {"start": at(0), "end": at(60), "pageSize": 1, "continuationToken": token}

    on_issuing_entity = await other_api.list_sessions(entity["id"], **params)
    on_their_entity = await other_api.list_sessions(theirs["id"], **params)
    issuer_on_their_entity = await api.list_sessions(theirs["id"], **params)

    assert_problem(on_issuing_entity, 404)
    assert_token_refused(on_their_entity)
    assert_problem(issuer_on_their_entity, 404)


async def test_token_altered_by_one_character_is_a_400_problem(api: TenantApi) -> None:
    """Changing any single character of a token makes it invalid: 400, never data or 500."""
    entity = await api.create_entity("EV")
    token = await _first_token(api, entity["id"])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    statuses: dict[int, int] = {}
    for position, char in enumerate(token):
        replacement = alphabet[(alphabet.index(char) + 1) % len(alphabet)]
        altered = token[:position] + replacement + token[position + 1 :]
        response = await api.list_sessions(
            entity["id"], start=at(0), end=at(60), pageSize=1, continuationToken=altered
        )
        statuses[position] = response.status_code
        if response.status_code == 400:
            assert_token_refused(response)

    assert statuses == dict.fromkeys(range(len(token)), 400)


async def test_garbage_token_is_a_400_problem(api: TenantApi) -> None:
    """Tokens we never issued (including a well-formed one of a real token's length) are
    refused with 400 problem+json."""
    entity = await api.create_entity("EV")
    token = await _first_token(api, entity["id"])
    assert len(token) == 104  # so "A" * 104 has a real token's length (99: version 1's)

    for garbage in (
        "garbage",
        "",
        " ",
        "!!!!",
        "AAAA",
        "eyJhbGciOiJIUzI1NiJ9",
        "A" * 99,
        "A" * 104,
        "A" * 105,
        token + "=",
        token + "A",
        token[:-1],
        "%00",
    ):
        response = await api.list_sessions(
            entity["id"], start=at(0), end=at(60), continuationToken=garbage
        )

        assert_token_refused(response)


async def test_overlong_token_is_a_400_naming_continuation_token(api: TenantApi) -> None:
    """A token longer than 512 characters is refused by validation, naming the parameter."""
    entity = await api.create_entity("EV")

    response = await api.list_sessions(entity["id"], start=at(0), continuationToken="A" * 513)

    assert_problem(response, 400, names=["continuationToken"])


async def test_token_of_another_list_is_a_400_problem(api: TenantApi) -> None:
    """A token from GET /v1/entities is refused on the charge sessions list."""
    entity = await api.create_entity("EV")
    await api.create_entity("EV")
    await _first_token(api, entity["id"])
    entities = await api.http.get("/v1/entities", params={"pageSize": 1})
    assert entities.status_code == 200, entities.text
    token = entities.json()["meta"]["continuationToken"]
    assert token

    response = await api.list_sessions(
        entity["id"], start=at(0), end=at(60), continuationToken=token
    )

    assert_token_refused(response)


# ---- 5. paging while sessions are added -------------------------------------------------


async def test_sessions_added_while_paging_neither_repeat_nor_skip(api: TenantApi) -> None:
    """After page 1, sessions are added before the cursor (earlier starts, and the cursor's
    own start) and after it. Continuing, every session that existed when paging began comes
    exactly once and in order; of the new ones, exactly those after the cursor appear."""
    entity = await api.create_entity("EV")
    originals = await post_many(api, entity["id"], [at(i // 2) for i in range(20)], "orig")
    first = await list_ok(api, entity["id"], start=at(0), pageSize=5)
    assert listed_ids(first) == ordered_ids(originals)[:5]
    last = first["data"][-1]
    cursor = sort_key(last)

    added = await post_many(
        api,
        entity["id"],
        [at(0), at(0.5), last["data"]["start"], last["data"]["start"], at(1.5), at(5.5), at(30)],
        "added",
    )
    rest: list[dict[str, Any]] = []
    response = await api.http.get(first["links"]["next"])
    while True:
        assert response.status_code == 200, response.text
        rest += response.json()["data"]
        if response.json()["links"]["next"] is None:
            break
        response = await api.http.get(response.json()["links"]["next"])

    seen = listed_ids(first) + [r["id"] for r in rest]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in {r["id"] for r in originals}] == ordered_ids(originals)
    keys = [sort_key(r) for r in rest]
    assert keys == sorted(keys)
    assert all(key > cursor for key in keys)
    after_cursor = [r for r in added if sort_key(r) > cursor]
    assert {r["id"] for r in rest} - {r["id"] for r in originals} == {r["id"] for r in after_cursor}


# ---- 8. tenant isolation of the list ----------------------------------------------------


def _masked(response: httpx.Response, entity_id: str) -> bytes:
    return response.content.replace(entity_id.encode(), b"<entity>")


@pytest.mark.parametrize("entity_type", ["EV", "HeatPump"])
async def test_other_tenant_listing_gets_the_same_404_as_for_a_missing_entity(
    api: TenantApi, other_api: TenantApi, entity_type: str
) -> None:
    """Another tenant listing this tenant's entity (an EV with sessions, or a HeatPump) gets a
    404 byte-identical, apart from the id, to the 404 for an entity that does not exist."""
    entity = await api.create_entity(entity_type)
    if entity_type == "EV":
        await post_ok(api, entity["id"], session_body("iso", at(0), at(60)))
    missing_id = str(uuid.uuid4())

    foreign = await other_api.list_sessions(entity["id"], start=at(0))
    missing = await other_api.list_sessions(missing_id, start=at(0))

    body = assert_problem(foreign, 404)
    assert_problem(missing, 404)
    assert body["detail"] == f"entity {entity['id']} was not found"
    assert _masked(foreign, entity["id"]) == _masked(missing, missing_id)
    assert foreign.headers["content-type"] == missing.headers["content-type"]
    if entity_type == "EV":
        assert len((await list_ok(api, entity["id"], start=at(0)))["data"]) == 1


async def test_listing_a_heat_pump_is_a_404(api: TenantApi) -> None:
    """Charge sessions exist only for EV and ChargePoint entities."""
    entity = await api.create_entity("HeatPump")

    assert_problem(await api.list_sessions(entity["id"], start=at(0)), 404)


async def test_charge_point_entities_list_sessions(api: TenantApi) -> None:
    """A ChargePoint entity has charge sessions like an EV."""
    entity = await api.create_entity("ChargePoint")
    records = await post_many(api, entity["id"], [at(0)], "cp")

    assert listed_ids(await list_ok(api, entity["id"], start=at(0))) == ordered_ids(records)
