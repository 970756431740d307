"""Per-channel and overall figures from the per-car results, and the targets they are held to."""

import math
from collections.abc import Sequence
from typing import Any

from bench.accuracy.fleet import CHANNELS
from bench.accuracy.match import CarResult, Outcome
from bench.accuracy.telemetry import format_instant_ms

TARGETS = {
    "missed": 0,
    "spurious": 0,
    "energy_within_allowed_fraction": 0.95,
    "energy_excess_pct_max": 0.5,
    "tier_excess_wh_max": 1.0,  # beyond what the data allows (boundaries inside intervals)
    "home_right_fraction": 0.99,
}
# Registers are whole Wh and the expected share is a float product: allow its noise.
FLOAT_TOLERANCE = 1e-6


def percentile(values: Sequence[float], share: float) -> float | None:
    """Nearest-rank percentile (no interpolation: every figure is one that happened)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def _spread(values: Sequence[float], digits: int = 4) -> dict[str, float | None]:
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "p50": rounded(percentile(values, 0.5)),
        "p95": rounded(percentile(values, 0.95)),
        "max": rounded(max(values, default=None) if values else None),
    }


def _fraction(hits: int, total: int) -> float | None:
    return None if total == 0 else round(hits / total, 4)


def summarize(results: Sequence[CarResult]) -> dict[str, Any]:
    outcomes: list[Outcome] = [outcome for result in results for outcome in result.outcomes]
    found = [outcome for outcome in outcomes if outcome.found]
    measured = [o for o in found if o.energy_error_kwh is not None and o.allowed_kwh is not None]
    excess_pct = [100 * (o.excess_kwh or 0.0) / o.energy_kwh for o in measured]
    error_pct = [100 * abs(o.energy_error_kwh or 0.0) / o.energy_kwh for o in measured]
    within = sum(1 for o in measured if (o.excess_kwh or 0.0) <= FLOAT_TOLERANCE)
    with_uncertainty = [o for o in measured if o.uncertainty_kwh is not None]
    covered = sum(
        1
        for o in with_uncertainty
        if abs(o.energy_error_kwh or 0.0) <= (o.uncertainty_kwh or 0.0) + FLOAT_TOLERANCE
    )
    tiers = [o.tier_error_wh for o in found if o.tier_error_wh is not None]
    tier_excess = [o.tier_excess_wh for o in found if o.tier_excess_wh is not None]
    starts = [o.start_error_intervals for o in found if o.start_error_intervals is not None]
    ends = [o.end_error_intervals for o in found if o.end_error_intervals is not None]
    homes = [o for o in found if o.home_listed is not None]
    return {
        "cars": len(results),
        "true_sessions_ge_1kwh": len(outcomes) + sum(r.not_shown for r in results),
        "true_sessions_under_1kwh": sum(r.small for r in results),
        "shown": len(outcomes),
        "not_shown": sum(r.not_shown for r in results),
        "found": len(found),
        "missed": len(outcomes) - len(found),
        "spurious": sum(len(r.spurious) for r in results),
        "energy": {
            "sessions": len(measured),
            "null_totals": len(found) - len(measured),
            "within_allowed_fraction": _fraction(within, len(measured)),
            "excess_pct_of_truth": _spread(excess_pct),
            "error_pct_of_truth": _spread(error_pct),
            "uncertainty_reported": len(with_uncertainty),
            "uncertainty_covers_fraction": _fraction(covered, len(with_uncertainty)),
        },
        "tiers": {"sessions": len(tiers), **_spread(tiers, 3)},
        "tiers_excess": {"sessions": len(tier_excess), **_spread(tier_excess, 3)},
        "start": {
            "sessions": len(starts),
            "within_1_interval": _fraction(sum(1 for v in starts if v <= 1), len(starts)),
            **_spread(starts, 3),
        },
        "end": {
            "sessions": len(ends),
            "within_1_interval": _fraction(sum(1 for v in ends if v <= 1), len(ends)),
            **_spread(ends, 3),
        },
        "home": {
            "sessions": len(homes),
            "right_fraction": _fraction(
                sum(1 for o in homes if o.home_listed == o.at_home), len(homes)
            ),
            "home_sessions": sum(1 for o in homes if o.at_home),
        },
    }


def summarize_all(results: Sequence[CarResult]) -> dict[str, Any]:
    by_channel: dict[str, dict[str, Any]] = {
        channel: summarize([r for r in results if r.channel == channel]) for channel in CHANNELS
    }
    return {"overall": summarize(results), **by_channel}


def targets_met(overall: dict[str, Any]) -> dict[str, bool]:
    energy, tiers, home = overall["energy"], overall["tiers_excess"], overall["home"]
    return {
        "no_missed": overall["missed"] <= TARGETS["missed"],
        "no_spurious": overall["spurious"] <= TARGETS["spurious"],
        "energy_within_allowed": (energy["within_allowed_fraction"] or 0)
        >= TARGETS["energy_within_allowed_fraction"],
        "energy_excess_max": (energy["excess_pct_of_truth"]["max"] or 0)
        <= TARGETS["energy_excess_pct_max"],
        "tiers_max": (tiers["max"] or 0) <= TARGETS["tier_excess_wh_max"] + FLOAT_TOLERANCE,
        "home_right": (home["right_fraction"] or 0) >= TARGETS["home_right_fraction"],
    }


def examples(results: Sequence[CarResult], limit: int = 12) -> dict[str, list[dict[str, Any]]]:
    """A few concrete failures to start debugging from."""
    missed = [
        {
            "car": o.car,
            "kind": o.kind,
            "start": _iso(o.start_s),
            "end": _iso(o.end_s),
            "energy_kwh": round(o.energy_kwh, 3),
        }
        for r in results
        for o in r.outcomes
        if not o.found
    ]
    spurious = [
        {"car": r.car, "start": _iso(start), "end": _iso(end), "total_kwh": total}
        for r in results
        for start, end, total in r.spurious
    ]
    worst = sorted(
        (o for r in results for o in r.outcomes if o.found and (o.excess_kwh or 0) > 0),
        key=lambda o: (o.excess_kwh or 0) / o.energy_kwh,
        reverse=True,
    )
    worst_energy = [
        {
            "car": o.car,
            "kind": o.kind,
            "start": _iso(o.start_s),
            "energy_kwh": round(o.energy_kwh, 3),
            "error_kwh": round(o.energy_error_kwh or 0, 4),
            "allowed_kwh": round(o.allowed_kwh or 0, 4),
        }
        for o in worst
    ]
    return {
        "missed": missed[:limit],
        "spurious": spurious[:limit],
        "worst_energy": worst_energy[:limit],
    }


def _iso(instant_s: float) -> str:
    return format_instant_ms(round(instant_s * 1000))
