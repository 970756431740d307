"""Charge sessions from readings (chargeledger.domain.session_detection).

Traces are built minute by minute from T0 (Monday 2024-06-03 17:00Z, an evening at home) with
small helpers. Energies are worked out by hand in the comments: power trapezoids are
(P_a + P_b) / 2 x minutes / 60 kWh, counters are differences, state of charge is
delta % / 100 x battery capacity.
"""

import itertools
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


def at(minute: float) -> int:
    return T0 + round(minute * MINUTE_MS)


def reading(minute: float, **fields: Any) -> Reading:
    return Reading(timestamp_ms=at(minute), **fields)


def minutes(first: int, last: int, step: int = 5) -> range:
    """first, first + step, ..., last (inclusive)."""
    return range(first, last + 1, step)


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


# --- isCharging ---------------------------------------------------------------------------


def test_is_charging_session_runs_from_first_charging_to_first_not_charging_reading() -> None:
    # Not charging at 0, charging 11 kW at 5..55, stopped (0 kW) at 60 and 65.
    trace = plugged_charge([(5, 60)], until=65)
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(60))
    assert session.complete
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_method is EnergyMethod.POWER
    # 5..55: 50 min at 11 kW = 11 x 50/60 = 9.1667 kWh; 55..60: (11 + 0)/2 x 5/60 = 0.4583 kWh.
    # Total 577.5/60 = 9.625 kWh.
    assert energy(session) == pytest.approx(9.625)
    assert session.reading_count == 12  # 5, 10, ..., 55 (11 readings) and 60
    assert session.profile[0].start_ms == at(5)
    assert session.profile[-1].end_ms == at(60)
    assert sum(step.energy_kwh for step in session.profile) == pytest.approx(9.625)


def test_energy_counter_is_preferred_over_power() -> None:
    # Same trace, plus a counter rising 0.2 kWh a minute while charging: 2000 kWh at 5,
    # 2011 kWh at 60 (2000 + 0.2 x 55). The counter says 11 kWh, the power 9.625 kWh.
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
    assert (session.start_ms, session.end_ms) == (at(5), at(60))
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(11.0)


def test_counter_reset_mid_session_counts_the_increments() -> None:
    # Counter 5000 at 5, 5001 at 10, 5002 at 15, reset to 0.4 at 20, 1.4 at 25, 2.4 at 30.
    # Increments: 1 + 1 + 0.4 (from 0 up to 0.4 after the reset) + 1 + 1 = 4.4 kWh.
    counters = {0: 5000.0, 5: 5000.0, 10: 5001.0, 15: 5002.0, 20: 0.4, 25: 1.4, 30: 2.4, 35: 2.4}
    trace = [
        reading(m, is_charging=5 <= m < 30, energy_counter_kwh=counter)
        for m, counter in counters.items()
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(30))
    assert session.energy_method is EnergyMethod.COUNTER
    assert energy(session) == pytest.approx(4.4)
    assert [step.energy_kwh for step in session.profile] == pytest.approx([1, 1, 0.4, 1, 1])


# --- Power --------------------------------------------------------------------------------


def test_power_only_session_uses_the_power_threshold() -> None:
    # 0 kW at 0, 7.4 kW at 10, 20, 30, 0.05 kW (under the 0.1 kW threshold) at 40, 0 at 50.
    powers = {0: 0.0, 10: 7.4, 20: 7.4, 30: 7.4, 40: 0.05, 50: 0.0}
    [session] = detect([reading(m, power_kw=p) for m, p in powers.items()])
    assert (session.start_ms, session.end_ms) == (at(10), at(40))
    assert session.method is DetectionMethod.POWER
    assert session.energy_method is EnergyMethod.POWER
    # 10..30 at 7.4 kW: 7.4 x 20/60 = 2.4667; 30..40: (7.4 + 0.05)/2 x 10/60 = 0.6208.
    # Total 3.0875 kWh.
    assert energy(session) == pytest.approx(3.0875)
    assert session.complete


def test_power_gap_longer_than_the_gap_limit_splits_the_session_without_inventing_energy() -> None:
    # 7 kW at 0, 10, 20, 30; nothing for 90 minutes (gap limit 60); 7 kW at 120, 130, 140;
    # 0 kW at 150.
    powers = {0: 7.0, 10: 7.0, 20: 7.0, 30: 7.0, 120: 7.0, 130: 7.0, 140: 7.0, 150: 0.0}
    first, second = detect([reading(m, power_kw=p) for m, p in powers.items()])
    assert spans([first, second]) == [(at(0), at(30)), (at(120), at(150))]
    # First: 30 min at 7 kW = 3.5 kWh. Second: 20 min at 7 kW = 2.3333 kWh plus
    # (7 + 0)/2 x 10/60 = 0.5833 kWh = 2.9167 kWh. Nothing for the 90 minutes in between
    # (7 kW x 1.5 h = 10.5 kWh would have been invented).
    assert energy(first) == pytest.approx(3.5)
    assert energy(second) == pytest.approx(35 / 12)
    assert first.complete
    assert second.complete


def test_a_longer_gap_limit_bridges_the_same_silence() -> None:
    # With a 2-hour gap limit the 90-minute silence is bridged: one session 0..150, and the
    # trapezoid over the silence counts: 7 kW x 140 min = 16.3333 kWh + 0.5833 = 16.9167 kWh.
    powers = {0: 7.0, 10: 7.0, 20: 7.0, 30: 7.0, 120: 7.0, 130: 7.0, 140: 7.0, 150: 0.0}
    config = DetectorConfig(gap_limit_ms=2 * HOUR_MS)
    [session] = detect([reading(m, power_kw=p) for m, p in powers.items()], config)
    assert (session.start_ms, session.end_ms) == (at(0), at(150))
    assert energy(session) == pytest.approx(7 * 140 / 60 + 3.5 * 10 / 60)


def test_measure_energy_invents_nothing_for_a_gap_between_power_readings() -> None:
    # 7 kW at 0, 10, 100, 110: the 10..100 pair (90 min) is over the gap limit and is skipped.
    # 2 x (7 x 10/60) = 2.3333 kWh.
    readings = [reading(m, power_kw=7.0) for m in (0, 10, 100, 110)]
    method, kwh, profile = measure_energy(readings, DEFAULTS)
    assert method is EnergyMethod.POWER
    assert kwh == pytest.approx(7 / 3)
    assert [(step.start_ms, step.end_ms) for step in profile] == [
        (at(0), at(10)),
        (at(100), at(110)),
    ]


def test_measure_energy_without_any_source_knows_nothing() -> None:
    readings = [reading(0, is_charging=True), reading(10, is_charging=True)]
    assert measure_energy(readings, DEFAULTS) == (None, None, [])
    # State of charge without a battery capacity is no energy either.
    soc_only = [reading(0, soc_pct=40.0), reading(10, soc_pct=50.0)]
    assert measure_energy(soc_only, DEFAULTS) == (None, None, [])


def test_negative_power_is_not_counted_as_energy() -> None:
    # -2 kW (discharging, V2H) at 0, 4 kW at 10: the trapezoid counts max(P, 0):
    # (0 + 4)/2 x 10/60 = 0.3333 kWh.
    readings = [reading(0, power_kw=-2.0), reading(10, power_kw=4.0)]
    _, kwh, _ = measure_energy(readings, DEFAULTS)
    assert kwh == pytest.approx(1 / 3)


# --- State of charge ----------------------------------------------------------------------

RISING_SOC = {0: 40.0, 10: 40.0, 20: 42.0, 30: 44.0, 40: 46.0, 50: 48.0, 60: 50.0, 70: 50.0}


def soc_trace(levels: dict[int, float], **fields: Any) -> list[Reading]:
    return [reading(m, soc_pct=level, **fields) for m, level in levels.items()]


def test_soc_only_session_with_battery_capacity_estimates_energy() -> None:
    # Plugged in; SoC 40 % at 0 and 10, rising 2 points per 10 minutes to 50 % at 60, flat at
    # 70. The session runs from the last reading before the rise (10) to the top (60).
    # Energy = (50 - 40) / 100 x 60 kWh = 6 kWh.
    config = DetectorConfig(battery_capacity_kwh=60.0)
    [session] = detect(soc_trace(RISING_SOC, is_plugged_in=True), config)
    assert (session.start_ms, session.end_ms) == (at(10), at(60))
    assert session.method is DetectionMethod.STATE_OF_CHARGE
    assert session.energy_method is EnergyMethod.STATE_OF_CHARGE
    assert energy(session) == pytest.approx(6.0)
    assert (session.soc_start_pct, session.soc_end_pct) == (40.0, 50.0)
    assert session.complete


def test_soc_only_session_without_battery_capacity_has_unknown_energy() -> None:
    [session] = detect(soc_trace(RISING_SOC, is_plugged_in=True))
    assert (session.start_ms, session.end_ms) == (at(10), at(60))
    assert session.energy_kwh is None
    assert session.energy_method is None
    assert session.profile == ()
    assert (session.soc_start_pct, session.soc_end_pct) == (40.0, 50.0)


def test_soc_only_rise_of_exactly_one_point_is_a_session() -> None:
    # 40 -> 41 %: the gain equals min_soc_gain_pct (1 point), enough.
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
    # latitude), far beyond the 25 m + 25 m default uncertainties.
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
    levels = {0: 40.0, 10: 40.0, 20: 42.0, 30: 44.0}
    [session] = detect(soc_trace(levels, is_plugged_in=True))
    assert (session.start_ms, session.end_ms) == (at(10), at(30))
    assert not session.complete


# --- Pauses and breaks --------------------------------------------------------------------


def test_ten_minute_pause_at_the_same_place_is_one_session() -> None:
    # 11 kW on [5, 60) and [70, 120) at home, readings every 5 minutes: stopped at 60 and 65,
    # resumed at 70: a 10-minute pause (60 -> 70), under the 15-minute pause limit.
    trace = plugged_charge([(5, 60), (70, 120)], until=130, **HOME)
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(120))
    assert session.complete
    # Trapezoids over all readings 5..120, each 5-minute step at full power worth
    # 11 x 5/60 = 0.9167 kWh: 10 full steps (5..55), half steps 55..60 and 65..70 (the ramp
    # back up), 0 for 60..65, 9 full steps (70..115), half step 115..120:
    # 0.9167 x (10 + 0.5 + 0.5 + 9 + 0.5) = 0.9167 x 20.5 = 18.7917 kWh.
    assert energy(session) == pytest.approx(11 * 5 / 60 * 20.5)


def test_twenty_minute_pause_is_two_sessions() -> None:
    # Stopped at 60, resumed at 80: 20 minutes, over the 15-minute pause limit.
    trace = plugged_charge([(5, 60), (80, 120)], until=130, **HOME)
    assert spans(detect(trace)) == [(at(5), at(60)), (at(80), at(120))]


def test_pause_exactly_as_long_as_the_pause_limit_is_two_sessions() -> None:
    # Stopped at 60, resumed at 75: 15 minutes is not shorter than the 15-minute limit.
    trace = plugged_charge([(5, 60), (75, 120)], until=130, **HOME)
    assert spans(detect(trace)) == [(at(5), at(60)), (at(75), at(120))]


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
    trace = drive_between_charges(drive=True, by=by)
    assert spans(detect(trace)) == [(at(5), at(60)), (at(180), at(240))]
    # Even when pauses of up to 3 hours are bridged, the drive breaks the session.
    lenient = DetectorConfig(pause_limit_ms=3 * HOUR_MS)
    assert spans(detect(trace, lenient)) == [(at(5), at(60)), (at(180), at(240))]


@pytest.mark.parametrize("by", ["position", "odometer"])
def test_two_hour_stop_at_the_same_place_is_one_session_when_the_pause_limit_allows(
    by: str,
) -> None:
    trace = drive_between_charges(drive=False, by=by)
    # Default 15-minute pause limit: two sessions; 3-hour pause limit: one (5..240).
    assert spans(detect(trace)) == [(at(5), at(60)), (at(180), at(240))]
    lenient = DetectorConfig(pause_limit_ms=3 * HOUR_MS)
    assert spans(detect(trace, lenient)) == [(at(5), at(240))]


def test_short_pause_with_a_move_is_two_sessions() -> None:
    # A 10-minute pause (under the pause limit) during which the car moved 1.1 km.
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
    trace = home + away
    # Home readings 0..65; 1.1 km north from 70 on, charging 70..115, stopped at 120.
    assert spans(detect(trace)) == [(at(5), at(60)), (at(70), at(120))]


# --- Noise, open sessions -----------------------------------------------------------------


def test_session_under_the_noise_threshold_is_dropped() -> None:
    # 0.2 kW at 5 and 10, stopped at 15: 0.2 x 5/60 + (0.2 + 0)/2 x 5/60 = 0.0167 + 0.0083 =
    # 0.025 kWh, under 0.05 kWh.
    assert detect(plugged_charge([(5, 15)], until=20, power_kw=0.2)) == []
    # 0.5 kW: 0.5 x 5/60 + 0.25 x 5/60 = 0.0417 + 0.0208 = 0.0625 kWh: kept.
    [session] = detect(plugged_charge([(5, 15)], until=20, power_kw=0.5))
    assert energy(session) == pytest.approx(0.0625)


def test_stream_ending_while_charging_is_an_open_session() -> None:
    # Charging at 5..30, nothing after: open, as far as it goes.
    trace = plugged_charge([(5, 31)], until=30)
    [session] = detect(trace, now_minute=31)
    assert (session.start_ms, session.end_ms) == (at(5), at(30))
    assert not session.complete
    # 25 min at 11 kW = 4.5833 kWh.
    assert energy(session) == pytest.approx(11 * 25 / 60)
    # Silent for exactly the gap limit (60 minutes): still open.
    [session] = detect(trace, now_minute=30 + 60)
    assert not session.complete


def test_open_session_completes_after_silence_longer_than_the_gap_limit() -> None:
    trace = plugged_charge([(5, 31)], until=30)
    [session] = detect(trace, now_minute=30 + 61)
    assert session.complete
    assert (session.start_ms, session.end_ms) == (at(5), at(30))


def test_only_the_last_session_of_a_stream_can_be_open() -> None:
    trace = plugged_charge([(5, 30), (90, 200)], until=120, **HOME)
    first, second = detect(trace)
    assert spans([first, second]) == [(at(5), at(30)), (at(90), at(120))]
    assert first.complete
    assert not second.complete


def test_stream_ending_on_a_stopped_reading_is_complete() -> None:
    trace = plugged_charge([(5, 30)], until=30)
    [session] = detect(trace)
    assert session.complete
    assert session.end_ms == at(30)


def test_no_readings_or_one_reading_is_no_session() -> None:
    assert detect_sessions([], DEFAULTS, now_ms=T0) == []
    assert detect([reading(0, is_charging=True, power_kw=11.0)]) == []


# --- Position, state of charge and range --------------------------------------------------


def test_session_position_is_the_median_of_its_readings() -> None:
    # Five readings in the session (5..20 charging, 25 stopped) with jitter of a few metres;
    # the reading before the session carries no position.
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
    # Charging 5..30 at 11 kW; SoC and range rise with it. The first session reading (5) has no
    # SoC and the last (35) no range, so SoC starts at 10's value and range ends at 30's.
    trace = [reading(0, is_charging=False, power_kw=0.0, soc_pct=29.0, range_km=140.0)]
    for minute in minutes(5, 35):
        charging = minute < 35
        trace.append(
            reading(
                minute,
                is_charging=charging,
                power_kw=11.0 if charging else 0.0,
                soc_pct=None if minute == 5 else 30.0 + minute / 5,
                range_km=None if minute == 35 else 150.0 + minute,
            )
        )
    trace.append(reading(40, is_charging=False, power_kw=0.0, soc_pct=99.0, range_km=999.0))
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(35))
    assert (session.soc_start_pct, session.soc_end_pct) == (32.0, 37.0)  # 30 + 10/5, 30 + 35/5
    assert (session.range_start_km, session.range_end_km) == (155.0, 180.0)  # 150 + 5, 150 + 30


def test_method_is_the_best_evidence_of_the_session() -> None:
    # Power-only readings at 0..10, then isCharging readings: one run; method isCharging.
    trace = [
        reading(0, power_kw=7.0),
        reading(5, power_kw=7.0),
        reading(10, is_charging=True, power_kw=7.0),
        reading(15, is_charging=True, power_kw=7.0),
        reading(20, is_charging=False, power_kw=0.0),
    ]
    [session] = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(0), at(20))
    assert session.method is DetectionMethod.IS_CHARGING


# --- Property -----------------------------------------------------------------------------


@st.composite
def traces(draw: st.DrawFn) -> list[Reading]:
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
        if draw(st.integers(0, 4)) == 0:  # drives off
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
            )
        )
    return trace


configs = st.builds(
    DetectorConfig,
    gap_limit_ms=st.integers(10, 180).map(lambda m: m * MINUTE_MS),
    pause_limit_ms=st.integers(0, 60).map(lambda m: m * MINUTE_MS),
    power_threshold_kw=st.floats(0, 1),
    min_energy_kwh=st.floats(0, 2),
    min_soc_gain_pct=st.floats(0, 5),
    battery_capacity_kwh=st.none() | st.floats(10, 120),
)


@settings(max_examples=100, deadline=None)
@given(trace=traces(), config=configs, silence_ms=st.integers(0, 4 * HOUR_MS))
def test_detected_sessions_are_sorted_disjoint_within_the_readings_and_not_noise(
    trace: list[Reading], config: DetectorConfig, silence_ms: int
) -> None:
    now = (trace[-1].timestamp_ms if trace else T0) + silence_ms
    sessions = detect_sessions(trace, config, now_ms=now)
    for earlier, later in itertools.pairwise(sessions):
        assert earlier.end_ms <= later.start_ms
        assert earlier.complete  # only the last session can be open
    for session in sessions:
        assert trace[0].timestamp_ms <= session.start_ms < session.end_ms
        assert session.end_ms <= trace[-1].timestamp_ms
        assert session.reading_count >= 2
        assert (session.energy_kwh is None) == (session.energy_method is None)
        if session.energy_kwh is not None:
            assert session.energy_kwh >= config.min_energy_kwh
            assert sum(step.energy_kwh for step in session.profile) == pytest.approx(
                session.energy_kwh
            )
        if session.method is DetectionMethod.STATE_OF_CHARGE:
            # Found by a rising state of charge alone: it rose at least a full point.
            assert session.soc_start_pct is not None
            assert session.soc_end_pct is not None
            assert session.soc_end_pct - session.soc_start_pct >= config.min_soc_gain_pct
        for step in session.profile:
            assert session.start_ms <= step.start_ms <= step.end_ms <= session.end_ms
            assert step.energy_kwh >= 0


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


def test_a_charge_reported_only_by_is_charging_is_listed_with_unknown_energy() -> None:
    """The car says it charged but reports nothing to measure: a session, energy None."""
    trace = [reading(minute, is_charging=5 <= minute < 60) for minute in minutes(0, 65)]
    (session,) = detect(trace)
    assert (session.start_ms, session.end_ms) == (at(5), at(60))
    assert session.method is DetectionMethod.IS_CHARGING
    assert session.energy_kwh is None
    assert session.energy_method is None
