"""Conversions into the units the ledger stores: kWh, kW, km, km/h, %."""

from typing import Final

# (multiply by, divide by): dividing 1235850 Wh by 1000 gives 1235.85 exactly, where
# multiplying by 0.001 gives 1235.8500000000001.
_TO_KWH: Final = {"kWh": (1.0, 1.0), "Wh": (1.0, 1000.0), "MWh": (1000.0, 1.0)}
_TO_KW: Final = {"kW": (1.0, 1.0), "W": (1.0, 1000.0), "MW": (1000.0, 1.0)}
_TO_KM: Final = {"km": (1.0, 1.0), "mi": (1.609344, 1.0), "m": (1.0, 1000.0)}
# A mile is 1.609344 km exactly; m/s times 3600 s/h, divided by 1000 m/km (36 m/s: 129.6).
_TO_KMH: Final = {"km/h": (1.0, 1.0), "mph": (1.609344, 1.0), "m/s": (3600.0, 1000.0)}

ENERGY_UNITS: Final = tuple(_TO_KWH)
POWER_UNITS: Final = tuple(_TO_KW)
DISTANCE_UNITS: Final = tuple(_TO_KM)
SPEED_UNITS: Final = tuple(_TO_KMH)


class UnknownUnitError(ValueError):
    pass


def _convert(
    value: float, unit: str, table: dict[str, tuple[float, float]], quantity: str
) -> float:
    try:
        multiply, divide = table[unit]
    except KeyError:
        accepted = ", ".join(table)
        raise UnknownUnitError(
            f"'{unit}' is not a known {quantity} unit; use one of {accepted}"
        ) from None
    return value * multiply / divide


def to_kwh(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KWH, "energy")


def to_kw(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KW, "power")


def to_km(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KM, "distance")


def to_kmh(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KMH, "speed")
