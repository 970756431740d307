"""re.alto's normalized Reading, as posted (units converted on the way in) and as listed."""

from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, ValidationError

from chargeledger.domain import physical_ranges
from chargeledger.domain.instants import format_instant
from chargeledger.domain.physical_ranges import PhysicalRange
from chargeledger.domain.session_detection import Reading
from chargeledger.domain.units import UnknownUnitError, to_km, to_kmh, to_kw, to_kwh
from chargeledger.errors import InvalidInputError
from chargeledger.kit.schemas import (
    FiniteFloat,
    InstantMs,
    Latitude,
    Longitude,
    PageOf,
    PositionUncertaintyM,
    Strict,
    UnitText,
)
from chargeledger.readings.schemas_fast import decode_well_formed
from chargeledger.readings.service import IncomingReading

# Clocks drift; a reading slightly ahead of ours is fine, one from the future is not.
FUTURE_TOLERANCE_MS = 5 * 60 * 1000


class MeasurementIn(Strict):
    unit: UnitText
    value: FiniteFloat


class SpeedIn(Strict):
    unit: UnitText = Field(description="km/h, mph or m/s")
    value: FiniteFloat = Field(description=physical_ranges.SPEED.describe())


class TieredCounterIn(Strict):
    """A cumulative energy counter, per register and in total."""

    t1: FiniteFloat | None = None
    t2: FiniteFloat | None = None
    t3: FiniteFloat | None = None
    t4: FiniteFloat | None = None
    total: FiniteFloat | None = None
    unit: UnitText = "kWh"


class ReadingLocationIn(Strict):
    latitude: Latitude
    longitude: Longitude
    accuracy: PositionUncertaintyM | None = None


class ReadingIn(BaseModel):
    """One reading. Any field but `timestamp` may be missing. Fields we do not interpret
    (currents, voltages, ...) are kept as given and returned when the reading is listed."""

    model_config = ConfigDict(extra="allow")

    timestamp: InstantMs = Field(
        description="From 2000-01-01T00:00:00Z to five minutes ahead of the server's clock"
    )
    stateOfCharge: MeasurementIn | None = Field(  # noqa: N815
        default=None, description=f"%, {physical_ranges.STATE_OF_CHARGE.describe()}"
    )
    range: MeasurementIn | None = Field(
        default=None, description=f"km or mi, {physical_ranges.DRIVING_RANGE.describe()}"
    )
    isCharging: StrictBool | None = None  # noqa: N815
    isPluggedIn: StrictBool | None = None  # noqa: N815
    positiveActiveEnergy: TieredCounterIn | None = Field(  # noqa: N815
        default=None,
        description="Cumulative imported energy, kWh, Wh or MWh; each value "
        f"{physical_ranges.ENERGY_COUNTER.describe()}",
    )
    positiveActiveInstantaneousPower: MeasurementIn | None = Field(  # noqa: N815
        default=None, description=f"W, kW or MW, {physical_ranges.CHARGING_POWER.describe()}"
    )
    location: ReadingLocationIn | None = None
    odometer: MeasurementIn | None = Field(
        default=None, description=f"km, mi or m, {physical_ranges.ODOMETER.describe()}"
    )
    speed: SpeedIn | None = Field(
        default=None, description=f"km/h, mph or m/s, {physical_ranges.SPEED.describe()}"
    )


class RejectedReading(BaseModel):
    index: int = Field(description="Position of the reading in the posted array, from 0")
    errors: list[dict[str, str]] = Field(description="Each bad field: {name, detail}")


class ReadingBatchResult(BaseModel):
    stored: int = Field(description="Readings stored now")
    duplicates: int = Field(description="Readings whose instant was already stored")
    rejected: list[RejectedReading]


class ReadingOut(BaseModel):
    """A reading as stored, in the ledger's units; absent fields are left out."""

    model_config = ConfigDict(extra="allow")

    timestamp: str = Field(json_schema_extra={"format": "date-time"})


class ReadingPage(PageOf[ReadingOut]):
    """A page of Readings"""


class LastReading(BaseModel):
    data: ReadingOut


_BATCH = TypeAdapter(list[ReadingIn])


def parse_readings_body(
    raw: bytes, *, now_ms: int, max_readings: int
) -> tuple[list[IncomingReading], list[dict[str, Any]]]:
    """A posted batch: its good readings, and each bad one by its index with what is wrong.
    InvalidInputError when the body as a whole is not a JSON array of at most max_readings."""
    fast = decode_well_formed(raw)
    if fast is not None:
        # Every reading had the exact shape: only the rules beyond shape are left to check.
        if len(fast) > max_readings:
            raise _too_many(len(fast), max_readings)
        accepted: list[IncomingReading] = []
        rejected: list[dict[str, Any]] = []
        for index, (reading, timestamp_ms) in enumerate(fast):
            incoming, errors = convert_reading(
                reading, timestamp_ms=timestamp_ms, extra={}, now_ms=now_ms
            )
            if incoming is None:
                rejected.append({"index": index, "errors": errors})
            else:
                accepted.append(incoming)
        return accepted, rejected
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise InvalidInputError(
            f"the body is not valid JSON ({error})",
            errors=[{"name": "body", "in": "body", "detail": "the body is not valid JSON"}],
        ) from None
    if not isinstance(items, list):
        raise InvalidInputError(
            "the body must be a JSON array of readings",
            errors=[{"name": "body", "in": "body", "detail": "must be an array"}],
        )
    if len(items) > max_readings:
        raise _too_many(len(items), max_readings)
    return parse_readings(items, now_ms=now_ms)


def _too_many(count: int, max_readings: int) -> InvalidInputError:
    return InvalidInputError(
        f"a batch holds at most {max_readings} readings, this one {count}",
        errors=[{"name": "body", "in": "body", "detail": "too many readings"}],
    )


def parse_readings(
    items: list[Any], *, now_ms: int
) -> tuple[list[IncomingReading], list[dict[str, Any]]]:
    """The good readings of a batch, and each bad one by its index with what is wrong."""
    try:
        # Usually every reading is well formed: validate the whole batch in one call.
        parsed: list[ReadingIn | Any] = _BATCH.validate_python(items)
    except ValidationError:
        parsed = items  # then one by one, to report each bad reading by its index
    accepted: list[IncomingReading] = []
    rejected: list[dict[str, Any]] = []
    for index, item in enumerate(parsed):
        incoming, errors = (
            convert_reading(
                item, timestamp_ms=item.timestamp, extra=item.model_extra or {}, now_ms=now_ms
            )
            if isinstance(item, ReadingIn)
            else parse_reading(item, now_ms=now_ms)
        )
        if incoming is None:
            rejected.append({"index": index, "errors": errors})
        else:
            accepted.append(incoming)
    return accepted, rejected


def _error(name: str, detail: str) -> dict[str, str]:
    return {"name": name, "detail": detail}


def parse_reading(item: Any, *, now_ms: int) -> tuple[IncomingReading | None, list[dict[str, str]]]:
    """One posted array element: the reading in stored units, or what is wrong with it."""
    if not isinstance(item, dict):
        return None, [_error("reading", "each reading must be a JSON object")]
    try:
        parsed = ReadingIn.model_validate(item)
    except ValidationError as error:
        return None, [
            _error(
                ".".join(str(part) for part in problem["loc"]) or "reading",
                problem["msg"].removeprefix("Value error, "),
            )
            for problem in error.errors()
        ]
    return convert_reading(
        parsed, timestamp_ms=parsed.timestamp, extra=parsed.model_extra or {}, now_ms=now_ms
    )


def convert_reading(
    parsed: Any, *, timestamp_ms: int, extra: dict[str, Any], now_ms: int
) -> tuple[IncomingReading | None, list[dict[str, str]]]:
    """A reading of a validated shape (a ReadingIn, or the fast path's struct of the same
    field names) in stored units, or the rules it breaks beyond its shape."""
    errors: list[dict[str, str]] = []

    def within(value: float | None, name: str, bounds: PhysicalRange) -> float | None:
        """The value in stored units if inside its physical range; else an error and None."""
        problem = None if value is None else bounds.problem(value)
        if problem is not None:
            errors.append(_error(name, problem))
            return None
        return value

    def converted(
        measurement: MeasurementIn | SpeedIn | None, name: str, convert: Any, bounds: PhysicalRange
    ) -> float | None:
        if measurement is None:
            return None
        try:
            value = float(convert(measurement.value, measurement.unit))
        except UnknownUnitError as error:
            errors.append(_error(f"{name}.unit", str(error)))
            return None
        return within(value, f"{name}.value", bounds)

    if timestamp_ms > now_ms + FUTURE_TOLERANCE_MS:
        errors.append(_error("timestamp", "is in the future"))
    if timestamp_ms < physical_ranges.EARLIEST_EVENT_MS:
        earliest = format_instant(physical_ranges.EARLIEST_EVENT_MS)
        errors.append(_error("timestamp", f"must not be before {earliest}"))
    soc = parsed.stateOfCharge
    if soc is not None and soc.unit != "%":
        errors.append(_error("stateOfCharge.unit", "unit must be %"))
    within(
        None if soc is None else soc.value, "stateOfCharge.value", physical_ranges.STATE_OF_CHARGE
    )
    counter = parsed.positiveActiveEnergy
    tiers: list[float | None] = [None, None, None, None]
    counter_total: float | None = None
    if counter is not None:
        try:
            tiers = [
                None if value is None else to_kwh(value, counter.unit)
                for value in (counter.t1, counter.t2, counter.t3, counter.t4)
            ]
            given_total = counter.total
            if given_total is None and all(value is not None for value in tiers):
                # Rounded: 1.2 + 3.4 + 0.1 kWh must read 4.7, not 4.699999999999999.
                counter_total = round(sum(value for value in tiers if value is not None), 9)
            elif given_total is not None:
                counter_total = to_kwh(given_total, counter.unit)
        except UnknownUnitError as error:
            errors.append(_error("positiveActiveEnergy.unit", str(error)))
        for name, value in zip(("t1", "t2", "t3", "t4"), tiers, strict=True):
            within(value, f"positiveActiveEnergy.{name}", physical_ranges.ENERGY_COUNTER)
        within(counter_total, "positiveActiveEnergy.total", physical_ranges.ENERGY_COUNTER)
    try:
        orjson.dumps(extra)
    except orjson.JSONEncodeError as error:
        errors.append(_error("reading", f"cannot be stored as JSON: {error}"))
    location = parsed.location
    reading = Reading(
        timestamp_ms=timestamp_ms,
        soc_pct=None if soc is None else soc.value,
        range_km=converted(parsed.range, "range", to_km, physical_ranges.DRIVING_RANGE),
        is_charging=parsed.isCharging,
        is_plugged_in=parsed.isPluggedIn,
        energy_counter_kwh=counter_total,
        power_kw=converted(
            parsed.positiveActiveInstantaneousPower,
            "positiveActiveInstantaneousPower",
            to_kw,
            physical_ranges.CHARGING_POWER,
        ),
        latitude=None if location is None else location.latitude,
        longitude=None if location is None else location.longitude,
        position_uncertainty_m=None if location is None else location.accuracy,
        odometer_km=converted(parsed.odometer, "odometer", to_km, physical_ranges.ODOMETER),
        speed_kmh=converted(parsed.speed, "speed", to_kmh, physical_ranges.SPEED),
    )
    if errors:
        return None, errors
    return IncomingReading(reading, (tiers[0], tiers[1], tiers[2], tiers[3]), extra or None), []
