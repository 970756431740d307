"""Conversions into the units the ledger stores: kWh, kW, km, %."""

from typing import Final

_TO_KWH: Final = {"kWh": 1.0, "Wh": 0.001, "MWh": 1000.0}
_TO_KW: Final = {"kW": 1.0, "W": 0.001, "MW": 1000.0}
_TO_KM: Final = {"km": 1.0, "mi": 1.609344, "m": 0.001}

ENERGY_UNITS: Final = tuple(_TO_KWH)
POWER_UNITS: Final = tuple(_TO_KW)
DISTANCE_UNITS: Final = tuple(_TO_KM)


class UnknownUnitError(ValueError):
    pass


def _convert(value: float, unit: str, table: dict[str, float], quantity: str) -> float:
    try:
        return value * table[unit]
    except KeyError:
        accepted = ", ".join(table)
        raise UnknownUnitError(
            f"'{unit}' is not a known {quantity} unit; use one of {accepted}"
        ) from None


def to_kwh(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KWH, "energy")


def to_kw(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KW, "power")


def to_km(value: float, unit: str) -> float:
    return _convert(value, unit, _TO_KM, "distance")
