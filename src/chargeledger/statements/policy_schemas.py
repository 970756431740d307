"""The shapes of /v1/reimbursement-policy: the body with its checks, the answer, and the
domain policy to the answer's dict."""

import functools
import zoneinfo
from decimal import Decimal
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from chargeledger.domain.reimbursement.counting import Policy
from chargeledger.domain.reimbursement.money import MINOR_UNITS, plain
from chargeledger.kit.schemas import Label, Strict

_DEFAULT = Policy()


# Files of the zone directory that are no IANA zone: the machine's own zone, whatever it is,
# and tzdata's placeholder for "not set".
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) - _NOT_ZONES


def _time_zone(name: str) -> str:
    # The installed IANA names only: ZoneInfo alone would also open a relative path under
    # the zone directory.
    if name not in _zones():
        raise ValueError(
            f"{name!r} is not an IANA time zone name; use one such as Europe/Brussels or UTC"
        )
    zoneinfo.ZoneInfo(name)
    return name


def _currency(code: str) -> str:
    if code not in MINOR_UNITS:
        raise ValueError(
            f"unknown currency {code!r}: use an ISO 4217 code, one of "
            + ", ".join(sorted(MINOR_UNITS))
        )
    return code


TimeZone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="The IANA time zone whose local dates statements and validity dates are "
        "in; local midnights bound a period",
        examples=["Europe/Brussels"],
    ),
    AfterValidator(_time_zone),
]
Currency = Annotated[
    str,
    Field(
        min_length=3,
        max_length=3,
        description="ISO 4217: the currency of a statement without a rate plan",
        examples=["EUR"],
    ),
    AfterValidator(_currency),
]
_ACCURACY = (
    "How sure a car's location match must be (0..1) for its session to count as charged at home"
)


class PolicyIn(Strict):
    """The whole policy: a field left out takes its default, not its current value."""

    timeZone: TimeZone = _DEFAULT.time_zone  # noqa: N815
    currency: Currency = _DEFAULT.currency
    homeLocationLabel: Label = Field(  # noqa: N815
        default=_DEFAULT.home_location_label,
        description="The label of the car's location that is home (compared ignoring case)",
    )
    minimumAccuracy: float = Field(  # noqa: N815
        default=float(_DEFAULT.minimum_accuracy),
        ge=0,
        le=1,
        strict=True,
        allow_inf_nan=False,
        description=_ACCURACY,
    )
    countCarAtHome: StrictBool = Field(  # noqa: N815
        default=_DEFAULT.count_car_at_home,
        description="Whether sessions of the driver's car matched to home count",
    )
    countHomeChargePoint: StrictBool = Field(  # noqa: N815
        default=_DEFAULT.count_home_charge_point,
        description="Whether sessions of the driver's home charge point count",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "timeZone": "Europe/Brussels",
                    "currency": "EUR",
                    "homeLocationLabel": "Home",
                    "minimumAccuracy": 0.5,
                    "countCarAtHome": True,
                    "countHomeChargePoint": True,
                }
            ]
        },
    )

    def policy(self) -> Policy:
        return Policy(
            time_zone=self.timeZone,
            currency=self.currency,
            home_location_label=self.homeLocationLabel,
            # The digits as sent (0.7 is 0.7, not the float's binary expansion).
            minimum_accuracy=Decimal(repr(self.minimumAccuracy)),
            count_car_at_home=self.countCarAtHome,
            count_home_charge_point=self.countHomeChargePoint,
        )


class ReimbursementPolicy(BaseModel):
    """What counts for the tenant's statements."""

    timeZone: str = Field(examples=["Europe/Brussels"])  # noqa: N815
    currency: str = Field(examples=["EUR"])
    homeLocationLabel: str = Field(examples=["Home"])  # noqa: N815
    minimumAccuracy: float = Field(ge=0, le=1, description=_ACCURACY)  # noqa: N815
    countCarAtHome: bool  # noqa: N815
    countHomeChargePoint: bool  # noqa: N815


def policy_resource(policy: Policy) -> dict[str, Any]:
    return {
        "timeZone": policy.time_zone,
        "currency": policy.currency,
        "homeLocationLabel": policy.home_location_label,
        # A JSON number with exactly the stored digits.
        "minimumAccuracy": orjson.Fragment(plain(policy.minimum_accuracy)),
        "countCarAtHome": policy.count_car_at_home,
        "countHomeChargePoint": policy.count_home_charge_point,
    }
