"""OCPP meter values (1.6 and 2.0.1) as readings, and a transaction as a charge session.

A sampled value names its measurand (Energy.Active.Import.Register when it names none), unit
and multiplier, phase and location. What we keep per instant: the import energy register in
kWh, active import power in kW, and the car's state of charge. Where a charger reports per
phase only, the phases are added up; a total (no phase) wins over per-phase values, and the
outlet (the default location) over the inlet.
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chargeledger.domain.instants import InvalidInstantError, parse_instant_ms
from chargeledger.domain.session_detection import Reading

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
STATE_OF_CHARGE = "SoC"

# Divisors, not factors: 1235850 / 1000 is 1235.85, 1235850 * 0.001 is not quite.
_WH_PER_UNIT_OF_ENERGY = {"Wh": 1000.0, "kWh": 1.0}
_W_PER_UNIT_OF_POWER = {"W": 1000.0, "kW": 1.0}
_PHASE_TOTALS = ("L1", "L2", "L3")  # to-neutral phases; line-to-line ones are not added up


class InvalidMeterValueError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Sample:
    """What one meter value says about one instant, in the ledger's units."""

    timestamp_ms: int
    energy_kwh: float | None = None
    power_kw: float | None = None
    soc_pct: float | None = None

    def as_reading(self) -> Reading:
        return Reading(
            timestamp_ms=self.timestamp_ms,
            energy_counter_kwh=self.energy_kwh,
            power_kw=self.power_kw,
            soc_pct=self.soc_pct,
        )


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidMeterValueError(f"sampled value '{value}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidMeterValueError(f"sampled value '{value}' is not a finite number")
    return number


def _unit_and_factor(sampled: Mapping[str, Any], default_unit: str) -> tuple[str, float]:
    """(unit, 10^multiplier): 1.6 puts the unit on the value, 2.0.1 in unitOfMeasure."""
    unit_of_measure = sampled.get("unit_of_measure")
    if isinstance(unit_of_measure, Mapping):
        unit = str(unit_of_measure.get("unit") or default_unit)
        multiplier = int(unit_of_measure.get("multiplier") or 0)
        return unit, 10.0**multiplier
    return str(sampled.get("unit") or default_unit), 1.0


def _pick(values: Sequence[tuple[str | None, str, float]]) -> float | None:
    """One value from (phase, location, value) triples: the outlet's total, else the sum of
    its to-neutral phases; the same for any other location if the outlet says nothing."""
    if not values:
        return None
    by_location: dict[str, list[tuple[str | None, float]]] = defaultdict(list)
    for phase, location, value in values:
        by_location[location].append((phase, value))
    chosen = by_location.get("Outlet") or next(iter(by_location.values()))
    totals = [value for phase, value in chosen if phase is None]
    if totals:
        return totals[-1]
    phases = {phase: value for phase, value in chosen if phase in _PHASE_TOTALS}
    if phases:
        return sum(phases.values())
    return chosen[-1][1]


def sample_from_meter_value(meter_value: Mapping[str, Any]) -> Sample:
    """One OCPP MeterValue (snake_case keys, as the ocpp package hands them over)."""
    try:
        timestamp_ms = parse_instant_ms(str(meter_value.get("timestamp")))
    except InvalidInstantError as error:
        raise InvalidMeterValueError(str(error)) from None
    energy: list[tuple[str | None, str, float]] = []
    power: list[tuple[str | None, str, float]] = []
    soc: list[tuple[str | None, str, float]] = []
    for sampled in meter_value.get("sampled_value") or []:
        measurand = sampled.get("measurand") or ENERGY_REGISTER
        phase = sampled.get("phase")
        location = str(sampled.get("location") or "Outlet")
        if measurand == ENERGY_REGISTER:
            unit, factor = _unit_and_factor(sampled, "Wh")
            if unit not in _WH_PER_UNIT_OF_ENERGY:
                raise InvalidMeterValueError(f"energy unit '{unit}' is not Wh or kWh")
            value = _number(sampled.get("value")) * factor / _WH_PER_UNIT_OF_ENERGY[unit]
            energy.append((phase, location, value))
        elif measurand == POWER:
            unit, factor = _unit_and_factor(sampled, "W")
            if unit not in _W_PER_UNIT_OF_POWER:
                raise InvalidMeterValueError(f"power unit '{unit}' is not W or kW")
            value = _number(sampled.get("value")) * factor / _W_PER_UNIT_OF_POWER[unit]
            power.append((phase, location, value))
        elif measurand == STATE_OF_CHARGE:
            soc.append((phase, location, _number(sampled.get("value"))))
    state_of_charge = _pick(soc)
    if state_of_charge is not None and not 0 <= state_of_charge <= 100:
        raise InvalidMeterValueError(f"state of charge {state_of_charge} is not 0 to 100 %")
    return Sample(
        timestamp_ms=timestamp_ms,
        energy_kwh=_pick(energy),
        power_kw=_pick(power),
        soc_pct=state_of_charge,
    )


def samples_from_meter_values(meter_values: Iterable[Mapping[str, Any]]) -> list[Sample]:
    return [sample_from_meter_value(meter_value) for meter_value in meter_values]


def transaction_readings(
    *,
    start_ms: int,
    meter_start_kwh: float,
    samples: Iterable[Sample],
    stop_ms: int,
    meter_stop_kwh: float,
) -> list[Reading]:
    """The transaction as a stream of readings, its start and stop meters at either end, so
    that energy and its profile are measured exactly as for any other session (counter)."""
    by_instant = {
        sample.timestamp_ms: sample
        for sample in samples
        if start_ms <= sample.timestamp_ms <= stop_ms
    }

    def boundary(instant_ms: int, meter_kwh: float) -> Reading:
        # The start and stop meters are the transaction's own; a sample at the same instant
        # still gives its state of charge and power.
        sample = by_instant.pop(instant_ms, None)
        return Reading(
            timestamp_ms=instant_ms,
            energy_counter_kwh=meter_kwh,
            power_kw=None if sample is None else sample.power_kw,
            soc_pct=None if sample is None else sample.soc_pct,
        )

    first = boundary(start_ms, meter_start_kwh)
    last = boundary(stop_ms, meter_stop_kwh) if stop_ms > start_ms else None
    middle = [by_instant[instant].as_reading() for instant in sorted(by_instant)]
    return [first, *middle, *([last] if last is not None else [])]
