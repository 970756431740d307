"""Charge sessions from what a vehicle or charger reports: readings in, sessions out.

Between each two consecutive readings lies an interval, which is charging or not, judged by
the best evidence the earlier reading carries:

1. `isCharging`, where the car reports it;
2. else power flow: instantaneous power above a small threshold;
3. else state of charge rising while plugged in or stationary (same place, same odometer).

A session is a run of charging intervals. An interval longer than the gap limit, or one over
which the vehicle moved (its position jumped beyond the two positions' uncertainties, or its
odometer advanced), is a break: no session spans it. Two runs separated by a pause shorter than
the pause limit, with no break in between, are one session (solar-following, scheduled pauses).

A session is complete once a reading after it shows that charging stopped, or once nothing has
been heard for longer than the gap limit; the last run of a stream that is still charging is
open and not listed yet. Sessions with less than the noise threshold of energy are dropped.
"""

import itertools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from chargeledger.domain.location_matching import (
    DEFAULT_POSITION_UNCERTAINTY_M,
    Position,
    distance_m,
)
from chargeledger.domain.tariffs import EnergyInterval


class DetectionMethod(StrEnum):
    IS_CHARGING = "isCharging"
    POWER = "power"
    STATE_OF_CHARGE = "stateOfCharge"


class EnergyMethod(StrEnum):
    COUNTER = "counter"  # difference of the cumulative energy counter: exact
    POWER = "power"  # power integrated over time (trapezoids)
    STATE_OF_CHARGE = "stateOfCharge"  # change of state of charge x battery capacity: estimate


_METHOD_RANK = {
    DetectionMethod.IS_CHARGING: 0,
    DetectionMethod.POWER: 1,
    DetectionMethod.STATE_OF_CHARGE: 2,
}


@dataclass(frozen=True, slots=True)
class Reading:
    """One normalized reading, in the ledger's units; any field but the timestamp may be None."""

    timestamp_ms: int
    soc_pct: float | None = None
    range_km: float | None = None
    is_charging: bool | None = None
    is_plugged_in: bool | None = None
    energy_counter_kwh: float | None = None
    power_kw: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    position_uncertainty_m: float | None = None
    odometer_km: float | None = None


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    gap_limit_ms: int = 60 * 60_000
    pause_limit_ms: int = 15 * 60_000
    power_threshold_kw: float = 0.1
    min_energy_kwh: float = 0.05
    # A state-of-charge-only run must gain at least this much to be a session at all.
    min_soc_gain_pct: float = 1.0
    # An odometer that advanced more than this between two readings means the car drove.
    odometer_tolerance_km: float = 0.5
    battery_capacity_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class DetectedSession:
    start_ms: int
    end_ms: int
    complete: bool
    method: DetectionMethod
    energy_method: EnergyMethod | None
    energy_kwh: float | None  # None when it cannot be known (SoC only, no battery capacity)
    profile: tuple[EnergyInterval, ...]  # energy over time, for the tariff split
    soc_start_pct: float | None
    soc_end_pct: float | None
    range_start_km: float | None
    range_end_km: float | None
    position: Position | None
    reading_count: int = field(default=0)


@dataclass(frozen=True, slots=True)
class _Interval:
    index: int  # the interval lies between readings[index] and readings[index + 1]
    charging: bool
    broken: bool
    method: DetectionMethod | None


def moved_between(earlier: Reading, later: Reading, odometer_tolerance_km: float) -> bool:
    if (
        earlier.latitude is not None
        and earlier.longitude is not None
        and later.latitude is not None
        and later.longitude is not None
    ):
        allowed_m = _uncertainty(earlier) + _uncertainty(later)
        if (
            distance_m(earlier.latitude, earlier.longitude, later.latitude, later.longitude)
            > allowed_m
        ):
            return True
    if earlier.odometer_km is not None and later.odometer_km is not None:
        return later.odometer_km - earlier.odometer_km > odometer_tolerance_km
    return False


def _uncertainty(reading: Reading) -> float:
    if reading.position_uncertainty_m is None:
        return DEFAULT_POSITION_UNCERTAINTY_M
    return reading.position_uncertainty_m


def _stationary_evidence(earlier: Reading, later: Reading, config: DetectorConfig) -> bool:
    """Positive evidence that the car stood still: plugged in, or same place, or same odometer."""
    if earlier.is_plugged_in or later.is_plugged_in:
        return True
    if earlier.is_plugged_in is False and later.is_plugged_in is False:
        return False  # unplugged: a rising state of charge is recalibration, not charging
    has_positions = None not in (
        earlier.latitude,
        earlier.longitude,
        later.latitude,
        later.longitude,
    )
    has_odometers = earlier.odometer_km is not None and later.odometer_km is not None
    return (has_positions or has_odometers) and not moved_between(
        earlier, later, config.odometer_tolerance_km
    )


def _classify(
    earlier: Reading, later: Reading, config: DetectorConfig, index: int = -1
) -> _Interval:
    broken = later.timestamp_ms - earlier.timestamp_ms > config.gap_limit_ms or moved_between(
        earlier, later, config.odometer_tolerance_km
    )
    if earlier.is_charging is not None:
        method, charging = DetectionMethod.IS_CHARGING, earlier.is_charging
    elif earlier.power_kw is not None:
        method, charging = DetectionMethod.POWER, earlier.power_kw > config.power_threshold_kw
    elif earlier.soc_pct is not None and later.soc_pct is not None:
        method = DetectionMethod.STATE_OF_CHARGE
        charging = later.soc_pct > earlier.soc_pct and _stationary_evidence(earlier, later, config)
    else:
        method, charging = None, False
    return _Interval(index=index, charging=charging and not broken, broken=broken, method=method)


def detect_sessions(
    readings: Sequence[Reading], config: DetectorConfig, *, now_ms: int
) -> list[DetectedSession]:
    """Sessions in a stream of readings (sorted by time, one per timestamp), oldest first."""
    intervals = [
        _classify(readings[i], readings[i + 1], config, i) for i in range(len(readings) - 1)
    ]
    sessions: list[DetectedSession] = []
    for first, last in _merged_runs(intervals, readings, config):
        start_reading = first
        end_reading = last + 1  # the reading that closes the run's last interval
        still_charging = end_reading == len(readings) - 1 and _reports_charging(
            readings[end_reading], readings[end_reading - 1], config
        )
        silent_too_long = now_ms - readings[-1].timestamp_ms > config.gap_limit_ms
        complete = not still_charging or silent_too_long
        run_intervals = intervals[first : last + 1]
        session = _build_session(
            readings[start_reading : end_reading + 1], run_intervals, complete, config
        )
        if session is not None:
            sessions.append(session)
    return sessions


def _reports_charging(reading: Reading, previous: Reading, config: DetectorConfig) -> bool:
    """Whether the newest reading says charging goes on past it."""
    if reading.is_charging is not None:
        return reading.is_charging
    if reading.power_kw is not None:
        return reading.power_kw > config.power_threshold_kw
    # State of charge alone cannot tell until the next reading: assume it goes on while rising.
    return _classify(previous, reading, config).charging


def _merged_runs(
    intervals: Sequence[_Interval], readings: Sequence[Reading], config: DetectorConfig
) -> list[tuple[int, int]]:
    """(first, last) interval indexes of each session: runs of charging intervals, joined
    across pauses shorter than the pause limit that contain no break."""
    runs: list[tuple[int, int]] = []
    index = 0
    while index < len(intervals):
        if not intervals[index].charging:
            index += 1
            continue
        first = index
        while index < len(intervals) and intervals[index].charging:
            index += 1
        runs.append((first, index - 1))
    merged: list[tuple[int, int]] = []
    for run in runs:
        if merged:
            previous_first, previous_last = merged[-1]
            pause = intervals[previous_last + 1 : run[0]]
            pause_ms = readings[run[0]].timestamp_ms - readings[previous_last + 1].timestamp_ms
            if pause_ms < config.pause_limit_ms and not any(gap.broken for gap in pause):
                merged[-1] = (previous_first, run[1])
                continue
        merged.append(run)
    return merged


def _build_session(
    readings: Sequence[Reading],
    intervals: Sequence[_Interval],
    complete: bool,
    config: DetectorConfig,
) -> DetectedSession | None:
    methods = [i.method for i in intervals if i.charging and i.method is not None]
    method = min(methods, key=lambda m: _METHOD_RANK[m])
    energy_method, energy_kwh, profile = measure_energy(readings, config)
    soc = [r.soc_pct for r in readings if r.soc_pct is not None]
    ranges = [r.range_km for r in readings if r.range_km is not None]
    # Compared to the millionth of a kWh: 1000.05 - 1000.0 is 0.04999999999995 in floats.
    if energy_kwh is not None and round(energy_kwh, 6) < config.min_energy_kwh:
        return None
    # Found by a rising state of charge alone: it must rise a full point, whatever the energy.
    soc_gain_too_small = len(soc) < 2 or soc[-1] - soc[0] < config.min_soc_gain_pct
    if method is DetectionMethod.STATE_OF_CHARGE and soc_gain_too_small:
        return None
    return DetectedSession(
        start_ms=readings[0].timestamp_ms,
        end_ms=readings[-1].timestamp_ms,
        complete=complete,
        method=method,
        energy_method=energy_method,
        energy_kwh=energy_kwh,
        profile=tuple(profile),
        soc_start_pct=soc[0] if soc else None,
        soc_end_pct=soc[-1] if soc else None,
        range_start_km=ranges[0] if ranges else None,
        range_end_km=ranges[-1] if ranges else None,
        position=_median_position(readings),
        reading_count=len(readings),
    )


def _pairs(
    readings: Sequence[Reading], value: Callable[[Reading], float | None]
) -> list[tuple[int, int, float, float]]:
    """(earlier time, later time, earlier value, later value) of consecutive readings that
    both carry the value."""
    valued = [(r.timestamp_ms, v) for r in readings if (v := value(r)) is not None]
    return [(ta, tb, va, vb) for (ta, va), (tb, vb) in itertools.pairwise(valued)]


def measure_energy(
    readings: Sequence[Reading], config: DetectorConfig
) -> tuple[EnergyMethod | None, float | None, list[EnergyInterval]]:
    """The best energy estimate: counter, else power, else state of charge x capacity."""
    profile: list[EnergyInterval]
    if counters := _pairs(readings, lambda r: r.energy_counter_kwh):
        profile = _counter_profile(counters)
        method = EnergyMethod.COUNTER
    elif powers := _pairs(readings, lambda r: r.power_kw):
        profile = [
            EnergyInterval(ta, tb, (max(va, 0.0) + max(vb, 0.0)) / 2 * (tb - ta) / 3_600_000)
            for ta, tb, va, vb in powers
            # Nothing is known about a gap: no energy is invented for it.
            if tb - ta <= config.gap_limit_ms
        ]
        method = EnergyMethod.POWER
    elif config.battery_capacity_kwh is not None and (
        levels := _pairs(readings, lambda r: r.soc_pct)
    ):
        capacity = config.battery_capacity_kwh
        profile = [
            EnergyInterval(ta, tb, max(vb - va, 0.0) / 100 * capacity) for ta, tb, va, vb in levels
        ]
        method = EnergyMethod.STATE_OF_CHARGE
    else:
        return None, None, []
    return method, sum(step.energy_kwh for step in profile), profile


# A counter that drops by more than this was reset (meter swap, firmware update); a smaller
# drop is a reading jitter, not energy flowing back.
COUNTER_RESET_DROP_KWH = 1.0


def _counter_profile(pairs: Sequence[tuple[int, int, float, float]]) -> list[EnergyInterval]:
    profile = []
    high = pairs[0][2]  # the highest value counted so far: a jitter back is not counted twice
    for earlier_ms, later_ms, _, value in pairs:
        if value < high - COUNTER_RESET_DROP_KWH:
            increment, high = value, value  # reset: it counted up from zero since
        else:
            increment = max(0.0, value - high)
            high = max(high, value)
        profile.append(EnergyInterval(earlier_ms, later_ms, increment))
    return profile


def _median_position(readings: Sequence[Reading]) -> Position | None:
    positioned = [r for r in readings if r.latitude is not None and r.longitude is not None]
    if not positioned:
        return None
    uncertainties = [
        r.position_uncertainty_m for r in positioned if r.position_uncertainty_m is not None
    ]
    return Position(
        latitude=statistics.median(r.latitude for r in positioned if r.latitude is not None),
        longitude=statistics.median(r.longitude for r in positioned if r.longitude is not None),
        uncertainty_m=statistics.median(uncertainties) if uncertainties else None,
    )
