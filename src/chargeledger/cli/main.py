"""`chargeledger`: serve the API, manage tenants and clients, import sessions, redetect
sessions, run the demo."""

from typing import Annotated
from uuid import UUID

import typer

from chargeledger.api.context import system_clock_ms
from chargeledger.auth import service as auth
from chargeledger.cli import demo as demo_command
from chargeledger.cli import importer, redetection, simulate
from chargeledger.cli.common import (
    DatabaseOption,
    fail,
    migrate_or_exit,
    print_json,
    run_in_transaction,
    settings_for,
)
from chargeledger.cli.keys import key_source_or_exit, keys_app
from chargeledger.cli.serving import serve_api
from chargeledger.cli.statements import statements_app
from chargeledger.logs import configure_logging

app = typer.Typer(
    help="chargeledger: EV charge sessions behind a re.alto-compatible API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="Tenants: isolated customer environments.", no_args_is_help=True)
client_app = typer.Typer(
    help="API clients of a tenant (clientId/clientSecret).", no_args_is_help=True
)
app.add_typer(tenant_app, name="tenant")
app.add_typer(client_app, name="client")
app.add_typer(keys_app, name="keys")
app.add_typer(statements_app, name="statements")


def _now_ms() -> int:
    return system_clock_ms()


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Bring the database schema up to date."""
    migrate_or_exit(settings_for(database_url))
    typer.echo("database is up to date", err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="CHARGELEDGER_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="CHARGELEDGER_PORT")] = 8000,
    workers: Annotated[int, typer.Option(envvar="CHARGELEDGER_WORKERS", min=1)] = 1,
    database_url: DatabaseOption = None,
) -> None:
    """Migrate the database, then serve the API (Granian, one process per worker)."""
    settings = settings_for(database_url)
    configure_logging(settings.log_format, settings.log_level)
    key_source_or_exit(settings)  # before anything is done: no key on PostgreSQL, no start
    migrate_or_exit(settings)
    serve_api(settings, host=host, port=port, workers=workers)


@tenant_app.command("create")
def tenant_create(name: str, database_url: DatabaseOption = None) -> None:
    """Create a tenant and its first API client; prints {"tenantId","clientId","clientSecret"}."""
    if not name.strip():
        raise fail("the tenant name must not be empty")
    credentials = run_in_transaction(
        settings_for(database_url),
        lambda connection: auth.create_tenant(connection, name=name.strip(), now_ms=_now_ms()),
    )
    print_json(
        {
            "tenantId": str(credentials.tenant_id),
            "clientId": str(credentials.client_id),
            "clientSecret": credentials.client_secret,
        }
    )


@client_app.command("create")
def client_create(
    tenant: Annotated[UUID, typer.Option("--tenant", help="The tenant's id")],
    database_url: DatabaseOption = None,
) -> None:
    """Create another API client for a tenant; prints its credentials as JSON."""
    credentials = run_in_transaction(
        settings_for(database_url),
        lambda connection: auth.create_client(connection, tenant_id=tenant, now_ms=_now_ms()),
    )
    print_json(
        {
            "tenantId": str(credentials.tenant_id),
            "clientId": str(credentials.client_id),
            "clientSecret": credentials.client_secret,
        }
    )


@client_app.command("revoke")
def client_revoke(client_id: UUID, database_url: DatabaseOption = None) -> None:
    """Revoke an API client: its secret and every token it holds stop working at once."""
    run_in_transaction(
        settings_for(database_url),
        lambda connection: auth.revoke_client(connection, client_id=client_id, now_ms=_now_ms()),
    )
    typer.echo(f"client {client_id} revoked", err=True)


app.command("import")(importer.import_command)
app.command("redetect")(redetection.redetect_command)
app.command("simulate-charger")(simulate.simulate_charger_command)
app.command("demo")(demo_command.demo_command)
