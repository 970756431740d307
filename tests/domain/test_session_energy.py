"""Energy per interval, per channel (chargeledger.domain.session_energy).

Energies are worked out by hand in the comments: counter increments are differences, a
trapezoid half is power x hours / 2, and an interval of m minutes is m / 60 hours.
"""

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.session_detection import Reading
from chargeledger.domain.session_energy import (
    counter_increments,
    counter_resolution_kwh,
    fill_power,
    soc_step_pct,
    trapezoid_halves_kwh,
    trapezoid_uncertainty_kwh,
)

MINUTE_MS = 60_000
HOUR_MS = 3_600_000


def reading(minute: float, **fields: Any) -> Reading:
    return Reading(timestamp_ms=round(minute * MINUTE_MS), **fields)


def counted(*points: tuple[float, float | None]) -> list[Reading]:
    """Readings at (minute, energy counter in kWh or None)."""
    return [reading(minute, energy_counter_kwh=counter) for minute, counter in points]


# --- counter_increments -------------------------------------------------------------------


def test_a_rising_counter_counts_its_differences() -> None:
    # 10 -> 11 -> 13 kWh: 1 kWh, then 2 kWh.
    assert counter_increments(counted((0, 10.0), (5, 11.0), (10, 13.0))) == pytest.approx(
        [1.0, 2.0]
    )


def test_an_unchanged_counter_counts_nothing() -> None:
    assert counter_increments(counted((0, 10.0), (5, 10.0), (10, 10.0))) == [0.0, 0.0]


def test_a_jitter_back_below_the_high_water_mark_is_not_counted_twice() -> None:
    # 5002.0 -> 5001.9 (0.1 back: jitter, 0) -> 5002.1 (0.1 above the highest so far, 5002.0,
    # not 0.2 above 5001.9). Total 0.1 = 5002.1 - 5002.0.
    increments = counter_increments(counted((0, 5002.0), (5, 5001.9), (10, 5002.1)))
    assert increments == pytest.approx([0.0, 0.1])


def test_a_rise_back_to_the_high_water_mark_counts_nothing() -> None:
    # 10.0 -> 9.1 (0.9 back: jitter, under the 1 kWh reset drop) -> 10.0: back where it was.
    assert counter_increments(counted((0, 10.0), (5, 9.1), (10, 10.0))) == [0.0, 0.0]


def test_a_drop_of_exactly_1_kwh_is_still_jitter() -> None:
    # 10.0 -> 9.0: a reset needs a drop of more than 1 kWh; 9.0 -> 9.5 stays under the high
    # water mark 10.0: nothing counted.
    assert counter_increments(counted((0, 10.0), (5, 9.0), (10, 9.5))) == [0.0, 0.0]


def test_a_reset_drop_counts_from_zero() -> None:
    # 5002.0 -> 0.4: a drop of 5001.6 kWh, a reset; it counted 0.4 kWh up from zero since.
    # Then 0.4 -> 1.4: 1 kWh, measured from the new high-water mark 0.4.
    increments = counter_increments(counted((0, 5002.0), (5, 0.4), (10, 1.4)))
    assert increments == pytest.approx([0.4, 1.0])


def test_a_drop_to_more_than_a_charger_could_count_since_is_unknown_not_energy() -> None:
    """5002.0 -> 4950.0 in 5 minutes: a counter reset to zero cannot show 4950 kWh five
    minutes later (500 kW, more than any car charges at, gives 41.7 kWh). A swapped meter or
    readings out of order: that interval's energy is unknown, and counting goes on from the
    new value (4950.0 -> 4951.0: 1 kWh)."""
    increments = counter_increments(counted((0, 5002.0), (5, 4950.0), (10, 4951.0)))
    assert increments[0] is None
    assert increments[1] == pytest.approx(1.0)


def test_a_drop_just_over_1_kwh_is_a_reset() -> None:
    # 10.0 -> 8.5: 1.5 kWh down, more than 1: a reset, so 8.5 kWh counted up from zero.
    # Then 8.5 -> 9.0: 0.5 kWh.
    increments = counter_increments(counted((0, 10.0), (5, 8.5), (10, 9.0)))
    assert increments == pytest.approx([8.5, 0.5])


def test_jitter_drifting_down_over_several_readings_is_not_a_reset() -> None:
    # 5002.0 -> 5001.5 -> 5000.9: 1.1 kWh below the highest value, but never more than 1 kWh
    # from one reading to the next: jitter, nothing counted (not 5000.9 kWh from a "reset").
    # Then 5002.5: counted from the highest value, 0.5 kWh.
    increments = counter_increments(counted((0, 5002.0), (5, 5001.5), (10, 5000.9), (15, 5002.5)))
    assert increments == pytest.approx([0.0, 0.0, 0.5])


def test_readings_without_a_counter_share_the_rise_in_proportion_to_duration() -> None:
    # 10.0 at 0, nothing at 10 and 15, 13.0 at 20: 3 kWh over 20 minutes, spread over the
    # intervals 0..10, 10..15, 15..20 as 10/20, 5/20, 5/20 of it: 1.5, 0.75, 0.75.
    readings = counted((0, 10.0), (10, None), (15, None), (20, 13.0))
    assert counter_increments(readings) == pytest.approx([1.5, 0.75, 0.75])


def test_readings_without_a_counter_at_one_instant_share_the_rise_equally() -> None:
    # Three readings at the same instant, 10 and 12 kWh around one without: no duration to
    # weigh, so the 2 kWh are split evenly over the two intervals.
    readings = counted((0, 10.0), (0, None), (0, 12.0))
    assert counter_increments(readings) == pytest.approx([1.0, 1.0])


def test_leading_and_trailing_readings_without_a_counter_are_unknown() -> None:
    """Nothing bridges the edges: their intervals are None, the inner one is 12 - 10 = 2."""
    readings = counted((0, None), (5, 10.0), (10, 12.0), (15, None))
    assert counter_increments(readings) == [None, pytest.approx(2.0), None]


@pytest.mark.parametrize(
    ("readings", "expected"),
    [
        ([], []),
        (counted((0, 10.0)), []),
        (counted((0, None), (5, None)), [None]),
        (counted((0, None), (5, 10.0), (10, None)), [None, None]),
    ],
    ids=["empty", "one-reading", "no-counter", "one-counter"],
)
def test_fewer_than_two_counters_give_no_increment(
    readings: list[Reading], expected: list[float | None]
) -> None:
    assert counter_increments(readings) == expected


@st.composite
def counter_streams(draw: st.DrawFn, *, never_decreasing: bool) -> list[Reading]:
    """Readings at non-decreasing timestamps; counters non-negative, some missing."""
    count = draw(st.integers(0, 12))
    gaps = draw(st.lists(st.integers(0, 30 * MINUTE_MS), min_size=count, max_size=count))
    times = list(itertools.accumulate(gaps))
    present = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    if never_decreasing:
        start = draw(st.floats(0, 100_000))
        rises = draw(st.lists(st.floats(0, 50), min_size=count, max_size=count))
        values = [start + total for total in itertools.accumulate(rises, initial=0.0)][1:]
    else:
        values = draw(st.lists(st.floats(0, 10_000), min_size=count, max_size=count))
    return [
        Reading(timestamp_ms=t, energy_counter_kwh=v if p else None)
        for t, v, p in zip(times, values, present, strict=True)
    ]


@given(readings=counter_streams(never_decreasing=False))
def test_counter_increments_are_never_negative(readings: list[Reading]) -> None:
    """Jitters, resets and bridged gaps alike: energy is only ever added."""
    increments = counter_increments(readings)
    assert len(increments) == max(len(readings) - 1, 0)
    assert all(increment is None or increment >= 0 for increment in increments)


@given(readings=counter_streams(never_decreasing=True))
def test_a_never_decreasing_counter_sums_to_last_minus_first(readings: list[Reading]) -> None:
    """Between the first and last reading with a counter, the increments (bridged gaps
    included) add up to the counter's total rise; outside them they are None."""
    known = [r.energy_counter_kwh for r in readings if r.energy_counter_kwh is not None]
    increments = counter_increments(readings)
    total = sum(increment for increment in increments if increment is not None)
    expected = known[-1] - known[0] if known else 0.0
    assert total == pytest.approx(expected, abs=1e-6)


# --- counter_resolution_kwh, soc_step_pct -------------------------------------------------


@pytest.mark.parametrize(
    ("values", "resolution"),
    [
        ([5000.0, 5001.0, 5011.0], 1.0),
        ([5000.0, 5000.4, 5001.0], 0.1),  # 5000.4 is not a whole kWh
        ([12.34, 12.3], 0.01),
        ([12.345, 12.3], 0.001),
        ([12.3456], 0.001),  # finer than a Wh: the finest resolution there is
        ([], 1.0),  # nothing contradicts the coarsest
    ],
)
def test_counter_resolution_is_the_coarsest_step_all_values_are_multiples_of(
    values: list[float], resolution: float
) -> None:
    assert counter_resolution_kwh(values) == resolution


@pytest.mark.parametrize(
    ("values", "step"),
    [
        ([80.0, 81.0, 95.0], 1.0),
        ([80.0, 80.5, 81.0], 0.5),
        ([80.3, 81.0], 0.1),
        ([80.25], 0.01),  # a multiple of 0.01 but not of 0.1 or 0.5
        ([80.123], 0.01),  # finer than 0.01: the finest step there is
        ([], 1.0),
    ],
)
def test_soc_step_is_the_coarsest_step_all_values_are_multiples_of(
    values: list[float], step: float
) -> None:
    assert soc_step_pct(values) == step


# --- fill_power ---------------------------------------------------------------------------


def test_fill_power_interpolates_linearly_in_time() -> None:
    # 1 kW at 0, 4 kW at 3: 2 kW at 1 and 3 kW at 2.
    assert fill_power([1.0, None, None, 4.0], [0, 1, 2, 3]) == pytest.approx([1, 2, 3, 4])


def test_fill_power_weighs_by_time_not_by_index() -> None:
    # 0 kW at 0 min, 8 kW at 40 min: at 10 min, a quarter of the way, 2 kW.
    times = [0, 10 * MINUTE_MS, 40 * MINUTE_MS]
    assert fill_power([0.0, None, 8.0], times) == pytest.approx([0, 2, 8])


def test_fill_power_leaves_the_edges_unknown() -> None:
    """Before the first and after the last known power nothing is invented; between 2 kW and
    4 kW the middle one is 3 kW."""
    filled = fill_power([None, 2.0, None, 4.0, None], [0, 1, 2, 3, 4])
    assert filled == [None, 2.0, pytest.approx(3.0), 4.0, None]


def test_fill_power_at_one_instant_takes_the_earlier_power() -> None:
    """No duration to interpolate over: the earlier reading's power."""
    assert fill_power([5.0, None, 9.0], [0, 0, 0]) == [5.0, 5.0, 9.0]


@st.composite
def power_streams(draw: st.DrawFn) -> tuple[list[float | None], list[int]]:
    count = draw(st.integers(0, 12))
    gaps = draw(st.lists(st.integers(0, HOUR_MS), min_size=count, max_size=count))
    powers = draw(st.lists(st.none() | st.floats(-50, 350), min_size=count, max_size=count))
    return powers, list(itertools.accumulate(gaps))


@given(stream=power_streams())
def test_fill_power_leaves_known_values_unchanged(
    stream: tuple[list[float | None], list[int]],
) -> None:
    """Known powers are kept exactly; filled ones lie between their known neighbours; the
    edges stay None."""
    powers, times = stream
    filled = fill_power(powers, times)
    assert len(filled) == len(powers)
    known = [i for i, p in enumerate(powers) if p is not None]
    for i, p in enumerate(powers):
        if p is not None:
            assert filled[i] == p
        elif not known or i < known[0] or i > known[-1]:
            assert filled[i] is None
    for before, after in itertools.pairwise(known):
        p0, p1 = powers[before], powers[after]
        assert p0 is not None
        assert p1 is not None
        for i in range(before + 1, after):
            value = filled[i]
            assert value is not None
            assert min(p0, p1) - 1e-9 <= value <= max(p0, p1) + 1e-9


# --- trapezoid_halves_kwh -----------------------------------------------------------------


def test_trapezoid_halves_are_each_side_power_times_half_the_duration() -> None:
    # 10 kW and 20 kW 30 minutes (0.5 h) apart: 10 x 0.5 / 2 = 2.5 and 20 x 0.5 / 2 = 5.0,
    # together the trapezoid (10 + 20) / 2 x 0.5 = 7.5 kWh.
    assert trapezoid_halves_kwh([10.0, 20.0], [0, 30 * MINUTE_MS]) == [(2.5, 5.0)]


def test_an_interval_with_an_unknown_side_has_no_trapezoid() -> None:
    """Both halves are 0 when either side's power is unknown: no energy is invented."""
    times = [0, 30 * MINUTE_MS, 60 * MINUTE_MS, 90 * MINUTE_MS]
    halves = trapezoid_halves_kwh([None, 10.0, 20.0, None], times)
    assert halves == [(0.0, 0.0), (2.5, 5.0), (0.0, 0.0)]


def test_negative_power_counts_as_none_flowing_in() -> None:
    # -5 kW (discharging) then 10 kW over 1 h: 0 on the earlier side, 10 x 1 / 2 = 5.
    assert trapezoid_halves_kwh([-5.0, 10.0], [0, HOUR_MS]) == [(0.0, 5.0)]


def test_trapezoid_halves_has_one_pair_per_interval() -> None:
    assert trapezoid_halves_kwh([], []) == []
    assert trapezoid_halves_kwh([7.0], [0]) == []


# --- trapezoid_uncertainty_kwh ------------------------------------------------------------


def test_uncertainty_while_charging_throughout_is_the_gap_to_the_held_powers() -> None:
    # 10 kW then 20 kW over 1 h: trapezoid 15 kWh; 10 kW held throughout gives 10, 20 kW
    # gives 20: 5 kWh either way.
    assert trapezoid_uncertainty_kwh(10.0, 20.0, HOUR_MS, charging_throughout=True) == 5.0


def test_uncertainty_when_charging_may_have_stopped_reaches_down_to_nothing() -> None:
    # Same interval, not known to charge throughout: it may have charged nothing at all, 15
    # kWh below the trapezoid (more than the 5 kWh up to 20 kW held throughout).
    assert trapezoid_uncertainty_kwh(10.0, 20.0, HOUR_MS, charging_throughout=False) == 15.0


def test_constant_power_throughout_is_exact() -> None:
    # 11 kW at both ends for 1 h: 11 kWh, no doubt; without knowing it charged throughout,
    # anything from 0 to 11 kWh: 11 kWh off at most.
    assert trapezoid_uncertainty_kwh(11.0, 11.0, HOUR_MS, charging_throughout=True) == 0.0
    assert trapezoid_uncertainty_kwh(11.0, 11.0, HOUR_MS, charging_throughout=False) == 11.0


def test_an_edge_interval_is_off_by_half_its_trapezoid_height() -> None:
    # 0 kW then 11 kW over 5 minutes, charging starting somewhere in it: trapezoid
    # 11 / 2 x 5/60 = 0.4583 kWh; from 0 it is 0.4583 off, from 11 x 5/60 = 0.9167 it is
    # 0.4583 off too.
    uncertainty = trapezoid_uncertainty_kwh(0.0, 11.0, 5 * MINUTE_MS, charging_throughout=False)
    assert uncertainty == pytest.approx(11 / 2 * 5 / 60)
