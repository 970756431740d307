"""Which of an entity's configured locations a charge session happened at, and how surely.

The reported position is treated as the true position plus a circular Gaussian error whose
standard deviation per axis is the position's reported uncertainty (25 m when none is
reported). The distance from a location's centre to the true position then follows a Rice
distribution with noncentrality = the reported distance, so the probability that the vehicle
was inside the location's circle is that distribution's CDF at the radius.

Treating the reported uncertainty as one standard deviation is deliberately cautious: phones
and cars usually report a 68 % radius, which is about 1.5 standard deviations.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

DEFAULT_POSITION_UNCERTAINTY_M = 25.0
MATCH_THRESHOLD = 0.5  # matches below this are more likely outside than inside
_EARTH_MEAN_RADIUS_M = 6_371_008.8
# Distance / sigma beyond which the Rice CDF is computed as the normal one (see below).
_NORMAL_SHAPE = 1e4


@dataclass(frozen=True, slots=True)
class Position:
    latitude: float
    longitude: float
    uncertainty_m: float | None = None


@dataclass(frozen=True, slots=True)
class Geofence:
    """A location configured on an entity (home, office): a circle on the map."""

    id: UUID
    label: str
    address: str | None
    latitude: float
    longitude: float
    radius_m: float


@dataclass(frozen=True, slots=True)
class LocationMatch:
    geofence: Geofence
    accuracy: float  # probability in [0, 1], rounded to 3 decimals
    distance_m: float


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance; well within a metre of geodesic at geofence scale.

    Plain math for one pair (the detector asks it for every two readings); numpy below for
    many positions at once. Both compute the same formula in the same order.
    """
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon2) - math.radians(lon1)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * _EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _distances_m(
    latitudes: FloatArray, longitudes: FloatArray, lat: float, lon: float
) -> FloatArray:
    phi1, phi2 = np.radians(latitudes), math.radians(lat)
    d_phi = phi2 - phi1
    d_lambda = math.radians(lon) - np.radians(longitudes)
    h = np.sin(d_phi / 2) ** 2 + np.cos(phi1) * math.cos(phi2) * np.sin(d_lambda / 2) ** 2
    result: FloatArray = 2 * _EARTH_MEAN_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    return result


def preload() -> None:
    """Import what matching needs now. A server calls this before it serves: imported on
    the first match instead, scipy.stats held the event loop (and every charger connected
    to it) for a second."""
    import scipy.stats  # noqa: F401


def _inside_probabilities(
    distances_m: FloatArray, radius_m: float, sigmas_m: FloatArray
) -> FloatArray:
    # scipy.stats takes a second to import; only code that matches pays for it.
    from scipy.special import ndtr
    from scipy.stats import rice

    exact = sigmas_m <= 0
    # A position reported as exact is inside or outside, nothing in between.
    safe_sigmas = np.where(exact, 1.0, sigmas_m)
    with np.errstate(over="ignore"):  # a shape of inf is as far as a shape can be
        shapes = distances_m / safe_sigmas
    # scipy's rice.cdf goes wrong by up to 0.27 when shape**2 is subnormal (shape near 1e-158,
    # found by hypothesis). The shape moves the probability by O(shape**2), so below 1e-8 it
    # changes nothing a float can hold: treat it as the centre itself.
    shapes = np.where(shapes < 1e-8, 0.0, shapes)
    # Far from the centre in units of sigma (shape = d / sigma), the distance to the true
    # position is normal around d + sigma**2 / 2d: with that shift the normal CDF agrees with
    # the Rice CDF to 1e-9 from a shape of 1e4 on. scipy's rice.cdf breaks from about 1e6:
    # NaN for a 1 mm uncertainty 5 km out, 1.0 (a match!) for 5e-324 m at 10,000 km.
    far = shapes > _NORMAL_SHAPE
    # Overflows to inf are right here: a radius of 1e303 sigmas is certainly inside.
    with np.errstate(over="ignore", divide="ignore"):
        normal = ndtr((radius_m - distances_m) / safe_sigmas - 0.5 / shapes)
        near = rice.cdf(radius_m, np.where(far, 0.0, shapes), scale=np.where(far, 1.0, safe_sigmas))
    blurred = np.where(far, normal, near)
    result: FloatArray = np.where(exact, (distances_m <= radius_m).astype(float), blurred)
    return result


def inside_probability(distance_m: float, radius_m: float, sigma_m: float) -> float:
    """P(true position within radius_m of the centre) for a reported position distance_m away."""
    return float(_inside_probabilities(np.array([distance_m]), radius_m, np.array([sigma_m]))[0])


def match_positions(
    positions: Sequence[Position], geofences: Sequence[Geofence]
) -> list[list[LocationMatch]]:
    """For each position, the geofences it matches with accuracy >= 0.5, best first.

    Vectorized over positions, because a change to an entity's locations re-matches every
    stored session of that entity at once.
    """
    matches: list[list[LocationMatch]] = [[] for _ in positions]
    if not positions or not geofences:
        return matches
    latitudes = np.array([p.latitude for p in positions], dtype=float)
    longitudes = np.array([p.longitude for p in positions], dtype=float)
    sigmas = np.array(
        [
            DEFAULT_POSITION_UNCERTAINTY_M if p.uncertainty_m is None else p.uncertainty_m
            for p in positions
        ],
        dtype=float,
    )
    for geofence in geofences:
        distances = _distances_m(latitudes, longitudes, geofence.latitude, geofence.longitude)
        accuracies = np.round(_inside_probabilities(distances, geofence.radius_m, sigmas), 3)
        for index in np.flatnonzero(accuracies >= MATCH_THRESHOLD):
            matches[index].append(
                LocationMatch(
                    geofence=geofence,
                    accuracy=float(accuracies[index]),
                    distance_m=float(distances[index]),
                )
            )
    for position_matches in matches:
        # Ties in accuracy (overlapping circles both at 1.000) go to the nearer centre.
        position_matches.sort(
            key=lambda m: (-m.accuracy, m.distance_m, m.geofence.label, m.geofence.id)
        )
    return matches


def match_locations(position: Position, geofences: Sequence[Geofence]) -> list[LocationMatch]:
    """The geofences the position matches with accuracy >= 0.5, best first."""
    return match_positions([position], geofences)[0]
