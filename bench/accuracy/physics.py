"""Charging physics: how much power flows into the battery, and its exact integral.

Power is piecewise constant over short steps (10 s at most); within a step it is the power the
curve gives at the step's starting state of charge. The truth is the exact integral of that
piecewise-constant function, so every channel derived from it (counter, power, SoC) measures
the same energy. There are no losses: the battery gains exactly what flows in.

Curves follow published behaviour of current EVs:
- AC: the on-board charger (or the wallbox, whichever is lower) limits power, constant until
  about 90-95 % SoC, then the battery management tapers it while balancing cells.
- DC: ramps to its peak in the first percent of SoC, holds it to a knee around 50-60 %, then
  tapers steeply (about a third of peak at 80 %, a few percent near 100 %); the station's own
  limit caps it.
- Solar following: the wallbox follows the PV surplus and pauses below 1.4 kW (6 A on one
  phase, the IEC 61851 minimum current).
"""

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

STEP_S = 10.0
# IEC 61851: 6 A is the lowest current a wallbox may offer; 6 A x 230 V on one phase.
MIN_AC_POWER_KW = 1.38


@dataclass(frozen=True, slots=True)
class PowerStep:
    """Constant power into the battery over [start_s, end_s) (Unix seconds)."""

    start_s: float
    end_s: float
    power_kw: float

    @property
    def energy_kwh(self) -> float:
        return self.power_kw * (self.end_s - self.start_s) / 3600.0


def ac_power_kw(soc: float, limit_kw: float, taper_from_soc: float) -> float:
    """AC charging power: the limit until the taper, then down to a quarter of it at 100 %."""
    if soc < taper_from_soc:
        return limit_kw
    share = min(1.0, (soc - taper_from_soc) / (1.0 - taper_from_soc))
    return limit_kw * (1.0 - 0.75 * share)


def dc_power_kw(soc: float, peak_kw: float, knee_soc: float, station_kw: float) -> float:
    """DC charging power from a piecewise-linear curve, capped by the station."""
    points = ((0.0, 0.6), (0.08, 1.0), (knee_soc, 1.0), (0.8, 0.33), (1.0, 0.05))
    share = points[-1][1]
    for (soc_a, share_a), (soc_b, share_b) in itertools.pairwise(points):
        if soc_a <= soc <= soc_b:
            share = share_a + (share_b - share_a) * (soc - soc_a) / (soc_b - soc_a)
            break
    return min(station_kw, peak_kw * share)


def clear_sky_pv_kw(local_hour: float, peak_kw: float, day_of_year: int) -> float:
    """A south-facing array at 51 N: a sine between sunrise and sunset, lower and shorter in
    winter. Rough, but it has the shape that matters: a smooth daytime hump."""
    # Day length at 51 N swings between about 8 h (December) and 16.5 h (June).
    season = math.cos(2 * math.pi * (day_of_year - 172) / 365.0)
    half_day_h = (12.25 + 4.25 * season) / 2
    noon_h = 13.5  # solar noon in Belgium, local time, roughly
    offset = (local_hour - noon_h) / half_day_h
    if abs(offset) >= 1:
        return 0.0
    elevation_share = 0.55 + 0.45 * season  # winter sun is low
    return float(peak_kw * elevation_share * math.cos(offset * math.pi / 2) ** 1.5)


PowerAt = Callable[[float, float], float]  # (instant_s, soc) -> kW into the battery


def integrate_charge(
    start_s: float,
    end_s: float,
    soc: float,
    capacity_kwh: float,
    target_soc: float,
    power_at: PowerAt,
    step_s: float = STEP_S,
) -> tuple[list[PowerStep], float]:
    """Charge from start to end (or until the target): the power steps, and the SoC after.
    Steps of equal power that touch are merged, so constant AC charging is a few steps."""
    steps: list[PowerStep] = []
    instant = start_s
    while instant < end_s and soc < target_soc:
        duration_s = min(step_s, end_s - instant)
        power_kw = power_at(instant, soc)
        if power_kw > 0:
            # The last step stops exactly where the target is reached.
            to_target_s = (target_soc - soc) * capacity_kwh * 3600.0 / power_kw
            duration_s = min(duration_s, to_target_s)
            soc += power_kw * duration_s / 3600.0 / capacity_kwh
            if steps and steps[-1].end_s == instant and steps[-1].power_kw == power_kw:
                steps[-1] = PowerStep(steps[-1].start_s, instant + duration_s, power_kw)
            else:
                steps.append(PowerStep(instant, instant + duration_s, power_kw))
            if duration_s == to_target_s:
                break  # not forced to the target: the SoC stays the exact integral
        instant += duration_s
    return steps, soc
