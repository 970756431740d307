"""Running the API under Granian."""

import os

from chargeledger.settings import Settings


def serve_api(settings: Settings, *, host: str, port: int, workers: int) -> None:
    from granian import Granian
    from granian.constants import Interfaces

    # Workers are separate processes that build the app from the environment.
    os.environ["DATABASE_URL"] = settings.database_url
    Granian(
        "chargeledger.api.app:create_app_from_environment",
        factory=True,
        address=host,
        port=port,
        workers=workers,
        interface=Interfaces.ASGI,
    ).serve()
