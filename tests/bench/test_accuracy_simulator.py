"""The accuracy benchmark's simulator: deterministic from its seed, conserving energy, and
actually containing the DST change and the faults it claims to."""

import itertools
import math
from datetime import UTC, datetime

import pytest
from bench.accuracy.fleet import CHANNELS, PROFILES, make_car
from bench.accuracy.plan import simulate_timeline
from bench.accuracy.simulate import SimulatedCar, simulate_car
from bench.accuracy.telemetry import TimelineState, to_reading
from bench.accuracy.truth import true_sessions
from bench.accuracy.world import BRUSSELS, Park

from chargeledger.readings.schemas import parse_readings

CI = PROFILES["ci"]


@pytest.fixture(scope="module")
def fleet() -> list[SimulatedCar]:
    return [simulate_car(CI, 1, index) for index in range(CI.cars)]


def _posted(simulated: SimulatedCar) -> list[list[dict[str, object]]]:
    return [
        [to_reading(simulated.car, sample) for sample in batch]
        for batch in simulated.delivery.batches
    ]


def test_same_seed_same_traces_and_truth() -> None:
    for index in (0, 1, 2):
        first, again = simulate_car(CI, 5, index), simulate_car(CI, 5, index)
        assert first.sessions == again.sessions
        assert _posted(first) == _posted(again)
    other = simulate_car(CI, 6, 0)
    assert _posted(other) != _posted(simulate_car(CI, 5, 0))


@pytest.mark.parametrize("index", range(6))
def test_energy_is_conserved(index: int) -> None:
    """Sum of true sessions == counter rise == SoC rise x capacity (no losses)."""
    car = make_car(index, 3)
    timeline = simulate_timeline(car, CI.start, CI.days)
    sessions = true_sessions(timeline)
    assert sessions
    total_kwh = sum(session.energy_kwh for session in sessions)
    state = TimelineState(timeline)
    counter_rise = state.at(timeline.end_s - 1).counter_kwh - state.at(timeline.start_s).counter_kwh
    assert counter_rise == pytest.approx(total_kwh, abs=1e-6)
    soc_rise_kwh = 0.0
    segments = timeline.segments
    for before, after in itertools.pairwise(segments):
        if isinstance(before, Park) and before.charge is not None:
            soc_rise_kwh += (after.soc_start - before.soc_start) * car.model.capacity_kwh
            assert before.charge.energy_kwh == pytest.approx(
                (after.soc_start - before.soc_start) * car.model.capacity_kwh, abs=1e-6
            )
    assert soc_rise_kwh == pytest.approx(total_kwh, abs=1e-6)
    for session in sessions:
        assert sum(session.tiers_kwh) == pytest.approx(session.energy_kwh, abs=1e-6)
        assert sum(session.profile_kwh_per_minute) == pytest.approx(session.energy_kwh, abs=1e-6)
        assert session.start_s < session.end_s


def test_the_window_crosses_a_dst_change_and_holidays(fleet: list[SimulatedCar]) -> None:
    first = fleet[0]
    offsets = {
        datetime.fromtimestamp(instant, BRUSSELS).utcoffset()
        for instant in (first.start_s, first.end_s - 1)
    }
    assert len(offsets) == 2
    dst_change = datetime(2024, 10, 27, 1, tzinfo=UTC).timestamp()
    sessions = [s for car in fleet for s in car.sessions]
    assert any(s.start_s < dst_change for s in sessions)
    assert any(s.start_s > dst_change for s in sessions)
    # Every car keeps reporting through the change.
    for car in fleet:
        assert any(abs(sample.true_s - dst_change) < 4 * 3600 for sample in car.samples)


def test_every_channel_and_charge_kind_is_present(fleet: list[SimulatedCar]) -> None:
    assert {car.car.channel for car in fleet} == set(CHANNELS)
    kinds = {session.kind for car in fleet for session in car.sessions}
    assert {"home", "dc"} <= kinds
    assert any(session.at_home for car in fleet for session in car.sessions)
    assert any(not session.at_home for car in fleet for session in car.sessions)


def test_faults_are_present(fleet: list[SimulatedCar]) -> None:
    faults = sum((car.faults for car in fleet), start=type(fleet[0].faults)())
    for name in (
        "missing",
        "in_outage",
        "shuffled_batches",
        "duplicated_readings",
        "swapped_batch_pairs",
        "backlogs",
    ):
        assert faults[name] > 0, name
    posted = [sample for car in fleet for batch in car.delivery.batches for sample in batch]
    assert len(posted) > sum(len(car.samples) for car in fleet)  # duplicates
    assert any(
        [s.reported_ms for s in batch] != sorted(s.reported_ms for s in batch)
        for car in fleet
        for batch in car.delivery.batches
    )  # shuffled
    # Outages inside charging: a true session with a gap of over an hour in its readings.
    gapped = 0
    for car in fleet:
        times = [sample.true_s for sample in car.samples]
        for session in car.sessions:
            inside = [t for t in times if session.start_s <= t <= session.end_s]
            if any(b - a > 3600 for a, b in itertools.pairwise(inside)):
                gapped += 1
    assert gapped > 0


def test_readings_are_all_accepted_by_the_schema(fleet: list[SimulatedCar]) -> None:
    far_future_ms = 10**13
    for car in fleet:
        readings = [reading for batch in _posted(car) for reading in batch]
        accepted, rejected = parse_readings(readings, now_ms=far_future_ms)
        assert rejected == []
        assert len(accepted) == len(readings)
        # Units vary per car; converted, they say what the car measured.
        sample, reading = car.samples[-1], accepted[-1].reading
        assert reading.soc_pct == sample.soc_pct
        if sample.counter_kwh is not None:
            assert math.isclose(reading.energy_counter_kwh or 0, sample.counter_kwh, abs_tol=1e-6)
