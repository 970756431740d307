"""Running the API under Granian, with its limits set deliberately (README, "Server limits")."""

import os

from chargeledger.cli.keys import prepare_keys_or_exit
from chargeledger.logs import logging_config
from chargeledger.settings import Settings


def serve_api(
    settings: Settings,
    *,
    host: str,
    port: int,
    workers: int,
    # The benchmark serves its own app around ours (bench/app.py), with the same settings.
    app_factory: str = "chargeledger.api.app:create_app_from_environment",
) -> None:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    # Here, once, rather than only in each worker: no key on PostgreSQL is a clear error
    # instead of workers failing to start, and the key file is made before they race for it.
    prepare_keys_or_exit(settings)
    # Workers are separate processes that build the app from the environment.
    os.environ["DATABASE_URL"] = settings.database_url
    Granian(
        app_factory,
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
        # Granian applies this in its own process and in every worker, before the app loads:
        # its lines and ours alike are JSON lines (chargeledger/logs.py).
        log_dictconfig=logging_config(settings.log_format, settings.log_level),
        log_level=LogLevels(settings.log_level),
        # Connections waiting to be accepted, and requests each worker has in hand at once:
        # beyond that, a worker takes no new request until one finishes, so a flood queues in
        # the kernel instead of growing the worker's memory.
        backlog=settings.server_backlog,
        backpressure=settings.server_backpressure,
        http1_settings=HTTP1Settings(
            # A client must send its whole request head within this time (slowloris on the
            # headers); an idle keep-alive connection is closed after it too. Bodies are paced
            # by the app (api/slow_bodies.py).
            header_read_timeout=round(settings.header_read_timeout_seconds * 1000),
            keep_alive=True,
        ),
    ).serve()
