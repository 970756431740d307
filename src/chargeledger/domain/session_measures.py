"""A run of charging intervals measured: which channel measures it, its energy interval by
interval, where its start and end lie inside their edge intervals, its energy over time (for
the tariff split) and how far the truth can be from it."""

import itertools
import math
from collections.abc import Sequence
from dataclasses import replace

from chargeledger.domain.charging_stream import (
    Run,
    Stream,
    soc_and_distance,
    soc_drive_gain_pct,
    soc_only,
)
from chargeledger.domain.session_energy import (
    EnergyMethod,
    counter_resolution_kwh,
    trapezoid_uncertainty_kwh,
)
from chargeledger.domain.tariffs import EnergyInterval
from chargeledger.domain.telemetry import (
    CONSUMPTION_SPREAD_KWH_PER_KM,
    HOUR_MS,
    DetectorConfig,
    Reading,
)


def choose_method(stream: Stream, run: Run, config: DetectorConfig) -> EnergyMethod | None:
    intervals = range(run.first, run.last + 1)
    if all(stream.counter[i] is not None for i in intervals):
        return EnergyMethod.COUNTER
    readings = stream.readings[run.first : run.last + 2]
    if any(r.power_kw is not None and r.power_kw > config.power_threshold_kw for r in readings):
        return EnergyMethod.POWER
    outer = stream.readings[run.first], stream.readings[run.last + 1]
    if config.battery_capacity_kwh is not None and None not in (outer[0].soc_pct, outer[1].soc_pct):
        return EnergyMethod.STATE_OF_CHARGE
    return None


def _share_after_drive(stream: Stream, i: int) -> float:
    """Of a shared interval (charging before and after a drive), the part after the drive, in
    proportion to the power on each side (halves when unknown)."""
    before, after = stream.power[i] or 0.0, stream.power[i + 1] or 0.0
    if before + after <= 0:
        return 0.5
    return after / (before + after)


def interval_energies(
    stream: Stream, run: Run, method: EnergyMethod | None, config: DetectorConfig
) -> list[float]:
    """The run's energy in each of its intervals, by the method (its share of shared ones)."""
    energies = []
    for i in range(run.first, run.last + 1):
        if method is EnergyMethod.COUNTER:
            energy = stream.counter[i] or 0.0
            if i == run.first and run.start_shared:
                energy *= _share_after_drive(stream, i)
            elif i == run.last and run.end_shared:
                energy *= 1 - _share_after_drive(stream, i)
        elif method is EnergyMethod.POWER:
            half_before, half_after = stream.halves[i]
            if i == run.first and run.start_shared:
                energy = half_after
            elif i == run.last and run.end_shared:
                energy = half_before
            else:
                energy = half_before + half_after
        elif method is EnergyMethod.STATE_OF_CHARGE:
            a, b = stream.readings[i], stream.readings[i + 1]
            gain = 0.0 if a.soc_pct is None or b.soc_pct is None else b.soc_pct - a.soc_pct
            if stream.moved[i]:
                gain = soc_drive_gain_pct(stream, i, config) or 0.0
            energy = max(gain, 0.0) / 100 * (config.battery_capacity_kwh or 0.0)
        else:
            energy = 0.0
        energies.append(energy)
    return energies


def _rate_kw(
    stream: Stream, reading: int, interval: int | None, energy_kwh: float, average_kw: float
) -> float:
    """The charging rate next to an edge: the power reported at its charging side, else the
    session's average rate for a stepped state of charge, else the rate over the neighbouring
    interval of the session (0 when none is known)."""
    power = stream.power[reading]
    if power is not None and power > 0 and stream.status[reading] is not False:
        return power
    if average_kw > 0:
        return average_kw
    if interval is None:
        return 0.0
    hours = (stream.times[interval + 1] - stream.times[interval]) / HOUR_MS
    return energy_kwh / hours if hours > 0 else 0.0


def edges(
    stream: Stream,
    run: Run,
    config: DetectorConfig,
    method: EnergyMethod | None = None,
    energies: Sequence[float] | None = None,
) -> tuple[int, int]:
    """The estimated start and end of the run, each inside its edge interval."""
    if energies is None:
        method = choose_method(stream, run, config)
        energies = interval_energies(stream, run, method, config)
    if method is None and soc_only(stream, run):
        # Without a battery capacity the energy is unknown, but not when it flowed: the same
        # estimate in points of charge (a capacity of 100 kWh is one kWh per point).
        method = EnergyMethod.STATE_OF_CHARGE
        energies = interval_energies(
            stream, run, method, replace(config, battery_capacity_kwh=100.0)
        )
    t = stream.times
    first, last = run.first, run.last
    if run.hidden:
        return t[first], t[last + 1]
    single = first == last
    average_kw = 0.0
    if method is EnergyMethod.STATE_OF_CHARGE:
        hours = sum(t[b + 1] - t[a] for a, b in run.parts) / HOUR_MS
        average_kw = sum(energies) / hours if hours > 0 else 0.0
    if (
        single
        and not (run.start_shared or run.end_shared or run.starts_at_reading)
        and stream.status[first] is not True
        and stream.status[last + 1] is not True
    ):
        # A whole charge inside one interval: as long as its energy at the rate seen on
        # either side takes, centred, since nothing says when.
        rate = max(stream.power[first] or 0.0, stream.power[first + 1] or 0.0)
        span_ms = t[first + 1] - t[first]
        needed_ms = energies[0] / rate * HOUR_MS if rate > 0 else math.inf
        charging_ms = span_ms if not needed_ms < span_ms else round(needed_ms)
        start_ms = t[first] + (span_ms - charging_ms) // 2
        return start_ms, max(start_ms + charging_ms, start_ms + 1)
    # Start: charging began inside interval `first`, unless its earlier reading already shows
    # charging (the stream starts mid-charge).
    if (stream.status[first] is True or run.starts_at_reading) and not run.start_shared:
        start_ms = t[first]
    else:
        rate = _rate_kw(
            stream, first + 1, None if single else first + 1, _at(energies, 1), average_kw
        )
        start_ms = _inside(
            t[first], t[first + 1], energies[0], rate, from_end=True, shared=run.start_shared
        )
    if stream.status[last + 1] is True and not run.end_shared:
        end_ms = t[last + 1]
    else:
        rate = _rate_kw(stream, last, None if single else last - 1, _at(energies, -2), average_kw)
        end_ms = _inside(
            t[last], t[last + 1], energies[-1], rate, from_end=False, shared=run.end_shared
        )
    if end_ms <= start_ms:  # nothing measurable: a millisecond, inside the readings
        start_ms, end_ms = min(start_ms, t[last + 1] - 1), min(start_ms, t[last + 1] - 1) + 1
    return start_ms, end_ms


def _at(values: Sequence[float], index: int) -> float:
    return values[index] if -len(values) <= index < len(values) else 0.0


def _inside(
    earlier_ms: int,
    later_ms: int,
    energy_kwh: float,
    rate_kw: float,
    *,
    from_end: bool,
    shared: bool = False,
) -> int:
    """An instant inside an edge interval: charging ran for energy / rate up to its charging
    side (halfway when the rate is unknown). An interval shared by the charges before and
    after a drive gives each at most half of it, so they cannot overlap."""
    span_ms = later_ms - earlier_ms
    longest_ms = span_ms // 2 if shared else span_ms
    if rate_kw > 0:
        needed_ms = energy_kwh / rate_kw * HOUR_MS  # inf for a rate near zero
        charging_ms = longest_ms if not needed_ms < longest_ms else round(needed_ms)
    else:
        charging_ms = span_ms // 2
    return later_ms - charging_ms if from_end else earlier_ms + charging_ms


def profile_of(
    stream: Stream,
    run: Run,
    method: EnergyMethod | None,
    energies: Sequence[float],
    energy_kwh: float | None,
    start_ms: int,
    end_ms: int,
) -> tuple[EnergyInterval, ...]:
    """The energy over time, edge intervals cut to the estimated start and end; scaled to
    the session's energy (a state-of-charge session's total is its outer difference)."""
    if energy_kwh is None:
        return ()
    if method is EnergyMethod.STATE_OF_CHARGE:
        return _soc_profile(stream, run, energy_kwh, start_ms, end_ms)
    total = sum(energies)
    scale = energy_kwh / total if total > 0 else 0.0
    profile = []
    for offset, energy in enumerate(energies):
        i = run.first + offset
        begin = max(stream.times[i], start_ms)
        finish = min(stream.times[i + 1], end_ms)
        if finish <= begin:
            # An edge whose estimate sits on its reading: a millisecond inside the session.
            if energy <= 0:
                continue
            begin, finish = (begin, begin + 1) if begin + 1 <= end_ms else (finish - 1, finish)
        profile.append(EnergyInterval(begin, finish, energy * scale))
    if total <= 0 and energy_kwh > 0:
        return (EnergyInterval(start_ms, end_ms, energy_kwh),)
    return tuple(profile)


def _soc_profile(
    stream: Stream, run: Run, energy_kwh: float, start_ms: int, end_ms: int
) -> tuple[EnergyInterval, ...]:
    """The energy of a session seen by its state of charge, over time: the charge gained
    follows the reported values from reading to reading (straight between them), from nothing
    at the start to the whole at the end. A value in whole points lags the charge by up to a
    step, so energy can sit up to a step's worth on the wrong side of a register boundary."""
    readings = stream.readings[run.first : run.last + 2]
    first_inside = 1 if run.start_moved else 0
    last_inside = len(readings) - (2 if run.end_moved else 1)
    base = readings[first_inside].soc_pct
    points: list[tuple[int, float]] = [(start_ms, 0.0)]
    if base is not None:
        for reading in readings[first_inside : last_inside + 1]:
            if reading.soc_pct is not None and start_ms < reading.timestamp_ms < end_ms:
                points.append((reading.timestamp_ms, max(points[-1][1], reading.soc_pct - base)))
    gain_pct = max(points[-1][1], 0.0)
    outer_end = readings[-1].soc_pct
    if base is not None and outer_end is not None:
        gain_pct = max(gain_pct, outer_end - base)
    points.append((end_ms, gain_pct))
    profile = [
        EnergyInterval(t0, t1, g1 - g0)
        for (t0, g0), (t1, g1) in itertools.pairwise(points)
        if t1 > t0 and g1 > g0
    ]
    total = sum(step.energy_kwh for step in profile)
    if total <= 0:
        return (EnergyInterval(start_ms, end_ms, energy_kwh),)
    return tuple(
        EnergyInterval(step.start_ms, step.end_ms, step.energy_kwh / total * energy_kwh)
        for step in profile
    )


def uncertainty_kwh(
    stream: Stream,
    run: Run,
    method: EnergyMethod | None,
    config: DetectorConfig,
    readings: Sequence[Reading],
) -> float | None:
    if method is None:
        return None
    shared_kwh = 0.0  # what was split between two sessions by a guess
    for i, shared in ((run.first, run.start_shared), (run.last, run.end_shared)):
        if shared:
            shared_kwh += (stream.counter[i] or 0.0) if method is EnergyMethod.COUNTER else 0.0
    if method is EnergyMethod.COUNTER:
        values = [r.energy_counter_kwh for r in readings if r.energy_counter_kwh is not None]
        return round(counter_resolution_kwh(values) + shared_kwh, 6)
    if method is EnergyMethod.STATE_OF_CHARGE:
        assert config.battery_capacity_kwh is not None
        driven_km = sum(
            drive[1]
            for i in {run.first, run.last}
            if stream.moved[i] and (drive := soc_and_distance(stream, i)) is not None
        )
        step_kwh = stream.soc_step_pct / 100 * config.battery_capacity_kwh
        return round(step_kwh + driven_km * CONSUMPTION_SPREAD_KWH_PER_KM, 6)
    total = 0.0
    for i in range(run.first, run.last + 1):
        p0, p1 = stream.power[i] or 0.0, stream.power[i + 1] or 0.0
        duration_ms = stream.times[i + 1] - stream.times[i]
        if (i == run.first and run.start_shared) or (i == run.last and run.end_shared):
            total += max(p0, p1) * duration_ms / HOUR_MS / 2
            continue
        throughout = (
            stream.status[i] is not False
            and stream.status[i + 1] is not False
            and duration_ms <= config.gap_limit_ms
        )
        total += trapezoid_uncertainty_kwh(p0, p1, duration_ms, charging_throughout=throughout)
    return round(total, 6)
