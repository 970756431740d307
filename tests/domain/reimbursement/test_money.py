"""Money (chargeledger.domain.reimbursement.money): prices parsed strictly, amounts rounded once
half up to the currency's minor unit, stored energy turned into exact watt-hour decimals."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chargeledger.domain.reimbursement.money import (
    MINOR_UNITS,
    MoneyError,
    kwh_from_float,
    parse_price,
    plain,
    round_amount,
)


@pytest.mark.parametrize(
    ("amount", "currency", "rounded"),
    [
        ("0.125", "EUR", "0.13"),  # half up, not to even (0.12)
        ("0.135", "EUR", "0.14"),
        ("0.1249999", "EUR", "0.12"),
        ("-0.125", "EUR", "-0.13"),  # a negative adjustment mirrors the positive one
        ("1.0005", "EUR", "1.00"),
        ("12.5", "JPY", "13"),
        ("0.0005", "KWD", "0.001"),
        ("0", "EUR", "0.00"),
    ],
)
def test_amounts_round_half_up_to_the_minor_unit(amount: str, currency: str, rounded: str) -> None:
    assert plain(round_amount(Decimal(amount), currency)) == rounded


def test_an_unknown_currency_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(MoneyError, match=r"unknown currency 'XYZ'.*EUR"):
        round_amount(Decimal(1), "XYZ")


@pytest.mark.parametrize(
    "text",
    [
        "0,2845",
        "abc",
        "",
        "NaN",
        "Infinity",
        "-0.01",
        "1000.01",
        "0.1234567",
        "2.845E-1",
        "1_000",
        "٣",
        ".5",
        "1.",
    ],
)
def test_prices_that_are_not_plain_decimals_in_range_are_refused(text: str) -> None:
    with pytest.raises(MoneyError, match="t1"):
        parse_price(text, field="t1")


def test_a_price_keeps_the_digits_entered() -> None:
    assert plain(parse_price("0.2845", field="t1")) == "0.2845"
    assert plain(parse_price(" 10 ", field="t1")) == "10"
    assert plain(parse_price("0.300000", field="t1")) == "0.3"


@pytest.mark.parametrize(
    ("stored", "kwh"), [(12.345, "12.345"), (0.1 + 0.2, "0.300"), (None, "0.000"), (7.0, "7.000")]
)
def test_stored_energy_becomes_the_decimal_of_its_watt_hours(
    stored: float | None, kwh: str
) -> None:
    assert plain(kwh_from_float(stored)) == kwh


@given(st.integers(min_value=0, max_value=10_000_000))
def test_every_whole_watt_hour_float_comes_back_exactly(watt_hours: int) -> None:
    # Sessions store energy as a float of whole Wh (up to 10,000 kWh): the decimal is exact.
    assert kwh_from_float(watt_hours / 1000) == Decimal(watt_hours) / 1000


@given(
    st.decimals(
        min_value=-(10**9), max_value=10**9, allow_nan=False, allow_infinity=False, places=6
    ),
    st.sampled_from(sorted(MINOR_UNITS)),
)
def test_rounding_moves_an_amount_by_at_most_half_a_minor_unit(
    amount: Decimal, currency: str
) -> None:
    rounded = round_amount(amount, currency)
    unit = Decimal(1).scaleb(-MINOR_UNITS[currency])
    assert abs(rounded - amount) <= unit / 2
    assert round_amount(rounded, currency) == rounded  # rounding twice changes nothing
    assert round_amount(-amount, currency) == -rounded  # symmetric: adjustments cancel exactly
