"""Rice-distribution location matching (chargeledger.domain.location_matching).

Reference probabilities are computed here independently of the module, two ways: the
noncentral chi-squared CDF (|X|^2 / sigma^2 for a 2-D Gaussian offset d is ncx2 with df=2 and
nc=(d/sigma)^2) and a numeric integral of the Rice density.
"""

import math
from collections import Counter
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import i0e
from scipy.stats import ncx2

from chargeledger.domain.location_matching import (
    DEFAULT_POSITION_UNCERTAINTY_M,
    MATCH_THRESHOLD,
    Geofence,
    LocationMatch,
    Position,
    distance_m,
    inside_probability,
    match_locations,
    match_positions,
)

EARTH_MEAN_RADIUS_M = 6_371_008.8  # IUGG mean radius, the sphere the module uses
# Brussels, Grand-Place.
CENTRE_LAT, CENTRE_LON = 50.8467, 4.3525
# Leuven, Grote Markt.
LEUVEN_LAT, LEUVEN_LON = 50.8792, 4.7010


def ncx2_inside(d: float, radius: float, sigma: float) -> float:
    """P(|offset| <= radius) for a 2-D Gaussian of per-axis sigma centred d away."""
    return float(ncx2.cdf((radius / sigma) ** 2, df=2, nc=(d / sigma) ** 2))


def integrated_inside(d: float, radius: float, sigma: float) -> float:
    """The same probability, integrating the Rice density r/s^2 e^(-(r^2+d^2)/2s^2) I0(rd/s^2).

    i0e(x) = e^-x I0(x) keeps it finite: the integrand is r/s^2 e^(-(r-d)^2/2s^2) i0e(rd/s^2).
    """

    def density(r: float) -> float:
        return float(
            r / sigma**2 * math.exp(-((r - d) ** 2) / (2 * sigma**2)) * i0e(r * d / sigma**2)
        )

    # Outside d +- 40 sigma the density is below e^-800: integrate only where the mass is.
    low, high = max(0.0, d - 40 * sigma), min(radius, d + 40 * sigma)
    if low >= high:
        return 0.0
    points = [p for p in (d, d + sigma) if low < p < high] or None
    value, _error = quad(density, low, high, points=points, epsabs=1e-12, epsrel=1e-10, limit=200)
    return float(value)


def chord_distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance via the 3-D chord between unit vectors: 2 R asin(chord / 2)."""

    def unit(lat: float, lon: float) -> tuple[float, float, float]:
        phi, lam = math.radians(lat), math.radians(lon)
        return (math.cos(phi) * math.cos(lam), math.cos(phi) * math.sin(lam), math.sin(phi))

    chord = math.dist(unit(lat1, lon1), unit(lat2, lon2))
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(chord / 2)


def north_of_centre(metres: float) -> float:
    """The latitude `metres` due north of the centre (along a meridian, exactly R * dphi)."""
    return CENTRE_LAT + math.degrees(metres / EARTH_MEAN_RADIUS_M)


def geofence(
    label: str, north_m: float, radius_m: float, id_int: int = 0, address: str | None = None
) -> Geofence:
    return Geofence(
        id=UUID(int=id_int),
        label=label,
        address=address,
        latitude=north_of_centre(north_m),
        longitude=CENTRE_LON,
        radius_m=radius_m,
    )


def position(north_m: float = 0.0, uncertainty_m: float | None = None) -> Position:
    return Position(north_of_centre(north_m), CENTRE_LON, uncertainty_m)


# ---- haversine distance -----------------------------------------------------------------


def test_a_thousandth_of_a_degree_of_latitude_is_111_195_m() -> None:
    """R * pi / 180 / 1000 = 6371008.8 * 0.0000174533 = 111.19508 m."""
    expected = EARTH_MEAN_RADIUS_M * math.pi / 180 * 0.001
    assert expected == pytest.approx(111.19508, abs=1e-5)
    assert distance_m(50.0, 4.0, 50.001, 4.0) == pytest.approx(expected, rel=1e-9)


def test_a_thousandth_of_a_degree_of_longitude_shrinks_with_the_cosine_of_latitude() -> None:
    """On the equator it is 111.195 m; at 60 degrees north, cos 60 = 1/2 of that."""
    assert distance_m(0.0, 10.0, 0.0, 10.001) == pytest.approx(111.19508, abs=1e-4)
    assert distance_m(60.0, 10.0, 60.0, 10.001) == pytest.approx(111.19508 / 2, rel=1e-6)


def test_brussels_to_leuven_is_24_7_km() -> None:
    reference = chord_distance_m(CENTRE_LAT, CENTRE_LON, LEUVEN_LAT, LEUVEN_LON)
    # Flat-earth hand check: 0.0325 deg north = 3614 m, 0.3485 deg east * cos 50.86 = 24452 m.
    assert reference == pytest.approx(math.hypot(3613.9, 24452), rel=0.001)
    assert distance_m(CENTRE_LAT, CENTRE_LON, LEUVEN_LAT, LEUVEN_LON) == pytest.approx(
        reference, abs=0.01
    )
    assert distance_m(CENTRE_LAT, CENTRE_LON, LEUVEN_LAT, LEUVEN_LON) == pytest.approx(
        24_724.57, abs=0.05
    )


@pytest.mark.parametrize(
    ("lat1", "lon1", "lat2", "lon2", "expected_m"),
    [
        (0.0, 0.0, 0.0, 180.0, math.pi * EARTH_MEAN_RADIUS_M),  # half way round the equator
        (90.0, 0.0, -90.0, 0.0, math.pi * EARTH_MEAN_RADIUS_M),  # pole to pole
        (0.0, 0.0, 90.0, 0.0, math.pi / 2 * EARTH_MEAN_RADIUS_M),  # equator to pole
        (0.0, 179.9995, 0.0, -179.9995, 111.19508),  # across the antimeridian
        (CENTRE_LAT, CENTRE_LON, CENTRE_LAT, CENTRE_LON, 0.0),
    ],
)
def test_distance_m_gives_hand_computed_great_circle_distances(
    lat1: float, lon1: float, lat2: float, lon2: float, expected_m: float
) -> None:
    assert distance_m(lat1, lon1, lat2, lon2) == pytest.approx(expected_m, rel=1e-6, abs=1e-4)


coordinates = st.tuples(
    st.floats(min_value=-89.9, max_value=89.9), st.floats(min_value=-180, max_value=180)
)


@given(coordinates, coordinates)
def test_distance_m_agrees_with_the_chord_formula_and_is_symmetric(
    a: tuple[float, float], b: tuple[float, float]
) -> None:
    forward = distance_m(a[0], a[1], b[0], b[1])
    assert forward == pytest.approx(distance_m(b[0], b[1], a[0], a[1]), rel=1e-9, abs=1e-6)
    assert forward == pytest.approx(chord_distance_m(a[0], a[1], b[0], b[1]), rel=1e-7, abs=1e-3)


# ---- inside probability -----------------------------------------------------------------


def test_at_the_centre_the_probability_is_one_minus_exp_minus_r2_over_2_sigma2() -> None:
    """d = 0: Rayleigh CDF, 1 - exp(-100^2 / (2 * 25^2)) = 1 - exp(-8) = 0.99966454."""
    assert inside_probability(0.0, 100.0, 25.0) == pytest.approx(1 - math.exp(-8), rel=1e-12)
    assert 1 - math.exp(-8) == pytest.approx(0.99966454, abs=1e-8)


def test_at_the_centre_a_match_is_reported_with_accuracy_1_0_and_distance_0() -> None:
    home = geofence("home", 0.0, 100.0)
    assert match_locations(position(), [home]) == [
        LocationMatch(geofence=home, accuracy=1.0, distance_m=0.0)
    ]


@pytest.mark.parametrize(
    ("d", "radius", "sigma"),
    [
        (0.0, 100.0, 25.0),
        (50.0, 100.0, 25.0),
        (80.0, 100.0, 25.0),
        (100.0, 100.0, 25.0),  # on the edge
        (98.0, 100.0, 25.0),
        (98.0, 100.0, 5.0),
        (175.0, 100.0, 25.0),  # R + 3 sigma
        (120.0, 100.0, 5.0),
        (300.0, 50.0, 100.0),  # uncertainty larger than the circle
        (10.0, 1.0, 5.0),
        (0.0, 500.0, 25.0),
        (200.0, 500.0, 25.0),
    ],
)
def test_inside_probability_equals_independent_rice_cdf(
    d: float, radius: float, sigma: float
) -> None:
    actual = inside_probability(d, radius, sigma)
    assert actual == pytest.approx(ncx2_inside(d, radius, sigma), rel=1e-9, abs=1e-12)
    assert actual == pytest.approx(integrated_inside(d, radius, sigma), abs=1e-8)


@pytest.mark.parametrize(
    ("d", "radius", "sigma", "expected"),
    [
        # hand-checked values, 7 decimals, from the Rice CDF 1 - Q1(d/sigma, R/sigma)
        (100.0, 100.0, 25.0, 0.4497279),
        (175.0, 100.0, 25.0, 0.0009878),
        (98.0, 100.0, 25.0, 0.4809958),
        (98.0, 100.0, 5.0, 0.6460716),
        (80.0, 100.0, 25.0, 0.7449536),
    ],
)
def test_inside_probability_pinned_values(
    d: float, radius: float, sigma: float, expected: float
) -> None:
    assert inside_probability(d, radius, sigma) == pytest.approx(expected, abs=1e-7)


def test_on_the_edge_the_probability_is_below_one_half_and_the_location_is_not_listed() -> None:
    """d == R: a little under 1/2 (the circle is convex), 0.4497 with sigma 25 m, R 100 m."""
    assert inside_probability(100.0, 100.0, 25.0) == pytest.approx(
        integrated_inside(100.0, 100.0, 25.0), abs=1e-8
    )
    assert inside_probability(100.0, 100.0, 25.0) < MATCH_THRESHOLD
    assert match_locations(position(100.0), [geofence("home", 0.0, 100.0)]) == []


def test_three_sigma_outside_the_edge_is_almost_never_inside_and_not_listed() -> None:
    assert inside_probability(175.0, 100.0, 25.0) == pytest.approx(
        integrated_inside(175.0, 100.0, 25.0), abs=1e-8
    )
    assert inside_probability(175.0, 100.0, 25.0) < 0.001
    assert match_locations(position(175.0), [geofence("home", 0.0, 100.0)]) == []


def test_without_a_reported_uncertainty_sigma_is_25_m() -> None:
    home = geofence("home", 0.0, 100.0)
    default = match_locations(position(80.0, None), [home])
    assert DEFAULT_POSITION_UNCERTAINTY_M == 25.0
    assert default == match_locations(position(80.0, 25.0), [home])
    assert [m.accuracy for m in default] == [round(ncx2_inside(80.0, 100.0, 25.0), 3)] == [0.745]


def test_a_precise_uncertainty_turns_a_borderline_position_into_a_match() -> None:
    """98 m from the centre of a 100 m circle: 0.481 with 25 m (out), 0.646 with 5 m (in)."""
    home = geofence("home", 0.0, 100.0)
    assert match_locations(position(98.0, None), [home]) == []
    matches = match_locations(position(98.0, 5.0), [home])
    assert [(m.geofence, m.accuracy) for m in matches] == [(home, 0.646)]
    assert matches[0].distance_m == pytest.approx(98.0, abs=1e-6)


def test_a_vague_uncertainty_turns_a_clear_match_into_none() -> None:
    """50 m inside a 100 m circle: 0.966 with 25 m, but under 1/2 when sigma is 200 m."""
    home = geofence("home", 0.0, 100.0)
    assert [m.accuracy for m in match_locations(position(50.0), [home])] == [0.966]
    assert ncx2_inside(50.0, 100.0, 200.0) < 0.5
    assert match_locations(position(50.0, 200.0), [home]) == []


@pytest.mark.parametrize(
    ("d", "expected"),
    [(0.0, 1.0), (99.9, 1.0), (100.0, 1.0), (100.1, 0.0), (5000.0, 0.0)],
)
def test_an_exact_position_is_either_inside_or_outside(d: float, expected: float) -> None:
    """Uncertainty 0: no blur, so the probability is exactly 1 (d <= R) or 0."""
    assert inside_probability(d, 100.0, 0.0) == expected


def test_an_exact_position_matches_with_accuracy_1_inside_and_not_at_all_outside() -> None:
    home = geofence("home", 0.0, 100.0)
    assert [m.accuracy for m in match_locations(position(99.0, 0.0), [home])] == [1.0]
    assert match_locations(position(101.0, 0.0), [home]) == []


def test_the_threshold_applies_to_the_rounded_accuracy() -> None:
    """0.4996 is reported as 0.5 and so listed; 0.4994 is reported as 0.499, not listed."""
    listed_d = brentq(lambda d: ncx2_inside(d, 100.0, 25.0) - 0.4996, 50.0, 150.0)
    unlisted_d = brentq(lambda d: ncx2_inside(d, 100.0, 25.0) - 0.4994, 50.0, 150.0)
    assert listed_d == pytest.approx(96.814, abs=0.001)
    home = geofence("home", 0.0, 100.0)
    assert [m.accuracy for m in match_locations(position(listed_d), [home])] == [0.5]
    assert match_locations(position(unlisted_d), [home]) == []


# ---- ordering -------------------------------------------------------------------------------


def test_matches_are_listed_best_first_with_ties_going_to_the_nearer_centre() -> None:
    partial = geofence("partial", 80.0, 100.0, id_int=1)  # 0.745
    outside = geofence("outside", 175.0, 100.0, id_int=2)  # 0.001, not listed
    far_big = geofence("far big", 200.0, 500.0, id_int=3)  # 1.000 at 200 m
    near = geofence("near", 0.0, 100.0, id_int=4)  # 1.000 (0.99966) at 0 m
    matches = match_locations(position(), [partial, outside, far_big, near])
    assert [(m.geofence.label, m.accuracy) for m in matches] == [
        ("near", 1.0),
        ("far big", 1.0),
        ("partial", 0.745),
    ]
    assert [m.distance_m for m in matches] == pytest.approx([0.0, 200.0, 80.0], abs=1e-6)


def test_equal_accuracy_and_distance_are_ordered_by_label_then_id() -> None:
    b = geofence("b", 0.0, 100.0, id_int=1)
    a2 = geofence("a", 0.0, 100.0, id_int=2)
    a1 = geofence("a", 0.0, 100.0, id_int=1)
    assert match_locations(position(), [b, a2, a1]) == [
        LocationMatch(a1, 1.0, 0.0),
        LocationMatch(a2, 1.0, 0.0),
        LocationMatch(b, 1.0, 0.0),
    ]


def test_no_positions_or_no_geofences_give_no_matches() -> None:
    assert match_positions([], [geofence("home", 0.0, 100.0)]) == []
    assert match_positions([position(), position(5.0)], []) == [[], []]
    assert match_locations(position(), []) == []


# ---- properties -------------------------------------------------------------------------

offsets_deg = st.floats(min_value=-0.004, max_value=0.004)  # about +-450 m
uncertainties = st.one_of(st.none(), st.just(0.0), st.floats(min_value=0.5, max_value=300.0))
positions = st.builds(
    lambda dlat, dlon, u: Position(CENTRE_LAT + dlat, CENTRE_LON + dlon, u),
    offsets_deg,
    offsets_deg,
    uncertainties,
)
geofences = st.builds(
    lambda i, dlat, dlon, r: Geofence(
        UUID(int=i), f"g{i % 3}", None, CENTRE_LAT + dlat, CENTRE_LON + dlon, r
    ),
    st.integers(min_value=0, max_value=2**32),
    offsets_deg,
    offsets_deg,
    st.floats(min_value=1.0, max_value=500.0),
)


@settings(deadline=None)
@given(st.lists(positions, max_size=6), st.lists(geofences, max_size=5))
def test_match_positions_equals_match_locations_one_position_at_a_time(
    many: list[Position], fences: list[Geofence]
) -> None:
    assert match_positions(many, fences) == [match_locations(p, fences) for p in many]


@settings(deadline=None)
@given(positions, st.lists(geofences, max_size=5))
def test_match_locations_lists_exactly_the_geofences_whose_rounded_probability_is_at_least_half(
    where: Position, fences: list[Geofence]
) -> None:
    """Oracle: distance by the chord formula, probability by ncx2, then round and sort."""
    sigma = DEFAULT_POSITION_UNCERTAINTY_M if where.uncertainty_m is None else where.uncertainty_m
    expected = []
    for fence in fences:
        d = chord_distance_m(where.latitude, where.longitude, fence.latitude, fence.longitude)
        p = (
            (1.0 if d <= fence.radius_m else 0.0)
            if sigma == 0
            else ncx2_inside(d, fence.radius_m, sigma)
        )
        if abs(round(p, 3) - 0.5) < 1e-6 or (sigma == 0 and abs(d - fence.radius_m) < 1e-3):
            return  # at a rounding or edge boundary the float noise of two formulas decides
        if round(p, 3) >= 0.5:
            expected.append((fence, round(p, 3), d))
    expected.sort(key=lambda e: (-e[1], e[2], e[0].label, e[0].id))
    matches = match_locations(where, fences)
    # Two fences a float's width apart tie on accuracy, and their distances by two formulas
    # may order them either way: the same matches (with the same distances), and in the
    # order of the implementation's own key.
    assert Counter((m.geofence, m.accuracy) for m in matches) == Counter(
        (f, a) for f, a, _ in expected
    )
    assert sorted(m.distance_m for m in matches) == pytest.approx(
        sorted(d for *_, d in expected), abs=1e-3
    )
    assert matches == sorted(
        matches, key=lambda m: (-m.accuracy, m.distance_m, m.geofence.label, m.geofence.id)
    )
    assert all(0.5 <= m.accuracy <= 1.0 for m in matches)


distances = st.floats(min_value=0.0, max_value=3000.0)
radii = st.floats(min_value=0.1, max_value=3000.0)
sigmas = st.floats(min_value=0.1, max_value=500.0)


@settings(deadline=None)
@given(distances, distances, radii, sigmas)
def test_probability_does_not_increase_with_distance(
    d1: float, d2: float, radius: float, sigma: float
) -> None:
    near, far = sorted((d1, d2))
    p_near, p_far = inside_probability(near, radius, sigma), inside_probability(far, radius, sigma)
    assert 0.0 <= p_far <= p_near + 1e-12 <= 1.0 + 1e-12


@settings(deadline=None)
@given(distances, radii, radii, sigmas)
def test_probability_does_not_decrease_with_radius(
    d: float, r1: float, r2: float, sigma: float
) -> None:
    small, large = sorted((r1, r2))
    p_small, p_large = inside_probability(d, small, sigma), inside_probability(d, large, sigma)
    assert 0.0 <= p_small <= p_large + 1e-12 <= 1.0 + 1e-12


@settings(deadline=None)
@given(distances, radii, sigmas)
def test_probability_agrees_with_the_integrated_rice_density(
    d: float, radius: float, sigma: float
) -> None:
    assert inside_probability(d, radius, sigma) == pytest.approx(
        integrated_inside(d, radius, sigma), abs=1e-6
    )


@pytest.mark.parametrize("d", [1e-300, 5e-162, 2.9479585451561547e-158, 1e-154, 1e-100, 1e-9])
def test_a_position_a_hair_from_the_centre_has_the_centres_probability(d: float) -> None:
    """Regression: scipy's rice.cdf is off by up to 0.27 when (d/sigma)^2 is subnormal."""
    at_centre = 1 - math.exp(-(23.0**2) / (2 * 16.0**2))
    assert inside_probability(d, 23.0, 16.0) == pytest.approx(at_centre, abs=1e-12)


# ---- any accepted position, however precise (issue 10) ----------------------------------------


@pytest.mark.parametrize(
    ("d", "radius", "sigma", "expected"),
    [
        (10_000_000.0, 5000.0, 5e-324, 0.0),  # scipy said 1.0: a match 10,000 km away
        (10_000_000.0, 5000.0, 1e-300, 0.0),  # scipy said NaN
        (4000.0, 5000.0, 1e-10, 1.0),  # NaN
        (5000.0, 5000.0, 1e-6, 0.5),  # NaN: exactly on the edge, a needle-sharp position
        (1.0, 5000.0, 1e-300, 1.0),
    ],
)
def test_a_needle_sharp_uncertainty_gives_the_probability_of_an_exact_position(
    d: float, radius: float, sigma: float, expected: float
) -> None:
    assert inside_probability(d, radius, sigma) == pytest.approx(expected, abs=1e-9)


@settings(deadline=None)
@given(
    st.floats(min_value=0.0, max_value=20_100_000.0),
    st.floats(min_value=1.0, max_value=5000.0),
    st.one_of(st.floats(min_value=0.0, max_value=100_000.0), st.floats(0.0, 1e-3)),
)
def test_any_accepted_position_and_location_give_a_probability(
    d: float, radius: float, sigma: float
) -> None:
    """Every distance on Earth, every radius and uncertainty the API accepts: a probability,
    never NaN, and the exact position's answer when the uncertainty is a hair."""
    p = inside_probability(d, radius, sigma)
    assert 0.0 <= p <= 1.0
    if 0 < sigma < 1e-9 and abs(d - radius) > 1e-6:
        assert p == (1.0 if d < radius else 0.0)
