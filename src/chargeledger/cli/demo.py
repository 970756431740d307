"""`chargeledger demo`: a demo tenant with realistic sessions, served on SQLite."""

import asyncio
import atexit
import shlex
import subprocess
import sys
from typing import Annotated

import typer

from chargeledger.api.context import system_clock_ms
from chargeledger.cli.common import fail, migrate_or_exit, settings_for
from chargeledger.cli.serving import serve_api
from chargeledger.domain.ocpp_identity import tenant_base_path
from chargeledger.errors import ChargeLedgerError
from chargeledger.storage.database import Database

DEMO_DATABASE_URL = "sqlite:///chargeledger-demo.db"


def demo_command(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    days: Annotated[int, typer.Option(min=60, max=730, help="Days of history")] = 90,
    database_url: Annotated[
        str, typer.Option("--database-url", help="Where the demo lives (its own file by default)")
    ] = DEMO_DATABASE_URL,
    serve: Annotated[bool, typer.Option(help="Serve the API after building the demo")] = True,
) -> None:
    """Build a demo tenant (two EVs, one charge point, Home and Office), then serve it.

    Running it again is harmless: the demo's sessions are idempotent, and each run prints a
    fresh API client for the demo tenant.
    """
    # Imported here: the simulation pulls in the whole service, which other commands skip.
    from chargeledger.demo.fleet import SIMULATED_CHARGER_PASSWORD, DemoFleet, build_demo_fleet

    settings = settings_for(database_url)
    migrate_or_exit(settings)

    async def build() -> DemoFleet:
        database = Database(settings.database_url)
        try:
            return await build_demo_fleet(
                database,
                now_ms=system_clock_ms(),
                days=days,
                detector_config=settings.detector_config,
            )
        finally:
            await database.dispose()

    try:
        fleet = asyncio.run(build())
    except ChargeLedgerError as error:
        raise fail(error.detail) from None
    base = f"http://{host}:{port}"
    ev = fleet.entities["ev1"]
    credentials = shlex.quote(
        f'{{"clientId":"{fleet.client_id}","clientSecret":"{fleet.client_secret}"}}'
    )
    devices = "\n".join(f"  {e.name}: {e.id}" for e in fleet.entities.values())
    typer.echo(
        f"""
Demo tenant "{fleet.tenant_name}" ({fleet.tenant_id}): the devices' readings of
{fleet.session_count} plug-ins over {days} days, posted through the readings pipeline, which
detected the charge sessions and split them with the Belgian day/night calendar.
{devices}

  clientId:     {fleet.client_id}
  clientSecret: {fleet.client_secret}

List the first EV's sessions of the last 30 days:

  TOKEN=$(curl -s -X POST {base}/v1/authentication -H 'Content-Type: application/json' \\
    -d {credentials} \\
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  curl -s -H "Authorization: Bearer $TOKEN" \\
    "{base}/v1/entities/{ev.id}/charge-sessions?start={fleet.last_30_days_start}&pageSize=5"

API docs: {base}/docs
"""
    )
    paid = fleet.reimbursement
    if paid is not None and paid.statement_id is not None:
        typer.echo(
            f"""Reimbursement: {", ".join(paid.drivers)} drive the cars, on "Employee contract"
(day/night) capped by "CREG maximum Flanders". Statement {paid.statement_number}, An Peeters's
home charging of {paid.period.start:%B %Y}, is finalised: EUR {paid.total_amount}.

  curl -s -H "Authorization: Bearer $TOKEN" "{base}/v1/statements"
  curl -s -H "Authorization: Bearer $TOKEN" -o statement.pdf \\
    "{base}/v1/statements/{paid.statement_id}/export?format=pdf"
"""
        )
    charger = fleet.simulated_charger
    if serve and charger is not None:
        typer.echo(
            f"""A simulated charge point ({charger.identifier}) connects over OCPP 1.6 and charges
every few minutes; watch its sessions appear:

  curl -s -H "Authorization: Bearer $TOKEN" \\
    "{base}/v1/entities/{charger.id}/charge-sessions?start={fleet.last_30_days_start}"
"""
        )
        simulator = subprocess.Popen(  # noqa: S603 - our own command
            [
                sys.executable,
                "-m",
                "chargeledger",
                "simulate-charger",
                "--identity",
                charger.identifier,
                "--password",
                SIMULATED_CHARGER_PASSWORD,
                "--url",
                f"ws://{host}:{port}{tenant_base_path(fleet.tenant_id)}",
                "--sessions",
                "10000",
                "--interval",
                "10",
                "--session-seconds",
                "120",
                "--pause-seconds",
                "60",
                "--power-kw",
                "22",
                "--wait-seconds",
                "60",
            ],
            stdout=subprocess.DEVNULL,
        )
        atexit.register(simulator.terminate)
    if serve:
        serve_api(settings, host=host, port=port, workers=1)
