"""The fast path for reading batches: msgspec decodes and checks a whole batch in one pass
of compiled code, some thirty times faster than pydantic. It accepts only batches in which
every reading has exactly the documented shape (no unknown fields, every constraint of
schemas/readings.py met); anything else returns None and takes the pydantic path, which
names each problem by index. So the fast path never accepts what the slow one would refuse.
"""

import math
from typing import Annotated

import msgspec

from chargeledger.domain.instants import InvalidInstantError, parse_instant_ms
from chargeledger.domain.physical_ranges import (
    LATITUDE,
    LONGITUDE,
    POSITION_UNCERTAINTY,
    PhysicalRange,
)


def _within(bounds: PhysicalRange) -> msgspec.Meta:
    return msgspec.Meta(ge=bounds.minimum, le=bounds.maximum)


# msgspec reads JSON strictly: a boolean or a string is never a float here. The quantities
# sent with a unit are checked against their ranges once converted (convert_reading).
_Unit = Annotated[str, msgspec.Meta(max_length=20)]
_Latitude = Annotated[float, _within(LATITUDE)]
_Longitude = Annotated[float, _within(LONGITUDE)]
_Accuracy = Annotated[float, _within(POSITION_UNCERTAINTY)]
_Speed = Annotated[float, msgspec.Meta(ge=0)]


class _Measurement(msgspec.Struct, forbid_unknown_fields=True):
    unit: _Unit
    value: float


class _SpeedMeasurement(msgspec.Struct, forbid_unknown_fields=True):
    unit: _Unit
    value: _Speed  # finite too: checked with the other numbers


class _Counter(msgspec.Struct, forbid_unknown_fields=True):
    t1: float | None = None
    t2: float | None = None
    t3: float | None = None
    t4: float | None = None
    total: float | None = None
    unit: _Unit = "kWh"


class _Location(msgspec.Struct, forbid_unknown_fields=True):
    latitude: _Latitude
    longitude: _Longitude
    accuracy: _Accuracy | None = None


class FastReading(msgspec.Struct, forbid_unknown_fields=True):
    # The field names of ReadingIn, so the same conversion reads either.
    timestamp: str
    stateOfCharge: _Measurement | None = None  # noqa: N815
    range: _Measurement | None = None
    isCharging: bool | None = None  # noqa: N815
    isPluggedIn: bool | None = None  # noqa: N815
    positiveActiveEnergy: _Counter | None = None  # noqa: N815
    positiveActiveInstantaneousPower: _Measurement | None = None  # noqa: N815
    location: _Location | None = None
    odometer: _Measurement | None = None
    speed: _SpeedMeasurement | None = None


_BATCH = msgspec.json.Decoder(list[FastReading])


def _numbers(reading: FastReading) -> list[float | None]:
    values: list[float | None] = []
    for measurement in (
        reading.stateOfCharge,
        reading.range,
        reading.positiveActiveInstantaneousPower,
        reading.odometer,
        reading.speed,
    ):
        if measurement is not None:
            values.append(measurement.value)
    counter = reading.positiveActiveEnergy
    if counter is not None:
        values += [counter.t1, counter.t2, counter.t3, counter.t4, counter.total]
    return values


def _units(reading: FastReading) -> list[str]:
    return [
        part.unit
        for part in (
            reading.stateOfCharge,
            reading.range,
            reading.positiveActiveInstantaneousPower,
            reading.odometer,
            reading.speed,
            reading.positiveActiveEnergy,
        )
        if part is not None
    ]


def decode_well_formed(raw: bytes) -> list[tuple[FastReading, int]] | None:
    """(reading, timestamp in ms) for each reading, or None if any reading is not exactly of
    the documented shape (the slow path then says what is wrong, reading by reading)."""
    try:
        batch = _BATCH.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    decoded = []
    for reading in batch:
        if any(value is not None and not math.isfinite(value) for value in _numbers(reading)):
            return None
        if any("\x00" in unit or not unit.isascii() for unit in _units(reading)):
            return None
        try:
            timestamp_ms = parse_instant_ms(reading.timestamp)
        except InvalidInstantError:
            return None
        decoded.append((reading, timestamp_ms))
    return decoded
