"""The physical range of every quantity (chargeledger.domain.physical_ranges), and the
detector ignoring values outside them that were stored before the API refused them."""

import math
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain import physical_ranges
from chargeledger.domain.physical_ranges import (
    CHARGING_POWER,
    EARLIEST_EVENT_MS,
    MAX_SESSION_DURATION_MS,
    STATE_OF_CHARGE,
    PhysicalRange,
    reading_within_ranges,
)
from chargeledger.domain.session_detection import DetectorConfig, Reading, detect_sessions
from chargeledger.domain.tariffs import BELGIAN_DAY_NIGHT, CalendarVersion, split_energy

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
T0 = 1_717_426_800_000  # 2024-06-03T15:00:00Z
README = Path(__file__).resolve().parents[2] / "README.md"

# Every range a client's value is held to, by the name the README's table gives it.
RANGES = {
    name: value for name, value in vars(physical_ranges).items() if isinstance(value, PhysicalRange)
}


# ---- the ranges -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.0, 0, 0.5, 99.999, 100.0, 100])
def test_a_range_holds_its_bounds_and_what_lies_between(value: float) -> None:
    assert value in STATE_OF_CHARGE
    assert STATE_OF_CHARGE.problem(value) is None


@pytest.mark.parametrize(
    "value", [-0.001, 100.001, 1.7e308, -1.7e308, math.inf, -math.inf, math.nan]
)
def test_a_range_refuses_what_lies_outside_it_and_says_the_range(value: float) -> None:
    assert value not in STATE_OF_CHARGE
    problem = STATE_OF_CHARGE.problem(value)
    assert problem is not None
    assert problem.startswith("must be between 0 and 100 %; got ")


@pytest.mark.parametrize("value", [True, False, "50", None])
def test_a_boolean_or_text_is_no_quantity(value: object) -> None:
    """A JSON true is not the number 1, false not a latitude of 0."""
    assert value not in STATE_OF_CHARGE
    assert value not in physical_ranges.LATITUDE


def test_ranges_are_described_with_thousands_separators_and_their_unit() -> None:
    assert physical_ranges.SESSION_ENERGY.describe() == "between 0 and 10,000 kWh"
    assert physical_ranges.ENERGY_COUNTER.describe() == "between 0 and 1,000,000,000 kWh"
    assert CHARGING_POWER.describe() == "between -4,000 and 4,000 kW"
    assert physical_ranges.LATITUDE.describe() == "between -90 and 90 °"
    assert CHARGING_POWER.problem(1.7e305) == (
        "must be between -4,000 and 4,000 kW; got 1.7e+305 kW"
    )


def test_every_range_is_sane() -> None:
    for name, bounds in RANGES.items():
        assert math.isfinite(bounds.minimum), name
        assert math.isfinite(bounds.maximum), name
        assert bounds.minimum < bounds.maximum, name
        assert bounds.unit, name


def test_the_readme_lists_every_range_as_the_code_has_it() -> None:
    """The README's "Accepted ranges" table says each range in the words the API's problems
    use, so a client reads there exactly what it will be held to."""
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Accepted ranges") :]
    section = section[: section.index("\n## ", 1)]
    for name, bounds in RANGES.items():
        assert re.search(re.escape(bounds.describe()), section), (name, bounds.describe())


def test_the_time_bounds_are_the_instants_they_say() -> None:
    assert EARLIEST_EVENT_MS == 946_684_800_000  # 2000-01-01T00:00:00Z
    assert physical_ranges.LATEST_CALENDAR_START_MS == 4_102_444_800_000  # 2100-01-01
    assert MAX_SESSION_DURATION_MS == 31 * DAY_MS


# ---- readings stored before the ranges: ignored, never trusted ----------------------------------


def test_a_reading_within_every_range_is_returned_as_it_is() -> None:
    reading = Reading(
        T0,
        soc_pct=50.0,
        range_km=300.0,
        is_charging=True,
        energy_counter_kwh=18_231.4,
        power_kw=11.0,
        latitude=50.87,
        longitude=4.70,
        position_uncertainty_m=8.0,
        odometer_km=40_211.0,
        speed_kmh=0.0,
    )
    assert reading_within_ranges(reading) is reading


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("soc_pct", 101.0),
        ("range_km", -1.0),
        ("energy_counter_kwh", 2e9),
        ("power_kw", 1.7e305),
        ("power_kw", -1e6),
        ("odometer_km", 1e12),
        ("speed_kmh", math.inf),
        ("position_uncertainty_m", -5.0),
        ("power_kw", math.nan),
    ],
)
def test_a_value_outside_its_range_is_left_out_and_the_rest_kept(field: str, value: float) -> None:
    good = Reading(T0, soc_pct=50.0, is_charging=True, power_kw=11.0, latitude=50.0, longitude=4.0)
    changed: dict[str, Any] = {field: value}
    left_out: dict[str, Any] = {field: None}
    assert reading_within_ranges(replace(good, **changed)) == replace(good, **left_out)


@pytest.mark.parametrize(("latitude", "longitude"), [(91.0, 4.0), (50.0, 1e300), (math.nan, 4.0)])
def test_a_position_outside_the_globe_is_left_out_whole(latitude: float, longitude: float) -> None:
    bad = Reading(T0, latitude=latitude, longitude=longitude, position_uncertainty_m=5.0)
    assert reading_within_ranges(bad) == Reading(T0)


def charging_with_power(
    power_kw: list[float | None], *, step_ms: int = 5 * MINUTE_MS
) -> list[Reading]:
    return [Reading(T0 + i * step_ms, power_kw=power) for i, power in enumerate(power_kw)]


def test_a_stored_power_of_1_7e308_w_is_ignored_by_the_detector() -> None:
    """Issue 10, finding 4: a reading of 1.7e308 W (1.7e305 kW) was stored; its session's
    energy came out at 1e304 kWh and every later reading of the entity answered 500. Now the
    value is ignored as if not reported: the session is what the other readings say."""
    powers: list[float | None] = [0.0, 11.0, 11.0, 1.7e305, 11.0, 11.0, 0.0]
    config = DetectorConfig()
    now_ms = T0 + DAY_MS
    poisoned = detect_sessions(charging_with_power(powers), config, now_ms=now_ms)
    without = detect_sessions(
        charging_with_power([None if p == 1.7e305 else p for p in powers]), config, now_ms=now_ms
    )
    assert poisoned == without
    [session] = poisoned
    assert session.energy_kwh is not None
    assert 0 < session.energy_kwh < 11.0 * 0.5
    tiers = split_energy(session.profile, [CalendarVersion(0, BELGIAN_DAY_NIGHT)])
    assert tiers.total == round(session.energy_kwh, 3)


@given(
    poison=st.sampled_from([1.7e308, -1.7e308, math.inf, math.nan, 1e30, -5e3, 4_000.0001, 1e-300]),
    at=st.integers(0, 6),
)
def test_no_stored_power_makes_detection_or_its_split_fail(poison: float, at: int) -> None:
    powers: list[float | None] = [0.0, 11.0, 11.0, 11.0, 11.0, 11.0, 0.0]
    powers[at] = poison
    for session in detect_sessions(
        charging_with_power(powers), DetectorConfig(), now_ms=T0 + DAY_MS
    ):
        assert session.energy_kwh is None or math.isfinite(session.energy_kwh)
        split_energy(session.profile, [CalendarVersion(0, BELGIAN_DAY_NIGHT)])


def test_a_detected_session_longer_than_31_days_is_bogus_and_dropped() -> None:
    """A car that says it charges, once a day for 40 days (a stuck flag), makes no 40-day
    session: a posted one would be refused, and splitting it would walk 40 days of calendar.
    The same flag for 20 days is a (long) session."""
    config = DetectorConfig()

    def stuck_for(days: int) -> list[Reading]:
        charging = [
            Reading(T0 + day * DAY_MS, is_charging=True, power_kw=0.2) for day in range(days)
        ]
        return [*charging, Reading(T0 + days * DAY_MS, is_charging=False, power_kw=0.0)]

    now_ms = T0 + 50 * DAY_MS
    assert detect_sessions(stuck_for(40), config, now_ms=now_ms) == []
    [kept] = detect_sessions(stuck_for(20), config, now_ms=now_ms)
    assert kept.end_ms - kept.start_ms <= MAX_SESSION_DURATION_MS
