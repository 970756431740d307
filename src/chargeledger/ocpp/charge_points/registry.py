"""The chargers connected to this process: one live connection per station (its tenant and
identity: identities are unique per tenant only), and a check that each is still there.

A charger that reconnects while its old socket still looks open (a NAT timed out, a modem
rebooted) is served on the new connection only: the older one is closed, here at once, and
in any other process or machine at its next check (every connection records itself on the
station; a connection that is no longer the station's newest is closed).

Half-open sockets would otherwise stay forever: the ASGI interface gives an application no
WebSocket ping frames (the server answers the charger's own pings by itself), so the check
is an OCPP call every charger must answer, sent only to a connection that has said nothing
for a whole interval: 1.6 GetConfiguration and 2.0.1 GetVariables of the heartbeat interval,
both core, read-only and without side effects. Any answer, even a CALLERROR, proves the
connection alive; none within the timeout closes it.

Remote commands will be sent through this registry: it is where a charger's connection is.
"""

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from starlette.websockets import WebSocket

from chargeledger.ocpp import repository as ocpp_repository
from chargeledger.ocpp.charger_events import record_charger_events
from chargeledger.storage.database import Database

logger = logging.getLogger("chargeledger.ocpp")

# A connection being closed gets this long to end on its own before its task is cancelled.
_CLOSE_GRACE_S = 5.0
_CHECK_CHUNK = 500  # stations per query when asking which connections are still newest
# A station: (tenant id, identity).
StationKey = tuple[UUID, str]


@dataclass(eq=False)
class LiveConnection:
    tenant_id: UUID
    identity: str
    entity_id: UUID
    websocket: WebSocket
    charge_point: Any  # LedgerChargePoint (imported lazily by the server: no cycle)
    connection_id: UUID = field(default_factory=uuid.uuid4)
    task: asyncio.Task[Any] | None = None
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    closing: bool = False

    @property
    def key(self) -> StationKey:
        return (self.tenant_id, self.identity)

    @property
    def label(self) -> str:
        """How logs name it: identities repeat across tenants."""
        return f"{self.tenant_id}/{self.identity}"


class ConnectionRegistry:
    def __init__(
        self,
        database: Database,
        *,
        ping_interval_s: float,
        ping_timeout_s: float,
        clock_ms: Callable[[], int],
    ) -> None:
        self.database = database
        self.ping_interval_s = ping_interval_s
        self.ping_timeout_s = ping_timeout_s
        self.clock_ms = clock_ms
        self._live: dict[StationKey, LiveConnection] = {}
        self._checker: asyncio.Task[None] | None = None
        self._probes: set[asyncio.Task[None]] = set()

    def live(self, tenant_id: UUID, identity: str) -> LiveConnection | None:
        return self._live.get((tenant_id, identity))

    def __len__(self) -> int:
        return len(self._live)

    async def open(self, connection: LiveConnection) -> None:
        """Register a new connection: it becomes the station's only one."""
        connection.task = asyncio.current_task()
        older = self._live.get(connection.key)
        self._live[connection.key] = connection
        async with self.database.write() as db:
            await ocpp_repository.update_station(
                db,
                entity_id=connection.entity_id,
                connection_id=connection.connection_id,
                connected_ms=self.clock_ms(),
            )
        if older is not None:
            await self._close(older, "ConnectionReplaced", "a newer connection of this charger")
        if self.ping_interval_s > 0 and (self._checker is None or self._checker.done()):
            self._checker = asyncio.create_task(self._check_periodically(), name="ocpp-check")

    def closed(self, connection: LiveConnection) -> None:
        """The connection ended (the charger left, or we closed it)."""
        connection.ended.set()
        if self._live.get(connection.key) is connection:
            del self._live[connection.key]

    async def close(self) -> None:
        """Stop checking (the process is stopping)."""
        tasks = [task for task in (self._checker, *self._probes) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._checker = None

    async def _close(self, connection: LiveConnection, kind: str, why: str) -> None:
        if connection.closing:
            return
        connection.closing = True
        if self._live.get(connection.key) is connection:
            del self._live[connection.key]
        logger.info("%s: closing a connection: %s", connection.label, why)
        try:
            await record_charger_events(
                self.database,
                connection.entity_id,
                [(kind, {"connectionId": str(connection.connection_id), "detail": why})],
                now_ms=self.clock_ms(),
            )
        except Exception:  # the event is a courtesy; closing is what matters
            logger.warning("%s: could not record %s", connection.label, kind, exc_info=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(connection.websocket.close(code=1000), timeout=_CLOSE_GRACE_S)
        try:
            await asyncio.wait_for(connection.ended.wait(), timeout=_CLOSE_GRACE_S)
        except TimeoutError:
            # The socket is gone without a word (half-open): stop serving it.
            if connection.task is not None and connection.task is not asyncio.current_task():
                connection.task.cancel()

    # --- checks -----------------------------------------------------------------------------

    async def _check_periodically(self) -> None:
        while self._live:
            await asyncio.sleep(self.ping_interval_s)
            try:
                await self.check()
            except Exception:
                logger.exception("checking the OCPP connections failed; trying again")

    async def check(self) -> None:
        """Close connections superseded elsewhere; ping the silent ones."""
        await self._close_superseded()
        silent_since_ms = self.clock_ms() - round(self.ping_interval_s * 1000)
        for connection in list(self._live.values()):
            if connection.charge_point.last_heard_ms <= silent_since_ms and not connection.closing:
                probe = asyncio.create_task(self._probe(connection))
                self._probes.add(probe)
                probe.add_done_callback(self._probes.discard)

    async def _close_superseded(self) -> None:
        keys = list(self._live)
        newest: dict[StationKey, UUID | None] = {}
        for first in range(0, len(keys), _CHECK_CHUNK):
            async with self.database.read() as db:
                newest.update(
                    await ocpp_repository.connection_ids(
                        db, keys=keys[first : first + _CHECK_CHUNK]
                    )
                )
        for key, connection_id in newest.items():
            connection = self._live.get(key)
            if connection is not None and connection_id not in (None, connection.connection_id):
                await self._close(
                    connection,
                    "ConnectionReplaced",
                    "a newer connection of this charger, on another server process",
                )

    async def _probe(self, connection: LiveConnection) -> None:
        try:
            await asyncio.wait_for(connection.charge_point.probe(), timeout=self.ping_timeout_s)
        except TimeoutError:
            await self._close(
                connection,
                "ConnectionLost",
                f"no answer to a check within {self.ping_timeout_s:g} s",
            )
        except Exception:  # any answer, even an error, shows the charger is there
            logger.debug("%s: the check got an error answer", connection.label, exc_info=True)
