"""Conversions into stored units (chargeledger.domain.units)."""

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.units import (
    DISTANCE_UNITS,
    ENERGY_UNITS,
    POWER_UNITS,
    SPEED_UNITS,
    UnknownUnitError,
    to_km,
    to_kmh,
    to_kw,
    to_kwh,
)

# Conversions multiply by a binary float factor (0.001 is not exact in binary), so results
# are compared to the exact decimal value within a few units in the last place.
EXACT = 1e-15


@pytest.mark.parametrize(
    ("value", "unit", "expected_kwh"),
    [
        (42.5, "kWh", 42.5),
        (0.0, "kWh", 0.0),
        (1500.0, "Wh", 1.5),
        (1.0, "Wh", 0.001),
        (7400.0, "Wh", 7.4),
        (2.0, "MWh", 2000.0),
        (0.0375, "MWh", 37.5),
        (-3.0, "kWh", -3.0),
    ],
)
def test_to_kwh_converts_kwh_wh_and_mwh(value: float, unit: str, expected_kwh: float) -> None:
    assert to_kwh(value, unit) == pytest.approx(expected_kwh, rel=EXACT, abs=0.0)


@pytest.mark.parametrize(
    ("value", "unit", "expected_kw"),
    [
        (11.0, "kW", 11.0),
        (7400.0, "W", 7.4),
        (350.0, "W", 0.35),
        (1.5, "MW", 1500.0),
        (0.35, "MW", 350.0),
    ],
)
def test_to_kw_converts_kw_w_and_mw(value: float, unit: str, expected_kw: float) -> None:
    assert to_kw(value, unit) == pytest.approx(expected_kw, rel=EXACT, abs=0.0)


@pytest.mark.parametrize(
    ("value", "unit", "expected_km"),
    [
        (320.0, "km", 320.0),
        (1.0, "mi", 1.609344),  # the international mile is exactly 1609.344 m
        (100.0, "mi", 160.9344),
        (250.0, "mi", 402.336),
        (1500.0, "m", 1.5),
        (1.0, "m", 0.001),
        (0.0, "mi", 0.0),
    ],
)
def test_to_km_converts_km_miles_and_metres(value: float, unit: str, expected_km: float) -> None:
    assert to_km(value, unit) == pytest.approx(expected_km, rel=EXACT, abs=0.0)


@pytest.mark.parametrize(
    ("value", "unit", "expected_kmh"),
    [
        (88.5, "km/h", 88.5),
        (1.0, "mph", 1.609344),
        (30.0, "mph", 48.28032),
        (70.0, "mph", 112.65408),
        (1.0, "m/s", 3.6),
        (0.1, "m/s", 0.36),  # not 0.36000000000000004, as multiplying by 3.6 gives
        (36.0, "m/s", 129.6),
        (0.0, "mph", 0.0),
    ],
)
def test_to_kmh_converts_kmh_mph_and_metres_per_second(
    value: float, unit: str, expected_kmh: float
) -> None:
    assert to_kmh(value, unit) == pytest.approx(expected_kmh, rel=EXACT, abs=0.0)


def test_metres_per_second_convert_without_float_noise() -> None:
    assert to_kmh(0.1, "m/s") == 0.36
    assert to_kmh(12.5, "m/s") == 45.0


def test_the_accepted_units_are_listed_in_order() -> None:
    assert ENERGY_UNITS == ("kWh", "Wh", "MWh")
    assert POWER_UNITS == ("kW", "W", "MW")
    assert DISTANCE_UNITS == ("km", "mi", "m")
    assert SPEED_UNITS == ("km/h", "mph", "m/s")


@pytest.mark.parametrize(
    ("convert", "unit", "quantity", "accepted"),
    [
        (to_kwh, "kwh", "energy", "kWh, Wh, MWh"),
        (to_kwh, "J", "energy", "kWh, Wh, MWh"),
        (to_kwh, "kW", "energy", "kWh, Wh, MWh"),
        (to_kwh, "", "energy", "kWh, Wh, MWh"),
        (to_kw, "kWh", "power", "kW, W, MW"),
        (to_kw, "hp", "power", "kW, W, MW"),
        (to_kw, " kW", "power", "kW, W, MW"),
        (to_km, "miles", "distance", "km, mi, m"),
        (to_km, "KM", "distance", "km, mi, m"),
        (to_km, "ft", "distance", "km, mi, m"),
        (to_kmh, "kph", "speed", "km/h, mph, m/s"),
        (to_kmh, "km", "speed", "km/h, mph, m/s"),
    ],
)
def test_an_unknown_unit_raises_unknown_unit_error_naming_the_accepted_units(
    convert: Callable[[float, str], float], unit: str, quantity: str, accepted: str
) -> None:
    with pytest.raises(UnknownUnitError) as caught:
        convert(1.0, unit)
    message = str(caught.value)
    assert message.startswith(f"'{unit}' is not a")
    assert f"{quantity} unit" in message
    assert message.endswith(f"use one of {accepted}")


def test_unknown_unit_error_is_a_value_error_and_has_no_key_error_context() -> None:
    with pytest.raises(ValueError, match="use one of") as caught:
        to_km(1.0, "league")
    assert caught.value.__suppress_context__


@given(st.floats(min_value=-1e9, max_value=1e9))
def test_converting_to_the_stored_unit_itself_changes_nothing(value: float) -> None:
    assert to_kwh(value, "kWh") == value
    assert to_kw(value, "kW") == value
    assert to_km(value, "km") == value
    assert to_kmh(value, "km/h") == value


@given(st.floats(min_value=-1e9, max_value=1e9))
def test_the_small_and_large_units_are_a_thousandth_and_a_thousand_times_the_stored_one(
    value: float,
) -> None:
    assert to_kwh(value, "Wh") == pytest.approx(value / 1000, rel=EXACT, abs=1e-300)
    assert to_kw(value, "W") == pytest.approx(value / 1000, rel=EXACT, abs=1e-300)
    assert to_km(value, "m") == pytest.approx(value / 1000, rel=EXACT, abs=1e-300)
    assert to_kwh(value, "MWh") == value * 1000
    assert to_kw(value, "MW") == value * 1000


@given(st.floats(min_value=-1e6, max_value=1e6))
def test_a_mile_is_1_609344_km(value: float) -> None:
    assert to_km(value, "mi") == pytest.approx(value * 1609.344 / 1000, rel=EXACT, abs=1e-300)
