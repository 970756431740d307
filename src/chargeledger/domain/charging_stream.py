"""Where charging happened in a stream of readings: what each channel shows per reading and per
interval (charging status, power, counter increments, drives, position glitches), the runs of
intervals that make sessions, and the state-of-charge arithmetic of drives.

Every value is computed once per stream (analyse) so the detector can sum any stretch.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

from chargeledger.domain.movement import consecutive_apart, moved_between, position_glitches
from chargeledger.domain.session_energy import (
    COUNTER_NOISE_KWH,
    counter_increments,
    fill_power,
    soc_step_pct,
    trapezoid_halves_kwh,
)
from chargeledger.domain.telemetry import (
    TYPICAL_CONSUMPTION_KWH_PER_KM,
    DetectorConfig,
    Reading,
)


@dataclass(slots=True)
class Stream:
    """Everything the detector derives from the readings once, per reading or per interval."""

    readings: Sequence[Reading]
    times: list[int]
    status: list[bool | None]  # per reading: reports charging, not charging, or cannot say
    power: list[float | None]  # per reading: charging power, filled between known values
    halves: list[tuple[float, float]]  # per interval: the trapezoid's two halves, kWh
    counter: list[float | None]  # per interval: counter increment, kWh
    moved: list[bool]  # per interval
    evidence: list[bool]  # per interval: charging happened in it
    glitch: list[bool]  # per reading: its position is a lone outlier
    soc_step_pct: float


@dataclass(slots=True)
class Run:
    """Intervals first..last (inclusive) of one session or piece of one. An edge interval
    that holds a drive is `moved`; one shared with the neighbouring run (charging before and
    after the drive) is `shared`. `hidden`: a whole charge inside one interval on the road."""

    first: int
    last: int
    start_moved: bool = False
    start_shared: bool = False
    end_moved: bool = False
    end_shared: bool = False
    hidden: bool = False
    # The run's first reading may already have been charging (the stream starts there, or it
    # only says plugged in right before a drive): its start is that reading.
    starts_at_reading: bool = False
    # Runs joined across pauses: the (first, last) intervals of each, pauses left out.
    parts: list[tuple[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.parts:
            self.parts.append((self.first, self.last))


def _status(reading: Reading, config: DetectorConfig) -> bool | None:
    """Whether the reading says the car charges: isCharging, else power, else not when it
    says it is unplugged; None when it cannot tell."""
    if reading.is_charging is not None:
        return reading.is_charging
    if reading.power_kw is not None:
        return reading.power_kw > config.power_threshold_kw
    if reading.is_plugged_in is False:
        return False
    return None


def reports_charging(reading: Reading) -> bool:
    """Whether the reading has a charging channel of its own (isCharging or power)."""
    return reading.is_charging is not None or reading.power_kw is not None


def _stationary(earlier: Reading, later: Reading, moved: bool) -> bool:
    """Positive evidence that the car stood still: plugged in, or same place or odometer."""
    if moved:
        return False
    if earlier.is_plugged_in or later.is_plugged_in:
        return True
    if earlier.is_plugged_in is False and later.is_plugged_in is False:
        return False  # unplugged: a rising state of charge is recalibration, not charging
    has_positions = None not in (
        earlier.latitude,
        earlier.longitude,
        later.latitude,
        later.longitude,
    )
    return has_positions or (earlier.odometer_km is not None and later.odometer_km is not None)


def analyse(readings: Sequence[Reading], config: DetectorConfig) -> Stream:
    times = [r.timestamp_ms for r in readings]
    status = [_status(r, config) for r in readings]
    raw_power = [
        0.0 if s is False else (None if r.power_kw is None else max(r.power_kw, 0.0))
        for r, s in zip(readings, status, strict=True)
    ]
    power = fill_power(raw_power, times)
    counter = counter_increments(readings)
    apart = consecutive_apart(readings)
    glitch = position_glitches(readings, apart)
    socs = [r.soc_pct for r in readings if r.soc_pct is not None]
    step = soc_step_pct(socs)
    moved: list[bool] = []
    evidence: list[bool] = []
    for i in range(len(readings) - 1):
        a, b = readings[i], readings[i + 1]
        drove = moved_between(
            a,
            b,
            odometer_tolerance_km=config.odometer_tolerance_km,
            positions_moved=apart[i] and not (glitch[i] or glitch[i + 1]),
        )
        moved.append(drove)
        evidence.append(_charged_in(a, b, status[i], status[i + 1], counter[i], drove, config))
    return Stream(readings, times, status, power, trapezoid_halves_kwh(power, times), counter,
                   moved, evidence, glitch, step)  # fmt: skip


def _charged_in(
    a: Reading,
    b: Reading,
    status_a: bool | None,
    status_b: bool | None,
    counter_kwh: float | None,
    moved: bool,
    config: DetectorConfig,
) -> bool:
    if status_a or status_b:
        return True
    if counter_kwh is not None:
        return counter_kwh > COUNTER_NOISE_KWH
    if a.soc_pct is None or b.soc_pct is None:
        return False
    gain = b.soc_pct - a.soc_pct
    if moved or not _stationary(a, b, moved):
        # Driving only spends charge (regeneration wins back a point at most): a gain of
        # several points across a drive is a charge at a stop between the two readings.
        return moved and gain >= config.hidden_charge_min_soc_gain_pct
    if not (reports_charging(a) or reports_charging(b)):
        return gain > 0
    return gain >= config.hidden_charge_min_soc_gain_pct


def charging_across(earlier: Reading, later: Reading, config: DetectorConfig) -> bool:
    """Whether a charge runs across the interval between two consecutive readings."""
    return analyse((earlier, later), config).evidence[0]


def stayed_put(stream: Stream, i: int) -> bool:
    """Whether the readings around an interval show the car stayed where it was: both carry
    an odometer, or both a position, and it did not move (no data proves nothing)."""
    a, b = stream.readings[i], stream.readings[i + 1]
    measured = (a.odometer_km is not None and b.odometer_km is not None) or (
        a.latitude is not None and b.latitude is not None
    )
    return measured and not stream.moved[i]


def soc_only(stream: Stream, run: Run) -> bool:
    """Whether the run is seen by its state of charge alone (no charging status, no counter)."""
    readings = stream.readings[run.first : run.last + 2]
    return not any(reports_charging(r) for r in readings) and all(
        stream.counter[i] is None for i in range(run.first, run.last + 1)
    )


def soc_step_ms(stream: Stream, run: Run) -> int:
    """How long one step of the reported state of charge takes at the run's average rate."""
    earlier, later = stream.readings[run.first], stream.readings[run.last + 1]
    if earlier.soc_pct is None or later.soc_pct is None or later.soc_pct <= earlier.soc_pct:
        return 0
    rate_pct_per_ms = (later.soc_pct - earlier.soc_pct) / (
        later.timestamp_ms - earlier.timestamp_ms
    )
    return round(stream.soc_step_pct / rate_pct_per_ms)


def soc_drive_gain_pct(stream: Stream, i: int, config: DetectorConfig) -> float | None:
    """The charge gained in a drive interval: its state of charge's change plus what the
    distance driven cost at a typical consumption (None when either is unknown). A typical
    figure, not one fitted to this car's other drives: a batch sees fewer drives than a full
    re-detection, and both must come to the same session."""
    drive = soc_and_distance(stream, i)
    if drive is None or config.battery_capacity_kwh is None:
        return None
    gain_pct, km = drive
    return gain_pct + km * TYPICAL_CONSUMPTION_KWH_PER_KM / config.battery_capacity_kwh * 100


def soc_and_distance(stream: Stream, i: int) -> tuple[float, float] | None:
    """(state of charge gained, km driven) over an interval, when both are reported."""
    a, b = stream.readings[i], stream.readings[i + 1]
    if a.soc_pct is None or b.soc_pct is None or a.odometer_km is None or b.odometer_km is None:
        return None
    return b.soc_pct - a.soc_pct, b.odometer_km - a.odometer_km


def drive_costs_pct(stream: Stream, run: Run, config: DetectorConfig) -> float:
    """What the drives in the run's edge intervals spent, to add back to its outer gain."""
    cost = 0.0
    for i in {run.first, run.last}:
        a, b = stream.readings[i], stream.readings[i + 1]
        corrected = soc_drive_gain_pct(stream, i, config) if stream.moved[i] else None
        if corrected is not None and a.soc_pct is not None and b.soc_pct is not None:
            cost += corrected - (b.soc_pct - a.soc_pct)
    return cost
