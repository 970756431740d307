"""Keeping the cyclic garbage collector from pausing the server for long.

A full collection walks every object the collector tracks, while the event loop waits. A
server process holds a great many that live long: at startup its modules, routes and schemas
(hundreds of thousands), and then about 150 per connected charge point (the ASGI stack's
coroutines for its WebSocket, the `ocpp` package's ChargePoint with its bound handlers). With
2,000 chargers connected, full collections took 130 to 235 ms, eleven times in two minutes:
they were the p99 of MeterValues acknowledgements (docs/benchmarks.md).

So every minute what has lived that long is frozen (`gc.freeze`: moved where automatic
collections never look), after a collection of the young generations (cheap: they are
small), and automatic collections walk only what is younger. Every ten minutes everything is
thawed, collected once and frozen again: one long pause per ten minutes instead of several a
minute, and cyclic garbage among frozen objects (a disconnected charger's handlers) is freed
at most ten minutes late.
"""

import asyncio
import gc
import time


def freeze_what_is_alive() -> None:
    """Everything alive now is taken out of automatic collections (at startup: the app)."""
    gc.collect(1)
    gc.freeze()


def collect_everything_and_refreeze() -> None:
    gc.unfreeze()
    gc.collect()
    gc.freeze()


async def freeze_periodically(*, freeze_period_s: float, collect_period_s: float) -> None:
    last_full_collection = time.monotonic()
    while True:
        await asyncio.sleep(freeze_period_s)
        if time.monotonic() - last_full_collection >= collect_period_s:
            collect_everything_and_refreeze()
            last_full_collection = time.monotonic()
        else:
            freeze_what_is_alive()
