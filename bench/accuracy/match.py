"""Listed sessions against true ones, for one car: what was found, missed and made up, and
how far each found session is from the truth and from what the delivered data allows."""

import bisect
import math
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bench.accuracy.simulate import SimulatedCar
from bench.accuracy.telemetry import Sample
from bench.accuracy.truth import CALENDAR, TrueSession
from chargeledger.domain.tariffs import register_segments

MIN_SESSION_KWH = 1.0  # smaller true sessions are not required to be found
WH = 0.001
POWER_EVIDENCE_KW = 0.1
CONSUMPTION_SPREAD_KWH_PER_KM = 0.05


@dataclass(frozen=True, slots=True)
class Listed:
    start_s: float
    end_s: float
    total_kwh: float | None
    tiers_kwh: tuple[float, float, float, float] | None
    home: bool  # matched Home with accuracy >= 0.5
    energy_method: str | None
    uncertainty_kwh: float | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """One true session of at least 1 kWh that the data shows, and what was listed for it."""

    car: str
    channel: str
    kind: str
    start_s: float
    end_s: float
    energy_kwh: float
    at_home: bool
    found: bool
    energy_error_kwh: float | None = None
    allowed_kwh: float | None = None
    tier_error_wh: float | None = None
    # Energy in delivered-reading intervals that hold a register boundary: no data can say on
    # which side of the boundary it flowed.
    tier_allowed_wh: float | None = None
    start_error_intervals: float | None = None
    end_error_intervals: float | None = None
    home_listed: bool | None = None
    uncertainty_kwh: float | None = None

    @property
    def excess_kwh(self) -> float | None:
        if self.energy_error_kwh is None or self.allowed_kwh is None:
            return None
        return max(0.0, abs(self.energy_error_kwh) - self.allowed_kwh)

    @property
    def tier_excess_wh(self) -> float | None:
        if self.tier_error_wh is None or self.tier_allowed_wh is None:
            return None
        return max(0.0, self.tier_error_wh - self.tier_allowed_wh)


@dataclass(frozen=True, slots=True)
class CarResult:
    car: str
    channel: str
    outcomes: list[Outcome]
    spurious: list[tuple[float, float, float | None]]  # (start_s, end_s, total_kwh)
    not_shown: int  # true sessions >= 1 kWh the delivered data does not show
    small: int  # true sessions under 1 kWh


def parse_listed(record: dict[str, Any]) -> Listed:
    data = record["data"]
    total = (data.get("charge") or {}).get("total") or {}
    tiers = None
    if total.get("total") is not None:
        t1, t2, t3, t4 = (float(total.get(key) or 0.0) for key in ("t1", "t2", "t3", "t4"))
        tiers = (t1, t2, t3, t4)
    uncertainty = data.get("energyUncertainty") or {}
    matches = data.get("locationMatches") or []
    return Listed(
        start_s=_seconds(data["start"]),
        end_s=_seconds(data["end"]),
        total_kwh=None if total.get("total") is None else float(total["total"]),
        tiers_kwh=tiers,
        home=any(
            match["location"]["label"] == "Home" and match["accuracy"] >= 0.5 for match in matches
        ),
        energy_method=data.get("energyMethod"),
        uncertainty_kwh=uncertainty.get("value"),
    )


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class DeliveredData:
    """The delivered readings of a car, by their reported time (what the server sees)."""

    def __init__(self, samples: list[Sample]) -> None:
        self.samples = sorted(samples, key=lambda sample: sample.reported_ms)
        self.times_s = [sample.reported_ms / 1000 for sample in self.samples]

    def before(self, instant_s: float) -> int | None:
        at = bisect.bisect_left(self.times_s, instant_s) - 1
        return at if at >= 0 else None

    def after(self, instant_s: float) -> int | None:
        at = bisect.bisect_right(self.times_s, instant_s)
        return at if at < len(self.samples) else None

    def bracket_s(self, instant_s: float) -> float | None:
        """The length of the delivered-readings interval around an instant."""
        before, after = self.before(instant_s), self.after(instant_s)
        if before is None or after is None:
            return None
        return self.times_s[after] - self.times_s[before]

    def shows(self, session: TrueSession) -> bool:
        """Some evidence of this charge: a reading in it that says charging or power, or a
        counter or SoC that rose between two readings taken while parked there."""
        first, last = self.before(session.start_s), self.after(session.end_s)
        lo = 0 if first is None else first
        hi = len(self.samples) - 1 if last is None else last
        for index in range(lo, hi + 1):
            sample = self.samples[index]
            inside = session.start_s <= self.times_s[index] <= session.end_s
            if inside and (sample.is_charging or (sample.power_kw or 0) > POWER_EVIDENCE_KW):
                return True
            if index > lo and _rose_parked(self.samples[index - 1], sample, session):
                return True
        return False

    def power_integral_kwh(self, session: TrueSession) -> float | None:
        """Trapezoids over the delivered power from the reading before the start to the one
        after the end; a reading that says it is not charging counts as 0 kW."""
        first, last = self.before(session.start_s), self.after(session.end_s)
        if first is None or last is None:
            return None
        energy_kwh = 0.0
        for index in range(first, last):
            a, b = self.samples[index], self.samples[index + 1]
            hours = (self.times_s[index + 1] - self.times_s[index]) / 3600
            energy_kwh += (_power(a) + _power(b)) / 2 * hours
        return energy_kwh


def _power(sample: Sample) -> float:
    if sample.is_charging is False or sample.power_kw is None:
        return 0.0
    return sample.power_kw


def _rose_parked(a: Sample, b: Sample, session: TrueSession) -> bool:
    parked_there = (
        a.true_place_key == session.place_key == b.true_place_key
        and a.true_odometer_km == b.true_odometer_km
    )
    if not parked_there:
        return False
    if a.counter_kwh is not None and b.counter_kwh is not None and b.counter_kwh > a.counter_kwh:
        return True
    return a.soc_pct is not None and b.soc_pct is not None and b.soc_pct > a.soc_pct


def _overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return min(a_end, b_end) - max(a_start, b_start)


def _allowed_kwh(simulated: SimulatedCar, data: DeliveredData, session: TrueSession) -> float:
    car = simulated.car
    shared_kwh = _shared_edge_kwh(simulated, data, session)
    if car.channel == "counter":
        return car.counter_step_kwh + shared_kwh + WH
    if car.channel == "power":
        integral = data.power_integral_kwh(session)
        if integral is None:
            return math.inf
        return abs(integral - session.energy_kwh) + shared_kwh + WH
    # A state of charge is known to a step. Where the reading before the charge or the one
    # after it was taken on the road, the interval also holds a drive, and what the drive
    # spent is known only to a typical consumption (published spread: +-0.05 kWh/km).
    step_kwh = car.soc_step_pct / 100 * car.model.capacity_kwh
    return step_kwh + _edge_drive_km(data, session) * CONSUMPTION_SPREAD_KWH_PER_KM + WH


def _shared_edge_kwh(simulated: SimulatedCar, data: DeliveredData, session: TrueSession) -> float:
    """Energy charged inside a delivered interval at the session's start or end that also
    holds another charge (two stops between two readings): no channel can say how that
    interval's energy divides between the two."""
    shared_kwh = 0.0
    for instant_s in (session.start_s, session.end_s):
        before, after = data.before(instant_s), data.after(instant_s)
        if before is None or after is None:
            continue
        low, high = data.times_s[before], data.times_s[after]
        others = [
            other
            for other in simulated.sessions
            if other is not session and other.start_s < high and low < other.end_s
        ]
        if others:
            shared_kwh += sum(_energy_between_kwh(s, low, high) for s in (session, *others))
    return shared_kwh


def _energy_between_kwh(session: TrueSession, low_s: float, high_s: float) -> float:
    first_minute = math.floor(session.start_s / 60)
    energy_kwh = 0.0
    for offset, minute_kwh in enumerate(session.profile_kwh_per_minute):
        minute_s = (first_minute + offset) * 60
        overlap_s = min(high_s, minute_s + 60) - max(low_s, minute_s)
        if overlap_s > 0:
            energy_kwh += minute_kwh * overlap_s / 60
    return energy_kwh


def _edge_drive_km(data: DeliveredData, session: TrueSession) -> float:
    """Distance driven in the delivered intervals around the session's start and end."""
    driven_km = 0.0
    for instant_s in (session.start_s, session.end_s):
        before, after = data.before(instant_s), data.after(instant_s)
        if before is None or after is None:
            continue
        km_before = data.samples[before].true_odometer_km
        driven_km += max(data.samples[after].true_odometer_km - km_before, 0.0)
    return driven_km


def score_car(simulated: SimulatedCar, records: list[dict[str, Any]]) -> CarResult:
    car = simulated.car
    data = DeliveredData(simulated.samples)
    truths = simulated.sessions
    listed = sorted((parse_listed(record) for record in records), key=lambda s: s.start_s)
    # Each true session's window: from the reading before it to the reading after it, since
    # no detector can place it more precisely than that.
    windows = []
    for truth in truths:
        before, after = data.before(truth.start_s), data.after(truth.end_s)
        windows.append(
            (
                truth.start_s if before is None else data.times_s[before],
                truth.end_s if after is None else data.times_s[after],
            )
        )
    assigned: dict[int, list[Listed]] = {}
    spurious = []
    for session in listed:
        best, best_key = None, (0.0, 0.0)
        for index, truth in enumerate(truths):
            key = (
                _overlap(session.start_s, session.end_s, truth.start_s, truth.end_s),
                _overlap(session.start_s, session.end_s, *windows[index]),
            )
            if (key[0] > 0 or key[1] > 0) and key > best_key:
                best, best_key = index, key
        if best is None:
            spurious.append((session.start_s, session.end_s, session.total_kwh))
        else:
            assigned.setdefault(best, []).append(session)
    outcomes, not_shown, small = [], 0, 0
    for index, truth in enumerate(truths):
        candidates = assigned.get(index, [])
        candidates.sort(
            key=lambda s: (
                _overlap(s.start_s, s.end_s, truth.start_s, truth.end_s),
                _overlap(s.start_s, s.end_s, *windows[index]),
            ),
            reverse=True,
        )
        # Extra pieces of one true session are made-up sessions, whatever its size.
        spurious.extend((s.start_s, s.end_s, s.total_kwh) for s in candidates[1:])
        if truth.energy_kwh < MIN_SESSION_KWH:
            small += 1
            continue
        if not data.shows(truth):
            not_shown += 1
            continue
        outcomes.append(_outcome(simulated, data, truth, candidates[0] if candidates else None))
    return CarResult(car.name, car.channel, outcomes, spurious, not_shown, small)


def _tier_allowed_wh(simulated: SimulatedCar, data: DeliveredData, truth: TrueSession) -> float:
    """The true energy inside the delivered-reading intervals that hold a register boundary
    of the session (each interval once), in Wh; for a car seen by its state of charge, also
    a step of it per boundary (the charge at the boundary is known to a step)."""
    start_ms, end_ms = math.floor(truth.start_s * 1000), math.ceil(truth.end_s * 1000)
    boundaries_s = [seg.start_ms / 1000 for seg in register_segments(start_ms, end_ms, CALENDAR)]
    intervals = set()
    for boundary_s in boundaries_s[1:]:
        before, after = data.before(boundary_s), data.after(boundary_s)
        low = truth.start_s if before is None else data.times_s[before]
        high = truth.end_s if after is None else data.times_s[after]
        intervals.add((low, high))
    car = simulated.car
    energy_kwh = 0.0
    if car.channel == "stateOfCharge":
        energy_kwh += len(intervals) * car.soc_step_pct / 100 * car.model.capacity_kwh
    for low, high in intervals:
        energy_kwh += _energy_between_kwh(truth, low, high)
    return energy_kwh * 1000


def _outcome(
    simulated: SimulatedCar, data: DeliveredData, truth: TrueSession, found: Listed | None
) -> Outcome:
    missed = Outcome(
        car=simulated.car.name,
        channel=simulated.car.channel,
        kind=truth.kind,
        start_s=truth.start_s,
        end_s=truth.end_s,
        energy_kwh=truth.energy_kwh,
        at_home=truth.at_home,
        found=False,
    )
    if found is None:
        return missed
    tier_error_wh = None
    if found.tiers_kwh is not None and found.total_kwh is not None:
        tier_error_wh = max(
            abs(listed_kwh - fraction * found.total_kwh) * 1000
            for listed_kwh, fraction in zip(found.tiers_kwh, truth.tier_fractions, strict=True)
        )
    start_bracket, end_bracket = data.bracket_s(truth.start_s), data.bracket_s(truth.end_s)
    energy_error_kwh = None if found.total_kwh is None else found.total_kwh - truth.energy_kwh
    allowed_kwh = _allowed_kwh(simulated, data, truth)
    return replace(
        missed,
        found=True,
        energy_error_kwh=energy_error_kwh,
        allowed_kwh=allowed_kwh,
        tier_error_wh=tier_error_wh,
        # Energy the data leaves unknown (a gap, an edge) lies where it lies: the split of the
        # listed total can be off by as much of it as the total is (within what is allowed).
        tier_allowed_wh=_tier_allowed_wh(simulated, data, truth)
        + 1000 * min(abs(energy_error_kwh or 0.0), allowed_kwh),
        start_error_intervals=abs(found.start_s - truth.start_s) / start_bracket
        if start_bracket
        else None,
        end_error_intervals=abs(found.end_s - truth.end_s) / end_bracket if end_bracket else None,
        home_listed=found.home,
        uncertainty_kwh=found.uncertainty_kwh,
    )
