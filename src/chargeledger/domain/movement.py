"""Whether a vehicle moved between two readings, from the evidence each channel gives.

An odometer is the strongest evidence either way: one that advanced means the car drove, one
that did not means it stood still, whatever the positions say. A reported speed means it was
moving at that instant. Positions are noisy: a reported `accuracy` is read as one standard
deviation per axis (DEFAULT_POSITION_UNCERTAINTY_M when none is reported), so the distance
between two reports of one parked car follows a Rayleigh distribution with scale
sqrt(s1^2 + s2^2). Only a distance beyond MOVE_BOUND_SIGMAS of that scale, and beyond
MIN_MOVE_M, is taken as movement: for Gaussian noise a parked car then "moves" once in
about 270,000 pairs of readings. A single position far from both neighbours, which agree with
each other, is a glitch (multipath), not two drives: it is left out.
"""

import itertools
import math
from collections.abc import Sequence
from typing import Final, Protocol

from chargeledger.domain.location_matching import DEFAULT_POSITION_UNCERTAINTY_M

# P(distance > k * scale) = exp(-k^2 / 2): 3.7e-6 for k = 5.
MOVE_BOUND_SIGMAS: Final = 5.0
# Closer than this is the same place for charging: the same drive, car park or street.
MIN_MOVE_M: Final = 100.0
# Faster than this at a reading is driving (slower is GPS speed noise of a parked car).
MOVING_SPEED_KMH: Final = 5.0
_M_PER_DEGREE: Final = 6_371_008.8 * math.pi / 180  # along a meridian, mean earth radius


class Positioned(Protocol):
    @property
    def latitude(self) -> float | None: ...
    @property
    def longitude(self) -> float | None: ...
    @property
    def position_uncertainty_m(self) -> float | None: ...
    @property
    def odometer_km(self) -> float | None: ...
    @property
    def speed_kmh(self) -> float | None: ...


def _sigma_m(reading: Positioned) -> float:
    if reading.position_uncertainty_m is None:
        return DEFAULT_POSITION_UNCERTAINTY_M
    return reading.position_uncertainty_m


def has_position(reading: Positioned) -> bool:
    return reading.latitude is not None and reading.longitude is not None


def positions_apart(earlier: Positioned, later: Positioned) -> bool:
    """Whether two positions are further apart than noise explains (False if either is
    missing). The distance is equirectangular: within 0.1 % of the great circle up to tens
    of km, and the bound is never under 100 m, so nothing near the bound is misjudged."""
    if (
        earlier.latitude is None
        or earlier.longitude is None
        or later.latitude is None
        or later.longitude is None
    ):
        return False
    north_m = (later.latitude - earlier.latitude) * _M_PER_DEGREE
    east_m = (
        (later.longitude - earlier.longitude)
        * _M_PER_DEGREE
        * math.cos(math.radians((earlier.latitude + later.latitude) / 2))
    )
    sigma_a, sigma_b = _sigma_m(earlier), _sigma_m(later)
    bound_m = max(MIN_MOVE_M, MOVE_BOUND_SIGMAS * math.sqrt(sigma_a**2 + sigma_b**2))
    return north_m * north_m + east_m * east_m > bound_m * bound_m


def consecutive_apart(readings: Sequence[Positioned]) -> list[bool]:
    """For each interval, whether the positions on its two sides are apart."""
    return [positions_apart(a, b) for a, b in itertools.pairwise(readings)]


def position_glitches(readings: Sequence[Positioned], apart: Sequence[bool]) -> list[bool]:
    """For each reading, whether its position is a lone outlier: far from the readings on both
    sides (apart: consecutive_apart), which are close to each other."""
    glitches = [False] * len(readings)
    for index in range(1, len(readings) - 1):
        if (
            apart[index - 1]
            and apart[index]
            and not positions_apart(readings[index - 1], readings[index + 1])
        ):
            glitches[index] = True
    return glitches


def moved_between(
    earlier: Positioned,
    later: Positioned,
    *,
    odometer_tolerance_km: float,
    positions_moved: bool,
) -> bool:
    """Whether the vehicle drove between the two readings; positions_moved: whether their
    positions are apart (and neither is a glitch)."""
    if earlier.odometer_km is not None and later.odometer_km is not None:
        return later.odometer_km - earlier.odometer_km > odometer_tolerance_km
    for reading in (earlier, later):
        if reading.speed_kmh is not None and reading.speed_kmh > MOVING_SPEED_KMH:
            return True
    return positions_moved
