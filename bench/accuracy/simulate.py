"""One simulated car end to end: timeline, true sessions, delivered readings."""

from collections import Counter
from dataclasses import dataclass

from bench.accuracy.delivery import Delivery, deliver
from bench.accuracy.fleet import Car, Profile, make_car
from bench.accuracy.plan import simulate_timeline
from bench.accuracy.telemetry import Sample, samples
from bench.accuracy.truth import TrueSession, true_sessions


@dataclass(frozen=True, slots=True)
class SimulatedCar:
    car: Car
    start_s: float
    end_s: float
    sessions: list[TrueSession]
    samples: list[Sample]  # every delivered reading once, in time order
    delivery: Delivery
    faults: Counter[str]


def simulate_car(profile: Profile, seed: int, index: int) -> SimulatedCar:
    car = make_car(index, seed)
    timeline = simulate_timeline(car, profile.start, profile.days)
    sessions = true_sessions(timeline)
    delivered, sampling_faults = samples(timeline, sessions, profile)
    delivery = deliver(car, profile, delivered, timeline.start_s)
    faults = Counter(sampling_faults) + delivery.faults
    return SimulatedCar(
        car, timeline.start_s, timeline.end_s, sessions, delivered, delivery, faults
    )
