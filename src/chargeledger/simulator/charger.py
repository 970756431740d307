"""A simulated charge point: the `ocpp` package's client over `websockets`, speaking 1.6J or
2.0.1 to a central system the way a wallbox does (boot, status, authorize, a transaction with
meter values every few seconds, stop), so anyone can watch sessions appear."""

import asyncio
import base64
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.v16 import ChargePoint as Client16
from ocpp.v16 import call as call16
from ocpp.v201 import ChargePoint as Client201
from ocpp.v201 import call as call201

logger = logging.getLogger("chargeledger.simulator")


@dataclass
class ChargerSettings:
    url: str  # ws://host:port/ocpp/<tenant id>, with or without /<identity>
    identity: str
    password: str
    ocpp_version: str = "1.6"  # or "2.0.1"
    sessions: int = 1
    meter_interval_s: float = 10.0
    session_s: float = 60.0  # how long each simulated car charges
    pause_s: float = 5.0  # between sessions
    power_kw: float = 11.0
    dc: bool = False  # a DC charger also reports the car's state of charge
    meter_start_wh: int = 1_000_000
    heartbeat: bool = True
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(tz=UTC))


@dataclass
class SimulatedSession:
    transaction_id: str
    start: str
    stop: str
    meter_start_wh: int
    meter_stop_wh: int


def _timestamp(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def endpoint(url: str, identity: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/" + identity) else f"{url}/{identity}"


def _authorization(identity: str, password: str) -> str:
    token = base64.b64encode(f"{identity}:{password}".encode()).decode()
    return f"Basic {token}"


class _Meter:
    """The charger's energy register, advancing with the charging power."""

    def __init__(self, start_wh: int) -> None:
        self.wh = float(start_wh)

    def advance(self, power_kw: float, seconds: float) -> int:
        self.wh += power_kw * 1000 * seconds / 3600
        return round(self.wh)


async def run_charger(settings: ChargerSettings) -> list[SimulatedSession]:
    """Connect, run `settings.sessions` transactions, disconnect; the sessions it ran."""
    subprotocol = "ocpp2.0.1" if settings.ocpp_version == "2.0.1" else "ocpp1.6"
    async with websockets.connect(
        endpoint(settings.url, settings.identity),
        subprotocols=[subprotocol],  # type: ignore[list-item]
        additional_headers={"Authorization": _authorization(settings.identity, settings.password)},
        open_timeout=30,
    ) as connection:
        client_class = Client201 if subprotocol == "ocpp2.0.1" else Client16
        client = client_class(settings.identity, connection)
        listener = asyncio.create_task(client.start())
        try:
            if subprotocol == "ocpp2.0.1":
                return await _run_201(client, settings)
            return await _run_16(client, settings)
        finally:
            listener.cancel()


async def _run_16(client: Any, settings: ChargerSettings) -> list[SimulatedSession]:
    await client.call(
        call16.BootNotification(
            charge_point_vendor="chargeledger", charge_point_model="Simulated wallbox"
        )
    )
    await client.call(
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
    )
    meter = _Meter(settings.meter_start_wh)
    sessions = []
    for number in range(settings.sessions):
        id_tag = f"RFID{number:04d}"
        await client.call(call16.Authorize(id_tag=id_tag))
        start = settings.clock()
        meter_start = round(meter.wh)
        started = await client.call(
            call16.StartTransaction(
                connector_id=1, id_tag=id_tag, meter_start=meter_start, timestamp=_timestamp(start)
            )
        )
        transaction_id = started.transaction_id
        await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
        )
        soc = random.uniform(20, 50)  # noqa: S311 - simulation
        elapsed = 0.0
        while elapsed < settings.session_s:
            step = min(settings.meter_interval_s, settings.session_s - elapsed)
            await asyncio.sleep(step)
            elapsed += step
            now = settings.clock()
            wh = meter.advance(settings.power_kw, step)
            soc = min(100.0, soc + settings.power_kw * step / 3600 / 0.6)
            sampled = [
                {"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"},
                {
                    "value": str(round(settings.power_kw * 1000)),
                    "measurand": "Power.Active.Import",
                    "unit": "W",
                },
            ]
            if settings.dc:
                sampled.append(
                    {"value": f"{soc:.0f}", "measurand": "SoC", "unit": "Percent", "location": "EV"}
                )
            await client.call(
                call16.MeterValues(
                    connector_id=1,
                    transaction_id=transaction_id,
                    meter_value=[{"timestamp": _timestamp(now), "sampled_value": sampled}],
                )
            )
        stop = settings.clock()
        meter_stop = round(meter.wh)
        await client.call(
            call16.StopTransaction(
                meter_stop=meter_stop,
                timestamp=_timestamp(stop),
                transaction_id=transaction_id,
                reason="EVDisconnected",
                id_tag=id_tag,
            )
        )
        await client.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        sessions.append(
            SimulatedSession(
                str(transaction_id), _timestamp(start), _timestamp(stop), meter_start, meter_stop
            )
        )
        if number + 1 < settings.sessions:
            await asyncio.sleep(settings.pause_s)
            if settings.heartbeat:
                await client.call(call16.Heartbeat())
    return sessions


def _energy_value(wh: float, context: str) -> dict[str, Any]:
    return {
        "value": wh,
        "measurand": "Energy.Active.Import.Register",
        "unit_of_measure": {"unit": "Wh"},
        "context": context,
    }


async def _run_201(client: Any, settings: ChargerSettings) -> list[SimulatedSession]:
    await client.call(
        call201.BootNotification(
            charging_station={"model": "Simulated wallbox", "vendor_name": "chargeledger"},
            reason="PowerUp",
        )
    )
    now = _timestamp(settings.clock())
    await client.call(
        call201.StatusNotification(
            timestamp=now, connector_status="Available", evse_id=1, connector_id=1
        )
    )
    meter = _Meter(settings.meter_start_wh)
    sessions = []
    for number in range(settings.sessions):
        token = {"id_token": f"RFID{number:04d}", "type": "ISO14443"}
        await client.call(call201.Authorize(id_token=token))
        transaction_id = f"{settings.identity}-{number:05d}-{random.getrandbits(32):08x}"
        start = settings.clock()
        meter_start = round(meter.wh)
        seq_no = 0
        await client.call(
            call201.TransactionEvent(
                event_type="Started",
                timestamp=_timestamp(start),
                trigger_reason="Authorized",
                seq_no=seq_no,
                transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
                evse={"id": 1, "connector_id": 1},
                id_token=token,
                meter_value=[
                    {
                        "timestamp": _timestamp(start),
                        "sampled_value": [_energy_value(meter_start, "Transaction.Begin")],
                    }
                ],
            )
        )
        elapsed = 0.0
        while elapsed < settings.session_s:
            step = min(settings.meter_interval_s, settings.session_s - elapsed)
            await asyncio.sleep(step)
            elapsed += step
            wh = meter.advance(settings.power_kw, step)
            seq_no += 1
            sample_time = _timestamp(settings.clock())
            await client.call(
                call201.TransactionEvent(
                    event_type="Updated",
                    timestamp=sample_time,
                    trigger_reason="MeterValuePeriodic",
                    seq_no=seq_no,
                    transaction_info={"transaction_id": transaction_id},
                    meter_value=[
                        {
                            "timestamp": sample_time,
                            "sampled_value": [
                                _energy_value(wh, "Sample.Periodic"),
                                {
                                    "value": round(settings.power_kw * 1000),
                                    "measurand": "Power.Active.Import",
                                    "unit_of_measure": {"unit": "W"},
                                    "context": "Sample.Periodic",
                                },
                            ],
                        }
                    ],
                )
            )
        stop = settings.clock()
        meter_stop = round(meter.wh)
        seq_no += 1
        await client.call(
            call201.TransactionEvent(
                event_type="Ended",
                timestamp=_timestamp(stop),
                trigger_reason="EVCommunicationLost",
                seq_no=seq_no,
                transaction_info={
                    "transaction_id": transaction_id,
                    "stopped_reason": "EVDisconnected",
                },
                meter_value=[
                    {
                        "timestamp": _timestamp(stop),
                        "sampled_value": [_energy_value(meter_stop, "Transaction.End")],
                    }
                ],
            )
        )
        sessions.append(
            SimulatedSession(
                transaction_id, _timestamp(start), _timestamp(stop), meter_start, meter_stop
            )
        )
        if number + 1 < settings.sessions:
            await asyncio.sleep(settings.pause_s)
            if settings.heartbeat:
                await client.call(call201.Heartbeat())
    return sessions
