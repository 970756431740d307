"""How much energy a stream of readings shows, interval by interval, per channel.

Three channels measure charging energy, from best to worst:

- a cumulative energy counter: its rise across an interval is energy charged in it, exactly,
  however long the interval and whether or not the car moved in it (it only counts charging);
- power, integrated with trapezoids: exact for constant power, off by at most half the change
  of power over an interval, and by up to half of power x duration over an interval in which
  charging started or stopped (the trapezoid then assumes it did so halfway);
- state of charge x battery capacity: off by up to one step of the reported state of charge.

Every function here works on the whole stream at once, one value per interval (between
readings[i] and readings[i + 1]), so the detector can sum any stretch of intervals.
"""

import itertools
from collections.abc import Sequence
from enum import StrEnum
from typing import Final, Protocol

_HOUR_MS: Final = 3_600_000
# A counter that drops by more than this was reset (meter swap, firmware update); a smaller
# drop is a reading jitter, not energy flowing back.
COUNTER_RESET_DROP_KWH: Final = 1.0
# More than any car charges at (the fastest public chargers deliver about 400 kW): a counter
# that reset to zero cannot show more than this much energy since.
MAX_CHARGING_POWER_KW: Final = 500.0
# A rise below this is float noise of unit conversion, not energy (a Wh is 0.001).
COUNTER_NOISE_KWH: Final = 0.0005
# Registers are reported to at most the Wh; coarser counters (0.1 kWh) are found in the data.
_COUNTER_RESOLUTIONS_KWH: Final = (1.0, 0.1, 0.01, 0.001)
_SOC_STEPS_PCT: Final = (1.0, 0.5, 0.1, 0.01)


class EnergyMethod(StrEnum):
    COUNTER = "counter"  # difference of the cumulative energy counter: exact
    POWER = "power"  # power integrated over time (trapezoids)
    STATE_OF_CHARGE = "stateOfCharge"  # change of state of charge x battery capacity: estimate


class Measured(Protocol):
    @property
    def timestamp_ms(self) -> int: ...
    @property
    def energy_counter_kwh(self) -> float | None: ...
    @property
    def power_kw(self) -> float | None: ...
    @property
    def soc_pct(self) -> float | None: ...


def counter_increments(readings: Sequence[Measured]) -> list[float | None]:
    """Energy counted in each interval (None where the counter is missing on either side of
    it and cannot be bridged). A rise across readings without a counter is spread over the
    intervals between them in proportion to their duration."""
    increments: list[float | None] = [None] * max(len(readings) - 1, 0)
    known = [i for i, r in enumerate(readings) if r.energy_counter_kwh is not None]
    if not known:
        return increments
    high = readings[known[0]].energy_counter_kwh
    assert high is not None
    for before, after in itertools.pairwise(known):
        value, previous = readings[after].energy_counter_kwh, readings[before].energy_counter_kwh
        assert value is not None
        assert previous is not None
        span_ms = readings[after].timestamp_ms - readings[before].timestamp_ms
        rise: float | None
        # A reset is a sudden drop from one reading to the next; jitter that drifts down over
        # several readings never adds up to one (it would count the whole register as energy).
        if value < previous - COUNTER_RESET_DROP_KWH:
            # Reset to zero, it counted up since: only if no charger could have counted that
            # much in the time. A drop to a large value is a swapped meter or readings out of
            # order, not energy: the interval's energy is unknown (a reading of 7,600 kWh
            # after a drop once made a 7,600 kWh session).
            plausible = value <= MAX_CHARGING_POWER_KW * max(span_ms, 0) / 3_600_000
            rise, high = (value if plausible else None), value
        else:
            # The highest value counted so far: a jitter back is not counted twice.
            rise, high = max(0.0, value - high), max(high, value)
        for i in range(before, after):
            share = (
                (readings[i + 1].timestamp_ms - readings[i].timestamp_ms) / span_ms
                if span_ms > 0
                else 1.0 / (after - before)
            )
            increments[i] = None if rise is None else rise * share
    return increments


def counter_resolution_kwh(values: Sequence[float]) -> float:
    """The coarsest of 1, 0.1, 0.01 or 0.001 kWh that every value is a multiple of."""
    for resolution in _COUNTER_RESOLUTIONS_KWH:
        if all(abs(v / resolution - round(v / resolution)) < 1e-6 for v in values):
            return resolution
    return _COUNTER_RESOLUTIONS_KWH[-1]


def soc_step_pct(values: Sequence[float]) -> float:
    """The step in which a car reports its state of charge: 1 %, 0.5 %, 0.1 % or 0.01 %."""
    for step in _SOC_STEPS_PCT:
        if all(abs(v / step - round(v / step)) < 1e-6 for v in values):
            return step
    return _SOC_STEPS_PCT[-1]


def fill_power(powers: Sequence[float | None], times_ms: Sequence[int]) -> list[float | None]:
    """Power at each reading, readings without one interpolated linearly in time between the
    nearest readings with one (trapezoids over the filled values then equal the trapezoid over
    the known ones). Readings before the first or after the last known value stay None: no
    energy is invented where nothing was measured."""
    filled = list(powers)
    known = [i for i, p in enumerate(powers) if p is not None]
    for before, after in itertools.pairwise(known):
        if after - before < 2:
            continue
        p0, p1 = powers[before], powers[after]
        assert p0 is not None
        assert p1 is not None
        t0, t1 = times_ms[before], times_ms[after]
        for i in range(before + 1, after):
            fraction = (times_ms[i] - t0) / (t1 - t0) if t1 > t0 else 0.0
            filled[i] = p0 + (p1 - p0) * fraction
    return filled


def trapezoid_halves_kwh(
    powers: Sequence[float | None], times_ms: Sequence[int]
) -> list[tuple[float, float]]:
    """Each interval's trapezoid as (the earlier reading's half, the later reading's half):
    power x duration / 2 on each side, 0 where a side is unknown."""
    halves = []
    for i in range(len(times_ms) - 1):
        hours = (times_ms[i + 1] - times_ms[i]) / _HOUR_MS
        p0, p1 = powers[i], powers[i + 1]
        if p0 is None or p1 is None:
            halves.append((0.0, 0.0))
            continue
        halves.append((max(p0, 0.0) * hours / 2, max(p1, 0.0) * hours / 2))
    return halves


def trapezoid_uncertainty_kwh(
    p0: float, p1: float, duration_ms: int, *, charging_throughout: bool
) -> float:
    """How far the true energy of one interval can be from its trapezoid: between the lower
    and the higher power held throughout, or from nothing (charging may have stopped right
    after the earlier reading) when charging is not known to go on throughout."""
    hours = duration_ms / _HOUR_MS
    trapezoid = (p0 + p1) / 2 * hours
    low = min(p0, p1) * hours if charging_throughout else 0.0
    high = max(p0, p1) * hours
    return max(trapezoid - low, high - trapezoid)
