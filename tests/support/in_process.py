"""The real app in this process, on the suite's database, for tests that reach inside it (its
pool, its hasher) or need several instances cheaply; requests through httpx's ASGI transport,
from any peer address."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chargeledger.api.app import create_app
from chargeledger.api.context import AppState
from chargeledger.settings import Settings
from tests.support.keys import suite_key_environment


@asynccontextmanager
async def app_in_process(
    database_url: str, monkeypatch: pytest.MonkeyPatch, **settings: Any
) -> AsyncIterator[tuple[FastAPI, AppState]]:
    """The app with the suite's key and these settings, started (its lifespan) and stopped."""
    for name, value in suite_key_environment({}).items():
        monkeypatch.setenv(name, value)
    app = create_app(Settings(DATABASE_URL=database_url, **settings))
    async with app.router.lifespan_context(app):
        yield app, app.state.chargeledger


def client_of(app: FastAPI, address: str) -> httpx.AsyncClient:
    """An HTTP client whose requests reach the app from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://chargeledger.test", timeout=60)
