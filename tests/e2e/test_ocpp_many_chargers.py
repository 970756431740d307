"""Two hundred simulated charge points connected at once, half on OCPP 1.6J and half on
2.0.1, each running a transaction with meter values: exactly two hundred sessions, each with
the energy its charger metered."""

import asyncio
import time
from typing import Any

from chargeledger.domain.instants import parse_instant_ms
from chargeledger.simulator.charger import ChargerSettings, SimulatedSession, run_charger
from tests.support.api import TenantApi

CHARGERS = 200
PASSWORD = "many-chargers-password-0001"


async def _register(api: TenantApi, index: int) -> tuple[str, str]:
    identity = f"FLEET-{api.tenant_id.hex[:8]}-{index:03d}"
    entity = await api.create_entity("ChargePoint", name=identity, identifier=identity)
    response = await api.http.put(
        f"/v1/entities/{entity['id']}/ocpp-credentials", json={"password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return identity, entity["id"]


async def _sessions_of(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    response = await api.http.get(
        f"/v1/entities/{entity_id}/charge-sessions", params={"start": "2020-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    records: list[dict[str, Any]] = response.json()["data"]
    return records


async def test_two_hundred_chargers_at_once_make_exactly_two_hundred_sessions(
    api: TenantApi, live_server: str
) -> None:
    chargers = [await _register(api, index) for index in range(CHARGERS)]
    # The tenant's base URL, as its chargers are configured: each appends its identity.
    ws_url = live_server.replace("http://", "ws://") + f"/ocpp/{api.tenant_id}"
    runs = [
        run_charger(
            ChargerSettings(
                url=ws_url,
                identity=identity,
                password=PASSWORD,
                ocpp_version="1.6" if index % 2 else "2.0.1",
                sessions=1,
                meter_interval_s=1.0,
                session_s=3.0,
                power_kw=120.0,  # 3 s at 120 kW = 100 Wh, well above the 50 Wh noise floor
                meter_start_wh=10_000 * index,
            )
        )
        for index, (identity, _) in enumerate(chargers)
    ]
    ran: list[list[SimulatedSession]] = await asyncio.gather(*runs)
    assert all(len(sessions) == 1 for sessions in ran)

    deadline = time.monotonic() + 60
    while True:
        listed = [await _sessions_of(api, entity_id) for _, entity_id in chargers]
        if all(len(records) == 1 for records in listed) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    assert sum(len(records) for records in listed) == CHARGERS
    for sessions, records in zip(ran, listed, strict=True):
        (simulated,) = sessions
        (record,) = records
        data = record["data"]
        # Compared as instants: "...:28.000Z" is listed as "...:28Z".
        assert (parse_instant_ms(data["start"]), parse_instant_ms(data["end"])) == (
            parse_instant_ms(simulated.start),
            parse_instant_ms(simulated.stop),
        )
        expected_kwh = (simulated.meter_stop_wh - simulated.meter_start_wh) / 1000
        assert data["charge"]["total"]["total"] == expected_kwh
        assert data["method"] == "ocpp"
        assert data["energyMethod"] == "counter"
