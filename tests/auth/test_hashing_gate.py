"""The bound on concurrent argon2id hashes (auth/hashing_gate.py): how many run, how many
wait, for how long, and what a cancelled request does to the count."""

import asyncio
import threading

import pytest

from chargeledger.auth.hashing_gate import HashingGate
from chargeledger.errors import HashingBusyError


class HeldWork:
    """A stand-in for a hash that runs until the test lets it finish."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.finish = threading.Event()

    def __call__(self, value: str) -> str:
        self.started.set()
        assert self.finish.wait(timeout=60), "the test never let the work finish"
        return value


async def wait_for(condition: threading.Event) -> None:
    assert await asyncio.to_thread(condition.wait, 60)


async def test_runs_the_function_in_a_thread_and_returns_its_result() -> None:
    gate = HashingGate(concurrency=1, max_waiting=1, max_wait_s=30)
    assert await gate.run(str.upper, "argon2") == "ARGON2"


async def test_beyond_the_waiting_limit_is_refused_at_once_with_a_retry_after() -> None:
    gate = HashingGate(concurrency=1, max_waiting=1, max_wait_s=30)
    held = HeldWork()
    running = asyncio.create_task(gate.run(held, "first"))
    await wait_for(held.started)
    waiting = asyncio.create_task(gate.run(str.upper, "second"))
    await asyncio.sleep(0)  # one turn of the loop: the second task runs up to its wait
    assert gate.waiting == 1
    with pytest.raises(HashingBusyError) as refused:
        await gate.run(str.upper, "third")
    assert refused.value.status == 503
    assert refused.value.retry_after_s == 30
    held.finish.set()
    assert await running == "first"
    assert await waiting == "SECOND"


async def test_a_wait_longer_than_the_limit_is_refused() -> None:
    gate = HashingGate(concurrency=1, max_waiting=10, max_wait_s=0.05)
    held = HeldWork()
    running = asyncio.create_task(gate.run(held, "first"))
    await wait_for(held.started)
    # The slot is held until the test releases it: the waiter cannot get it in time.
    with pytest.raises(HashingBusyError) as refused:
        await gate.run(str.upper, "second")
    assert refused.value.retry_after_s == 1
    assert "within 0.05 s" in refused.value.detail
    held.finish.set()
    assert await running == "first"


async def test_a_cancelled_request_keeps_its_slot_until_its_hash_has_finished() -> None:
    """The thread cannot be stopped; if the slot were freed at cancellation, clients that hang
    up could start any number of hashes."""
    gate = HashingGate(concurrency=1, max_waiting=10, max_wait_s=30)
    held = HeldWork()
    running = asyncio.create_task(gate.run(held, "first"))
    await wait_for(held.started)
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    next_one = asyncio.create_task(gate.run(str.upper, "second"))
    await asyncio.sleep(0)
    assert gate.waiting == 1
    assert not next_one.done()  # still waiting: the cancelled hash is still running
    held.finish.set()
    assert await next_one == "SECOND"


async def test_concurrency_many_run_side_by_side() -> None:
    gate = HashingGate(concurrency=2, max_waiting=0, max_wait_s=30)
    first, second = HeldWork(), HeldWork()
    runs = [
        asyncio.create_task(gate.run(first, "a")),
        asyncio.create_task(gate.run(second, "b")),
    ]
    await wait_for(first.started)
    await wait_for(second.started)  # both started: two slots
    with pytest.raises(HashingBusyError):
        await gate.run(str.upper, "c")  # no slot, and no room to wait
    first.finish.set()
    second.finish.set()
    assert await asyncio.gather(*runs) == ["a", "b"]


async def test_a_known_client_is_not_refused_for_a_full_queue_and_goes_first() -> None:
    """A flood from many addresses fills the ordinary queue; a client known at its address
    (auth/hashing_gate.py) still waits, in front of every ordinary waiter."""
    gate = HashingGate(concurrency=1, max_waiting=1, max_wait_s=30)
    held = HeldWork()
    running = asyncio.create_task(gate.run(held, "first"))
    await wait_for(held.started)
    order: list[str] = []

    def record(name: str) -> str:
        order.append(name)
        return name

    ordinary = asyncio.create_task(gate.run(record, "ordinary"))
    await asyncio.sleep(0)
    with pytest.raises(HashingBusyError):
        await gate.run(record, "refused")  # the ordinary queue is full
    known = asyncio.create_task(gate.run(record, "known", known=True))
    await asyncio.sleep(0)
    held.finish.set()
    assert await running == "first"
    assert await known == "known"
    assert await ordinary == "ordinary"
    assert order == ["known", "ordinary"]
