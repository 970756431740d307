"""Whether a vehicle moved between two readings (chargeledger.domain.movement).

Distances are worked out by hand in the comments. Along a meridian (same longitude) the
distance is the latitude difference x 111,195.08 m per degree (6,371,008.8 m x pi / 180), so
1e-3 degree of latitude is 111.195 m. Along a parallel it is the longitude difference x
111,195.08 m x cos(latitude): half that at 60 degrees.

The bound two positions must exceed to be apart is max(100 m, 5 x sqrt(s1^2 + s2^2)), with s
the reported accuracy (25 m when none is reported):

- 10 m and 10 m: 5 x sqrt(200) = 70.7 m, under the floor: 100 m;
- none and none: 5 x sqrt(625 + 625) = 176.78 m;
- 20 m and none: 5 x sqrt(400 + 625) = 160.08 m;
- 30 m and 40 m: 5 x sqrt(900 + 1600) = 5 x 50 = 250 m.
"""

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.movement import (
    consecutive_apart,
    moved_between,
    position_glitches,
    positions_apart,
)
from chargeledger.domain.session_detection import Reading

# Metres per degree of latitude on the mean Earth sphere (6,371,008.8 m x pi / 180).
METRES_PER_DEGREE = 111_195.08
# Brussels, Grand-Place.
HOME_LATITUDE = 50.8467
HOME_LONGITUDE = 4.3525
ODOMETER_TOLERANCE_KM = 0.5  # the detector's default (DetectorConfig.odometer_tolerance_km)


def at_home(**fields: Any) -> Reading:
    return Reading(timestamp_ms=0, latitude=HOME_LATITUDE, longitude=HOME_LONGITUDE, **fields)


def north_of_home(metres: float, **fields: Any) -> Reading:
    """A reading `metres` due north of home (same longitude)."""
    return Reading(
        timestamp_ms=0,
        latitude=HOME_LATITUDE + metres / METRES_PER_DEGREE,
        longitude=HOME_LONGITUDE,
        **fields,
    )


# --- positions_apart ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earlier", "later"),
    [
        (Reading(timestamp_ms=0), north_of_home(5_000)),
        (north_of_home(5_000), Reading(timestamp_ms=0)),
        (Reading(timestamp_ms=0, latitude=HOME_LATITUDE), north_of_home(5_000)),
        (north_of_home(5_000), Reading(timestamp_ms=0, longitude=HOME_LONGITUDE)),
        (Reading(timestamp_ms=0), Reading(timestamp_ms=0)),
    ],
    ids=["earlier-none", "later-none", "earlier-no-longitude", "later-no-latitude", "both-none"],
)
def test_a_missing_position_is_never_apart(earlier: Reading, later: Reading) -> None:
    """5 km apart is far beyond any bound, but without both positions nothing is known."""
    assert not positions_apart(earlier, later)


def test_a_thousandth_of_a_degree_of_latitude_is_apart_only_with_good_accuracy() -> None:
    # 1e-3 degree of latitude = 111.195 m. With 10 m accuracies the bound is the 100 m floor:
    # apart. With no accuracy reported (25 m each) the bound is 176.78 m: not apart.
    a = Reading(timestamp_ms=0, latitude=50.000, longitude=4.0)
    b = Reading(timestamp_ms=0, latitude=50.001, longitude=4.0)
    assert not positions_apart(a, b)
    sharp_a = Reading(timestamp_ms=0, latitude=50.000, longitude=4.0, position_uncertainty_m=10)
    sharp_b = Reading(timestamp_ms=0, latitude=50.001, longitude=4.0, position_uncertainty_m=10)
    assert positions_apart(sharp_a, sharp_b)


@pytest.mark.parametrize(
    ("accuracy_a", "accuracy_b", "bound_m"),
    [
        (10.0, 10.0, 100.0),  # 5 x sqrt(200) = 70.7 m < the 100 m floor
        (0.0, 0.0, 100.0),  # a perfect fix is still bounded by the floor
        (None, None, 176.78),  # 5 x sqrt(625 + 625)
        (20.0, None, 160.08),  # 5 x sqrt(400 + 625)
        (30.0, 40.0, 250.0),  # 5 x sqrt(900 + 1600) = 5 x 50
    ],
)
def test_the_bound_is_five_combined_sigmas_but_at_least_100_m(
    accuracy_a: float | None, accuracy_b: float | None, bound_m: float
) -> None:
    """One metre inside the hand-computed bound is not apart; one metre outside is."""
    home = at_home(position_uncertainty_m=accuracy_a)
    inside = north_of_home(bound_m - 1, position_uncertainty_m=accuracy_b)
    outside = north_of_home(bound_m + 1, position_uncertainty_m=accuracy_b)
    assert not positions_apart(home, inside)
    assert positions_apart(home, outside)


def test_east_west_distance_shrinks_with_the_cosine_of_latitude() -> None:
    # 3e-3 degree of longitude: at the equator 3 x 111.195 = 333.6 m, apart (bound 176.78 m
    # with no accuracies); at 60 degrees x cos(60) = 0.5: 166.8 m, not apart.
    assert positions_apart(
        Reading(timestamp_ms=0, latitude=0.0, longitude=10.000),
        Reading(timestamp_ms=0, latitude=0.0, longitude=10.003),
    )
    assert not positions_apart(
        Reading(timestamp_ms=0, latitude=60.0, longitude=10.000),
        Reading(timestamp_ms=0, latitude=60.0, longitude=10.003),
    )


positions = st.builds(
    Reading,
    timestamp_ms=st.just(0),
    latitude=st.none() | st.floats(-80, 80),
    longitude=st.none() | st.floats(-180, 180),
    position_uncertainty_m=st.none() | st.floats(0, 500),
)


@given(
    a=positions,
    north_deg=st.floats(-0.01, 0.01),
    east_deg=st.floats(-0.01, 0.01),
    accuracy=st.none() | st.floats(0, 500),
)
def test_positions_apart_is_symmetric(
    a: Reading, north_deg: float, east_deg: float, accuracy: float | None
) -> None:
    """Order does not matter. The second position is within ~1 km of the first, so both
    answers are exercised near the bound."""
    b = Reading(
        timestamp_ms=0,
        latitude=None if a.latitude is None else a.latitude + north_deg,
        longitude=None if a.longitude is None else a.longitude + east_deg,
        position_uncertainty_m=accuracy,
    )
    assert positions_apart(a, b) == positions_apart(b, a)


@given(a=positions)
def test_a_position_is_never_apart_from_itself(a: Reading) -> None:
    """Distance 0 never exceeds a bound of at least 100 m, whatever the accuracy."""
    assert not positions_apart(a, a)


# --- consecutive_apart --------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_consecutive_apart_has_one_answer_per_interval(count: int) -> None:
    """n readings have max(n - 1, 0) intervals."""
    assert len(consecutive_apart([at_home()] * count)) == max(count - 1, 0)


def test_consecutive_apart_compares_each_reading_with_the_next() -> None:
    # home -> 2 km north (apart) -> 2 km + 50 m north (50 m: not apart) -> home (apart).
    readings = [at_home(), north_of_home(2_000), north_of_home(2_050), at_home()]
    assert consecutive_apart(readings) == [True, False, True]


# --- position_glitches --------------------------------------------------------------------


def glitches(readings: list[Reading]) -> list[bool]:
    return position_glitches(readings, consecutive_apart(readings))


def test_a_lone_outlier_between_agreeing_neighbours_is_a_glitch() -> None:
    """home, 2 km north, home: the neighbours agree (0 m), the middle is far from both."""
    assert glitches([at_home(), north_of_home(2_000), at_home()]) == [False, True, False]


def test_an_outlier_between_neighbours_close_to_each_other_is_a_glitch() -> None:
    # Neighbours 50 m apart (under the 176.78 m bound): they agree; the 2 km one is a glitch.
    readings = [at_home(), north_of_home(2_000), north_of_home(50)]
    assert glitches(readings) == [False, True, False]


def test_two_consecutive_far_positions_are_not_glitches() -> None:
    """home, 2 km, 2 km, home: each far reading has a neighbour that agrees with it; that is a
    drive there and back, not multipath."""
    readings = [at_home(), north_of_home(2_000), north_of_home(2_000), at_home()]
    assert glitches(readings) == [False, False, False, False]


def test_a_far_position_between_disagreeing_neighbours_is_not_a_glitch() -> None:
    """home, 2 km, 4 km: the neighbours are apart from each other too: a drive."""
    readings = [at_home(), north_of_home(2_000), north_of_home(4_000)]
    assert glitches(readings) == [False, False, False]


def test_the_first_and_last_readings_are_never_glitches() -> None:
    """A far first or last reading has only one neighbour to compare with: not a glitch."""
    assert glitches([north_of_home(2_000), at_home(), at_home()]) == [False, False, False]
    assert glitches([at_home(), at_home(), north_of_home(2_000)]) == [False, False, False]
    assert glitches([at_home(), north_of_home(2_000)]) == [False, False]
    assert glitches([north_of_home(2_000)]) == [False]
    assert glitches([]) == []


def test_a_missing_neighbour_position_makes_no_glitch() -> None:
    """Without a position on one side the middle is not apart from it: no glitch."""
    readings = [Reading(timestamp_ms=0), north_of_home(2_000), at_home()]
    assert glitches(readings) == [False, False, False]


# --- moved_between ------------------------------------------------------------------------


def moved(earlier: Reading, later: Reading, *, positions_moved: bool = False) -> bool:
    return moved_between(
        earlier,
        later,
        odometer_tolerance_km=ODOMETER_TOLERANCE_KM,
        positions_moved=positions_moved,
    )


def test_an_odometer_advanced_beyond_the_tolerance_is_movement() -> None:
    # 12,345.0 -> 12,345.6 km: 0.6 km > 0.5 km, even though the positions say it stayed.
    earlier = at_home(odometer_km=12_345.0)
    later = at_home(odometer_km=12_345.6)
    assert moved(earlier, later, positions_moved=False)


def test_an_odometer_advanced_within_the_tolerance_is_not_movement() -> None:
    # 100.0 -> 100.5 km: exactly 0.5 km, not more than the tolerance: parked.
    assert not moved(at_home(odometer_km=100.0), at_home(odometer_km=100.5))
    # 100.0 -> 100.3 km: 0.3 km, manoeuvring in a car park.
    assert not moved(at_home(odometer_km=100.0), at_home(odometer_km=100.3))


def test_an_unchanged_odometer_is_parked_whatever_positions_and_speed_say() -> None:
    """The odometer is the strongest evidence: 5 km between the positions and 30 km/h of
    reported speed do not overrule an odometer that did not move."""
    earlier = at_home(odometer_km=12_345.0, speed_kmh=30.0)
    later = north_of_home(5_000, odometer_km=12_345.0, speed_kmh=30.0)
    assert positions_apart(earlier, later)
    assert not moved(earlier, later, positions_moved=True)


@pytest.mark.parametrize("side", ["earlier", "later"])
def test_speed_above_5_kmh_is_movement_without_odometers(side: str) -> None:
    """With no odometer on either side, 30 km/h at either reading means driving."""
    fast = at_home(speed_kmh=30.0)
    still = at_home(speed_kmh=0.0)
    earlier, later = (fast, still) if side == "earlier" else (still, fast)
    assert moved(earlier, later, positions_moved=False)


def test_speed_at_or_below_5_kmh_is_gps_noise() -> None:
    """5 km/h is not more than the limit; 3 km/h is noise: the positions decide."""
    assert not moved(at_home(speed_kmh=5.0), at_home(speed_kmh=3.0), positions_moved=False)
    assert moved(at_home(speed_kmh=5.0), at_home(speed_kmh=3.0), positions_moved=True)


def test_one_odometer_alone_is_no_evidence() -> None:
    """An odometer on one side only cannot be differenced: speed and positions decide."""
    with_odometer = at_home(odometer_km=100.0)
    without = at_home(speed_kmh=50.0)
    assert moved(with_odometer, without, positions_moved=False)
    assert not moved(with_odometer, at_home(), positions_moved=False)


@pytest.mark.parametrize("positions_moved", [True, False])
def test_without_odometers_or_speed_positions_moved_decides(positions_moved: bool) -> None:
    """No odometer and no speed: the answer is the caller's positions_moved, unchanged."""
    assert moved(at_home(), north_of_home(5_000), positions_moved=positions_moved) is (
        positions_moved
    )
