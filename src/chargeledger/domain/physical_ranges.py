"""The physical range of every quantity a client sends, in the ledger's units.

A value outside its range is not a measurement but a mistake (a unit mix-up, a zeroed clock,
a counter read as a float's garbage) or an attack: it is refused at the door, named, with the
range it should have been in. Inside the ledger every computation can then rely on these
bounds, and none has a cost that grows with a value's size. Values that were stored before
these bounds existed are ignored by the detector (`reading_within_ranges`), never trusted.

Each bound is generous: it must never refuse a real vehicle or charger, only nonsense. The
README's "Accepted ranges" table lists them for clients.
"""

import operator
from dataclasses import dataclass, replace
from typing import Any, Final

from chargeledger.domain.telemetry import Reading


@dataclass(frozen=True, slots=True)
class PhysicalRange:
    """A closed interval [minimum, maximum] in `unit`; NaN and infinities are outside."""

    minimum: float
    maximum: float
    unit: str

    def __contains__(self, value: object) -> bool:
        # A JSON true is not the number 1.
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        return self.minimum <= value <= self.maximum

    def describe(self) -> str:
        """'between 0 and 10,000 kWh', as a problem's detail says it."""
        return f"between {_number(self.minimum)} and {_number(self.maximum)} {self.unit}".rstrip()

    def problem(self, value: float) -> str | None:
        """Why the value cannot be accepted, or None when it is inside the range."""
        if value in self:
            return None
        return f"must be {self.describe()}; got {value:.6g} {self.unit}".rstrip()


def _number(value: float) -> str:
    return f"{value:,.10g}"


# ---- energy and power ------------------------------------------------------------------------

# One charge session (its total and each of t1..t4). The largest batteries on the road are
# trucks' at about 1 MWh (Tesla Semi ~900 kWh, eActros 600 ~620 kWh); ten of those is still a
# session, beyond that a value is Wh sent as kWh.
SESSION_ENERGY: Final = PhysicalRange(0.0, 10_000.0, "kWh")
# A cumulative energy counter (a car's lifetime total, a charger's meter register): 1 TWh, the
# bound OCPP meter registers have too (domain/meter_values.py). A 400 kW charger running day
# and night would need 285 years to count that much.
ENERGY_COUNTER: Final = PhysicalRange(0.0, 1e9, "kWh")
# Power into (or, negative, out of) one vehicle or charge point. The Megawatt Charging System
# for trucks tops out at 3.75 MW; 4 MW leaves room and no room for a kW value sent as W x 1000.
CHARGING_POWER: Final = PhysicalRange(-4_000.0, 4_000.0, "kW")
# Entity Settings > Battery Capacity: from less than an e-bike's (0.4 kWh) to twice a truck's.
BATTERY_CAPACITY: Final = PhysicalRange(0.1, 2_000.0, "kWh")

# ---- the vehicle ---------------------------------------------------------------------------

STATE_OF_CHARGE: Final = PhysicalRange(0.0, 100.0, "%")
# The estimated driving range: the longest any EV estimates is about 1,200 km (Mercedes EQXX);
# 10,000 km, a quarter of the way round the Earth, is beyond every battery for a long time.
DRIVING_RANGE: Final = PhysicalRange(0.0, 10_000.0, "km")
# The highest odometers on record (long-haul trucks, a few taxis) are under 5 million km.
ODOMETER: Final = PhysicalRange(0.0, 10_000_000.0, "km")
# The fastest electric cars reach 412 km/h (Rimac Nevera).
SPEED: Final = PhysicalRange(0.0, 500.0, "km/h")

# ---- places --------------------------------------------------------------------------------

LATITUDE: Final = PhysicalRange(-90.0, 90.0, "°")
LONGITUDE: Final = PhysicalRange(-180.0, 180.0, "°")
# A position's reported uncertainty: 0 is exact; 100 km is a position known to the region.
POSITION_UNCERTAINTY: Final = PhysicalRange(0.0, 100_000.0, "m")
# A configured Location's circle: a parking bay to a large site.
LOCATION_RADIUS: Final = PhysicalRange(1.0, 5_000.0, "m")

# ---- time ----------------------------------------------------------------------------------

# Readings and sessions happen after this instant (2000-01-01T00:00:00Z): no vehicle reported
# charge telemetry before, and an instant before is a clock reset to 1970 or seconds sent as
# milliseconds. It also bounds how long any interval between two readings can be.
EARLIEST_EVENT_MS: Final = 946_684_800_000
# A tariff calendar version may start this far ahead at most (2100-01-01T00:00:00Z); later is
# a typo for a year. Its earliest is the epoch, which is how "since always" is stored.
LATEST_CALENDAR_START_MS: Final = 4_102_444_800_000
# Longer than this is a stuck or bogus record, not a charge: it would sit in every frame it
# starts in and distort averages. (A car left plugged in at an airport for two weeks fits.)
# The tariff split's cost grows with a session's length, and this bounds it too.
MAX_SESSION_DURATION_MS: Final = 31 * 24 * 3600 * 1000


# The reading fields the detector computes with, and the range each must be in.
_READING_RANGES: Final = (
    ("soc_pct", STATE_OF_CHARGE),
    ("range_km", DRIVING_RANGE),
    ("energy_counter_kwh", ENERGY_COUNTER),
    ("power_kw", CHARGING_POWER),
    ("latitude", LATITUDE),
    ("longitude", LONGITUDE),
    ("position_uncertainty_m", POSITION_UNCERTAINTY),
    ("odometer_km", ODOMETER),
    ("speed_kmh", SPEED),
)
# Every reading the detector looks at passes here: one attrgetter call and plain comparisons.
_reading_values: Final = operator.attrgetter(*(name for name, _ in _READING_RANGES))
_READING_BOUNDS: Final = tuple(
    (name, bounds.minimum, bounds.maximum) for name, bounds in _READING_RANGES
)


def reading_within_ranges(reading: Reading) -> Reading:
    """The reading with every value outside its range left out (None), as if not reported.

    The API refuses such values; this is for those stored before it did (a power of
    1.7e308 W once made every later reading of its entity fail). A position is kept or left
    out whole: a latitude without its longitude is no position.
    """
    bad = [
        name
        for value, (name, minimum, maximum) in zip(
            _reading_values(reading), _READING_BOUNDS, strict=True
        )
        # `not <=` is also true for NaN, which PostgreSQL can hold.
        if value is not None and not minimum <= value <= maximum
    ]
    if not bad:
        return reading
    changes: dict[str, Any] = dict.fromkeys(bad)
    if {"latitude", "longitude"} & set(bad):
        changes.update(latitude=None, longitude=None, position_uncertainty_m=None)
    return replace(reading, **changes)
