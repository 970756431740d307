"""Charge sessions from what a vehicle or charger reports: readings in, sessions out.

Between each two consecutive readings lies an interval. Each channel is used for what it
proves (domain/charging_stream.py, domain/session_energy.py, domain/movement.py); runs of
charging intervals are measured in domain/session_measures.py:

- Charging evidence in an interval: either reading reports charging (`isCharging`, else power
  above the threshold), so the interval in which charging begins or ends belongs to the
  session; or the energy counter rose across it (it only counts charging, so this holds over
  any interval, however long, and whether or not the car moved); or, for a car that reports
  neither, its state of charge rose while it stood still. A car that says it is not charging
  at both ends, has no counter, and yet gained several points of charge while parked charged
  in between, unseen (an outage).
- Movement needs evidence (domain/movement.py). An interval with a drive and charging evidence
  is an edge: the charge before the drive ends in it, the one after starts in it, or a whole
  charge fits between two readings on the road (a short DC stop), and its energy is counted.
- A session is a run of intervals with charging evidence at one place. Two runs at one place
  are one session when the pause between them (the time without charging evidence: from the
  estimated end of one to the estimated start of the next) is shorter than the pause limit,
  or than the parked pause limit when the car says it stayed plugged in throughout or its
  odometer or positions show it stayed put. A car that says it was unplugged in between
  made two plug-ins.
- Its energy comes from the best channel over the whole session, edge intervals included:
  counter, else power, else state of charge x battery capacity. Its start and end are
  estimated inside the edge intervals from that channel (the edge's energy at the rate seen
  on its charging side), not snapped to a reading. energy_uncertainty_kwh says how far the
  truth can be from the listed energy given the data.

A session is complete once a reading after it shows that charging stopped, or once nothing has
been heard for longer than the gap limit; the last run of a stream that is still charging is
open and not listed yet. Sessions with less than the noise threshold of energy are dropped.
"""

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from chargeledger.domain.charging_stream import (
    Run,
    Stream,
    analyse,
    charging_across,
    drive_costs_pct,
    soc_drive_gain_pct,
    soc_only,
    soc_step_ms,
    stayed_put,
)
from chargeledger.domain.location_matching import Position
from chargeledger.domain.physical_ranges import MAX_SESSION_DURATION_MS, reading_within_ranges
from chargeledger.domain.session_energy import COUNTER_NOISE_KWH, EnergyMethod
from chargeledger.domain.session_measures import (
    choose_method,
    edges,
    interval_energies,
    profile_of,
    uncertainty_kwh,
)
from chargeledger.domain.tariffs import EnergyInterval
from chargeledger.domain.telemetry import DetectorConfig, Reading

__all__ = [
    "DetectedSession",
    "DetectionMethod",
    "DetectorConfig",
    "EnergyMethod",
    "Measurement",
    "Reading",
    "charging_across",
    "detect_sessions",
    "measure_energy",
]


class DetectionMethod(StrEnum):
    IS_CHARGING = "isCharging"
    POWER = "power"
    COUNTER = "counter"
    STATE_OF_CHARGE = "stateOfCharge"


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
    # How far the true energy can be from energy_kwh given the data (kWh); None when unknown.
    energy_uncertainty_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class Measurement:
    method: EnergyMethod | None
    energy_kwh: float | None
    profile: tuple[EnergyInterval, ...]
    uncertainty_kwh: float | None


def detect_sessions(
    readings: Sequence[Reading], config: DetectorConfig, *, now_ms: int
) -> list[DetectedSession]:
    """Sessions in a stream of readings (sorted by time, one per timestamp), oldest first.

    Values outside their physical range (stored before the API refused them) are ignored, as
    if not reported; a complete session longer than any charge (31 days) is bogus and
    dropped, as a posted one would be refused.
    """
    if len(readings) < 2:
        return []
    readings = [reading_within_ranges(reading) for reading in readings]
    stream = analyse(readings, config)
    runs = [
        _with_soc_drive_edges(stream, run, config) for run in _joined(stream, _runs(stream), config)
    ]
    silent_too_long = now_ms - stream.times[-1] > config.gap_limit_ms
    sessions = []
    for index, run in enumerate(runs):
        ongoing = index == len(runs) - 1 and _still_charging(stream, run) and not silent_too_long
        session = _build(stream, run, config, complete=not ongoing)
        if session is None:
            continue
        if session.complete and session.end_ms - session.start_ms > MAX_SESSION_DURATION_MS:
            continue
        sessions.append(session)
    return sessions


def _still_charging(stream: Stream, run: Run) -> bool:
    """Whether the run reaches the newest reading and that reading says charging goes on."""
    last_reading = len(stream.readings) - 1
    if run.last + 1 != last_reading or run.end_moved:
        return False
    status = stream.status[last_reading]
    return status if status is not None else stream.evidence[run.last]


def _runs(stream: Stream) -> list[Run]:
    """Runs of intervals with charging evidence, cut at drives."""
    runs: list[Run] = []
    current: Run | None = None
    count = len(stream.evidence)
    for i in range(count):
        if not stream.evidence[i]:
            current = None
            continue
        if not stream.moved[i]:
            # A reading inside a run that says "not charging" is a pause between two runs:
            # charging stopped before it and started again after it.
            if current is None or stream.status[i] is False:
                current = Run(i, i)
                runs.append(current)
            else:
                current.last = i
            continue
        # Charging and a drive in one interval: before the drive, after it, or both.
        # A reading that cannot say whether it charged sides with the charge when it was
        # plugged in, or when charging evidence goes on past it (a stop between two drives).
        before = stream.status[i] is True or (
            stream.status[i] is None
            and (current is not None or bool(stream.readings[i].is_plugged_in))
        )
        after = stream.status[i + 1] is True or (
            stream.status[i + 1] is None
            and (
                bool(stream.readings[i + 1].is_plugged_in)
                or (i + 1 < count and stream.evidence[i + 1])
            )
        )
        if before:
            if current is None:  # charging (or plugged in) at the reading, then a drive
                current = Run(i, i, starts_at_reading=True)
                runs.append(current)
            current.last = i
            current.end_moved, current.end_shared = True, after
        current = None
        if after:
            current = Run(i, i, start_moved=True, start_shared=before)
            runs.append(current)
        elif not before:
            runs.append(Run(i, i, start_moved=True, end_moved=True, hidden=True))
    return runs


def _joined(stream: Stream, runs: list[Run], config: DetectorConfig) -> list[Run]:
    """Runs at one place separated by a pause shorter than the pause limit, as one run."""
    joined: list[Run] = []
    for run in runs:
        if joined and _pause_joins(stream, joined[-1], run, config):
            previous = joined[-1]
            previous.last, previous.end_moved, previous.end_shared = (
                run.last,
                run.end_moved,
                run.end_shared,
            )
            previous.hidden = False
            previous.parts.append((run.first, run.last))
            continue
        joined.append(replace(run, parts=[(run.first, run.last)]))
    return joined


def _pause_joins(stream: Stream, earlier: Run, later: Run, config: DetectorConfig) -> bool:
    if earlier.end_moved or later.start_moved or earlier.last >= later.first:
        return False
    if any(stream.moved[earlier.last + 1 : later.first]):
        return False
    between = stream.readings[earlier.last + 1 : later.first + 1]
    if any(r.is_plugged_in is False for r in between):
        return False  # unplugged in between: two plug-ins, however short the pause
    parked = all(r.is_plugged_in for r in between) or all(
        stayed_put(stream, j) for j in range(earlier.last, later.first + 1)
    )
    limit_ms = config.pause_limit_ms
    if parked:
        limit_ms = max(limit_ms, config.parked_pause_limit_ms)
    if soc_only(stream, earlier) and soc_only(stream, later):
        # A state of charge in whole points stays flat for as long as a step takes to charge
        # (16 minutes at 3.7 kW into a 100 kWh battery): a flat stretch is a pause only when
        # it lasts longer than that. Edge estimates from stepped values would be noise.
        pause_ms = stream.times[later.first] - stream.times[earlier.last + 1]
        limit_ms += 2 * max(soc_step_ms(stream, earlier), soc_step_ms(stream, later))
    else:
        pause_ms = edges(stream, later, config)[0] - edges(stream, earlier, config)[1]
    return pause_ms < limit_ms


def _with_soc_drive_edges(stream: Stream, run: Run, config: DetectorConfig) -> Run:
    """A car seen by its state of charge alone that starts charging on arrival (or charges
    until it leaves) gains charge in the interval with the drive, where the drive hides it:
    that interval becomes the session's edge when the estimated gain is a step or more."""
    if run.hidden or not soc_only(stream, run):
        return run
    before = run.first - 1
    if not run.start_moved and before >= 0 and stream.moved[before]:
        gain = soc_drive_gain_pct(stream, before, config)
        if gain is not None and gain >= stream.soc_step_pct:
            run.first, run.start_moved = before, True
            run.parts[0] = (before, run.parts[0][1])
    after = run.last + 1
    if not run.end_moved and after < len(stream.moved) and stream.moved[after]:
        gain = soc_drive_gain_pct(stream, after, config)
        if gain is not None and gain >= stream.soc_step_pct:
            run.last, run.end_moved = after, True
            run.parts[-1] = (run.parts[-1][0], after)
    return run


def _build(
    stream: Stream, run: Run, config: DetectorConfig, *, complete: bool
) -> DetectedSession | None:
    method = choose_method(stream, run, config)
    energies = interval_energies(stream, run, method, config)
    start_ms, end_ms = edges(stream, run, config, method, energies)
    if not complete:
        end_ms = stream.times[run.last + 1]  # so far: open sessions are not listed
    readings = stream.readings[run.first : run.last + 2]
    outer_start, outer_end = readings[0], readings[-1]
    soc_gain = None
    if outer_start.soc_pct is not None and outer_end.soc_pct is not None:
        soc_gain = outer_end.soc_pct - outer_start.soc_pct
    energy_kwh: float | None
    if method is EnergyMethod.STATE_OF_CHARGE:
        assert soc_gain is not None
        assert config.battery_capacity_kwh is not None
        energy_kwh = max(soc_gain + drive_costs_pct(stream, run, config), 0.0) / 100
        energy_kwh *= config.battery_capacity_kwh
    elif method is None:
        energy_kwh = None
    else:
        energy_kwh = sum(energies)
    found_by = _found_by(readings, stream, run, config)
    # Compared to the millionth of a kWh: 1000.05 - 1000.0 is 0.04999999999995 in floats.
    if energy_kwh is not None and round(energy_kwh, 6) < config.min_energy_kwh:
        return None
    if found_by is DetectionMethod.STATE_OF_CHARGE and not _soc_gain_is_charging(
        soc_gain, readings, stream.soc_step_pct, config
    ):
        return None
    inner = readings[1 if run.start_moved else 0 : len(readings) - (1 if run.end_moved else 0)]
    # Values at the place: the readings on the road are left out, unless there are none
    # other (a whole charge between two readings on the road).
    first_values = readings[1:] if run.start_moved and not run.hidden else readings
    last_values = readings[:-1] if run.end_moved and not run.hidden else readings
    return DetectedSession(
        start_ms=start_ms,
        end_ms=end_ms,
        complete=complete,
        method=found_by,
        energy_method=method,
        energy_kwh=energy_kwh,
        profile=profile_of(stream, run, method, energies, energy_kwh, start_ms, end_ms),
        soc_start_pct=_first_value(first_values, "soc_pct"),
        soc_end_pct=_first_value(list(reversed(last_values)), "soc_pct"),
        range_start_km=_first_value(first_values, "range_km"),
        range_end_km=_first_value(list(reversed(last_values)), "range_km"),
        position=None if run.hidden else _median_position(inner, stream, run),
        reading_count=len(readings),
        energy_uncertainty_kwh=uncertainty_kwh(stream, run, method, config, readings),
    )


def _found_by(
    readings: Sequence[Reading], stream: Stream, run: Run, config: DetectorConfig
) -> DetectionMethod:
    if any(r.is_charging for r in readings):
        return DetectionMethod.IS_CHARGING
    if any(r.power_kw is not None and r.power_kw > config.power_threshold_kw for r in readings):
        return DetectionMethod.POWER
    intervals = range(run.first, run.last + 1)
    if any((stream.counter[i] or 0.0) > COUNTER_NOISE_KWH for i in intervals):
        return DetectionMethod.COUNTER
    return DetectionMethod.STATE_OF_CHARGE


def _soc_gain_is_charging(
    gain_pct: float | None, readings: Sequence[Reading], step_pct: float, config: DetectorConfig
) -> bool:
    """A rise found by the state of charge alone must be a full point, and two steps of the
    car's reporting unless it says it is plugged in: a lone step up of a parked car is the
    battery management recalibrating, not a charge."""
    if gain_pct is None or gain_pct < config.min_soc_gain_pct - 1e-9:
        return False
    return gain_pct >= 2 * step_pct - 1e-9 or any(r.is_plugged_in for r in readings)


def _first_value(readings: Sequence[Reading], name: str) -> float | None:
    for reading in readings:
        value = getattr(reading, name)
        if value is not None:
            return float(value)
    return None


def _median_position(readings: Sequence[Reading], stream: Stream, run: Run) -> Position | None:
    offset = run.first + (1 if run.start_moved else 0)
    positioned = [
        r
        for index, r in enumerate(readings)
        if r.latitude is not None and r.longitude is not None and not stream.glitch[offset + index]
    ]
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


def measure_energy(readings: Sequence[Reading], config: DetectorConfig) -> Measurement:
    """The energy of readings known to make one session from first to last (an OCPP
    transaction's meter values): counter, else power, else state of charge x capacity."""
    if len(readings) < 2:
        return Measurement(None, None, (), None)
    stream = analyse(readings, config)
    run = Run(0, len(readings) - 2)
    method = choose_method(stream, run, config)
    energies = interval_energies(stream, run, method, config)
    energy_kwh: float | None = None if method is None else sum(energies)
    if method is EnergyMethod.STATE_OF_CHARGE:
        first, last = readings[0].soc_pct, readings[-1].soc_pct
        assert first is not None
        assert last is not None
        assert config.battery_capacity_kwh is not None
        energy_kwh = max(last - first, 0.0) / 100 * config.battery_capacity_kwh
    profile = profile_of(stream, run, method, energies, energy_kwh, readings[0].timestamp_ms,
                       readings[-1].timestamp_ms)  # fmt: skip
    return Measurement(
        method, energy_kwh, profile, uncertainty_kwh(stream, run, method, config, readings)
    )
