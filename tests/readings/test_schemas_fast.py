"""The msgspec fast path for reading batches gives exactly what the pydantic path gives: the
same readings accepted, in the same units, and the same rejections by index."""

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeledger.readings.schemas import parse_readings, parse_readings_body
from chargeledger.readings.schemas_fast import decode_well_formed

NOW_MS = 1_800_000_000_000

units = st.sampled_from(["%", "km", "mi", "W", "kW", "kWh", "Wh", "furlong", "", "kW\u0000"])
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e7),
    st.integers(-1000, 10**7),
    st.just(1e308),
)
measurements = st.fixed_dictionaries({"unit": units, "value": numbers})
timestamps = st.one_of(
    st.integers(1_600_000_000, 1_900_000_000).map(
        lambda s: "2024-01-01T00:00:00Z" if s % 7 == 0 else _z(s)
    ),
    st.sampled_from(["2024-05-27 13:00:00Z", "2024-05-27T15:00:00+02:00", "yesterday", ""]),
)


def _z(seconds: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


readings = st.fixed_dictionaries(
    {"timestamp": timestamps},
    optional={
        "stateOfCharge": measurements,
        "range": measurements,
        "isCharging": st.one_of(st.booleans(), st.just("yes")),
        "isPluggedIn": st.booleans(),
        "positiveActiveEnergy": st.fixed_dictionaries(
            {},
            optional={
                "total": numbers,
                "t1": numbers,
                "t2": numbers,
                "unit": st.sampled_from(["kWh", "Wh", "J"]),
            },
        ),
        "positiveActiveInstantaneousPower": measurements,
        "location": st.fixed_dictionaries(
            {"latitude": st.floats(-100, 100), "longitude": st.floats(-200, 200)},
            optional={"accuracy": st.floats(-10, 200_000)},
        ),
        "odometer": measurements,
        "speed": st.fixed_dictionaries(
            {
                "unit": st.sampled_from(["km/h", "mph", "m/s", "knots", "", "mph\u0000"]),
                "value": numbers,
            }
        ),
        "current": st.just({"l1": 16}),  # a field we keep but do not interpret
    },
)


@settings(max_examples=300, deadline=None)
@given(batch=st.lists(readings, max_size=6))
def test_fast_and_slow_paths_agree(batch: list[dict[str, Any]]) -> None:
    raw = orjson.dumps(batch)
    assert parse_readings_body(raw, now_ms=NOW_MS, max_readings=100) == parse_readings(
        batch, now_ms=NOW_MS
    )


def test_a_well_formed_batch_takes_the_fast_path() -> None:
    batch = [
        {
            "timestamp": "2024-06-03T18:00:00Z",
            "isCharging": True,
            "stateOfCharge": {"unit": "%", "value": 40},
            "positiveActiveEnergy": {"total": 1200.5, "unit": "kWh"},
        }
    ]
    decoded = decode_well_formed(orjson.dumps(batch))
    assert decoded is not None
    assert decoded[0][1] == 1_717_437_600_000


def test_unknown_fields_take_the_slow_path_and_are_kept() -> None:
    batch = [{"timestamp": "2024-06-03T18:00:00Z", "current": {"l1": 16}}]
    assert decode_well_formed(orjson.dumps(batch)) is None
    accepted, rejected = parse_readings_body(orjson.dumps(batch), now_ms=NOW_MS, max_readings=10)
    assert rejected == []
    assert accepted[0].extra == {"current": {"l1": 16}}


def test_speed_takes_the_fast_path_and_agrees_with_the_slow_one() -> None:
    """A reading with speed has the documented shape: the fast path takes it, and stores
    what the pydantic path stores (30 mph = 48.28032 km/h)."""
    batch = [{"timestamp": "2024-06-03T18:00:00Z", "speed": {"unit": "mph", "value": 30}}]
    raw = orjson.dumps(batch)
    assert decode_well_formed(raw) is not None
    fast, fast_rejected = parse_readings_body(raw, now_ms=NOW_MS, max_readings=10)
    slow, slow_rejected = parse_readings(batch, now_ms=NOW_MS)
    assert fast_rejected == slow_rejected == []
    assert fast == slow
    assert fast[0].reading.speed_kmh == 30 * 1.609344


def test_a_negative_speed_takes_the_slow_path_and_is_rejected() -> None:
    batch = [{"timestamp": "2024-06-03T18:00:00Z", "speed": {"unit": "km/h", "value": -1}}]
    assert decode_well_formed(orjson.dumps(batch)) is None
    accepted, rejected = parse_readings_body(orjson.dumps(batch), now_ms=NOW_MS, max_readings=10)
    assert accepted == []
    assert [error["name"] for error in rejected[0]["errors"]] == ["speed.value"]
