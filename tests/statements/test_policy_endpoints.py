"""/v1/reimbursement-policy: the defaults until set, a round trip of every field, a PUT that
replaces the whole policy, per tenant; bad input is a problem naming the field; load_policy
answers the domain's Policy."""

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.domain.reimbursement.counting import Policy
from chargeledger.statements.policy_repository import load_policy, store_policy
from chargeledger.storage.database import Database
from tests.support.api import TenantApi
from tests.support.problems import assert_problem

URL = "/v1/reimbursement-policy"
DEFAULTS = {
    "timeZone": "Europe/Brussels",
    "currency": "EUR",
    "homeLocationLabel": "Home",
    "minimumAccuracy": 0.5,
    "countCarAtHome": True,
    "countHomeChargePoint": True,
}
CHANGED = {
    "timeZone": "Europe/Amsterdam",
    "currency": "EUR",
    "homeLocationLabel": "Thuis",
    "minimumAccuracy": 0.7,
    "countCarAtHome": False,
    "countHomeChargePoint": True,
}


async def test_a_tenant_without_a_policy_has_the_domains_defaults(api: TenantApi) -> None:
    response = await api.http.get(URL)
    assert response.status_code == 200, response.text
    assert response.json() == DEFAULTS
    default = Policy()
    assert response.json() == {
        "timeZone": default.time_zone,
        "currency": default.currency,
        "homeLocationLabel": default.home_location_label,
        "minimumAccuracy": float(default.minimum_accuracy),
        "countCarAtHome": default.count_car_at_home,
        "countHomeChargePoint": default.count_home_charge_point,
    }


async def test_put_round_trips_and_is_the_tenants_own(api: TenantApi, other_api: TenantApi) -> None:
    put = await api.http.put(URL, json=CHANGED)
    assert put.status_code == 200, put.text
    assert put.json() == CHANGED
    assert (await api.http.get(URL)).json() == CHANGED
    assert (await other_api.http.get(URL)).json() == DEFAULTS
    again = {**CHANGED, "minimumAccuracy": 1, "countHomeChargePoint": False}
    assert (await api.http.put(URL, json=again)).json() == {**again, "minimumAccuracy": 1}
    assert (await api.http.get(URL)).json() == again


async def test_the_currency_round_trips(api: TenantApi) -> None:
    body = {**CHANGED, "currency": "GBP"}
    assert (await api.http.put(URL, json=body)).json() == body
    assert (await api.http.get(URL)).json() == body


async def test_a_field_left_out_takes_its_default_not_its_current_value(api: TenantApi) -> None:
    await api.http.put(URL, json=CHANGED)
    partial = await api.http.put(URL, json={"homeLocationLabel": "Casa"})
    assert partial.status_code == 200, partial.text
    assert partial.json() == {**DEFAULTS, "homeLocationLabel": "Casa"}
    assert (await api.http.put(URL, json={})).json() == DEFAULTS
    assert (await api.http.get(URL)).json() == DEFAULTS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"timeZone": "Europe/Leuven"}, "timeZone"),
        ({"timeZone": "localtime"}, "timeZone"),
        ({"timeZone": "Factory"}, "timeZone"),
        ({"timeZone": "../etc/passwd"}, "timeZone"),
        ({"timeZone": ""}, "timeZone"),
        ({"timeZone": 1}, "timeZone"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": "eur"}, "currency"),
        ({"minimumAccuracy": 1.01}, "minimumAccuracy"),
        ({"minimumAccuracy": -0.1}, "minimumAccuracy"),
        ({"minimumAccuracy": "0.5"}, "minimumAccuracy"),
        ({"minimumAccuracy": True}, "minimumAccuracy"),
        ({"homeLocationLabel": ""}, "homeLocationLabel"),
        ({"homeLocationLabel": "H" * 201}, "homeLocationLabel"),
        ({"countCarAtHome": "yes"}, "countCarAtHome"),
        ({"countHomeChargePoint": None}, "countHomeChargePoint"),
        ({"weekendsOnly": True}, "weekendsOnly"),
    ],
)
async def test_bad_policies_are_problems_naming_the_field(
    api: TenantApi, body: dict[str, Any], field: str
) -> None:
    assert_problem(await api.http.put(URL, json=body), 400, names=[field])
    assert (await api.http.get(URL)).json() == DEFAULTS


async def test_an_unknown_time_zone_is_explained(api: TenantApi) -> None:
    body = assert_problem(await api.http.put(URL, json={"timeZone": "Mars/Olympus"}), 400)
    assert "IANA" in body["detail"]


async def test_load_policy_answers_the_stored_policy_with_exact_decimals(
    api: TenantApi, database: Database
) -> None:
    async with database.read() as connection:
        assert await load_policy(connection, api.tenant_id) == Policy()
    await api.http.put(URL, json={**CHANGED, "minimumAccuracy": 0.35})
    async with database.read() as connection:
        loaded = await load_policy(connection, api.tenant_id)
    assert loaded == Policy(
        time_zone="Europe/Amsterdam",
        currency="EUR",
        home_location_label="Thuis",
        minimum_accuracy=Decimal("0.35"),
        count_car_at_home=False,
        count_home_charge_point=True,
    )


async def test_store_policy_replaces_the_row(connection: AsyncConnection, api: TenantApi) -> None:
    first = Policy(time_zone="UTC", minimum_accuracy=Decimal("0.9"))
    await store_policy(connection, api.tenant_id, first, now_ms=1)
    assert await load_policy(connection, api.tenant_id) == first
    second = Policy(home_location_label="Maison", count_car_at_home=False)
    await store_policy(connection, api.tenant_id, second, now_ms=2)
    assert await load_policy(connection, api.tenant_id) == second


async def test_the_policy_needs_the_bearer_token(anonymous: Any) -> None:
    assert_problem(anonymous.get(URL), 401)
    assert_problem(anonymous.put(URL, json={}), 401)
