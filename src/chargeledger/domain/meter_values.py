"""OCPP meter values (1.6 and 2.0.1) as readings, and a transaction as a charge session.

A sampled value names its measurand (Energy.Active.Import.Register when it names none), unit
and multiplier, phase and location. What we keep per instant: the import energy register in
kWh, active import power in kW, and the car's state of charge. Where a charger reports per
phase only, the phases are added up; a total (no phase) wins over per-phase values, and the
outlet (the default location) over the inlet.

A value that cannot be used (not a number, an unknown unit, a state of charge of -1) is
dropped with its reason, and the rest of the call is kept: one bad value must not cost the
energy register next to it. Signed values (OCMF and the like) are kept apart as evidence.
"""

import dataclasses
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chargeledger.domain.instants import InvalidInstantError, parse_charger_instant
from chargeledger.domain.session_detection import Reading

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
STATE_OF_CHARGE = "SoC"

# Divisors, not factors: 1235850 / 1000 is 1235.85, 1235850 * 0.001 is not quite.
_WH_PER_UNIT_OF_ENERGY = {"Wh": 1000.0, "kWh": 1.0}
_W_PER_UNIT_OF_POWER = {"W": 1000.0, "kW": 1.0}
# To-neutral phases, as 1.6 and 2.0.1 name them ("L1" and "L1-N" alike); line-to-line ones
# ("L1-L2") are not added up.
_PHASE_OF = {"L1": "L1", "L2": "L2", "L3": "L3", "L1-N": "L1", "L2-N": "L2", "L3-N": "L3"}


# Beyond these a value is a broken meter or a unit mix-up, never a charge: 1 TWh on a
# register, 100 MW of power. Such a value is dropped (and why is recorded), not stored.
MAX_REGISTER_KWH = 1e9
MAX_POWER_KW = 1e5


@dataclass(frozen=True, slots=True)
class IntegerRange:
    """The integers a charger may send in a field we keep: what the field can mean, within
    what its column holds (PostgreSQL INTEGER or BIGINT; SQLite's integers are 64-bit). JSON
    integers have no bounds, and the `ocpp` package's schemas set none."""

    low: int
    high: int
    unit: str = ""

    def admits(self, value: object) -> bool:
        return (
            isinstance(value, int)
            and not isinstance(value, bool)
            and self.low <= value <= self.high
        )

    def __str__(self) -> str:
        return f"{self.low} to {self.high}" + (f" {self.unit}" if self.unit else "")


# A register in whole Wh, as 1.6 sends meterStart and meterStop: 0 to MAX_REGISTER_KWH.
REGISTER_WH = IntegerRange(0, round(MAX_REGISTER_KWH * 1000), "Wh")
# Connector and EVSE ids count from 0 (0: the charge point as a whole, in 1.6).
CONNECTOR_IDS = IntegerRange(0, 2**31 - 1)
# A 2.0.1 TransactionEvent's seqNo counts up from 0.
SEQ_NOS = IntegerRange(0, 2**63 - 1)
# OCPP 1.6 marks a signed value by its format; its value is then the signed text, no number.
SIGNED_DATA_FORMAT = "SignedData"
_MAX_VALUE_TEXT = 80  # how much of an unusable value is kept to say what it was


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


@dataclass(frozen=True, slots=True)
class DroppedValue:
    """A sampled value (or a whole meter value) that could not be used, and why."""

    measurand: str
    value: str  # as sent, cut short
    reason: str


@dataclass(frozen=True, slots=True)
class SignedMeterValue:
    """A signed meter reading as sent (OCMF or another format), kept as evidence."""

    timestamp_ms: int
    context: str | None  # Transaction.Begin, Transaction.End, Sample.Periodic, ...
    measurand: str
    data: str  # 1.6: the sampled value's text; 2.0.1: signedMeterData
    encoding_method: str | None = None  # 2.0.1 only, e.g. "OCMF"
    signing_method: str | None = None  # 2.0.1 only
    public_key: str | None = None  # 2.0.1 only, as sent (may be empty)


@dataclass(frozen=True, slots=True)
class MeterValuesRead:
    """What a call's meter values give: usable samples, the values dropped, signed values,
    and how many timestamps without a time zone were read as UTC (a tolerated deviation)."""

    samples: list[Sample]
    dropped: list[DroppedValue]
    signed: list[SignedMeterValue]
    zoneless_timestamps: int = 0


def register_kwh(kwh: float | None) -> float | None:
    """A register as stored, if within its physical range; else None. Values are checked as
    they come in, but rows stored before the ranges were must not poison what is computed
    from them (a stored 1.7e308 Wh once failed every sweep)."""
    if kwh is None or not 0 <= kwh <= MAX_REGISTER_KWH:
        return None
    return kwh


def within_ranges(sample: Sample) -> Sample:
    """The sample without the values outside their physical ranges (see `register_kwh`)."""
    power_kw = sample.power_kw
    if power_kw is not None and not -MAX_POWER_KW <= power_kw <= MAX_POWER_KW:
        power_kw = None
    soc_pct = sample.soc_pct
    if soc_pct is not None and not 0 <= soc_pct <= 100:
        soc_pct = None
    energy_kwh = register_kwh(sample.energy_kwh)
    if (energy_kwh, power_kw, soc_pct) == (sample.energy_kwh, sample.power_kw, sample.soc_pct):
        return sample
    return Sample(sample.timestamp_ms, energy_kwh, power_kw, soc_pct)


def value_text(value: Any) -> str:
    """A value as sent, cut short, to say what was dropped or rejected."""
    return _text(value)


def _text(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _MAX_VALUE_TEXT else text[: _MAX_VALUE_TEXT - 1] + "…"


def _number(value: Any) -> float:
    if isinstance(value, bool):  # JSON true is not 1
        raise InvalidMeterValueError(f"sampled value '{_text(value)}' is not a number")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidMeterValueError(f"sampled value '{_text(value)}' is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidMeterValueError(f"sampled value '{_text(value)}' is not a finite number")
    return number


def _unit_and_factor(sampled: Mapping[str, Any], default_unit: str) -> tuple[str, float]:
    """(unit, 10^multiplier): 1.6 puts the unit on the value, 2.0.1 in unitOfMeasure."""
    unit_of_measure = sampled.get("unit_of_measure")
    if isinstance(unit_of_measure, Mapping):
        unit = str(unit_of_measure.get("unit") or default_unit)
        multiplier = unit_of_measure.get("multiplier") or 0
        if not isinstance(multiplier, int) or not -9 <= multiplier <= 9:
            raise InvalidMeterValueError(f"multiplier '{_text(multiplier)}' is not -9 to 9")
        return unit, 10.0**multiplier
    return str(sampled.get("unit") or default_unit), 1.0


def _pick(values: Sequence[tuple[str | None, str, float | None]]) -> float | None:
    """One value from (phase, location, value) triples, a value None where it was dropped:
    the outlet's total, else the sum of its to-neutral phases; the same for any other
    location if the outlet says nothing usable. A sum with a phase dropped is no total: it
    is unknown (None), never a partial sum, which a register would read as a reset."""
    by_location: dict[str, list[tuple[str | None, float | None]]] = defaultdict(list)
    for phase, location, value in values:
        by_location[location].append((phase, value))
    usable = {
        location: entries
        for location, entries in by_location.items()
        if any(value is not None for _, value in entries)
    }
    if not usable:
        return None
    chosen = usable.get("Outlet") or next(iter(usable.values()))
    totals = [value for phase, value in chosen if phase is None and value is not None]
    # (A phase that is not a string is junk from a charger that skipped validation.)
    if totals:
        return totals[-1]
    phases = [
        (_PHASE_OF[phase], value)
        for phase, value in chosen
        if isinstance(phase, str) and phase in _PHASE_OF
    ]
    if phases:
        per_phase = {phase: value for phase, value in phases if value is not None}
        if any(phase not in per_phase for phase, _ in phases):
            return None  # a phase with no usable value: the sum is unknown
        return sum(per_phase.values())
    kept = [value for _, value in chosen if value is not None]
    return kept[-1] if kept else None


def _energy_kwh(sampled: Mapping[str, Any]) -> float:
    unit, factor = _unit_and_factor(sampled, "Wh")
    if unit not in _WH_PER_UNIT_OF_ENERGY:
        raise InvalidMeterValueError(f"energy unit '{_text(unit)}' is not Wh or kWh")
    kwh = _number(sampled.get("value")) * factor / _WH_PER_UNIT_OF_ENERGY[unit]
    if not 0 <= kwh <= MAX_REGISTER_KWH:
        raise InvalidMeterValueError(
            f"energy register {kwh:.6g} kWh is not between 0 and {MAX_REGISTER_KWH:.0e} kWh"
        )
    return kwh


def _power_kw(sampled: Mapping[str, Any]) -> float:
    unit, factor = _unit_and_factor(sampled, "W")
    if unit not in _W_PER_UNIT_OF_POWER:
        raise InvalidMeterValueError(f"power unit '{_text(unit)}' is not W or kW")
    kw = _number(sampled.get("value")) * factor / _W_PER_UNIT_OF_POWER[unit]
    if not -MAX_POWER_KW <= kw <= MAX_POWER_KW:
        raise InvalidMeterValueError(f"power {kw:.6g} kW is beyond {MAX_POWER_KW:.0e} kW")
    return kw


def _soc_pct(sampled: Mapping[str, Any]) -> float:
    pct = _number(sampled.get("value"))
    if not 0 <= pct <= 100:
        raise InvalidMeterValueError(f"state of charge {pct:g} is not 0 to 100 %")
    return pct


_READERS = {ENERGY_REGISTER: _energy_kwh, POWER: _power_kw, STATE_OF_CHARGE: _soc_pct}


def _signed(
    sampled: Mapping[str, Any], timestamp_ms: int, measurand: str
) -> SignedMeterValue | None:
    signed = sampled.get("signed_meter_value")  # 2.0.1
    if isinstance(signed, Mapping):
        return SignedMeterValue(
            timestamp_ms=timestamp_ms,
            context=sampled.get("context"),
            measurand=measurand,
            data=str(signed.get("signed_meter_data") or ""),
            encoding_method=signed.get("encoding_method"),
            signing_method=signed.get("signing_method"),
            public_key=signed.get("public_key") or None,
        )
    if sampled.get("format") == SIGNED_DATA_FORMAT:  # 1.6
        data = str(sampled.get("value") or "")
        wrapped = signed_meter_value_object(data) or {}
        return SignedMeterValue(
            timestamp_ms=timestamp_ms,
            context=sampled.get("context"),
            measurand=measurand,
            data=data,  # as sent; what it holds is read when it is assessed
            encoding_method=_text_or_none(wrapped.get("encodingMethod")),
            signing_method=_text_or_none(wrapped.get("signingMethod")),
            public_key=_text_or_none(wrapped.get("publicKey")),
        )
    return None


def signed_meter_value_object(data: str) -> dict[str, Any] | None:
    """A 1.6 signed value sent as 2.0.1's SignedMeterValueType in JSON text (the Open Charge
    Alliance's note on signed meter values in 1.6 does so): {"signedMeterData": ...,
    "signingMethod": ..., "encodingMethod": ..., "publicKey": ...}; None for other data."""
    if not data.lstrip().startswith("{"):
        return None
    try:
        decoded = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(decoded, dict) or "signedMeterData" not in decoded:
        return None
    return decoded


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def read_meter_value(
    meter_value: Mapping[str, Any], *, zoneless_as_utc: bool = False
) -> MeterValuesRead:
    """One OCPP MeterValue (snake_case keys, as the ocpp package hands them over). A value
    that cannot be used is dropped with its reason; the others are kept."""
    timestamp = meter_value.get("timestamp")
    sampled_values = meter_value.get("sampled_value") or []
    try:
        timestamp_ms, zoneless = parse_charger_instant(
            str(timestamp), zoneless_as_utc=zoneless_as_utc
        )
    except InvalidInstantError as error:
        return MeterValuesRead(
            samples=[],
            dropped=[DroppedValue("timestamp", _text(timestamp), str(error))],
            signed=[],
        )
    # (phase, location, value); value None where the sampled value was dropped.
    values: dict[str, list[tuple[str | None, str, float | None]]] = {name: [] for name in _READERS}
    dropped: list[DroppedValue] = []
    signed: list[SignedMeterValue] = []
    for sampled in sampled_values:
        measurand = str(sampled.get("measurand") or ENERGY_REGISTER)
        signed_value = _signed(sampled, timestamp_ms, measurand)
        if signed_value is not None:
            signed.append(signed_value)
            if sampled.get("format") == SIGNED_DATA_FORMAT:
                continue  # 1.6: the value is the signed text; the plain value comes apart
        reader = _READERS.get(measurand)
        if reader is None:
            continue  # a measurand the ledger does not keep (voltage, current, ...)
        value: float | None
        try:
            value = reader(sampled)
        except InvalidMeterValueError as error:
            dropped.append(DroppedValue(measurand, _text(sampled.get("value")), str(error)))
            value = None
        values[measurand].append(
            (sampled.get("phase"), str(sampled.get("location") or "Outlet"), value)
        )
    sample = Sample(
        timestamp_ms=timestamp_ms,
        energy_kwh=_pick(values[ENERGY_REGISTER]),
        power_kw=_pick(values[POWER]),
        soc_pct=_pick(values[STATE_OF_CHARGE]),
    )
    return MeterValuesRead(
        samples=[sample], dropped=dropped, signed=signed, zoneless_timestamps=int(zoneless)
    )


def read_meter_values(
    meter_values: Iterable[Mapping[str, Any]], *, zoneless_as_utc: bool = False
) -> MeterValuesRead:
    samples: list[Sample] = []
    dropped: list[DroppedValue] = []
    signed: list[SignedMeterValue] = []
    zoneless = 0
    for meter_value in meter_values:
        read = read_meter_value(meter_value, zoneless_as_utc=zoneless_as_utc)
        samples += read.samples
        dropped += read.dropped
        signed += read.signed
        zoneless += read.zoneless_timestamps
    return MeterValuesRead(samples, dropped, signed, zoneless)


def samples_from_meter_values(meter_values: Iterable[Mapping[str, Any]]) -> list[Sample]:
    """The usable samples only (values that cannot be used are left out)."""
    return read_meter_values(meter_values).samples


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
    if meter_stop_kwh >= meter_start_kwh:
        middle = _within_meters(middle, meter_start_kwh, meter_stop_kwh)
    return [first, *middle, *([last] if last is not None else [])]


def _within_meters(readings: list[Reading], start_kwh: float, stop_kwh: float) -> list[Reading]:
    """The samples' register held between the transaction's own start and stop meters, and
    never going back: the charger's meterStart and meterStop are the transaction's energy
    (what it bills), the samples only its shape. (A simulator's last sample of 1801.34 Wh
    before a meterStop of 1800 Wh must not make the session 1.34 Wh larger.)"""
    held: list[Reading] = []
    floor_kwh = start_kwh
    for reading in readings:
        energy = reading.energy_counter_kwh
        if energy is not None:
            energy = min(max(energy, floor_kwh), stop_kwh)
            floor_kwh = energy
            reading = dataclasses.replace(reading, energy_counter_kwh=energy)
        held.append(reading)
    return held
