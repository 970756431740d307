"""The server's garbage-collection policy (api/garbage_collection.py): what lived through a
period leaves automatic collections, and the periodic full collection still frees cyclic
garbage among frozen objects, so freezing never leaks for longer than a period."""

import asyncio
import contextlib
import gc
import weakref
from collections.abc import Iterator

import pytest

from chargeledger.api.garbage_collection import (
    collect_everything_and_refreeze,
    freeze_periodically,
    freeze_what_is_alive,
)


class Node:
    """A reference cycle: refcounting alone never frees it, only the cyclic collector."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def _thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # leave the test process as it was


def _in_automatic_collections(obj: object) -> bool:
    return any(tracked is obj for tracked in gc.get_objects())


def test_what_is_alive_leaves_automatic_collections() -> None:
    node = Node()
    assert _in_automatic_collections(node)
    freeze_what_is_alive()
    assert not _in_automatic_collections(node)


def test_the_full_collection_frees_garbage_that_was_frozen() -> None:
    node = Node()
    alive = weakref.ref(node)
    freeze_what_is_alive()
    del node
    gc.collect()
    assert alive() is not None  # frozen: automatic (and explicit) collections skip it
    collect_everything_and_refreeze()
    assert alive() is None


async def test_the_periodic_task_freezes_and_collects_everything_in_turn() -> None:
    node = Node()
    alive = weakref.ref(node)
    task = asyncio.create_task(freeze_periodically(freeze_period_s=0.01, collect_period_s=0.2))
    try:
        for _ in range(100):  # first frozen, by a freeze period
            await asyncio.sleep(0.01)
            if not _in_automatic_collections(node):
                break
        assert not _in_automatic_collections(node)
        del node
        for _ in range(500):  # then freed, by a full collection
            await asyncio.sleep(0.01)
            if alive() is None:
                break
        assert alive() is None
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
