"""Location matching seen through the API: a session's locationMatches and location.address
against the entity's configured locations, at posting time and after the locations change.

Expected accuracies are computed here independently: the reported position is the true one
plus a circular Gaussian error with sigma = the reported accuracy (25 m by default), so the
true distance from a location's centre is Rice distributed and P(inside) is its CDF at the
radius, rounded to 3 decimals; only matches with P >= 0.5 are listed, best first.
"""

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from scipy.stats import rice

from tests.support.api import TenantApi, session_body

T0 = datetime(2024, 5, 27, 13, 0, tzinfo=UTC)
HOME = (50.87405, 4.70043)  # TenantApi.create_location's default centre
EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius, the sphere of the haversine distance
DEFAULT_ACCURACY_M = 25.0


def at(minutes: float = 0) -> str:
    return (T0 + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


def north_of(origin: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point `metres` due north (great-circle distance on the mean-radius sphere)."""
    return origin[0] + math.degrees(metres / EARTH_MEAN_RADIUS_M), origin[1]


def east_of(origin: tuple[float, float], metres: float) -> tuple[float, float]:
    """The point on the same latitude whose haversine distance from origin is `metres`."""
    half = math.sin(metres / (2 * EARTH_MEAN_RADIUS_M)) / math.cos(math.radians(origin[0]))
    return origin[0], origin[1] + math.degrees(2 * math.asin(half))


def centre(point: tuple[float, float]) -> dict[str, float]:
    """A location body's centre fields."""
    return {"latitude": point[0], "longitude": point[1]}


def haversine_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    phi1, phi2 = math.radians(a[0]), math.radians(b[0])
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    )
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(math.sqrt(h))


def inside_probability(distance_m: float, radius_m: float, sigma_m: float) -> float:
    return float(rice.cdf(radius_m, distance_m / sigma_m, scale=sigma_m))


def expected_accuracy(distance_m: float, radius_m: float, sigma_m: float) -> float:
    """The rounded probability, after checking the case is unambiguous: neither within 0.01
    of the 0.5 threshold nor within 0.0001 of a rounding boundary, so metre-level or
    floating-point differences cannot change the answer."""
    probability = inside_probability(distance_m, radius_m, sigma_m)
    assert abs(probability - 0.5) > 0.01, probability
    assert abs((probability * 1000) % 1 - 0.5) > 0.1, probability
    return round(probability, 3)


async def post_ok(api: TenantApi, entity_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post_session(entity_id, body)
    assert response.status_code == 201, response.text
    record: dict[str, Any] = response.json()
    return record


async def stored(api: TenantApi, entity_id: str, session_id: str) -> dict[str, Any]:
    response = await api.http.get(f"/v1/entities/{entity_id}/charge-sessions/{session_id}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def listed(api: TenantApi, entity_id: str) -> dict[str, dict[str, Any]]:
    """The entity's records by id, from the list."""
    response = await api.list_sessions(entity_id, start="2000-01-01T00:00:00Z", pageSize=1000)
    assert response.status_code == 200, response.text
    return {record["id"]: record for record in response.json()["data"]}


def match(location: dict[str, Any], accuracy: float) -> dict[str, Any]:
    return {"accuracy": accuracy, "location": {"id": location["id"], "label": location["label"]}}


async def test_session_at_the_centre_matches_home_with_accuracy_1(api: TenantApi) -> None:
    """At the exact centre of a 100 m Home with no accuracy given (25 m), P = 0.99966 -> 1.0:
    one match {accuracy, location {id, label}}, and location.address falls back to Home's."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], label="Home", address="Naamsestraat 1")
    assert home["radius"] == 100.0
    assert expected_accuracy(0.0, 100.0, DEFAULT_ACCURACY_M) == 1.0

    record = await post_ok(api, entity["id"], session_body("centre", at(0), at(60), position=HOME))

    assert record["data"]["locationMatches"] == [match(home, 1.0)]
    assert record["data"]["locationMatches"][0]["location"].keys() == {"id", "label"}
    assert record["data"]["location"] == {
        "address": "Naamsestraat 1",
        "latitude": HOME[0],
        "longitude": HOME[1],
    }
    assert await stored(api, entity["id"], record["id"]) == record
    assert (await listed(api, entity["id"]))[record["id"]] == record


async def test_the_sessions_own_address_wins_over_the_matched_one(api: TenantApi) -> None:
    """A session that gives its own address keeps it even when it matches Home."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], address="Naamsestraat 1")

    record = await post_ok(
        api,
        entity["id"],
        session_body("own-address", at(0), at(60), position=HOME, address="Garage, Ladeuzeplein"),
    )

    assert record["data"]["locationMatches"] == [match(home, 1.0)]
    assert record["data"]["location"]["address"] == "Garage, Ladeuzeplein"


async def test_a_match_without_a_home_address_leaves_address_null(api: TenantApi) -> None:
    """Matching a Home that has no address leaves location.address null."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"])

    record = await post_ok(api, entity["id"], session_body("no-addr", at(0), at(60), position=HOME))

    assert record["data"]["locationMatches"] == [match(home, 1.0)]
    assert record["data"]["location"]["address"] is None


async def test_a_session_150_m_away_with_accuracy_5_does_not_match(api: TenantApi) -> None:
    """150 m from a 100 m Home with a 5 m accuracy: P ~ 6e-24, so no match, and no address
    falls back from Home."""
    entity = await api.create_entity("EV")
    await api.create_location(entity["id"], address="Naamsestraat 1")
    position = north_of(HOME, 150.0)
    assert abs(haversine_m(HOME, position) - 150.0) < 1e-6
    assert inside_probability(150.0, 100.0, 5.0) < 1e-12

    record = await post_ok(
        api, entity["id"], session_body("far", at(0), at(60), position=position, accuracy_m=5.0)
    )

    assert record["data"]["locationMatches"] == []
    assert record["data"]["location"] == {
        "address": None,
        "latitude": position[0],
        "longitude": position[1],
    }


async def test_on_the_circle_with_default_accuracy_is_below_the_threshold(
    api: TenantApi,
) -> None:
    """100 m from the centre of a 100 m Home with the default 25 m: P = rice.cdf(100, 4,
    scale=25) = 0.4497 -> 0.45 < 0.5, so it is not listed."""
    entity = await api.create_entity("EV")
    await api.create_location(entity["id"], radius=100.0)
    borderline = expected_accuracy(100.0, 100.0, DEFAULT_ACCURACY_M)
    assert borderline == 0.45

    record = await post_ok(
        api, entity["id"], session_body("edge", at(0), at(60), position=north_of(HOME, 100.0))
    )

    assert record["data"]["locationMatches"] == []


async def test_accuracies_are_the_rounded_rice_probability(api: TenantApi) -> None:
    """Sessions at chosen distances (north and east) and accuracies around a 100 m Home list
    exactly round(rice.cdf(100, d / sigma, scale=sigma), 3) when that is >= 0.5, and nothing
    otherwise."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], radius=100.0)
    cases: list[tuple[str, float, float | None, float]] = [
        # (direction, distance m, accuracy field m or None for the default, rounded P)
        ("north", 0.0, 60.0, 0.751),
        ("north", 30.0, 60.0, 0.708),
        ("east", 50.0, 60.0, 0.637),
        ("north", 80.0, None, 0.745),
        ("east", 90.0, 10.0, 0.828),
        ("east", 60.0, 40.0, 0.768),
        ("north", 50.0, 25.0, 0.966),
        ("north", 80.0, 60.0, 0.486),
        ("east", 110.0, 10.0, 0.147),
        ("north", 0.0, 80.0, 0.542),
    ]
    expected: dict[str, list[dict[str, Any]]] = {}
    for index, (direction, distance, accuracy, value) in enumerate(cases):
        position = (north_of if direction == "north" else east_of)(HOME, distance)
        assert abs(haversine_m(HOME, position) - distance) < 1e-6
        sigma = DEFAULT_ACCURACY_M if accuracy is None else accuracy
        assert expected_accuracy(distance, 100.0, sigma) == value
        record = await post_ok(
            api,
            entity["id"],
            session_body(
                f"case-{index}",
                at(index * 60),
                at(index * 60 + 30),
                position=position,
                accuracy_m=accuracy,
            ),
        )
        expected[record["id"]] = [match(home, value)] if value >= 0.5 else []

    records = await listed(api, entity["id"])

    assert {i: r["data"]["locationMatches"] for i, r in records.items()} == expected
    assert sum(1 for matches in expected.values() if not matches) == 2


async def test_accuracy_0_means_an_exact_position(api: TenantApi) -> None:
    """With accuracy 0 the position is exact: 99 m from a 100 m Home is inside (1.0), 101 m is
    outside (no match)."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], radius=100.0)

    inside = await post_ok(
        api,
        entity["id"],
        session_body("in", at(0), at(60), position=north_of(HOME, 99.0), accuracy_m=0.0),
    )
    outside = await post_ok(
        api,
        entity["id"],
        session_body("out", at(60), at(120), position=east_of(HOME, 101.0), accuracy_m=0.0),
    )

    assert inside["data"]["locationMatches"] == [match(home, 1.0)]
    assert outside["data"]["locationMatches"] == []


async def test_overlapping_locations_are_listed_best_first(api: TenantApi) -> None:
    """A session at Home's centre also 60 m from Work's: Home (1.0) comes before Work
    (rice.cdf(100, 60/25, scale=25) = 0.925) though Work was created first and sorts first by
    label; the address falls back to the best match's."""
    entity = await api.create_entity("EV")
    work = await api.create_location(
        entity["id"],
        label="A Work",
        address="Work 1",
        **centre(east_of(HOME, 60.0)),
    )
    home = await api.create_location(entity["id"], label="Home", address="Home 1")
    work_accuracy = expected_accuracy(60.0, 100.0, DEFAULT_ACCURACY_M)
    assert work_accuracy == 0.925

    record = await post_ok(api, entity["id"], session_body("both", at(0), at(60), position=HOME))

    assert record["data"]["locationMatches"] == [match(home, 1.0), match(work, work_accuracy)]
    assert record["data"]["location"]["address"] == "Home 1"


async def test_equally_sure_matches_list_the_nearer_centre_first(api: TenantApi) -> None:
    """Two big circles both containing the session surely (1.0 each): the one whose centre is
    nearer comes first, whatever the creation order or labels."""
    entity = await api.create_entity("EV")
    far = await api.create_location(
        entity["id"],
        label="A far",
        radius=1000.0,
        **centre(north_of(HOME, 50.0)),
    )
    near = await api.create_location(entity["id"], label="Z near", radius=1000.0)

    record = await post_ok(api, entity["id"], session_body("tie", at(0), at(60), position=HOME))

    assert record["data"]["locationMatches"] == [match(near, 1.0), match(far, 1.0)]


async def test_another_entitys_locations_do_not_match(api: TenantApi) -> None:
    """Locations belong to their entity: a session of entity B at entity A's Home matches
    nothing."""
    entity_a = await api.create_entity("EV")
    entity_b = await api.create_entity("EV")
    await api.create_location(entity_a["id"], address="A's home")

    record = await post_ok(api, entity_b["id"], session_body("b", at(0), at(60), position=HOME))

    assert record["data"]["locationMatches"] == []
    assert record["data"]["location"]["address"] is None


async def test_distances_wrap_across_the_antimeridian_and_over_the_pole(
    api: TenantApi,
) -> None:
    """Longitude 179.9999 and -179.9999 on the equator are 22.24 m apart, as are two points
    at latitude 89.9999 on opposite meridians: each session matches the location next to it
    with rice.cdf(100, 22.24/25, scale=25) = 0.998, and not the one across the globe."""
    entity = await api.create_entity("EV")
    dateline = await api.create_location(
        entity["id"], label="Dateline", latitude=0.0, longitude=179.9999
    )
    pole = await api.create_location(entity["id"], label="Pole", latitude=89.9999, longitude=0.0)
    cases = [(dateline, (0.0, -179.9999)), (pole, (89.9999, 180.0))]
    expected: dict[str, list[dict[str, Any]]] = {}
    for index, (location, position) in enumerate(cases):
        distance = haversine_m((location["latitude"], location["longitude"]), position)
        assert abs(distance - 22.239) < 0.001
        accuracy = expected_accuracy(distance, 100.0, DEFAULT_ACCURACY_M)
        assert accuracy == 0.998
        record = await post_ok(
            api,
            entity["id"],
            session_body(f"globe-{index}", at(index * 60), at(index * 60 + 30), position=position),
        )
        expected[record["id"]] = [match(location, accuracy)]

    records = await listed(api, entity["id"])

    assert {i: r["data"]["locationMatches"] for i, r in records.items()} == expected


async def put_location(
    api: TenantApi, entity_id: str, location_id: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await api.http.put(f"/v1/entities/{entity_id}/locations/{location_id}", json=body)
    assert response.status_code == 200, response.text
    location: dict[str, Any] = response.json()
    return location


async def delete_location(api: TenantApi, entity_id: str, location_id: str) -> None:
    response = await api.http.delete(f"/v1/entities/{entity_id}/locations/{location_id}")
    assert response.status_code == 204, response.text


async def test_stored_sessions_are_rematched_when_locations_change(api: TenantApi) -> None:
    """A session 300 m from Home matches nothing; after PUT moves Home onto it, GET and the
    list show the match (with the new label and address); after DELETE they show none again
    and the fallback address is gone. Sessions without coordinates stay unmatched."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], address="Old home")
    position = north_of(HOME, 300.0)
    session = await post_ok(
        api, entity["id"], session_body("moved", at(0), at(60), position=position)
    )
    unplaced = await post_ok(api, entity["id"], session_body("unplaced", at(60), at(120)))
    assert session["data"]["locationMatches"] == []

    moved = await put_location(
        api,
        entity["id"],
        home["id"],
        {
            "label": "New home",
            "address": "New home 1",
            "latitude": position[0],
            "longitude": position[1],
        },
    )

    after_put = await stored(api, entity["id"], session["id"])
    assert after_put["data"]["locationMatches"] == [match(moved, 1.0)]
    assert after_put["data"]["locationMatches"][0]["location"]["label"] == "New home"
    assert after_put["data"]["location"]["address"] == "New home 1"
    assert {k: v for k, v in after_put.items() if k != "data"} == {
        k: v for k, v in session.items() if k != "data"
    }
    records = await listed(api, entity["id"])
    assert records[session["id"]] == after_put
    assert records[unplaced["id"]] == unplaced

    await delete_location(api, entity["id"], home["id"])

    after_delete = await stored(api, entity["id"], session["id"])
    assert after_delete == session
    assert after_delete["data"]["locationMatches"] == []
    assert after_delete["data"]["location"]["address"] is None
    assert (await listed(api, entity["id"]))[session["id"]] == session


async def test_adding_a_location_matches_existing_sessions(api: TenantApi) -> None:
    """Sessions stored before any location exists are matched when one is added."""
    entity = await api.create_entity("EV")
    session = await post_ok(api, entity["id"], session_body("early", at(0), at(60), position=HOME))
    assert session["data"]["locationMatches"] == []

    home = await api.create_location(entity["id"], address="Home 1")

    after = await stored(api, entity["id"], session["id"])
    assert after["data"]["locationMatches"] == [match(home, 1.0)]
    assert after["data"]["location"]["address"] == "Home 1"


async def test_deleting_the_best_match_promotes_the_next(api: TenantApi) -> None:
    """With Home (1.0) and Work (0.925) matched, deleting Home leaves [Work] and Work's
    address as the fallback."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], label="Home", address="Home 1")
    work = await api.create_location(
        entity["id"],
        label="Work",
        address="Work 1",
        **centre(north_of(HOME, 60.0)),
    )
    session = await post_ok(api, entity["id"], session_body("two", at(0), at(60), position=HOME))
    assert session["data"]["locationMatches"] == [match(home, 1.0), match(work, 0.925)]

    await delete_location(api, entity["id"], home["id"])

    after = await stored(api, entity["id"], session["id"])
    assert after["data"]["locationMatches"] == [match(work, 0.925)]
    assert after["data"]["location"]["address"] == "Work 1"


async def test_a_corrected_position_is_matched_again(api: TenantApi) -> None:
    """A correction (same externalId) that moves the session away from Home drops the match;
    moving it back restores it."""
    entity = await api.create_entity("EV")
    home = await api.create_location(entity["id"], address="Home 1")
    first = await post_ok(api, entity["id"], session_body("fix", at(0), at(60), position=HOME))
    assert first["data"]["locationMatches"] == [match(home, 1.0)]

    away = await api.post_session(
        entity["id"], session_body("fix", at(0), at(60), position=north_of(HOME, 500.0))
    )
    back = await api.post_session(entity["id"], session_body("fix", at(0), at(60), position=HOME))

    assert away.status_code == 200, away.text
    assert away.json()["data"]["locationMatches"] == []
    assert away.json()["data"]["location"]["address"] is None
    assert back.status_code == 200, back.text
    assert back.json() == first


def test_expected_values_are_unambiguous() -> None:
    """The constants used above are what scipy's Rice distribution gives (a check on the
    test's own arithmetic, independent of the server)."""
    assert round(inside_probability(100.0, 100.0, 25.0), 4) == 0.4497
    assert round(inside_probability(0.0, 100.0, 25.0), 5) == 0.99966
    assert abs(haversine_m(HOME, east_of(HOME, 60.0)) - 60.0) < 1e-6
