"""`chargeledger simulate-charger`: a simulated charge point that speaks OCPP to a server."""

import asyncio
import time
from typing import Annotated

import typer

from chargeledger.cli.common import fail, print_json
from chargeledger.simulator.charger import ChargerSettings, SimulatedSession, run_charger


async def _run_when_reachable(
    settings: ChargerSettings, wait_seconds: float
) -> list[SimulatedSession]:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return await run_charger(settings)
        except OSError:
            if time.monotonic() >= deadline:
                raise
            await asyncio.sleep(1)


def simulate_charger_command(
    identity: Annotated[str, typer.Option(help="The ChargePoint entity's identifier")],
    password: Annotated[str, typer.Option(help="Its OCPP password (PUT .../ocpp-credentials)")],
    url: Annotated[
        str,
        typer.Option(
            help="The tenant's OCPP base URL, ws://<host>:<port>/ocpp/<tenant id> (basePath "
            "of PUT .../ocpp-credentials); the identity is appended to it"
        ),
    ],
    ocpp: Annotated[str, typer.Option("--ocpp", help="1.6 or 2.0.1")] = "1.6",
    sessions: Annotated[int, typer.Option(min=1, help="Transactions to run")] = 1,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between meter values")] = 10.0,
    session_seconds: Annotated[float, typer.Option(min=1, help="Seconds each car charges")] = 60.0,
    pause_seconds: Annotated[float, typer.Option(min=0, help="Seconds between sessions")] = 5.0,
    power_kw: Annotated[float, typer.Option(min=0.1, max=400)] = 11.0,
    dc: Annotated[
        bool, typer.Option(help="Report the car's state of charge, as DC chargers do")
    ] = False,
    wait_seconds: Annotated[
        float, typer.Option(min=0, help="Keep trying to connect this long (server starting)")
    ] = 0.0,
) -> None:
    """Connect as a charge point and run transactions with meter values; prints one JSON line
    per finished run: the transactions it ran."""
    if ocpp not in ("1.6", "2.0.1"):
        raise fail("--ocpp must be 1.6 or 2.0.1")
    settings = ChargerSettings(
        url=url,
        identity=identity,
        password=password,
        ocpp_version=ocpp,
        sessions=sessions,
        meter_interval_s=interval,
        session_s=session_seconds,
        pause_s=pause_seconds,
        power_kw=power_kw,
        dc=dc,
    )
    try:
        ran = asyncio.run(_run_when_reachable(settings, wait_seconds))
    except OSError as error:
        raise fail(f"cannot reach {url}: {error}") from None
    except Exception as error:  # the websockets library's refusals (HTTP 403 at handshake)
        raise fail(f"the server refused or dropped the charge point: {error}") from None
    print_json(
        [
            {
                "transactionId": session.transaction_id,
                "start": session.start,
                "stop": session.stop,
                "energyWh": session.meter_stop_wh - session.meter_start_wh,
            }
            for session in ran
        ]
    )
