"""Charge sessions from readings (chargeledger.domain.session_detection).

Traces are built minute by minute from T0 (Monday 2024-06-03 17:00Z, an evening at home) with
small helpers. Energies are worked out by hand in the comments: power trapezoids are
(P_a + P_b) / 2 x minutes / 60 kWh, counters are differences, state of charge is
delta % / 100 x battery capacity.

Start and end are estimated inside the edge intervals (the interval in which charging begins
or ends belongs to the session): charging ran for (energy of the edge interval) / (rate at its
charging side) next to that side. With power readings of 0 kW and 11 kW five minutes apart the
edge's trapezoid is 11/2 x 5/60 = 0.4583 kWh, 2.5 minutes at 11 kW: halfway. A 5-minute step at
11 kW is worth 11 x 5/60 = 0.9167 kWh.
"""

import itertools
import random
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chargeledger.domain.instants import parse_instant_ms
from chargeledger.domain.location_matching import Position
from chargeledger.domain.session_detection import (
    DetectedSession,
    DetectionMethod,
    DetectorConfig,
    EnergyMethod,
    Measurement,
    Reading,
    detect_sessions,
    measure_energy,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
T0 = parse_instant_ms("2024-06-03T17:00:00Z")
DEFAULTS = DetectorConfig()
# Brussels, Grand-Place.
HOME: dict[str, Any] = {"latitude": 50.8467, "longitude": 4.3525}
# Metres per degree of latitude on the mean Earth sphere (6,371,008.8 m x pi / 180).
METRES_PER_DEGREE = 111_195.08


def at(minute: float) -> int:
    return T0 + round(minute * MINUTE_MS)


def reading(minute: float, **fields: Any) -> Reading:
    return Reading(timestamp_ms=at(minute), **fields)


def minutes(first: int, last: int, step: int = 5) -> range:
    """first, first + step, ..., last (inclusive)."""
    return range(first, last + 1, step)


def north_of_home(metres: float) -> dict[str, Any]:
    return {
        "latitude": HOME["latitude"] + metres / METRES_PER_DEGREE,
        "longitude": HOME["longitude"],
    }


def plugged_charge(
    runs: Sequence[tuple[int, int]],
    until: int,
    *,
    step: int = 5,
    power_kw: float = 11.0,
    **fields: Any,
) -> list[Reading]:
    """Readings every `step` minutes from 0 to `until` that report isCharging and power:
    charging at power_kw on [a, b) of each run, not charging (0 kW) otherwise."""
    trace = []
    for minute in minutes(0, until, step):
        charging = any(a <= minute < b for a, b in runs)
        trace.append(
            reading(
                minute,
                is_charging=charging,
                power_kw=power_kw if charging else 0.0,
                **fields,
            )
        )
    return trace


def detect(
    readings: Sequence[Reading], config: DetectorConfig = DEFAULTS, now_minute: float | None = None
) -> list[DetectedSession]:
    """Sessions as seen one minute after the last reading (or at now_minute)."""
    now = readings[-1].timestamp_ms + MINUTE_MS if now_minute is None else at(now_minute)
    return detect_sessions(readings, config, now_ms=now)


def spans(sessions: Iterable[DetectedSession]) -> list[tuple[int, int]]:
    return [(session.start_ms, session.end_ms) for session in sessions]


def energy(session: DetectedSession) -> float:
    assert session.energy_kwh is not None
    return session.energy_kwh


def profile_energies(session: DetectedSession) -> list[float]:
    return [step.energy_kwh for step in session.profile]


# --- isCharging ---------------------------------------------------------------------------


def test_is_charging_session_runs_through_its_edge_intervals() -> None:
    # Not charging at 0, charging 11 kW at 5..55, stopped (0 kW) at 60 and 65. The intervals
    # 0..5 and 55..60, in which charging began and ended, belong to the session: each edge
    # trapezoid is 11/2 x 5/60 = 0.4583 kWh, 2.5 min at 11 kW, so the session runs 2.5..57.5.
    trace = plugged_charge([(5, 60)], until=65)
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(2.5), at(57.5))
    assert session.complete
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_method is EnergyMethod.POWER
    # 0..5: 0.4583; 5..55: 50 min at 11 kW = 9.1667; 55..60: 0.4583. Total 10.0833 kWh,
    # which is 55 min (2.5..57.5) at 11 kW.
    assert energy(session) == pytest.approx(11 * 55 / 60)
    assert session.reading_count == 13  # 0, 5, ..., 60
    assert (session.profile[0].start_ms, session.profile[0].end_ms) == (at(2.5), at(5))
    assert (session.profile[-1].start_ms, session.profile[-1].end_ms) == (at(55), at(57.5))
    assert sum(profile_energies(session)) == pytest.approx(11 * 55 / 60)
    # Uncertainty: each edge may have charged from nothing to 11 kW x 5 min: max(0.4583 - 0,
    # 0.9167 - 0.4583) = 0.4583 each; the steady intervals none. 2 x 0.4583 = 0.9167 kWh.
    assert session.energy_uncertainty_kwh == pytest.approx(11 / 12, abs=1e-6)


def test_energy_counter_is_preferred_over_power() -> None:
    # Same trace, plus a counter rising 0.2 kWh a minute while charging: 2000 kWh at 0 and 5,
    # 2011 kWh at 60 (2000 + 0.2 x 55). The counter says 11 kWh, the power 10.0833 kWh.
    trace = [
        reading(
            m,
            is_charging=5 <= m < 60,
            power_kw=11.0 if 5 <= m < 60 else 0.0,
            energy_counter_kwh=2000.0 + 0.2 * (min(max(m, 5), 60) - 5),
        )
        for m in minutes(0, 65)
    ]
    [session] = detect(trace)
    # Start edge 0..5: the counter did not move (0 kWh), so charging began at 5. End edge
    # 55..60: 1 kWh at 11 kW is 5.45 min, more than the interval: it ran to 60.
    assert (session.start_ms, session.end_ms) == (at(5), at(60))
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(11.0)
    # The counter reports whole kWh (2000, 2001, ..., 2011): resolution 1 kWh.
    assert session.energy_uncertainty_kwh == pytest.approx(1.0)


def test_counter_reset_mid_session_counts_the_increments() -> None:
    # Counter 5000 at 0 and 5, 5001 at 10, 5002 at 15, reset to 0.4 at 20, 1.4 at 25, 2.4 at 30.
    # Increments: 0 (edge 0..5) + 1 + 1 + 0.4 (from 0 up to 0.4 after the reset) + 1 + 1
    # = 4.4 kWh.
    counters = {0: 5000.0, 5: 5000.0, 10: 5001.0, 15: 5002.0, 20: 0.4, 25: 1.4, 30: 2.4, 35: 2.4}
    trace = [
        reading(m, is_charging=5 <= m < 30, energy_counter_kwh=counter)
        for m, counter in counters.items()
    ]
    [session] = detect(trace)
    # No power: the rate next to each edge is the neighbouring interval's, 1 kWh / 5 min =
    # 12 kW. Start edge 0 kWh: charging began at 5. End edge 25..30, 1 kWh at 12 kW = 5 min:
    # it ran to 30.
    assert (session.start_ms, session.end_ms) == (at(5), at(30))
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(4.4)
    # The start edge 0..5 charged nothing: no step for it.
    assert profile_energies(session) == pytest.approx([1, 1, 0.4, 1, 1])
    # Values 5000, 5001, 5002, 0.4, 1.4, 2.4: multiples of 0.1 kWh, not of 1.
    assert session.energy_uncertainty_kwh == pytest.approx(0.1)


def test_a_counter_that_jitters_back_a_little_is_not_a_reset() -> None:
    """5002.0 -> 5001.9 -> 5002.1 is jitter: it adds 0.1 kWh (5002.1 - 5002.0), not 5001.9."""
    trace = [
        reading(0, is_charging=False, energy_counter_kwh=5000.0),
        reading(5, is_charging=True, energy_counter_kwh=5000.0),
        reading(10, is_charging=True, energy_counter_kwh=5002.0),
        reading(15, is_charging=True, energy_counter_kwh=5001.9),
        reading(20, is_charging=True, energy_counter_kwh=5002.1),
        reading(25, is_charging=False, energy_counter_kwh=5002.1),
    ]
    (session,) = detect(trace)
    assert session.energy_method is EnergyMethod.COUNTER
    assert session.energy_kwh == pytest.approx(2.1)  # 5002.1 - 5000.0, nothing counted twice
    # Per interval: 0 (start edge, no step), 2, 0 (the jitter back), 0.1, 0 (end edge, no step).
    assert profile_energies(session) == pytest.approx([2, 0, 0.1])


def test_a_charge_reported_only_by_is_charging_is_listed_with_unknown_energy() -> None:
    """The car says it charged but reports nothing to measure: a session, energy None."""
    trace = [reading(minute, is_charging=5 <= minute < 60) for minute in minutes(0, 65)]
    (session,) = detect(trace)
    # No rate anywhere: each edge estimate is halfway through its interval, 2.5 and 57.5.
    assert (session.start_ms, session.end_ms) == (at(2.5), at(57.5))
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_kwh is None
    assert session.energy_method is None
    assert session.energy_uncertainty_kwh is None
    assert session.profile == ()


# --- Power --------------------------------------------------------------------------------


def test_power_only_session_uses_the_power_threshold() -> None:
    # 0 kW at 0, 7.4 kW at 10, 20, 30, 0.05 kW (under the 0.1 kW threshold: not charging,
    # counted as 0) at 40, 0 at 50.
    powers = {0: 0.0, 10: 7.4, 20: 7.4, 30: 7.4, 40: 0.05, 50: 0.0}
    [session] = detect([reading(m, power_kw=p) for m, p in powers.items()])
    # Edges 0..10 and 30..40: 7.4/2 x 10/60 = 0.6167 kWh each, 5 min at 7.4 kW.
    assert (session.start_ms, session.end_ms) == (at(5), at(35))
    assert session.method is DetectionMethod.POWER
    assert session.energy_method is EnergyMethod.POWER
    # 0.6167 + 10..30 at 7.4 kW (2.4667) + 0.6167 = 3.7 kWh = 30 min at 7.4 kW.
    assert energy(session) == pytest.approx(3.7)
    assert session.complete
    # Two edges, each max(0.6167 - 0, 1.2333 - 0.6167) = 0.6167: 1.2333 kWh.
    assert session.energy_uncertainty_kwh == pytest.approx(7.4 / 6, abs=1e-6)


POWER_WITH_A_GAP = {0: 7.0, 10: 7.0, 20: 7.0, 30: 7.0, 120: 7.0, 130: 7.0, 140: 7.0, 150: 0.0}


def test_a_gap_inside_a_charge_does_not_split_it_and_its_energy_is_the_trapezoid_across_it() -> (
    None
):
    # 7 kW at 0, 10, 20, 30; nothing for 90 minutes (more than the 60-minute gap limit);
    # 7 kW at 120, 130, 140; 0 kW at 150. Charging at both sides of the gap: one session.
    [session] = detect([reading(m, power_kw=p) for m, p in POWER_WITH_A_GAP.items()])
    # Charging at the first reading: it starts there. End edge 140..150: 7/2 x 10/60 =
    # 0.5833 kWh, 5 min at 7 kW: 145.
    assert (session.start_ms, session.end_ms) == (at(0), at(145))
    assert session.complete
    # 0..140 at 7 kW, the 30..120 gap included (7 x 90/60 = 10.5 kWh): 7 x 140/60 =
    # 16.3333 kWh; plus 0.5833 = 16.9167 kWh.
    assert energy(session) == pytest.approx(7 * 140 / 60 + 3.5 * 10 / 60)
    assert profile_energies(session) == pytest.approx(
        [7 / 6, 7 / 6, 7 / 6, 10.5, 7 / 6, 7 / 6, 7 / 12]
    )
    # The gap is longer than the gap limit: charging may have stopped right after 30 and
    # resumed just before 120, so the low bound over it is 0: max(10.5 - 0, 10.5 - 10.5) =
    # 10.5; the end edge 0.5833. 11.0833 kWh.
    assert session.energy_uncertainty_kwh == pytest.approx(10.5 + 7 / 12, abs=1e-6)


def test_the_gap_limit_changes_only_the_uncertainty_of_a_gap_inside_a_charge() -> None:
    # With a 2-hour gap limit the same 90-minute silence is one session with the same span and
    # energy; charging is now taken to run throughout the silence: its uncertainty is 0 (7 kW
    # on both sides), leaving the end edge's 0.5833 kWh.
    config = DetectorConfig(gap_limit_ms=2 * HOUR_MS)
    [session] = detect([reading(m, power_kw=p) for m, p in POWER_WITH_A_GAP.items()], config)
    assert (session.start_ms, session.end_ms) == (at(0), at(145))
    assert energy(session) == pytest.approx(7 * 140 / 60 + 3.5 * 10 / 60)
    assert session.energy_uncertainty_kwh == pytest.approx(7 / 12, abs=1e-6)


def test_measure_energy_counts_the_trapezoid_across_a_gap_between_power_readings() -> None:
    # 7 kW at 0, 10, 100, 110: 7 x 110/60 = 12.8333 kWh, the 90-minute 10..100 pair (10.5 kWh)
    # included.
    readings = [reading(m, power_kw=7.0) for m in (0, 10, 100, 110)]
    measurement = measure_energy(readings, DEFAULTS)
    assert measurement.method is EnergyMethod.POWER
    assert measurement.energy_kwh == pytest.approx(7 * 110 / 60)
    assert [(step.start_ms, step.end_ms) for step in measurement.profile] == [
        (at(0), at(10)),
        (at(10), at(100)),
        (at(100), at(110)),
    ]
    assert [step.energy_kwh for step in measurement.profile] == pytest.approx([7 / 6, 10.5, 7 / 6])
    # Only the gap (longer than the 60-minute gap limit) is uncertain: 10.5 kWh.
    assert measurement.uncertainty_kwh == pytest.approx(10.5)


def test_measure_energy_prefers_the_counter_and_gives_its_resolution() -> None:
    # Counter 100.0, 101.5, 103.0 and 7 kW throughout: the counter says 3 kWh (the power
    # 7 x 20/60 = 2.3333); values are multiples of 0.1 kWh (not of 1).
    readings = [
        reading(0, power_kw=7.0, energy_counter_kwh=100.0),
        reading(10, power_kw=7.0, energy_counter_kwh=101.5),
        reading(20, power_kw=7.0, energy_counter_kwh=103.0),
    ]
    measurement = measure_energy(readings, DEFAULTS)
    assert measurement.method is EnergyMethod.COUNTER
    assert measurement.energy_kwh == pytest.approx(3.0)
    assert [step.energy_kwh for step in measurement.profile] == pytest.approx([1.5, 1.5])
    assert measurement.uncertainty_kwh == pytest.approx(0.1)


def test_measure_energy_without_any_source_knows_nothing() -> None:
    readings = [reading(0, is_charging=True), reading(10, is_charging=True)]
    assert measure_energy(readings, DEFAULTS) == Measurement(None, None, (), None)
    # State of charge without a battery capacity is no energy either.
    soc_only = [reading(0, soc_pct=40.0), reading(10, soc_pct=50.0)]
    assert measure_energy(soc_only, DEFAULTS) == Measurement(None, None, (), None)


def test_negative_power_is_not_counted_as_energy() -> None:
    # -2 kW (discharging, V2H) at 0, 4 kW at 10: -2 kW is not charging, counted as 0:
    # (0 + 4)/2 x 10/60 = 0.3333 kWh.
    readings = [reading(0, power_kw=-2.0), reading(10, power_kw=4.0)]
    measurement = measure_energy(readings, DEFAULTS)
    assert measurement.energy_kwh == pytest.approx(1 / 3)
    # Charging started inside the interval: max(0.3333 - 0, 0.6667 - 0.3333) = 0.3333.
    assert measurement.uncertainty_kwh == pytest.approx(1 / 3, abs=1e-6)


# --- State of charge ----------------------------------------------------------------------

RISING_SOC = {0: 40.0, 10: 40.0, 20: 42.0, 30: 44.0, 40: 46.0, 50: 48.0, 60: 50.0, 70: 50.0}


def soc_trace(levels: dict[int, float], **fields: Any) -> list[Reading]:
    return [reading(m, soc_pct=level, **fields) for m, level in levels.items()]


def test_soc_only_session_with_battery_capacity_estimates_energy() -> None:
    # Plugged in; SoC 40 % at 0 and 10, rising 2 points per 10 minutes to 50 % at 60, flat at
    # 70. Energy = (50 - 40) / 100 x 60 kWh = 6 kWh, 1.2 kWh per 10 minutes. Edge 10..20:
    # 1.2 kWh at the next interval's 1.2 kWh / 10 min = 7.2 kW is 10 minutes: it began at 10;
    # likewise it ended at 60.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    [session] = detect(soc_trace(RISING_SOC, is_plugged_in=True), config)
    assert (session.start_ms, session.end_ms) == (at(10), at(60))
    assert session.method is DetectionMethod.STATE_OF_CHARGE
    assert session.energy_method is EnergyMethod.STATE_OF_CHARGE
    assert energy(session) == pytest.approx(6.0)
    assert (session.soc_start_pct, session.soc_end_pct) == (40.0, 50.0)
    assert session.complete
    # One step of the reported state of charge (1 %) x 60 kWh = 0.6 kWh.
    assert session.energy_uncertainty_kwh == pytest.approx(0.6)


def test_soc_only_session_without_battery_capacity_has_unknown_energy() -> None:
    [session] = detect(soc_trace(RISING_SOC, is_plugged_in=True))
    assert session.energy_kwh is None
    assert session.energy_method is None
    assert session.energy_uncertainty_kwh is None
    assert session.profile == ()
    assert (session.soc_start_pct, session.soc_end_pct) == (40.0, 50.0)


def test_soc_only_session_span_does_not_depend_on_the_battery_capacity() -> None:
    # The same readings with and without a capacity: the capacity scales energy and rate alike,
    # so the time the edge took (gain / rate) is 10 minutes either way: 10..60.
    trace = soc_trace(RISING_SOC, is_plugged_in=True)
    [with_capacity] = detect(trace, DetectorConfig(battery_capacity_kwh=60.0))
    [without] = detect(trace)
    assert spans([with_capacity]) == [(at(10), at(60))]
    assert spans([without]) == [(at(10), at(60))]


def test_soc_only_rise_of_exactly_one_point_is_a_session() -> None:
    # 40 -> 41 %: the gain equals min_soc_gain_pct (1 point), enough. A single interval with
    # nothing to measure: the session is the whole interval 10..20.
    levels = {0: 40.0, 10: 40.0, 20: 41.0, 30: 41.0}
    [session] = detect(soc_trace(levels, is_plugged_in=True))
    assert (session.start_ms, session.end_ms) == (at(10), at(20))
    assert session.energy_kwh is None


def test_soc_only_rise_under_one_point_is_dropped() -> None:
    # 40 -> 40.5 %: half a point, under min_soc_gain_pct.
    levels = {0: 40.0, 10: 40.0, 20: 40.5, 30: 40.5}
    assert detect(soc_trace(levels, is_plugged_in=True)) == []


def test_soc_only_rise_under_one_point_is_dropped_even_with_a_battery_capacity() -> None:
    # DetectorConfig.min_soc_gain_pct: "A state-of-charge-only run must gain at least this much
    # to be a session at all." A half-point rise (recalibration, rounding) stays no session
    # when the capacity is known, although 0.5 % x 60 kWh = 0.3 kWh passes min_energy_kwh.
    levels = {0: 40.0, 10: 40.0, 20: 40.5, 30: 40.5}
    config = DetectorConfig(battery_capacity_kwh=60.0)
    assert detect(soc_trace(levels, is_plugged_in=True), config) == []


def test_soc_rising_while_unplugged_is_not_charging() -> None:
    # isPluggedIn False on both readings of every interval, at the same place: a rising SoC is
    # recalibration, not a charge.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    assert detect(soc_trace(RISING_SOC, is_plugged_in=False, **HOME), config) == []


def test_soc_rising_while_moving_is_not_charging() -> None:
    # No plug information; the car is 1.1 km further north at every reading (0.01 degree of
    # latitude), far beyond max(100 m, 5 x sqrt(25^2 + 25^2) = 177 m).
    config = DetectorConfig(battery_capacity_kwh=60.0)
    trace = [
        reading(m, soc_pct=level, latitude=50.8 + 0.01 * i, longitude=4.35)
        for i, (m, level) in enumerate(RISING_SOC.items())
    ]
    assert detect(trace, config) == []


def test_soc_rising_while_the_odometer_advances_is_not_charging() -> None:
    # No plug information, no positions; the odometer advances 5 km per reading.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    trace = [
        reading(m, soc_pct=level, odometer_km=10_000.0 + 5 * i)
        for i, (m, level) in enumerate(RISING_SOC.items())
    ]
    assert detect(trace, config) == []


def test_soc_rising_without_any_evidence_of_standing_still_is_not_charging() -> None:
    # No plug, no position, no odometer: nothing says the car stood still.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    assert detect(soc_trace(RISING_SOC), config) == []


def test_soc_rising_at_one_place_or_one_odometer_reading_is_charging() -> None:
    # No plug information, but the same position (or the same odometer) throughout.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    for trace in (
        soc_trace(RISING_SOC, **HOME),
        soc_trace(RISING_SOC, odometer_km=12_345.0),
    ):
        [session] = detect(trace, config)
        assert (session.start_ms, session.end_ms) == (at(10), at(60))
        assert energy(session) == pytest.approx(6.0)


def test_soc_still_rising_at_the_last_reading_is_an_open_session() -> None:
    # 40 % at 0 and 10, 42 % at 20, 44 % at 30 (the last reading): open, ending at 30. Edge
    # 10..20: 2 points (1.2 kWh at 60 kWh) at the next interval's rate (1.2 kWh / 10 min) took
    # 10 minutes: 10. Energy (44 - 40) % x 60 kWh = 2.4 kWh.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    [session] = detect(
        soc_trace({0: 40.0, 10: 40.0, 20: 42.0, 30: 44.0}, is_plugged_in=True), config
    )
    assert (session.start_ms, session.end_ms) == (at(10), at(30))
    assert not session.complete
    assert energy(session) == pytest.approx(2.4)


def test_a_parked_car_saying_not_charging_that_gained_three_points_charged_unseen() -> None:
    # isCharging False at 0 and 120 (the car slept through a charge), no counter, at home; SoC
    # 50 % -> 70 %: 20 points >= 3, a charge in between. Nothing says when inside the two hours:
    # the session is the whole interval. 20 % x 60 kWh = 12 kWh.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    trace = [
        reading(0, is_charging=False, soc_pct=50.0, **HOME),
        reading(120, is_charging=False, soc_pct=70.0, **HOME),
        reading(130, is_charging=False, soc_pct=70.0, **HOME),
    ]
    [session] = detect(trace, config)
    assert (session.start_ms, session.end_ms) == (at(0), at(120))
    assert session.method is DetectionMethod.STATE_OF_CHARGE
    assert energy(session) == pytest.approx(12.0)
    assert session.position == Position(latitude=50.8467, longitude=4.3525, uncertainty_m=None)
    # Two points (50 -> 52) under the same "not charging" reports: under 3, no charge.
    trace[1] = reading(120, is_charging=False, soc_pct=52.0, **HOME)
    trace[2] = reading(130, is_charging=False, soc_pct=52.0, **HOME)
    assert detect(trace, config) == []


# --- Pauses and breaks --------------------------------------------------------------------


def test_ten_minute_pause_at_the_same_place_is_one_session() -> None:
    # 11 kW on [5, 60) and [70, 120) at home, readings every 5 minutes: stopped at 60 and 65,
    # resumed at 70. First run 2.5..57.5 (edges 0..5 and 55..60, 2.5 min each), second run
    # 67.5..117.5 (edges 65..70 and 115..120). Pause 67.5 - 57.5 = 10 min, under the 15-minute
    # pause limit: one session 2.5..117.5.
    trace = plugged_charge([(5, 60), (70, 120)], until=130, **HOME)
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(2.5), at(117.5))
    assert session.complete
    # 55 min (2.5..57.5) + 50 min (67.5..117.5) at 11 kW = 105 min: 11 x 105/60 = 19.25 kWh;
    # interval 60..65 (0 kW at both ends) adds nothing.
    assert energy(session) == pytest.approx(11 * 105 / 60)


def test_twenty_minute_pause_is_two_sessions() -> None:
    # Stopped at 60, resumed at 80: runs 2.5..57.5 and 77.5..117.5, a 20-minute pause. No
    # plug or place information: the 15-minute pause limit.
    trace = plugged_charge([(5, 60), (80, 120)], until=130)
    assert spans(detect(trace)) == [(at(2.5), at(57.5)), (at(77.5), at(117.5))]


def test_pause_exactly_as_long_as_the_pause_limit_is_two_sessions() -> None:
    # Stopped at 60, resumed at 75: runs 2.5..57.5 and 72.5..117.5: the pause 72.5 - 57.5 =
    # 15 minutes is not shorter than the 15-minute limit.
    trace = plugged_charge([(5, 60), (75, 120)], until=130)
    assert spans(detect(trace)) == [(at(2.5), at(57.5)), (at(72.5), at(117.5))]


@pytest.mark.parametrize(
    "parked",
    [{"is_plugged_in": True}, HOME, {"odometer_km": 12_345.0}],
    ids=["plugged-in", "same-position", "same-odometer"],
)
def test_a_pause_while_parked_joins_up_to_the_parked_pause_limit(parked: dict[str, Any]) -> None:
    # Stopped at 60, resumed at 90: runs 2.5..57.5 and 87.5..147.5, a 30-minute pause. Over
    # the 15-minute pause limit (two sessions without plug or place information), under the
    # 60-minute parked pause limit when the car says it stayed plugged in, or its position or
    # odometer shows it stayed put.
    runs = [(5, 60), (90, 150)]
    assert spans(detect(plugged_charge(runs, until=160))) == [
        (at(2.5), at(57.5)),
        (at(87.5), at(147.5)),
    ]
    assert spans(detect(plugged_charge(runs, until=160, **parked))) == [(at(2.5), at(147.5))]
    # Resumed at 120: runs 2.5..57.5 and 117.5..147.5, a 60-minute pause, not shorter than
    # the parked pause limit: two sessions.
    assert spans(detect(plugged_charge([(5, 60), (120, 150)], until=160, **parked))) == [
        (at(2.5), at(57.5)),
        (at(117.5), at(147.5)),
    ]


def test_a_car_unplugged_during_a_short_pause_made_two_plug_ins() -> None:
    # The ten-minute pause (runs 2.5..57.5 and 67.5..117.5) at home, but the car says it was
    # unplugged at 60 and 65: two sessions, however short the pause.
    trace = [
        reading(
            m,
            is_charging=5 <= m < 60 or 70 <= m < 120,
            power_kw=11.0 if 5 <= m < 60 or 70 <= m < 120 else 0.0,
            is_plugged_in=m not in (60, 65),
            **HOME,
        )
        for m in minutes(0, 130)
    ]
    assert spans(detect(trace)) == [(at(2.5), at(57.5)), (at(67.5), at(117.5))]


def drive_between_charges(*, drive: bool, by: str) -> list[Reading]:
    """Charge at home 5..60, then two hours (readings every 10 minutes) either driving or
    standing, then charge 180..240. `by` is "position" or "odometer"."""
    trace: list[Reading] = []
    for minute in [*minutes(0, 60, 5), *minutes(70, 170, 10), *minutes(180, 250, 5)]:
        charging = 5 <= minute < 60 or 180 <= minute < 240
        # 0.01 degree of latitude (1.1 km) per 10 minutes while driving.
        driven = 0 if not drive or minute < 70 else min(minute, 180) - 60
        place: dict[str, Any]
        if by == "position":
            place = {"latitude": 50.8467 + 0.001 * driven, "longitude": 4.3525}
        else:
            place = {"odometer_km": 20_000.0 + 0.8 * driven}  # 8 km per 10 minutes
        trace.append(
            reading(minute, is_charging=charging, power_kw=11.0 if charging else 0.0, **place)
        )
    return trace


@pytest.mark.parametrize("by", ["position", "odometer"])
def test_two_hour_drive_between_charges_is_two_sessions(by: str) -> None:
    # First charge 2.5..57.5. The second begins in 170..180, in which the car also drove the
    # last 1.1 km (8 km by odometer): an edge. Its trapezoid 11/2 x 10/60 = 0.9167 kWh is
    # 5 min at 11 kW: 175. It ends in 235..240 at 237.5.
    trace = drive_between_charges(drive=True, by=by)
    first, second = detect(trace)
    assert spans([first, second]) == [(at(2.5), at(57.5)), (at(175), at(237.5))]
    # 0.9167 + 180..235 at 11 kW (10.0833) + 0.4583 = 11.4583 kWh = 62.5 min at 11 kW.
    assert energy(second) == pytest.approx(11 * 62.5 / 60)
    # Even when pauses of up to 3 hours are bridged, the drive breaks the session.
    lenient = DetectorConfig(pause_limit_ms=3 * HOUR_MS, parked_pause_limit_ms=3 * HOUR_MS)
    assert spans(detect(trace, lenient)) == [(at(2.5), at(57.5)), (at(175), at(237.5))]


@pytest.mark.parametrize("by", ["position", "odometer"])
def test_two_hour_stop_at_the_same_place_is_one_session_when_the_pause_limit_allows(
    by: str,
) -> None:
    trace = drive_between_charges(drive=False, by=by)
    # Runs 2.5..57.5 and 175..237.5: a pause of 117.5 minutes. The position (odometer) shows
    # the car stayed put: the parked pause limit applies. Default 60 minutes: two sessions;
    # 3 hours: one (2.5..237.5).
    assert spans(detect(trace)) == [(at(2.5), at(57.5)), (at(175), at(237.5))]
    lenient = DetectorConfig(parked_pause_limit_ms=3 * HOUR_MS)
    assert spans(detect(trace, lenient)) == [(at(2.5), at(237.5))]


def test_short_pause_with_a_move_is_two_sessions() -> None:
    # Home readings 0..65, charging 5..55; from 70 on 1.1 km north, charging 70..115, stopped
    # at 120. The second charge begins in 65..70, the interval of the move: 67.5. The pause
    # 67.5 - 57.5 = 10 minutes is under the pause limit, but the car moved.
    home = [
        reading(m, is_charging=5 <= m < 60, power_kw=11.0 if 5 <= m < 60 else 0.0, **HOME)
        for m in minutes(0, 65)
    ]
    away = [
        reading(
            m,
            is_charging=m < 120,
            power_kw=11.0 if m < 120 else 0.0,
            latitude=50.8567,
            longitude=4.3525,
        )
        for m in minutes(70, 125)
    ]
    first, second = detect(home + away)
    assert spans([first, second]) == [(at(2.5), at(57.5)), (at(67.5), at(117.5))]
    # The second session's position is where it charged: the readings from 70 on (the reading
    # at 65, before the move, is not its place).
    assert second.position == Position(latitude=50.8567, longitude=4.3525, uncertainty_m=None)
    assert first.position == Position(latitude=50.8467, longitude=4.3525, uncertainty_m=None)


# --- Noise, open sessions -----------------------------------------------------------------


def test_session_under_the_noise_threshold_is_dropped() -> None:
    # 0.2 kW at 5 and 10, stopped at 0 and 15: 0.2/2 x 5/60 + 0.2 x 5/60 + 0.2/2 x 5/60 =
    # 0.2 x 10/60 = 0.0333 kWh, under 0.05 kWh.
    assert detect(plugged_charge([(5, 15)], until=20, power_kw=0.2)) == []
    # 0.5 kW: 0.5 x 10/60 = 0.0833 kWh: kept.
    [session] = detect(plugged_charge([(5, 15)], until=20, power_kw=0.5))
    assert energy(session) == pytest.approx(0.5 * 10 / 60)


def test_stream_ending_while_charging_is_an_open_session() -> None:
    # Charging at 5..30, nothing after: open, as far as it goes (2.5, the start edge, to 30).
    trace = plugged_charge([(5, 31)], until=30)
    [session] = detect(trace, now_minute=31)
    assert (session.start_ms, session.end_ms) == (at(2.5), at(30))
    assert not session.complete
    # 0.4583 (edge 0..5) + 25 min at 11 kW (4.5833) = 27.5 min at 11 kW = 5.0417 kWh.
    assert energy(session) == pytest.approx(11 * 27.5 / 60)
    # Silent for exactly the gap limit (60 minutes): still open.
    [session] = detect(trace, now_minute=30 + 60)
    assert not session.complete


def test_open_session_completes_after_silence_longer_than_the_gap_limit() -> None:
    # Closed at its last reading (30), which still said charging.
    trace = plugged_charge([(5, 31)], until=30)
    [session] = detect(trace, now_minute=30 + 61)
    assert session.complete
    assert (session.start_ms, session.end_ms) == (at(2.5), at(30))


def test_only_the_last_session_of_a_stream_can_be_open() -> None:
    # Runs 2.5..27.5 and 87.5..120 (still charging at 120): a 60-minute pause, two sessions.
    trace = plugged_charge([(5, 30), (90, 200)], until=120, **HOME)
    first, second = detect(trace)
    assert spans([first, second]) == [(at(2.5), at(27.5)), (at(87.5), at(120))]
    assert first.complete
    assert not second.complete


def test_stream_ending_on_a_stopped_reading_is_complete() -> None:
    # Stopped at 30, the last reading: complete, ending inside 25..30 at 27.5.
    trace = plugged_charge([(5, 30)], until=30)
    [session] = detect(trace)
    assert session.complete
    assert session.end_ms == at(27.5)


def test_no_readings_or_one_reading_is_no_session() -> None:
    assert detect_sessions([], DEFAULTS, now_ms=T0) == []
    assert detect([reading(0, is_charging=True, power_kw=11.0)]) == []


# --- Position, state of charge and range --------------------------------------------------


def test_session_position_is_the_median_of_its_readings() -> None:
    # Five readings in the session (5..20 charging, 25 stopped) with jitter of a few metres;
    # the reading before the session (0, in the start edge) carries no position.
    latitudes = [50.84670, 50.84680, 50.84675, 50.84660, 50.84672]
    longitudes = [4.35250, 4.35255, 4.35245, 4.35252, 4.35248]
    uncertainties: list[float | None] = [10.0, 30.0, None, 20.0, 15.0]
    trace = [reading(0, is_charging=False, power_kw=0.0)]
    for i, minute in enumerate(minutes(5, 25)):
        trace.append(
            reading(
                minute,
                is_charging=minute < 25,
                power_kw=11.0 if minute < 25 else 0.0,
                latitude=latitudes[i],
                longitude=longitudes[i],
                position_uncertainty_m=uncertainties[i],
            )
        )
    [session] = detect(trace)
    # Sorted latitudes 50.84660, 50.84670, 50.84672, 50.84675, 50.84680: median 50.84672.
    # Sorted longitudes 4.35245, 4.35248, 4.35250, 4.35252, 4.35255: median 4.35250.
    # Uncertainties given: 10, 15, 20, 30: median (15 + 20)/2 = 17.5 m.
    position = session.position
    assert position is not None
    assert position.latitude == pytest.approx(50.84672)
    assert position.longitude == pytest.approx(4.35250)
    assert position.uncertainty_m == pytest.approx(17.5)


def test_session_without_positions_has_no_position() -> None:
    [session] = detect(plugged_charge([(5, 30)], until=35))
    assert session.position is None


def test_position_without_uncertainties_has_no_uncertainty() -> None:
    [session] = detect(plugged_charge([(5, 30)], until=35, **HOME))
    assert session.position == Position(latitude=50.8467, longitude=4.3525, uncertainty_m=None)


def test_soc_and_range_are_taken_from_the_first_and_last_readings_that_carry_them() -> None:
    # Charging 5..30 at 11 kW; SoC and range rise with it. The session's readings are 0 (its
    # start edge) to 35 (its end edge). Reading 0 has a range but no SoC, reading 35 a SoC but
    # no range: SoC starts at 5's value, range at 0's; SoC ends at 35's, range at 30's. The
    # reading at 40 is after the session.
    trace = [reading(0, is_charging=False, power_kw=0.0, range_km=140.0)]
    for minute in minutes(5, 35):
        charging = minute < 35
        trace.append(
            reading(
                minute,
                is_charging=charging,
                power_kw=11.0 if charging else 0.0,
                soc_pct=30.0 + minute / 5,
                range_km=None if minute == 35 else 150.0 + minute,
            )
        )
    trace.append(reading(40, is_charging=False, power_kw=0.0, soc_pct=99.0, range_km=999.0))
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(2.5), at(32.5))
    assert (session.soc_start_pct, session.soc_end_pct) == (31.0, 37.0)  # 30 + 5/5, 30 + 35/5
    assert (session.range_start_km, session.range_end_km) == (140.0, 180.0)  # 0's, 150 + 30


def test_method_is_the_best_evidence_of_the_session() -> None:
    # Power-only readings at 0..5, then isCharging readings: one run; method isCharging.
    # Charging at the first reading: starts at 0; end edge 15..20, 7/2 x 5/60 kWh at 7 kW:
    # 2.5 min, 17.5.
    trace = [
        reading(0, power_kw=7.0),
        reading(5, power_kw=7.0),
        reading(10, is_charging=True, power_kw=7.0),
        reading(15, is_charging=True, power_kw=7.0),
        reading(20, is_charging=False, power_kw=0.0),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(0), at(17.5))
    assert session.method is DetectionMethod.IS_CHARGING


# --- Drives inside edge intervals ---------------------------------------------------------


def test_a_drive_between_two_charges_within_one_interval_splits_its_energy_by_power() -> None:
    # Charging at home at 12 kW (0, 10); at 20 the odometer is 20 km further and the car
    # charges at 60 kW; stopped at 40. The counter rose 5 kWh across 10..20, charged on both
    # sides of the drive: split 12 : 60, 5 x 12/72 = 0.8333 kWh before, 5 x 60/72 = 4.1667 after.
    trace = [
        reading(0, is_charging=True, power_kw=12.0, energy_counter_kwh=100.0, odometer_km=3000.0),
        reading(10, is_charging=True, power_kw=12.0, energy_counter_kwh=102.0, odometer_km=3000.0),
        reading(20, is_charging=True, power_kw=60.0, energy_counter_kwh=107.0, odometer_km=3020.0),
        reading(30, is_charging=True, power_kw=60.0, energy_counter_kwh=117.0, odometer_km=3020.0),
        reading(40, is_charging=False, power_kw=0.0, energy_counter_kwh=122.0, odometer_km=3020.0),
        reading(50, is_charging=False, power_kw=0.0, energy_counter_kwh=122.0, odometer_km=3020.0),
    ]
    home, away = detect(trace)
    # Home: charging at the first reading, 0; 0.8333 kWh at 12 kW is 250 s after 10: 14:10.
    # Energy 2 + 0.8333 = 2.8333 kWh.
    assert (home.start_ms, home.end_ms) == (at(0), at(10) + 250_000)
    assert energy(home) == pytest.approx(2 + 5 / 6)
    # Away: 4.1667 kWh at 60 kW is 250 s before 20: 15:50. End edge 30..40: 5 kWh at 60 kW =
    # 5 min: 35. Energy 4.1667 + 10 + 5 = 19.1667 kWh.
    assert (away.start_ms, away.end_ms) == (at(20) - 250_000, at(35))
    assert energy(away) == pytest.approx(19 + 1 / 6)
    assert energy(home) + energy(away) == pytest.approx(122.0 - 100.0)
    # A guessed split: each side's uncertainty is the counter's resolution (1 kWh) plus the
    # whole shared 5 kWh.
    assert home.energy_uncertainty_kwh == pytest.approx(6.0)
    assert away.energy_uncertainty_kwh == pytest.approx(6.0)


def test_sessions_around_a_drive_inside_one_interval_do_not_overlap() -> None:
    # Charging at home at 11 kW at 0; at 30 the odometer is 20 km further and the car charges
    # at 50 kW (a DC charger tapering: it averaged more before); stopped at 40. The counter
    # rose 20 kWh across 0..30 (plausible: a few minutes at home, 10 minutes of driving, about
    # 15 minutes around 75 kW). Split 11 : 50: home 20 x 11/61 = 3.607 kWh, away 20 x 50/61 =
    # 16.393 kWh. Each at its own power takes 19.67 min, more than the interval can hold for
    # both: each side gets at most half of it (15 min), home ends at 15 and away starts at 15.
    # Away's end edge 30..40: 5 kWh at 50 kW = 6 min: 36.
    trace = [
        reading(0, is_charging=True, power_kw=11.0, energy_counter_kwh=100.0, odometer_km=1000.0),
        reading(30, is_charging=True, power_kw=50.0, energy_counter_kwh=120.0, odometer_km=1020.0),
        reading(40, is_charging=False, power_kw=0.0, energy_counter_kwh=125.0, odometer_km=1020.0),
        reading(50, is_charging=False, power_kw=0.0, energy_counter_kwh=125.0, odometer_km=1020.0),
    ]
    home, away = detect(trace)
    assert spans([home, away]) == [(at(0), at(15)), (at(15), at(36))]
    assert energy(home) == pytest.approx(20 * 11 / 61)
    assert energy(away) == pytest.approx(20 * 50 / 61 + 5)


def test_a_charge_before_a_drive_starts_before_it() -> None:
    # Not charging at 0; at 10 the car only says it is plugged in; at 20 it is 10 km further
    # and charging at 50 kW; stopped at 30. Power at 10, filled between 0 and 50 kW: 25 kW.
    # Interval 10..20 is shared: before the drive 25/2 x 10/60 = 2.0833 kWh, 5 min at 25 kW
    # after 10: 10..15 (it was plugged in at 10); after the drive 50/2 x 10/60 = 4.1667 kWh,
    # 5 min at 50 kW before 20: 15, to 25 (edge 20..30: 4.1667 kWh at 50 kW). Expected
    # (10, 15) and (15, 25), in that order.
    trace = [
        reading(0, is_charging=False, power_kw=0.0, odometer_km=1000.0),
        reading(10, is_plugged_in=True, odometer_km=1000.0),
        reading(20, is_charging=True, power_kw=50.0, odometer_km=1010.0),
        reading(30, is_charging=False, power_kw=0.0, odometer_km=1010.0),
    ]
    before, after = detect(trace)
    assert energy(before) == pytest.approx(25 / 2 * 10 / 60)
    assert energy(after) == pytest.approx(50 * 10 / 60)
    assert before.start_ms < before.end_ms <= after.start_ms
    assert spans([before, after]) == [(at(10), at(15)), (at(15), at(25))]


def test_a_charge_ending_in_a_shared_drive_interval_without_status_does_not_overlap() -> None:
    # Plugged in at 0 (counter 100.0), no charging status; at 10 the odometer is 10 km further
    # (counter 102.0); charging at 20 (104.0); stopped at 30 (105.0). The 2 kWh of 0..10 are
    # shared, no power on either side: 1 kWh each. The charge after the drive: 1 kWh at the
    # next interval's 2 kWh / 10 min = 12 kW is 5 min: 5; end edge 20..30, 1 kWh at 12 kW:
    # 25. The charge before: from its plugged-in reading, 0, to at most half the shared
    # interval, 5 (no rate on its side: halfway). Expected (0, 5) and (5, 25).
    trace = [
        reading(0, is_plugged_in=True, energy_counter_kwh=100.0, odometer_km=1000.0),
        reading(10, energy_counter_kwh=102.0, odometer_km=1010.0),
        reading(20, is_charging=True, energy_counter_kwh=104.0, odometer_km=1010.0),
        reading(30, is_charging=False, energy_counter_kwh=105.0, odometer_km=1010.0),
    ]
    before, after = detect(trace)
    assert (energy(before), energy(after)) == pytest.approx((1.0, 4.0))
    assert spans([before, after]) == [(at(0), at(5)), (at(5), at(25))]


def test_a_whole_charge_between_two_readings_on_the_road_is_a_session_without_a_place() -> None:
    # Driving (110 and 100 km/h, 60 km in 30 min), not charging at either reading, but the
    # counter rose 40 kWh: a DC stop fits between them. Nothing says when: the whole interval.
    trace = [
        reading(
            0, is_charging=False, speed_kmh=110.0, odometer_km=10_000.0, energy_counter_kwh=2000.0
        ),
        reading(
            30, is_charging=False, speed_kmh=100.0, odometer_km=10_060.0, energy_counter_kwh=2040.0
        ),
        reading(
            60, is_charging=False, speed_kmh=100.0, odometer_km=10_120.0, energy_counter_kwh=2040.0
        ),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(0), at(30))
    assert session.method is DetectionMethod.COUNTER
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(40.0)
    assert session.position is None
    assert session.complete


# --- Failure causes of the old rules ------------------------------------------------------


def parked_charge(places: Sequence[dict[str, Any]], **fields: Any) -> list[Reading]:
    """Readings every 5 minutes from 0 to 65 at the given places (one per reading): charging
    at 11 kW at 5..55, not charging at 0, 60 and 65."""
    return [
        reading(
            minute,
            is_charging=5 <= minute < 60,
            power_kw=11.0 if 5 <= minute < 60 else 0.0,
            **place,
            **fields,
        )
        for minute, place in zip(minutes(0, 65), places, strict=True)
    ]


ALTERNATING_40_M = [north_of_home(40.0 * (i % 2)) for i in range(14)]
# 150 m north from 30 on (a jump, not a lone glitch: the later positions agree).
JUMP_150_M_AT_30 = [north_of_home(0.0 if minute < 30 else 150.0) for minute in minutes(0, 65)]


@pytest.mark.parametrize(
    ("places", "fields"),
    [
        # Positions 40 m apart with accuracy 10 m (the old rule: beyond 10 + 10 m is a move)
        # and an unchanged odometer: parked.
        (ALTERNATING_40_M, {"position_uncertainty_m": 10.0, "odometer_km": 12_345.0}),
        # No odometer: 40 m is within max(100 m, 5 x sqrt(10^2 + 10^2) = 70.7 m) = 100 m.
        (ALTERNATING_40_M, {"position_uncertainty_m": 10.0}),
        # An unchanged odometer is parked whatever the positions say (150 m > 100 m).
        (JUMP_150_M_AT_30, {"position_uncertainty_m": 10.0, "odometer_km": 12_345.0}),
        # Accuracy 30 m: 150 m is within 5 x sqrt(30^2 + 30^2) = 212 m.
        (JUMP_150_M_AT_30, {"position_uncertainty_m": 30.0}),
    ],
    ids=["40m-odometer", "40m-no-odometer", "150m-odometer", "150m-accuracy-30m"],
)
def test_gps_noise_of_a_parked_car_is_not_a_drive(
    places: list[dict[str, Any]], fields: dict[str, Any]
) -> None:
    # One session 2.5..57.5, 55 min at 11 kW = 10.0833 kWh (the old rules cut it at every
    # "move").
    [session] = detect(parked_charge(places, **fields))
    assert (session.start_ms, session.end_ms) == (at(2.5), at(57.5))
    assert energy(session) == pytest.approx(11 * 55 / 60)
    assert session.reading_count == 13


def test_a_position_jump_beyond_the_noise_bound_without_an_odometer_is_a_drive() -> None:
    # The 150 m jump at 30 with accuracy 10 m and no odometer: beyond 100 m, a move in
    # 25..30, charging on both sides (11 kW each): split halfway, 0.4583 kWh = 2.5 min each.
    # Home 2.5..27.5 (25 min at 11 kW = 4.5833 kWh), there 27.5..57.5 (30 min = 5.5 kWh).
    home, there = detect(parked_charge(JUMP_150_M_AT_30, position_uncertainty_m=10.0))
    assert spans([home, there]) == [(at(2.5), at(27.5)), (at(27.5), at(57.5))]
    assert energy(home) == pytest.approx(11 * 25 / 60)
    assert energy(there) == pytest.approx(11 * 30 / 60)


def test_the_interval_in_which_charging_begins_is_counted() -> None:
    # Counter 1000.0 at 0 (not charging); 1001.0 at 10, the first reading charging (12 kW):
    # 1 kWh charged in 0..10, 5 min at 12 kW: it began at 5. 1003.0 at 20, 1005.0 at 30;
    # 1006.5 at 40, not charging: 1.5 kWh at 12 kW = 7.5 min: it ended at 37.5.
    trace = [
        reading(0, is_charging=False, power_kw=0.0, energy_counter_kwh=1000.0),
        reading(10, is_charging=True, power_kw=12.0, energy_counter_kwh=1001.0),
        reading(20, is_charging=True, power_kw=12.0, energy_counter_kwh=1003.0),
        reading(30, is_charging=True, power_kw=12.0, energy_counter_kwh=1005.0),
        reading(40, is_charging=False, power_kw=0.0, energy_counter_kwh=1006.5),
        reading(50, is_charging=False, power_kw=0.0, energy_counter_kwh=1006.5),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(37.5))
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(1006.5 - 1000.0)  # the full difference, 6.5 kWh
    assert session.reading_count == 5  # 0..40
    assert session.energy_uncertainty_kwh == pytest.approx(0.1)  # 1006.5: tenths of a kWh


def test_edge_interval_with_a_drive_then_a_charge_is_counted() -> None:
    # Not charging at 0 (odometer 5000, counter 800.0). At 15 the odometer reads 5010 and the
    # car charges at 50 kW, counter 805.0: it drove, then charged 5 kWh (6 min at 50 kW) inside
    # 0..15: start 9. 817.5 at 30 (15 min at 50 kW); 822.5 at 45, stopped: 5 kWh at 50 kW =
    # 6 min after 30: end 36.
    trace = [
        reading(0, is_charging=False, power_kw=0.0, energy_counter_kwh=800.0, odometer_km=5000.0),
        reading(15, is_charging=True, power_kw=50.0, energy_counter_kwh=805.0, odometer_km=5010.0),
        reading(30, is_charging=True, power_kw=50.0, energy_counter_kwh=817.5, odometer_km=5010.0),
        reading(45, is_charging=False, power_kw=0.0, energy_counter_kwh=822.5, odometer_km=5010.0),
        reading(60, is_charging=False, power_kw=0.0, energy_counter_kwh=822.5, odometer_km=5010.0),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(9), at(36))
    assert energy(session) == pytest.approx(822.5 - 800.0)  # 22.5 kWh
    assert session.reading_count == 4  # 0..45


def test_edge_interval_of_a_car_asleep_before_a_scheduled_start_is_counted() -> None:
    # Plugged in, not charging at 0 (counter 300.0), then asleep for 90 minutes (longer than
    # the 60-minute gap limit); at 90 charging at 7.2 kW, counter 303.6: 3.6 kWh at 7.2 kW =
    # 30 min, the scheduled start at 60. 1.2 kWh per 10 minutes to 306.0 at 110; 306.6 at 120,
    # stopped: 0.6 kWh at 7.2 kW = 5 min, end 115.
    counters = {0: 300.0, 90: 303.6, 100: 304.8, 110: 306.0, 120: 306.6, 130: 306.6}
    trace = [
        reading(
            m,
            is_charging=90 <= m < 120,
            power_kw=7.2 if 90 <= m < 120 else 0.0,
            energy_counter_kwh=counter,
            is_plugged_in=True,
        )
        for m, counter in counters.items()
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(60), at(115))
    assert energy(session) == pytest.approx(306.6 - 300.0)  # 6.6 kWh, the asleep 3.6 included
    assert session.reading_count == 5  # 0..120


def test_a_charge_seen_in_one_reading_between_drives_is_one_session() -> None:
    # On the road at 0 and 20 (odometer +35 km, counter flat), at 40 a single reading charging
    # at 150 kW (odometer +15 km, counter +20 kWh), on the road again at 60 (+25 km, counter
    # +27 kWh) and 80. 20 kWh at 150 kW = 8 min before 40: 32; 27 kWh at 150 kW = 10.8 min
    # after 40: 50.8. 47 kWh by counter.
    stops = [
        (0, False, 0.0, 2000.0, 10_000.0, 110.0),
        (20, False, 0.0, 2000.0, 10_035.0, 100.0),
        (40, True, 150.0, 2020.0, 10_050.0, 0.0),
        (60, False, 0.0, 2047.0, 10_075.0, 120.0),
        (80, False, 0.0, 2047.0, 10_110.0, 110.0),
    ]
    trace = [
        reading(
            m,
            is_charging=charging,
            power_kw=power,
            energy_counter_kwh=counter,
            odometer_km=odometer,
            speed_kmh=speed,
            latitude=50.0 + i / 10,
            longitude=4.0,
        )
        for i, (m, charging, power, counter, odometer, speed) in enumerate(stops)
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(32), at(50.8))
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(47.0)
    assert session.reading_count == 3  # 20, 40, 60
    # Where it charged: the reading at 40 (the others are on the road).
    assert session.position == Position(latitude=50.2, longitude=4.0, uncertainty_m=None)
    assert session.complete


def test_a_three_hour_flat_counter_between_two_charges_is_a_pause() -> None:
    # Charge 1: counter 500.0 at 0 (not charging), 501.0 at 10 (12 kW: began at 5), 503.0 at
    # 20, 504.0 at 30, stopped (1 kWh at 12 kW: ended at 25). Flat 504.0 from 30 to 210 (three
    # hours); not charging at 210 and 330 but the counter rose 10 kWh: a charge in between,
    # unseen, with no rate to place it: the whole interval 210..330. The pause 210 - 25 =
    # 185 min: two sessions.
    trace = [
        reading(0, is_charging=False, power_kw=0.0, energy_counter_kwh=500.0),
        reading(10, is_charging=True, power_kw=12.0, energy_counter_kwh=501.0),
        reading(20, is_charging=True, power_kw=12.0, energy_counter_kwh=503.0),
        reading(30, is_charging=False, power_kw=0.0, energy_counter_kwh=504.0),
        reading(210, is_charging=False, power_kw=0.0, energy_counter_kwh=504.0),
        reading(330, is_charging=False, power_kw=0.0, energy_counter_kwh=514.0),
        reading(340, is_charging=False, power_kw=0.0, energy_counter_kwh=514.0),
    ]
    first, second = detect(trace)
    assert spans([first, second]) == [(at(5), at(25)), (at(210), at(330))]
    assert energy(first) == pytest.approx(4.0)
    assert energy(second) == pytest.approx(10.0)
    assert second.method is DetectionMethod.COUNTER
    assert (first.reading_count, second.reading_count) == (4, 2)


def test_a_two_hour_data_gap_inside_a_charge_is_one_session() -> None:
    # 700.0 at 0 (not charging); charging at 7.2 kW at 10 (700.6: 0.6 kWh = 5 min, began at 5)
    # and 20 (701.8); silent for two hours; charging at 140 (716.2: 14.4 kWh = 2 h at 7.2 kW)
    # and 150 (717.4); stopped at 160 (718.0: 0.6 kWh = 5 min, ended at 155).
    counters = {0: 700.0, 10: 700.6, 20: 701.8, 140: 716.2, 150: 717.4, 160: 718.0, 170: 718.0}
    trace = [
        reading(
            m,
            is_charging=10 <= m < 160,
            power_kw=7.2 if 10 <= m < 160 else 0.0,
            energy_counter_kwh=counter,
        )
        for m, counter in counters.items()
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(155))
    assert energy(session) == pytest.approx(18.0)  # 718.0 - 700.0
    assert session.reading_count == 6  # 0..160
    assert session.complete


def test_the_profile_stays_inside_the_session() -> None:
    # Counter jitter trace: charging 5..20, the end edge 20..25 counted nothing (5002.1 at
    # both), so the session ends at 20 and no profile step may reach past it (nor before 5,
    # the start edge 0..5 having counted nothing either).
    trace = [
        reading(0, is_charging=False, energy_counter_kwh=5000.0),
        reading(5, is_charging=True, energy_counter_kwh=5000.0),
        reading(10, is_charging=True, energy_counter_kwh=5002.0),
        reading(15, is_charging=True, energy_counter_kwh=5001.9),
        reading(20, is_charging=True, energy_counter_kwh=5002.1),
        reading(25, is_charging=False, energy_counter_kwh=5002.1),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(20))
    for step in session.profile:
        assert session.start_ms <= step.start_ms <= step.end_ms <= session.end_ms


# --- Properties ---------------------------------------------------------------------------


@st.composite
def traces(draw: st.DrawFn, *, drives: bool = True) -> list[Reading]:
    """Up to 40 readings with any mix of channels; with drives, the car sometimes moves on
    (odometer and position together) between two readings."""
    count = draw(st.integers(0, 40))
    timestamp = T0
    counter = draw(st.floats(0, 10_000))
    soc = draw(st.floats(0, 100))
    odometer = 10_000.0
    latitude = HOME["latitude"]
    trace = []
    for _ in range(count):
        timestamp += draw(
            st.one_of(
                st.sampled_from([1, 5, 10, 15, 20, 61, 120]).map(lambda m: m * MINUTE_MS),
                st.integers(1, 3 * HOUR_MS),
            )
        )
        if draw(st.integers(0, 9)) == 0:
            counter = draw(st.floats(0, 5))  # reset
        else:
            counter += draw(st.floats(0, 5))
        soc = min(100.0, max(0.0, soc + draw(st.floats(-2, 5))))
        if drives and draw(st.integers(0, 4)) == 0:  # drives off
            odometer += draw(st.floats(1, 50))
            latitude += draw(st.floats(0.01, 0.5))
        trace.append(
            Reading(
                timestamp_ms=timestamp,
                soc_pct=draw(st.none() | st.just(soc)),
                range_km=draw(st.none() | st.floats(0, 600)),
                is_charging=draw(st.none() | st.booleans()),
                is_plugged_in=draw(st.none() | st.booleans()),
                energy_counter_kwh=draw(st.none() | st.just(counter)),
                power_kw=draw(st.none() | st.floats(0, 22)),
                latitude=draw(st.none() | st.just(latitude)),
                longitude=HOME["longitude"],
                position_uncertainty_m=draw(st.none() | st.floats(1, 100)),
                odometer_km=draw(st.none() | st.just(odometer)),
                speed_kmh=draw(st.none() | st.floats(0, 130)) if drives else None,
            )
        )
    return trace


configs = st.builds(
    DetectorConfig,
    gap_limit_ms=st.integers(10, 180).map(lambda m: m * MINUTE_MS),
    pause_limit_ms=st.integers(0, 60).map(lambda m: m * MINUTE_MS),
    parked_pause_limit_ms=st.integers(0, 120).map(lambda m: m * MINUTE_MS),
    power_threshold_kw=st.floats(0, 1),
    min_energy_kwh=st.floats(0, 2),
    min_soc_gain_pct=st.floats(0, 5),
    battery_capacity_kwh=st.none() | st.floats(10, 120),
)


@settings(deadline=None)
@given(trace=traces(), config=configs, silence_ms=st.integers(0, 4 * HOUR_MS))
def test_detected_sessions_are_sorted_disjoint_within_the_readings_and_not_noise(
    trace: list[Reading], config: DetectorConfig, silence_ms: int
) -> None:
    now = (trace[-1].timestamp_ms if trace else T0) + silence_ms
    sessions = detect_sessions(trace, config, now_ms=now)
    for earlier, later in itertools.pairwise(sessions):
        assert earlier.end_ms <= later.start_ms  # sorted and disjoint
        assert earlier.complete  # only the last session can be open
    for session in sessions:
        assert trace[0].timestamp_ms <= session.start_ms
        if session.complete:
            assert session.start_ms < session.end_ms
        else:  # open: cut at the last reading, which may be where it just began
            assert session.start_ms <= session.end_ms
        assert session.end_ms <= trace[-1].timestamp_ms
        assert session.reading_count >= 2
        assert (session.energy_kwh is None) == (session.energy_method is None)
        assert (session.energy_uncertainty_kwh is None) == (session.energy_method is None)
        if session.energy_kwh is not None:
            assert session.energy_kwh >= config.min_energy_kwh
            assert sum(profile_energies(session)) == pytest.approx(session.energy_kwh)
        if session.energy_uncertainty_kwh is not None:
            assert session.energy_uncertainty_kwh >= 0
        if session.method is DetectionMethod.STATE_OF_CHARGE:
            # Found by a rising state of charge alone: it rose at least a full point.
            assert session.soc_start_pct is not None
            assert session.soc_end_pct is not None
            assert session.soc_end_pct - session.soc_start_pct >= config.min_soc_gain_pct - 1e-9
        for step in session.profile:
            assert step.start_ms <= step.end_ms
            assert step.energy_kwh >= 0
            assert session.start_ms <= step.start_ms <= step.end_ms <= session.end_ms


@st.composite
def counted_traces(draw: st.DrawFn) -> list[Reading]:
    """A counter that rises in every interval (so every interval has charging evidence),
    with any isCharging, power and drives around it."""
    count = draw(st.integers(2, 30))
    timestamp = T0
    counter = draw(st.integers(0, 100_000)) / 10
    odometer = 10_000.0
    trace = []
    for index in range(count):
        if index:
            timestamp += draw(st.integers(1, 180)) * MINUTE_MS
            counter += draw(st.integers(1, 50_000)) / 1000  # 0.001 .. 50 kWh
            if draw(st.integers(0, 3)) == 0:
                odometer += draw(st.floats(1, 50))
        trace.append(
            Reading(
                timestamp_ms=timestamp,
                is_charging=draw(st.none() | st.booleans()),
                power_kw=draw(st.none() | st.floats(0, 150)),
                energy_counter_kwh=counter,
                odometer_km=odometer,
            )
        )
    return trace


@settings(deadline=None)
@given(trace=counted_traces(), silence_ms=st.integers(0, 4 * HOUR_MS))
def test_counter_sessions_share_out_exactly_the_counters_rise(
    trace: list[Reading], silence_ms: int
) -> None:
    # Nothing dropped as noise: every kWh the counter rose lands in exactly one session (a
    # drive inside a charging interval splits its rise between the two sessions around it).
    config = DetectorConfig(min_energy_kwh=0.0)
    sessions = detect_sessions(trace, config, now_ms=trace[-1].timestamp_ms + silence_ms)
    assert all(session.energy_method is EnergyMethod.COUNTER for session in sessions)
    first, last = trace[0].energy_counter_kwh, trace[-1].energy_counter_kwh
    assert first is not None
    assert last is not None
    assert sum(energy(session) for session in sessions) == pytest.approx(last - first, rel=1e-9)


@settings(deadline=None)
@given(trace=traces(), config=configs, seed=st.integers(0, 2**32 - 1))
def test_detection_depends_only_on_the_readings_not_their_arrival_order(
    trace: list[Reading], config: DetectorConfig, seed: int
) -> None:
    # Readings arriving in any order and sorted back give the same sessions. (Two readings at
    # one instant are the caller's concern: the strategy never draws them.)
    shuffled = list(trace)
    random.Random(seed).shuffle(shuffled)
    now = (trace[-1].timestamp_ms if trace else T0) + MINUTE_MS
    resorted = sorted(shuffled, key=lambda r: r.timestamp_ms)
    assert detect_sessions(resorted, config, now_ms=now) == detect_sessions(
        trace, config, now_ms=now
    )
