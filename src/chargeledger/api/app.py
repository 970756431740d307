"""The ASGI application."""

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from chargeledger import __version__
from chargeledger.api import health
from chargeledger.api.context import AppState, system_clock_ms
from chargeledger.api.garbage_collection import freeze_periodically, freeze_what_is_alive
from chargeledger.api.middleware import BodySizeLimitMiddleware
from chargeledger.api.problems import install_problem_handlers
from chargeledger.api.rate_limits import address_key, client_address
from chargeledger.api.request_ids import RequestIdMiddleware
from chargeledger.api.slow_bodies import SlowBodyMiddleware
from chargeledger.auth import endpoints as authentication
from chargeledger.auth.keys import open_key_ring
from chargeledger.auth.service import configure_secret_hashing
from chargeledger.charge_sessions import endpoints as charge_sessions
from chargeledger.charge_sessions import versions_endpoint
from chargeledger.domain import location_matching
from chargeledger.drivers import endpoints as drivers_endpoints
from chargeledger.entities import battery_endpoints
from chargeledger.entities import endpoints as entities
from chargeledger.events import endpoints as events_endpoints
from chargeledger.kit.openapi_links import add_creation_links
from chargeledger.kit.openapi_responses import problems
from chargeledger.kit.path_alias import ApiPrefixAliasMiddleware
from chargeledger.kit.schemas import Problem
from chargeledger.locations import endpoints as locations
from chargeledger.logs import configure_logging
from chargeledger.ocpp import endpoints as ocpp
from chargeledger.ocpp.sweep import close_silent_transactions
from chargeledger.rate_plans import endpoints as rate_plans_endpoints
from chargeledger.readings import endpoints as readings
from chargeledger.readings.schemas import ReadingIn
from chargeledger.readings.service import close_stale_sessions
from chargeledger.settings import Settings
from chargeledger.statements import endpoints as statements_endpoints
from chargeledger.statements import policy_endpoints, runs_endpoints
from chargeledger.statements.runs_worker import StatementRunWorker
from chargeledger.storage.database import Database
from chargeledger.tariffs import endpoints as entity_settings
from chargeledger.webhooks import endpoints as webhooks_endpoints
from chargeledger.webhooks.dispatcher import Dispatcher, DispatcherConfig

logger = logging.getLogger("chargeledger")
READINGS_PATH = re.compile(r"^/v1/entities/[^/]+/readings$")

DESCRIPTION = """\
Electric-vehicle charge sessions, per car or charger: when, where and how much it charged,
split by tariff period. Compatible with re.alto's Charge Sessions API
(`GET /v1/entities/{entityId}/charge-sessions`).

Authenticate with `POST /v1/authentication`, then send `Authorization: Bearer <access_token>`.
Instants are UTC RFC 3339 (`2023-11-07T05:31:56Z`). Errors are RFC 9457 problem details.

Every `/v1/...` path also answers under `/api/v1/...`, as re.alto writes its URLs; `links.next`
keeps the prefix the request used. Every answer carries an `X-Request-Id` (the client's own,
when it sends a token of up to 64 letters, digits, `.`, `_` or `-`), as do the server's logs.
A 503 means the database cannot answer now (down, slow or locked): try again after
`Retry-After` seconds. `GET /healthz` is liveness, `GET /readyz` readiness (the database).
"""


def create_app(settings: Settings | None = None, *, state: AppState | None = None) -> FastAPI:
    """The app; `state` lets tests supply their own database, keys and clock."""
    settings = settings or Settings()
    configure_secret_hashing(
        time_cost=settings.secret_hash_time_cost, memory_kib=settings.secret_hash_memory_kib
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if state is not None:
            app.state.chargeledger = state
            try:
                yield
            finally:
                await state.connections.close()
                await state.meter_writer.close()
            return
        location_matching.preload()
        database = Database(
            settings.database_url,
            pool_size=settings.database_pool_size,
            pool_timeout_s=settings.database_pool_timeout_seconds,
            connect_timeout_s=settings.database_connect_timeout_seconds,
            statement_timeout_s=settings.database_statement_timeout_seconds,
            busy_timeout_s=settings.database_busy_timeout_seconds,
        )
        # Refuses to start without a master key (PostgreSQL) or with an unusable key file.
        keys = await open_key_ring(database, settings, now_ms=system_clock_ms())
        app.state.chargeledger = AppState(settings=settings, database=database, keys=keys)
        sweeper = asyncio.create_task(_sweep_stale_sessions(database, settings))
        dispatcher = None
        if settings.webhook_dispatcher:
            dispatcher = Dispatcher(
                database, DispatcherConfig.from_settings(settings), clock_ms=system_clock_ms
            )
            dispatcher.start()
        run_worker = None
        if settings.statement_runs_worker:
            run_worker = StatementRunWorker(database, clock_ms=system_clock_ms)
            run_worker.start()
        # Listing sessions under load, full collections walking the app's own objects were a
        # p99 of 125 ms against a p50 of 15 ms (33 ms with the freeze; docs/benchmarks.md).
        freeze_what_is_alive()
        refreezer = asyncio.create_task(
            freeze_periodically(
                freeze_period_s=settings.gc_freeze_seconds,
                collect_period_s=settings.gc_full_collection_seconds,
            )
        )
        try:
            yield
        finally:
            for task in (sweeper, refreezer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.chargeledger.connections.close()
            await app.state.chargeledger.meter_writer.close()
            if dispatcher is not None:
                await dispatcher.stop()
            if run_worker is not None:
                await run_worker.stop()
            await database.dispose()

    app = FastAPI(
        title="chargeledger",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        # operationIds are the endpoint functions' names: list_charge_sessions, not a path hash.
        generate_unique_id_function=lambda route: route.name,
    )
    install_problem_handlers(app)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        # A full batch of 10,000 readings is several MiB.
        larger_limits=[(READINGS_PATH, 16 * 1024 * 1024)],
    )
    trusted_proxies = settings.trusted_proxy_networks
    # Outermost of the two: a client trickling its body is cut off by pace, whatever its size.
    app.add_middleware(
        SlowBodyMiddleware,
        grace_s=settings.body_read_grace_seconds,
        min_rate_bytes_per_s=settings.body_min_rate_bytes_per_second,
        max_per_address=settings.max_bodies_in_flight_per_address,
        # The same address the authentication limits count (trusted proxies, IPv6 per /64).
        address_of=lambda scope: address_key(client_address(scope, trusted_proxies)),
    )
    # The last two added are the outermost (keep them last): /api/v1 is rewritten to /v1
    # before anything looks at the path, and the request id is bound (and the access line
    # written, with the path as sent) around everything.
    app.add_middleware(ApiPrefixAliasMiddleware)
    app.add_middleware(RequestIdMiddleware)
    routers = [
        module.router
        # Routes are matched in order: the hot one (listing charge sessions) comes first.
        for module in (
            charge_sessions,
            readings,
            authentication,
            entities,
            entity_settings,
            battery_endpoints,
            locations,
            ocpp,
            versions_endpoint,
            events_endpoints,
            webhooks_endpoints,
            drivers_endpoints,
            rate_plans_endpoints,
            policy_endpoints,
            statements_endpoints,
            runs_endpoints,
            health,
        )
    ]
    for router in routers:
        app.include_router(router)
    # (path pattern, methods) of every route, for the Allow header of 405 answers.
    app.state.route_methods = [
        (route.path_regex, route.methods)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _problem_aware_openapi(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def _problem_aware_openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document, with our 400 problem responses instead of its 422."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        components.pop(unused, None)
    # Models the document names but no route declares through its signature: Problem for
    # every error, ReadingIn for the readings batch (validated one element at a time).
    for model in (Problem, ReadingIn):
        model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(model_schema.pop("$defs", {}))
        components[model.__name__] = model_schema
    unavailable = problems(503)[503]
    for path, path_item in schema.get("paths", {}).items():
        for operation in path_item.values():
            operation.get("responses", {}).pop("422", None)
            # Every route but liveness reads the database, which can be down or slow.
            if path != "/healthz":
                operation.setdefault("responses", {}).setdefault("503", unavailable)
    add_creation_links(schema)
    return schema


async def _sweep_stale_sessions(database: Database, settings: Settings) -> None:
    """Close sessions of vehicles that stopped reporting mid-charge and transactions of
    chargers that went silent, and make the sessions of finished transactions still owed.
    Every process runs this; the work is idempotent and each entity is locked while done."""
    while True:
        await asyncio.sleep(settings.stale_session_sweep_seconds)
        try:
            now_ms = system_clock_ms()
            await close_stale_sessions(database, now_ms=now_ms, config=settings.detector_config)
            await close_silent_transactions(
                database,
                now_ms=now_ms,
                timeout_ms=round(settings.ocpp_transaction_timeout_hours * 3_600_000),
                config=settings.detector_config,
            )
        except Exception:
            logger.exception("the periodic sweep failed; trying again next round")


def create_app_from_environment() -> FastAPI:
    """Factory for the server workers: configuration comes from the environment."""
    settings = Settings()
    # Granian configured the worker's logging already; another ASGI server would not have.
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
