"""The true sessions of a timeline: one per plug-in in which power flowed, from the first
instant of power to the last (pauses inside stay inside), with the exact energy and its exact
split over the Belgian day/night registers."""

import math
from dataclasses import dataclass

from bench.accuracy.world import ChargeKind, Park, Timeline
from chargeledger.domain.tariffs import BELGIAN_DAY_NIGHT, CalendarVersion, register_segments

# The calendar the scorer puts on every car (PUT tariff-calendar {"preset": "BE-day-night"}),
# in force since always.
CALENDAR = (CalendarVersion(0, BELGIAN_DAY_NIGHT),)
REGISTER_INDEX = {"t1": 0, "t2": 1, "t3": 2, "t4": 3}


@dataclass(frozen=True, slots=True)
class TrueSession:
    kind: ChargeKind
    start_s: float
    end_s: float
    energy_kwh: float
    tiers_kwh: tuple[float, float, float, float]  # exact, not rounded
    profile_kwh_per_minute: tuple[float, ...]  # from the minute the session starts in
    latitude: float
    longitude: float
    place_key: str
    at_home: bool

    @property
    def tier_fractions(self) -> tuple[float, float, float, float]:
        total = sum(self.tiers_kwh)
        t1, t2, t3, t4 = (value / total if total > 0 else 0.0 for value in self.tiers_kwh)
        return (t1, t2, t3, t4)


def _tiers_kwh(park: Park) -> tuple[float, float, float, float]:
    assert park.charge is not None
    steps = park.charge.steps
    start_ms = math.floor(steps[0].start_s * 1000)
    end_ms = math.ceil(steps[-1].end_s * 1000)
    tiers = [0.0, 0.0, 0.0, 0.0]
    segments = register_segments(start_ms, end_ms, CALENDAR)
    for step in steps:
        step_start_ms, step_end_ms = step.start_s * 1000, step.end_s * 1000
        for segment in segments:
            overlap_ms = min(step_end_ms, segment.end_ms) - max(step_start_ms, segment.start_ms)
            if overlap_ms > 0:
                tiers[REGISTER_INDEX[segment.register]] += step.power_kw * overlap_ms / 3_600_000
    return (tiers[0], tiers[1], tiers[2], tiers[3])


def _profile_per_minute(park: Park) -> tuple[float, ...]:
    assert park.charge is not None
    steps = park.charge.steps
    first_minute = math.floor(steps[0].start_s / 60)
    minutes = [0.0] * (math.ceil(steps[-1].end_s / 60) - first_minute)
    for step in steps:
        instant = step.start_s
        while instant < step.end_s:
            minute = math.floor(instant / 60)
            until = min(step.end_s, (minute + 1) * 60.0)
            minutes[minute - first_minute] += step.power_kw * (until - instant) / 3600
            instant = until
    return tuple(minutes)


def true_sessions(timeline: Timeline) -> list[TrueSession]:
    sessions = []
    for segment in timeline.segments:
        if not isinstance(segment, Park) or segment.charge is None or not segment.charge.steps:
            continue
        steps = segment.charge.steps
        sessions.append(
            TrueSession(
                kind=segment.charge.kind,
                start_s=steps[0].start_s,
                end_s=steps[-1].end_s,
                energy_kwh=segment.charge.energy_kwh,
                tiers_kwh=_tiers_kwh(segment),
                profile_kwh_per_minute=_profile_per_minute(segment),
                latitude=segment.place.latitude,
                longitude=segment.place.longitude,
                place_key=segment.place.key,
                at_home=segment.place.at_home,
            )
        )
    return sessions
