"""Waking this process's dispatcher when a transaction queued deliveries, so it need not wait
for its next poll. Other processes learn of them by PostgreSQL's NOTIFY (events/recording)."""

import asyncio

_waiting: set[asyncio.Event] = set()


def deliveries_queued() -> None:
    for event in _waiting:
        event.set()


def register(event: asyncio.Event) -> None:
    _waiting.add(event)


def unregister(event: asyncio.Event) -> None:
    _waiting.discard(event)
