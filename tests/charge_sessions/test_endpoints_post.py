"""POST /v1/entities/{entityId}/charge-sessions over HTTP: creation, idempotency by
externalId and corrections, unit conversion, every validation rule, the
CaptureChargeSessions feature, entity types, and tenant isolation."""

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.support.api import TenantApi, session_body

T0 = datetime(2024, 5, 27, 13, 0, tzinfo=UTC)
PROBLEM_KEYS = {"type", "title", "status", "detail"}
MILE_KM = 1.609344


def at(minutes: float = 0, base: datetime = T0) -> str:
    """An instant `minutes` after `base` (2024-05-27T13:00:00Z) as RFC 3339 text."""
    instant = base + timedelta(minutes=minutes)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond // 1000:03d}"
    return text + "Z"


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


async def get_ok(api: TenantApi, entity_id: str, session_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def listed(api: TenantApi, entity_id: str, start: str = "2000-01-01T00:00:00Z") -> list[Any]:
    """Every record of the entity from `start` until now (one page of up to 1000)."""
    response = await api.list_sessions(entity_id, start=start, pageSize=1000)
    assert response.status_code == 200, response.text
    records: list[Any] = response.json()["data"]
    return records


def with_charge(body: dict[str, Any], **charge: Any) -> dict[str, Any]:
    return {**body, "charge": {**body["charge"], **charge}}


# ---- creation and idempotency -----------------------------------------------------------


async def test_first_post_is_201_with_the_stored_record(api: TenantApi) -> None:
    """The first POST answers 201 with the Charging Record, exactly as GET and the list
    then serve it."""
    entity = await api.create_entity("EV")
    body = session_body(
        "first", at(0), at(120), tiers_kwh=(6.0, 4.0, 0.0, 0.0), position=(50.8, 4.7)
    )

    response = await api.post_session(entity["id"], body)

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    record = response.json()
    assert record["entityId"] == entity["id"]
    assert record["data"]["start"] == "2024-05-27T13:00:00Z"
    assert record["data"]["end"] == "2024-05-27T15:00:00Z"
    assert record["data"]["charge"]["total"] == {
        "t1": 6.0,
        "t2": 4.0,
        "t3": 0.0,
        "t4": 0.0,
        "total": 10.0,
        "unit": "kWh",
    }
    assert record["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.0}
    assert record["data"]["location"] == {"address": None, "latitude": 50.8, "longitude": 4.7}
    assert await get_ok(api, entity["id"], record["id"]) == record
    assert await listed(api, entity["id"]) == [record]


async def test_same_external_id_and_body_again_is_200_with_the_same_record(
    api: TenantApi,
) -> None:
    """Posting the same externalId with the same body again answers 200 with the same id,
    created and values, and stores nothing new."""
    entity = await api.create_entity("EV")
    body = session_body("repeat", at(0), at(60), position=(50.8, 4.7), accuracy_m=12.5)
    first = await post_ok(api, entity["id"], body)

    again = await api.post_session(entity["id"], body)
    third = await api.post_session(entity["id"], body)

    assert again.status_code == 200, again.text
    assert third.status_code == 200, third.text
    assert again.json() == first
    assert third.json() == first
    assert await listed(api, entity["id"]) == [first]


async def test_same_content_in_other_units_is_a_repeat(api: TenantApi) -> None:
    """10000 Wh with 4000/6000 Wh tiers is the same content as 10 kWh with 4/6 kWh: 200 with
    the stored record unchanged."""
    entity = await api.create_entity("EV")
    body = session_body("units-repeat", at(0), at(60), tiers_kwh=(4.0, 6.0, 0.0, 0.0))
    first = await post_ok(api, entity["id"], body)
    in_wh = with_charge(
        body,
        total={"t1": 4000, "t2": 6000, "t3": 0, "t4": 0, "total": 10000, "unit": "Wh"},
    )

    again = await api.post_session(entity["id"], in_wh)

    assert again.status_code == 200, again.text
    assert again.json() == first


async def test_different_content_under_same_external_id_is_a_correction(
    api: TenantApi,
) -> None:
    """Different content under a known externalId answers 200 with the same id and created
    and the new values, which GET and the list then serve; the old values are gone and the
    session moves to its corrected start."""
    entity = await api.create_entity("EV")
    first = await post_ok(api, entity["id"], session_body("fix", at(0), at(60), total_kwh=10.0))
    corrected_body = session_body(
        "fix",
        at(30),
        at(150),
        total_kwh=7.0,
        tiers_kwh=(3.0, 2.0, 1.0, 1.0),
        soc=(10.0, 90.0),
        range_km=None,
        address="Corrected street 1",
    )

    response = await api.post_session(entity["id"], corrected_body)

    assert response.status_code == 200, response.text
    corrected = response.json()
    assert (corrected["id"], corrected["created"]) == (first["id"], first["created"])
    assert corrected["data"] == {
        "charge": {
            "averagePower": {"unit": "kW", "value": 3.5},
            "end": {"unit": "%", "value": 90.0},
            "start": {"unit": "%", "value": 10.0},
            "total": {"t1": 3.0, "t2": 2.0, "t3": 1.0, "t4": 1.0, "total": 7.0, "unit": "kWh"},
        },
        "end": "2024-05-27T15:30:00Z",
        "location": {"address": "Corrected street 1", "latitude": None, "longitude": None},
        "locationMatches": [],
        "range": {"start": {"unit": "km", "value": None}, "end": {"unit": "km", "value": None}},
        "start": "2024-05-27T13:30:00Z",
        "method": "external",
        "energyMethod": None,
        "energyUncertainty": {"unit": "kWh", "value": None},
        "idTag": None,
        "meterEvidence": None,
    }
    assert await get_ok(api, entity["id"], first["id"]) == corrected
    assert await listed(api, entity["id"]) == [corrected]
    before_correction = await api.list_sessions(entity["id"], start=at(0), end=at(30))
    assert before_correction.json()["data"] == []
    assert (await api.post_session(entity["id"], corrected_body)).json() == corrected


async def test_concurrent_posts_of_one_external_id_store_one_session(api: TenantApi) -> None:
    """Eight simultaneous POSTs of the same session: one 201, seven 200, one id, one record."""
    entity = await api.create_entity("EV")
    body = session_body("race", at(0), at(60))

    responses = await asyncio.gather(*(api.post_session(entity["id"], body) for _ in range(8)))

    assert sorted(r.status_code for r in responses) == [200] * 7 + [201], [
        r.text for r in responses
    ]
    assert len({r.json()["id"] for r in responses}) == 1
    assert len({r.json()["created"] for r in responses}) == 1
    assert [r["id"] for r in await listed(api, entity["id"])] == [responses[0].json()["id"]]


async def test_external_ids_are_per_entity(api: TenantApi) -> None:
    """The same externalId on two entities makes two sessions."""
    first_entity = await api.create_entity("EV")
    second_entity = await api.create_entity("EV")
    body = session_body("shared-external-id", at(0), at(60))

    first = await post_ok(api, first_entity["id"], body)
    second = await post_ok(api, second_entity["id"], body)

    assert first["id"] != second["id"]
    assert second["entityId"] == second_entity["id"]


# ---- units ------------------------------------------------------------------------------


async def test_units_are_converted_to_kwh_kw_and_km(api: TenantApi) -> None:
    """Energy in Wh is stored as kWh, a claimed averagePower in W is checked in kW, and
    ranges in miles are stored in km (1 mi = 1.609344 km)."""
    entity = await api.create_entity("EV")
    body = {
        "externalId": "units",
        "start": at(0),
        "end": at(120),
        "charge": {
            "averagePower": {"unit": "W", "value": 5000},
            "start": {"unit": "%", "value": 20},
            "end": {"unit": "%", "value": 80},
            "total": {"t1": 4000, "t2": 3000, "t3": 2500, "t4": 500, "total": 10000, "unit": "Wh"},
        },
        "range": {"start": {"unit": "mi", "value": 62.5}, "end": {"unit": "mi", "value": 250}},
    }

    record = await post_ok(api, entity["id"], body)

    charge = record["data"]["charge"]
    assert charge["total"] == {
        "t1": 4.0,
        "t2": 3.0,
        "t3": 2.5,
        "t4": 0.5,
        "total": 10.0,
        "unit": "kWh",
    }
    assert charge["averagePower"] == {"unit": "kW", "value": 5.0}
    assert record["data"]["range"]["start"]["unit"] == "km"
    assert record["data"]["range"]["start"]["value"] == 62.5 * MILE_KM
    assert abs(record["data"]["range"]["start"]["value"] - 100.584) < 1e-9
    assert record["data"]["range"]["end"] == {"unit": "km", "value": 250 * MILE_KM}
    assert abs(250 * MILE_KM - 402.336) < 1e-9
    assert await get_ok(api, entity["id"], record["id"]) == record


async def test_unknown_units_are_400_naming_the_unit(api: TenantApi) -> None:
    """A unit that is not an energy/power/distance/% unit is refused, naming its field."""
    entity = await api.create_entity("EV")
    base = session_body("bad-unit", at(0), at(60))
    cases: list[tuple[dict[str, Any], str]] = [
        (
            with_charge(base, total={"t1": 1, "t2": 0, "t3": 0, "t4": 0, "total": 1, "unit": "J"}),
            "charge.total.unit",
        ),
        (with_charge(base, averagePower={"unit": "kWh", "value": 10}), "charge.averagePower.unit"),
        (with_charge(base, start={"unit": "kWh", "value": 20}), "charge.start.unit"),
        ({**base, "range": {"start": {"unit": "furlong", "value": 1}}}, "range.start.unit"),
    ]

    for body, name in cases:
        assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert await listed(api, entity["id"]) == []


# ---- validation -------------------------------------------------------------------------


async def test_tier_sum_must_match_total_within_0_001_kwh(api: TenantApi) -> None:
    """t1+t2+t3+t4 off the total by 0.002 kWh (either way) is 400 naming charge.total and
    stores nothing; off by 0.001 kWh (either way) is accepted."""
    entity = await api.create_entity("EV")

    for index, tiers in enumerate([(4.0, 3.0, 2.0, 1.002), (4.0, 3.0, 2.0, 0.998)]):
        body = session_body(f"tiers-off-{index}", at(0), at(60), tiers_kwh=tiers)
        response = await api.post_session(entity["id"], body)
        problem = assert_problem(response, 400, names=["charge.total"])
        assert [e["name"] for e in problem["errors"]] == ["charge.total"]
    assert await listed(api, entity["id"]) == []

    for index, tiers in enumerate([(4.0, 3.0, 2.0, 1.001), (4.0, 3.0, 2.0, 0.999)]):
        body = session_body(
            f"tiers-ok-{index}", at(index * 60), at(index * 60 + 60), tiers_kwh=tiers
        )
        record = await post_ok(api, entity["id"], body)
        assert record["data"]["charge"]["total"] == {
            "t1": 4.0,
            "t2": 3.0,
            "t3": 2.0,
            "t4": tiers[3],
            "total": 10.0,
            "unit": "kWh",
        }


async def test_incomplete_or_negative_energy_is_400(api: TenantApi) -> None:
    """Tiers without a total, a total without all four tiers, and negative energy are
    refused, each naming the offending field."""
    entity = await api.create_entity("EV")
    base = session_body("energy", at(0), at(60))
    cases: list[tuple[dict[str, Any], str]] = [
        (with_charge(base, total={"t1": 1, "t2": 0, "t3": 0, "t4": 0}), "charge.total.total"),
        (with_charge(base, total={"t1": 1, "total": 1}), "charge.total"),
        (
            with_charge(base, total={"t1": -1, "t2": 2, "t3": 0, "t4": 0, "total": 1}),
            "charge.total.t1",
        ),
    ]

    for body, name in cases:
        assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert await listed(api, entity["id"]) == []


async def test_end_must_be_after_start(api: TenantApi) -> None:
    """end before start, and end equal to start, are 400 naming end; nothing is stored."""
    entity = await api.create_entity("EV")

    for index, end in enumerate([at(-1), at(0), at(-0.001)]):
        response = await api.post_session(entity["id"], session_body(f"order-{index}", at(0), end))
        problem = assert_problem(response, 400, names=["end"])
        assert {"name": "end", "in": "body", "detail": "end must be after start"} in problem[
            "errors"
        ]

    assert await listed(api, entity["id"]) == []


async def test_end_in_the_future_is_400(api: TenantApi) -> None:
    """A session ending a day from now is not complete: 400 naming end, nothing stored."""
    entity = await api.create_entity("EV")
    now = datetime.now(UTC).replace(microsecond=0)

    response = await api.post_session(
        entity["id"], session_body("future", at(-60, now), at(24 * 60, now))
    )

    assert_problem(response, 400, names=["end"])
    assert await listed(api, entity["id"]) == []


async def test_times_must_be_rfc3339_with_a_time_zone(api: TenantApi) -> None:
    """A naive start, a number, or a missing end are refused naming the field."""
    entity = await api.create_entity("EV")
    base = session_body("times", at(0), at(60))
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "start": "2024-05-27T13:00:00"}, "start"),
        ({**base, "start": 1716814800000}, "start"),
        ({key: value for key, value in base.items() if key != "end"}, "end"),
        ({**base, "end": "yesterday"}, "end"),
    ]

    for body, name in cases:
        assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert await listed(api, entity["id"]) == []


async def test_unknown_fields_are_400(api: TenantApi) -> None:
    """Unknown fields anywhere in the body are refused rather than ignored, naming them."""
    entity = await api.create_entity("EV")
    base = session_body("unknown", at(0), at(60), position=(50.8, 4.7))
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "colour": "red"}, "colour"),
        ({**base, "id": str(uuid.uuid4())}, "id"),
        (
            with_charge(base, total={**base["charge"]["total"], "t5": 0.0}),
            "charge.total.t5",
        ),
        ({**base, "location": {**base["location"], "altitude": 30}}, "location.altitude"),
        (
            {**base, "range": {**base["range"], "middle": {"unit": "km", "value": 1}}},
            "range.middle",
        ),
    ]

    for body, name in cases:
        assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert await listed(api, entity["id"]) == []


async def test_missing_or_empty_external_id_is_400(api: TenantApi) -> None:
    """externalId is required and not empty."""
    entity = await api.create_entity("EV")
    base = session_body("x", at(0), at(60))

    for body in ({k: v for k, v in base.items() if k != "externalId"}, {**base, "externalId": ""}):
        assert_problem(await api.post_session(entity["id"], body), 400, names=["externalId"])

    assert await listed(api, entity["id"]) == []


async def test_average_power_must_agree_with_total_and_duration(api: TenantApi) -> None:
    """10 kWh over 2 h is 5 kW: claiming 6 kW (or 6000 W) is 400 naming charge.averagePower;
    claiming 5 kW or 5000 W is accepted and stored as the computed 5.0 kW."""
    entity = await api.create_entity("EV")
    base = session_body("avg", at(0), at(120), total_kwh=10.0)

    for index, claim in enumerate([{"unit": "kW", "value": 6}, {"unit": "W", "value": 6000}]):
        body = with_charge({**base, "externalId": f"avg-bad-{index}"}, averagePower=claim)
        response = await api.post_session(entity["id"], body)
        assert_problem(response, 400, names=["charge.averagePower"])
    no_total = {
        **base,
        "externalId": "avg-no-total",
        "charge": {"averagePower": {"unit": "kW", "value": 5}},
    }
    assert_problem(
        await api.post_session(entity["id"], no_total), 400, names=["charge.averagePower"]
    )
    assert await listed(api, entity["id"]) == []

    for index, claim in enumerate([{"unit": "kW", "value": 5}, {"unit": "W", "value": 5000}]):
        body = with_charge(
            session_body(f"avg-ok-{index}", at(index * 180), at(index * 180 + 120)),
            averagePower=claim,
        )
        record = await post_ok(api, entity["id"], body)
        assert record["data"]["charge"]["averagePower"] == {"unit": "kW", "value": 5.0}


async def test_state_of_charge_must_be_a_percentage(api: TenantApi) -> None:
    """SoC 150 % (start or end) or -1 % is 400 naming the field; nothing is stored."""
    entity = await api.create_entity("EV")
    cases = [
        ((150.0, 80.0), "charge.start"),
        ((20.0, 150.0), "charge.end"),
        ((-1.0, 50.0), "charge.start"),
    ]

    for index, (soc, name) in enumerate(cases):
        body = session_body(f"soc-{index}", at(0), at(60), soc=soc)
        assert_problem(await api.post_session(entity["id"], body), 400, names=[name])

    assert await listed(api, entity["id"]) == []
    edge = await post_ok(
        api, entity["id"], session_body("soc-edge", at(0), at(60), soc=(0.0, 100.0))
    )
    assert edge["data"]["charge"]["start"] == {"unit": "%", "value": 0.0}
    assert edge["data"]["charge"]["end"] == {"unit": "%", "value": 100.0}


async def test_negative_range_is_400(api: TenantApi) -> None:
    """A negative driving range is refused naming range.start."""
    entity = await api.create_entity("EV")

    response = await api.post_session(
        entity["id"], session_body("range", at(0), at(60), range_km=(-5.0, 100.0))
    )

    assert_problem(response, 400, names=["range.start"])
    assert await listed(api, entity["id"]) == []


async def test_coordinates_must_be_on_earth_and_paired(api: TenantApi) -> None:
    """latitude 91 (or -91), longitude 181, a negative accuracy, and a latitude without a
    longitude (or the reverse) are refused naming the field; nothing is stored."""
    entity = await api.create_entity("EV")
    base = session_body("coords", at(0), at(60))
    cases: list[tuple[dict[str, Any], str]] = [
        ({**base, "location": {"latitude": 91, "longitude": 4.7}}, "location.latitude"),
        ({**base, "location": {"latitude": -91, "longitude": 4.7}}, "location.latitude"),
        ({**base, "location": {"latitude": 50.8, "longitude": 181}}, "location.longitude"),
        (
            {**base, "location": {"latitude": 50.8, "longitude": 4.7, "accuracy": -1}},
            "location.accuracy",
        ),
        ({**base, "location": {"latitude": 50.8}}, "location"),
        ({**base, "location": {"longitude": 4.7, "address": "x"}}, "location"),
    ]

    for body, name in cases:
        problem = assert_problem(await api.post_session(entity["id"], body), 400, names=[name])
        assert [e["name"] for e in problem["errors"]] == [name]

    assert await listed(api, entity["id"]) == []


async def test_a_body_that_is_not_a_json_object_is_400(api: TenantApi) -> None:
    """Malformed JSON, a JSON array, null and an empty body are 400 problems; a body sent as
    text/plain is a 415 problem."""
    entity = await api.create_entity("EV")
    url = f"/v1/entities/{entity['id']}/charge-sessions"
    headers = {"content-type": "application/json"}

    for content in (b"{", b"[]", b"", b"null"):
        response = await api.http.post(url, content=content, headers=headers)
        assert_problem(response, 400)
    as_text = await api.http.post(
        url,
        content=b'{"externalId": "text", "start": "2024-05-27T13:00:00Z"}',
        headers={"content-type": "text/plain"},
    )
    assert_problem(as_text, 415)

    assert await listed(api, entity["id"]) == []


# ---- CaptureChargeSessions and entity types ----------------------------------------------


async def set_capture(api: TenantApi, entity_id: str, enabled: bool) -> None:
    response = await api.http.patch(
        f"/v1/entities/{entity_id}/features",
        json={"feature": "CaptureChargeSessions", "enabled": enabled},
    )
    assert response.status_code == 200, response.text
    assert response.json() == [{"feature": "CaptureChargeSessions", "enabled": enabled}]


async def test_capture_disabled_refuses_sessions_with_409(api: TenantApi) -> None:
    """With CaptureChargeSessions disabled a POST is a 409 problem mentioning the feature and
    nothing is stored (not even for a known externalId); re-enabled, the same POST is 201."""
    entity = await api.create_entity("EV")
    known = await post_ok(api, entity["id"], session_body("known", at(-120), at(-60)))
    await set_capture(api, entity["id"], False)
    body = session_body("while-disabled", at(0), at(60))

    refused = await api.post_session(entity["id"], body)
    correction = await api.post_session(
        entity["id"], session_body("known", at(-120), at(-60), total_kwh=3.0)
    )

    problem = assert_problem(refused, 409)
    assert problem["type"] == "urn:chargeledger:problem:capture-disabled"
    assert "CaptureChargeSessions" in problem["detail"]
    assert_problem(correction, 409)
    assert await listed(api, entity["id"]) == [known]

    await set_capture(api, entity["id"], True)
    record = await post_ok(api, entity["id"], body)
    assert [r["id"] for r in await listed(api, entity["id"])] == [known["id"], record["id"]]


async def test_posting_to_a_heat_pump_is_404(api: TenantApi) -> None:
    """Charge sessions exist only for EV and ChargePoint entities: a HeatPump answers 404."""
    entity = await api.create_entity("HeatPump")

    response = await api.post_session(entity["id"], session_body("hp", at(0), at(60)))

    problem = assert_problem(response, 404)
    assert entity["id"] in problem["detail"]


async def test_posting_to_an_unknown_entity_is_404(api: TenantApi) -> None:
    """An entity id that does not exist answers 404; a malformed one 400 naming entityId."""
    missing = str(uuid.uuid4())

    response = await api.post_session(missing, session_body("nowhere", at(0), at(60)))
    malformed = await api.post_session("not-a-uuid", session_body("nowhere", at(0), at(60)))

    assert assert_problem(response, 404)["detail"] == f"entity {missing} was not found"
    assert_problem(malformed, 400, names=["entityId"])


# ---- tenant isolation -------------------------------------------------------------------


async def test_other_tenant_posting_gets_the_same_404_as_for_a_missing_entity(
    api: TenantApi, other_api: TenantApi
) -> None:
    """Another tenant posting to this tenant's entity (with a new externalId, or one already
    used there) gets a 404 byte-identical, apart from the id, to the 404 for an entity that
    does not exist; nothing changes for the owner."""
    entity = await api.create_entity("EV")
    known = await post_ok(api, entity["id"], session_body("owned", at(0), at(60)))
    missing_id = str(uuid.uuid4())

    for external_id in ("owned", "intruder"):
        body = session_body(external_id, at(0), at(60), total_kwh=1.0)
        foreign = await other_api.post_session(entity["id"], body)
        missing = await other_api.post_session(missing_id, body)

        assert_problem(foreign, 404)
        assert_problem(missing, 404)
        assert foreign.content.replace(entity["id"].encode(), b"<id>") == missing.content.replace(
            missing_id.encode(), b"<id>"
        )
        assert foreign.headers["content-type"] == missing.headers["content-type"]

    assert await listed(api, entity["id"]) == [known]
