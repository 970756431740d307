"""The periodic sweep that closes the sessions of vehicles gone silent mid-charge
(services/readings.close_stale_sessions) handles each entity on its own (issue 10): one that
fails is logged with its id and left for the next round, while the others are closed in the
same round.

In a database of this module's own (no server's sweep runs on it); the readings go in
through the readings service, and the poison is a calendar row no code can read, written
straight through storage."""

import logging
import uuid
from collections.abc import AsyncIterator, Iterator
from uuid import UUID

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chargeledger.auth import service as auth
from chargeledger.domain.session_detection import DetectorConfig, Reading
from chargeledger.domain.tariffs import BELGIAN_DAY_NIGHT, calendar_to_dict
from chargeledger.entities.service import EntityType, create_entity
from chargeledger.readings import detector_state_repository as state_repository
from chargeledger.readings import service as readings_service
from chargeledger.readings.service import IncomingReading, close_stale_sessions, ingest_readings
from chargeledger.storage.database import Database
from chargeledger.storage.tables import charge_sessions
from chargeledger.tariffs import repository as calendars_repository
from tests.support.databases import migrated_database

START_MS = 1_717_443_000_000  # Monday 2024-06-03 19:30Z
MINUTE_MS = 60_000
CONFIG = DetectorConfig()
# The readings stop while the car still charges; the sweep runs a day later.
SWEEP_MS = START_MS + 24 * 60 * MINUTE_MS


@pytest.fixture(scope="module")
async def database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Database]:
    async with migrated_database(
        tmp_path_factory.mktemp("readings-sweep"), name_hint="readings_sweep"
    ) as db:
        yield db


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def sweep_log() -> Iterator[list[logging.LogRecord]]:
    """What the sweep logs, however logging is configured around it."""
    handler = _Records()
    logger = logging.getLogger(readings_service.__name__)
    logger.addHandler(handler)
    try:
        yield handler.records
    finally:
        logger.removeHandler(handler)


async def ev_still_charging(database: Database) -> UUID:
    """An EV of a tenant of its own with the Belgian calendar, whose readings stop while it
    charges at 11 kW: its session is ongoing, not listed, until the sweep closes it."""
    async with database.write() as connection:
        credentials = await auth.create_tenant(connection, name="sweep", now_ms=START_MS)
        entity = await create_entity(
            connection,
            tenant_id=credentials.tenant_id,
            entity_type=EntityType.EV,
            name="car",
            identifier=None,
            brand=None,
            properties={},
            now_ms=START_MS,
        )
        await put_calendar(connection, entity.id, orjson.dumps(calendar_to_dict(BELGIAN_DAY_NIGHT)))
    readings = [Reading(START_MS, is_charging=False, power_kw=0.0)] + [
        Reading(START_MS + minutes * MINUTE_MS, is_charging=True, power_kw=11.0)
        for minutes in range(5, 35, 5)
    ]
    async with database.write() as connection:
        await ingest_readings(
            connection,
            tenant_id=credentials.tenant_id,
            entity_id=entity.id,
            readings=[IncomingReading(r, (None, None, None, None)) for r in readings],
            now_ms=START_MS + 35 * MINUTE_MS,
            config=CONFIG,
        )
    assert await open_since(database, entity.id) is not None
    return UUID(str(entity.id))


async def put_calendar(connection: AsyncConnection, entity_id: UUID, definition: bytes) -> None:
    await calendars_repository.put_version(
        connection,
        calendar_id=uuid.uuid4(),
        entity_id=entity_id,
        location_id=None,
        valid_from_ms=START_MS - 60 * MINUTE_MS,
        definition_json=definition.decode(),
        now_ms=START_MS,
    )


async def open_since(database: Database, entity_id: UUID) -> int | None:
    async with database.read() as connection:
        state = await state_repository.get(connection, entity_id=entity_id)
    return None if state is None else state.open_since_ms


async def listed_sessions(database: Database, entity_id: UUID) -> int:
    async with database.read() as connection:
        count = await connection.scalar(
            sa.select(sa.func.count()).where(charge_sessions.c.entity_id == entity_id)
        )
    return int(count or 0)


async def test_one_entity_that_fails_leaves_the_others_closed_and_is_retried(
    database: Database, sweep_log: list[logging.LogRecord]
) -> None:
    """Three cars went silent mid-charge; one of them has a calendar row no code can read
    (so closing its session fails). The sweep closes the other two, logs the third with its
    entity id, and closes it in a later round once the row is fixed."""
    poisoned = await ev_still_charging(database)
    healthy = [await ev_still_charging(database), await ev_still_charging(database)]
    async with database.write() as connection:
        await put_calendar(connection, poisoned, b"{not json")

    closed = await close_stale_sessions(database, now_ms=SWEEP_MS, config=CONFIG)

    assert closed == 2
    for entity_id in healthy:
        assert await listed_sessions(database, entity_id) == 1
        assert await open_since(database, entity_id) is None
    assert await listed_sessions(database, poisoned) == 0
    assert await open_since(database, poisoned) is not None  # still owed: the next round
    [failure] = [record for record in sweep_log if record.levelno >= logging.ERROR]
    assert str(poisoned) in failure.getMessage()
    assert failure.exc_info is not None

    async with database.write() as connection:
        await put_calendar(connection, poisoned, orjson.dumps(calendar_to_dict(BELGIAN_DAY_NIGHT)))
    assert await close_stale_sessions(database, now_ms=SWEEP_MS, config=CONFIG) == 1
    assert await listed_sessions(database, poisoned) == 1
    assert await open_since(database, poisoned) is None
