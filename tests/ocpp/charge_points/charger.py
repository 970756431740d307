"""Helpers for the OCPP end-to-end tests: register a charge point through the API, connect
to the live server's /ocpp/<tenant id>/<identity> WebSocket as a charger (the `ocpp`
package's client over `websockets`, as the simulator does) or as raw frames, build meter
values, and wait for the sessions computed after the answer."""

import asyncio
import base64
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import ANY

import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v201 import ChargePoint as Client201
from websockets.asyncio.client import ClientConnection
from websockets.typing import Subprotocol

from tests.support.api import TenantApi

PASSWORD = "ocpp-test-password-0001"
SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
HOME: dict[str, Any] = {
    "label": "Home",
    "address": "Naamsestraat 40, 3000 Leuven",
    "latitude": 50.87405,
    "longitude": 4.70043,
    "radius": 60,
}


def new_identity(prefix: str = "CP") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def charger_path(tenant_id: uuid.UUID | str, identity: str) -> str:
    """Where a charger of this tenant connects (the answer of PUT .../ocpp-credentials)."""
    return f"/ocpp/{tenant_id}/{identity}"


def ws_url(base_url: str, path: str) -> str:
    assert path.startswith("/"), (
        f"{path!r}: connect to a path, /ocpp/<tenant id>/<identity> (ChargePointSetup.path), "
        "not to an identity"
    )
    return base_url.replace("http://", "ws://", 1) + path


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def stamp(instant: datetime) -> str:
    """The charger's own timestamp text, e.g. 2024-06-03T19:30:00Z."""
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def minutes_after(start: datetime, minutes: float) -> datetime:
    return start + timedelta(minutes=minutes)


@dataclass
class ChargePointSetup:
    entity_id: str
    identity: str
    password: str
    location: dict[str, Any] | None
    path: str  # where its charger connects: /ocpp/<tenant id>/<identity>


async def register_charge_point(
    api: TenantApi,
    *,
    identity: str | None = None,
    password: str = PASSWORD,
    location: bool = True,
    calendar: str | None = "BE-day-night",
) -> ChargePointSetup:
    """A ChargePoint entity with an identifier, optionally a Home Location and a tariff
    calendar preset, and OCPP credentials."""
    identity = identity or new_identity()
    entity = await api.create_entity("ChargePoint", name=f"wallbox {identity}", identifier=identity)
    placed = await api.create_location(entity["id"], **HOME) if location else None
    if calendar is not None:
        response = await api.http.put(
            f"/v1/entities/{entity['id']}/tariff-calendar", json={"preset": calendar}
        )
        assert response.status_code == 200, response.text
    response = await api.http.put(
        f"/v1/entities/{entity['id']}/ocpp-credentials", json={"password": password}
    )
    assert response.status_code == 200, response.text
    return ChargePointSetup(entity["id"], identity, password, placed, response.json()["path"])


# --- connections --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def connect_raw(
    base_url: str,
    path: str,
    password: str | None,
    *,
    subprotocols: Sequence[str] | None = ("ocpp1.6",),
    user: str | None = None,
) -> AsyncIterator[ClientConnection]:
    """A plain WebSocket to `path` (/ocpp/<tenant id>/<identity>: ChargePointSetup.path),
    HTTP Basic as `user` (the path's last segment, the identity, unless given) unless
    `password` is None."""
    url = ws_url(base_url, path)
    identity = path.rstrip("/").rsplit("/", 1)[-1]
    headers = {} if password is None else {"Authorization": basic_auth(user or identity, password)}
    async with websockets.connect(
        url,
        subprotocols=None if subprotocols is None else [Subprotocol(s) for s in subprotocols],
        additional_headers=headers,
        open_timeout=15,
        close_timeout=2,
    ) as connection:
        yield connection


@contextlib.asynccontextmanager
async def connect_client(
    base_url: str, setup: ChargePointSetup, version: str
) -> AsyncIterator[Any]:
    """The `ocpp` package's charge point client (1.6 or 2.0.1), its listener running."""
    async with connect_raw(
        base_url, setup.path, setup.password, subprotocols=[SUBPROTOCOL[version]]
    ) as connection:
        assert connection.subprotocol == SUBPROTOCOL[version]
        client_class = Client201 if version == "2.0.1" else Client16
        client = client_class(setup.identity, connection, response_timeout=15)
        listener = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            listener.cancel()
            with contextlib.suppress(BaseException):
                await listener


async def raw_call(
    connection: ClientConnection, unique_id: str, action: str, payload: Any
) -> list[Any]:
    """Send a CALL frame and return the decoded answer frame."""
    return await send_text(connection, json.dumps([2, unique_id, action, payload]))


async def send_text(connection: ClientConnection, text: str) -> list[Any]:
    await connection.send(text)
    answer = await asyncio.wait_for(connection.recv(), timeout=10)
    decoded: list[Any] = json.loads(answer)
    return decoded


# --- meter values -------------------------------------------------------------------------


def energy16(wh: float, *, unit: str = "Wh", context: str | None = None) -> dict[str, Any]:
    value = f"{wh / 1000:.3f}" if unit == "kWh" else str(round(wh))
    sampled: dict[str, Any] = {
        "value": value,
        "measurand": "Energy.Active.Import.Register",
        "unit": unit,
    }
    if context is not None:
        sampled["context"] = context
    return sampled


def power16(kw: float) -> dict[str, Any]:
    return {"value": str(round(kw * 1000)), "measurand": "Power.Active.Import", "unit": "W"}


def soc16(pct: float) -> dict[str, Any]:
    return {"value": f"{pct:g}", "measurand": "SoC", "unit": "Percent", "location": "EV"}


def energy201(wh: float, *, unit: str = "Wh", context: str | None = None) -> dict[str, Any]:
    sampled: dict[str, Any] = {
        "value": round(wh / 1000, 3) if unit == "kWh" else round(wh),
        "measurand": "Energy.Active.Import.Register",
        "unitOfMeasure": {"unit": unit},
    }
    if context is not None:
        sampled["context"] = context
    return sampled


def power201(kw: float) -> dict[str, Any]:
    return {
        "value": round(kw * 1000),
        "measurand": "Power.Active.Import",
        "unitOfMeasure": {"unit": "W"},
    }


def soc201(pct: float) -> dict[str, Any]:
    return {
        "value": pct,
        "measurand": "SoC",
        "unitOfMeasure": {"unit": "Percent"},
        "location": "EV",
    }


def meter_value(instant: datetime, *sampled: dict[str, Any]) -> dict[str, Any]:
    """One MeterValue in the wire's camelCase (for raw frames)."""
    return {"timestamp": stamp(instant), "sampledValue": list(sampled)}


def meter_value_snake(instant: datetime, *sampled: dict[str, Any]) -> dict[str, Any]:
    """One MeterValue as the `ocpp` client's payload classes take it (snake_case keys)."""
    return {"timestamp": stamp(instant), "sampled_value": [_snake(s) for s in sampled]}


def _snake(sampled: dict[str, Any]) -> dict[str, Any]:
    return {("unit_of_measure" if key == "unitOfMeasure" else key): v for key, v in sampled.items()}


# --- sessions and readings ----------------------------------------------------------------


async def list_sessions(
    api: TenantApi, entity_id: str, start: str = "2020-01-01T00:00:00Z"
) -> list[dict[str, Any]]:
    response = await api.list_sessions(entity_id, start=start, pageSize=1000)
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def wait_for_sessions(
    api: TenantApi,
    entity_id: str,
    count: int = 1,
    *,
    timeout_s: float = 5.0,
    until: Any = None,
) -> list[dict[str, Any]]:
    """Poll the sessions until there are `count` (and `until(sessions)` holds, if given), or
    the timeout passes; returns what is listed then."""
    deadline = time.monotonic() + timeout_s
    while True:
        listed = await list_sessions(api, entity_id)
        if len(listed) == count and (until is None or until(listed)):
            return listed
        if time.monotonic() > deadline:
            return listed
        await asyncio.sleep(0.1)


async def settle(api: TenantApi, entity_id: str, seconds: float = 1.5) -> list[dict[str, Any]]:
    """Sessions after waiting long enough for any background computation to have run."""
    await asyncio.sleep(seconds)
    return await list_sessions(api, entity_id)


async def list_readings(api: TenantApi, entity_id: str, start: str) -> list[dict[str, Any]]:
    response = await api.http.get(
        f"/v1/entities/{entity_id}/readings", params={"start": start, "pageSize": 1000}
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def list_ocpp_events(api: TenantApi, entity_id: str) -> list[dict[str, Any]]:
    """The charger's event log, newest first (every page)."""
    events: list[dict[str, Any]] = []
    url: str | None = f"/v1/entities/{entity_id}/ocpp-events?pageSize=1000"
    while url is not None:
        response = await api.http.get(url)
        assert response.status_code == 200, response.text
        body = response.json()
        events += body["data"]
        url = body["links"]["next"]
    return events


def tiers(t1: float, t2: float, t3: float, t4: float, total: float) -> dict[str, Any]:
    return {"t1": t1, "t2": t2, "t3": t3, "t4": t4, "total": total, "unit": "kWh"}


PROBLEM = "application/problem+json"


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    """An RFC 9457 problem of that status (media type and members)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str), body
        assert body[member], body
    return body


# --- the charge every transaction test runs -------------------------------------------------

# Monday 3 June 2024, 21:30 to 22:30 in Brussels (CEST, UTC+2): 19:30Z to 20:30Z. BE-day-night
# meters t1 on working days 07:00-22:00 local and t2 at all other times, so the first half
# hour is day (t1) and the second night (t2).
EVENING = utc(2024, 6, 3, 19, 30)
METER_START_WH = 1_234_567
POWER_KW = 11.0
MINUTES = 60
KWH_MINUTE = 30  # the one meter value sent in kWh instead of Wh (the unit check)


def meter_wh(minute: int, *, start_wh: int = METER_START_WH, power_kw: float = POWER_KW) -> int:
    """The register `minute` minutes into a charge at constant power, whole Wh."""
    return start_wh + round(power_kw * 1000 * minute / 60)


def soc_at(minute: int) -> float:
    """A DC car's state of charge: 20 % at the start, +1 % a minute, 80 % at the end."""
    return 20.0 + minute


def expected_data(
    setup: ChargePointSetup,
    *,
    start: str,
    end: str,
    total: dict[str, Any],
    average_kw: float,
    soc: tuple[float, float] | None,
    method: str = "ocpp",
    id_tag: str | None = "RFID-0001",
) -> dict[str, Any]:
    """The listed session's `data`, as the seed's endpoint shows it. The tests' chargers
    start their transactions with the tag RFID-0001 unless told otherwise."""
    location = setup.location
    return {
        "start": start,
        "end": end,
        "charge": {
            "averagePower": {"unit": "kW", "value": average_kw},
            "start": {"unit": "%", "value": None if soc is None else soc[0]},
            "end": {"unit": "%", "value": None if soc is None else soc[1]},
            "total": total,
        },
        "location": (
            {"address": None, "latitude": None, "longitude": None}
            if location is None
            else {
                "address": location["address"],
                "latitude": location["latitude"],
                "longitude": location["longitude"],
            }
        ),
        "locationMatches": (
            []
            if location is None
            else [{"accuracy": 1.0, "location": {"id": location["id"], "label": "Home"}}]
        ),
        "range": {
            "start": {"unit": "km", "value": None},
            "end": {"unit": "km", "value": None},
        },
        "method": method,
        "energyMethod": "counter",
        # The shape is checked here; its value is the detector's (tests/domain).
        "energyUncertainty": {"unit": "kWh", "value": ANY},
        "idTag": id_tag,
        "meterEvidence": None,
    }
