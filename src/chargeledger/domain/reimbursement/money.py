"""Decimals for money and energy: parsed strictly, rounded once, written as plain text.

Floats never carry money here. A session's energy is stored as a float of whole watt-hours, so
`kwh_from_float` turns it into the exact decimal of those watt-hours.
"""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Final

# ISO 4217 minor units of the currencies a rate plan may use. A currency not listed is refused
# (rather than guessed): add it here with its exponent.
MINOR_UNITS: Final[dict[str, int]] = {
    "EUR": 2,
    "GBP": 2,
    "USD": 2,
    "CHF": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "CZK": 2,
    "HUF": 2,
    "RON": 2,
    "BGN": 2,
    "CAD": 2,
    "AUD": 2,
    "NZD": 2,
    "JPY": 0,
    "ISK": 0,
    "KWD": 3,
    "BHD": 3,
}
# Prices are per kWh, to at most 6 decimals (tables publish 4 or 5); energy to the Wh.
PRICE_DECIMALS: Final = 6
KWH_QUANTUM: Final = Decimal("0.001")
MAX_PRICE: Final = Decimal("1000")
ZERO: Final = Decimal(0)
_PLAIN_DECIMAL: Final = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


class MoneyError(ValueError):
    """A price, amount or currency that cannot be used; the message says why."""


def minor_unit(currency: str) -> Decimal:
    try:
        return Decimal(1).scaleb(-MINOR_UNITS[currency])
    except KeyError:
        raise MoneyError(
            f"unknown currency {currency!r}: use an ISO 4217 code, one of "
            + ", ".join(sorted(MINOR_UNITS))
        ) from None


def round_amount(amount: Decimal, currency: str) -> Decimal:
    """Rounded to the currency's minor unit, half up (away from zero at .5: 0.125 -> 0.13,
    -0.125 -> -0.13), as a finance user rounds by hand."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def parse_price(text: str, *, field: str) -> Decimal:
    """A price per kWh from text: ASCII digits with at most one "." ("0.2845"); "0,2845",
    "2.845E-1", "1_000" and other digits than 0-9 are refused, as a finance user would not
    mean them."""
    if not isinstance(text, str) or _PLAIN_DECIMAL.fullmatch(text.strip()) is None:
        raise MoneyError(
            f"{field}: {text!r} is not a decimal number (digits with . as the decimal mark)"
        )
    try:
        value = Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise MoneyError(f"{field}: {text!r} is not a decimal number") from None
    if value < 0 or value > MAX_PRICE:
        raise MoneyError(f"{field}: {text} is outside 0..{MAX_PRICE} per kWh")
    if value != value.quantize(Decimal(1).scaleb(-PRICE_DECIMALS)):
        raise MoneyError(f"{field}: {text} has more than {PRICE_DECIMALS} decimals")
    return value.quantize(Decimal(1).scaleb(-PRICE_DECIMALS)).normalize() + ZERO


def kwh_from_float(kwh: float | None) -> Decimal:
    """The stored energy (a float of whole Wh) as an exact decimal of kWh; unknown is 0."""
    if kwh is None:
        return ZERO.quantize(KWH_QUANTUM)
    return Decimal(repr(kwh)).quantize(KWH_QUANTUM, rounding=ROUND_HALF_UP)


def plain(value: Decimal) -> str:
    """Decimal text without exponent: 1E+1 -> "10", 0.10 stays "0.10"."""
    return format(value, "f")
