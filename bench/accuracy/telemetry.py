"""What a car's cloud reports: samples of the true state, with the cloud's habits and faults.

Car clouds poll often while the car is awake (driving, charging, and a while after) and
rarely while it sleeps; a scheduled charge wakes it. Samples go missing one by one and in
outages of minutes to hours (some in the middle of a charge). Timestamps jitter by seconds;
GPS positions carry Gaussian noise; values come in each car's units and steps.
"""

import bisect
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bench.accuracy.fleet import Car, Profile
from bench.accuracy.truth import TrueSession
from bench.accuracy.world import Drive, Park, Timeline

KM_PER_MILE = 1.609344
METRES_PER_DEGREE = 111_320.0


@dataclass(frozen=True, slots=True)
class TrueState:
    soc: float  # 0..1
    counter_kwh: float  # lifetime energy charged
    power_kw: float
    plugged: bool
    speed_kmh: float
    latitude: float
    longitude: float
    odometer_km: float
    place_key: str | None  # None while driving


@dataclass(frozen=True, slots=True)
class Sample:
    """One delivered reading: what it reports (in ledger units, already quantized as the car
    sends it) and the truth it was taken from."""

    true_s: float
    reported_ms: int
    soc_pct: float | None
    counter_kwh: float | None
    power_kw: float | None
    is_charging: bool | None
    is_plugged: bool | None
    latitude: float | None
    longitude: float | None
    accuracy_m: float | None
    odometer_km: float | None
    range_km: float | None
    speed_kmh: float | None
    true_place_key: str | None
    true_odometer_km: float
    true_charging: bool


class TimelineState:
    """The true state of a timeline at any instant."""

    def __init__(self, timeline: Timeline) -> None:
        self.segments = timeline.segments
        self.starts = [segment.start_s for segment in self.segments]
        self.capacity_kwh = timeline.car.model.capacity_kwh
        self._charge_index: dict[int, tuple[list[float], list[float]]] = {}

    def _energy_before(self, index: int, park: Park, instant: float) -> tuple[float, float]:
        """Energy charged in this park before `instant`, and the power at it."""
        if park.charge is None or not park.charge.steps:
            return 0.0, 0.0
        steps = park.charge.steps
        if index not in self._charge_index:
            cumulative, total = [], 0.0
            for step in steps:
                cumulative.append(total)
                total += step.energy_kwh
            self._charge_index[index] = ([step.start_s for step in steps], cumulative)
        step_starts, cumulative = self._charge_index[index]
        at = bisect.bisect_right(step_starts, instant) - 1
        if at < 0:
            return 0.0, 0.0
        step = steps[at]
        if instant < step.end_s:
            return cumulative[at] + step.power_kw * (instant - step.start_s) / 3600, step.power_kw
        return cumulative[at] + step.energy_kwh, 0.0

    def at(self, instant: float) -> TrueState:
        index = max(0, bisect.bisect_right(self.starts, instant) - 1)
        segment = self.segments[index]
        if isinstance(segment, Drive):
            share = (instant - segment.start_s) / (segment.end_s - segment.start_s)
            origin, destination = segment.origin, segment.destination
            return TrueState(
                soc=segment.soc_start + (segment.soc_end - segment.soc_start) * share,
                counter_kwh=_counter_at_drive(self.segments, index),
                power_kw=0.0,
                plugged=False,
                speed_kmh=segment.distance_km / (segment.end_s - segment.start_s) * 3600,
                latitude=origin.latitude + (destination.latitude - origin.latitude) * share,
                longitude=origin.longitude + (destination.longitude - origin.longitude) * share,
                odometer_km=segment.odometer_km + segment.distance_km * share,
                place_key=None,
            )
        energy_kwh, power_kw = self._energy_before(index, segment, instant)
        charge = segment.charge
        return TrueState(
            soc=segment.soc_start + energy_kwh / self.capacity_kwh,
            counter_kwh=segment.counter_start_kwh + energy_kwh,
            power_kw=power_kw,
            plugged=charge is not None and charge.plug_in_s <= instant < charge.plug_out_s,
            speed_kmh=0.0,
            latitude=segment.place.latitude,
            longitude=segment.place.longitude,
            odometer_km=segment.odometer_km,
            place_key=segment.place.key,
        )


def _counter_at_drive(segments: list[Drive | Park], index: int) -> float:
    """The counter does not move while driving: it reads what the park before ended with."""
    for segment in reversed(segments[:index]):
        if isinstance(segment, Park):
            charged = segment.charge.energy_kwh if segment.charge else 0.0
            return segment.counter_start_kwh + charged
    return 0.0


def _awake_spans(timeline: Timeline, tail_s: float) -> list[tuple[float, float]]:
    spans = []
    for segment in timeline.segments:
        if isinstance(segment, Drive):
            spans.append((segment.start_s, segment.end_s + tail_s))
        elif segment.charge is not None:
            charge = segment.charge
            spans.append((charge.plug_in_s, charge.plug_in_s + tail_s))
            spans.append((charge.plug_out_s, charge.plug_out_s + tail_s))
            if charge.steps:
                spans.append((charge.steps[0].start_s, charge.steps[-1].end_s + tail_s))
    spans.sort()
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def sample_instants(timeline: Timeline, rng: random.Random) -> list[float]:
    """When the cloud polls the car: often while awake, rarely asleep, soon after waking."""
    car = timeline.car
    spans = _awake_spans(timeline, car.awake_tail_s)
    span_starts = [start for start, _ in spans]
    instants, instant = [], timeline.start_s + rng.uniform(0, car.asleep_interval_s)
    while instant < timeline.end_s:
        instants.append(instant)
        at = bisect.bisect_right(span_starts, instant) - 1
        awake = at >= 0 and instant < spans[at][1]
        step_s = car.awake_interval_s if awake else car.asleep_interval_s
        following = instant + step_s * rng.uniform(0.8, 1.2)
        if not awake and at + 1 < len(spans) and spans[at + 1][0] < following:
            # Waking up (a drive, a plug-in, a timer): the cloud hears of it within a poll.
            following = spans[at + 1][0] + rng.uniform(5, car.awake_interval_s)
        instant = following
    return instants


def outages(
    timeline: Timeline, sessions: list[TrueSession], profile: Profile, rng: random.Random
) -> list[tuple[float, float]]:
    """Spans with no samples at all: the car offline, or its cloud down."""
    spans = []
    weeks = (timeline.end_s - timeline.start_s) / (7 * 86400)
    expected = profile.outages_per_week * weeks
    count = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
    for _ in range(count):
        start = rng.uniform(timeline.start_s, timeline.end_s - 86400)
        spans.append((start, start + 60 * math.exp(rng.uniform(math.log(5), math.log(480)))))
    long_sessions = [s for s in sessions if s.end_s - s.start_s > 1800]
    for _ in range(profile.outage_mid_charging if long_sessions else 0):
        session = rng.choice(long_sessions)
        start = session.start_s + (session.end_s - session.start_s) * rng.uniform(0.2, 0.6)
        spans.append((start, start + rng.uniform(20, 180) * 60))
    return sorted(spans)


def _quantize(value: float, step: float) -> float:
    # Rounded to 9 decimals after: 0.1 steps must read 42.3, not 42.300000000000004.
    return round(math.floor(value / step + 0.5) * step, 9)


def observe(
    car: Car, state: TrueState, instant: float, reported_ms: int, rng: random.Random
) -> Sample:
    """What the car reports of a true state (in ledger units, quantized as it sends them)."""
    gps_north_m, gps_east_m = rng.gauss(0, car.gps_sigma_m), rng.gauss(0, car.gps_sigma_m)
    latitude = state.latitude + gps_north_m / METRES_PER_DEGREE
    longitude = state.longitude + gps_east_m / (
        METRES_PER_DEGREE * math.cos(math.radians(state.latitude))
    )
    accuracy_m = round(car.gps_sigma_m * rng.uniform(0.8, 1.3), 1)
    odometer_km: float | None = None
    if car.reports_odometer:
        # Whole tenths of the car's own unit.
        if car.distance_unit == "mi":
            odometer_km = _quantize(state.odometer_km / KM_PER_MILE, 0.1) * KM_PER_MILE
        else:
            odometer_km = _quantize(state.odometer_km, 0.1)
    model = car.model
    charging = state.power_kw > 0
    counter_kwh = _quantize(state.counter_kwh, car.counter_step_kwh)
    return Sample(
        true_s=instant,
        reported_ms=reported_ms,
        soc_pct=min(100.0, max(0.0, _quantize(state.soc * 100, car.soc_step_pct))),
        counter_kwh=counter_kwh if car.channel == "counter" else None,
        power_kw=_quantize(state.power_kw, car.power_step_kw) if car.reports_power else None,
        is_charging=charging if car.reports_is_charging else None,
        is_plugged=state.plugged if car.reports_plugged else None,
        latitude=round(latitude, 7),
        longitude=round(longitude, 7),
        accuracy_m=accuracy_m if car.reports_accuracy else None,
        odometer_km=odometer_km,
        range_km=float(round(state.soc * model.capacity_kwh / model.consumption_kwh_per_km)),
        speed_kmh=round(state.speed_kmh, 1),
        true_place_key=state.place_key,
        true_odometer_km=state.odometer_km,
        true_charging=charging,
    )


def samples(
    timeline: Timeline, sessions: list[TrueSession], profile: Profile
) -> tuple[list[Sample], dict[str, int]]:
    """The readings the cloud will deliver, in time order, and counts of the faults in them."""
    car = timeline.car
    rng = random.Random(f"telemetry/{car.seed}/{car.index}")
    state = TimelineState(timeline)
    instants = sample_instants(timeline, rng)
    gaps = outages(timeline, sessions, profile, rng)
    gap_starts = [start for start, _ in gaps]
    out: list[Sample] = []
    faults = {"polled": len(instants), "missing": 0, "in_outage": 0, "outages": len(gaps)}
    last_ms = 0
    for instant in instants:
        at = bisect.bisect_right(gap_starts, instant) - 1
        if at >= 0 and instant < gaps[at][1]:
            faults["in_outage"] += 1
            continue
        if rng.random() < car.miss_prob:
            faults["missing"] += 1
            continue
        jitter_s = rng.uniform(-car.clock_jitter_s, car.clock_jitter_s)
        # Timestamps stay unique and in order: readings are idempotent on their instant.
        reported_ms = max(last_ms + 1, round((instant + jitter_s) * 1000))
        last_ms = reported_ms
        out.append(observe(car, state.at(instant), instant, reported_ms, rng))
    return out, faults


def format_instant_ms(instant_ms: int) -> str:
    text = datetime.fromtimestamp(instant_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return text[:-3] + "Z"


def to_reading(car: Car, sample: Sample, *, with_speed: bool = False) -> dict[str, Any]:
    """The POST /v1/entities/{id}/readings element for a sample, in the car's own units."""
    mile = car.distance_unit == "mi"
    distance_unit = "mi" if mile else "km"

    def distance(value_km: float, digits: int) -> float:
        return round(value_km / KM_PER_MILE if mile else value_km, digits)

    reading: dict[str, Any] = {"timestamp": format_instant_ms(sample.reported_ms)}
    if sample.soc_pct is not None:
        reading["stateOfCharge"] = {"unit": "%", "value": sample.soc_pct}
    if sample.range_km is not None:
        reading["range"] = {"unit": distance_unit, "value": distance(sample.range_km, 0)}
    if sample.is_charging is not None:
        reading["isCharging"] = sample.is_charging
    if sample.is_plugged is not None:
        reading["isPluggedIn"] = sample.is_plugged
    if sample.counter_kwh is not None:
        total = sample.counter_kwh * 1000 if car.counter_unit == "Wh" else sample.counter_kwh
        reading["positiveActiveEnergy"] = {"total": round(total, 6), "unit": car.counter_unit}
    if sample.power_kw is not None:
        value = sample.power_kw * 1000 if car.power_unit == "W" else sample.power_kw
        reading["positiveActiveInstantaneousPower"] = {
            "unit": car.power_unit,
            "value": round(value, 6),
        }
    if sample.latitude is not None and sample.longitude is not None:
        location: dict[str, Any] = {"latitude": sample.latitude, "longitude": sample.longitude}
        if sample.accuracy_m is not None:
            location["accuracy"] = sample.accuracy_m
        reading["location"] = location
    if sample.odometer_km is not None:
        reading["odometer"] = {"unit": distance_unit, "value": distance(sample.odometer_km, 1)}
    if with_speed and sample.speed_kmh is not None:
        speed = distance(sample.speed_kmh, 1)
        reading["speed"] = {"unit": "mph" if mile else "km/h", "value": speed}
    return reading
