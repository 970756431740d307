"""What an endpoint needs: the app's state, the caller, the clock, a transaction."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any
from uuid import UUID

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.requests import HTTPConnection

from chargeledger.api.rate_limits import AuthenticationLimits
from chargeledger.auth.hashing_gate import HashingGate
from chargeledger.auth.keys import KeyRing
from chargeledger.auth.service import (
    Principal,
    access_token_key_id,
    check_client_active,
    decode_access_token,
    entity_of_principal,
)
from chargeledger.domain.signing_keys import TokenKeys
from chargeledger.errors import UnauthorizedError
from chargeledger.ocpp.charge_points.registry import ConnectionRegistry
from chargeledger.ocpp.meter_writer import MeterValueWriter
from chargeledger.settings import Settings
from chargeledger.storage.database import Database


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class AppState:
    settings: Settings
    database: Database
    keys: KeyRing  # follows the key file: a rotation needs no restart
    clock_ms: Callable[[], int] = system_clock_ms
    # One per process: the chargers' meter values are stored in group commits.
    meter_writer: MeterValueWriter = field(init=False)
    # One per process: the chargers connected to it.
    connections: ConnectionRegistry = field(init=False)
    # One per process: the bound on concurrent argon2id hashes, and the authentication
    # rate limits (counted here, or in Redis when configured).
    secret_hashing: HashingGate = field(init=False)
    authentication_limits: AuthenticationLimits = field(init=False)

    def __post_init__(self) -> None:
        self.meter_writer = MeterValueWriter(self.database)
        self.connections = ConnectionRegistry(
            self.database,
            ping_interval_s=self.settings.ocpp_ping_interval_seconds,
            ping_timeout_s=self.settings.ocpp_ping_timeout_seconds,
            clock_ms=self.clock_ms,
        )
        self.secret_hashing = HashingGate(
            concurrency=self.settings.auth_hash_concurrency,
            max_waiting=self.settings.auth_hash_queue,
            max_wait_s=self.settings.auth_hash_wait_seconds,
        )
        self.authentication_limits = AuthenticationLimits.from_settings(self.settings)


async def app_state(request: Request) -> AppState:
    # async: FastAPI runs plain functions in a thread pool, a hop every request would pay.
    state: AppState = request.app.state.chargeledger
    return state


def app_state_of(connection: HTTPConnection) -> AppState:
    """The same for a WebSocket (or any connection)."""
    state: AppState = connection.app.state.chargeledger
    return state


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AccessToken",
    description="Access Token Authentication: the access_token from POST /v1/authentication",
)


@dataclass
class RequestContext:
    state: AppState
    principal: Principal
    now_ms: int

    @property
    def cursor_keys(self) -> TokenKeys:
        """The keys that sign and verify continuation tokens now."""
        return self.state.keys.continuation_tokens(self.now_ms)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.state.database.read() as connection:
            await check_client_active(connection, principal=self.principal)
            yield connection

    @asynccontextmanager
    async def read_unchecked(self) -> AsyncIterator[AsyncConnection]:
        """A read whose service checks the client itself (in its own query, for speed)."""
        async with self.state.database.read() as connection:
            yield connection

    @asynccontextmanager
    async def read_entity(
        self, entity_id: UUID
    ) -> AsyncIterator[tuple[AsyncConnection, sa.Row[Any]]]:
        """A read of one entity's data: client and entity checked in one round trip."""
        async with self.state.database.read() as connection:
            entity = await entity_of_principal(
                connection, principal=self.principal, entity_id=entity_id
            )
            yield connection, entity

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """Commits when the block ends, before the response is sent: acknowledged is stored."""
        async with self.state.database.write() as connection:
            await check_client_active(connection, principal=self.principal)
            yield connection


async def request_context(
    state: Annotated[AppState, Depends(app_state)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> RequestContext:
    if credentials is None:
        raise UnauthorizedError(
            "an access token is required: send Authorization: Bearer <access_token>, "
            "the token from POST /v1/authentication"
        )
    now_ms = state.clock_ms()
    token = credentials.credentials
    keys = state.keys.access_tokens(now_ms, key_id=access_token_key_id(token))
    principal = decode_access_token(token, keys=keys, now_s=now_ms // 1000)
    return RequestContext(state=state, principal=principal, now_ms=now_ms)


Context = Annotated[RequestContext, Depends(request_context)]
