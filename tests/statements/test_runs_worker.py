"""The statement-run worker (statements/runs_worker.py) in this process, on a database of this
module's own (a worker claims any tenant's runs): draft and finalising runs over the fleet of
test_runs_fleet (totals by hand there), a run again finalising nothing twice, a driver with a
problem listed while the others are finalised, a run taken over after its worker's lease ran
out (two workers, a clock of the test's), and the worker woken by a new run."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest
import sqlalchemy as sa

from chargeledger.api.context import system_clock_ms
from chargeledger.statements import runs_service
from chargeledger.statements.periods import Period
from chargeledger.statements.runs_worker import (
    LeaseLostError,
    StatementRunWorker,
    WorkerConfig,
)
from chargeledger.storage.database import Database
from chargeledger.storage.tables import events, statement_runs, statements
from tests.statements.test_runs_fleet import (
    EXPECTED_RUN_TOTAL,
    EXPECTED_TOTALS,
    OCTOBER,
    Fleet,
    add_driver,
    build_fleet,
)
from tests.support.databases import migrated_database

PERIOD = Period(*OCTOBER)


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(tmp_path_factory.mktemp("runs"), name_hint="runs") as database:
        yield database


@pytest.fixture
async def fleet(database: Database) -> Fleet:
    # No run of an earlier test is left for this test's workers to claim.
    async with database.write() as connection:
        await connection.execute(sa.delete(statement_runs))
    return await build_fleet(database)


class Clock:
    """The test's clock: it moves only when told."""

    def __init__(self) -> None:
        self.now_ms = system_clock_ms()

    def __call__(self) -> int:
        return self.now_ms


async def create_run(database: Database, fleet: Fleet, *, finalise: bool) -> UUID:
    async with database.write() as connection:
        row = await runs_service.create_run(
            connection,
            tenant_id=fleet.tenant_id,
            period=PERIOD,
            finalise=finalise,
            now_ms=system_clock_ms(),
        )
    run_id: UUID = row.id
    return run_id


async def run_row(database: Database, fleet: Fleet, run_id: UUID) -> Any:
    async with database.read() as connection:
        return await runs_service.get_run(connection, tenant_id=fleet.tenant_id, run_id=run_id)


async def finalised(database: Database, fleet: Fleet) -> dict[UUID, tuple[str, str]]:
    """The tenant's statements: driver -> (number, total)."""
    async with database.read() as connection:
        rows = await connection.execute(
            sa.select(statements.c.driver_id, statements.c.number, statements.c.total_amount)
            .where(statements.c.tenant_id == fleet.tenant_id)
            .order_by(statements.c.number)
        )
        return {row.driver_id: (row.number, row.total_amount) for row in rows}


def by_number(fleet: Fleet, found: dict[UUID, tuple[str, str]]) -> dict[str, Decimal]:
    names = {driver_id: number for number, driver_id in fleet.drivers.items()}
    return {names[driver_id]: Decimal(total) for driver_id, (_, total) in found.items()}


def worker(database: Database, clock: Callable[[], int], **config: Any) -> StatementRunWorker:
    return StatementRunWorker(database, WorkerConfig(**config), clock_ms=clock)


async def test_a_draft_run_totals_every_driver_and_finalises_nothing(
    database: Database, fleet: Fleet
) -> None:
    run_id = await create_run(database, fleet, finalise=False)
    pending = await run_row(database, fleet, run_id)
    assert (pending.status, pending.driver_count, pending.drivers_done) == ("pending", 3, 0)

    assert await worker(database, Clock()).run_once()

    run = await run_row(database, fleet, run_id)
    assert run.status == "succeeded"
    assert (run.driver_count, run.drivers_done) == (3, 3)
    assert Decimal(run.total_amount) == EXPECTED_RUN_TOTAL  # 5.55 + 7.00 + 0.00
    assert orjson.loads(run.problems_json) == []
    assert run.finished_ms is not None
    assert run.lease_until_ms is None
    assert await finalised(database, fleet) == {}
    # Nothing left to claim.
    assert not await worker(database, Clock()).run_once()


async def test_a_finalising_run_finalises_each_driver_and_again_nothing_twice(
    database: Database, fleet: Fleet
) -> None:
    first = await create_run(database, fleet, finalise=True)
    assert await worker(database, Clock()).run_once()

    run = await run_row(database, fleet, first)
    assert (run.status, run.drivers_done, Decimal(run.total_amount)) == (
        "succeeded",
        3,
        EXPECTED_RUN_TOTAL,
    )
    stored = await finalised(database, fleet)
    assert by_number(fleet, stored) == EXPECTED_TOTALS
    assert sorted(number for number, _ in stored.values()) == [
        "2026-000001",
        "2026-000002",
        "2026-000003",
    ]

    again = await create_run(database, fleet, finalise=True)
    assert await worker(database, Clock()).run_once()

    run = await run_row(database, fleet, again)
    assert (run.status, run.drivers_done, Decimal(run.total_amount)) == (
        "succeeded",
        3,
        EXPECTED_RUN_TOTAL,
    )
    assert await finalised(database, fleet) == stored  # the same statements, no new number
    async with database.read() as connection:
        finalised_events = await connection.scalar(
            sa.select(sa.func.count())
            .select_from(events)
            .where(events.c.tenant_id == fleet.tenant_id, events.c.type == "statement.finalised")
        )
    assert finalised_events == 3


async def test_a_driver_with_a_missing_rate_is_listed_and_the_others_are_finalised(
    database: Database, fleet: Fleet
) -> None:
    async with database.write() as connection:
        # A car at Home in October, and no rate plan: the session has no price.
        without_plan = await add_driver(
            connection,
            fleet,
            "E-D",
            sessions=[("2026-10-09T18:00:00Z", "2026-10-09T20:00:00Z", 8.0, 0.0, True)],
        )
    run_id = await create_run(database, fleet, finalise=True)
    assert await worker(database, Clock()).run_once()

    run = await run_row(database, fleet, run_id)
    assert run.status == "succeeded"
    assert (run.driver_count, run.drivers_done) == (4, 4)
    assert Decimal(run.total_amount) == EXPECTED_RUN_TOTAL  # E-D left out
    (problem,) = orjson.loads(run.problems_json)
    assert problem["driverId"] == str(without_plan)
    assert "no rate plan for 2026-10-09" in problem["problem"]
    stored = await finalised(database, fleet)
    assert without_plan not in stored
    assert by_number(fleet, stored) == EXPECTED_TOTALS


async def test_a_run_whose_lease_ran_out_is_resumed_by_another_worker(
    database: Database, fleet: Fleet
) -> None:
    """Worker A finalises the first page (2 of 3 drivers) and stops answering; B cannot take
    the run while A's lease lasts, takes it once it ran out, and finishes it: the drivers A
    finalised count as done, nothing is finalised twice. A, coming back, writes nothing."""
    clock = Clock()
    lease_ms = 60_000
    first = worker(database, clock, lease_ms=lease_ms, page_size=2)
    second = worker(database, clock, lease_ms=lease_ms, page_size=2)
    run_id = await create_run(database, fleet, finalise=True)

    claimed = await first.claim()
    assert claimed is not None
    assert claimed.id == run_id
    assert await first.walk_page(claimed)  # more to come
    halfway = await run_row(database, fleet, run_id)
    assert (halfway.status, halfway.drivers_done) == ("running", 2)
    assert len(await finalised(database, fleet)) == 2

    clock.now_ms += lease_ms // 2
    assert await second.claim() is None  # A's lease still holds
    clock.now_ms += lease_ms
    assert await second.run_once()

    run = await run_row(database, fleet, run_id)
    assert (run.status, run.drivers_done, Decimal(run.total_amount)) == (
        "succeeded",
        3,
        EXPECTED_RUN_TOTAL,
    )
    stored = await finalised(database, fleet)
    assert by_number(fleet, stored) == EXPECTED_TOTALS
    assert sorted(number for number, _ in stored.values()) == [
        "2026-000001",
        "2026-000002",
        "2026-000003",
    ]

    # A comes back: its next driver is finalised already (done), and it finds the run no
    # longer its own when it records its progress, or its end.
    with pytest.raises(LeaseLostError):
        await first.walk_page(claimed)
    with pytest.raises(LeaseLostError):
        await first.finish(claimed)
    assert await run_row(database, fleet, run_id) == run
    assert await finalised(database, fleet) == stored


async def until(check: Callable[[], Awaitable[bool]], timeout_s: float = 30) -> None:
    """Poll a database condition until it holds, failing at the deadline."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not within the deadline"
        await asyncio.sleep(0.05)


async def test_a_new_run_wakes_the_worker_and_the_worker_stops_when_told(
    database: Database, fleet: Fleet
) -> None:
    """The poll is an hour: only the wake-up of the run's commit explains a prompt start."""
    running = worker(database, system_clock_ms, poll_s=3600)
    running.start()
    try:
        await until(lambda: _value(running.idle))
        run_id = await create_run(database, fleet, finalise=False)

        async def succeeded() -> bool:
            status: str = (await run_row(database, fleet, run_id)).status
            return status == "succeeded"

        await until(succeeded)
    finally:
        await asyncio.wait_for(running.stop(), timeout=15)


async def _value(value: bool) -> bool:
    return value
